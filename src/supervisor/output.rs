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
use crate::config::TaskSpec;
use crate::console;
use crate::logs::lines::Lines;
use crate::logs::rotate::Rotation;
use crate::logs::shared::{Handle, Sinks, Writer};
use crate::spawn::SpawnError;

/// Bytes read from one pipe per wake-up before other sources get a turn;
/// also the size of one read.
pub(super) const READ_BUDGET: usize = 256 * 1024;

/// A default pipe's size: a read that gets this much found the pipe full.
const FULL_PIPE: usize = 64 * 1024;

/// What the pipe of a process that fills its 64 KiB one (a flood) grows
/// to, for at most `MAX_GROWN_PIPES` pipes at a time: 16 MiB of kernel
/// memory at most, however many processes flood.
const GROWN_PIPE: usize = 1 << 20;
const MAX_GROWN_PIPES: usize = 16;

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
    /// Grown to `GROWN_PIPE` (counted in `Reader::grown`).
    grown: bool,
}

/// Both streams of one process: the pipes of the current (or last) child
/// and its handles on the configured log files (shared by path in
/// `Logs::files`), taken at the first spawn.
#[derive(Default)]
pub(super) struct Outputs {
    pipes: [Option<Pipe>; 2],
    sinks: [Option<Handle>; 2],
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The writer number of stream `s` of process `key`.
fn writer(key: usize, s: Stream) -> Writer {
    Writer((key as u64) << 1 | s.index() as u64)
}

/// `logMaxSize` and `logBackups` of `task`, as a rotation.
pub(super) fn rotation_of(task: &TaskSpec) -> Option<Rotation> {
    (task.log_max_size > 0).then_some(Rotation {
        max: task.log_max_size,
        backups: task.log_backups,
    })
}

impl Outputs {
    /// Where the lines of stream `s` are forwarded: to the stream a
    /// `/dev/stdout` or `/dev/stderr` sink names, else to the matching
    /// stream when forwarding is on.
    fn forward_to(&self, files: &Sinks, s: Stream, forward: bool) -> Option<console::Stream> {
        match self.sinks[s.index()]
            .as_ref()
            .and_then(|h| files.forwards_to(h))
        {
            Some(to) => Some(to),
            None if forward => Some(s.console()),
            None => None,
        }
    }

    /// Gives back both log handles (the process is removed).
    pub(super) fn release(&mut self, files: &mut Sinks) {
        for h in self.sinks.iter_mut().filter_map(Option::take) {
            files.release(h);
        }
    }
}

impl Supervisor {
    /// Takes the log file `path` of stream `s` of process `key` (none: no
    /// log file) unless it holds it already, and sets its rotation. Fails
    /// like a spawn, naming the file.
    pub(super) fn open_sink(
        &mut self,
        key: usize,
        s: Stream,
        path: Option<&Path>,
        rotation: Option<Rotation>,
    ) -> Result<(), SpawnError> {
        let files = &mut self.logs.files;
        let slot = &mut self.procs[key].out.sinks[s.index()];
        if let Some(h) = slot.take_if(|h| path != Some(files.path(h))) {
            files.release(h);
        }
        if let (Some(p), None) = (path, &slot) {
            let h = files.acquire(p, writer(key, s)).map_err(|err| SpawnError {
                reason: format!(
                    "cannot open {} log {}: {}",
                    s.name(),
                    p.display(),
                    err.reason
                ),
                transient: err.transient,
            })?;
            *slot = Some(h);
        }
        if let Some(h) = slot {
            files.set_rotation(h, rotation);
        }
        Ok(())
    }

    /// Sets the rotation of the log files process `key` holds.
    pub(super) fn set_rotation(&mut self, key: usize, rotation: Option<Rotation>) {
        let files = &mut self.logs.files;
        for h in self.procs[key].out.sinks.iter().flatten() {
            files.set_rotation(h, rotation);
        }
    }

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
            grown: false,
        });
    }

    /// Reads stream `s` of process `key` until it would block, its budget
    /// is spent (then it waits in the backlog) or it ends; its followers
    /// get what was read at the end, in one block.
    pub(super) fn read_pipe(&mut self, key: usize, s: Stream) {
        self.read_until_blocked(key, s);
        if !self.fresh.is_empty() {
            self.deliver(key, s);
        }
    }

    fn read_until_blocked(&mut self, key: usize, s: Stream) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(e) = self.procs.get_mut(key) else {
                return;
            };
            let Some(pipe) = &mut e.out.pipes[s.index()] else {
                return;
            };
            let n = match rustix::io::read(&pipe.fd, &mut self.reader.buf[..]) {
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
            if n >= FULL_PIPE && !pipe.grown && self.reader.grown < MAX_GROWN_PIPES {
                // A flood: a larger pipe lets the writer go on while the
                // loop hands the last block to followers.
                if rustix::pipe::fcntl_setpipe_size(&pipe.fd, GROWN_PIPE).is_ok() {
                    pipe.grown = true;
                    self.reader.grown += 1;
                }
            }
            self.output(key, s, n);
            budget = budget.saturating_sub(n);
            if budget == 0 {
                let src = s.source(key);
                if !self.reader.backlog.contains(&src) {
                    self.reader.backlog.push_back(src);
                }
                return;
            }
        }
    }

    /// Handles `n` bytes of `reader.buf` from stream `s` of process `key`.
    fn output(&mut self, key: usize, s: Stream, n: usize) {
        let at = unix_now();
        if !self.fresh.is_empty() && self.fresh.stamped() != Some(at) {
            // Lines kept for followers carry one time stamp: those of the
            // second that ended go out first.
            self.deliver(key, s);
        }
        let forward = self.opts.forward;
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let data = &self.reader.buf[..n];
        let files = &mut self.logs.files;
        let mut report = None;
        if let Some(h) = &mut e.out.sinks[s.index()] {
            report = files
                .write(h, data)
                .map(|r| (files.path(h).to_path_buf(), r));
        }
        let to = e.out.forward_to(files, s, forward);
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
            // A flood's read holds more lines than the ring keeps: those it
            // would push out again are not copied in.
            let mut needless = ring.make_ready(data);
            pipe.lines.feed(data, |line| {
                *seq += 1;
                match needless {
                    0 => ring.push(at, *seq, s == Stream::Stderr, line),
                    _ => needless -= 1,
                }
                if let Some(stream) = to {
                    console.forward(stream, name, line);
                }
                if following {
                    fresh.push(at, line);
                }
            });
        }
        if let Some((_, crate::logs::sink::WriteReport::Resumed { lost, .. })) = &report {
            self.logs.bytes_dropped += lost;
        }
        let report = report.map(|(path, report)| crate::logs::sink::describe(name, &path, &report));
        if let Some(detail) = report {
            self.emit_supervisor(crate::events::What::LogWriteError { detail });
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
        if pipe.grown {
            self.reader.grown -= 1;
        }
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&pipe.fd.as_raw_fd()));
        let at = unix_now();
        let files = &mut self.logs.files;
        // The stream ended: its unfinished line goes to the file as it is.
        let report = e.out.sinks[s.index()]
            .as_mut()
            .and_then(|h| Some((files.path(h).to_path_buf(), files.finish(h)?)));
        let to = e.out.forward_to(files, s, self.opts.forward);
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
                fresh.push(at, line);
            }
        });
        if following {
            self.deliver(key, s);
        }
        if let Some((path, report)) = report {
            if let crate::logs::sink::WriteReport::Resumed { lost, .. } = &report {
                self.logs.bytes_dropped += lost;
            }
            let name = self.procs[key].name.clone();
            let detail = crate::logs::sink::describe(&name, &path, &report);
            self.emit_supervisor(crate::events::What::LogWriteError { detail });
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
        for (path, err) in self.logs.files.reopen_all() {
            let detail = format!("cannot reopen {}: {}", path.display(), err.reason);
            self.emit_supervisor(crate::events::What::LogWriteError { detail });
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
