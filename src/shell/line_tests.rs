//! The editor as a pure function: bytes in, line and screen out. A tiny
//! terminal model replays the screen bytes, so tests check what a person
//! would see.

use super::*;

fn no_names(_: &mut dyn FnMut(&str)) {}

fn procs(f: &mut dyn FnMut(&str)) {
    for n in ["web_1", "web_2", "web", "worker", "db"] {
        f(n);
    }
}

/// Enough of a terminal to replay what the editor writes.
#[derive(Default)]
struct Term {
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    bells: usize,
    cleared: usize,
}

impl Term {
    fn put(&mut self, bytes: &[u8]) {
        let text = String::from_utf8(bytes.to_vec()).expect("editor writes UTF-8");
        let mut it = text.chars().peekable();
        while let Some(c) = it.next() {
            while self.rows.len() <= self.row {
                self.rows.push(Vec::new());
            }
            match c {
                '\r' => self.col = 0,
                '\n' => self.row += 1,
                '\x07' => self.bells += 1,
                '\x1b' => {
                    assert_eq!(it.next(), Some('['), "only CSI sequences");
                    let mut arg = String::new();
                    let fin = loop {
                        let c = it.next().expect("complete sequence");
                        if c.is_ascii_digit() {
                            arg.push(c);
                        } else {
                            break c;
                        }
                    };
                    match fin {
                        'K' => self.rows[self.row].truncate(self.col),
                        'C' => self.col += arg.parse::<usize>().unwrap_or(1),
                        'H' => (self.row, self.col) = (0, 0),
                        'J' => {
                            self.rows.clear();
                            self.cleared += 1;
                        }
                        other => panic!("unexpected sequence {other}"),
                    }
                }
                c => {
                    assert!(!c.is_control(), "control char {c:?} on screen");
                    let r = &mut self.rows[self.row];
                    while r.len() < self.col {
                        r.push(' ');
                    }
                    r.truncate(self.col);
                    r.push(c);
                    for _ in 1..char_width(c) {
                        r.push('\0');
                    }
                    self.col += char_width(c);
                }
            }
        }
    }

    /// Row `i` as text (wide-character fillers dropped).
    fn text(&self, i: usize) -> String {
        self.rows
            .get(i)
            .map(|r| r.iter().filter(|&&c| c != '\0').collect())
            .unwrap_or_default()
    }

    /// The cursor's row.
    fn current(&self) -> String {
        self.text(self.row)
    }
}

/// An editor shown on a terminal, with its history.
struct Rig {
    ed: Editor,
    term: Term,
    lines: Vec<String>,
    eof: bool,
    interrupts: usize,
}

impl Rig {
    fn new(width: usize, history: &[&str]) -> Rig {
        let mut h = History::new(100);
        for l in history {
            h.add(l);
        }
        let mut ed = Editor::new("> ", width, h);
        let mut term = Term::default();
        term.put(&ed.show());
        Rig {
            ed,
            term,
            lines: Vec::new(),
            eof: false,
            interrupts: 0,
        }
    }

    fn feed_with(&mut self, bytes: &[u8], names: Names) -> &mut Rig {
        for o in self.ed.feed(bytes, names) {
            match o {
                Output::Screen(b) => self.term.put(&b),
                Output::Line(l) => self.lines.push(l),
                Output::Eof => self.eof = true,
                Output::Interrupt => self.interrupts += 1,
            }
        }
        self
    }

    fn feed(&mut self, bytes: &[u8]) -> &mut Rig {
        self.feed_with(bytes, &no_names)
    }

    fn tab(&mut self, bytes: &[u8]) -> &mut Rig {
        self.feed_with(bytes, &procs)
    }

    /// Line and cursor.
    fn state(&self) -> (String, usize) {
        (self.ed.line(), self.ed.cursor())
    }
}

const LEFT: &[u8] = b"\x1b[D";
const RIGHT: &[u8] = b"\x1b[C";
const UP: &[u8] = b"\x1b[A";
const DOWN: &[u8] = b"\x1b[B";

#[test]
fn inserts_anywhere_and_moves() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"abc").feed(LEFT).feed(LEFT).feed(b"X");
    assert_eq!(r.state(), ("aXbc".into(), 2));
    r.feed(b"\x01Y"); // Ctrl-A
    assert_eq!(r.state(), ("YaXbc".into(), 1));
    r.feed(b"\x05Z"); // Ctrl-E
    assert_eq!(r.state(), ("YaXbcZ".into(), 6));
    r.feed(b"\x02\x02\x06"); // Ctrl-B twice, Ctrl-F
    assert_eq!(r.ed.cursor(), 5);
    for (home, end) in [
        (&b"\x1b[H"[..], &b"\x1b[F"[..]),
        (b"\x1b[1~", b"\x1b[4~"),
        (b"\x1b[7~", b"\x1b[8~"),
        (b"\x1bOH", b"\x1bOF"),
    ] {
        r.feed(home);
        assert_eq!(r.ed.cursor(), 0);
        r.feed(end);
        assert_eq!(r.ed.cursor(), 6);
    }
    r.feed(RIGHT);
    assert_eq!(r.ed.cursor(), 6, "no move past the end");
    assert_eq!(r.term.current(), "> YaXbcZ");
    assert_eq!(r.term.col, 8);
}

#[test]
fn deletes_back_and_forward() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"abcd").feed(LEFT).feed(LEFT).feed(b"\x7f");
    assert_eq!(r.state(), ("acd".into(), 1));
    r.feed(b"\x08"); // Ctrl-H is Backspace too
    assert_eq!(r.state(), ("cd".into(), 0));
    r.feed(b"\x7f");
    assert_eq!(r.term.bells, 1, "nothing to delete");
    r.feed(b"\x1b[3~");
    assert_eq!(r.state(), ("d".into(), 0));
    r.feed(b"\x04"); // Ctrl-D on a non-empty line deletes
    assert_eq!(r.state(), ("".into(), 0));
    assert!(!r.eof);
    assert_eq!(r.term.current(), "> ");
}

#[test]
fn kills_and_yanks() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"stop web_1 db");
    r.feed(b"\x17"); // Ctrl-W
    assert_eq!(r.state(), ("stop web_1 ".into(), 11));
    r.feed(b"\x17");
    assert_eq!(r.state(), ("stop ".into(), 5));
    r.feed(b"\x19"); // Ctrl-Y
    assert_eq!(r.state(), ("stop web_1 ".into(), 11));
    r.feed(b"\x01\x1b[C\x1b[C\x0b"); // Home, Right, Right, Ctrl-K
    assert_eq!(r.state(), ("st".into(), 2));
    r.feed(b"\x05ar"); // End
    r.feed(LEFT).feed(b"\x15"); // Ctrl-U
    assert_eq!(r.state(), ("r".into(), 0));
    r.feed(b"\x19");
    assert_eq!(r.state(), ("star".into(), 3));
}

#[test]
fn moves_and_kills_by_word() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"signal TERM web_1 db");
    r.feed(b"\x1bb");
    assert_eq!(r.ed.cursor(), 18);
    r.feed(b"\x1bb\x1bB");
    assert_eq!(r.ed.cursor(), 7);
    r.feed(b"\x1bf");
    assert_eq!(r.ed.cursor(), 11);
    r.feed(b"\x1b[1;5D"); // Ctrl-Left
    assert_eq!(r.ed.cursor(), 7);
    r.feed(b"\x1b[1;5C\x1b[1;3C"); // Ctrl-Right, Alt-Right
    assert_eq!(r.ed.cursor(), 17);
    r.feed(b"\x1bd"); // Alt-D
    assert_eq!(r.state(), ("signal TERM web_1".into(), 17));
    r.feed(b"\x1b\x7f"); // Alt-Backspace
    assert_eq!(r.state(), ("signal TERM ".into(), 12));
    r.feed(b"\x01\x1bd");
    assert_eq!(r.state(), (" TERM ".into(), 0));
}

#[test]
fn utf8_text_moves_by_character() {
    let mut r = Rig::new(80, &[]);
    r.feed("héllo wörld".as_bytes());
    assert_eq!(r.state(), ("héllo wörld".into(), 11));
    r.feed(b"\x1bb").feed(RIGHT).feed(RIGHT).feed(b"\x7f");
    assert_eq!(r.state(), ("héllo wrld".into(), 7));
    r.feed("ö".as_bytes());
    assert_eq!(r.term.current(), "> héllo wörld");
    assert_eq!(r.term.col, 2 + 8);
    // Wide characters take two columns: the cursor lands after them.
    let mut w = Rig::new(80, &[]);
    w.feed("日本".as_bytes());
    assert_eq!(w.state(), ("日本".into(), 2));
    assert_eq!(w.term.col, 2 + 4);
    w.feed(LEFT);
    assert_eq!(w.term.col, 2 + 2);
    assert_eq!(char_width('\u{301}'), 0);
    assert_eq!(char_width('a'), 1);
}

#[test]
fn sequences_split_across_reads() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"ab");
    // Every split of a left-arrow, a multi-byte character and Ctrl-Left.
    for seq in [&b"\x1b[D"[..], "€".as_bytes(), b"\x1b[1;5D", b"\x1bOH"] {
        for cut in 1..seq.len() {
            let mut r = Rig::new(80, &[]);
            r.feed(b"ab");
            let (a, b) = seq.split_at(cut);
            r.feed(a);
            r.feed(b);
            let mut whole = Rig::new(80, &[]);
            whole.feed(b"ab").feed(seq);
            assert_eq!(r.state(), whole.state(), "{seq:?} cut at {cut}");
        }
    }
    // Byte by byte.
    for b in "é\x1b[Dx\x1b[3~".as_bytes() {
        r.feed(std::slice::from_ref(b));
    }
    assert_eq!(r.state(), ("abx".into(), 3));
}

#[test]
fn unknown_and_broken_input_is_ignored() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"a\x1b[99Z\x1b[5~\x1bOQ\x1bxb\x00\x1f");
    assert_eq!(r.state(), ("ab".into(), 2));
    // A broken UTF-8 sequence drops, the next character survives.
    r.feed(b"\xc3(\xff\xe2\x82");
    assert_eq!(r.state(), ("ab(".into(), 3));
    r.feed(b"c");
    assert_eq!(
        r.state(),
        ("ab(c".into(), 4),
        "the byte that broke it stands"
    );
    // ESC ESC [ D: a lone Escape, then Left.
    r.feed(b"\x1b\x1b[D");
    assert_eq!(r.ed.cursor(), 3);
}

#[test]
fn long_lines_scroll_sideways() {
    let mut r = Rig::new(20, &[]);
    let text: String = ('a'..='z').chain('A'..='Z').collect();
    r.feed(text.as_bytes());
    let row = r.term.current();
    assert!(row.starts_with("> "), "{row}");
    assert!(row.chars().count() <= 19, "the row never wraps: {row}");
    assert!(row.ends_with("XYZ"), "the end of the line is shown: {row}");
    assert_eq!(r.term.col, row.chars().count(), "cursor after the text");
    r.feed(b"\x01");
    assert_eq!(r.term.current(), format!("> {}", &text[..17]));
    assert_eq!(r.term.col, 2);
    r.feed(b"\x1b[4~").feed(LEFT);
    assert!(r.term.col < 20);
    // Deleting the start brings the whole rest back into view.
    r.feed(b"\x15");
    assert_eq!(r.term.current(), "> Z");
    assert_eq!(r.term.col, 2);
    // Wide characters never straddle the edge.
    let mut w = Rig::new(10, &[]);
    w.feed("日本語のテキスト".as_bytes());
    let row = w.term.current();
    assert!(row.chars().count() <= 6, "{row}");
    assert!(w.term.col <= 9);
}

#[test]
fn resize_redraws_for_the_new_width() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"0123456789012345678901234567890");
    assert_eq!(r.term.current(), "> 0123456789012345678901234567890");
    let b = r.ed.set_width(12);
    r.term.put(&b);
    assert_eq!(r.term.current(), "> 234567890");
    assert_eq!(r.term.col, 11, "the last column holds the cursor");
}

#[test]
fn enter_accepts_and_hides_until_shown() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"status\r\n");
    assert_eq!(r.lines, ["status"], "CRLF is one Enter");
    assert_eq!(r.term.text(0), "> status");
    assert!(!r.ed.is_visible());
    r.feed(b"st");
    assert_eq!(r.term.current(), "", "typed ahead, not drawn while hidden");
    let b = r.ed.show();
    r.term.put(&b);
    assert_eq!(r.term.current(), "> st");
    r.feed(b"\x05\r\r");
    assert_eq!(r.lines, ["status", "st", ""]);
}

#[test]
fn ctrl_c_abandons_the_line() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"stop we").feed(LEFT).feed(b"\x03");
    assert_eq!(r.state(), ("".into(), 0));
    assert!(r.lines.is_empty(), "nothing is run");
    assert_eq!(r.term.text(0), "> stop we^C");
    assert_eq!(r.term.current(), "> ");
    assert_eq!(r.interrupts, 1, "Ctrl-C is also told, to end a follow");
    r.feed(b"status\r");
    assert_eq!(r.lines, ["status"]);
    r.feed(b"\x03");
    assert_eq!(r.interrupts, 2, "on an empty line too");
}

#[test]
fn ctrl_d_ends_input_only_on_an_empty_line() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"x\x04");
    assert!(!r.eof);
    let outs = r.ed.feed(b"\x7f\x04more", &no_names);
    assert!(
        matches!(outs.as_slice(), [Output::Screen(_), Output::Eof]),
        "the row is drawn before Eof, never after: {outs:?}"
    );
    r.eof = true;
    assert_eq!(r.ed.line(), "", "input after Ctrl-D is not taken");
    r.feed(b"status\r");
    assert!(r.lines.is_empty());
}

#[test]
fn ctrl_l_clears_the_screen_and_redraws() {
    let mut r = Rig::new(80, &[]);
    r.feed(b"status\r");
    let b = r.ed.show();
    r.term.put(&b);
    r.feed(b"sto\x0c");
    assert_eq!(r.term.cleared, 1);
    assert_eq!((r.term.row, r.term.current()), (0, "> sto".into()));
}

#[test]
fn up_and_down_walk_the_history() {
    let mut r = Rig::new(80, &["one", "two"]);
    r.feed(b"par").feed(UP);
    assert_eq!(r.state(), ("two".into(), 3));
    r.feed(UP);
    assert_eq!(r.ed.line(), "one");
    r.feed(UP);
    assert_eq!((r.ed.line().as_str(), r.term.bells), ("one", 1));
    r.feed(DOWN);
    assert_eq!(r.ed.line(), "two");
    r.feed(DOWN);
    assert_eq!(r.state(), ("par".into(), 3), "back to what was typed");
    r.feed(DOWN);
    assert_eq!(r.term.bells, 2);
    r.feed(b"\x10\x10\x0e"); // Ctrl-P, Ctrl-P, Ctrl-N
    assert_eq!(r.ed.line(), "two");
    assert_eq!(r.term.current(), "> two");
    r.feed(b"\r");
    assert_eq!(r.lines, ["two"]);
    r.feed(UP);
    assert_eq!(r.ed.line(), "two", "the walk starts again at the newest");
    // An empty history rings.
    let mut e = Rig::new(80, &[]);
    e.feed(UP);
    assert_eq!((e.ed.line(), e.term.bells), ("".into(), 1));
}

#[test]
fn ctrl_r_searches_backwards() {
    let hist = ["stop web", "status", "start web_1", "logs db"];
    let mut r = Rig::new(80, &hist);
    r.feed(b"typed\x12web");
    assert_eq!(r.term.current(), "(reverse-i-search)'web': start web_1");
    assert_eq!(r.term.col, "(reverse-i-search)'web': start ".len());
    r.feed(b"\x12");
    assert_eq!(r.term.current(), "(reverse-i-search)'web': stop web");
    r.feed(b"\x12");
    assert!(
        r.term
            .current()
            .starts_with("(failed reverse-i-search)'web'")
    );
    r.feed(b"\r");
    assert_eq!(r.lines, ["stop web"], "Enter runs the match");
    // A key that edits ends the search on the match.
    let mut r = Rig::new(80, &hist);
    r.feed(b"\x12stat").feed(RIGHT);
    assert_eq!(r.state(), ("status".into(), 1));
    assert_eq!(r.term.current(), "> status");
    // Backspace widens the query again.
    r.feed(b"\x05\x15\x12logx");
    assert!(r.term.current().starts_with("(failed "));
    r.feed(b"\x7f");
    assert_eq!(r.term.current(), "(reverse-i-search)'log': logs db");
    // Ctrl-G gives back the line typed before.
    r.feed(b"\x07");
    assert_eq!(r.state(), ("".into(), 0));
    assert_eq!(r.term.current(), "> ");
    let mut r = Rig::new(80, &hist);
    r.feed(b"half\x12st\x03");
    assert_eq!(
        r.state(),
        ("".into(), 0),
        "Ctrl-C ends the search and clears"
    );
    assert!(r.lines.is_empty());
}

#[test]
fn tab_completes_common_prefix_then_lists() {
    let mut r = Rig::new(40, &[]);
    r.tab(b"sto\t");
    assert_eq!(r.state(), ("stop ".into(), 5));
    r.tab(b"wo\t");
    assert_eq!(r.ed.line(), "stop worker ");
    r.tab(b"w\t");
    assert_eq!(r.ed.line(), "stop worker w", "ambiguous: nothing to add");
    assert_eq!(r.term.bells, 1);
    let before = r.term.row;
    r.tab(b"\t");
    let listed: Vec<String> = (before + 1..r.term.row).map(|i| r.term.text(i)).collect();
    let all = listed.join(" ");
    for n in ["web", "web_1", "web_2", "worker"] {
        assert!(all.split_whitespace().any(|w| w == n), "{n} in {listed:?}");
    }
    assert!(!all.contains("db"));
    assert_eq!(r.term.current(), "> stop worker w", "prompt again below");
    r.tab(b"e\t");
    assert_eq!(r.ed.line(), "stop worker web", "grows to the common prefix");
    r.tab(b"_\t");
    assert_eq!(r.ed.line(), "stop worker web_");
    r.tab(b"2\t");
    assert_eq!(r.ed.line(), "stop worker web_2 ");
    // In the middle of a line, completion inserts at the cursor.
    let mut m = Rig::new(80, &[]);
    m.tab(b" db").feed(b"\x01").tab(b"resta\t");
    assert_eq!(m.state(), ("restart db".into(), 7));
    let mut s = Rig::new(80, &[]);
    s.tab(b"signal SIGTE\t");
    assert_eq!(s.ed.line(), "signal SIGTERM ");
    let mut n = Rig::new(80, &[]);
    n.tab(b"stop zz\t");
    assert_eq!((n.ed.line().as_str(), n.term.bells), ("stop zz", 1));
}

#[test]
fn long_listings_are_cut() {
    let many = |f: &mut dyn FnMut(&str)| {
        for i in 0..500 {
            f(&format!("p{i}"));
        }
    };
    let mut r = Rig::new(80, &[]);
    r.feed_with(b"stop p\t\t", &many);
    let text: Vec<String> = (0..=r.term.row).map(|i| r.term.text(i)).collect();
    assert!(text.iter().any(|l| l == "... and 400 more"), "{text:?}");
}

#[test]
fn arbitrary_bytes_never_break_it() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut r = Rig::new(13, &["a", "bb", "ccc"]);
    for round in 0..3000 {
        let n = (seed % 7) as usize + 1;
        let mut bytes = Vec::new();
        for _ in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Mostly the interesting bytes: controls, ESC, '[', UTF-8 leads.
            let b = match seed % 6 {
                0 => (seed >> 8) as u8 & 0x1f,
                1 => 0x1b,
                2 => b'[',
                3 => 0xc0 | (seed >> 16) as u8 & 0x3f,
                _ => (seed >> 24) as u8,
            };
            bytes.push(b);
        }
        if r.eof {
            r = Rig::new(13, &["a", "bb", "ccc"]);
        }
        r.feed_with(&bytes, &procs);
        assert!(
            r.ed.cursor() <= r.ed.line().chars().count(),
            "round {round}"
        );
        if !r.ed.is_visible() {
            let b = r.ed.show();
            r.term.put(&b);
        }
        assert!(r.term.col < 13, "cursor off the row in round {round}");
    }
}
