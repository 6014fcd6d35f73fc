//! Checks of single values against what their key takes: numbers, seconds,
//! sizes, signals, paths, addresses, URLs, the environment. Each reports
//! its problem at the key and returns `None`, or returns the typed value.
//! Scalars are judged by the YAML core schema and named in messages by
//! their text as written.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::deps::Dep;
use super::schema;
use super::validate::{Item, Validator, quote};
use super::yaml::{Id, Typed, Value};
use super::{Probe, words};

impl Validator<'_> {
    fn expected(&mut self, it: &Item, what: &str) {
        let found = self.found(it.value);
        self.fail(it, format!("expected {what}, found {found}"));
    }

    /// The text of an untagged scalar as written.
    fn text(&self, id: Id) -> Option<&str> {
        match (&self.tree.node(id).value, &self.tree.node(id).tag) {
            (Value::Scalar(s), None) => Some(&s.text),
            _ => None,
        }
    }

    fn string(&self, id: Id) -> Option<&str> {
        match self.tree.typed(id) {
            Some(Typed::Str(s)) => Some(s),
            _ => None,
        }
    }

    pub(super) fn command(&mut self, it: &Item) -> Option<(String, Vec<String>)> {
        let Some(s) = self.string(it.value).map(str::to_string) else {
            self.expected(it, "a command line (a string)");
            return None;
        };
        if s.contains('\0') {
            self.fail(it, "command contains a NUL character".to_string());
            return None;
        }
        match words::split(&s) {
            Err(e) => self.fail(it, e),
            Ok(argv) if argv.is_empty() => self.fail(it, "empty command".to_string()),
            Ok(argv) => return Some((s, argv)),
        }
        None
    }

    pub(super) fn count(&mut self, it: &Item) -> Option<u32> {
        if let Some(Typed::Int(n)) = self.tree.typed(it.value)
            && n >= 0
        {
            if let Ok(v) = u32::try_from(n) {
                return Some(v);
            }
            let text = self.text(it.value).unwrap_or_default().to_string();
            self.fail(it, format!("{text} is out of range (0 to {})", u32::MAX));
            return None;
        }
        self.expected(it, "a whole number >= 0");
        None
    }

    pub(super) fn at_most(&mut self, it: &Item, n: u32, max: u32) -> Option<u32> {
        if n > max {
            self.fail(it, format!("{n} is out of range (0 to {max})"));
            return None;
        }
        Some(n)
    }

    pub(super) fn at_least_one(&mut self, it: &Item, n: u32) -> Option<u32> {
        if n == 0 {
            self.fail(it, format!("0 is out of range (1 to {})", u32::MAX));
            return None;
        }
        Some(n)
    }

    pub(super) fn boolean(&mut self, it: &Item) -> Option<bool> {
        if let Some(Typed::Bool(b)) = self.tree.typed(it.value) {
            return Some(b);
        }
        self.expected(it, "a boolean (true or false)");
        None
    }

    /// One of the words of `table`, matched as written.
    pub(super) fn choice<T: Copy>(&mut self, it: &Item, table: &[(&str, T)]) -> Option<T> {
        let expected = table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        let text = match self.tree.typed(it.value) {
            Some(Typed::Null) | None => None,
            Some(Typed::Bool(b)) if table.iter().any(|(n, _)| *n == "true") => Some(b.to_string()),
            Some(_) => self.text(it.value).map(str::to_string),
        };
        let Some(text) = text else {
            self.expected(it, &format!("one of {expected}"));
            return None;
        };
        if let Some(&(_, v)) = table.iter().find(|(n, _)| *n == text) {
            return Some(v);
        }
        let message = format!("unknown value {} (expected {expected})", quote(&text));
        self.fail(it, message);
        None
    }

    pub(super) fn exit_codes(&mut self, it: &Item) -> Option<Vec<i32>> {
        let items: Vec<Id> = match (&self.tree.node(it.value).value, self.tree.typed(it.value)) {
            (Value::Seq(items), _) if self.tree.node(it.value).tag.is_none() => items.clone(),
            (_, Some(Typed::Int(_))) => vec![it.value],
            _ => {
                self.expected(it, "an exit code 0 to 255 or a list of them");
                return None;
            }
        };
        if !self.visit(items.len()) {
            return None;
        }
        let mut codes = Vec::with_capacity(items.len());
        let mut ok = true;
        for v in items {
            let message = match self.tree.typed(v) {
                Some(Typed::Int(c)) if (0..=schema::MAX_EXIT_CODE).contains(&c) => {
                    codes.push(c as i32);
                    continue;
                }
                Some(Typed::Int(_)) => format!(
                    "exit code {} is out of range (0 to 255)",
                    self.text(v).unwrap_or_default()
                ),
                _ => format!("expected an exit code 0 to 255, found {}", self.found(v)),
            };
            self.fail(it, message);
            ok = false;
        }
        ok.then_some(codes)
    }

    pub(super) fn seconds(&mut self, it: &Item) -> Option<Duration> {
        let secs = match self.tree.typed(it.value) {
            Some(Typed::Int(n)) => n as f64,
            Some(Typed::Float(f)) => f,
            _ => f64::NAN,
        };
        if secs >= 0.0 {
            if let Some(d) = schema::seconds(secs) {
                return Some(d);
            }
            let found = self.found(it.value);
            let message = format!(
                "{found} is out of range (0 to {} seconds)",
                schema::MAX_SECONDS
            );
            self.fail(it, message);
            return None;
        }
        self.expected(it, "a number of seconds >= 0");
        None
    }

    pub(super) fn size(&mut self, it: &Item) -> Option<u64> {
        let size = match self.tree.typed(it.value) {
            Some(Typed::Int(n)) => u64::try_from(n).ok(),
            Some(Typed::Str(s)) => schema::size(s),
            _ => None,
        };
        if size.is_none() {
            self.expected(it, "a size in bytes or like 10K, 10M, 1G");
        }
        size
    }

    pub(super) fn signal(&mut self, it: &Item) -> Option<i32> {
        match self.tree.typed(it.value) {
            Some(Typed::Str(_) | Typed::Int(_) | Typed::Float(_)) => {
                let text = self.text(it.value).unwrap_or_default().to_string();
                let parsed = crate::signame::parse(&text);
                if parsed.is_none() {
                    self.fail(it, format!("unknown signal {}", quote(&text)));
                }
                parsed
            }
            _ => {
                self.expected(it, "a signal name or number");
                None
            }
        }
    }

    /// A path value, resolved against the config's directory.
    pub(super) fn path(&mut self, it: &Item) -> Option<PathBuf> {
        let Some(s) = self.string(it.value).map(str::to_string) else {
            self.expected(it, "a path");
            return None;
        };
        let s = self.path_text(it, &s)?;
        let joined = self.base.join(s);
        Some(std::path::absolute(&joined).unwrap_or(joined))
    }

    /// `s` when it can be a path: not empty, no NUL.
    pub(super) fn path_text(&mut self, it: &Item, s: &str) -> Option<String> {
        if s.is_empty() {
            self.fail(it, "empty path".to_string());
            return None;
        }
        if s.contains('\0') {
            self.fail(it, "path contains a NUL character".to_string());
            return None;
        }
        Some(s.to_string())
    }

    /// `socket`: a path, or `false` for none (`Some(None)`).
    pub(super) fn socket(&mut self, it: &Item) -> Option<Option<PathBuf>> {
        if let Some(Typed::Bool(false)) = self.tree.typed(it.value) {
            return Some(None);
        }
        self.path(it).map(Some)
    }

    /// `ADDRESS:PORT` with an IP address (`localhost` stands for
    /// 127.0.0.1, an empty address for every interface).
    pub(super) fn address(&mut self, it: &Item) -> Option<SocketAddr> {
        let parsed = self.string(it.value).and_then(socket_addr);
        if parsed.is_none() {
            self.expected(it, "ADDRESS:PORT with an IP address (like 127.0.0.1:8080)");
        }
        parsed
    }

    /// `http://ADDRESS[:PORT][/PATH]` for a health check.
    pub(super) fn url(&mut self, it: &Item) -> Option<Probe> {
        let text = self.string(it.value).unwrap_or_default();
        let probe = text.strip_prefix("http://").and_then(|rest| {
            let (authority, path) = match rest.find(['/', '?']) {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            let with_port = if authority.ends_with(']') || !authority.contains(':') {
                format!("{authority}:80")
            } else {
                authority.to_string()
            };
            let addr = socket_addr(&with_port)?;
            let printable = path.bytes().all(|b| b.is_ascii_graphic());
            let path = if path.starts_with('?') {
                format!("/{path}")
            } else {
                path.to_string()
            };
            printable.then(|| Probe::Http {
                addr,
                host: authority.to_string(),
                path,
            })
        });
        if probe.is_none() {
            self.expected(
                it,
                "an http:// URL with an IP address (like http://127.0.0.1:8080/health)",
            );
        }
        probe
    }

    pub(super) fn umask(&mut self, it: &Item) -> Option<u32> {
        let text = match self.tree.typed(it.value) {
            Some(Typed::Str(_) | Typed::Int(_) | Typed::Float(_) | Typed::Bool(_)) => {
                self.text(it.value).map(str::to_string)
            }
            _ => None,
        };
        let Some(text) = text else {
            self.expected(it, "an octal umask like 022");
            return None;
        };
        let digits = text.strip_prefix("0o").unwrap_or(&text);
        let octal = !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
        if !octal {
            let message = format!("expected an octal umask like 022, found {}", quote(&text));
            self.fail(it, message);
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        match u32::from_str_radix(if trimmed.is_empty() { "0" } else { trimmed }, 8) {
            Ok(v) if trimmed.len() <= 3 && v <= schema::MAX_UMASK => Some(v),
            _ => {
                let message = format!("umask {} is out of range (0 to 777)", quote(&text));
                self.fail(it, message);
                None
            }
        }
    }

    pub(super) fn user(&mut self, it: &Item) -> Option<String> {
        if !self.is_root {
            self.fail(it, "only allowed when taskmaster runs as root".to_string());
            return None;
        }
        match self.tree.typed(it.value) {
            Some(Typed::Str("")) => self.fail(it, "empty user name".to_string()),
            Some(Typed::Str(s)) if s.contains('\0') => {
                self.fail(it, "user name contains a NUL character".to_string());
            }
            Some(Typed::Str(s)) => return Some(s.to_string()),
            Some(Typed::Int(n)) if u32::try_from(n).is_ok() => return Some(n.to_string()),
            _ => self.expected(it, "a user name or uid"),
        }
        None
    }

    /// `dependsOn`: task names to conditions, or a list of task names
    /// (each `healthy`).
    pub(super) fn depends_on(&mut self, it: &Item) -> Option<Vec<Dep>> {
        let node = self.tree.node(it.value);
        let mut deps = Vec::new();
        let mut ok = true;
        if let (Value::Seq(items), None) = (&node.value, &node.tag) {
            let items = items.clone();
            if !self.visit(items.len()) {
                return None;
            }
            for id in items {
                let at = self.tree.node(id).at;
                match self
                    .text(id)
                    .filter(|_| self.tree.typed(id) != Some(Typed::Null))
                {
                    Some(task) => {
                        let path = format!("{}.{}", it.path, super::validate::clean(task));
                        deps.push(Dep::new(task, schema::LIST_CONDITION, at, path));
                    }
                    None => {
                        let message = format!("expected a task name, found {}", self.found(id));
                        self.error(at, &it.path, message);
                        ok = false;
                    }
                }
            }
            return ok.then_some(deps);
        }
        let what = "a mapping of task names to started, running, healthy or completed, or a list of task names";
        for entry in &self.mapping(it, what)? {
            let Some(task) = entry.name.clone() else {
                self.unsupported_key(entry);
                ok = false;
                continue;
            };
            match self.choice(entry, schema::CONDITIONS) {
                Some(c) => deps.push(Dep::new(&task, c, entry.at, entry.path.clone())),
                None => ok = false,
            }
        }
        ok.then_some(deps)
    }
}

/// `ADDRESS:PORT`, `[V6]:PORT`, `localhost:PORT` or `:PORT`.
fn socket_addr(text: &str) -> Option<SocketAddr> {
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Some(a);
    }
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let ip = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            socket_addr("127.0.0.1:80"),
            Some(([127, 0, 0, 1], 80).into())
        );
        assert_eq!(socket_addr("localhost:9"), Some(([127, 0, 0, 1], 9).into()));
        assert_eq!(socket_addr(":9350"), Some(([0, 0, 0, 0], 9350).into()));
        assert!(socket_addr("[::1]:80").is_some());
        for bad in ["127.0.0.1", "example.com:80", "1.2.3.4:99999", ""] {
            assert_eq!(socket_addr(bad), None, "{bad}");
        }
    }
}
