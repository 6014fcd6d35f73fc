//! Keys from the bytes a terminal sends: control characters, UTF-8 text
//! and the escape sequences of xterm-like terminals (cursor keys, Home, End,
//! Delete, Alt and Ctrl with a letter or an arrow), any of them split across
//! reads. Pure: bytes in, keys out; the line editor (`line.rs`) gives them
//! meaning.

/// A decoded key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Key {
    Char(char),
    Enter,
    Tab,
    Backspace,
    Delete,
    Left,
    Right,
    Up,
    Down,
    Home,
    End,
    WordLeft,
    WordRight,
    KillWordRight,
    KillWordLeft,
    /// Ctrl-C.
    Cancel,
    /// Ctrl-D.
    EofOrDelete,
    /// Ctrl-K.
    KillToEnd,
    /// Ctrl-U.
    KillToStart,
    /// Ctrl-W.
    KillBlankWord,
    /// Ctrl-L.
    ClearScreen,
    /// Ctrl-R.
    Search,
    /// Ctrl-G.
    Abort,
    /// Ctrl-Y.
    Yank,
    /// A key or sequence with no binding.
    Ignored,
}

/// Cuts bytes into keys, keeping an unfinished sequence for the next read.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    pending: Vec<u8>,
    /// The last key was a carriage return: a line feed right after it is
    /// the same Enter (pasted CRLF text).
    after_cr: bool,
}

impl Decoder {
    /// Appends the keys `bytes` complete to `keys`.
    pub(super) fn feed(&mut self, bytes: &[u8], keys: &mut Vec<Key>) {
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while at < self.pending.len() {
            let Some((key, len)) = decode(&self.pending[at..]) else {
                break;
            };
            let byte = self.pending[at];
            let key = if byte == b'\n' && self.after_cr {
                Key::Ignored
            } else {
                key
            };
            self.after_cr = byte == b'\r';
            keys.push(key);
            at += len;
        }
        self.pending.drain(..at);
    }
}

/// The key at the start of `b` (never empty) and its length in bytes, or
/// `None` when `b` is the start of a sequence that is not complete yet.
fn decode(b: &[u8]) -> Option<(Key, usize)> {
    let key = match b[0] {
        0x1b => return decode_escape(b),
        0x01 => Key::Home,
        0x02 => Key::Left,
        0x03 => Key::Cancel,
        0x04 => Key::EofOrDelete,
        0x05 => Key::End,
        0x06 => Key::Right,
        0x07 => Key::Abort,
        0x08 | 0x7f => Key::Backspace,
        0x09 => Key::Tab,
        0x0a | 0x0d => Key::Enter,
        0x0b => Key::KillToEnd,
        0x0c => Key::ClearScreen,
        0x0e => Key::Down,
        0x10 => Key::Up,
        0x12 => Key::Search,
        0x15 => Key::KillToStart,
        0x17 => Key::KillBlankWord,
        0x19 => Key::Yank,
        0x00..=0x1f => Key::Ignored,
        0x20..=0x7e => Key::Char(b[0] as char),
        _ => return decode_utf8(b),
    };
    Some((key, 1))
}

fn decode_utf8(b: &[u8]) -> Option<(Key, usize)> {
    let len = match b[0] {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Some((Key::Ignored, 1)),
    };
    for (i, &c) in b.iter().enumerate().take(len).skip(1) {
        if !(0x80..=0xbf).contains(&c) {
            // Broken sequence: drop it; the byte that broke it stands alone.
            return Some((Key::Ignored, i));
        }
    }
    if b.len() < len {
        return None;
    }
    match std::str::from_utf8(&b[..len])
        .ok()
        .and_then(|s| s.chars().next())
    {
        Some(c) if !c.is_control() => Some((Key::Char(c), len)),
        _ => Some((Key::Ignored, len)),
    }
}

fn decode_escape(b: &[u8]) -> Option<(Key, usize)> {
    let &next = b.get(1)?;
    let key = match next {
        b'[' => return decode_csi(b),
        b'O' => {
            let &f = b.get(2)?;
            let key = match f {
                b'A' => Key::Up,
                b'B' => Key::Down,
                b'C' => Key::Right,
                b'D' => Key::Left,
                b'H' => Key::Home,
                b'F' => Key::End,
                0x40..=0x7e => Key::Ignored,
                _ => return Some((Key::Ignored, 2)),
            };
            return Some((key, 3));
        }
        b'b' | b'B' => Key::WordLeft,
        b'f' | b'F' => Key::WordRight,
        b'd' | b'D' => Key::KillWordRight,
        0x7f | 0x08 => Key::KillWordLeft,
        // Another Alt key.
        0x20..=0x7e => Key::Ignored,
        // A lone Escape: what follows is decoded on its own.
        _ => return Some((Key::Ignored, 1)),
    };
    Some((key, 2))
}

/// `ESC [ params final`: the cursor and editing keys of xterm-like
/// terminals; anything else is consumed and ignored.
fn decode_csi(b: &[u8]) -> Option<(Key, usize)> {
    let mut i = 2;
    loop {
        let &c = b.get(i)?;
        match c {
            0x40..=0x7e => break,
            0x20..=0x3f if i < 32 => i += 1,
            // Broken or endless: drop it; the byte that broke it stands alone.
            _ => return Some((Key::Ignored, i)),
        }
    }
    let params = &b[2..i];
    // `1;5C` is Ctrl-Right, `1;3C` Alt-Right: with a modifier, by word.
    let modified = params.contains(&b';');
    let key = match (b[i], params) {
        (b'A', _) => Key::Up,
        (b'B', _) => Key::Down,
        (b'C', _) if modified => Key::WordRight,
        (b'C', _) => Key::Right,
        (b'D', _) if modified => Key::WordLeft,
        (b'D', _) => Key::Left,
        (b'H', _) => Key::Home,
        (b'F', _) => Key::End,
        (b'~', b"1" | b"7") => Key::Home,
        (b'~', b"4" | b"8") => Key::End,
        (b'~', b"3") => Key::Delete,
        _ => Key::Ignored,
    };
    Some((key, i + 1))
}
