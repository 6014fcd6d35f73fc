//! Cuts a byte stream into lines however it is chunked. A line is what comes
//! before a `\n` (which is not part of it); a line longer than `MAX_LINE`
//! is cut into pieces of `MAX_LINE` bytes so memory stays bounded. Pure.

/// The longest line kept whole; longer ones are cut.
pub const MAX_LINE: usize = 16 * 1024;

/// The unfinished last line of a stream. Allocates only once a partial line
/// has to be kept.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Feeds `bytes`, calling `emit` for every complete line.
    pub fn feed(&mut self, mut bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.partial.len();
            // One byte past the room, so a newline right at the limit still
            // ends the line rather than leaving an empty one behind.
            let window = &bytes[..bytes.len().min(room + 1)];
            match memchr::memchr(b'\n', window) {
                Some(i) => {
                    if self.partial.is_empty() {
                        emit(&window[..i]);
                    } else {
                        self.partial.extend_from_slice(&window[..i]);
                        emit(&self.partial);
                        self.partial.clear();
                    }
                    bytes = &bytes[i + 1..];
                }
                None if window.len() > room => {
                    // A full line's worth without newline: cut here.
                    let window = &window[..room];
                    if self.partial.is_empty() {
                        emit(window);
                    } else {
                        self.partial.extend_from_slice(window);
                        emit(&self.partial);
                        self.partial.clear();
                    }
                    bytes = &bytes[room..];
                }
                None => {
                    self.partial.extend_from_slice(window);
                    bytes = &[];
                }
            }
        }
        if self.partial.is_empty() && self.partial.capacity() > 0 {
            // Give back the buffer of a long line; quiet streams cost nothing.
            self.partial = Vec::new();
        }
    }

    /// Ends the stream: emits the unfinished last line, if any.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit(&self.partial);
        }
        self.partial = Vec::new();
    }

    /// Bytes held for the unfinished line.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }
}

/// Splits `data` in one go, as the reference for chunked feeding.
pub fn split_all(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut l = Lines::default();
    l.feed(data, |line| out.push(line.to_vec()));
    l.finish(|line| out.push(line.to_vec()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(data: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut l = Lines::default();
        let mut rest = data;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            l.feed(&rest[..n], |line| out.push(line.to_vec()));
            rest = &rest[n..];
            i += 1;
        }
        l.finish(|line| out.push(line.to_vec()));
        out
    }

    #[test]
    fn lines_and_last_without_newline() {
        assert_eq!(
            split_all(b"a\nbb\n\nc"),
            vec![b"a".to_vec(), b"bb".to_vec(), vec![], b"c".to_vec()]
        );
        assert_eq!(split_all(b"x\n"), vec![b"x".to_vec()]);
        assert!(split_all(b"").is_empty());
    }

    #[test]
    fn chunking_does_not_change_lines() {
        let mut data = Vec::new();
        for i in 0..200 {
            data.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, i * 37 % 300));
            data.push(b'\n');
        }
        data.extend(vec![b'z'; MAX_LINE * 2 + 5]);
        data.extend(b"\ntail");
        let whole = split_all(&data);
        for sizes in [
            &[1usize][..],
            &[2, 3],
            &[4096],
            &[MAX_LINE - 1, 7],
            &[100_000],
        ] {
            assert_eq!(chunked(&data, sizes), whole, "{sizes:?}");
        }
    }

    #[test]
    fn long_lines_are_cut_at_max() {
        let data = vec![b'x'; MAX_LINE * 2 + 1];
        let lines = split_all(&data);
        assert_eq!(
            lines.iter().map(Vec::len).collect::<Vec<_>>(),
            [MAX_LINE, MAX_LINE, 1]
        );
        let mut exact = vec![b'y'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(
            split_all(&exact),
            vec![vec![b'y'; MAX_LINE]],
            "exactly MAX_LINE is one line"
        );
        exact.insert(0, b'y');
        assert_eq!(split_all(&exact).len(), 2);
    }

    #[test]
    fn quiet_stream_holds_no_memory() {
        let mut l = Lines::default();
        l.feed(b"abc", |_| {});
        assert_eq!(l.pending(), 3);
        l.feed(b"\n", |_| {});
        assert_eq!(l.pending(), 0);
        assert_eq!(l.partial.capacity(), 0);
    }
}
