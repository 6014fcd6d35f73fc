//! The lifecycle of one process: `step(proc, event, now, actions)` moves it
//! from state to state and lists what the supervisor must do (spawn, signal,
//! arm a deadline). It never calls the OS and never reads the clock, so every
//! transition is tested on a fake clock.

use std::fmt;
use std::time::Instant;

use super::policy::{Policy, backoff};

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

/// Where a process is. PIDs are those of the group leader, which is also the
/// process group id.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running, and not to be started until asked.
    Stopped,
    /// Alive, inside the start grace period that ends at `until`.
    Started { pid: i32, until: Instant },
    /// Alive past the grace period.
    Running { pid: i32 },
    /// A start failed; the next try is at `until`.
    Backoff { until: Instant },
    /// The stop signal was sent; SIGKILL goes to the group at `kill_at`
    /// (`None` once sent). `leader_gone`: the leader is reaped but members of
    /// its group still live.
    Stopping {
        pid: i32,
        kill_at: Option<Instant>,
        leader_gone: bool,
    },
    /// Ended and not to be restarted.
    Exited { status: ExitStatus },
    /// Cannot be started; `reason` says why.
    Fatal { reason: String },
}

impl State {
    /// The name as printed by `status`.
    pub fn name(&self) -> &'static str {
        match self {
            State::Stopped => "STOPPED",
            State::Started { .. } => "STARTED",
            State::Running { .. } => "RUNNING",
            State::Backoff { .. } => "BACKOFF",
            State::Stopping { .. } => "STOPPING",
            State::Exited { .. } => "EXITED",
            State::Fatal { .. } => "FATAL",
        }
    }

    /// The pid of the live leader, if any.
    pub fn pid(&self) -> Option<i32> {
        match *self {
            State::Started { pid, .. } | State::Running { pid } => Some(pid),
            State::Stopping {
                pid,
                leader_gone: false,
                ..
            } => Some(pid),
            _ => None,
        }
    }

    /// The deadline this state waits for, if any. A timer that fires for
    /// another instant is stale.
    pub fn deadline(&self) -> Option<Instant> {
        match *self {
            State::Started { until, .. } | State::Backoff { until } => Some(until),
            State::Stopping { kill_at, .. } => kill_at,
            _ => None,
        }
    }

    /// Whether nothing of the process is alive or about to be: a stop is
    /// complete in these states.
    pub fn is_down(&self) -> bool {
        matches!(
            self,
            State::Stopped | State::Exited { .. } | State::Fatal { .. } | State::Backoff { .. }
        )
    }
}

/// What the user wants of a process, apart from what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
}

/// Something that happened to a process.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `start`, autoLaunch or a restart asked for it.
    StartRequested,
    /// `stop` or shutdown asked for it.
    StopRequested,
    /// A forced shutdown: SIGKILL now.
    KillRequested,
    /// The `Spawn` action succeeded.
    Spawned { pid: i32 },
    /// The `Spawn` action failed; `transient` errors (no memory, too many
    /// processes or files) are retried like a failed start.
    SpawnFailed { reason: String, transient: bool },
    /// The leader was reaped; `group_alive` tells whether members of its
    /// process group still live.
    Exited {
        status: ExitStatus,
        group_alive: bool,
    },
    /// The last member of a stopping process's group is gone.
    GroupGone,
    /// The state's deadline was reached.
    DeadlineReached,
}

/// What the supervisor must do for a process.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Spawn the process and report `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send `sig` to process group `pgid`.
    SignalGroup { pgid: i32, sig: i32 },
    /// Report `DeadlineReached` at this instant.
    ArmDeadline(Instant),
    /// The leader of `pgid` exited on its own: members still alive get `sig`
    /// now (then SIGCONT, see [`continues_after`]) and SIGKILL at `kill_at`.
    ReleaseGroup {
        pgid: i32,
        sig: i32,
        kill_at: Instant,
    },
}

/// One supervised process.
#[derive(Debug, Clone)]
pub struct Proc {
    pub state: State,
    pub want: Want,
    pub policy: Policy,
    /// Spawns after the first one that the user did not ask for.
    pub restarts: u32,
    /// Failed starts since the process last reached RUNNING.
    pub retries: u32,
    /// How the last run ended.
    pub last_exit: Option<ExitStatus>,
    /// When the live leader was spawned.
    pub since: Option<Instant>,
}

impl Proc {
    /// A process that has never run.
    pub fn new(policy: Policy) -> Proc {
        Proc {
            state: State::Stopped,
            want: Want::Down,
            policy,
            restarts: 0,
            retries: 0,
            last_exit: None,
            since: None,
        }
    }

    /// Whether the process ended for good while wanted up: what makes an
    /// essential process shut the supervisor down.
    pub fn ended_for_good(&self) -> bool {
        self.want == Want::Up && matches!(self.state, State::Exited { .. } | State::Fatal { .. })
    }
}

/// Applies `ev` at `now` to `p`, appending the actions it calls for to `out`.
pub fn step(p: &mut Proc, ev: Event, now: Instant, out: &mut Vec<Action>) {
    use State as S;
    match (&p.state, ev) {
        // --- start
        (
            S::Stopped | S::Exited { .. } | S::Fatal { .. } | S::Backoff { .. },
            Event::StartRequested,
        ) => {
            p.want = Want::Up;
            p.retries = 0;
            out.push(Action::Spawn);
        }
        (S::Started { .. } | S::Running { .. } | S::Stopping { .. }, Event::StartRequested) => {
            // Stopping: the wish is kept and the process starts once down.
            p.want = Want::Up;
        }

        // --- stop
        (&S::Started { pid, .. } | &S::Running { pid }, Event::StopRequested) => {
            p.want = Want::Down;
            let kill_at = now + p.policy.stop_timeout;
            p.state = S::Stopping {
                pid,
                kill_at: Some(kill_at),
                leader_gone: false,
            };
            out.push(Action::SignalGroup {
                pgid: pid,
                sig: p.policy.stop_signal,
            });
            if continues_after(p.policy.stop_signal) {
                // A stopped process acts on its signal only once continued.
                out.push(Action::SignalGroup {
                    pgid: pid,
                    sig: libc::SIGCONT,
                });
            }
            out.push(Action::ArmDeadline(kill_at));
        }
        (S::Backoff { .. }, Event::StopRequested) => {
            p.want = Want::Down;
            p.state = S::Stopped;
        }
        (
            S::Stopped | S::Exited { .. } | S::Fatal { .. } | S::Stopping { .. },
            Event::StopRequested,
        ) => {
            p.want = Want::Down;
        }

        // --- forced shutdown
        (&S::Started { pid, .. } | &S::Running { pid }, Event::KillRequested) => {
            p.want = Want::Down;
            kill_now(p, pid, false, out);
        }
        (
            &S::Stopping {
                pid, leader_gone, ..
            },
            Event::KillRequested,
        ) => {
            p.want = Want::Down;
            kill_now(p, pid, leader_gone, out);
        }
        (S::Backoff { .. }, Event::KillRequested) => {
            p.want = Want::Down;
            p.state = S::Stopped;
        }
        (S::Stopped | S::Exited { .. } | S::Fatal { .. }, Event::KillRequested) => {
            p.want = Want::Down;
        }

        // --- spawn results (only after a Spawn action, from a state with no pid)
        (
            S::Stopped | S::Exited { .. } | S::Fatal { .. } | S::Backoff { .. },
            Event::Spawned { pid },
        ) => {
            p.since = Some(now);
            if p.policy.start_timeout.is_zero() {
                p.retries = 0;
                p.state = S::Running { pid };
            } else {
                let until = now + p.policy.start_timeout;
                p.state = S::Started { pid, until };
                out.push(Action::ArmDeadline(until));
            }
        }
        (
            S::Stopped | S::Exited { .. } | S::Fatal { .. } | S::Backoff { .. },
            Event::SpawnFailed { reason, transient },
        ) => {
            p.since = None;
            if transient && p.retries < p.policy.restart_attempts {
                retry_later(p, now, out);
            } else {
                p.state = S::Fatal { reason };
            }
        }
        (
            S::Started { .. } | S::Running { .. } | S::Stopping { .. },
            Event::Spawned { .. } | Event::SpawnFailed { .. },
        ) => {
            debug_assert!(false, "spawn result while a leader lives");
        }

        // --- the leader exits
        (
            &S::Started { pid, .. },
            Event::Exited {
                status,
                group_alive,
            },
        ) => {
            ended(p, pid, status, group_alive, now, out);
            if p.want == Want::Down {
                p.state = S::Exited { status };
            } else if p.retries < p.policy.restart_attempts {
                retry_later(p, now, out);
            } else {
                let starts = p.retries + 1;
                let reason = format!(
                    "{status} within successfulStartTimeout ({}); gave up after {starts} start{}",
                    crate::text::secs(p.policy.start_timeout),
                    if starts == 1 { "" } else { "s" }
                );
                p.state = S::Fatal { reason };
            }
        }
        (
            &S::Running { pid },
            Event::Exited {
                status,
                group_alive,
            },
        ) => {
            ended(p, pid, status, group_alive, now, out);
            p.state = S::Exited { status };
            if p.want == Want::Up && p.policy.restarts_after(status) {
                p.restarts += 1;
                out.push(Action::Spawn);
            }
        }
        (
            &S::Stopping {
                pid,
                kill_at,
                leader_gone: false,
            },
            Event::Exited {
                status,
                group_alive,
            },
        ) => {
            p.last_exit = Some(status);
            p.since = None;
            if group_alive {
                p.state = S::Stopping {
                    pid,
                    kill_at,
                    leader_gone: true,
                };
            } else {
                stopped(p, out);
            }
        }
        (
            S::Stopping {
                leader_gone: true, ..
            }
            | S::Stopped
            | S::Backoff { .. }
            | S::Exited { .. }
            | S::Fatal { .. },
            Event::Exited { .. },
        ) => {
            debug_assert!(false, "exit reported with no live leader");
        }

        // --- the rest of a stopping group
        (
            S::Stopping {
                leader_gone: true, ..
            },
            Event::GroupGone,
        ) => stopped(p, out),
        (
            S::Stopping {
                leader_gone: false, ..
            }
            | S::Stopped
            | S::Started { .. }
            | S::Running { .. }
            | S::Backoff { .. }
            | S::Exited { .. }
            | S::Fatal { .. },
            Event::GroupGone,
        ) => {}

        // --- deadlines
        (&S::Started { pid, until }, Event::DeadlineReached) if now >= until => {
            p.retries = 0;
            p.state = S::Running { pid };
        }
        (&S::Backoff { until }, Event::DeadlineReached) if now >= until => {
            if p.want == Want::Up {
                p.restarts += 1;
                out.push(Action::Spawn);
            } else {
                p.state = S::Stopped;
            }
        }
        (
            &S::Stopping {
                pid,
                kill_at: Some(t),
                leader_gone,
            },
            Event::DeadlineReached,
        ) if now >= t => kill_now(p, pid, leader_gone, out),
        (
            S::Started { .. }
            | S::Backoff { .. }
            | S::Stopping { .. }
            | S::Stopped
            | S::Running { .. }
            | S::Exited { .. }
            | S::Fatal { .. },
            Event::DeadlineReached,
        ) => {}
    }
}

/// Whether SIGCONT must follow stop signal `sig`, as supervisord and
/// systemd send it: a stopped (SIGSTOP, Ctrl-Z) process leaves a handled
/// signal pending until it is continued, so without it a graceful stop
/// would always end in SIGKILL. Not after a signal that itself kills,
/// stops or continues.
pub fn continues_after(sig: i32) -> bool {
    !matches!(
        sig,
        libc::SIGKILL
            | libc::SIGCONT
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
    )
}

/// Records the end of the leader `pid`; members of its group still alive
/// are released to the supervisor with the stop signal and a deadline.
fn ended(
    p: &mut Proc,
    pid: i32,
    status: ExitStatus,
    group_alive: bool,
    now: Instant,
    out: &mut Vec<Action>,
) {
    p.last_exit = Some(status);
    p.since = None;
    if group_alive {
        out.push(Action::ReleaseGroup {
            pgid: pid,
            sig: p.policy.stop_signal,
            kill_at: now + p.policy.stop_timeout,
        });
    }
}

/// SIGKILL for the group now; what is left is waited for in STOPPING.
fn kill_now(p: &mut Proc, pid: i32, leader_gone: bool, out: &mut Vec<Action>) {
    p.state = State::Stopping {
        pid,
        kill_at: None,
        leader_gone,
    };
    out.push(Action::SignalGroup {
        pgid: pid,
        sig: libc::SIGKILL,
    });
}

/// A failed start: wait in BACKOFF, then try again.
fn retry_later(p: &mut Proc, now: Instant, out: &mut Vec<Action>) {
    p.retries += 1;
    let until = now + backoff(p.retries);
    p.state = State::Backoff { until };
    out.push(Action::ArmDeadline(until));
}

/// The whole group is gone after a stop; start again if wanted meanwhile.
fn stopped(p: &mut Proc, out: &mut Vec<Action>) {
    p.state = State::Stopped;
    if p.want == Want::Up {
        p.retries = 0;
        out.push(Action::Spawn);
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
