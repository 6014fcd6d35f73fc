//! The terminal line editor: a pure state machine. Bytes typed in, the
//! edited line and the bytes that redraw it out. It takes the keys that
//! `keys.rs` decodes (UTF-8 and escape sequences, either of them split
//! across reads), edits the line, walks and searches the history it is
//! given, completes words from names it is handed on Tab, and draws one
//! terminal row: the prompt, then a window of the line that scrolls
//! sideways when the line is wider than the terminal.
//! It never reads or writes a file descriptor and never looks at the clock.
//!
//! Keys: printable text inserts at the cursor; Left/Right (Ctrl-B/F),
//! Home/End (Ctrl-A/E), Alt-B/F or Ctrl-Left/Right move by word;
//! Backspace, Delete, Ctrl-D (on a non-empty line) delete a character;
//! Ctrl-K/U kill to the end/start, Ctrl-W the blank-separated word before
//! the cursor, Alt-D/Alt-Backspace a word forward/back, Ctrl-Y yanks the last
//! kill; Up/Down (Ctrl-P/N) walk the history, Ctrl-R searches it backwards;
//! Tab completes; Enter accepts; Ctrl-C abandons the line; Ctrl-D on an empty
//! line is end of input; Ctrl-L clears the screen.

use std::io::Write;

use unicode_width::UnicodeWidthChar;

use super::complete::{self, Names};
use super::history::History;
use super::keys::{Decoder, Key};

/// The longest line the editor holds, in characters; more is refused.
pub const MAX_CHARS: usize = 16 * 1024;

/// The most candidates a Tab listing shows.
const LIST_MAX: usize = 100;

/// What feeding bytes to the editor gave, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Bytes for the terminal.
    Screen(Vec<u8>),
    /// A line the user entered (Enter). The editor has moved to a new row
    /// and no longer shows the prompt; `Editor::show` brings it back.
    Line(String),
    /// Ctrl-D on an empty line. The editor takes no more input.
    Eof,
    /// Ctrl-C (after the line was abandoned): ends what follows output.
    Interrupt,
}

/// Columns a character takes on a terminal: 0 for combining marks and
/// zero-width characters, 2 for East Asian wide characters and emoji, 1
/// for anything else, control characters included. Counted per character,
/// so that a line is as wide as the sum of its characters.
pub fn char_width(c: char) -> usize {
    UnicodeWidthChar::width(c).unwrap_or(1)
}

fn str_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Characters of the names of processes: a word for Alt-B/F/D.
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Ctrl-R in progress. The line being edited stays as it was; the match is
/// shown instead and becomes the line when the search ends.
#[derive(Debug)]
struct Search {
    query: String,
    /// The entry that matches and the character position of the match.
    found: Option<(usize, usize)>,
    /// The query no longer matches (the last match stays shown).
    failed: bool,
}

/// The line editor.
#[derive(Debug)]
pub struct Editor {
    prompt: String,
    /// Terminal columns.
    width: usize,
    buf: Vec<char>,
    /// Cursor, in characters.
    pos: usize,
    /// First character shown when the line is wider than the terminal.
    scroll: usize,
    decoder: Decoder,
    history: History,
    /// Walking the history: the entry shown and the line typed before.
    browse: Option<(usize, Vec<char>)>,
    search: Option<Search>,
    /// The last text killed, for Ctrl-Y.
    killed: Vec<char>,
    /// The last key was a Tab that left several candidates: another one
    /// lists them.
    tabbed: bool,
    /// The prompt and line are on the terminal's current row.
    visible: bool,
    /// The row no longer shows the line.
    dirty: bool,
    /// Ctrl-D ended the input.
    ended: bool,
    out: Vec<Output>,
}

impl Editor {
    /// An editor showing `prompt` on a terminal `width` columns wide, with
    /// `history` for Up/Down and Ctrl-R. It starts hidden: `show` draws it.
    pub fn new(prompt: &str, width: usize, history: History) -> Editor {
        Editor {
            prompt: prompt.to_string(),
            width: width.max(1),
            buf: Vec::new(),
            pos: 0,
            scroll: 0,
            decoder: Decoder::default(),
            history,
            browse: None,
            search: None,
            killed: Vec::new(),
            tabbed: false,
            visible: false,
            dirty: false,
            ended: false,
            out: Vec::new(),
        }
    }

    /// Handles typed bytes; `names` gives the process and task names when
    /// Tab needs them. Returns the screen updates and entered lines in
    /// order. Screen bytes come only while the editor is shown.
    pub fn feed(&mut self, bytes: &[u8], names: Names) -> Vec<Output> {
        if !self.ended {
            let mut keys = Vec::new();
            self.decoder.feed(bytes, &mut keys);
            for k in keys {
                if self.ended {
                    break;
                }
                self.key(k, names);
            }
            self.flush();
        }
        std::mem::take(&mut self.out)
    }

    /// Draws the prompt and the line on the current row (whose start the
    /// cursor is at or on) and keeps them updated from now on.
    pub fn show(&mut self) -> Vec<u8> {
        self.visible = true;
        self.dirty = false;
        self.render()
    }

    /// Erases the prompt row so other text can be printed there; `show`
    /// brings it back.
    pub fn hide(&mut self) -> Vec<u8> {
        if !std::mem::replace(&mut self.visible, false) {
            return Vec::new();
        }
        b"\r\x1b[K".to_vec()
    }

    /// Whether the prompt and line are on screen.
    pub fn is_visible(&self) -> bool {
        self.visible
    }

    /// The terminal is now `width` columns wide; returns the redraw.
    pub fn set_width(&mut self, width: usize) -> Vec<u8> {
        self.width = width.max(1);
        if self.visible {
            self.render()
        } else {
            Vec::new()
        }
    }

    /// The line as edited so far.
    pub fn line(&self) -> String {
        self.buf.iter().collect()
    }

    /// The cursor, in characters from the start of the line.
    pub fn cursor(&self) -> usize {
        self.pos
    }

    /// The history, to record entered lines.
    pub fn history_mut(&mut self) -> &mut History {
        &mut self.history
    }

    fn key(&mut self, k: Key, names: Names) {
        self.dirty = true;
        if self.search.is_some() && self.search_key(k) {
            return;
        }
        let tabbed = std::mem::take(&mut self.tabbed);
        let len = self.buf.len();
        match k {
            Key::Char(c) => self.insert(&[c]),
            Key::Enter => self.accept(),
            Key::Tab => self.complete(tabbed, names),
            Key::Backspace if self.pos > 0 => {
                self.pos -= 1;
                self.buf.remove(self.pos);
            }
            Key::Delete | Key::EofOrDelete if self.pos < len => {
                self.buf.remove(self.pos);
            }
            Key::EofOrDelete if len == 0 => {
                // The row is settled now: nothing is drawn after Eof.
                self.flush();
                self.ended = true;
                self.out.push(Output::Eof);
            }
            Key::Left => self.pos = self.pos.saturating_sub(1),
            Key::Right => self.pos = (self.pos + 1).min(len),
            Key::Home => self.pos = 0,
            Key::End => self.pos = len,
            Key::WordLeft => self.pos = self.word_left(),
            Key::WordRight => self.pos = self.word_right(),
            Key::KillWordRight => self.kill(self.pos, self.word_right()),
            Key::KillWordLeft => self.kill(self.word_left(), self.pos),
            Key::KillToEnd => self.kill(self.pos, len),
            Key::KillToStart => self.kill(0, self.pos),
            Key::KillBlankWord => {
                let mut i = self.pos;
                while i > 0 && self.buf[i - 1].is_whitespace() {
                    i -= 1;
                }
                while i > 0 && !self.buf[i - 1].is_whitespace() {
                    i -= 1;
                }
                self.kill(i, self.pos);
            }
            Key::Yank => {
                let text = self.killed.clone();
                self.insert(&text);
            }
            Key::Cancel => self.cancel(),
            Key::ClearScreen => self.emit(b"\x1b[H\x1b[2J"),
            Key::Search => {
                self.search = Some(Search {
                    query: String::new(),
                    found: None,
                    failed: false,
                });
                self.scroll = 0;
            }
            Key::Up => self.older(),
            Key::Down => self.newer(),
            Key::Backspace | Key::Delete | Key::EofOrDelete => self.bell(),
            Key::Abort | Key::Ignored => {}
        }
    }

    /// A key during Ctrl-R. Returns false when the search ended and the key
    /// is still to be handled on the line.
    fn search_key(&mut self, k: Key) -> bool {
        let Some(s) = &mut self.search else {
            return false;
        };
        let newest = usize::MAX;
        match k {
            Key::Char(c) => {
                s.query.push(c);
                let from = s.found.map_or(newest, |(i, _)| i);
                self.search_from(from);
            }
            Key::Backspace => {
                s.query.pop();
                self.search_from(newest);
            }
            Key::Search => match s.found {
                Some((0, _)) => s.failed = true,
                Some((i, _)) => self.search_from(i - 1),
                None if !s.query.is_empty() => self.search_from(newest),
                None => {}
            },
            Key::Abort => {
                self.search = None;
                self.scroll = 0;
            }
            Key::Ignored => {}
            Key::Cancel => {
                self.search = None;
                return false;
            }
            _ => {
                self.end_search();
                return false;
            }
        }
        true
    }

    fn search_from(&mut self, from: usize) {
        let Some(s) = &mut self.search else { return };
        if s.query.is_empty() {
            s.found = None;
            s.failed = false;
            return;
        }
        match self.history.search(&s.query, from) {
            Some(f) => {
                s.found = Some(f);
                s.failed = false;
            }
            None => s.failed = true,
        }
    }

    /// Ends Ctrl-R keeping the match as the line, cursor on the match.
    fn end_search(&mut self) {
        if let Some(Search {
            found: Some((i, at)),
            ..
        }) = self.search.take()
            && let Some(entry) = self.history.get(i)
        {
            self.buf = entry.chars().collect();
            self.pos = at;
            self.browse = None;
        }
        self.scroll = 0;
    }

    fn insert(&mut self, chars: &[char]) {
        if self.buf.len() + chars.len() > MAX_CHARS {
            self.bell();
            return;
        }
        self.buf.splice(self.pos..self.pos, chars.iter().copied());
        self.pos += chars.len();
    }

    fn kill(&mut self, start: usize, end: usize) {
        if start < end {
            self.killed = self.buf.drain(start..end).collect();
            self.pos = start;
        }
    }

    fn word_left(&self) -> usize {
        let mut i = self.pos;
        while i > 0 && !is_word(self.buf[i - 1]) {
            i -= 1;
        }
        while i > 0 && is_word(self.buf[i - 1]) {
            i -= 1;
        }
        i
    }

    fn word_right(&self) -> usize {
        let mut i = self.pos;
        while i < self.buf.len() && !is_word(self.buf[i]) {
            i += 1;
        }
        while i < self.buf.len() && is_word(self.buf[i]) {
            i += 1;
        }
        i
    }

    fn accept(&mut self) {
        self.pos = self.buf.len();
        self.flush();
        self.emit(b"\r\n");
        self.visible = false;
        let line: String = self.buf.drain(..).collect();
        self.pos = 0;
        self.scroll = 0;
        self.browse = None;
        self.out.push(Output::Line(line));
    }

    /// Ctrl-C: the line is abandoned (left on screen, marked `^C`) and a
    /// fresh prompt follows.
    fn cancel(&mut self) {
        self.pos = self.buf.len();
        self.flush();
        self.emit(b"^C\r\n");
        self.buf.clear();
        self.pos = 0;
        self.scroll = 0;
        self.browse = None;
        self.dirty = true;
        self.flush();
        self.out.push(Output::Interrupt);
    }

    fn older(&mut self) {
        let i = match &self.browse {
            None => self.history.len().checked_sub(1),
            Some((i, _)) => i.checked_sub(1),
        };
        let Some(i) = i else {
            return self.bell();
        };
        match &mut self.browse {
            Some((at, _)) => *at = i,
            None => self.browse = Some((i, std::mem::take(&mut self.buf))),
        }
        self.load(i);
    }

    fn newer(&mut self) {
        let Some((i, typed)) = self.browse.take() else {
            return self.bell();
        };
        if i + 1 < self.history.len() {
            self.browse = Some((i + 1, typed));
            self.load(i + 1);
        } else {
            self.buf = typed;
            self.pos = self.buf.len();
        }
    }

    fn load(&mut self, i: usize) {
        self.buf = self.history.get(i).unwrap_or("").chars().collect();
        self.pos = self.buf.len();
    }

    fn complete(&mut self, tabbed: bool, names: Names) {
        let before: String = self.buf[..self.pos].iter().collect();
        let c = complete::complete(&before, names);
        let typed = before[c.start..].chars().count();
        match c.candidates.as_slice() {
            [] => self.bell(),
            [one] => {
                let mut add: Vec<char> = one.chars().skip(typed).collect();
                if self.buf.get(self.pos) != Some(&' ') {
                    add.push(' ');
                }
                self.insert(&add);
            }
            many => {
                let grow: Vec<char> = complete::common_prefix(many).chars().skip(typed).collect();
                if !grow.is_empty() {
                    self.insert(&grow);
                } else if tabbed {
                    self.list(many);
                } else {
                    self.bell();
                }
                self.tabbed = true;
            }
        }
    }

    /// Prints candidates in columns under the line; the prompt follows.
    fn list(&mut self, candidates: &[String]) {
        self.flush();
        let shown = &candidates[..candidates.len().min(LIST_MAX)];
        let col = shown.iter().map(|c| str_width(c)).max().unwrap_or(0) + 2;
        let cols = (self.width / col).max(1);
        let rows = shown.len().div_ceil(cols);
        let mut text = String::from("\r\n");
        for r in 0..rows {
            let mut row = String::new();
            for c in 0..cols {
                if let Some(name) = shown.get(c * rows + r) {
                    row.push_str(name);
                    row.extend(std::iter::repeat_n(' ', col - str_width(name)));
                }
            }
            text.push_str(row.trim_end());
            text.push_str("\r\n");
        }
        if candidates.len() > shown.len() {
            text.push_str(&format!(
                "... and {} more\r\n",
                candidates.len() - shown.len()
            ));
        }
        self.emit(text.as_bytes());
        self.dirty = true;
    }

    fn bell(&mut self) {
        self.emit(b"\x07");
    }

    fn emit(&mut self, bytes: &[u8]) {
        if !self.visible {
            return;
        }
        match self.out.last_mut() {
            Some(Output::Screen(s)) => s.extend_from_slice(bytes),
            _ => self.out.push(Output::Screen(bytes.to_vec())),
        }
    }

    /// Redraws the row if it is out of date.
    fn flush(&mut self) {
        if self.visible && self.dirty && !self.ended {
            self.dirty = false;
            let r = self.render();
            self.emit(&r);
        }
    }

    /// What the row shows: prompt, text, cursor.
    fn view(&self) -> (String, Vec<char>, usize) {
        let Some(s) = &self.search else {
            return (self.prompt.clone(), self.buf.clone(), self.pos);
        };
        let prompt = format!(
            "({}reverse-i-search)'{}': ",
            if s.failed { "failed " } else { "" },
            s.query
        );
        match s.found.and_then(|(i, at)| Some((self.history.get(i)?, at))) {
            Some((entry, at)) => (prompt, entry.chars().collect(), at),
            None => (prompt, self.buf.clone(), self.pos),
        }
    }

    /// The whole row: carriage return, prompt, the window of the line that
    /// holds the cursor, erase to the end, cursor placed.
    fn render(&mut self) -> Vec<u8> {
        let (prompt, text, cursor) = self.view();
        // A prompt wider than the terminal is cut, leaving room to type.
        let mut prompt_cols = 0;
        let prompt: String = prompt
            .chars()
            .take_while(|&c| {
                prompt_cols += char_width(c);
                prompt_cols + 2 <= self.width
            })
            .collect();
        let pw = str_width(&prompt);
        // One column stays free so the cursor after the last character
        // never wraps to the next row.
        let room = self.width.saturating_sub(pw + 1).max(1);
        let w = |c: &char| char_width(*c);
        self.scroll = self.scroll.min(cursor);
        let mut before: usize = text[self.scroll..cursor].iter().map(w).sum();
        while before >= room && self.scroll < cursor {
            before -= char_width(text[self.scroll]);
            self.scroll += 1;
        }
        // Scroll back while the rest of the line fits: no blank space at
        // the end after deleting.
        let mut rest: usize = text[self.scroll..].iter().map(w).sum();
        while self.scroll > 0 && rest + char_width(text[self.scroll - 1]) <= room {
            self.scroll -= 1;
            rest += char_width(text[self.scroll]);
            before += char_width(text[self.scroll]);
        }
        let mut end = self.scroll;
        let mut cols = 0;
        while end < text.len() && cols + char_width(text[end]) <= room {
            cols += char_width(text[end]);
            end += 1;
        }
        let shown: String = text[self.scroll..end].iter().collect();
        let mut out = Vec::with_capacity(prompt.len() + shown.len() + 16);
        out.push(b'\r');
        out.extend_from_slice(prompt.as_bytes());
        out.extend_from_slice(shown.as_bytes());
        out.extend_from_slice(b"\x1b[K\r");
        let col = pw + before;
        if col > 0 {
            let _ = write!(out, "\x1b[{col}C");
        }
        out
    }
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
