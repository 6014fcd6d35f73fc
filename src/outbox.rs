//! A bounded queue of whole lines for one streaming client (a `logs -f`
//! follower, an `events` reader). The loop pushes lines and writes what the
//! client's fd takes; it never waits for a client. Past `OUTBOX_BYTES`
//! queued, further lines are dropped whole and counted, and once the queue
//! has room again one `[... N lines dropped]` line says how many were lost,
//! in the place where they were. Memory per client is bounded by
//! `OUTBOX_BYTES` plus that one marker, whatever the client does. Pure apart
//! from `write_to`, which writes to a non-blocking fd.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::pipe::SpliceFlags;

/// The most bytes queued for one client before lines are dropped.
pub const OUTBOX_BYTES: usize = 256 * 1024;

/// The least a queue beside a client's pipe holds: room for a line of
/// the longest kind (16 KiB, `logs::lines::MAX_LINE`) with its time and
/// name, and the marker of those dropped.
pub const BESIDE_PIPE_BYTES: usize = 32 * 1024;

/// Writes `head` then `body` to `w` with as few writes as it takes (one
/// `writev` each), going on from `written`, a count over both, which it
/// advances. `Ok(true)` once both are out, `Ok(false)` when `w` takes no
/// more for now. A reply of megabytes (`metrics`) is written from where it
/// was made, not copied behind its first line.
pub fn write_head_and_body(
    w: &mut impl std::io::Write,
    head: &[u8],
    body: &[u8],
    written: &mut usize,
) -> std::io::Result<bool> {
    use std::io::{ErrorKind, IoSlice};
    while *written < head.len() + body.len() {
        let (h, b) = match written.checked_sub(head.len()) {
            None => (&head[*written..], body),
            Some(b) => (&[][..], &body[b..]),
        };
        match w.write_vectored(&[IoSlice::new(h), IoSlice::new(b)]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => *written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// What `write_to` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued went out.
    Empty,
    /// The fd takes no more for now; wait until it is writable.
    Blocked,
    /// The client is gone (EPIPE, reset): drop it.
    Gone,
}

/// One client's queue.
#[derive(Debug)]
pub struct Outbox {
    buf: VecDeque<u8>,
    cap: usize,
    /// Lines dropped since the last marker.
    dropped: u64,
    /// Lines dropped in all.
    dropped_total: u64,
    /// Of those, the lines `take_untold_drops` has handed out.
    told: u64,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(OUTBOX_BYTES)
    }
}

impl Outbox {
    /// An empty queue holding at most `cap` bytes (`OUTBOX_BYTES` for
    /// clients; smaller in tests).
    pub fn new(cap: usize) -> Outbox {
        Outbox {
            buf: VecDeque::new(),
            cap,
            dropped: 0,
            dropped_total: 0,
            told: 0,
        }
    }

    /// The queue for a client that gave a pipe holding `pipe` bytes: the
    /// pipe is its queue, and this one holds what makes up `OUTBOX_BYTES`
    /// with it, at least `BESIDE_PIPE_BYTES`. A flood past a follower's
    /// 1 MiB pipe is then dropped at once instead of being copied into
    /// the supervisor's memory and out again.
    pub fn beside_pipe(pipe: usize) -> Outbox {
        Outbox::new(OUTBOX_BYTES.saturating_sub(pipe).max(BESIDE_PIPE_BYTES))
    }

    /// The most bytes it queues.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Queues one line: the parts joined, then `\n`. Returns whether it was
    /// queued; a line that does not fit is dropped and counted.
    pub fn push_line(&mut self, parts: &[&[u8]]) -> bool {
        let len = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
        if self.dropped > 0 {
            // The marker goes first, where the lost lines were; it needs its
            // room too, or the queue would grow past the bound.
            if self.buf.len() + marker_len(self.dropped) + len > self.cap {
                self.drop_one();
                return false;
            }
            self.buf.extend(marker(self.dropped).as_bytes());
            self.dropped = 0;
        } else if self.buf.len() + len > self.cap {
            self.drop_one();
            return false;
        }
        for p in parts {
            self.buf.extend(*p);
        }
        self.buf.push_back(b'\n');
        true
    }

    /// Queues whole lines given as one buffer: `block` holds them one
    /// after another, each ending in `\n`, and `ends` the offset just past
    /// each newline. What fits goes in at once; past the bound, lines are
    /// dropped and counted as by `push_line`. Returns how many were queued.
    pub fn push_lines(&mut self, block: &[u8], ends: &[usize]) -> usize {
        let mut queued = 0;
        let mut i = 0;
        let mut start = 0;
        while self.dropped == 0 && i < ends.len() {
            // The lines that fit, in one go; the next one is dropped.
            let room = self.cap.saturating_sub(self.buf.len());
            let fit = ends[i..].partition_point(|&e| e - start <= room);
            if fit > 0 {
                let upto = ends[i + fit - 1];
                self.buf.extend(&block[start..upto]);
                queued += fit;
                i += fit;
                start = upto;
            } else {
                self.drop_one();
                start = ends[i];
                i += 1;
            }
        }
        if i == ends.len() {
            return queued;
        }
        // Lines are being dropped. The marker as it stands and the
        // shortest line left (its newline included): if even they do not
        // fit, none of the rest can (the marker only grows), and all are
        // dropped after one look at their lengths (a stalled follower of a
        // flood).
        let mut shortest = usize::MAX;
        let mut from = start;
        for &end in &ends[i..] {
            shortest = shortest.min(end - from);
            from = end;
        }
        let least = marker_len(self.dropped).saturating_add(shortest);
        if self.buf.len().saturating_add(least) > self.cap {
            let n = (ends.len() - i) as u64;
            self.dropped += n;
            self.dropped_total += n;
            return queued;
        }
        // A shorter line fits after the marker: one at a time from here.
        for &end in &ends[i..] {
            queued += usize::from(self.push_line(&[&block[start..end - 1]]));
            start = end;
        }
        queued
    }

    /// `push_lines`, then `write_to`, without copying into the queue what
    /// the fd takes at once: when nothing waits, the block is written
    /// straight from `block`, and only what the fd did not take is queued
    /// (the rest of a line it took in part, always, so no line is torn;
    /// whole lines as `push_lines` does). With `teed`, a pipe that holds
    /// exactly `block` (see `Fanout`), and `fd` a pipe, the block is
    /// first given by `tee(2)`, without a copy; what that did not give is
    /// written from `block` as above.
    pub fn send_lines(
        &mut self,
        fd: impl AsFd,
        block: &[u8],
        ends: &[usize],
        teed: Option<BorrowedFd<'_>>,
    ) -> Flushed {
        if !self.buf.is_empty() || self.dropped > 0 {
            self.push_lines(block, ends);
            return self.write_to(fd);
        }
        // Any failure (a full pipe, no tee here) leaves it to write(2),
        // which tells a full pipe from a gone reader.
        let mut written = teed.map_or(0, |from| {
            rustix::pipe::tee(from, &fd, block.len(), SpliceFlags::NONBLOCK).unwrap_or(0)
        });
        while written < block.len() {
            match rustix::io::write(&fd, &block[written..]) {
                Ok(n) => written += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => break,
                Err(_) => return Flushed::Gone,
            }
        }
        if written == block.len() {
            return Flushed::Empty;
        }
        // The line the fd took in part goes on whole.
        let i = ends.partition_point(|&e| e <= written);
        self.buf.extend(&block[written..ends[i]]);
        let rest: Vec<usize> = ends[i + 1..].iter().map(|&e| e - ends[i]).collect();
        self.push_lines(&block[ends[i]..], &rest);
        self.push_marker();
        Flushed::Blocked
    }

    fn drop_one(&mut self) {
        self.dropped += 1;
        self.dropped_total += 1;
    }

    /// Queues the marker for lines dropped so far, if any, even when no
    /// new line comes to carry it (a flood that stopped). Returns whether
    /// one was queued.
    pub fn push_marker(&mut self) -> bool {
        if self.dropped == 0 {
            return false;
        }
        let marker = marker(self.dropped);
        if self.buf.len() + marker.len() > self.cap {
            return false;
        }
        self.buf.extend(marker.as_bytes());
        self.dropped = 0;
        true
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Lines dropped and not yet reported by a marker.
    pub fn pending_drops(&self) -> u64 {
        self.dropped
    }

    /// Lines dropped since the queue was made.
    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }

    /// Lines dropped that no earlier call handed out, for the supervisor's
    /// log: those a marker in the queue accounts for, or with `all` (the
    /// client is leaving) every one.
    pub fn take_untold_drops(&mut self, all: bool) -> u64 {
        let upto = if all {
            self.dropped_total
        } else {
            self.dropped_total - self.dropped
        };
        let n = upto.saturating_sub(self.told);
        self.told = self.told.max(upto);
        n
    }

    /// Takes up to `max` queued bytes off the front (for a writer that is
    /// not an fd, and for tests).
    pub fn take(&mut self, max: usize) -> Vec<u8> {
        let n = max.min(self.buf.len());
        let out = self.buf.drain(..n).collect();
        self.shrink();
        out
    }

    /// Writes what the non-blocking `fd` takes, then queues the marker of
    /// lines dropped meanwhile if there is room now. Never blocks.
    pub fn write_to(&mut self, fd: impl AsFd) -> Flushed {
        loop {
            if self.buf.is_empty() && !self.push_marker() {
                self.shrink();
                return Flushed::Empty;
            }
            let (a, _) = self.buf.as_slices();
            match rustix::io::write(&fd, a) {
                Ok(n) => {
                    self.buf.drain(..n);
                }
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => {
                    self.push_marker();
                    return Flushed::Blocked;
                }
                Err(_) => return Flushed::Gone,
            }
        }
    }

    /// A drained queue gives its memory back: thousands of idle followers
    /// cost nothing.
    fn shrink(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = VecDeque::new();
        }
    }
}

/// The length of `marker(n)`, without making it.
fn marker_len(n: u64) -> usize {
    let digits = n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let plural = usize::from(n != 1);
    "[... ".len() + digits + " line".len() + plural + " dropped]\n".len()
}

/// The line that stands for `n` dropped lines.
pub fn marker(n: u64) -> String {
    format!("[... {n} line{} dropped]\n", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(o: &mut Outbox) -> String {
        String::from_utf8(o.take(usize::MAX)).unwrap()
    }

    #[test]
    fn queues_whole_lines() {
        let mut o = Outbox::new(100);
        assert!(o.push_line(&[b"web | ", b"hello"]));
        assert!(o.push_line(&[b"x"]));
        assert_eq!(text(&mut o), "web | hello\nx\n");
        assert!(o.is_empty());
    }

    #[test]
    fn full_queue_drops_lines_and_says_so_once() {
        let mut o = Outbox::new(30);
        assert!(o.push_line(&[b"0123456789"])); // 11 bytes
        assert!(o.push_line(&[b"0123456789"])); // 22
        for _ in 0..5 {
            assert!(!o.push_line(&[b"0123456789"]));
        }
        assert_eq!(o.pending_drops(), 5);
        assert!(o.len() <= 30);
        assert_eq!(o.take(11), b"0123456789\n");
        // Room for the marker (22 bytes) but not marker plus the line.
        assert!(!o.push_line(&[b"0123456789"]));
        assert_eq!(o.pending_drops(), 6);
        o.take(11);
        assert!(o.push_line(&[b"next"]));
        assert_eq!(text(&mut o), "[... 6 lines dropped]\nnext\n");
        assert_eq!(o.pending_drops(), 0);
        assert_eq!(o.dropped_total(), 6);
    }

    #[test]
    fn drops_are_handed_out_once_marked_or_when_the_client_leaves() {
        let mut o = Outbox::new(30);
        let ten = b"0123456789";
        assert!(o.push_line(&[ten]) && o.push_line(&[ten]));
        assert!(!o.push_line(&[ten]));
        assert!(!o.push_line(&[ten]));
        assert_eq!(o.take_untold_drops(false), 0, "no marker yet");
        o.take(22);
        assert!(o.push_marker());
        assert_eq!(o.take_untold_drops(false), 2);
        assert_eq!(o.take_untold_drops(false), 0, "handed out once");
        o.take(usize::MAX);
        assert!(o.push_line(&[ten]) && o.push_line(&[ten]));
        assert!(!o.push_line(&[ten]));
        assert_eq!(o.take_untold_drops(false), 0);
        assert_eq!(o.take_untold_drops(true), 1, "the client leaves");
        assert_eq!(o.take_untold_drops(true), 0);
    }

    #[test]
    fn never_holds_more_than_its_bound() {
        let mut o = Outbox::new(1000);
        let mut reader = 0usize;
        for i in 0..100_000u32 {
            let line = format!("line {i}");
            o.push_line(&[line.as_bytes()]);
            assert!(o.len() <= 1000, "{}", o.len());
            // A reader that takes a little now and then.
            if i % 97 == 0 {
                reader += o.take(13).len();
            }
            o.push_marker();
            assert!(o.len() <= 1000);
        }
        assert!(reader > 0);
        assert!(o.dropped_total() > 90_000);
    }

    #[test]
    fn every_line_is_accounted_for() {
        // Lines that arrive are either delivered whole or counted in a
        // marker; nothing is torn.
        let mut o = Outbox::new(200);
        let mut out = Vec::new();
        for i in 0..5000u32 {
            o.push_line(&[format!("n{i}").as_bytes()]);
            if i % 50 == 0 {
                out.extend(o.take(64));
            }
        }
        out.extend(o.take(usize::MAX));
        assert!(o.push_marker());
        out.extend(o.take(usize::MAX));
        let mut seen = 0u64;
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n'));
        for l in text.lines() {
            if let Some(n) = l.strip_prefix("[... ") {
                let n: u64 = n.split(' ').next().unwrap().parse().unwrap();
                seen += n;
            } else {
                assert!(l.starts_with('n') && l[1..].parse::<u32>().is_ok(), "{l}");
                seen += 1;
            }
        }
        assert_eq!(seen, 5000);
    }

    #[test]
    fn a_block_of_lines_goes_in_whole_or_line_by_line() {
        let block = b"one\ntwo\nthree\n";
        let ends = [4, 8, 14];
        let mut o = Outbox::new(26);
        assert_eq!(o.push_lines(block, &ends), 3);
        assert_eq!(o.push_lines(block, &ends), 2, "'three' no longer fits");
        assert_eq!(o.pending_drops(), 1);
        assert_eq!(text(&mut o), "one\ntwo\nthree\none\ntwo\n");
        assert_eq!(
            o.push_lines(block, &ends),
            1,
            "the marker first, then what fits"
        );
        assert_eq!(text(&mut o), "[... 1 line dropped]\none\n");
        assert_eq!(o.pending_drops(), 2);
    }

    #[test]
    fn a_block_of_lines_is_queued_and_dropped_as_line_by_line() {
        // Blocks of lines of many lengths, pushed at once into one queue
        // and one line at a time into another, with a reader taking a
        // little now and then: both hold the same bytes and counts.
        let mut seed = 7u64;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let (mut block_wise, mut line_wise) = (Outbox::new(300), Outbox::new(300));
        let mut blocks_dropped_whole = 0;
        for round in 0..20_000 {
            let mut block = Vec::new();
            let mut ends = Vec::new();
            for _ in 0..1 + next(12) {
                let len = if next(4) == 0 { 40 } else { 2 + next(8) };
                block.extend(std::iter::repeat_n(b'a' + (round % 26) as u8, len as usize));
                block.push(b'\n');
                ends.push(block.len());
            }
            let before = block_wise.pending_drops();
            let queued = block_wise.push_lines(&block, &ends);
            if queued == 0 && before > 0 {
                blocks_dropped_whole += 1;
            }
            let mut start = 0;
            let mut by_line = 0;
            for &end in &ends {
                by_line += usize::from(line_wise.push_line(&[&block[start..end - 1]]));
                start = end;
            }
            assert_eq!(queued, by_line, "round {round}");
            assert_eq!(block_wise.pending_drops(), line_wise.pending_drops());
            assert_eq!(block_wise.dropped_total(), line_wise.dropped_total());
            assert_eq!(block_wise.len(), line_wise.len(), "round {round}");
            if next(3) == 0 {
                let n = next(120) as usize;
                assert_eq!(block_wise.take(n), line_wise.take(n), "round {round}");
            }
        }
        assert!(blocks_dropped_whole > 100, "{blocks_dropped_whole}");
        assert_eq!(text(&mut block_wise), text(&mut line_wise));
    }

    /// A writer that takes at most `step` bytes a call, and every other
    /// call nothing (WouldBlock).
    struct Trickle {
        got: Vec<u8>,
        step: usize,
        calls: usize,
    }

    impl std::io::Write for Trickle {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.write_vectored(&[std::io::IoSlice::new(b)])
        }
        fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(2) {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.step - n);
                self.got.extend_from_slice(&b[..take]);
                n += take;
            }
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn head_and_body_go_out_whole_across_partial_and_refused_writes() {
        let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        for step in [1, 2, 3, 7, 4096, 20_000] {
            let mut w = Trickle {
                got: Vec::new(),
                step,
                calls: 0,
            };
            let mut written = 0;
            let mut refused = 0;
            while !write_head_and_body(&mut w, b"0\n", &body, &mut written).unwrap() {
                refused += 1;
            }
            assert_eq!(&w.got[..2], b"0\n", "step {step}");
            assert_eq!(&w.got[2..], &body[..], "step {step}");
            assert_eq!(written, body.len() + 2);
            assert_eq!(refused, (body.len() + 2).div_ceil(step) - 1, "step {step}");
            // Done is done: nothing more is written.
            assert!(write_head_and_body(&mut w, b"0\n", &body, &mut written).unwrap());
            assert_eq!(w.got.len(), body.len() + 2);
        }
        let mut full = Trickle {
            got: Vec::new(),
            step: 0,
            calls: 0,
        };
        let err = write_head_and_body(&mut full, b"1\n", b"x", &mut 0).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WriteZero);
    }

    #[test]
    fn send_lines_writes_directly_and_queues_only_the_rest() {
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
        let mut o = Outbox::new(200 * 1024);
        let mut block = Vec::new();
        let mut ends = Vec::new();
        for i in 0..20_000 {
            block.extend(format!("{i:09}\n").as_bytes());
            ends.push(block.len());
        }
        // 200 000 bytes: the pipe takes 64 KiB, the rest waits, the
        // first line it took in part included.
        assert_eq!(o.send_lines(&w, &block, &ends, None), Flushed::Blocked);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match rustix::io::read(&r, &mut buf) {
                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                _ => {}
            }
            if o.write_to(&w) == Flushed::Empty {
                if let Ok(n) = rustix::io::read(&r, &mut buf) {
                    got.extend_from_slice(&buf[..n]);
                }
                break;
            }
        }
        assert_eq!(got, block, "every line once, whole, in order");
        assert_eq!(o.send_lines(&w, b"x\n", &[2], None), Flushed::Empty);
        assert!(o.is_empty());
    }

    #[test]
    fn marker_length_is_known_without_making_it() {
        for n in [1, 2, 9, 10, 99, 100, 12345, u64::MAX] {
            assert_eq!(marker_len(n), marker(n).len(), "{n}");
        }
    }

    #[test]
    fn marker_waits_for_room() {
        let mut o = Outbox::new(25);
        o.push_line(&[b"0123456789"]);
        o.push_line(&[b"0123456789"]);
        assert!(!o.push_line(&[b"xxxx"]));
        assert!(!o.push_marker(), "no room yet");
        o.take(11);
        assert!(!o.push_marker(), "still no room");
        o.take(11);
        assert!(o.push_marker());
        assert_eq!(text(&mut o), "[... 1 line dropped]\n");
    }

    #[test]
    fn writes_to_a_pipe_until_it_is_full() {
        let (r, w) = rustix::pipe::pipe_with(
            rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC,
        )
        .unwrap();
        let mut o = Outbox::default();
        let line = [b'a'; 1023];
        while o.push_line(&[&line]) {}
        assert_eq!(o.write_to(&w), Flushed::Blocked);
        // A pipe holds 64 KiB by default: some was written, the rest waits.
        assert!(o.len() < OUTBOX_BYTES);
        let mut buf = vec![0u8; 1 << 20];
        let n = rustix::io::read(&r, &mut buf).unwrap();
        assert!(n > 0);
        drop(r);
        assert_eq!(o.write_to(&w), Flushed::Gone);
    }

    #[test]
    fn beside_a_pipe_it_holds_what_makes_up_the_bound() {
        assert_eq!(Outbox::beside_pipe(64 * 1024).cap(), 192 * 1024);
        assert_eq!(Outbox::beside_pipe(1 << 20).cap(), BESIDE_PIPE_BYTES);
        assert_eq!(Outbox::beside_pipe(0).cap(), OUTBOX_BYTES);
        // Beside a full pipe: a few lines, then the marker's count.
        let mut o = Outbox::beside_pipe(1 << 20);
        let line = [b'a'; 999];
        let queued = (0..100).filter(|_| o.push_line(&[&line])).count();
        assert_eq!(queued, BESIDE_PIPE_BYTES / 1000);
        assert_eq!(o.pending_drops(), (100 - queued) as u64);
    }

    #[test]
    fn drained_queue_frees_its_memory() {
        let mut o = Outbox::default();
        o.push_line(&[&[b'x'; 4000]]);
        let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
        assert_eq!(o.write_to(&w), Flushed::Empty);
        assert_eq!(o.buf.capacity(), 0);
        drop(r);
    }
}
