//! The recent output lines of one process, both streams in arrival order, in
//! at most `RING_BYTES` bytes. The buffer is allocated only once output
//! arrives, so quiet processes cost nothing. Pure apart from formatting the
//! local time of a line.

use std::collections::VecDeque;

/// The most bytes of output (with a small per-line overhead) kept per
/// process.
pub const RING_BYTES: usize = 64 * 1024;
const OVERHEAD: usize = 16;

/// One kept line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Seconds since the epoch when it was received.
    pub at: i64,
    /// Whether it came from stderr.
    pub stderr: bool,
    pub text: Box<[u8]>,
}

/// A bounded ring of lines.
#[derive(Debug, Default)]
pub struct Ring {
    lines: VecDeque<Line>,
    bytes: usize,
}

impl Ring {
    /// Appends a line, dropping the oldest ones to stay within
    /// `RING_BYTES`. A line larger than the whole ring keeps its last part.
    pub fn push(&mut self, at: i64, stderr: bool, text: &[u8]) {
        let text = if text.len() + OVERHEAD > RING_BYTES {
            &text[text.len() - (RING_BYTES - OVERHEAD)..]
        } else {
            text
        };
        let cost = text.len() + OVERHEAD;
        while self.bytes + cost > RING_BYTES {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.text.len() + OVERHEAD;
        }
        self.bytes += cost;
        self.lines.push_back(Line {
            at,
            stderr,
            text: text.into(),
        });
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> impl Iterator<Item = &Line> {
        self.lines.iter().skip(self.lines.len().saturating_sub(n))
    }

    /// Number of lines kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no line is kept.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes accounted, overhead included (at most `RING_BYTES`).
    pub fn bytes(&self) -> usize {
        self.bytes
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

    #[test]
    fn empty_ring_allocates_nothing() {
        let r = Ring::default();
        assert_eq!(r.lines.capacity(), 0);
        assert!(r.is_empty());
    }

    #[test]
    fn keeps_last_lines_within_bound() {
        let mut r = Ring::default();
        for i in 0..10_000 {
            r.push(i, i % 2 == 1, format!("line {i}").as_bytes());
            assert!(r.bytes() <= RING_BYTES);
        }
        let last: Vec<_> = r
            .last(3)
            .map(|l| String::from_utf8_lossy(&l.text).into_owned())
            .collect();
        assert_eq!(last, ["line 9997", "line 9998", "line 9999"]);
        assert!(r.len() > 1000, "small lines fill the ring: {}", r.len());
        assert_eq!(r.last(usize::MAX).count(), r.len());
    }

    #[test]
    fn huge_line_keeps_its_tail() {
        let mut r = Ring::default();
        r.push(0, false, b"before");
        let big: Vec<u8> = (0..RING_BYTES * 2).map(|i| (i % 251) as u8).collect();
        r.push(1, false, &big);
        assert_eq!(r.len(), 1);
        let kept = &r.last(1).next().unwrap().text;
        assert!(big.ends_with(kept));
        assert_eq!(r.bytes(), RING_BYTES);
    }

    #[test]
    fn formats_local_time() {
        let s = local_time(0);
        assert_eq!(s.len(), 19, "{s}");
        assert!(s.starts_with("1970-01-01") || s.starts_with("1969-12-31"));
        let l = Line {
            at: 0,
            stderr: false,
            text: b"hi \xff".to_vec().into(),
        };
        assert!(format_line(&l).ends_with("] hi \u{fffd}"));
    }
}
