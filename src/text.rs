//! Small text helpers shared by every layer: a string on one line, a short
//! duration as seconds. The bottom of the module graph: it imports nothing
//! of the crate, so config, process, supervisor and cli all may use it.

use std::time::Duration;

/// `text` on one line, for messages and tables: control characters (a
/// line break inside quotes, a `command: |` block) are shown escaped.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A short duration as seconds: `0.5s`, `2s`.
pub fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// A measured duration as seconds to a tenth, rounded down: `0s` for
/// 9 ms, `1.2s` for 1.234 s (how long a process ran).
pub fn tenths(d: Duration) -> String {
    secs(Duration::from_millis(d.as_millis() as u64 / 100 * 100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(one_line("sleep 1"), "sleep 1");
        assert_eq!(one_line("sh -c 'a\nb\tc'"), "sh -c 'a\\nb\\tc'");
        assert_eq!(one_line("é\u{1}"), "é\\u{1}");
    }

    #[test]
    fn seconds() {
        assert_eq!(secs(Duration::from_millis(500)), "0.5s");
        assert_eq!(secs(Duration::from_secs(2)), "2s");
        assert_eq!(secs(Duration::from_millis(1500)), "1.5s");
        assert_eq!(tenths(Duration::from_nanos(9_623_584)), "0s");
        assert_eq!(tenths(Duration::from_millis(1234)), "1.2s");
        assert_eq!(tenths(Duration::from_secs(5)), "5s");
    }
}
