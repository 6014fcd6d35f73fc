//! The timer heap with 10 000 deadlines (`timers.rs`): push them in
//! scrambled order, pop them as they expire, and re-arm the timerfd to the
//! earliest one as the loop does once per iteration.
//! Run: `cargo bench --bench timers`.

#[path = "common/timing.rs"]
mod timing;

use std::hint::black_box;
use std::time::{Duration, Instant};

use taskmaster::timers::{Due, Timers};

const N: usize = 10_000;

/// The deadlines, in a fixed scrambled order.
fn deadlines(t0: Instant) -> Vec<(Instant, Due)> {
    (0..N)
        .map(|i| {
            let k = (i * 7919) % N;
            (t0 + Duration::from_micros(k as u64 * 100), Due::Proc(k))
        })
        .collect()
}

fn main() {
    let t0 = Instant::now() + Duration::from_secs(3600);
    let ds = deadlines(t0);
    let d = timing::median_of(
        || Timers::new().expect("timerfd"),
        |mut t| {
            for &(at, due) in &ds {
                t.push(at, due);
            }
            black_box(t.len());
        },
    );
    timing::report("timers: push 10k deadlines", d, N);
    let full = || {
        let mut t = Timers::new().expect("timerfd");
        for &(at, due) in &ds {
            t.push(at, due);
        }
        t
    };
    let end = t0 + Duration::from_secs(10);
    let d = timing::median_of(full, |mut t| {
        while let Some(e) = t.pop_expired(end) {
            black_box(e);
        }
    });
    timing::report("timers: pop 10k expired deadlines", d, N);
    let d = timing::median_of(full, |mut t| {
        // One new earliest deadline per iteration: each arm is a syscall.
        for i in 0..1000 {
            t.push(t0 - Duration::from_micros(i), Due::Conn(i as usize));
            t.arm_earliest(t0 - Duration::from_secs(1)).expect("arm");
        }
    });
    timing::report("timers: push + re-arm timerfd, heap of 10k", d, 1000);
    let d = timing::median_of(full, |mut t| {
        // The earliest did not change: no syscall.
        for _ in 0..1000 {
            t.arm_earliest(t0).expect("arm");
        }
    });
    timing::report("timers: re-arm, earliest unchanged, heap of 10k", d, 1000);
}
