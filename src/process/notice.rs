//! What the user is told about a process's transitions: `step` emits a
//! `Notice` as data, the supervisor prints `text` under the process's name.
//! Pure.

use std::time::Duration;

use super::state::ExitStatus;

/// A transition the user hears about on stderr.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
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
    },
    /// A RUNNING process exited; `restarting` when it starts again.
    Exited {
        status: ExitStatus,
        restarting: bool,
    },
}

impl Notice {
    /// The notice as one line about process `name`.
    pub fn text(&self, name: &str) -> String {
        match self {
            Notice::ExitedDuringStart {
                status,
                retry,
                attempts,
                delay,
            } => format!(
                "'{name}' exited during start ({status}); retry {retry} of {attempts} in {}",
                crate::text::secs(*delay)
            ),
            Notice::FailedToStart {
                reason,
                retry,
                attempts,
            } => format!("'{name}' failed to start: {reason}; retry {retry} of {attempts}"),
            Notice::Fatal { reason } => format!("'{name}' is FATAL: {reason}"),
            Notice::RestartDelayed {
                status,
                lived,
                delay,
            } => format!(
                "'{name}' exited ({status}); restarting in {} (it ran {})",
                crate::text::secs(*delay),
                crate::text::secs(*lived)
            ),
            Notice::Exited {
                status,
                restarting: true,
            } => format!("'{name}' exited ({status}); restarting"),
            Notice::Exited {
                status,
                restarting: false,
            } => format!("'{name}' exited ({status})"),
        }
    }
}
