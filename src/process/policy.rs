//! Restart and retry rules of a task: when an exit calls for a new spawn,
//! and how long a failed start waits before the next try. Pure.

use std::time::Duration;

use crate::config::{RestartPolicy, TaskSpec};

/// The first backoff delay; each further failed start doubles it.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(500);
/// The longest backoff delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// The keys of a task that steer its processes without changing what runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub restart: RestartPolicy,
    pub expected_exit_codes: Vec<i32>,
    pub start_timeout: Duration,
    pub restart_attempts: u32,
    pub stop_signal: i32,
    pub stop_timeout: Duration,
    pub essential: bool,
    /// Fixed wait before every policy restart (`restartDelay`).
    pub restart_delay: Duration,
    /// The task has `dependsOn`: a start waits in WAITING until they hold.
    pub has_dependencies: bool,
}

impl Policy {
    /// The policy part of a task.
    pub fn of(task: &TaskSpec) -> Policy {
        Policy {
            restart: task.restart,
            expected_exit_codes: task.expected_exit_codes.clone(),
            start_timeout: task.start_timeout,
            restart_attempts: task.restart_attempts,
            stop_signal: task.stop_signal,
            stop_timeout: task.stop_timeout,
            essential: task.essential,
            restart_delay: task.restart_delay,
            has_dependencies: !task.depends_on.is_empty(),
        }
    }

    /// Whether `status` is a success: a code in `expectedExitCodes`, not
    /// death by a signal.
    pub fn expected(&self, status: super::ExitStatus) -> bool {
        status.signal.is_none() && self.expected_exit_codes.contains(&status.code)
    }

    /// Whether a process that exited during its start grace period with
    /// `status` has simply done its job: a one-shot (`restart` never or
    /// on-failure) with an expected code.
    pub fn one_shot_done(&self, status: super::ExitStatus) -> bool {
        self.restart != RestartPolicy::Always && self.expected(status)
    }

    /// Whether a process that exited after reaching RUNNING starts again.
    /// Death by a signal is always a failure.
    pub fn restarts_after(&self, status: super::ExitStatus) -> bool {
        match self.restart {
            RestartPolicy::Always => true,
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => {
                status.signal.is_some() || !self.expected_exit_codes.contains(&status.code)
            }
        }
    }
}

/// A process that lived less than this before exiting is restarted after a
/// growing delay, like a failed start.
pub const RAPID_EXIT: Duration = Duration::from_secs(1);
/// A process that lived this long starts the growing delay over.
pub const RAPID_RESET: Duration = Duration::from_secs(10);

/// Delay before retry number `retry` (1 for the first retry).
pub fn backoff(retry: u32) -> Duration {
    let shift = retry.saturating_sub(1).min(16);
    BACKOFF_FIRST.saturating_mul(1 << shift).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ExitStatus;

    fn policy(restart: RestartPolicy) -> Policy {
        Policy {
            restart,
            expected_exit_codes: vec![0, 2],
            start_timeout: Duration::from_secs(1),
            restart_attempts: 3,
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            essential: false,
            restart_delay: Duration::ZERO,
            has_dependencies: false,
        }
    }

    #[test]
    fn backoff_doubles_then_caps() {
        let ms: Vec<u128> = (1..=9).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(
            ms,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn restart_rules() {
        let ok = ExitStatus::code(0);
        let two = ExitStatus::code(2);
        let one = ExitStatus::code(1);
        let killed = ExitStatus::signal(libc::SIGKILL);
        let p = policy(RestartPolicy::OnFailure);
        assert!(!p.restarts_after(ok));
        assert!(!p.restarts_after(two));
        assert!(p.restarts_after(one));
        assert!(p.restarts_after(killed));
        let mut with_137 = p.clone();
        with_137.expected_exit_codes.push(137);
        assert!(with_137.restarts_after(killed), "a signal is a failure");
        let p = policy(RestartPolicy::Always);
        assert!(p.restarts_after(ok) && p.restarts_after(killed));
        let p = policy(RestartPolicy::Never);
        assert!(!p.restarts_after(one) && !p.restarts_after(killed));
    }

    #[test]
    fn one_shot_success_needs_an_expected_code_and_no_always() {
        let p = policy(RestartPolicy::OnFailure);
        assert!(p.one_shot_done(ExitStatus::code(2)));
        assert!(!p.one_shot_done(ExitStatus::code(1)));
        assert!(!p.one_shot_done(ExitStatus::signal(libc::SIGTERM)));
        assert!(policy(RestartPolicy::Never).one_shot_done(ExitStatus::code(0)));
        assert!(!policy(RestartPolicy::Always).one_shot_done(ExitStatus::code(0)));
    }
}
