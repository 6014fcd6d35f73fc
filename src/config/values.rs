//! The validator's state and its checks of single values: every problem
//! collected with its position and key path, and each kind of value a key
//! takes (numbers, seconds, sizes, signals, paths, addresses, URLs, exit
//! codes, umasks, users, dependencies) checked into its type or reported.
//! Scalars are judged by the YAML core schema and named in messages by
//! their text as written. It never reads a file.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::deps::Dep;
use super::yaml::{Id, Pos, START, Tree, Typed, Value};
use super::{Condition, ConfigError, Probe, schema};
use crate::text::{clip, quoted};

/// The most problems reported for one file; a last line counts the rest.
const MAX_ERRORS: usize = 100;

/// The most mapping entries and list items one validation looks at, so
/// aliases of aliases cannot make it slow.
const MAX_VISITS: usize = 2_000_000;

/// One problem, before formatting.
pub(super) struct Problem {
    pub at: Pos,
    pub path: String,
    pub message: String,
}

/// One entry of a mapping being validated, with where its key was written.
#[derive(Clone)]
pub(super) struct Item {
    /// The key as written; `None` for a key that is not a scalar.
    pub name: Option<String>,
    pub value: Id,
    pub at: Pos,
    pub path: String,
    /// Brought in by a merge key (`<<: *base`), not written here.
    pub merged: bool,
}

/// Checks one parsed file, collecting every problem.
pub(super) struct Validator<'t> {
    pub tree: &'t Tree,
    pub is_root: bool,
    /// The config's directory, absolute.
    pub base: PathBuf,
    pub problems: Vec<Problem>,
    visits: usize,
}

impl<'t> Validator<'t> {
    pub fn new(tree: &'t Tree, is_root: bool, base: PathBuf) -> Self {
        let mut v = Validator {
            tree,
            is_root,
            base,
            problems: Vec::new(),
            visits: 0,
        };
        for (at, message) in &tree.problems {
            v.error(*at, "", message.clone());
        }
        v
    }

    /// The text of an untagged scalar as written.
    pub fn text(&self, id: Id) -> Option<&'t str> {
        match (&self.tree.node(id).value, &self.tree.node(id).tag) {
            (Value::Scalar(s), None) => Some(&s.text),
            _ => None,
        }
    }

    /// Every problem as `file:line:column: key.path: message`, in file
    /// order, at most [`MAX_ERRORS`] of them.
    pub fn finish(mut self, file: &str) -> ConfigError {
        if self.problems.is_empty() {
            self.error(START, "", "invalid configuration".to_string());
        }
        // Stable: problems at one place keep the order they were found in.
        self.problems.sort_by_key(|p| p.at);
        // One value reached through many aliases is one problem.
        self.problems
            .dedup_by(|a, b| (a.at, &a.path, &a.message) == (b.at, &b.path, &b.message));
        let more = self.problems.len().saturating_sub(MAX_ERRORS);
        let mut errors: Vec<String> = self.problems[..self.problems.len() - more]
            .iter()
            .map(|p| {
                let Pos { line, col } = p.at;
                match p.path.as_str() {
                    "" => format!("{file}:{line}:{col}: {}", p.message),
                    path => format!("{file}:{line}:{col}: {path}: {}", p.message),
                }
            })
            .collect();
        if more > 0 {
            errors.push(format!("{file}: {more} more errors not shown"));
        }
        ConfigError { errors }
    }

    pub fn error(&mut self, at: Pos, path: &str, message: String) {
        self.problems.push(Problem {
            at,
            path: path.to_string(),
            message,
        });
    }

    pub fn fail(&mut self, it: &Item, message: String) {
        self.error(it.at, &it.path, message);
    }

    pub fn expected(&mut self, it: &Item, what: &str) {
        let found = self.found(it.value);
        self.fail(it, format!("expected {what}, found {found}"));
    }

    /// What `take` makes of the value of `it` as the core schema types it;
    /// reported as `expected WHAT` when nothing (or a collection or a tagged
    /// value).
    pub fn check<T>(
        &mut self,
        it: &Item,
        what: &str,
        take: impl FnOnce(Typed<'t>) -> Option<T>,
    ) -> Option<T> {
        let value = self.tree.typed(it.value).and_then(take);
        if value.is_none() {
            self.expected(it, what);
        }
        value
    }

    /// Counts `n` more values looked at; false (once reported) past the budget.
    pub fn visit(&mut self, n: usize) -> bool {
        let before = self.visits;
        self.visits = self.visits.saturating_add(n);
        if self.visits > MAX_VISITS {
            if before <= MAX_VISITS {
                let message = format!(
                    "more than {MAX_VISITS} values once aliases and merge keys are expanded"
                );
                self.error(START, "", message);
            }
            return false;
        }
        true
    }

    /// How to name a wrong value in a message.
    pub fn found(&self, id: Id) -> String {
        let node = self.tree.node(id);
        if let Some(tag) = &node.tag {
            return format!("a value tagged {}", clip(tag));
        }
        match &node.value {
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
            Value::Scalar(_) if self.tree.typed(id) == Some(Typed::Null) => "nothing".to_string(),
            Value::Scalar(s) => quoted(&s.text),
        }
    }

    /// The items of the list `id`, when an untagged list.
    pub fn list(&self, id: Id) -> Option<Vec<Id>> {
        match (&self.tree.node(id).value, &self.tree.node(id).tag) {
            (Value::Seq(items), None) => Some(items.clone()),
            _ => None,
        }
    }

    pub fn is_map(&self, id: Id) -> bool {
        matches!(self.tree.node(id).value, Value::Map(_)) && self.tree.node(id).tag.is_none()
    }

    /// The entries of mapping `map` (whose own path is `path`); reports its
    /// duplicate keys. Empty once the visit budget is spent.
    pub fn entries(&mut self, map: Id, path: &str) -> Vec<Item> {
        let tree = self.tree;
        let Value::Map(m) = &tree.node(map).value else {
            return Vec::new();
        };
        for &k in &m.duplicates {
            let key = self.text(k).unwrap_or_default();
            let message = format!("duplicate entry with key \"{}\"", clip(key));
            self.error(tree.node(k).at, path, message);
        }
        if !self.visit(m.entries.len()) {
            return Vec::new();
        }
        let dot = if path.is_empty() { "" } else { "." };
        let mut items = Vec::with_capacity(m.entries.len());
        for (i, &(k, value)) in m.entries.iter().enumerate() {
            let name = self.text(k).map(str::to_string);
            let shown = clip(name.as_deref().unwrap_or("?"));
            items.push(Item {
                path: format!("{path}{dot}{shown}"),
                name,
                value,
                at: tree.node(k).at,
                merged: i >= m.own,
            });
        }
        items
    }

    /// The entries of the mapping `it` holds, with nothing standing for an
    /// empty mapping; `None` (reported as `expected`) for anything else.
    pub fn mapping(&mut self, it: &Item, expected: &str) -> Option<Vec<Item>> {
        if self.tree.typed(it.value) == Some(Typed::Null) {
            return Some(Vec::new());
        }
        if !self.is_map(it.value) {
            self.expected(it, expected);
            return None;
        }
        Some(self.entries(it.value, &it.path))
    }

    pub fn unsupported_key(&mut self, it: &Item) {
        self.fail(it, "unsupported key (keys must be plain text)".to_string());
    }

    /// `text` split into a command's words.
    pub fn argv(&mut self, it: &Item, text: &str) -> Option<Vec<String>> {
        if text.contains('\0') {
            self.fail(it, "command contains a NUL character".to_string());
            return None;
        }
        match crate::words::split(text) {
            Err(e) => self.fail(it, e),
            Ok(argv) if argv.is_empty() => self.fail(it, "empty command".to_string()),
            Ok(argv) => return Some(argv),
        }
        None
    }

    pub fn command(&mut self, it: &Item) -> Option<(String, Vec<String>)> {
        let s = self.check(it, "a command line (a string)", Typed::str)?;
        Some((s.to_string(), self.argv(it, s)?))
    }

    /// A whole number from `min` to `max`.
    pub fn count_in(&mut self, it: &Item, min: u32, max: u32) -> Option<u32> {
        let Some(Typed::Int(n @ 0..)) = self.tree.typed(it.value) else {
            self.expected(it, "a whole number >= 0");
            return None;
        };
        let message = match u32::try_from(n) {
            Ok(v) if (min..=max).contains(&v) => return Some(v),
            Ok(v) => format!("{v} is out of range ({min} to {max})"),
            Err(_) => {
                let text = self.text(it.value).unwrap_or_default();
                format!("{text} is out of range ({min} to {})", u32::MAX)
            }
        };
        self.fail(it, message);
        None
    }

    pub fn boolean(&mut self, it: &Item) -> Option<bool> {
        self.check(it, "a boolean (true or false)", |t| match t {
            Typed::Bool(b) => Some(b),
            _ => None,
        })
    }

    /// One of the words of `table`, matched as written.
    pub fn choice<T: Copy>(&mut self, it: &Item, table: &[(&str, T)]) -> Option<T> {
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
        let message = format!("unknown value {} (expected {expected})", quoted(&text));
        self.fail(it, message);
        None
    }

    pub fn exit_codes(&mut self, it: &Item) -> Option<Vec<i32>> {
        let items = match (self.list(it.value), self.tree.typed(it.value)) {
            (Some(items), _) => items,
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

    pub fn seconds(&mut self, it: &Item) -> Option<Duration> {
        // NaN fails `f >= 0.0` too.
        let secs = self.check(it, "a number of seconds >= 0", |t| match t {
            Typed::Int(n) if n >= 0 => Some(n as f64),
            Typed::Float(f) if f >= 0.0 => Some(f),
            _ => None,
        })?;
        let d = schema::seconds(secs);
        if d.is_none() {
            let found = self.found(it.value);
            let max = schema::MAX_SECONDS;
            self.fail(it, format!("{found} is out of range (0 to {max} seconds)"));
        }
        d
    }

    pub fn size(&mut self, it: &Item) -> Option<u64> {
        self.check(it, "a size in bytes or like 10K, 10M, 1G", |t| match t {
            Typed::Int(n) => u64::try_from(n).ok(),
            Typed::Str(s) => schema::size(s),
            _ => None,
        })
    }

    pub fn signal(&mut self, it: &Item) -> Option<i32> {
        let scalar = |t| matches!(t, Typed::Str(_) | Typed::Int(_) | Typed::Float(_));
        self.check(it, "a signal name or number", |t| scalar(t).then_some(()))?;
        let text = self.text(it.value).unwrap_or_default();
        let parsed = crate::signame::parse(text);
        if parsed.is_none() {
            self.fail(it, format!("unknown signal {}", quoted(text)));
        }
        parsed
    }

    /// A path value, resolved against the config's directory.
    pub fn path(&mut self, it: &Item) -> Option<PathBuf> {
        let s = self.check(it, "a path", Typed::str)?;
        self.resolve(it, s)
    }

    /// Path text `s` resolved against the config's directory; fails when it
    /// cannot be a path: empty or with a NUL.
    pub fn resolve(&mut self, it: &Item, s: &str) -> Option<PathBuf> {
        if s.is_empty() {
            self.fail(it, "empty path".to_string());
            return None;
        }
        if s.contains('\0') {
            self.fail(it, "path contains a NUL character".to_string());
            return None;
        }
        let joined = self.base.join(s);
        Some(std::path::absolute(&joined).unwrap_or(joined))
    }

    /// `ADDRESS:PORT` with an IP address (`localhost` stands for
    /// 127.0.0.1, an empty address for every interface).
    pub fn address(&mut self, it: &Item) -> Option<SocketAddr> {
        let what = "ADDRESS:PORT with an IP address (like 127.0.0.1:8080)";
        self.check(it, what, |t| t.str().and_then(socket_addr))
    }

    /// `http://ADDRESS[:PORT][/PATH]` for a health check.
    pub fn url(&mut self, it: &Item) -> Option<Probe> {
        let what = "an http:// URL with an IP address (like http://127.0.0.1:8080/health)";
        self.check(it, what, |t| t.str().and_then(http_probe))
    }

    pub fn umask(&mut self, it: &Item) -> Option<u32> {
        // A null's text (`~`, `null`) is no octal number either.
        let text = self.text(it.value).unwrap_or_default();
        let digits = text.strip_prefix("0o").unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            self.expected(it, "an octal umask like 022");
            return None;
        }
        match u32::from_str_radix(digits, 8) {
            Ok(v) if v <= schema::MAX_UMASK => Some(v),
            _ => {
                let message = format!("umask {} is out of range (0 to 777)", quoted(text));
                self.fail(it, message);
                None
            }
        }
    }

    pub fn user(&mut self, it: &Item) -> Option<String> {
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
    pub fn depends_on(&mut self, it: &Item) -> Option<Vec<Dep>> {
        let mut deps = Vec::new();
        let mut ok = true;
        if let Some(items) = self.list(it.value) {
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
                        let path = format!("{}.{}", it.path, clip(task));
                        deps.push(Dep::new(task, Condition::Healthy, at, path));
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
            let Some(task) = &entry.name else {
                self.unsupported_key(entry);
                ok = false;
                continue;
            };
            match self.choice(entry, schema::CONDITIONS) {
                Some(c) => deps.push(Dep::new(task, c, entry.at, entry.path.clone())),
                None => ok = false,
            }
        }
        ok.then_some(deps)
    }
}

/// `http://ADDRESS[:PORT][/PATH]` as a health check's probe.
fn http_probe(text: &str) -> Option<Probe> {
    let rest = text.strip_prefix("http://")?;
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let with_port = if authority.ends_with(']') || !authority.contains(':') {
        format!("{authority}:80")
    } else {
        authority.to_string()
    };
    let addr = socket_addr(&with_port)?;
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    path.bytes()
        .all(|b| b.is_ascii_graphic())
        .then(|| Probe::Http {
            addr,
            host: authority.to_string(),
            path,
        })
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
