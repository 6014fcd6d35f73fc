//! The recent output lines of one process, both streams in arrival order,
//! in one buffer of exactly `RING_BYTES` bytes: what is accounted is what is
//! allocated. The buffer is allocated only once output arrives, so quiet
//! processes cost nothing. Pure apart from formatting the local time of a
//! line.

use std::collections::VecDeque;

/// The bytes of memory kept for output per process, headers included.
pub const RING_BYTES: usize = 64 * 1024;
/// Each line is stored as: receipt time (8 bytes), arrival number (8),
/// stream (1), length (4), then the text.
const HEADER: usize = 21;

/// One kept line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Seconds since the epoch when it was received.
    pub at: i64,
    /// Its place in the arrival order of all processes' lines, so lines
    /// of several rings merge in the order they came.
    pub seq: u64,
    /// Whether it came from stderr.
    pub stderr: bool,
    pub text: Vec<u8>,
}

/// A bounded ring of lines.
#[derive(Debug, Default)]
pub struct Ring {
    buf: VecDeque<u8>,
    lines: usize,
}

impl Ring {
    /// Appends a line, dropping the oldest ones to stay within
    /// `RING_BYTES`. A line larger than the whole ring keeps its last part.
    pub fn push(&mut self, at: i64, seq: u64, stderr: bool, text: &[u8]) {
        if self.buf.capacity() == 0 {
            self.buf = VecDeque::with_capacity(RING_BYTES);
        }
        let text = &text[text.len().saturating_sub(RING_BYTES - HEADER)..];
        while self.buf.len() + HEADER + text.len() > RING_BYTES {
            self.pop_front();
        }
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&at.to_le_bytes());
        header[8..16].copy_from_slice(&seq.to_le_bytes());
        header[16] = u8::from(stderr);
        header[17..].copy_from_slice(&(text.len() as u32).to_le_bytes());
        self.buf.extend(&header);
        self.buf.extend(text);
        self.lines += 1;
    }

    /// Makes ready for the lines of `chunk` (a stream's next bytes, cut
    /// into lines by `Lines`): returns how many of its first lines need not
    /// be pushed, those the lines after them in the same chunk would push
    /// out again, and when there are any, forgets the lines kept so far,
    /// which would go before them. The memory stays.
    pub fn make_ready(&mut self, chunk: &[u8]) -> usize {
        let n = Ring::needless(chunk);
        if n > 0 {
            self.buf.clear();
            self.lines = 0;
        }
        n
    }

    /// How many of the first lines of `chunk` the lines after them in the
    /// chunk push out. Counted by newlines, from the end, as if each line
    /// were as short as its newline says; lines a cut or an unfinished
    /// line before the chunk make longer only push out earlier, so it never
    /// counts a line the ring would keep.
    fn needless(chunk: &[u8]) -> usize {
        let mut newlines = memchr::memrchr_iter(b'\n', chunk);
        let Some(mut end) = newlines.next() else {
            return 0;
        };
        let mut kept = 0;
        loop {
            let start = newlines.next();
            kept += HEADER + end - start.map_or(0, |s| s + 1);
            let Some(start) = start else {
                return usize::from(kept > RING_BYTES);
            };
            if kept > RING_BYTES {
                // This line, the one that ends at `start`, and every one
                // before them.
                return 2 + memchr::memchr_iter(b'\n', &chunk[..start]).count();
            }
            end = start;
        }
    }

    fn header(&self, at: usize) -> (i64, u64, bool, usize) {
        let byte = |i: usize| self.buf[at + i];
        let time = i64::from_le_bytes(std::array::from_fn(byte));
        let seq = u64::from_le_bytes(std::array::from_fn(|i| byte(8 + i)));
        (time, seq, byte(16) != 0, self.len_at(at))
    }

    /// The text length of the line whose header starts at `at`.
    fn len_at(&self, at: usize) -> usize {
        let byte = |i: usize| self.buf[at + 17 + i];
        u32::from_le_bytes(std::array::from_fn(byte)) as usize
    }

    fn pop_front(&mut self) {
        if self.lines == 0 {
            return;
        }
        // Only the length: dropping lines is the flood's hot path.
        let len = self.len_at(0);
        self.buf.drain(..HEADER + len);
        self.lines -= 1;
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<Line> {
        self.last_where(n, |_| true)
    }

    /// The last `n` lines of those whose stream passes `keep` (given
    /// whether the line is from stderr), oldest first.
    pub fn last_where(&self, n: usize, keep: impl Fn(bool) -> bool) -> Vec<Line> {
        let mut at = 0;
        let mut kept = 0;
        for _ in 0..self.lines {
            kept += usize::from(keep(self.buf[at + 16] != 0));
            at += HEADER + self.len_at(at);
        }
        let skip = kept.saturating_sub(n);
        let mut out = Vec::with_capacity(kept - skip);
        let mut at = 0;
        let mut i = 0;
        for _ in 0..self.lines {
            let (time, seq, stderr, len) = self.header(at);
            let pass = keep(stderr);
            if pass && i >= skip {
                let text = self
                    .buf
                    .range(at + HEADER..at + HEADER + len)
                    .copied()
                    .collect();
                out.push(Line {
                    at: time,
                    seq,
                    stderr,
                    text,
                });
            }
            i += usize::from(pass);
            at += HEADER + len;
        }
        out
    }

    /// Forgets every line and gives the memory back (`clear`).
    pub fn clear(&mut self) {
        self.buf = VecDeque::new();
        self.lines = 0;
    }

    /// Number of lines kept.
    pub fn len(&self) -> usize {
        self.lines
    }

    /// Whether no line is kept.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Bytes in use, headers included (at most `RING_BYTES`).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Bytes allocated (0 before the first line, else `RING_BYTES`).
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }
}

/// `[YYYY-MM-DD HH:MM:SS] text`, in local time.
pub fn format_line(line: &Line) -> String {
    format!(
        "[{}] {}",
        local_time(line.at),
        String::from_utf8_lossy(&line.text)
    )
}

/// `YYYY-MM-DD HH:MM:SS` in the local time zone.
pub fn local_time(secs: i64) -> String {
    let t = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value; localtime_r only writes it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    let ok = !unsafe { libc::localtime_r(&t, &mut tm) }.is_null();
    if !ok {
        return format!("@{secs}");
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect()
    }

    #[test]
    fn empty_ring_allocates_nothing() {
        let r = Ring::default();
        assert_eq!(r.allocated(), 0);
        assert!(r.is_empty());
        assert!(r.last(10).is_empty());
    }

    #[test]
    fn keeps_last_lines_within_bound() {
        let mut r = Ring::default();
        for i in 0..10_000 {
            r.push(i, i as u64, i % 2 == 1, format!("line {i}").as_bytes());
            assert!(r.bytes() <= RING_BYTES);
            assert_eq!(r.allocated(), RING_BYTES, "the one allocation never grows");
        }
        let last = r.last(3);
        assert_eq!(texts(&last), ["line 9997", "line 9998", "line 9999"]);
        assert_eq!((last[0].at, last[0].stderr), (9997, true));
        assert_eq!(last[2].seq, 9999);
        assert_eq!((last[1].at, last[1].stderr), (9998, false));
        assert!(r.len() > 2000, "small lines fill the ring: {}", r.len());
        assert_eq!(r.last(usize::MAX).len(), r.len());
    }

    /// Pushes `chunk`'s lines as the supervisor does, skipping the
    /// `needless` ones or not.
    fn feed(r: &mut Ring, lines: &mut crate::logs::lines::Lines, chunk: &[u8], skip: bool) {
        let mut n = if skip { r.make_ready(chunk) } else { 0 };
        lines.feed(chunk, |l| match n {
            0 => r.push(0, 0, false, l),
            _ => n -= 1,
        });
    }

    #[test]
    fn skipping_the_needless_lines_keeps_the_same_lines() {
        use crate::logs::lines::Lines;
        // Lines of many lengths, some over MAX_LINE, fed in chunks that
        // cut them anywhere.
        let mut seed = 7u64;
        let mut rand = |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let mut data = Vec::new();
        for i in 0..20_000 {
            let len = match rand(50) {
                0 => 20_000 + rand(20_000),
                1..=5 => rand(3000),
                _ => rand(150),
            };
            data.extend(format!("{i} ").bytes());
            data.extend((0..len).map(|j| b'a' + (j % 26) as u8));
            data.push(b'\n');
        }
        let (mut all, mut some) = (Ring::default(), Ring::default());
        let (mut la, mut ls) = (Lines::default(), Lines::default());
        let mut at = 0;
        let mut skipped = 0;
        while at < data.len() {
            let n = (1 + rand(300_000) as usize).min(data.len() - at);
            let chunk = &data[at..at + n];
            skipped += Ring::needless(chunk);
            feed(&mut all, &mut la, chunk, false);
            feed(&mut some, &mut ls, chunk, true);
            assert_eq!(all.last(usize::MAX), some.last(usize::MAX), "at {at}");
            at += n;
        }
        assert!(skipped > 10_000, "most lines are skipped: {skipped}");

        // What was kept before a chunk goes with the lines it skips: a
        // short old line would fit beside the lines pushed, but not beside
        // the ones skipped.
        let mut chunk = vec![b'a'; 1000];
        chunk.push(b'\n');
        for _ in 0..(RING_BYTES - 30) / (99 + HEADER) {
            chunk.extend_from_slice(&[b'b'; 99]);
            chunk.push(b'\n');
        }
        let (mut all, mut some) = (Ring::default(), Ring::default());
        let (mut la, mut ls) = (Lines::default(), Lines::default());
        for (r, l, skip) in [(&mut all, &mut la, false), (&mut some, &mut ls, true)] {
            feed(r, l, b"old\n", skip);
            feed(r, l, &chunk, skip);
        }
        assert_eq!(Ring::needless(&chunk), 1);
        assert_eq!(all.last(usize::MAX), some.last(usize::MAX));
        assert!(all.last(1)[0].text.starts_with(b"b"));
    }

    #[test]
    fn needless_lines_of_a_chunk() {
        assert_eq!(Ring::needless(b""), 0);
        assert_eq!(Ring::needless(b"no newline"), 0);
        let line = [b'x'; 99];
        let mut chunk = Vec::new();
        for _ in 0..1000 {
            chunk.extend_from_slice(&line);
            chunk.push(b'\n');
        }
        // 100 bytes and a header each: the last ones that fit stay.
        let fit = RING_BYTES / (99 + HEADER);
        assert_eq!(Ring::needless(&chunk), 1000 - fit);
        chunk.extend_from_slice(b"unfinished");
        assert_eq!(Ring::needless(&chunk), 1000 - fit);
        assert_eq!(Ring::needless(&chunk[..100 * fit]), 0, "all fit");
        assert_eq!(Ring::needless(&chunk[..100 * (fit + 1)]), 1);
    }

    #[test]
    fn huge_line_keeps_its_tail() {
        let mut r = Ring::default();
        r.push(0, 0, false, b"before");
        let big: Vec<u8> = (0..RING_BYTES * 2).map(|i| (i % 251) as u8).collect();
        r.push(1, 1, false, &big);
        assert_eq!(r.len(), 1);
        let kept = &r.last(1)[0].text;
        assert!(big.ends_with(kept));
        assert_eq!(r.bytes(), RING_BYTES);
        r.push(2, 2, true, b"after");
        assert_eq!(texts(&r.last(5)), ["after"]);
    }

    #[test]
    fn filters_by_stream_then_takes_the_last() {
        let mut r = Ring::default();
        for i in 0..20u64 {
            r.push(0, i, i % 3 == 0, format!("l{i}").as_bytes());
        }
        assert_eq!(texts(&r.last_where(3, |err| err)), ["l12", "l15", "l18"]);
        assert_eq!(texts(&r.last_where(2, |err| !err)), ["l17", "l19"]);
        assert_eq!(r.last_where(100, |err| err).len(), 7);
        assert!(r.last_where(5, |_| false).is_empty());
    }

    #[test]
    fn clear_forgets_and_frees() {
        let mut r = Ring::default();
        r.push(0, 0, false, b"x");
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.allocated(), 0);
        r.push(0, 1, false, b"y");
        assert_eq!(texts(&r.last(5)), ["y"]);
    }

    #[test]
    fn empty_lines_are_kept() {
        let mut r = Ring::default();
        r.push(5, 0, false, b"");
        r.push(6, 1, true, b"x");
        assert_eq!(texts(&r.last(2)), ["", "x"]);
    }

    #[test]
    fn formats_local_time() {
        let s = local_time(0);
        assert_eq!(s.len(), 19, "{s}");
        assert!(s.starts_with("1970-01-01") || s.starts_with("1969-12-31"));
        let l = Line {
            at: 0,
            seq: 0,
            stderr: false,
            text: b"hi \xff".to_vec(),
        };
        assert!(format_line(&l).ends_with("] hi \u{fffd}"));
    }
}
