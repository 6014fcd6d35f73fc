//! One supervised process as data: how its last run ended, what the user
//! wants of it, and `Proc`, which only `step` changes. Pure.

use std::fmt;
use std::time::Instant;

use super::policy::Policy;
use super::state::{Action, State};

/// How a process ended: its exit code, or 128+N after death by signal N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: i32,
    pub signal: Option<i32>,
}

impl ExitStatus {
    /// A normal exit with `code`.
    pub fn code(code: i32) -> ExitStatus {
        ExitStatus { code, signal: None }
    }

    /// Death by signal `sig`.
    pub fn signal(sig: i32) -> ExitStatus {
        ExitStatus {
            code: 128 + sig,
            signal: Some(sig),
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.signal {
            Some(sig) => write!(f, "killed by {}", crate::signame::name(sig)),
            None => write!(f, "exit status {}", self.code),
        }
    }
}

/// What the user wants of a process, apart from what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
}

/// One supervised process. Only `step` changes it (and a reload its
/// policy), so what it is and what follows from it never part.
#[derive(Debug, Clone)]
pub struct Proc {
    pub(super) state: State,
    pub(super) want: Want,
    pub(super) policy: Policy,
    /// Spawns after the first one that the user did not ask for.
    pub(super) restarts: u32,
    /// A spawn the user did not ask for (a policy restart, a retry, a
    /// restart of an unhealthy process) is queued or waits for a stop to
    /// end: `restarts` grows when it happens, not when it is decided.
    pub(super) restart_due: bool,
    /// Failed starts since the process last reached RUNNING.
    pub(super) retries: u32,
    /// How the last run ended.
    pub(super) last_exit: Option<ExitStatus>,
    /// When the live leader was spawned.
    pub(super) since: Option<Instant>,
    /// Policy restarts in a row of a process that lived less than
    /// `RAPID_EXIT`: the growing delay's count.
    pub(super) rapid: u32,
}

impl Proc {
    /// A process that has never run.
    pub fn new(policy: Policy) -> Proc {
        Proc {
            state: State::Stopped,
            want: Want::Down,
            policy,
            restarts: 0,
            restart_due: false,
            retries: 0,
            last_exit: None,
            since: None,
            rapid: 0,
        }
    }

    /// Where the process is.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// What the user wants of it.
    pub fn want(&self) -> Want {
        self.want
    }

    /// The rules it follows.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A reload changed the task's policy: it applies from the next event.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Spawns after the first one that the user did not ask for.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Failed starts since the process last reached RUNNING.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// How the last run ended.
    pub fn last_exit(&self) -> Option<ExitStatus> {
        self.last_exit
    }

    /// When the live leader was spawned.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// The process ended for good while wanted up: say so, once, as it
    /// enters EXITED or FATAL.
    pub(super) fn ended_for_good(&self, out: &mut Vec<Action>) {
        if self.want == Want::Up {
            out.push(Action::EndedForGood {
                code: self.last_exit.map_or(1, |s| s.code),
                essential: self.policy.essential,
            });
        }
    }
}
