//! The sweep of `step`: every state crossed with every event under every
//! policy, on a fake clock; the invariants that must hold after each.

use std::time::{Duration, Instant};

use super::tests::*;
use super::*;
use crate::config::RestartPolicy;
use crate::process::Policy;

/// The policies the sweep runs under: every `restart`, with and without a
/// start grace period and a `restartDelay`.
fn sweep_policies() -> Vec<Policy> {
    let mut out = Vec::new();
    for restart in [
        RestartPolicy::Always,
        RestartPolicy::Never,
        RestartPolicy::OnFailure,
    ] {
        for start_timeout in [Duration::ZERO, secs(1.0)] {
            for restart_delay in [Duration::ZERO, secs(2.0)] {
                out.push(Policy {
                    restart,
                    start_timeout,
                    restart_delay,
                    ..policy()
                });
            }
        }
    }
    out
}

/// Every state crossed with every event, under every policy of
/// `sweep_policies`, for a process that lived long or briefly: the
/// invariants hold whatever happens, and one-shot success, RUNNING at
/// once, `restartDelay` and the rapid-exit backoff all occur in it.
#[test]
fn every_state_and_event_keeps_invariants() {
    let t0 = Instant::now();
    let later = t0 + secs(100.0);
    let states = || {
        vec![
            State::Stopped,
            State::Waiting { released: false },
            State::Waiting { released: true },
            State::Started {
                pid: 10,
                until: t0 + secs(1.0),
            },
            State::Running { pid: 10 },
            State::Backoff {
                until: t0 + secs(1.0),
                reason: "exit status 1 during start".into(),
            },
            State::Stopping {
                pid: 10,
                kill_at: Some(t0 + secs(1.0)),
                leader_gone: false,
            },
            State::Stopping {
                pid: 10,
                kill_at: None,
                leader_gone: false,
            },
            State::Stopping {
                pid: 10,
                kill_at: Some(t0 + secs(1.0)),
                leader_gone: true,
            },
            State::Stopping {
                pid: 10,
                kill_at: None,
                leader_gone: true,
            },
            State::Exited {
                status: ExitStatus::code(0),
            },
            State::Fatal { reason: "x".into() },
        ]
    };
    let events = vec![
        Event::StartRequested,
        Event::StopRequested,
        Event::KillRequested,
        Event::Spawned { pid: 20 },
        Event::SpawnFailed {
            reason: "e".into(),
            transient: true,
        },
        Event::SpawnFailed {
            reason: "e".into(),
            transient: false,
        },
        Event::Exited {
            status: ExitStatus::code(0),
            group_alive: false,
        },
        Event::Exited {
            status: ExitStatus::code(1),
            group_alive: false,
        },
        Event::Exited {
            status: ExitStatus::signal(9),
            group_alive: true,
        },
        Event::GroupGone,
        Event::DeadlineReached,
        Event::SpawnTurn,
        Event::DependenciesMet,
        Event::DependencyFailed {
            reason: "dependency 'db' failed".into(),
        },
        Event::Unhealthy,
    ];
    // A process that lived 0.3 s exits rapidly; one that lived 100 s starts
    // the growing delay over. Either had two rapid restarts before.
    let mut cases = Vec::new();
    for state in states() {
        for (want, deps) in [
            (Want::Up, false),
            (Want::Down, false),
            (Want::Up, true),
            (Want::Down, true),
        ] {
            for policy in sweep_policies() {
                for lived in [secs(0.3), secs(100.0)] {
                    cases.push((state.clone(), want, deps, policy.clone(), lived));
                }
            }
        }
    }
    let (mut one_shot, mut at_once, mut delayed, mut rapid_backoff) = (0, 0, 0, 0);
    let mut pairs = 0;
    for (state, want, deps, policy, lived) in cases {
        for ev in &events {
            // Spawn results come only to states without a leader (a
            // WAITING one once released), and exits only to states with
            // one: skip what cannot happen.
            let has_leader = state.pid().is_some();
            let can_spawn = matches!(
                state,
                State::Stopped
                    | State::Waiting { released: true }
                    | State::Backoff { .. }
                    | State::Exited { .. }
                    | State::Fatal { .. }
            );
            match ev {
                Event::Spawned { .. } | Event::SpawnFailed { .. } if !can_spawn => continue,
                Event::Exited { .. } if !has_leader => continue,
                _ => {}
            }
            pairs += 1;
            let mut p = proc_in(state.clone());
            p.want = want;
            p.policy = Policy {
                has_dependencies: deps,
                ..policy.clone()
            };
            p.since = Some(later - lived);
            p.rapid = 2;
            // Half the pairs with a restart under way (only ever while
            // wanted up).
            p.restart_due = want == Want::Up && pairs % 2 == 0;
            let due = p.restart_due;
            let restarts = p.restarts;
            let before_pid = p.state.pid();
            let acts = run(&mut p, ev.clone(), later);
            let ctx = format!(
                "{state:?} {want:?} deps={deps} restart={:?} start={:?} delay={:?} lived={lived:?} {ev:?} -> {:?} {acts:?}",
                policy.restart, policy.start_timeout, policy.restart_delay, p.state
            );
            for a in &acts {
                match a {
                    Action::Spawn => {
                        assert!(p.state.pid().is_none(), "spawn while a leader lives: {ctx}")
                    }
                    Action::SignalGroup { pgid, .. } => {
                        assert!(*pgid == 10, "signals only our group: {ctx}")
                    }
                    Action::ArmDeadline(at) => {
                        assert_eq!(p.state.deadline(), Some(*at), "{ctx}")
                    }
                    Action::ReleaseGroup { pgid, .. } => {
                        assert_eq!(Some(*pgid), before_pid, "{ctx}")
                    }
                    Action::AwaitDependencies => {
                        assert_eq!(p.state, State::Waiting { released: false }, "{ctx}");
                        assert!(deps, "waits only with dependencies: {ctx}");
                    }
                    Action::BeginChecks => {
                        assert!(matches!(p.state, State::Running { .. }), "{ctx}")
                    }
                    Action::SpawnNow => {
                        assert!(matches!(ev, Event::SpawnTurn), "{ctx}");
                        if let State::Waiting { released } = state {
                            assert!(released, "a held start never spawns: {ctx}");
                        }
                        assert_eq!(p.want, Want::Up, "{ctx}");
                        assert!(p.state.pid().is_none(), "{ctx}");
                        assert!(!matches!(p.state, State::Stopping { .. }), "{ctx}");
                    }
                    Action::WatchGroup { pgid } => assert!(
                        matches!(p.state, State::Stopping { pid, leader_gone: true, .. } if pid == *pgid),
                        "{ctx}"
                    ),
                    Action::Notice(n) => {
                        let fits = match n {
                            Notice::ExitedDuringStart { .. }
                            | Notice::FailedToStart { .. }
                            | Notice::RestartDelayed { .. } => {
                                matches!(p.state, State::Backoff { .. })
                            }
                            Notice::Fatal { reason } => {
                                p.state
                                    == State::Fatal {
                                        reason: reason.clone(),
                                    }
                            }
                            Notice::Exited {
                                status, restarting, ..
                            } => {
                                p.state == State::Exited { status: *status }
                                    && *restarting == acts.contains(&Action::Spawn)
                            }
                            Notice::ExitedDuringStartForGood { status, .. } => {
                                p.state == State::Exited { status: *status }
                            }
                            Notice::Spawned { pid } => p.state.pid() == Some(*pid),
                            Notice::Running => matches!(p.state, State::Running { .. }),
                            Notice::Stopping { signal } => {
                                *signal == p.policy.stop_signal
                                    && matches!(
                                        p.state,
                                        State::Stopping {
                                            kill_at: Some(_),
                                            ..
                                        }
                                    )
                            }
                            Notice::Killed { .. } => {
                                matches!(p.state, State::Stopping { kill_at: None, .. })
                            }
                            Notice::Stopped { .. } => p.state == State::Stopped,
                            Notice::CalledOff => {
                                p.state == State::Stopped
                                    && matches!(
                                        state,
                                        State::Waiting { .. } | State::Backoff { .. }
                                    )
                            }
                        };
                        assert!(fits, "a notice tells the state reached: {ctx}");
                    }
                    Action::EndedForGood { .. } => {
                        assert_eq!(p.want, Want::Up, "{ctx}");
                        assert!(
                            matches!(p.state, State::Exited { .. } | State::Fatal { .. }),
                            "{ctx}"
                        );
                        assert!(!acts.contains(&Action::Spawn), "{ctx}");
                    }
                }
            }
            assert!(
                acts.iter().filter(|a| **a == Action::Spawn).count() <= 1,
                "{ctx}"
            );
            if matches!(ev, Event::StopRequested | Event::KillRequested) {
                assert_eq!(p.want, Want::Down, "{ctx}");
                assert!(!acts.contains(&Action::Spawn), "{ctx}");
            }
            if matches!(ev, Event::StartRequested) {
                assert_eq!(p.want, Want::Up, "{ctx}");
            }
            if let Some(pid) = p.state.pid() {
                assert!(pid == 10 || pid == 20, "{ctx}");
            }
            if matches!(state, State::Waiting { .. }) && p.state.pid().is_none() {
                assert!(
                    matches!(
                        p.state,
                        State::Waiting { .. } | State::Stopped | State::Fatal { .. }
                    ) || matches!(ev, Event::SpawnFailed { .. }),
                    "WAITING leaves only to a spawn, a stop or FATAL: {ctx}"
                );
            }
            let heeds = match ev {
                Event::DependenciesMet => matches!(state, State::Waiting { released: false }),
                Event::DependencyFailed { .. } => matches!(state, State::Waiting { .. }),
                _ => true,
            };
            if !heeds {
                assert_eq!(p.state, state, "only WAITING heeds dependencies: {ctx}");
                assert!(acts.is_empty(), "{ctx}");
            }
            if matches!(ev, Event::Unhealthy) {
                match state {
                    State::Running { .. } => assert!(
                        matches!(p.state, State::Stopping { pid: 10, .. }) && p.want == want,
                        "an unhealthy process is stopped, its wish kept: {ctx}"
                    ),
                    _ => assert_eq!(p.state, state, "{ctx}"),
                }
            }
            if let State::Backoff { reason, .. } = &p.state {
                assert!(!reason.is_empty(), "BACKOFF says why: {ctx}");
            }
            let spawns = acts
                .iter()
                .filter(|a| matches!(a, Action::Spawn | Action::SpawnNow))
                .count();
            assert!(spawns <= 1, "{ctx}");
            if p.want == Want::Down {
                assert!(
                    !acts.contains(&Action::Spawn) || matches!(ev, Event::StartRequested),
                    "{ctx}"
                );
            }

            // A restart counts when it happens, at a spawn the user did
            // not ask for; one decided and called off by a stop never does.
            assert_eq!(
                p.restarts - restarts,
                u32::from(due && matches!(ev, Event::Spawned { .. })),
                "{ctx}"
            );
            assert!(!p.restart_due || p.want == Want::Up, "{ctx}");
            if matches!(ev, Event::StopRequested | Event::KillRequested) {
                assert!(!p.restart_due, "a stop calls a restart off: {ctx}");
            }

            // What the policy decides.
            assert_eq!(
                acts.contains(&Action::BeginChecks),
                matches!(p.state, State::Running { .. }) && !matches!(state, State::Running { .. }),
                "checks begin exactly on entering RUNNING: {ctx}"
            );
            if let Event::Spawned { pid } = *ev {
                if policy.start_timeout.is_zero() {
                    assert_eq!(p.state, State::Running { pid }, "RUNNING at once: {ctx}");
                    at_once += 1;
                } else {
                    let until = later + policy.start_timeout;
                    assert_eq!(p.state, State::Started { pid, until }, "{ctx}");
                }
            }
            if let (Event::Exited { status, .. }, State::Started { .. }, Want::Up) =
                (ev, &state, want)
            {
                if policy.one_shot_done(*status) {
                    assert_eq!(p.state, State::Exited { status: *status }, "done: {ctx}");
                    assert!(!acts.contains(&Action::Spawn), "{ctx}");
                    one_shot += 1;
                } else {
                    assert!(
                        matches!(p.state, State::Backoff { .. } | State::Fatal { .. }),
                        "a failed start: {ctx}"
                    );
                }
            }
            if let (Event::Exited { status, .. }, State::Running { .. }) = (ev, &state) {
                if want == Want::Up && policy.restarts_after(*status) {
                    // Never a hot loop: restartDelay, plus the growing
                    // delay (the third in a row here) after a short life.
                    let rapid = lived < RAPID_EXIT;
                    let delay =
                        policy.restart_delay + if rapid { backoff(3) } else { Duration::ZERO };
                    assert_eq!(p.rapid, if rapid { 3 } else { 0 }, "{ctx}");
                    if delay.is_zero() {
                        assert!(acts.contains(&Action::Spawn), "{ctx}");
                        assert!(p.restart_due, "{ctx}");
                        assert_eq!(p.restarts, restarts, "counted at the spawn: {ctx}");
                    } else {
                        assert!(!acts.contains(&Action::Spawn), "{ctx}");
                        assert_eq!(p.restarts, restarts, "counted at the spawn: {ctx}");
                        assert!(
                            matches!(&p.state, State::Backoff { until, reason }
                                    if *until == later + delay && reason.contains("restarting in")),
                            "{ctx}"
                        );
                        delayed += usize::from(!policy.restart_delay.is_zero());
                        rapid_backoff += usize::from(rapid);
                    }
                } else {
                    assert_eq!(p.state, State::Exited { status: *status }, "{ctx}");
                    assert!(!acts.contains(&Action::Spawn), "{ctx}");
                }
            }
            if let (Event::DeadlineReached, State::Backoff { .. }) = (ev, &state) {
                if want == Want::Up {
                    assert_eq!(acts, [Action::Spawn], "{ctx}");
                    assert!(p.restart_due, "{ctx}");
                    assert_eq!(p.restarts, restarts, "counted at the spawn: {ctx}");
                } else {
                    assert_eq!(p.state, State::Stopped, "{ctx}");
                }
            }
        }
    }
    assert!(pairs > 10_000, "{pairs}");
    for (what, n) in [
        ("one-shot success", one_shot),
        ("RUNNING at once", at_once),
        ("restartDelay", delayed),
        ("the rapid-exit backoff", rapid_backoff),
    ] {
        assert!(n > 0, "the sweep never saw {what}");
    }
}
