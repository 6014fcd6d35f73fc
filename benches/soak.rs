//! Soak: the release supervisor runs 1000 crash-looping processes (each
//! prints 41 lines, lives about three seconds, says it crashes on stderr
//! and exits 1; `restart: on-failure` spawns it again at once) while a
//! client asks `status` over the control socket every 100 ms. Every 10 s it
//! samples the supervisor's open fds (`/proc/PID/fd`), resident memory
//! (VmRSS), zombie children, live children, total restarts and the status
//! latency of the window, and prints the series. The output fills every
//! process's 64 KiB ring within the first two minutes; from then on
//! everything but the restart count must stay flat.
//!
//! Run: `cargo bench --bench soak` (10 minutes; `SOAK_SECS=60` for a short
//! run, `SOAK_PROCS=N` for another number of processes). The supervisor is
//! stopped with SIGTERM at the end, SIGKILLed by pid if it does not go, and
//! its children follow it through their parent-death signal.
//!
//! `BENCH_TASKMASTER=/path/to/taskmaster` soaks that binary instead of the
//! one this bench was built with (run once per build to compare two; the
//! binary's path is printed first).

#[path = "common/supervisor.rs"]
#[allow(dead_code)]
mod supervisor;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use supervisor::{Supervisor, TASKMASTER, env_number, fresh_dir};
const SAMPLE_EVERY: Duration = Duration::from_secs(10);
const ASK_EVERY: Duration = Duration::from_millis(100);

/// The binary under test: `BENCH_TASKMASTER`, else the one built here.
fn binary() -> PathBuf {
    std::env::var_os("BENCH_TASKMASTER")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from(TASKMASTER), PathBuf::from)
}

/// The supervisor soaked: `binary()`, with a shell, on `procs` instances
/// of the crash loop; 30 s to come up and to go, 10 s for a reply.
fn start(procs: u64) -> Supervisor {
    let dir = fresh_dir("tm-soak");
    let config = dir.join("soak.yaml");
    std::fs::write(
        &config,
        format!(
            "tasks:
  crash:
    command: sh -c 'echo \"up $$\"; i=0; while [ $i -lt 40 ]; do echo \"line $i of a crash-looping process, fifty bytes\"; i=$((i+1)); done; sleep 3; echo crashing >&2; exit 1'
    instances: {procs}
    restart: on-failure
    successfulStartTimeout: 0
    gracefulStopTimeout: 2
"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(binary());
    // A shell on a pipe that stays open: no forwarding of the children's
    // lines, which would only measure the pipe's reader.
    cmd.stdin(Stdio::piped());
    Supervisor::launch(
        cmd,
        dir,
        &config,
        Duration::from_secs(30),
        Duration::from_secs(10),
    )
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn status_kib(pid: i32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .trim_end_matches(" kB")
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// (children, zombie children) of `ppid`.
fn children(ppid: i32) -> (usize, usize) {
    let (mut all, mut zombies) = (0, 0);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) =
            std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat"))
        else {
            continue;
        };
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 2 && f[1].parse::<i32>() == Ok(ppid) {
            all += 1;
            zombies += usize::from(f[0] == "Z");
        }
    }
    (all, zombies)
}

struct Sample {
    at: Duration,
    fds: usize,
    rss_kib: u64,
    zombies: usize,
    children: usize,
    restarts: u64,
    asked: usize,
    p50: Duration,
    max: Duration,
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter that
    // this one bench does not use.
    let secs = env_number("SOAK_SECS", 600);
    let procs = env_number("SOAK_PROCS", 1000);
    println!("soak: {procs} crash-looping processes, status every 100 ms, for {secs} s");
    println!("binary: {}", binary().display());
    let sup = start(procs);
    let pid = sup.pid();
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut samples: Vec<Sample> = Vec::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut next_ask = start;
    let mut next_sample = start + SAMPLE_EVERY;
    println!(
        "{:>6} {:>6} {:>9} {:>8} {:>9} {:>9} {:>6} {:>8} {:>8}",
        "t (s)", "fds", "RSS (KiB)", "zombies", "children", "restarts", "asked", "p50 ms", "max ms"
    );
    loop {
        let now = Instant::now();
        if now >= next_ask {
            let t = Instant::now();
            let reply = sup.ask("status");
            latencies.push(t.elapsed());
            assert!(reply.contains("crash_1"), "status lacks processes");
            next_ask += ASK_EVERY;
            if next_ask < Instant::now() {
                // Fell behind: keep the pace, do not burst.
                next_ask = Instant::now() + ASK_EVERY;
            }
        }
        if now >= next_sample {
            latencies.sort();
            let (children, zombies) = children(pid);
            let s = Sample {
                at: now - start,
                fds: open_fds(pid),
                rss_kib: status_kib(pid, "VmRSS"),
                zombies,
                children,
                restarts: sup.total_restarts(),
                asked: latencies.len(),
                p50: latencies
                    .get(latencies.len() / 2)
                    .copied()
                    .unwrap_or_default(),
                max: latencies.last().copied().unwrap_or_default(),
            };
            println!(
                "{:>6} {:>6} {:>9} {:>8} {:>9} {:>9} {:>6} {:>8} {:>8}",
                s.at.as_secs(),
                s.fds,
                s.rss_kib,
                s.zombies,
                s.children,
                s.restarts,
                s.asked,
                ms(s.p50),
                ms(s.max)
            );
            samples.push(s);
            latencies.clear();
            next_sample += SAMPLE_EVERY;
        }
        if now >= end {
            break;
        }
        let wake = next_ask.min(next_sample).min(end);
        std::thread::sleep(wake.saturating_duration_since(Instant::now()));
    }
    let hwm = status_kib(pid, "VmHWM");
    drop(sup);
    if samples.len() >= 2 {
        // The first half fills the rings; flatness is judged on the second.
        let steady = &samples[samples.len() / 2..];
        let range = |f: &dyn Fn(&Sample) -> u64| {
            let lo = steady.iter().map(f).min().unwrap_or(0);
            let hi = steady.iter().map(f).max().unwrap_or(0);
            (lo, hi)
        };
        let (fd_lo, fd_hi) = range(&|s| s.fds as u64);
        let (rss_lo, rss_hi) = range(&|s| s.rss_kib);
        let (z_lo, z_hi) = range(&|s| s.zombies as u64);
        let (max_lo, max_hi) = range(&|s| s.max.as_micros() as u64);
        let last = samples.last().expect("two samples");
        println!(
            "second half: fds {fd_lo}..{fd_hi}, RSS {rss_lo}..{rss_hi} KiB (peak {hwm} KiB), zombies {z_lo}..{z_hi}, worst status {:.1}..{:.1} ms; {} restarts in {} s ({:.0}/s)",
            max_lo as f64 / 1000.0,
            max_hi as f64 / 1000.0,
            last.restarts,
            last.at.as_secs(),
            last.restarts as f64 / last.at.as_secs_f64()
        );
    }
}
