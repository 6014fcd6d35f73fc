//! The words of one process's lifecycle: where it is (`State`), what
//! happens to it (`Event`) and what the supervisor must do about it
//! (`Action`). The transition function over them is `step.rs`.

use std::time::Instant;

use super::notice::Notice;
use super::proc::ExitStatus;

/// Where a process is. PIDs are those of the group leader, which is also the
/// process group id.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not running, and not to be started until asked.
    Stopped,
    /// Asked to start, waiting for its dependencies (the supervisor keeps
    /// the reason). `released`: they hold and a spawn is queued.
    Waiting { released: bool },
    /// Alive, inside the start grace period that ends at `until`.
    Started { pid: i32, until: Instant },
    /// Alive past the grace period.
    Running { pid: i32 },
    /// A start failed; the next try is at `until`. `reason` says what failed
    /// (the spawn error, or the exit during the start grace period).
    Backoff { until: Instant, reason: String },
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
            State::Waiting { .. } => "WAITING",
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
            State::Started { until, .. } | State::Backoff { until, .. } => Some(until),
            State::Stopping { kill_at, .. } => kill_at,
            _ => None,
        }
    }

    /// Whether nothing of the process is alive or about to be: a stop is
    /// complete in these states.
    pub fn is_down(&self) -> bool {
        matches!(
            self,
            State::Stopped
                | State::Waiting { .. }
                | State::Exited { .. }
                | State::Fatal { .. }
                | State::Backoff { .. }
        )
    }
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
    /// A queued spawn (`Action::Spawn`) reached the front of the queue: the
    /// state machine says whether it is still wanted (`Action::SpawnNow`).
    SpawnTurn,
    /// Every `dependsOn` condition of a WAITING process holds.
    DependenciesMet,
    /// A dependency went FATAL or completed with an unexpected code (or
    /// left the config): a WAITING process cannot start.
    DependencyFailed { reason: String },
    /// Its health check (or watchdog) found it unhealthy and the task
    /// restarts unhealthy processes.
    Unhealthy,
}

/// What the supervisor must do for a process.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Queue a spawn; report `SpawnTurn` when its turn comes (start storms
    /// are spread over loop iterations).
    Spawn,
    /// Spawn the process now and report `Spawned` or `SpawnFailed`.
    SpawnNow,
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
    /// The leader is gone while members of its group `pgid` live: report
    /// `GroupGone` once the group is empty.
    WatchGroup { pgid: i32 },
    /// Tell the user what happened, as one line about the process.
    Notice(Notice),
    /// The process ended for good while wanted up (EXITED with no restart
    /// coming, or FATAL); `code` is its last exit code (1 if it never ran).
    /// An `essential` one ends the supervisor.
    EndedForGood { code: i32, essential: bool },
    /// The process waits for its dependencies: report `DependenciesMet` or
    /// `DependencyFailed` once they hold or never will.
    AwaitDependencies,
    /// The process became RUNNING: its health checks and watchdog begin.
    BeginChecks,
}
