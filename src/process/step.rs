//! The lifecycle of one process: `step(proc, event, now, actions)` moves it
//! from state to state and lists what the supervisor must do (spawn, signal,
//! arm a deadline) and what follows from the transition (a notice for the
//! user, a process that ended for good, a group left to watch). It never
//! calls the OS and never reads the clock, so every transition and every
//! consequence is tested on a fake clock; the supervisor only performs.

use std::time::{Duration, Instant};

use super::notice::Notice;
use super::policy::{RAPID_EXIT, RAPID_RESET, backoff};
use super::proc::{ExitStatus, Proc, Want};
use super::state::{Action, Event, State};

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
            p.rapid = 0;
            // Asked for: the spawn to come is the user's, not a restart.
            p.restart_due = false;
            if p.policy.has_dependencies {
                p.state = S::Waiting { released: false };
                out.push(Action::AwaitDependencies);
            } else {
                out.push(Action::Spawn);
            }
        }
        (
            S::Waiting { .. } | S::Started { .. } | S::Running { .. } | S::Stopping { .. },
            Event::StartRequested,
        ) => {
            // Stopping: the wish is kept and the process starts once down.
            p.want = Want::Up;
        }

        // --- stop
        (&S::Started { pid, .. } | &S::Running { pid }, Event::StopRequested) => {
            want_down(p);
            stop_now(p, pid, now, out);
        }
        // Nothing runs: a stop and a forced shutdown are the same.
        (S::Backoff { .. } | S::Waiting { .. }, Event::StopRequested | Event::KillRequested) => {
            want_down(p);
            p.state = S::Stopped;
            out.push(Action::Notice(Notice::CalledOff));
        }
        (
            S::Stopped | S::Exited { .. } | S::Fatal { .. } | S::Stopping { .. },
            Event::StopRequested,
        ) => {
            want_down(p);
        }

        // --- forced shutdown
        (&S::Started { pid, .. } | &S::Running { pid }, Event::KillRequested) => {
            want_down(p);
            kill_now(p, pid, false, true, out);
        }
        (
            &S::Stopping {
                pid, leader_gone, ..
            },
            Event::KillRequested,
        ) => {
            want_down(p);
            kill_now(p, pid, leader_gone, true, out);
        }
        (S::Stopped | S::Exited { .. } | S::Fatal { .. }, Event::KillRequested) => {
            want_down(p);
        }

        // --- spawn results (only after a Spawn action, from a state with no pid)
        (
            S::Stopped | S::Waiting { .. } | S::Exited { .. } | S::Fatal { .. } | S::Backoff { .. },
            Event::Spawned { pid },
        ) => {
            p.since = Some(now);
            if std::mem::take(&mut p.restart_due) {
                p.restarts += 1;
            }
            out.push(Action::Notice(Notice::Spawned { pid }));
            if p.policy.start_timeout.is_zero() {
                p.retries = 0;
                p.state = S::Running { pid };
                out.push(Action::BeginChecks);
            } else {
                let until = now + p.policy.start_timeout;
                p.state = S::Started { pid, until };
                out.push(Action::ArmDeadline(until));
            }
        }
        (
            S::Stopped | S::Waiting { .. } | S::Exited { .. } | S::Fatal { .. } | S::Backoff { .. },
            Event::SpawnFailed { reason, transient },
        ) => {
            p.since = None;
            // Nothing started: no restart happened (a retry is decided,
            // and counted, anew).
            p.restart_due = false;
            // A failure repeated in the same state is not told again.
            let (was_backoff, was_fatal) = (
                matches!(p.state, S::Backoff { .. }),
                matches!(p.state, S::Fatal { .. }),
            );
            if transient && p.retries < p.policy.restart_attempts {
                if !was_backoff {
                    out.push(Action::Notice(Notice::FailedToStart {
                        reason: reason.clone(),
                        retry: p.retries + 1,
                        attempts: p.policy.restart_attempts,
                    }));
                }
                retry_later(p, now, reason, out);
            } else if was_fatal {
                p.state = S::Fatal { reason };
            } else {
                fatal(p, reason, out);
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
                out.push(Action::Notice(Notice::ExitedDuringStartForGood {
                    status,
                    expected: p.policy.expected(status),
                }));
            } else if p.policy.one_shot_done(status) {
                // A one-shot job that finished inside the grace period.
                p.state = S::Exited { status };
                out.push(Action::Notice(Notice::Exited {
                    status,
                    restarting: false,
                    expected: true,
                }));
                p.ended_for_good(out);
            } else if p.retries < p.policy.restart_attempts {
                let until = retry_later(p, now, format!("{status} during start"), out);
                out.push(Action::Notice(Notice::ExitedDuringStart {
                    status,
                    retry: p.retries,
                    attempts: p.policy.restart_attempts,
                    delay: until.saturating_duration_since(now),
                }));
            } else {
                let starts = p.retries + 1;
                let reason = format!(
                    "{status} within successfulStartTimeout ({}); gave up after {starts} start{}",
                    crate::text::secs(p.policy.start_timeout),
                    if starts == 1 { "" } else { "s" }
                );
                fatal(p, reason, out);
            }
        }
        (
            &S::Running { pid },
            Event::Exited {
                status,
                group_alive,
            },
        ) => {
            let lived = p
                .since
                .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
            ended(p, pid, status, group_alive, now, out);
            p.state = S::Exited { status };
            let restarting = p.want == Want::Up && p.policy.restarts_after(status);
            if !restarting {
                out.push(Action::Notice(Notice::Exited {
                    status,
                    restarting,
                    expected: p.policy.expected(status),
                }));
                p.ended_for_good(out);
                return;
            }
            // Never a hot loop: a short life grows the delay, a long one
            // starts it over.
            if lived >= RAPID_RESET {
                p.rapid = 0;
            }
            let mut delay = p.policy.restart_delay;
            if lived < RAPID_EXIT {
                p.rapid += 1;
                delay += backoff(p.rapid);
            }
            if delay.is_zero() {
                out.push(Action::Notice(Notice::Exited {
                    status,
                    restarting,
                    expected: p.policy.expected(status),
                }));
                restart(p, out);
            } else {
                let until = now + delay;
                let reason = format!(
                    "{status} after {}; restarting in {}",
                    crate::text::tenths(lived),
                    crate::text::secs(delay)
                );
                p.state = S::Backoff { until, reason };
                out.push(Action::ArmDeadline(until));
                out.push(Action::Notice(Notice::RestartDelayed {
                    status,
                    lived,
                    delay,
                    expected: p.policy.expected(status),
                }));
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
                out.push(Action::WatchGroup { pgid: pid });
            } else {
                stopped(p, out);
            }
        }
        (
            S::Stopping {
                leader_gone: true, ..
            }
            | S::Stopped
            | S::Waiting { .. }
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
            | S::Waiting { .. }
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
            out.push(Action::Notice(Notice::Running));
            out.push(Action::BeginChecks);
        }
        (&S::Backoff { until, .. }, Event::DeadlineReached) if now >= until => {
            if p.want == Want::Up {
                restart(p, out);
            } else {
                p.state = S::Stopped;
                out.push(Action::Notice(Notice::Stopped { status: None }));
            }
        }
        (
            &S::Stopping {
                pid,
                kill_at: Some(t),
                leader_gone,
            },
            Event::DeadlineReached,
        ) if now >= t => kill_now(p, pid, leader_gone, false, out),
        (
            S::Started { .. }
            | S::Backoff { .. }
            | S::Stopping { .. }
            | S::Stopped
            | S::Waiting { .. }
            | S::Running { .. }
            | S::Exited { .. }
            | S::Fatal { .. },
            Event::DeadlineReached,
        ) => {}

        // --- a queued spawn's turn: still wanted only with no leader, no
        // group being stopped, and the wish still up
        (
            S::Stopped
            | S::Waiting { released: true }
            | S::Exited { .. }
            | S::Fatal { .. }
            | S::Backoff { .. },
            Event::SpawnTurn,
        ) => {
            if p.want == Want::Up {
                out.push(Action::SpawnNow);
            }
        }
        (
            S::Waiting { released: false }
            | S::Started { .. }
            | S::Running { .. }
            | S::Stopping { .. },
            Event::SpawnTurn,
        ) => {}

        // --- dependencies
        (S::Waiting { released: false }, Event::DependenciesMet) => {
            if p.want == Want::Up {
                p.state = S::Waiting { released: true };
                out.push(Action::Spawn);
            } else {
                p.state = S::Stopped;
            }
        }
        (S::Waiting { .. }, Event::DependencyFailed { reason }) => fatal(p, reason, out),
        (
            S::Waiting { released: true }
            | S::Stopped
            | S::Started { .. }
            | S::Running { .. }
            | S::Backoff { .. }
            | S::Stopping { .. }
            | S::Exited { .. }
            | S::Fatal { .. },
            Event::DependenciesMet,
        )
        | (
            S::Stopped
            | S::Started { .. }
            | S::Running { .. }
            | S::Backoff { .. }
            | S::Stopping { .. }
            | S::Exited { .. }
            | S::Fatal { .. },
            Event::DependencyFailed { .. },
        ) => {}

        // --- health: an unhealthy process is stopped gracefully, then
        // started again (a restart, counted once it is spawned)
        (&S::Running { pid }, Event::Unhealthy) => {
            p.restart_due = p.want == Want::Up;
            stop_now(p, pid, now, out);
        }
        (
            S::Stopped
            | S::Waiting { .. }
            | S::Started { .. }
            | S::Backoff { .. }
            | S::Stopping { .. }
            | S::Exited { .. }
            | S::Fatal { .. },
            Event::Unhealthy,
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

/// The stop signal (and SIGCONT) for the group now, SIGKILL at the deadline.
fn stop_now(p: &mut Proc, pid: i32, now: Instant, out: &mut Vec<Action>) {
    let kill_at = now + p.policy.stop_timeout;
    out.push(Action::Notice(Notice::Stopping {
        signal: p.policy.stop_signal,
    }));
    p.state = State::Stopping {
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

/// SIGKILL for the group now; what is left is waited for in STOPPING.
/// `forced`: a second shutdown request, not a deadline.
fn kill_now(p: &mut Proc, pid: i32, leader_gone: bool, forced: bool, out: &mut Vec<Action>) {
    // Told once: a forced shutdown of a process already killed says nothing.
    if !matches!(p.state, State::Stopping { kill_at: None, .. }) {
        out.push(Action::Notice(Notice::Killed { forced }));
    }
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

/// A failed start: wait in BACKOFF, then try again. Returns the instant of
/// the next try.
fn retry_later(p: &mut Proc, now: Instant, reason: String, out: &mut Vec<Action>) -> Instant {
    p.retries += 1;
    let until = now + backoff(p.retries);
    p.state = State::Backoff { until, reason };
    out.push(Action::ArmDeadline(until));
    until
}

/// Gives up: FATAL for `reason`, told, and the process has ended for good.
fn fatal(p: &mut Proc, reason: String, out: &mut Vec<Action>) {
    p.state = State::Fatal {
        reason: reason.clone(),
    };
    out.push(Action::Notice(Notice::Fatal { reason }));
    p.ended_for_good(out);
}

/// The process is to stay down: a restart queued or waiting for a stop to
/// end is called off, so it is never counted.
fn want_down(p: &mut Proc) {
    p.want = Want::Down;
    p.restart_due = false;
}

/// A spawn the user did not ask for; counted as a restart once it
/// happens (a stop before its turn calls it off).
fn restart(p: &mut Proc, out: &mut Vec<Action>) {
    p.restart_due = true;
    out.push(Action::Spawn);
}

/// The whole group is gone after a stop; start again if wanted meanwhile.
fn stopped(p: &mut Proc, out: &mut Vec<Action>) {
    p.state = State::Stopped;
    out.push(Action::Notice(Notice::Stopped {
        status: p.last_exit,
    }));
    if p.want == Want::Up {
        p.retries = 0;
        out.push(Action::Spawn);
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "consequence_tests.rs"]
mod consequence_tests;

#[cfg(test)]
#[path = "stack_tests.rs"]
mod stack_tests;

#[cfg(test)]
#[path = "sweep_tests.rs"]
mod sweep_tests;
