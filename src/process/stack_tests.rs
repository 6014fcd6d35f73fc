//! Table tests of one-shot jobs, the restart delay that prevents a hot
//! loop, WAITING for dependencies and the restart of an unhealthy process,
//! on a fake clock.

use std::time::{Duration, Instant};

use super::tests::{exited, graceful_stop, policy, proc_in, run, secs};
use super::*;
use crate::config::RestartPolicy;

fn spawned_running(p: &mut Proc, at: Instant) {
    let acts = run(p, Event::Spawned { pid: 10 }, at);
    assert_eq!(
        acts,
        [
            Action::Notice(Notice::Spawned { pid: 10 }),
            Action::BeginChecks
        ]
    );
    assert_eq!(p.state, State::Running { pid: 10 });
}

#[test]
fn a_one_shot_that_succeeds_during_start_is_exited_once() {
    let t0 = Instant::now();
    for restart in [RestartPolicy::Never, RestartPolicy::OnFailure] {
        let mut p = proc_in(State::Started {
            pid: 10,
            until: t0 + secs(1.0),
        });
        p.want = Want::Up;
        p.policy.restart = restart;
        let acts = run(&mut p, exited(0), t0 + secs(0.2));
        let status = ExitStatus::code(0);
        assert_eq!(p.state, State::Exited { status }, "{restart:?}");
        assert_eq!(
            acts,
            [
                Action::Notice(Notice::Exited {
                    status,
                    restarting: false,
                    expected: true,
                }),
                Action::EndedForGood {
                    code: 0,
                    essential: false
                }
            ]
        );
        assert_eq!((p.restarts, p.retries), (0, 0));
    }
}

#[test]
fn a_failed_start_is_still_retried_and_always_is_no_one_shot() {
    let t0 = Instant::now();
    for (restart, code) in [
        (RestartPolicy::OnFailure, 1),
        (RestartPolicy::Never, 3),
        (RestartPolicy::Always, 0),
    ] {
        let mut p = proc_in(State::Started {
            pid: 10,
            until: t0 + secs(1.0),
        });
        p.want = Want::Up;
        p.policy.restart = restart;
        run(&mut p, exited(code), t0);
        assert!(
            matches!(p.state, State::Backoff { .. }),
            "{restart:?} {code}: {:?}",
            p.state
        );
    }
    // A signal is never a success, even with its code expected.
    let mut p = proc_in(State::Started {
        pid: 10,
        until: t0 + secs(1.0),
    });
    p.want = Want::Up;
    p.policy.expected_exit_codes.push(137);
    run(
        &mut p,
        Event::Exited {
            status: ExitStatus::signal(9),
            group_alive: false,
        },
        t0,
    );
    assert!(matches!(p.state, State::Backoff { .. }));
}

/// Runs a process that exits `life` after each spawn, restart always,
/// successfulStartTimeout 0; returns the delays before each respawn.
fn crash_loop(p: &mut Proc, lives: &[f64], t0: Instant) -> Vec<Duration> {
    let mut now = t0;
    let mut delays = Vec::new();
    for &life in lives {
        spawned_running(p, now);
        now += secs(life);
        let acts = run(p, exited(1), now);
        match p.state.clone() {
            State::Backoff { until, reason } => {
                assert_eq!(acts.first(), Some(&Action::ArmDeadline(until)));
                assert!(reason.contains("restarting in"), "{reason}");
                assert!(
                    matches!(
                        acts.last(),
                        Some(Action::Notice(Notice::RestartDelayed { .. }))
                    ),
                    "one notice per restart: {acts:?}"
                );
                assert!(run(p, Event::DeadlineReached, until - secs(0.001)).is_empty());
                assert_eq!(run(p, Event::DeadlineReached, until), [Action::Spawn]);
                delays.push(until - now);
                now = until;
            }
            State::Exited { .. } => {
                assert_eq!(acts.last(), Some(&Action::Spawn));
                assert_eq!(
                    acts.iter()
                        .filter(|a| matches!(a, Action::Notice(_)))
                        .count(),
                    1
                );
                delays.push(Duration::ZERO);
            }
            other => panic!("{other:?}"),
        }
    }
    delays
}

/// A process wanted up, restarted whatever its exit, RUNNING as soon as
/// it is spawned.
fn crash_looper() -> Proc {
    let mut p = Proc::new(policy());
    p.want = Want::Up;
    p.policy.restart = RestartPolicy::Always;
    p.policy.start_timeout = Duration::ZERO;
    p
}

#[test]
fn quick_exits_grow_the_delay_and_a_long_life_starts_it_over() {
    let t0 = Instant::now();
    let mut p = crash_looper();
    let ms = |d: Vec<Duration>| d.iter().map(|d| d.as_millis()).collect::<Vec<_>>();
    let d = crash_loop(&mut p, &[0.01; 8], t0);
    assert_eq!(ms(d), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    // 1..10 s of life: restarted at once, the count kept.
    let d = crash_loop(&mut p, &[5.0, 0.01], t0);
    assert_eq!(ms(d), [0, 30000]);
    // 10 s or more: the delay starts over.
    let d = crash_loop(&mut p, &[10.0, 0.01, 0.01], t0);
    assert_eq!(ms(d), [0, 500, 1000]);
    // Thirteen restarts decided; the last one's spawn has not happened.
    assert_eq!(p.restarts, 12);
}

#[test]
fn a_crash_looping_false_spawns_a_handful_of_times_a_minute() {
    let t0 = Instant::now();
    let mut p = crash_looper();
    let mut now = t0;
    let mut spawns = 0;
    while now < t0 + secs(60.0) {
        spawned_running(&mut p, now);
        spawns += 1;
        run(&mut p, exited(1), now);
        let State::Backoff { until, .. } = p.state else {
            panic!("{:?}", p.state)
        };
        now = until;
        run(&mut p, Event::DeadlineReached, now);
    }
    assert!((5..=8).contains(&spawns), "{spawns} spawns in a minute");
}

#[test]
fn restart_delay_waits_before_every_policy_restart() {
    let t0 = Instant::now();
    let mut p = crash_looper();
    p.policy.restart_delay = secs(2.0);
    let d = crash_loop(&mut p, &[5.0, 0.01], t0);
    assert_eq!(d, [secs(2.0), secs(2.5)]);
    spawned_running(&mut p, t0);
    run(&mut p, exited(1), t0 + secs(5.0));
    let State::Backoff { reason, .. } = &p.state else {
        panic!()
    };
    assert_eq!(reason, "exit status 1 after 5s; restarting in 2s");
    // No restart, no delay: on-failure with a success.
    let mut p = proc_in(State::Running { pid: 10 });
    p.want = Want::Up;
    p.policy.restart_delay = secs(2.0);
    run(&mut p, exited(0), t0);
    assert_eq!(
        p.state,
        State::Exited {
            status: ExitStatus::code(0)
        }
    );
}

#[test]
fn a_start_with_dependencies_waits_until_they_are_met() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    p.policy.has_dependencies = true;
    assert_eq!(
        run(&mut p, Event::StartRequested, t0),
        [Action::AwaitDependencies]
    );
    assert_eq!(p.state, State::Waiting { released: false });
    assert!(p.state.is_down() && p.state.pid().is_none());
    assert_eq!(p.state.name(), "WAITING");
    // A stale queued turn does not bypass the wait.
    assert!(run(&mut p, Event::SpawnTurn, t0).is_empty());
    assert!(run(&mut p, Event::StartRequested, t0).is_empty());
    assert_eq!(run(&mut p, Event::DependenciesMet, t0), [Action::Spawn]);
    assert_eq!(p.state, State::Waiting { released: true });
    assert!(run(&mut p, Event::DependenciesMet, t0).is_empty());
    assert_eq!(run(&mut p, Event::SpawnTurn, t0), [Action::SpawnNow]);
    run(&mut p, Event::Spawned { pid: 10 }, t0);
    assert!(matches!(p.state, State::Started { pid: 10, .. }));
}

#[test]
fn a_failed_dependency_makes_a_waiting_process_fatal() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    p.policy.has_dependencies = true;
    p.policy.essential = true;
    run(&mut p, Event::StartRequested, t0);
    let reason = "dependency 'db' failed".to_string();
    let acts = run(
        &mut p,
        Event::DependencyFailed {
            reason: reason.clone(),
        },
        t0,
    );
    assert_eq!(
        p.state,
        State::Fatal {
            reason: reason.clone()
        }
    );
    assert_eq!(
        acts,
        [
            Action::Notice(Notice::Fatal { reason }),
            Action::EndedForGood {
                code: 1,
                essential: true
            }
        ]
    );
    // Started again, it waits again.
    assert_eq!(
        run(&mut p, Event::StartRequested, t0),
        [Action::AwaitDependencies]
    );
    // A stop ends the wait.
    assert_eq!(
        run(&mut p, Event::StopRequested, t0),
        [Action::Notice(Notice::CalledOff)]
    );
    assert_eq!((p.state.clone(), p.want), (State::Stopped, Want::Down));
}

#[test]
fn policy_restarts_do_not_wait_for_dependencies() {
    let t0 = Instant::now();
    let mut p = proc_in(State::Running { pid: 10 });
    p.want = Want::Up;
    p.policy.has_dependencies = true;
    p.policy.restart = RestartPolicy::Always;
    p.since = Some(t0);
    let acts = run(&mut p, exited(1), t0 + secs(20.0));
    assert!(acts.contains(&Action::Spawn), "{acts:?}");
    assert!(!acts.contains(&Action::AwaitDependencies));
}

#[test]
fn an_unhealthy_process_is_stopped_gracefully_and_started_again() {
    let t0 = Instant::now();
    let mut p = proc_in(State::Running { pid: 10 });
    p.want = Want::Up;
    let acts = run(&mut p, Event::Unhealthy, t0);
    assert_eq!(acts, graceful_stop(10, t0 + secs(10.0)));
    assert_eq!(p.want, Want::Up);
    assert_eq!(p.restarts, 0, "counted once it happens");
    assert_eq!(
        run(&mut p, exited(143), t0 + secs(1.0)),
        [
            Action::Notice(Notice::Stopped {
                status: Some(ExitStatus::code(143))
            }),
            Action::Spawn
        ]
    );
    assert_eq!(p.state, State::Stopped);
    assert_eq!(
        run(&mut p, Event::SpawnTurn, t0 + secs(1.0)),
        [Action::SpawnNow]
    );
    run(&mut p, Event::Spawned { pid: 11 }, t0 + secs(1.0));
    assert_eq!(p.restarts, 1, "a restart, counted");
    // Not RUNNING: nothing to do.
    for state in [
        State::Stopped,
        State::Started {
            pid: 10,
            until: t0 + secs(1.0),
        },
        State::Fatal { reason: "x".into() },
    ] {
        let mut p = proc_in(state.clone());
        assert!(run(&mut p, Event::Unhealthy, t0).is_empty());
        assert_eq!(p.state, state);
    }
}

#[test]
fn checks_begin_when_running_is_reached() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    run(&mut p, Event::StartRequested, t0);
    assert_eq!(
        run(&mut p, Event::Spawned { pid: 10 }, t0),
        [
            Action::Notice(Notice::Spawned { pid: 10 }),
            Action::ArmDeadline(t0 + secs(1.0))
        ]
    );
    assert_eq!(
        run(&mut p, Event::DeadlineReached, t0 + secs(1.0)),
        [Action::Notice(Notice::Running), Action::BeginChecks]
    );
}
