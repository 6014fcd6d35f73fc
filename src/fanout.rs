//! One block of lines handed to many pipes without a copy for each. The
//! block is written once into a pipe of the supervisor's own; `tee(2)` then
//! gives each follower's pipe references to the same pages (see
//! `Outbox::send_lines`), and the block is let go by splicing it to
//! /dev/null, which copies nothing either. Ten followers of a flood cost
//! one copy of it, not ten.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::pipe::{PipeFlags, SpliceFlags};

/// The most the fan-out pipe is asked to hold: more than one read-out of a
/// child's pipe, formatted, takes in nearly every case. A larger block is
/// written to each follower instead.
const CAPACITY: usize = 1 << 20;

/// The smallest block worth a tee: each tee takes at least one of the
/// follower pipe's slots (a 1 MiB pipe has 256), which later writes cannot
/// fill further, so blocks of a few lines are written instead.
pub const MIN_BLOCK: usize = 16 * 1024;

/// The pipe a block waits in while it is teed.
#[derive(Debug)]
pub struct Fanout {
    out: OwnedFd,
    into: OwnedFd,
    null: File,
    /// What the pipe holds.
    cap: usize,
    /// Bytes in the pipe now.
    held: usize,
}

impl Fanout {
    /// A fan-out pipe; `None` when one cannot be had (out of descriptors,
    /// no /dev/null): blocks are then written to each follower.
    pub fn new() -> Option<Fanout> {
        let flags = PipeFlags::NONBLOCK | PipeFlags::CLOEXEC;
        let (out, into) = rustix::pipe::pipe_with(flags).ok()?;
        let cap = rustix::pipe::fcntl_setpipe_size(&into, CAPACITY)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&into))
            .ok()?;
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok()?;
        Some(Fanout {
            out,
            into,
            null,
            cap,
            held: 0,
        })
    }

    /// Puts `block`, and only it, in the pipe; `false` when it is too
    /// small to be worth it, does not fit whole, or the pipe cannot be
    /// emptied first.
    pub fn load(&mut self, block: &[u8]) -> bool {
        if !self.clear() || block.len() < MIN_BLOCK || block.len() > self.cap {
            return false;
        }
        while self.held < block.len() {
            match rustix::io::write(&self.into, &block[self.held..]) {
                Ok(n) => self.held += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => {
                    self.clear();
                    return false;
                }
            }
        }
        true
    }

    /// The end to tee the loaded block from.
    pub fn source(&self) -> BorrowedFd<'_> {
        self.out.as_fd()
    }

    /// Lets go of what the pipe holds (should /dev/null refuse it, the pipe
    /// is read out instead). `false` if it could not be emptied, which
    /// cannot happen to a pipe whose both ends are ours: the fan-out pipe
    /// is then not to be used again.
    pub fn clear(&mut self) -> bool {
        while self.held > 0 {
            let n = rustix::pipe::splice(
                &self.out,
                None,
                &self.null,
                None,
                self.held,
                SpliceFlags::NONBLOCK,
            )
            .or_else(|_| rustix::io::read(&self.out, &mut [0u8; 64 * 1024]));
            match n {
                Ok(n) if n > 0 => self.held -= n.min(self.held),
                Err(rustix::io::Errno::INTR) => {}
                _ => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{Flushed, Outbox};

    fn lines(n: usize, from: usize) -> (Vec<u8>, Vec<usize>) {
        let mut block = Vec::new();
        let mut ends = Vec::new();
        for i in from..from + n {
            block.extend(format!("line {i:08}\n").as_bytes());
            ends.push(block.len());
        }
        (block, ends)
    }

    fn read_all(r: &OwnedFd) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = rustix::io::read(r, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        got
    }

    #[test]
    fn every_follower_gets_the_block_whole_even_a_small_pipe_in_part() {
        let flags = PipeFlags::NONBLOCK | PipeFlags::CLOEXEC;
        let (r1, w1) = rustix::pipe::pipe_with(flags).unwrap();
        let (r2, w2) = rustix::pipe::pipe_with(flags).unwrap();
        rustix::pipe::fcntl_setpipe_size(&w1, 1 << 20).unwrap();
        // One page: the tee gives a part, the rest of its last line waits.
        rustix::pipe::fcntl_setpipe_size(&w2, 4096).unwrap();
        let mut fan = Fanout::new().unwrap();
        let (mut o1, mut o2) = (Outbox::default(), Outbox::default());
        let mut want = Vec::new();
        let mut got2 = Vec::new();
        for round in 0..3 {
            let (block, ends) = lines(10_000, round * 10_000);
            want.extend_from_slice(&block);
            assert!(fan.load(&block), "150 KB fit");
            let one = o1.send_lines(&w1, &block, &ends, Some(fan.source()));
            // Each tee leaves the block in place for the next.
            let two = o2.send_lines(&w2, &block, &ends, Some(fan.source()));
            assert_eq!(one, Flushed::Empty, "the big pipe takes it all");
            assert_eq!(two, Flushed::Blocked);
            assert_eq!(read_all(&r1), block);
            // The small pipe's reader catches up between rounds.
            loop {
                got2.extend(read_all(&r2));
                if o2.write_to(&w2) == Flushed::Empty {
                    got2.extend(read_all(&r2));
                    break;
                }
            }
            let kept = String::from_utf8(got2.clone()).unwrap();
            assert!(kept.ends_with('\n'), "no line torn");
        }
        // o2 held 256 KiB at most: 150 KB rounds were dropped in part,
        // but what came is whole lines in order, each gap marked.
        let text = String::from_utf8(got2).unwrap();
        let mut next = 0;
        for l in text.lines() {
            if let Some(n) = l.strip_prefix("[... ") {
                let n: usize = n.split(' ').next().unwrap().parse().unwrap();
                next += n;
                continue;
            }
            assert_eq!(l, format!("line {next:08}"));
            next += 1;
        }
        assert_eq!(next, 30_000);
        assert!(fan.clear());
        assert_eq!(fan.held, 0);
    }

    #[test]
    fn a_block_too_big_or_too_small_is_not_loaded() {
        let mut fan = Fanout::new().unwrap();
        assert!(!fan.load(b""));
        assert!(!fan.load(b"x\n"), "a few lines are written, not teed");
        let big = vec![b'x'; fan.cap + 1];
        assert!(!fan.load(&big));
        assert_eq!(fan.held, 0, "nothing left behind");
        assert!(fan.load(&vec![b'x'; MIN_BLOCK]));
        assert_eq!(fan.held, MIN_BLOCK);
        let next = vec![b'y'; MIN_BLOCK + 1];
        assert!(fan.load(&next), "the last block replaces the one before");
        assert_eq!(fan.held, MIN_BLOCK + 1);
    }

    #[test]
    fn a_gone_reader_is_told_by_write_not_hidden_by_tee() {
        let (r, w) = rustix::pipe::pipe_with(PipeFlags::NONBLOCK).unwrap();
        drop(r);
        let mut fan = Fanout::new().unwrap();
        let mut o = Outbox::default();
        let (block, ends) = lines(2000, 0);
        assert!(fan.load(&block));
        assert_eq!(
            o.send_lines(&w, &block, &ends, Some(fan.source())),
            Flushed::Gone
        );
    }
}
