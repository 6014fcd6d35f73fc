//! Fuzzes the terminal line editor's key handling on arbitrary bytes, fed
//! in arbitrary chunks, with the editor shown, hidden and resized between
//! them: it never panics; the cursor stays within the line and the line
//! within `MAX_CHARS`; entered lines hold no control character; nothing
//! comes after end of input; nothing is drawn while hidden; and every row
//! it draws fits the terminal, with the cursor on it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskmaster::shell::history::History;
use taskmaster::shell::line::{Editor, MAX_CHARS, Output, char_width};

const NAMES: &[&str] = &[
    "web_1",
    "web_2",
    "worker",
    "all_of_them",
    "日本語",
    "e\u{301}t\u{e9}",
];
const HISTORY: &[&str] = &[
    "status",
    "start all",
    "stop web_1",
    "héllo wörld 日本",
    "logs worker 5",
];

fuzz_target!(|data: &[u8]| {
    let Some((&w, mut rest)) = data.split_first() else {
        return;
    };
    let mut width = usize::from(w % 100) + 1;
    let mut history = History::new(50);
    for h in HISTORY {
        history.add(h);
    }
    let mut ed = Editor::new("Taskmaster> ", width, history);
    let names = |f: &mut dyn FnMut(&str)| NAMES.iter().for_each(|n| f(n));
    check_screen(&ed.show(), width);
    let mut ended = false;
    // Each chunk: one op byte, then (for feeds) that many bytes of keys.
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 16 {
            0 => {
                let out = ed.hide();
                assert!(!ed.is_visible());
                assert!(out.is_empty() || out == b"\r\x1b[K");
            }
            1 => check_screen(&ed.show(), width),
            2 => {
                width = usize::from(op / 16) * 7 % 120 + 1;
                let out = ed.set_width(width);
                assert!(ed.is_visible() || out.is_empty());
                check_screen(&out, width);
            }
            n => {
                let len = (usize::from(n) * usize::from(op / 16 + 1)).min(rest.len());
                let (keys, tail) = rest.split_at(len);
                rest = tail;
                let shown = ed.is_visible();
                let out = ed.feed(keys, &names);
                for o in &out {
                    assert!(!ended, "output after end of input: {o:?}");
                    match o {
                        Output::Screen(s) => {
                            assert!(shown, "drawn while hidden: {s:?}");
                            check_screen(s, width);
                        }
                        Output::Line(l) => {
                            assert!(!l.chars().any(char::is_control), "{l:?}");
                            assert!(l.chars().count() <= MAX_CHARS);
                        }
                        Output::Eof => ended = true,
                        // Ctrl-C: nothing to check beyond "not after the end".
                        Output::Interrupt => {}
                    }
                }
            }
        }
        let line = ed.line();
        let chars = line.chars().count();
        assert!(chars <= MAX_CHARS, "line of {chars} characters");
        assert!(ed.cursor() <= chars, "cursor {} past {chars}", ed.cursor());
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
});

/// Every row drawn in `screen` (`\r`, text, erase to the end, `\r`, then the
/// cursor moved right) fits a terminal `width` columns wide, with one
/// column free for the cursor, and the cursor lands on the row.
fn check_screen(screen: &[u8], width: usize) {
    const ERASE: &[u8] = b"\x1b[K\r";
    let mut from = 0;
    while let Some(i) = find(&screen[from..], ERASE).map(|i| i + from) {
        let start = screen[..i]
            .iter()
            .rposition(|&b| b == b'\r')
            .map_or(0, |j| j + 1);
        let row = std::str::from_utf8(&screen[start..i]).expect("rows are UTF-8");
        assert!(!row.contains('\x1b'), "escape inside a row: {row:?}");
        let cols: usize = row.chars().map(char_width).sum();
        assert!(
            cols <= (width - 1).max(1),
            "row of {cols} columns on a terminal {width} wide: {row:?}"
        );
        let after = &screen[i + ERASE.len()..];
        if let Some(move_right) = after.strip_prefix(b"\x1b[") {
            let digits = move_right.iter().take_while(|b| b.is_ascii_digit()).count();
            if move_right.get(digits) == Some(&b'C') {
                let col: usize = std::str::from_utf8(&move_right[..digits])
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(
                    col < width.max(2),
                    "cursor at column {col} of {width}: {row:?}"
                );
            }
        }
        from = i + ERASE.len();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
