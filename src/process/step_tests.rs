//! Table tests of `step` on a fake clock.

use std::time::{Duration, Instant};

use super::*;
use crate::config::RestartPolicy;
use crate::process::Policy;

pub(super) fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub(super) fn policy() -> Policy {
    Policy {
        restart: RestartPolicy::OnFailure,
        expected_exit_codes: vec![0],
        start_timeout: secs(1.0),
        restart_attempts: 3,
        stop_signal: libc::SIGTERM,
        stop_timeout: secs(10.0),
        essential: false,
        restart_delay: Duration::ZERO,
        has_dependencies: false,
    }
}

pub(super) fn proc_in(state: State) -> Proc {
    let mut p = Proc::new(policy());
    p.state = state;
    p
}

pub(super) fn run(p: &mut Proc, ev: Event, now: Instant) -> Vec<Action> {
    let mut out = Vec::new();
    step(p, ev, now, &mut out);
    out
}

/// What a graceful stop of group `pgid` asks for under `policy()`: its
/// stop signal, SIGCONT, and SIGKILL armed for `kill_at`.
pub(super) fn graceful_stop(pgid: i32, kill_at: Instant) -> [Action; 4] {
    [
        Action::Notice(Notice::Stopping {
            signal: libc::SIGTERM,
        }),
        Action::SignalGroup {
            pgid,
            sig: libc::SIGTERM,
        },
        Action::SignalGroup {
            pgid,
            sig: libc::SIGCONT,
        },
        Action::ArmDeadline(kill_at),
    ]
}

/// What killing group `pgid` asks for; `forced` by a second shutdown
/// request rather than the deadline.
pub(super) fn killed(pgid: i32, forced: bool) -> [Action; 2] {
    [
        Action::Notice(Notice::Killed { forced }),
        Action::SignalGroup {
            pgid,
            sig: libc::SIGKILL,
        },
    ]
}

pub(super) fn exited(code: i32) -> Event {
    Event::Exited {
        status: ExitStatus::code(code),
        group_alive: false,
    }
}

#[test]
fn start_spawns_then_running_after_grace() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    assert_eq!(run(&mut p, Event::StartRequested, t0), [Action::Spawn]);
    assert_eq!(p.want, Want::Up);
    assert_eq!(p.state, State::Stopped, "state waits for the spawn result");
    let acts = run(&mut p, Event::Spawned { pid: 42 }, t0);
    assert_eq!(
        p.state,
        State::Started {
            pid: 42,
            until: t0 + secs(1.0)
        }
    );
    assert_eq!(
        acts,
        [
            Action::Notice(Notice::Spawned { pid: 42 }),
            Action::ArmDeadline(t0 + secs(1.0))
        ]
    );
    assert_eq!(p.since, Some(t0));
    assert!(run(&mut p, Event::DeadlineReached, t0 + secs(0.5)).is_empty());
    assert!(
        matches!(p.state, State::Started { .. }),
        "early deadline is stale"
    );
    assert_eq!(
        run(&mut p, Event::DeadlineReached, t0 + secs(1.0)),
        [Action::Notice(Notice::Running), Action::BeginChecks]
    );
    assert_eq!(p.state, State::Running { pid: 42 });
}

#[test]
fn zero_grace_is_running_at_once() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    p.policy.start_timeout = Duration::ZERO;
    run(&mut p, Event::StartRequested, t0);
    assert_eq!(
        run(&mut p, Event::Spawned { pid: 5 }, t0),
        [
            Action::Notice(Notice::Spawned { pid: 5 }),
            Action::BeginChecks
        ],
        "no STARTED, so no RUNNING to tell apart"
    );
    assert_eq!(p.state, State::Running { pid: 5 });
}

#[test]
fn failed_starts_back_off_then_fatal() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    run(&mut p, Event::StartRequested, t0);
    let mut now = t0;
    let mut delays = Vec::new();
    for pid in 1..=4 {
        run(&mut p, Event::Spawned { pid }, now);
        let acts = run(&mut p, exited(1), now + secs(0.1));
        if pid <= 3 {
            let State::Backoff { until, reason } = p.state.clone() else {
                panic!("{:?}", p.state)
            };
            assert_eq!(reason, "exit status 1 during start");
            let delay = until - (now + secs(0.1));
            assert_eq!(
                acts,
                [
                    Action::ArmDeadline(until),
                    Action::Notice(Notice::ExitedDuringStart {
                        status: ExitStatus::code(1),
                        retry: pid as u32,
                        attempts: 3,
                        delay
                    })
                ]
            );
            delays.push(delay);
            now = until;
            assert_eq!(run(&mut p, Event::DeadlineReached, now), [Action::Spawn]);
        } else {
            let State::Fatal { reason } = &p.state else {
                panic!("{:?}", p.state)
            };
            assert!(reason.contains("exit status 1"), "{reason}");
            assert!(reason.contains('4'), "names the number of starts: {reason}");
            assert_eq!(
                acts,
                [
                    Action::Notice(Notice::Fatal {
                        reason: reason.clone()
                    }),
                    Action::EndedForGood {
                        code: 1,
                        essential: false
                    }
                ]
            );
        }
    }
    assert_eq!(delays, [secs(0.5), secs(1.0), secs(2.0)]);
    assert_eq!(p.restarts, 3);
    assert_eq!(p.last_exit, Some(ExitStatus::code(1)));
}

#[test]
fn zero_attempts_is_fatal_on_first_failed_start() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    p.policy.restart_attempts = 0;
    run(&mut p, Event::StartRequested, t0);
    run(&mut p, Event::Spawned { pid: 1 }, t0);
    run(&mut p, exited(3), t0);
    assert!(matches!(p.state, State::Fatal { .. }));
}

#[test]
fn reaching_running_resets_retries() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    run(&mut p, Event::StartRequested, t0);
    run(&mut p, Event::Spawned { pid: 1 }, t0);
    run(&mut p, exited(1), t0);
    assert_eq!(p.retries, 1);
    run(&mut p, Event::DeadlineReached, t0 + secs(0.5));
    run(&mut p, Event::Spawned { pid: 2 }, t0 + secs(0.5));
    run(&mut p, Event::DeadlineReached, t0 + secs(1.5));
    assert_eq!(p.state, State::Running { pid: 2 });
    assert_eq!(p.retries, 0);
}

#[test]
fn exit_while_running_follows_restart_policy() {
    let t0 = Instant::now();
    let cases = [
        (RestartPolicy::Always, ExitStatus::code(0), true),
        (RestartPolicy::Always, ExitStatus::code(1), true),
        (RestartPolicy::OnFailure, ExitStatus::code(0), false),
        (RestartPolicy::OnFailure, ExitStatus::code(1), true),
        (
            RestartPolicy::OnFailure,
            ExitStatus::signal(libc::SIGKILL),
            true,
        ),
        (RestartPolicy::Never, ExitStatus::code(1), false),
        (
            RestartPolicy::Never,
            ExitStatus::signal(libc::SIGSEGV),
            false,
        ),
    ];
    for (restart, status, again) in cases {
        let mut p = proc_in(State::Running { pid: 9 });
        p.want = Want::Up;
        p.policy.restart = restart;
        // Long enough a life for an immediate restart (see rapid_exits).
        p.since = Some(t0);
        let acts = run(
            &mut p,
            Event::Exited {
                status,
                group_alive: false,
            },
            t0 + secs(5.0),
        );
        assert_eq!(p.state, State::Exited { status }, "{restart:?} {status}");
        assert_eq!(acts.contains(&Action::Spawn), again, "{restart:?} {status}");
        assert_eq!(p.restarts, 0, "counted once spawned");
        assert_eq!(p.since, None);
        if again {
            run(&mut p, Event::Spawned { pid: 10 }, t0 + secs(5.0));
            assert_eq!(p.restarts, 1);
        }
    }
}

#[test]
fn restarts_count_spawns_that_happened_not_restarts_a_stop_called_off() {
    let t0 = Instant::now();
    let at = |s: f64| t0 + secs(s);
    let mut p = proc_in(State::Running { pid: 9 });
    p.want = Want::Up;
    p.policy.restart = RestartPolicy::Always;
    p.since = Some(t0);
    // A restart after a long life is queued; a stop comes before its turn.
    assert!(run(&mut p, exited(1), at(5.0)).contains(&Action::Spawn));
    run(&mut p, Event::StopRequested, at(5.0));
    assert!(run(&mut p, Event::SpawnTurn, at(5.0)).is_empty());
    assert_eq!(p.restarts, 0);
    // Started by the user: not a restart.
    run(&mut p, Event::StartRequested, at(6.0));
    run(&mut p, Event::Spawned { pid: 10 }, at(6.0));
    assert_eq!(p.restarts, 0);
    // A failed start: its retry is queued at the end of BACKOFF, and
    // stopped before its turn.
    run(&mut p, exited(1), at(6.1));
    let State::Backoff { until, .. } = p.state else {
        panic!("{:?}", p.state)
    };
    assert_eq!(run(&mut p, Event::DeadlineReached, until), [Action::Spawn]);
    run(&mut p, Event::StopRequested, until);
    assert!(run(&mut p, Event::SpawnTurn, until).is_empty());
    assert_eq!(p.restarts, 0);
    // An unhealthy process stopped for a restart, then by the user.
    run(&mut p, Event::StartRequested, at(20.0));
    run(&mut p, Event::Spawned { pid: 11 }, at(20.0));
    run(&mut p, Event::DeadlineReached, at(21.0));
    run(&mut p, Event::Unhealthy, at(30.0));
    run(&mut p, Event::StopRequested, at(30.5));
    assert_eq!(
        run(&mut p, exited(143), at(31.0)),
        [Action::Notice(Notice::Stopped {
            status: Some(ExitStatus::code(143))
        })]
    );
    assert_eq!(p.restarts, 0);
    // A restart whose spawn fails has not happened; its retry, spawned,
    // is one restart.
    run(&mut p, Event::StartRequested, at(40.0));
    run(&mut p, Event::Spawned { pid: 12 }, at(40.0));
    run(&mut p, Event::DeadlineReached, at(41.0));
    p.since = Some(at(40.0));
    assert!(run(&mut p, exited(1), at(50.0)).contains(&Action::Spawn));
    run(
        &mut p,
        Event::SpawnFailed {
            reason: "no memory".into(),
            transient: true,
        },
        at(50.0),
    );
    assert_eq!(p.restarts, 0);
    let State::Backoff { until, .. } = p.state else {
        panic!("{:?}", p.state)
    };
    assert_eq!(run(&mut p, Event::DeadlineReached, until), [Action::Spawn]);
    assert_eq!(run(&mut p, Event::SpawnTurn, until), [Action::SpawnNow]);
    run(&mut p, Event::Spawned { pid: 13 }, until);
    assert_eq!(p.restarts, 1);
}

#[test]
fn stop_signals_then_kills_at_deadline() {
    let t0 = Instant::now();
    let mut p = proc_in(State::Running { pid: 7 });
    p.want = Want::Up;
    let acts = run(&mut p, Event::StopRequested, t0);
    let kill_at = t0 + secs(10.0);
    assert_eq!(acts, graceful_stop(7, kill_at));
    assert_eq!(p.want, Want::Down);
    let acts = run(&mut p, Event::DeadlineReached, kill_at);
    assert_eq!(acts, killed(7, false));
    assert_eq!(
        p.state,
        State::Stopping {
            pid: 7,
            kill_at: None,
            leader_gone: false
        }
    );
    assert_eq!(
        run(&mut p, exited(137), kill_at),
        [Action::Notice(Notice::Stopped {
            status: Some(ExitStatus::code(137))
        })]
    );
    assert_eq!(p.state, State::Stopped);
    assert_eq!(p.last_exit, Some(ExitStatus::code(137)));
}

#[test]
fn sigstopped_child_gets_sigcont_after_the_stop_signal() {
    // Found by tests/it/faults.rs: a SIGSTOPped child with a TERM handler
    // only died of SIGKILL at the deadline.
    let t0 = Instant::now();
    for (stop, cont) in [
        (libc::SIGTERM, true),
        (libc::SIGINT, true),
        (libc::SIGKILL, false),
        (libc::SIGCONT, false),
        (libc::SIGSTOP, false),
    ] {
        let mut p = proc_in(State::Running { pid: 7 });
        p.policy.stop_signal = stop;
        let acts = run(&mut p, Event::StopRequested, t0);
        let signals: Vec<i32> = acts
            .iter()
            .filter_map(|a| match a {
                Action::SignalGroup { sig, .. } => Some(*sig),
                _ => None,
            })
            .collect();
        let want = if cont {
            vec![stop, libc::SIGCONT]
        } else {
            vec![stop]
        };
        assert_eq!(signals, want, "{stop}");
    }
}

#[test]
fn stop_waits_for_the_whole_group() {
    let t0 = Instant::now();
    let mut p = proc_in(State::Running { pid: 7 });
    run(&mut p, Event::StopRequested, t0);
    let acts = run(
        &mut p,
        Event::Exited {
            status: ExitStatus::signal(libc::SIGTERM),
            group_alive: true,
        },
        t0 + secs(1.0),
    );
    assert_eq!(acts, [Action::WatchGroup { pgid: 7 }]);
    assert!(matches!(
        p.state,
        State::Stopping {
            leader_gone: true,
            ..
        }
    ));
    assert_eq!(p.state.pid(), None, "the leader's pid is gone");
    assert!(!p.state.is_down());
    let acts = run(&mut p, Event::DeadlineReached, t0 + secs(10.0));
    assert_eq!(acts, killed(7, false));
    run(&mut p, Event::GroupGone, t0 + secs(10.1));
    assert_eq!(p.state, State::Stopped);
}

#[test]
fn leader_exit_releases_a_living_group() {
    let t0 = Instant::now();
    let mut p = proc_in(State::Running { pid: 11 });
    p.policy.restart = RestartPolicy::Never;
    let acts = run(
        &mut p,
        Event::Exited {
            status: ExitStatus::code(0),
            group_alive: true,
        },
        t0,
    );
    assert_eq!(
        acts[0],
        Action::ReleaseGroup {
            pgid: 11,
            sig: libc::SIGTERM,
            kill_at: t0 + secs(10.0)
        }
    );
}

#[test]
fn start_while_stopping_restarts_once_down() {
    let t0 = Instant::now();
    let mut p = proc_in(State::Running { pid: 3 });
    run(&mut p, Event::StopRequested, t0);
    assert!(run(&mut p, Event::StartRequested, t0).is_empty());
    assert_eq!(
        run(&mut p, exited(0), t0),
        [
            Action::Notice(Notice::Stopped {
                status: Some(ExitStatus::code(0))
            }),
            Action::Spawn
        ]
    );
    assert_eq!(p.state, State::Stopped);
    run(&mut p, Event::Spawned { pid: 4 }, t0);
    assert!(matches!(p.state, State::Started { pid: 4, .. }));
}

#[test]
fn stop_in_backoff_is_immediate() {
    let t0 = Instant::now();
    let mut p = proc_in(State::Backoff {
        until: t0 + secs(1.0),
        reason: "exit status 1 during start".into(),
    });
    p.want = Want::Up;
    assert_eq!(
        run(&mut p, Event::StopRequested, t0),
        [Action::Notice(Notice::CalledOff)]
    );
    assert_eq!(p.state, State::Stopped);
    assert!(
        run(&mut p, Event::DeadlineReached, t0 + secs(1.0)).is_empty(),
        "the old deadline is stale"
    );
}

#[test]
fn spawn_errors() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    run(&mut p, Event::StartRequested, t0);
    run(
        &mut p,
        Event::SpawnFailed {
            reason: "cannot spawn x: No such file or directory".into(),
            transient: false,
        },
        t0,
    );
    assert_eq!(
        p.state,
        State::Fatal {
            reason: "cannot spawn x: No such file or directory".into()
        }
    );
    let mut p = Proc::new(policy());
    run(&mut p, Event::StartRequested, t0);
    let acts = run(
        &mut p,
        Event::SpawnFailed {
            reason: "cannot spawn x: Resource temporarily unavailable".into(),
            transient: true,
        },
        t0,
    );
    assert_eq!(
        p.state,
        State::Backoff {
            until: t0 + secs(0.5),
            reason: "cannot spawn x: Resource temporarily unavailable".into()
        }
    );
    assert_eq!(
        acts,
        [
            Action::Notice(Notice::FailedToStart {
                reason: "cannot spawn x: Resource temporarily unavailable".into(),
                retry: 1,
                attempts: 3
            }),
            Action::ArmDeadline(t0 + secs(0.5))
        ]
    );
}

#[test]
fn forced_shutdown_kills_at_once() {
    let t0 = Instant::now();
    for state in [
        State::Running { pid: 5 },
        State::Started { pid: 5, until: t0 },
        State::Stopping {
            pid: 5,
            kill_at: Some(t0 + secs(9.0)),
            leader_gone: false,
        },
    ] {
        let mut p = proc_in(state);
        let acts = run(&mut p, Event::KillRequested, t0);
        assert_eq!(acts, killed(5, true));
        assert_eq!(p.state.deadline(), None);
    }
}
