//! Table tests of what `step` says follows from a transition: notices,
//! the end of a process, whether a queued spawn still happens. Fake clock.

use std::time::Instant;

use super::tests::{exited, policy, proc_in, run, secs};
use super::*;
use crate::config::RestartPolicy;

#[test]
fn exit_while_running_tells_and_ends_for_good_without_restart() {
    let t0 = Instant::now();
    let status = ExitStatus::code(3);
    let mut p = proc_in(State::Running { pid: 9 });
    p.want = Want::Up;
    p.policy.restart = RestartPolicy::Never;
    p.policy.essential = true;
    assert_eq!(
        run(&mut p, exited(3), t0),
        [
            Action::Notice(Notice::Exited {
                status,
                restarting: false,
                expected: false,
            }),
            Action::EndedForGood {
                code: 3,
                essential: true
            }
        ]
    );
    let mut p = proc_in(State::Running { pid: 9 });
    p.want = Want::Up;
    p.policy.restart = RestartPolicy::Always;
    // It lived 5 s: restarted at once.
    p.since = Some(t0);
    assert_eq!(
        run(&mut p, exited(3), t0 + secs(5.0)),
        [
            Action::Notice(Notice::Exited {
                status,
                restarting: true,
                expected: false,
            }),
            Action::Spawn
        ],
        "a restart coming is no end"
    );
    // Stopped on request: told as stopped, no end.
    let mut p = proc_in(State::Running { pid: 9 });
    run(&mut p, Event::StopRequested, t0);
    assert_eq!(
        run(&mut p, exited(143), t0),
        [Action::Notice(Notice::Stopped {
            status: Some(ExitStatus::code(143))
        })]
    );
}

#[test]
fn a_queued_spawn_happens_only_while_still_wanted() {
    let t0 = Instant::now();
    let mut p = Proc::new(policy());
    assert_eq!(run(&mut p, Event::StartRequested, t0), [Action::Spawn]);
    assert_eq!(run(&mut p, Event::SpawnTurn, t0), [Action::SpawnNow]);
    // A stop between the queueing and the turn cancels it.
    let mut p = Proc::new(policy());
    run(&mut p, Event::StartRequested, t0);
    run(&mut p, Event::StopRequested, t0);
    assert!(run(&mut p, Event::SpawnTurn, t0).is_empty());
    // A leader alive or a group being stopped: no spawn.
    for state in [
        State::Running { pid: 3 },
        State::Started {
            pid: 3,
            until: t0 + secs(1.0),
        },
        State::Stopping {
            pid: 3,
            kill_at: None,
            leader_gone: true,
        },
    ] {
        let mut p = proc_in(state.clone());
        p.want = Want::Up;
        assert!(run(&mut p, Event::SpawnTurn, t0).is_empty(), "{state:?}");
    }
    // BACKOFF's next try is a spawn like any other.
    let mut p = proc_in(State::Backoff {
        until: t0,
        reason: "r".into(),
    });
    p.want = Want::Up;
    assert_eq!(run(&mut p, Event::SpawnTurn, t0), [Action::SpawnNow]);
}

#[test]
fn a_failure_repeated_in_the_same_state_is_told_once() {
    let t0 = Instant::now();
    let transient = || Event::SpawnFailed {
        reason: "cannot spawn x: Resource temporarily unavailable".into(),
        transient: true,
    };
    let mut p = Proc::new(policy());
    run(&mut p, Event::StartRequested, t0);
    let acts = run(&mut p, transient(), t0);
    assert!(matches!(
        acts[0],
        Action::Notice(Notice::FailedToStart { retry: 1, .. })
    ));
    run(&mut p, Event::DeadlineReached, t0 + secs(0.5));
    let acts = run(&mut p, transient(), t0 + secs(0.5));
    assert_eq!(
        acts,
        [Action::ArmDeadline(t0 + secs(1.5))],
        "no second notice"
    );
    assert_eq!(p.retries, 2);

    let fatal = || Event::SpawnFailed {
        reason: "cannot spawn x: No such file or directory".into(),
        transient: false,
    };
    let mut p = Proc::new(policy());
    p.policy.essential = true;
    run(&mut p, Event::StartRequested, t0);
    let acts = run(&mut p, fatal(), t0);
    assert_eq!(
        acts,
        [
            Action::Notice(Notice::Fatal {
                reason: "cannot spawn x: No such file or directory".into()
            }),
            Action::EndedForGood {
                code: 1,
                essential: true
            }
        ]
    );
    // `start` on the FATAL process fails the same way: nothing new to tell.
    run(&mut p, Event::StartRequested, t0);
    assert!(run(&mut p, fatal(), t0).is_empty());
}
