//! The shell's input: stdin read without blocking, cut into command lines,
//! and the prompt. A terminal gets the `Taskmaster> ` prompt and notices
//! printed above it; a pipe or file is read as plain lines. Stdin's flags
//! live on an open file shared with other programs, so they are restored on
//! exit.

use std::collections::VecDeque;
use std::io;

use mio::Registry;
use mio::unix::SourceFd;

use crate::console::{Console, Stream};
use crate::logs::lines::Lines;
use crate::supervisor::token::Source;

/// The prompt shown on a terminal.
pub const PROMPT: &str = "Taskmaster> ";

/// What reading stdin gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Bytes arrived (maybe lines).
    Data,
    /// Nothing more for now.
    Empty,
    /// End of input.
    Eof,
}

/// The supervisor's stdin.
pub struct Stdin {
    tty: bool,
    flags: Option<i32>,
    /// Registered with the poll (false for files and /dev/null, which are
    /// always readable and are read to the end at once).
    registered: bool,
    lines: Lines,
    queue: VecDeque<String>,
    done: bool,
}

impl Default for Stdin {
    fn default() -> Self {
        Self::new()
    }
}

impl Stdin {
    /// Takes over fd 0, making it non-blocking.
    pub fn new() -> Stdin {
        // SAFETY: isatty and fcntl on fd 0; a closed fd just fails.
        let tty = unsafe { libc::isatty(0) } == 1;
        // SAFETY: as above.
        let flags = unsafe { libc::fcntl(0, libc::F_GETFL) };
        let flags = (flags >= 0).then_some(flags);
        if let Some(f) = flags {
            // SAFETY: adds O_NONBLOCK to fd 0's flags.
            unsafe { libc::fcntl(0, libc::F_SETFL, f | libc::O_NONBLOCK) };
        }
        Stdin {
            tty,
            flags,
            registered: false,
            lines: Lines::default(),
            queue: VecDeque::new(),
            done: flags.is_none(),
        }
    }

    /// Whether stdin is a terminal.
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Registers fd 0 with the poll when it can be polled.
    pub fn register(&mut self, reg: &Registry) {
        if self.done {
            return;
        }
        self.registered = reg
            .register(
                &mut SourceFd(&0),
                Source::Stdin.token(),
                mio::Interest::READABLE,
            )
            .is_ok();
    }

    /// Stops reading commands.
    pub fn stop(&mut self, reg: &Registry) {
        if self.registered {
            let _ = reg.deregister(&mut SourceFd(&0));
            self.registered = false;
        }
        self.done = true;
    }

    /// Whether no more commands will come.
    pub fn is_done(&self) -> bool {
        self.done && self.queue.is_empty()
    }

    /// The next complete command line, if one was read.
    pub fn next_line(&mut self) -> Option<String> {
        self.queue.pop_front()
    }

    /// Reads what is available into the line queue.
    /// `Eof` comes once; after it (or `stop`) there is only `Empty`.
    pub fn fill(&mut self) -> Fill {
        if self.done {
            return Fill::Empty;
        }
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: reads into a valid local buffer.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                let queue = &mut self.queue;
                self.lines.feed(&buf[..n as usize], |l| {
                    queue.push_back(String::from_utf8_lossy(l).into_owned());
                });
                return Fill::Data;
            }
            if n == 0 {
                let queue = &mut self.queue;
                self.lines
                    .finish(|l| queue.push_back(String::from_utf8_lossy(l).into_owned()));
                self.done = true;
                return Fill::Eof;
            }
            match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Fill::Empty,
                _ => {
                    self.done = true;
                    return Fill::Eof;
                }
            }
        }
    }

    /// Shows the prompt (terminal only).
    pub fn prompt(&mut self, console: &mut Console) {
        if self.tty && !self.done {
            console.raw(Stream::Out, PROMPT.as_bytes());
        }
    }

    /// Prints `line` so that it does not run into the prompt.
    pub fn above_prompt(&mut self, console: &mut Console, stream: Stream, line: &str) {
        if self.tty && !self.done {
            console.raw(Stream::Out, b"\r\x1b[K");
            console.line(stream, &[line.as_bytes()]);
            console.raw(Stream::Out, PROMPT.as_bytes());
        } else {
            console.line(stream, &[line.as_bytes()]);
        }
    }

    /// Restores fd 0's flags.
    pub fn restore(&mut self) {
        if let Some(f) = self.flags {
            // SAFETY: restores the flags read at start.
            unsafe { libc::fcntl(0, libc::F_SETFL, f) };
        }
    }
}
