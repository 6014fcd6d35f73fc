//! Timing helpers shared by the micro benchmarks: run a closure a few
//! times, keep the median, print one aligned line. Plain `Instant`, no
//! framework; `BENCH_QUICK=1` asks for fewer runs.

use std::time::{Duration, Instant};

/// How many times each measurement runs (the median is reported).
pub fn runs() -> usize {
    if std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1") {
        3
    } else {
        11
    }
}

/// The median of `runs()` timings of `f`, which does `ops` operations.
/// `setup` runs before each timing, outside it.
pub fn median_of<S>(mut setup: impl FnMut() -> S, mut f: impl FnMut(S)) -> Duration {
    let mut times: Vec<Duration> = (0..runs())
        .map(|_| {
            let s = setup();
            let t = Instant::now();
            f(s);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

/// Prints `name: total, per op`.
pub fn report(name: &str, total: Duration, ops: usize) {
    let per = total.as_secs_f64() * 1e9 / ops as f64;
    let per = if per >= 10_000.0 {
        format!("{:>9.1} us/op", per / 1000.0)
    } else {
        format!("{per:>9.1} ns/op")
    };
    println!(
        "{name:<58} {:>10.3} ms   {per}   ({ops} ops)",
        total.as_secs_f64() * 1e3
    );
}
