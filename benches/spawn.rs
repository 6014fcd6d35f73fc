//! Spawn-and-reap of 1 000 and 5 000 real children (`sleep`), with stdin on
//! /dev/null and stdout/stderr on pipes, three ways side by side:
//!
//! - `taskmaster::spawn::spawn` (clone with CLONE_VM | CLONE_VFORK on its
//!   own stack, the way taskmaster spawns);
//! - `fork`: the former path, `std::process::Command` with a `pre_exec`
//!   closure (std then always forks), kept here only to measure against;
//! - `posix_spawn`: the raw baseline of `compare`.
//!
//! Each runs in a small parent and again with 512 MiB of touched heap, to
//! show whether the spawn gets slower as the supervisor grows (fork copies
//! the page tables of the whole address space). Children are SIGKILLed and
//! reaped by pid at the end of each run.
//! Run: `cargo bench --bench spawn`.

#[path = "common/raw_baseline.rs"]
#[allow(dead_code)]
mod raw_baseline;

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use taskmaster::config::TaskSpec;

fn task() -> TaskSpec {
    let yaml = "tasks:\n  s:\n    command: sleep 100000\n";
    let c = taskmaster::config::parse(yaml, Path::new("bench.yaml"), false).expect("config");
    c.tasks.into_values().next().expect("one task")
}

/// The former spawn path: fork via std with the same child setup. The
/// caller reaps the child by pid.
#[allow(clippy::zombie_processes)]
fn fork_spawn(task: &TaskSpec) -> (i32, [OwnedFd; 2]) {
    let mut cmd = Command::new(&task.argv[0]);
    cmd.args(&task.argv[1..])
        .envs(&task.environment)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let death_signal = task.stop_signal;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: runs between fork and exec; only async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || {
            taskmaster::spawn::reset_signal_dispositions();
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                death_signal as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent {
                libc::_exit(128 + death_signal);
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("fork spawn");
    let out: OwnedFd = child.stdout.take().expect("stdout").into();
    let err: OwnedFd = child.stderr.take().expect("stderr").into();
    (child.id() as i32, [out, err])
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Clone,
    Fork,
    PosixSpawn,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Clone => "taskmaster::spawn (clone vfork)",
            Way::Fork => "fork + pre_exec (former)",
            Way::PosixSpawn => "posix_spawn (raw baseline)",
        }
    }
}

/// Spawns `n` children, then SIGKILLs and reaps them all; returns both
/// durations.
fn spawn_and_reap(
    way: Way,
    n: usize,
    task: &TaskSpec,
    raw: &raw_baseline::Spawner,
    ours: &mut taskmaster::spawn::Spawner,
) -> (Duration, Duration) {
    let mut kids: Vec<(i32, [OwnedFd; 2])> = Vec::with_capacity(n);
    let t = Instant::now();
    for _ in 0..n {
        kids.push(match way {
            Way::Clone => {
                let c = ours.spawn(task).expect("spawn");
                (c.pid, [c.stdout, c.stderr])
            }
            Way::Fork => fork_spawn(task),
            Way::PosixSpawn => raw.spawn(),
        });
    }
    let spawned = t.elapsed();
    let t = Instant::now();
    for (pid, _) in &kids {
        // SAFETY: SIGKILL to a child this run spawned and has not reaped.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
    for (pid, _) in &kids {
        let mut st = 0;
        // SAFETY: reaps our own child.
        unsafe { libc::waitpid(*pid, &mut st, 0) };
    }
    let reaped = t.elapsed();
    drop(kids);
    (spawned, reaped)
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let reps = if quick { 1 } else { 3 };
    raw_baseline::raise_nofile(5000);
    let task = task();
    let raw = raw_baseline::Spawner::new(&["sleep".to_string(), "100000".to_string()]);
    let mut ours = taskmaster::spawn::Spawner::new(None);
    let mut ballast: Vec<u8> = Vec::new();
    for grown in [false, true] {
        if grown {
            // Touch every page so it is really mapped (and copied by fork).
            ballast = vec![1u8; 512 << 20];
            for i in (0..ballast.len()).step_by(4096) {
                ballast[i] = (i % 251) as u8;
            }
        }
        let rss = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS"))
                    .map(|l| l.to_string())
            })
            .unwrap_or_default();
        println!(
            "parent {}",
            rss.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        for n in [1000, 5000] {
            for way in [Way::Clone, Way::Fork, Way::PosixSpawn] {
                if grown && way == Way::Fork && n > 1000 {
                    // Minutes: every fork copies the page tables of 512 MiB.
                    continue;
                }
                let mut runs: Vec<(Duration, Duration)> = (0..reps)
                    .map(|_| spawn_and_reap(way, n, &task, &raw, &mut ours))
                    .collect();
                runs.sort();
                let (s, r) = runs[runs.len() / 2];
                println!(
                    "spawn {n:>5} {:<32} spawn {:>8.1} ms ({:>6.1} us each)   kill+reap {:>7.1} ms",
                    way.name(),
                    s.as_secs_f64() * 1e3,
                    s.as_secs_f64() * 1e6 / n as f64,
                    r.as_secs_f64() * 1e3
                );
            }
        }
    }
    std::hint::black_box(&ballast);
}
