//! Small text helpers shared by every layer: a string on one line, user
//! text cut for a message, an I/O error's reason, a short duration as
//! seconds. The bottom of the module graph: it imports nothing of the
//! crate, so config, import, process, supervisor and cli all may use it.

use std::time::Duration;

/// Writes `line` and a newline to stderr. Unlike `eprintln!`, a stderr
/// that cannot be written (its reader gone, a full disk) is no reason to
/// panic: the message is lost and the program goes on.
pub fn stderr_line(line: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(line.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}

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

/// User text made safe for a one-line message: [`one_line`], cut after 60
/// characters with `...`.
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", one_line(&s[..cut])),
        None => one_line(s),
    }
}

/// [`clip`] in single quotes: `'text'`.
pub fn quoted(s: &str) -> String {
    format!("'{}'", clip(s))
}

/// An I/O error's text without the ` (os error N)` that `io::Error` adds:
/// `No such file or directory`.
pub fn os_reason(e: std::io::Error) -> String {
    without_os_error(&e.to_string()).to_string()
}

/// `text` without a trailing ` (os error N)`.
pub fn without_os_error(text: &str) -> &str {
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text,
    }
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
    fn clipped_and_quoted() {
        assert_eq!(quoted("a\nb"), "'a\\nb'");
        let sixty = "x".repeat(60);
        assert_eq!(clip(&sixty), sixty);
        assert_eq!(quoted(&format!("{sixty}yz")), format!("'{sixty}...'"));
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(os_reason(e), "No such file or directory");
        assert_eq!(
            without_os_error("Read-only file system (os error 30)"),
            "Read-only file system"
        );
        assert_eq!(
            without_os_error("closed (os error) later"),
            "closed (os error) later"
        );
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
