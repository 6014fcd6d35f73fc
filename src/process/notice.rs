//! What happened to a process, as `step` tells it: each transition worth
//! telling emits one `Notice` as data. The supervisor turns it into the
//! event record (`events::Record`) that the log file, the shell's notices
//! and the `events` stream show; no text is made here. Pure.

use std::time::Duration;

use super::proc::ExitStatus;

/// A transition of one process.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A child was spawned with this pid.
    Spawned { pid: i32 },
    /// The start grace period passed: RUNNING.
    Running,
    /// The process exited within its start grace period; retry number
    /// `retry` of `attempts` follows in `delay`.
    ExitedDuringStart {
        status: ExitStatus,
        retry: u32,
        attempts: u32,
        delay: Duration,
    },
    /// A spawn failed for a reason that may pass; retry `retry` of
    /// `attempts` follows.
    FailedToStart {
        reason: String,
        retry: u32,
        attempts: u32,
    },
    /// The process became FATAL.
    Fatal { reason: String },
    /// A RUNNING process exited after `lived`; it starts again in `delay`
    /// (BACKOFF).
    RestartDelayed {
        status: ExitStatus,
        lived: Duration,
        delay: Duration,
        expected: bool,
    },
    /// A RUNNING process exited; `restarting` when it starts again;
    /// `expected`: a normal exit with a code in `expectedExitCodes`.
    Exited {
        status: ExitStatus,
        restarting: bool,
        expected: bool,
    },
    /// A process exited within its start grace period and is not retried
    /// (a stop was asked meanwhile).
    ExitedDuringStartForGood { status: ExitStatus, expected: bool },
    /// A stop began: `signal` went to the group.
    Stopping { signal: i32 },
    /// SIGKILL went to the group: its stop deadline passed, or (`forced`)
    /// a second shutdown request came.
    Killed { forced: bool },
    /// The process and its group are gone after a stop; `status`: how
    /// its leader ended, when it ended during the stop.
    Stopped { status: Option<ExitStatus> },
    /// A start not begun yet (WAITING, BACKOFF) was called off by a stop.
    CalledOff,
}
