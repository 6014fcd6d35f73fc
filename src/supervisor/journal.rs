//! Where the supervisor's events go: each event is made into one `Record`
//! and handed to `emit`, which gives its line to the log file, its notice to
//! the shell (or stderr) and its JSON to `events` clients. The log file and
//! the clients' sockets are written once per loop turn (`end_turn`), not
//! once per event. An `events` client is a control connection streaming
//! through its bounded `Outbox`, like a `logs -f` follower.

use std::path::Path;
use std::time::{Instant, SystemTime};

use super::Supervisor;
use crate::console::Stream;
use crate::events::logfile::{Flushed, LogFile, reason};
use crate::events::{Level, Record, StopCause, Subject, What};
use crate::logs::rotate::Rotation;
use crate::logs::sink::WriteReport;
use crate::outbox::Flushed as Sent;
use crate::process::Event;

/// An `events` client's queue is written to its socket at once when it
/// holds this much, in the middle of a turn.
const WRITE_THROUGH: usize = 64 * 1024;

/// The supervisor's log file, if any, and whether its failure was told.
#[derive(Debug, Default)]
pub(super) struct Journal {
    pub(super) file: Option<LogFile>,
    /// Control connections streaming `events`.
    pub(super) subscribers: Vec<usize>,
}

/// How the log file rotates: the top-level `logMaxSize` and `logBackups`.
pub(super) fn rotation(config: &crate::config::Config) -> Option<Rotation> {
    (config.log_max_size > 0).then_some(Rotation {
        max: config.log_max_size,
        backups: config.log_backups,
    })
}

impl Journal {
    /// Opens the log file at `path`, rotated per `rotation`; on failure the
    /// reason, for one warning (supervision goes on without the file).
    pub(super) fn open(
        path: Option<&Path>,
        rotation: Option<Rotation>,
    ) -> (Journal, Option<String>) {
        let Some(path) = path else {
            return (Journal::default(), None);
        };
        match LogFile::open(path, rotation) {
            Ok(f) => (
                Journal {
                    file: Some(f),
                    subscribers: Vec::new(),
                },
                None,
            ),
            Err(e) => (
                Journal::default(),
                Some(format!(
                    "cannot open log file {}: {}",
                    path.display(),
                    e.reason
                )),
            ),
        }
    }
}

impl Supervisor {
    /// One event, shown in all its views.
    pub(super) fn emit(&mut self, record: Record) {
        if let Some(text) = record.notice() {
            self.show_notice(&text);
        }
        self.record(record);
    }

    /// One event for the log file and `events` only: its terminal view is
    /// a reply that is already on its way.
    pub(super) fn record(&mut self, record: Record) {
        if let Some(f) = &mut self.journal.file {
            f.push(&record);
        }
        if !self.journal.subscribers.is_empty()
            && let Some(json) = record.json()
        {
            let mut dropped = Vec::new();
            for &k in &self.journal.subscribers {
                if let Some(c) = self.conns.get_mut(k) {
                    c.outbox.push_line(&[json.as_bytes()]);
                    // A burst (a stop of thousands of processes) goes on to
                    // the socket as it grows, not only at the end of the
                    // turn: a client that reads loses none of it while the
                    // socket and the queue hold the turn's events. One
                    // found gone is dropped at the end of the turn.
                    // (Half a queue beside a pipe is less than that.)
                    let through = WRITE_THROUGH.min(c.outbox.cap() / 2);
                    if c.outbox.len() >= through && !c.gone && c.write_stream() == Sent::Gone {
                        c.gone = true;
                    }
                    let n = c.outbox.take_untold_drops(false);
                    if n > 0 {
                        dropped.push(n);
                    }
                }
            }
            for n in dropped {
                // The client sees its marker; the terminal is not told.
                self.record(Record::supervisor(SystemTime::now(), stream_drops(n, true)));
            }
        }
    }

    /// Logs the lines streaming connection `k` lost that are not logged
    /// yet: those a marker tells the client of, or, `leaving`, all.
    pub(super) fn log_stream_drops(&mut self, k: usize, leaving: bool) {
        let Some(c) = self.conns.get_mut(k) else {
            return;
        };
        let n = c.outbox.take_untold_drops(leaving);
        if n > 0 {
            let events = self.journal.subscribers.contains(&k);
            self.record(Record::supervisor(
                SystemTime::now(),
                stream_drops(n, events),
            ));
        }
    }

    /// `events` from control connection `k`: `0`, then one JSON line per
    /// change of state until the client goes away.
    pub(super) fn subscribe(&mut self, k: usize) {
        if !self.start_streaming(k) {
            return;
        }
        self.journal.subscribers.push(k);
        self.flush_stream(k);
    }

    /// Control connection `k` is gone: no more events for it.
    pub(super) fn unsubscribe(&mut self, k: usize) {
        self.journal.subscribers.retain(|&x| x != k);
    }

    /// An event of process `key` that took it from state `from` (with
    /// leader `pid_before`) to its current state.
    pub(super) fn emit_process(
        &mut self,
        key: usize,
        from: &'static str,
        pid_before: Option<i32>,
        what: What,
    ) {
        let Some(e) = self.procs.get(key) else {
            return;
        };
        let state = e.proc.state();
        let health = self.health(key).map(|h| h.name());
        let record = Record {
            time: SystemTime::now(),
            subject: Some(Subject {
                name: e.name.clone(),
                task: e.task.clone(),
                from,
                to: state.name(),
                // The live leader, or the one that just exited.
                pid: state.pid().or(pid_before),
                health,
            }),
            what,
        };
        self.emit(record);
    }

    /// Runs `ev` through process `key`'s state machine with the stop it
    /// may begin told as asked by `by`.
    pub(super) fn apply_by(&mut self, by: StopCause, key: usize, ev: Event, now: Instant) {
        let was = std::mem::replace(&mut self.stacks.stop_cause, by);
        self.apply(key, ev, now);
        self.stacks.stop_cause = was;
    }

    /// Process `key` began to wait for its dependencies, coming from state
    /// `from`: the event names what it waits for.
    pub(super) fn emit_waiting(&mut self, key: usize, from: &'static str, pid_before: Option<i32>) {
        let on = self.waiting_text(key);
        self.emit_process(key, from, pid_before, What::Waiting { on });
    }

    /// An event of process `key` that is no change of state.
    pub(super) fn emit_process_now(&mut self, key: usize, what: What) {
        let Some(e) = self.procs.get(key) else {
            return;
        };
        let (name, pid) = (e.proc.state().name(), e.proc.state().pid());
        self.emit_process(key, name, pid, what);
    }

    /// A message of the supervisor about itself, in all views.
    pub(super) fn notice(&mut self, msg: &str) {
        self.emit(Record::supervisor(
            SystemTime::now(),
            What::Message {
                level: Level::Warn,
                text: msg.to_string(),
            },
        ));
    }

    /// An event of the supervisor itself.
    pub(super) fn emit_supervisor(&mut self, what: What) {
        self.emit(Record::supervisor(SystemTime::now(), what));
    }

    /// The supervisor's stdout or stderr took what it could: a stream
    /// drained after dropping lines gets the notice of it in its own
    /// place, and the log gets the event.
    pub(super) fn console_flushed(&mut self) {
        let dropped = self.console.flush();
        for (stream, n) in [Stream::Out, Stream::Err].into_iter().zip(dropped) {
            if n == 0 {
                continue;
            }
            let s = if n == 1 { "" } else { "s" };
            let record = Record::supervisor(
                SystemTime::now(),
                What::OutputDropped {
                    detail: format!("{n} line{s} dropped: output was not read fast enough"),
                },
            );
            if let Some(text) = record.notice() {
                self.console
                    .line(stream, &[b"taskmaster: ", text.as_bytes()]);
            }
            self.record(record);
        }
    }

    /// A notice on stderr, or above the shell's prompt.
    pub(super) fn show_notice(&mut self, text: &str) {
        let line = format!("taskmaster: {text}");
        if let Some(stdin) = &mut self.shell.stdin {
            stdin.above_prompt(&mut self.console, Stream::Err, &line);
        } else {
            self.console.line(Stream::Err, &[line.as_bytes()]);
        }
    }

    /// The end of a loop turn: the log file gets the turn's lines in one
    /// write, and so do the terminal (the prompt redrawn once below the
    /// turn's notices) and the supervisor's stdout and stderr.
    pub(super) fn end_turn(&mut self) {
        self.write_journal();
        if let Some(stdin) = &mut self.shell.stdin {
            stdin.show_again(&mut self.console);
        }
        self.console.write_out();
    }

    /// Writes the turn's lines to the log file. A failure is told once (on
    /// stderr and in the file, when it can be written again), and never
    /// stops supervision.
    pub(super) fn write_journal(&mut self) {
        if !self.journal.subscribers.is_empty() {
            // A client found gone is dropped (and unsubscribed) meanwhile.
            for k in self.journal.subscribers.clone() {
                if self.conns.get(k).is_some_and(|c| !c.outbox.is_empty()) {
                    self.flush_stream(k);
                }
            }
        }
        let Some(f) = &mut self.journal.file else {
            return;
        };
        let path = f.path().display().to_string();
        let detail = match f.flush() {
            Flushed::Done => return,
            Flushed::Forward(stream, lines) => {
                for l in lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    self.console.line(stream, &[l]);
                }
                return;
            }
            Flushed::Report(WriteReport::Failed(e)) => {
                format!("cannot write log file {path}: {}", reason(&e))
            }
            Flushed::Report(WriteReport::Resumed { lost, why }) => format!(
                "log file {path} is written again; {lost} bytes of it were lost ({})",
                reason(&why)
            ),
            Flushed::Report(WriteReport::RotateFailed(why)) => {
                format!("cannot rotate log file {path}: {why}; it grows on")
            }
        };
        self.emit_supervisor(What::LogWriteError { detail });
    }

    /// SIGUSR1/SIGUSR2: the log file is opened again (after logrotate).
    pub(super) fn reopen_journal(&mut self) {
        let Some(f) = &mut self.journal.file else {
            return;
        };
        if let Err(e) = f.reopen() {
            let detail = format!(
                "cannot reopen log file {}: {}",
                f.path().display(),
                e.reason
            );
            self.emit_supervisor(What::LogWriteError { detail });
        }
    }
}

/// The event of `n` lines dropped for a slow streaming client: an `events`
/// reader or a `logs -f` follower.
pub(super) fn stream_drops(n: u64, events: bool) -> What {
    let s = if n == 1 { "" } else { "s" };
    let detail = if events {
        format!("{n} event{s} dropped for an `events` client that read too slowly")
    } else {
        format!("{n} line{s} dropped for a `logs -f` client that read too slowly")
    };
    What::OutputDropped { detail }
}
