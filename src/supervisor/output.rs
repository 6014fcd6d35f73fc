//! Child output: the stdout and stderr pipes of each process, read until
//! they would block (or their budget is spent), split into lines for the
//! ring and the forwarded console, and written whole to the task's log
//! files. A stream is named by `Stream`, never by an index. Nothing here
//! blocks: a pipe with more to give waits in the backlog.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use mio::unix::SourceFd;

use super::token::Source;
use super::{Entry, Supervisor};
use crate::console;
use crate::logs::lines::Lines;
use crate::logs::sink::Sink;
use crate::spawn::SpawnError;

/// Bytes read from one pipe per wake-up before other sources get a turn.
const READ_BUDGET: usize = 256 * 1024;

/// One of a child's two output streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// Both streams, stdout first.
    pub const BOTH: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

    /// The stream's place in per-stream arrays.
    pub fn index(self) -> usize {
        match self {
            Stream::Stdout => 0,
            Stream::Stderr => 1,
        }
    }

    /// The name users know it by (and the config key of its log file).
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The loop source of this stream of process `key`.
    pub fn source(self, key: usize) -> Source {
        match self {
            Stream::Stdout => Source::Stdout(key),
            Stream::Stderr => Source::Stderr(key),
        }
    }

    /// Where forwarded lines go: the supervisor's own stream of that kind.
    fn console(self) -> console::Stream {
        match self {
            Stream::Stdout => console::Stream::Out,
            Stream::Stderr => console::Stream::Err,
        }
    }
}

/// A child pipe being read.
pub(super) struct Pipe {
    fd: OwnedFd,
    lines: Lines,
}

/// Both streams of one process: the pipes of the current (or last) child
/// and the configured log files, opened at the first spawn.
#[derive(Default)]
pub(super) struct Outputs {
    pipes: [Option<Pipe>; 2],
    sinks: [Option<Sink>; 2],
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Outputs {
    /// Where the lines of stream `s` are forwarded: to the stream a
    /// `/dev/stdout` or `/dev/stderr` sink names, else to the matching
    /// stream when forwarding is on.
    fn forward_to(&self, s: Stream, forward: bool) -> Option<console::Stream> {
        match self.sinks[s.index()].as_ref().and_then(Sink::forwards_to) {
            Some(to) => Some(to),
            None if forward => Some(s.console()),
            None => None,
        }
    }

    /// Opens the log file `path` of stream `s` (none: no log file) unless
    /// it is open already. Fails like a spawn, naming the file.
    pub(super) fn open_sink(&mut self, s: Stream, path: Option<&Path>) -> Result<(), SpawnError> {
        let slot = &mut self.sinks[s.index()];
        match (path, &slot) {
            (Some(p), Some(sink)) if sink.path() == p => {}
            (Some(p), _) => {
                let sink = Sink::open(p).map_err(|err| SpawnError {
                    reason: format!(
                        "cannot open {} log {}: {}",
                        s.name(),
                        p.display(),
                        err.reason
                    ),
                    transient: err.transient,
                })?;
                *slot = Some(sink);
            }
            (None, _) => *slot = None,
        }
        Ok(())
    }
}

impl Supervisor {
    /// Watches `fd`, the read end of stream `s` of the new child of `key`.
    pub(super) fn watch_pipe(&mut self, key: usize, s: Stream, fd: OwnedFd) {
        if let Err(err) = self.poll.registry().register(
            &mut SourceFd(&fd.as_raw_fd()),
            s.source(key).token(),
            mio::Interest::READABLE,
        ) {
            self.notice(&format!(
                "cannot watch output of '{}': {err}",
                self.procs[key].name
            ));
            return;
        }
        self.procs[key].out.pipes[s.index()] = Some(Pipe {
            fd,
            lines: Lines::default(),
        });
    }

    /// Reads stream `s` of process `key` until it would block, its budget
    /// is spent (then it waits in the backlog) or it ends.
    pub(super) fn read_pipe(&mut self, key: usize, s: Stream) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(e) = self.procs.get_mut(key) else {
                return;
            };
            let Some(pipe) = &e.out.pipes[s.index()] else {
                return;
            };
            let n = match rustix::io::read(&pipe.fd, &mut self.read_buf[..]) {
                Ok(0) => {
                    self.close_pipe(key, s);
                    return;
                }
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return,
                Err(_) => {
                    self.close_pipe(key, s);
                    return;
                }
            };
            self.output(key, s, n);
            budget = budget.saturating_sub(n);
            if budget == 0 {
                let src = s.source(key);
                if !self.backlog.contains(&src) {
                    self.backlog.push_back(src);
                }
                return;
            }
        }
    }

    /// Handles `n` bytes of `read_buf` from stream `s` of process `key`.
    fn output(&mut self, key: usize, s: Stream, n: usize) {
        let at = unix_now();
        let forward = self.opts.forward;
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let data = &self.read_buf[..n];
        let mut report = None;
        if let Some(sink) = &mut e.out.sinks[s.index()] {
            report = sink.write(data).map(|r| (sink.path().to_path_buf(), r));
        }
        let to = e.out.forward_to(s, forward);
        let Entry {
            name,
            out,
            ring,
            followers,
            ..
        } = e;
        let console = &mut self.console;
        let seq = &mut self.line_seq;
        let fresh = &mut self.fresh;
        let following = !followers.is_empty();
        if let Some(pipe) = &mut out.pipes[s.index()] {
            pipe.lines.feed(data, |line| {
                *seq += 1;
                ring.push(at, *seq, s == Stream::Stderr, line);
                if let Some(stream) = to {
                    console.forward(stream, name, line);
                }
                if following {
                    fresh.push(line);
                }
            });
        }
        let report = report.map(|(path, report)| crate::logs::sink::describe(name, &path, &report));
        if following {
            self.deliver(key, s, at);
        }
        if let Some(msg) = report {
            self.notice(&msg);
        }
    }

    /// Takes what is left in stream `s` of process `key` and closes it.
    pub(super) fn close_pipe(&mut self, key: usize, s: Stream) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let Some(mut pipe) = e.out.pipes[s.index()].take() else {
            return;
        };
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&pipe.fd.as_raw_fd()));
        let at = unix_now();
        let to = e.out.forward_to(s, self.opts.forward);
        let Entry {
            name,
            ring,
            followers,
            ..
        } = e;
        let console = &mut self.console;
        let seq = &mut self.line_seq;
        let fresh = &mut self.fresh;
        let following = !followers.is_empty();
        pipe.lines.finish(|line| {
            *seq += 1;
            ring.push(at, *seq, s == Stream::Stderr, line);
            if let Some(stream) = to {
                console.forward(stream, name, line);
            }
            if following {
                fresh.push(line);
            }
        });
        if following {
            self.deliver(key, s, at);
        }
    }

    /// Reads and closes both pipes of process `key`'s last child: what it
    /// (or its group) wrote reaches the log files before a new child's does.
    pub(super) fn drain_pipes(&mut self, key: usize) {
        for s in Stream::BOTH {
            self.read_pipe(key, s);
            self.close_pipe(key, s);
        }
    }

    /// SIGUSR1: every open log file is reopened (after a rotation).
    pub(super) fn reopen_logs(&mut self) {
        let mut failures = Vec::new();
        for (_, e) in self.procs.iter_mut() {
            for sink in e.out.sinks.iter_mut().flatten() {
                if let Err(err) = sink.reopen() {
                    failures.push(format!(
                        "cannot reopen {}: {}",
                        sink.path().display(),
                        err.reason
                    ));
                }
            }
        }
        for f in failures {
            self.notice(&f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_name_their_index_source_and_console() {
        assert_eq!(Stream::BOTH.map(Stream::index), [0, 1]);
        assert_eq!(Stream::BOTH.map(Stream::name), ["stdout", "stderr"]);
        assert_eq!(Stream::Stdout.source(7), Source::Stdout(7));
        assert_eq!(Stream::Stderr.source(7), Source::Stderr(7));
        assert!(matches!(Stream::Stdout.console(), console::Stream::Out));
        assert!(matches!(Stream::Stderr.console(), console::Stream::Err));
    }
}
