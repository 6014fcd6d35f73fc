//! `process::step` over 10 000 processes: the pure state machine's cost per
//! event, for the transitions a supervisor of many processes runs most
//! (start, spawned, exit with restart, stop, exit while stopping, deadline).
//! Run: `cargo bench --bench step`.

#[path = "common/timing.rs"]
mod timing;

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskmaster::config::RestartPolicy;
use taskmaster::process::{Action, Event, ExitStatus, Policy, Proc, State, step};

const N: usize = 10_000;

fn policy(start_timeout: Duration) -> Policy {
    Policy {
        restart: RestartPolicy::Always,
        expected_exit_codes: vec![0],
        start_timeout,
        restart_attempts: 3,
        stop_signal: libc::SIGTERM,
        stop_timeout: Duration::from_secs(10),
        essential: false,
        restart_delay: Duration::ZERO,
        has_dependencies: false,
    }
}

fn procs(start_timeout: Duration) -> Vec<Proc> {
    (0..N).map(|_| Proc::new(policy(start_timeout))).collect()
}

/// Applies `ev(i)` to every process; returns how many actions came out.
fn each(ps: &mut [Proc], now: Instant, out: &mut Vec<Action>, ev: impl Fn(usize) -> Event) {
    for (i, p) in ps.iter_mut().enumerate() {
        out.clear();
        step(p, ev(i), now, out);
        black_box(&out);
    }
}

fn main() {
    let t0 = Instant::now();
    let exited = |code| Event::Exited {
        status: ExitStatus::code(code),
        group_alive: false,
    };
    for (label, timeout) in [
        ("startTimeout 0", Duration::ZERO),
        ("startTimeout 1s", Duration::from_secs(1)),
    ] {
        let d = timing::median_of(
            || procs(timeout),
            |mut ps| {
                let mut out = Vec::with_capacity(4);
                each(&mut ps, t0, &mut out, |_| Event::StartRequested);
                each(&mut ps, t0, &mut out, |i| Event::Spawned {
                    pid: 1000 + i as i32,
                });
            },
        );
        timing::report(
            &format!("step: start + spawned, 10k procs ({label})"),
            d,
            2 * N,
        );
    }
    let running = || {
        let mut ps = procs(Duration::ZERO);
        let mut out = Vec::new();
        each(&mut ps, t0, &mut out, |_| Event::StartRequested);
        each(&mut ps, t0, &mut out, |i| Event::Spawned {
            pid: 1000 + i as i32,
        });
        assert!(matches!(ps[0].state(), State::Running { .. }));
        ps
    };
    let d = timing::median_of(running, |mut ps| {
        let mut out = Vec::with_capacity(4);
        each(&mut ps, t0, &mut out, |_| exited(0));
        each(&mut ps, t0, &mut out, |i| Event::Spawned {
            pid: 20000 + i as i32,
        });
    });
    timing::report("step: exit + respawn (restart always), 10k procs", d, 2 * N);
    let d = timing::median_of(running, |mut ps| {
        let mut out = Vec::with_capacity(4);
        each(&mut ps, t0, &mut out, |_| Event::StopRequested);
        each(&mut ps, t0, &mut out, |_| exited(143));
    });
    timing::report("step: stop + exit while stopping, 10k procs", d, 2 * N);
    let d = timing::median_of(
        || {
            let mut ps = procs(Duration::from_secs(1));
            let mut out = Vec::new();
            each(&mut ps, t0, &mut out, |_| Event::StartRequested);
            each(&mut ps, t0, &mut out, |i| Event::Spawned {
                pid: 1000 + i as i32,
            });
            ps
        },
        |mut ps| {
            let mut out = Vec::with_capacity(4);
            each(&mut ps, t0 + Duration::from_secs(2), &mut out, |_| {
                Event::DeadlineReached
            });
        },
    );
    timing::report("step: start deadline reached, 10k procs", d, N);
}
