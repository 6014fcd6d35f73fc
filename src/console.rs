//! The supervisor's own stdout and stderr: replies, notices and forwarded
//! child lines. Writes never block the loop: both fds are non-blocking, whole
//! lines are queued in a bounded buffer and written as the fd accepts them;
//! when the buffer is full a line is dropped whole and counted. When stdout
//! and stderr are the same file they share one buffer, so lines never mix.
//! What a loop turn queues goes out at the end of the turn (`write_out`), in
//! one write per stream, not one per line: a burst of notices at a terminal
//! (`stop all` of many processes) is one write, not hundreds. A turn that
//! queues `WRITE_THROUGH` bytes writes them at once.

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::OFlags;
use rustix::io::Errno;

/// The most bytes queued per stream before lines are dropped.
pub const CONSOLE_BUFFER: usize = 1024 * 1024;
/// Bytes queued in a turn past which they are written without waiting for
/// the turn's end, so a flood of forwarded output drains as it comes.
const WRITE_THROUGH: usize = 64 * 1024;

/// Which of the supervisor's own streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out = 0,
    Err = 1,
}

#[derive(Debug)]
struct Out {
    fd: BorrowedFd<'static>,
    buf: VecDeque<u8>,
    dropped: u64,
    broken: bool,
    /// The file status flags found at start, restored on exit.
    flags: Option<OFlags>,
    /// A terminal: text from processes is escaped.
    tty: bool,
}

/// Both output streams.
#[derive(Debug)]
pub struct Console {
    outs: [Out; 2],
    /// Stderr writes go to stdout's buffer (same open file).
    shared: bool,
}

fn same_file(a: BorrowedFd, b: BorrowedFd) -> bool {
    let (Ok(x), Ok(y)) = (rustix::fs::fstat(a), rustix::fs::fstat(b)) else {
        return false;
    };
    x.st_dev == y.st_dev && x.st_ino == y.st_ino
}

impl Out {
    fn new(fd: BorrowedFd<'static>) -> Out {
        // A closed fd just fails: the stream is then broken from the start.
        let flags = rustix::fs::fcntl_getfl(fd).ok();
        if let Some(f) = flags {
            let _ = rustix::fs::fcntl_setfl(fd, f | OFlags::NONBLOCK);
        }
        Out {
            fd,
            buf: VecDeque::new(),
            dropped: 0,
            broken: flags.is_none(),
            flags,
            tty: rustix::termios::isatty(fd),
        }
    }

    fn push_line(&mut self, parts: &[&[u8]]) {
        if self.broken {
            return;
        }
        let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
        if self.buf.len() + len > CONSOLE_BUFFER {
            self.dropped += 1;
            return;
        }
        for p in parts {
            self.buf.extend(*p);
        }
        self.buf.push_back(b'\n');
    }

    /// Writes now if a turn queued enough not to wait for its end.
    fn write_through(&mut self) {
        if self.buf.len() >= WRITE_THROUGH {
            self.flush();
        }
    }

    /// Writes what the fd takes. `Ok(true)` when everything went out.
    fn flush(&mut self) -> bool {
        while !self.buf.is_empty() && !self.broken {
            let (a, _) = self.buf.as_slices();
            match rustix::io::write(self.fd, a) {
                Ok(n) => {
                    self.buf.drain(..n);
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return false,
                // EPIPE and the like: nobody reads any more; drop from now on.
                Err(_) => {
                    self.broken = true;
                    self.buf = VecDeque::new();
                }
            }
        }
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            self.buf = VecDeque::new();
        }
        true
    }

    fn restore(&mut self) {
        if let Some(f) = self.flags {
            let _ = rustix::fs::fcntl_setfl(self.fd, f);
        }
    }
}

impl Default for Console {
    fn default() -> Self {
        Self::new()
    }
}

impl Console {
    /// Takes over fds 1 and 2, making them non-blocking.
    pub fn new() -> Console {
        let (out, err) = (rustix::stdio::stdout(), rustix::stdio::stderr());
        let shared = same_file(out, err);
        Console {
            outs: [Out::new(out), Out::new(err)],
            shared,
        }
    }

    fn out(&mut self, s: Stream) -> &mut Out {
        let i = if self.shared { 0 } else { s as usize };
        &mut self.outs[i]
    }

    /// Queues one line (the parts joined, then `\n`).
    pub fn line(&mut self, s: Stream, parts: &[&[u8]]) {
        let out = self.out(s);
        out.push_line(parts);
        out.write_through();
    }

    /// Queues a line of process `name`'s output as `NAME | line`, with
    /// control characters escaped when the stream is a terminal.
    pub fn forward(&mut self, s: Stream, name: &str, line: &[u8]) {
        let out = self.out(s);
        if out.tty {
            let safe = crate::escape::for_terminal(line);
            out.push_line(&[name.as_bytes(), b" | ", safe.as_bytes()]);
        } else {
            out.push_line(&[name.as_bytes(), b" | ", line]);
        }
        out.write_through();
    }

    /// Whether stream `s` is a terminal.
    pub fn is_tty(&self, s: Stream) -> bool {
        self.outs[if self.shared { 0 } else { s as usize }].tty
    }

    /// Queues each line of `text`.
    pub fn text(&mut self, s: Stream, text: &str) {
        for l in text.lines() {
            self.out(s).push_line(&[l.as_bytes()]);
        }
        self.out(s).write_through();
    }

    /// Queues `bytes` as they are (a prompt: no newline added).
    pub fn raw(&mut self, s: Stream, bytes: &[u8]) {
        let out = self.out(s);
        if !out.broken && out.buf.len() + bytes.len() <= CONSOLE_BUFFER {
            out.buf.extend(bytes);
        }
        out.write_through();
    }

    /// Writes what the turn queued, as far as the fds take it (the rest
    /// when they become writable). Lines dropped meanwhile stay counted
    /// for `flush`.
    pub fn write_out(&mut self) {
        for out in &mut self.outs {
            out.flush();
        }
    }

    /// Writes what the fds take after one became writable. Returns, per
    /// stream (`Stream as usize`), the lines it dropped, once it is drained:
    /// the caller says so in that stream, where they were lost.
    pub fn flush(&mut self) -> [u64; 2] {
        let mut dropped = [0; 2];
        for (out, n) in self.outs.iter_mut().zip(&mut dropped) {
            if out.flush() {
                *n = std::mem::take(&mut out.dropped);
            }
        }
        dropped
    }

    /// Writes what remains, waiting up to a second for a slow reader (at
    /// exit only), then restores the fds' flags.
    pub fn finish(&mut self) {
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(1);
        for out in &mut self.outs {
            while !out.flush() {
                let left = give_up.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                let mut pfd = [PollFd::new(&out.fd, PollFlags::OUT)];
                let left = Timespec::try_from(left).unwrap_or(Timespec {
                    tv_sec: 1,
                    tv_nsec: 0,
                });
                let _ = rustix::event::poll(&mut pfd, Some(&left));
            }
            out.restore();
        }
    }
}
