//! The one value every supervisor event is made into, and its three views:
//! the line of the supervisor's log file, the notice the shell (or stderr)
//! shows, and the JSON object `events` streams. Each fact is worded here
//! and nowhere else. Pure: the time is part of the value, never read here.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::process::{ExitStatus, Notice};

/// How a reload that changed nothing begins, in the log line and in the
/// reply to `reload` (which puts the reasons on lines of their own).
pub const RELOAD_FAILED: &str = "reload failed, nothing changed:";

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// What was expected.
    Info,
    /// Unexpected exits, retries, health failures.
    Warn,
    /// FATAL, and failures of the supervisor itself.
    Error,
}

impl Level {
    /// The word of the log file, padded to five columns.
    pub fn label(self) -> &'static str {
        match self {
            Level::Info => "INFO ",
            Level::Warn => "WARN ",
            Level::Error => "ERROR",
        }
    }
}

/// Who asked for a stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    /// `stop` or `restart` from the shell or the control socket.
    Command,
    /// A reload removed or changed the task.
    Reload,
    /// The supervisor shuts down.
    Shutdown,
    /// A process this one depends on went away.
    Dependency,
    /// A health check failed with `onUnhealthy: restart`.
    Health,
}

impl StopCause {
    fn word(self) -> &'static str {
        match self {
            StopCause::Command => "a command",
            StopCause::Reload => "reload",
            StopCause::Shutdown => "shutdown",
            StopCause::Dependency => "a dependency",
            StopCause::Health => "a failed health check",
        }
    }
}

/// What happens after a process exited.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// It is started again now.
    Restart,
    /// It is started again after `delay`; retry `retry` of `of`.
    Retry {
        retry: u32,
        of: u32,
        delay: Duration,
    },
    /// It is started again after `delay` (BACKOFF), having run `lived`.
    Delayed { delay: Duration, lived: Duration },
    /// It stays down.
    Stays,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    // --- one process
    /// A child was spawned.
    Spawned { pid: i32 },
    /// The start grace period passed.
    Running,
    /// The leader exited. `during_start`: inside the grace period.
    Exited {
        status: ExitStatus,
        expected: bool,
        during_start: bool,
        next: Next,
    },
    /// A spawn failed and is retried later.
    SpawnRetry { error: String, retry: u32, of: u32 },
    /// The process cannot be started.
    Fatal { reason: String },
    /// A stop began: `signal` went to the group.
    Stopping { signal: i32, by: StopCause },
    /// The group got SIGKILL: it did not end by its deadline, or
    /// (`forced`) a second shutdown request came.
    Killed { forced: bool },
    /// The process and its group are gone after a stop; `by` when the
    /// stop called off a start not begun yet (no STOPPING before it);
    /// `status`: how the leader ended during the stop.
    Stopped {
        by: Option<StopCause>,
        status: Option<ExitStatus>,
    },
    /// The health of the process changed; `reason` names the last failure
    /// (or the READY=1 that made it healthy); `restarting`: an unhealthy
    /// process is stopped and started again (`onUnhealthy: restart`).
    Health {
        health: &'static str,
        reason: Option<String>,
        restarting: bool,
    },
    /// Waits for its dependencies, named in `on`.
    Waiting { on: String },

    // --- the supervisor
    /// The supervisor started.
    SupervisorStarted {
        version: &'static str,
        config: String,
        pid: u32,
    },
    /// A shutdown began.
    ShuttingDown { reason: String },
    /// An essential process ended for good: everything shuts down.
    EssentialEnded,
    /// The supervisor exits with this status.
    SupervisorExits { status: i32 },
    /// A reload applied; `summary` says what changed.
    Reloaded { summary: String },
    /// A reload failed and changed nothing.
    ReloadFailed { error: String },
    /// A signal reached the supervisor.
    SignalReceived { signal: i32 },
    /// The control socket turned a client away.
    SocketRefused { detail: String },
    /// Output was dropped (a slow reader, a full disk).
    OutputDropped { detail: String },
    /// A log file could not be written.
    LogWriteError { detail: String },
    /// Any other message of the supervisor about itself.
    Message { level: Level, text: String },
}

/// One event: when, to which process (none for the supervisor's own), and
/// what. Built once, rendered by the log file, the shell and `events`.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub time: SystemTime,
    pub subject: Option<Subject>,
    pub what: What,
}

/// The process an event is about, as it was when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub name: String,
    pub task: String,
    /// State before and after, as printed (`STARTED`, `RUNNING`, ...).
    pub from: &'static str,
    pub to: &'static str,
    /// The leader's pid (the live one, or the one that just exited).
    pub pid: Option<i32>,
    /// `health` as `status --json` shows it, if the process has a check.
    pub health: Option<&'static str>,
}

/// Which of the two human views: they differ only where the log file says
/// more than the terminal notices always have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Log,
    Notice,
}

impl What {
    /// The event a process's `Notice` (from `step`) stands for; `by` says
    /// who asked, for a stop.
    pub fn of_notice(n: Notice, by: StopCause) -> What {
        match n {
            Notice::Spawned { pid } => What::Spawned { pid },
            Notice::Running => What::Running,
            Notice::ExitedDuringStart {
                status,
                retry,
                attempts,
                delay,
            } => What::Exited {
                status,
                expected: false,
                during_start: true,
                next: Next::Retry {
                    retry,
                    of: attempts,
                    delay,
                },
            },
            Notice::FailedToStart {
                reason,
                retry,
                attempts,
            } => What::SpawnRetry {
                error: reason,
                retry,
                of: attempts,
            },
            Notice::Fatal { reason } => What::Fatal { reason },
            Notice::RestartDelayed {
                status,
                lived,
                delay,
                expected,
            } => What::Exited {
                status,
                expected,
                during_start: false,
                next: Next::Delayed { delay, lived },
            },
            Notice::Exited {
                status,
                restarting,
                expected,
            } => What::Exited {
                status,
                expected,
                during_start: false,
                next: if restarting {
                    Next::Restart
                } else {
                    Next::Stays
                },
            },
            Notice::ExitedDuringStartForGood { status, expected } => What::Exited {
                status,
                expected,
                during_start: true,
                next: Next::Stays,
            },
            Notice::Stopping { signal } => What::Stopping { signal, by },
            Notice::Killed { forced } => What::Killed { forced },
            Notice::Stopped { status } => What::Stopped { by: None, status },
            Notice::CalledOff => What::Stopped {
                by: Some(by),
                status: None,
            },
        }
    }
}

impl Record {
    /// An event of the supervisor itself.
    pub fn supervisor(time: SystemTime, what: What) -> Record {
        Record {
            time,
            subject: None,
            what,
        }
    }

    /// How much it matters.
    pub fn level(&self) -> Level {
        match &self.what {
            What::Spawned { .. }
            | What::Running
            | What::Stopping { .. }
            | What::Stopped { .. }
            | What::Waiting { .. }
            | What::SupervisorStarted { .. }
            | What::ShuttingDown { .. }
            | What::Reloaded { .. }
            | What::SignalReceived { .. } => Level::Info,
            What::EssentialEnded => Level::Warn,
            What::Exited { expected, .. } => {
                if *expected {
                    Level::Info
                } else {
                    Level::Warn
                }
            }
            What::Health { health, .. } => {
                if *health == "unhealthy" {
                    Level::Warn
                } else {
                    Level::Info
                }
            }
            What::SpawnRetry { .. }
            | What::Killed { .. }
            | What::SocketRefused { .. }
            | What::OutputDropped { .. } => Level::Warn,
            What::SupervisorExits { status } => {
                if *status == 0 {
                    Level::Info
                } else {
                    Level::Error
                }
            }
            What::Fatal { .. } | What::ReloadFailed { .. } | What::LogWriteError { .. } => {
                Level::Error
            }
            What::Message { level, .. } => *level,
        }
    }

    /// The line of the log file, newline included, appended to `out`:
    /// `2026-12-02 10:15:25.123 INFO  'worker_1' spawned with PID 1235`.
    pub fn write_log_line(&self, out: &mut Vec<u8>) {
        let mut line = String::with_capacity(96);
        local_millis(self.time, &mut line);
        line.push(' ');
        line.push_str(self.level().label());
        line.push(' ');
        line.push_str(&self.message(View::Log));
        // One event, one line: text from outside (reasons) cannot add one.
        let line = line.replace(['\n', '\r'], " ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }

    /// What the shell (or stderr) shows for this event, without the
    /// `taskmaster: ` prefix; `None` for events only logged (a spawn, a
    /// process becoming RUNNING), which would flood a terminal.
    pub fn notice(&self) -> Option<String> {
        let shown = match &self.what {
            What::Exited {
                during_start: true,
                next: Next::Retry { .. },
                ..
            } => true,
            What::Exited {
                during_start: false,
                ..
            } => true,
            What::Exited { .. } => false,
            What::SpawnRetry { .. } | What::Fatal { .. } => true,
            // A WAITING process given up because what it waits for was
            // stopped: nobody asked for it by name.
            What::Stopped {
                by: Some(StopCause::Dependency),
                ..
            } => true,
            // Told on the terminal as they always were: both ways.
            What::Health { .. } => true,
            What::Spawned { .. }
            | What::Running
            | What::Stopping { .. }
            | What::Killed { .. }
            | What::Stopped { .. }
            | What::Waiting { .. }
            | What::SupervisorStarted { .. }
            | What::SupervisorExits { .. }
            | What::ShuttingDown { .. }
            // The reply to `reload` (or, after SIGHUP, a notice per line
            // of it) already tells the user.
            | What::Reloaded { .. }
            | What::ReloadFailed { .. }
            | What::SignalReceived { .. } => false,
            // Shown in the stream that lost the lines (a `logs -f` or
            // `events` client sees its own marker instead: not emitted).
            What::EssentialEnded
            | What::OutputDropped { .. }
            | What::SocketRefused { .. }
            | What::LogWriteError { .. }
            | What::Message { .. } => true,
        };
        shown.then(|| self.message(View::Notice))
    }

    /// The `events` object, one line without its newline, for a change of
    /// state or health; `None` for events that are neither.
    pub fn json(&self) -> Option<String> {
        let s = self.subject.as_ref()?;
        let changed = s.from != s.to || matches!(self.what, What::Health { .. });
        if !changed {
            return None;
        }
        let (exit_code, reason) = match &self.what {
            What::Exited { status, .. } => (Some(status.code), None),
            What::Fatal { reason } => (None, Some(reason.clone())),
            What::SpawnRetry { error, .. } => (None, Some(error.clone())),
            What::Health { reason, .. } => (None, reason.clone()),
            What::Waiting { on } => (None, Some(format!("waiting for {on}"))),
            What::Stopping { by, .. } | What::Stopped { by: Some(by), .. } => {
                (None, Some(format!("asked by {}", by.word())))
            }
            What::Stopped { by: None, status } => (status.map(|s| s.code), None),
            _ => (None, None),
        };
        let mut time = String::with_capacity(24);
        utc_millis(self.time, &mut time);
        let v = serde_json::json!({
            "time": time,
            "name": s.name,
            "task": s.task,
            "from": s.from,
            "to": s.to,
            "pid": s.pid,
            "exit_code": exit_code,
            "reason": reason,
            "health": s.health,
        });
        Some(v.to_string())
    }

    fn message(&self, view: View) -> String {
        let name = self.subject.as_ref().map_or("", |s| s.name.as_str());
        match &self.what {
            What::Spawned { pid } => format!("'{name}' spawned with PID {pid}"),
            What::Running => format!("'{name}' is RUNNING"),
            What::Exited {
                status,
                expected,
                during_start,
                next,
            } => {
                let how = match (view, expected) {
                    (View::Notice, _) => "",
                    (View::Log, true) => " expectedly",
                    (View::Log, false) => " unexpectedly",
                };
                match (during_start, next) {
                    (true, Next::Retry { retry, of, delay }) => format!(
                        "'{name}' exited during start ({status}); retry {retry} of {of} in {}",
                        crate::text::secs(*delay)
                    ),
                    (true, _) => format!("'{name}' exited{how} during start ({status})"),
                    (false, Next::Restart) => {
                        format!("'{name}' exited{how} ({status}); restarting")
                    }
                    (false, Next::Retry { delay, .. }) => format!(
                        "'{name}' exited{how} ({status}); restarting in {}",
                        crate::text::secs(*delay)
                    ),
                    (_, Next::Delayed { delay, lived }) => format!(
                        "'{name}' exited{how} ({status}); restarting in {} (it ran {})",
                        crate::text::secs(*delay),
                        crate::text::tenths(*lived)
                    ),
                    (false, Next::Stays) => format!("'{name}' exited{how} ({status})"),
                }
            }
            What::SpawnRetry { error, retry, of } => {
                format!("'{name}' failed to start: {error}; retry {retry} of {of}")
            }
            What::Fatal { reason } => format!("'{name}' is FATAL: {reason}"),
            What::Stopping { signal, by } => format!(
                "'{name}' is STOPPING: {} sent, asked by {}",
                crate::signame::name(*signal),
                by.word()
            ),
            What::Killed { forced: false } => {
                format!("'{name}' did not stop before its gracefulStopTimeout; SIGKILL sent")
            }
            What::Killed { forced: true } => {
                format!("'{name}' killed (SIGKILL): forced shutdown")
            }
            What::Stopped { by: Some(by), .. } => {
                format!("'{name}' stopped, asked by {}", by.word())
            }
            What::Stopped {
                by: None,
                status: Some(status),
            } => format!("'{name}' stopped ({status})"),
            What::Stopped { by: None, .. } => format!("'{name}' stopped"),
            What::Health {
                health,
                reason,
                restarting,
            } => {
                let then = if *restarting { "; restarting" } else { "" };
                match reason {
                    Some(r) => format!("'{name}' is {health}: {r}{then}"),
                    None => format!("'{name}' is {health}{then}"),
                }
            }
            What::Waiting { on } => format!("'{name}' is WAITING for {on}"),
            What::SupervisorStarted {
                version,
                config,
                pid,
            } => format!("taskmaster {version} started with PID {pid} (config {config})"),
            What::ShuttingDown { reason } => format!("shutting down: {reason}"),
            What::EssentialEnded => format!("essential process '{name}' ended; shutting down"),
            What::SupervisorExits { status } => format!("taskmaster exits with status {status}"),
            What::Reloaded { summary } => format!("reload: {summary}"),
            What::ReloadFailed { error } => format!("{RELOAD_FAILED} {error}"),
            What::SignalReceived { signal } => {
                format!("{} received", crate::signame::name(*signal))
            }
            What::SocketRefused { detail }
            | What::OutputDropped { detail }
            | What::LogWriteError { detail } => detail.clone(),
            What::Message { text, .. } => text.clone(),
        }
    }
}

/// Appends `YYYY-MM-DD HH:MM:SS.mmm` in the local time zone.
fn local_millis(t: SystemTime, out: &mut String) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value; localtime_r only writes it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    if unsafe { libc::localtime_r(&secs, &mut tm) }.is_null() {
        let _ = write!(out, "@{}.{:03}", d.as_secs(), d.subsec_millis());
        return;
    }
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_millis()
    );
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn utc_millis(t: SystemTime, out: &mut String) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    );
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's days-to-civil algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
