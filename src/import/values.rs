//! The value syntaxes on both sides: supervisord's booleans, numbers,
//! byte sizes and `KEY=value,...` environments read, and YAML strings,
//! keys, sizes and comment text written. Pure.

use std::fmt::Write;

/// A double-quoted YAML string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The most characters YAML reads as one mapping key written on its line.
const MAX_KEY: usize = 1024;

/// A mapping key: plain when YAML reads it back as that very string.
///
/// Fails when it would be over the 1024 characters YAML allows a key.
pub fn key(s: &str) -> Result<String, String> {
    let k = written_key(s);
    if k.chars().count() > MAX_KEY {
        let start: String = s.chars().take(20).collect();
        return Err(format!(
            "'{}...' is too long a name (a YAML key holds at most {MAX_KEY} characters)",
            one_line(&start)
        ));
    }
    Ok(k)
}

fn written_key(s: &str) -> String {
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { s.to_string() } else { quote(s) }
}

/// One line of text for a comment: control characters escaped.
pub fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// supervisord's `boolean`.
pub fn boolean(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("'{}' is not a boolean", one_line(v))),
    }
}

pub fn integer(v: &str) -> Result<u32, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("'{}' is not a whole number", one_line(v)))
}

/// supervisord's `byte_size` (`50MB`, `1KB`, `1024`) in bytes.
pub fn byte_size(v: &str) -> Result<u64, String> {
    let t = v.trim().to_ascii_uppercase();
    let (num, mult) = [("KB", 1u64 << 10), ("MB", 1 << 20), ("GB", 1 << 30)]
        .iter()
        .find_map(|(suf, m)| t.strip_suffix(suf).map(|n| (n.to_string(), *m)))
        .unwrap_or((t.clone(), 1));
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("'{}' is not a size (bytes, KB, MB or GB)", one_line(v)))
}

/// A size as taskmaster writes it: `50M`, `1K`, or bytes.
pub fn size_text(bytes: u64) -> String {
    for (suf, m) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes > 0 && bytes.is_multiple_of(m) {
            return format!("{}{suf}", bytes / m);
        }
    }
    bytes.to_string()
}

/// supervisord's `environment` value: `KEY=value` pairs split at commas
/// outside quotes, quotes around a value removed.
pub fn env_pairs(v: &str) -> Result<Vec<(String, String)>, String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in v.chars() {
        match (quote, c) {
            (None, ',') => parts.push(std::mem::take(&mut cur)),
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            _ => cur.push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote without its end".to_string());
    }
    parts.push(cur);
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
        let Some((k, val)) = part.split_once('=') else {
            return Err(format!("expected KEY=value, found '{}'", one_line(part)));
        };
        let k = k.trim();
        if k.is_empty() || k.contains(['"', '\'', ' ']) {
            return Err(format!("'{}' is not a variable name", one_line(k)));
        }
        let val = val.trim().trim_matches(['"', '\'']).to_string();
        pairs.retain(|(old, _)| old != k);
        pairs.push((k.to_string(), val));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_a_key_too_long_for_yaml_is_an_error() {
        assert_eq!(key(&"a".repeat(1024)).map(|k| k.len()), Ok(1024));
        assert_eq!(
            key(&"a".repeat(1025)).unwrap_err(),
            "'aaaaaaaaaaaaaaaaaaaa...' is too long a name (a YAML key holds at most 1024 characters)"
        );
        // Escapes count: each control character takes six.
        assert!(key(&"\u{1c}".repeat(200)).is_err());
    }

    #[test]
    fn environment_pairs_with_quotes_and_commas() {
        let got = env_pairs("A=\"1,2\", B='x y',C=plain,\nD=\"\",A=again,").unwrap();
        let want = [("B", "x y"), ("C", "plain"), ("D", ""), ("A", "again")];
        assert_eq!(
            got,
            want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
        );
        assert_eq!(env_pairs("A=\"1").unwrap_err(), "a quote without its end");
        assert_eq!(env_pairs("A").unwrap_err(), "expected KEY=value, found 'A'");
        assert_eq!(env_pairs("=1").unwrap_err(), "'' is not a variable name");
    }

    #[test]
    fn sizes_booleans_and_numbers() {
        assert_eq!(byte_size("50MB"), Ok(50 << 20));
        assert_eq!(byte_size("1kb"), Ok(1024));
        assert_eq!(byte_size("123"), Ok(123));
        assert!(byte_size("1TB").is_err());
        assert_eq!(size_text(50 << 20), "50M");
        assert_eq!(size_text(1 << 30), "1G");
        assert_eq!(size_text(1000), "1000");
        assert_eq!(size_text(0), "0");
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("off"), Ok(false));
        assert_eq!(
            boolean("maybe"),
            Err("'maybe' is not a boolean".to_string())
        );
        assert_eq!(integer(" 7 "), Ok(7));
        assert!(integer("-1").is_err());
    }

    #[test]
    fn yaml_strings_and_keys_read_back_as_written() {
        assert_eq!(quote("a\"b\\c\nd\u{1b}"), "\"a\\\"b\\\\c\\nd\\u001b\"");
        assert_eq!(key("web_1.x-y").unwrap(), "web_1.x-y");
        assert_eq!(key("true").unwrap(), "\"true\"");
        assert_eq!(key("1abc").unwrap(), "\"1abc\"");
        assert_eq!(one_line("a\nb"), "a\\nb");
    }
}
