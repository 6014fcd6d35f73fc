//! Text from processes made safe for a terminal: every control character
//! but tab and newline (C0, DEL, C1) and every byte that is not UTF-8 is
//! shown as text (`\x1b`, `\u{9b}`), so a process cannot clear, retitle or
//! fake the operator's screen. Used wherever such text reaches a terminal
//! (the shell, forwarded lines, `ctl` on a tty); pipes and files get the
//! bytes unchanged. Pure.

use std::borrow::Cow;
use std::fmt::Write;

/// `bytes` with control characters other than `\t` and `\n` escaped.
/// Borrows when nothing needs escaping.
pub fn for_terminal(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !s.chars().any(needs_escape)
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if !needs_escape(c) {
                out.push(c);
            } else if (c as u32) < 0x80 {
                let _ = write!(out, "\\x{:02x}", c as u32);
            } else {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control() && c != '\t' && c != '\n'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_but_tab_and_newline() {
        assert!(matches!(for_terminal(b"plain\ttext\n"), Cow::Borrowed(_)));
        assert_eq!(
            for_terminal(b"\x1b[2Jx\x1b]0;title\x07\r\x7f"),
            "\\x1b[2Jx\\x1b]0;title\\x07\\x0d\\x7f"
        );
        assert_eq!(for_terminal("é\u{9b}".as_bytes()), "é\\u{9b}");
        assert_eq!(for_terminal(b"a\xffb"), "a\\xffb");
    }
}
