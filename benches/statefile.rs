//! What the state file costs (`<socket>.state`, `src/strays.rs`): the
//! release build of taskmaster with it and without it
//! (`TASKMASTER_NO_STATE_FILE=1`), side by side in one run, the two
//! alternating (their order swapped every repetition) so that a change in
//! the machine's load hits both alike. Workloads as in `compare.rs`:
//!
//! - up: N `sleep 100000`, seconds until `status --json` reports all
//!   RUNNING; then the size of the state file;
//! - down: SIGTERM with N up, seconds until the supervisor and every child
//!   are gone;
//! - churn: N `sleep 0.5` with restart always: spawns per second and the
//!   supervisor's CPU over a window, after a warm-up.
//!
//! On a shared machine wall times move with the load; the supervisor's own
//! CPU time (to bring N up; per 1000 spawns in churn) moves much less, so
//! both are shown. Last, the state file's own operations are timed in
//! process: recording N groups, one whole write of the file with N groups,
//! and forgetting them.
//!
//! Run: `cargo bench --bench statefile`. Knobs: `BENCH_N=1000,9968`
//! (default; N is capped to what the hard RLIMIT_NOFILE allows),
//! `BENCH_REPS=3`, `BENCH_CHURN=10` (seconds). Every process started is
//! killed by pid at the end of its run (the bench is a child subreaper, and
//! the supervisor gets a parent-death signal).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn children(pid: i32) -> Vec<i32> {
    read(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// utime + stime in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = read(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit_once(')')
        .map_or("", |x| x.1)
        .split_whitespace()
        .collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf only reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn pid_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn reap_orphans() {
    // SAFETY: waitpid on our own children, without waiting.
    while unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } > 0 {}
}

fn request(path: &Path, bytes: &[u8]) -> Option<String> {
    let mut s = UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    s.write_all(bytes).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// One taskmaster under test.
struct Sup {
    child: Option<Child>,
    pid: i32,
    dir: PathBuf,
    seen: Vec<i32>,
}

impl Sup {
    fn start(dir: &Path, n: usize, churn: bool, state: bool) -> Sup {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("run dir");
        let conf = dir.join("tm.yaml");
        let (arg, restart) = if churn {
            ("0.5", "always")
        } else {
            ("100000", "on-failure")
        };
        std::fs::write(
            &conf,
            format!(
                "tasks:\n  s:\n    command: sleep {arg}\n    instances: {n}\n    successfulStartTimeout: 0\n    restart: {restart}\n"
            ),
        )
        .expect("config");
        let mut c = Command::new(TASKMASTER);
        c.arg("--no-shell")
            .arg("--socket")
            .arg(dir.join("tm.sock"))
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).expect("log"));
        if !state {
            c.env("TASKMASTER_NO_STATE_FILE", "1");
        }
        // SAFETY: prctl is async-signal-safe; it runs between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = c.spawn().expect("spawn taskmaster");
        let pid = child.id() as i32;
        let sock = dir.join("tm.sock");
        let t0 = Instant::now();
        while UnixStream::connect(&sock).is_err() {
            assert!(t0.elapsed() < Duration::from_secs(30), "no socket");
            std::thread::sleep(Duration::from_millis(5));
        }
        Sup {
            child: Some(child),
            pid,
            dir: dir.to_path_buf(),
            seen: Vec::new(),
        }
    }

    fn json(&self) -> String {
        request(&self.dir.join("tm.sock"), b"status --json\n").unwrap_or_default()
    }

    fn running(&self) -> usize {
        self.json().matches("\"state\":\"RUNNING\"").count()
    }

    /// First spawns and restarts so far.
    fn spawns(&self) -> u64 {
        let text = self.json();
        let rows: serde_json::Value =
            serde_json::from_str(text.split_once('\n').map_or("", |x| x.1)).unwrap_or_default();
        rows.as_array().map_or(0, |rows| {
            rows.iter()
                .map(|r| r["restarts"].as_u64().unwrap_or(0) + 1)
                .sum()
        })
    }

    fn kill_all(&mut self) {
        self.seen.extend(children(self.pid));
        for &c in &self.seen {
            // SAFETY: pids of this run's children, each its group's leader.
            unsafe {
                libc::kill(-c, libc::SIGKILL);
                libc::kill(c, libc::SIGKILL);
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let t0 = Instant::now();
        while self.seen.iter().any(|&p| pid_exists(p)) && t0.elapsed() < Duration::from_secs(10) {
            reap_orphans();
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        self.kill_all();
    }
}

#[derive(Default, Clone)]
struct Run {
    up: f64,
    /// Supervisor CPU seconds until all were RUNNING.
    up_cpu: f64,
    /// Supervisor CPU milliseconds per 1000 spawns in churn.
    churn_cpu_per_k: f64,
    down: f64,
    state_bytes: u64,
    spawns_per_sec: f64,
    cpu_pct: f64,
}

fn run_up(work: &Path, n: usize, state: bool) -> Run {
    let mut r = Run::default();
    let t0 = Instant::now();
    let mut sup = Sup::start(&work.join("up"), n, false, state);
    loop {
        if sup.running() >= n {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "not all up");
        std::thread::sleep(Duration::from_millis(20));
    }
    r.up = t0.elapsed().as_secs_f64();
    r.up_cpu = cpu_ticks(sup.pid) as f64 / clk_tck();
    // Let the last write land, then note the file's size.
    std::thread::sleep(Duration::from_millis(300));
    r.state_bytes = std::fs::metadata(sup.dir.join("tm.sock.state")).map_or(0, |m| m.len());
    sup.seen = children(sup.pid);
    let t1 = Instant::now();
    // SAFETY: SIGTERM to the supervisor this run started.
    unsafe { libc::kill(sup.pid, libc::SIGTERM) };
    loop {
        let exited = sup
            .child
            .as_mut()
            .is_none_or(|c| matches!(c.try_wait(), Ok(Some(_))));
        reap_orphans();
        if exited && !sup.seen.iter().any(|&p| pid_exists(p)) {
            break;
        }
        assert!(t1.elapsed() < Duration::from_secs(120), "not all down");
        std::thread::sleep(Duration::from_millis(2));
    }
    r.down = t1.elapsed().as_secs_f64();
    r
}

fn run_churn(work: &Path, n: usize, state: bool, window: Duration, into: &mut Run) {
    let sup = Sup::start(&work.join("churn"), n, true, state);
    std::thread::sleep(Duration::from_secs(3));
    let (s0, c0, t0) = (sup.spawns(), cpu_ticks(sup.pid), Instant::now());
    std::thread::sleep(window);
    let (s1, c1) = (sup.spawns(), cpu_ticks(sup.pid));
    let span = t0.elapsed().as_secs_f64();
    into.spawns_per_sec = s1.saturating_sub(s0) as f64 / span;
    into.cpu_pct = c1.saturating_sub(c0) as f64 / clk_tck() / span * 100.0;
    let spawns = s1.saturating_sub(s0).max(1) as f64;
    into.churn_cpu_per_k = c1.saturating_sub(c0) as f64 / clk_tck() * 1000.0 / spawns * 1000.0;
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit on a local struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let cap = (lim.rlim_max.saturating_sub(64) / 2) as usize;
    let ns: Vec<usize> = std::env::var("BENCH_N")
        .unwrap_or_else(|_| "1000,9968".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .map(|n: usize| n.min(cap))
        .collect();
    let reps: usize = env_or("BENCH_REPS", 3);
    let window = Duration::from_secs_f64(env_or("BENCH_CHURN", 10.0));
    // SAFETY: plain prctl: orphans come to us, to be reaped.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let work = std::env::temp_dir().join(format!("tm-bench-state-{}", std::process::id()));
    println!(
        "loadavg at start: {}; {reps} runs per N and variant, alternating; churn window {} s",
        read("/proc/loadavg").unwrap_or_default().trim(),
        window.as_secs_f64()
    );
    let mut table = String::from(
        "| N | state file | up s | up CPU s | down s | file bytes | churn spawns/s | churn CPU % | churn CPU ms / 1000 spawns |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for &n in &ns {
        let mut runs: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
        for rep in 0..reps {
            let order = if rep % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for state in order {
                let mut r = run_up(&work, n, state);
                run_churn(&work, n, state, window, &mut r);
                println!(
                    "N={n} rep {rep} state={state}: up {:.3} s ({:.2} s CPU), down {:.3} s, file {} B, churn {:.0}/s at {:.1} % CPU ({:.0} ms CPU per 1000 spawns)",
                    r.up,
                    r.up_cpu,
                    r.down,
                    r.state_bytes,
                    r.spawns_per_sec,
                    r.cpu_pct,
                    r.churn_cpu_per_k
                );
                runs[usize::from(!state)].push(r);
            }
        }
        for (i, label) in ["with", "without"].iter().enumerate() {
            let m = |f: fn(&Run) -> f64| median(runs[i].iter().map(f).collect());
            table.push_str(&format!(
                "| {n} | {label} | {:.3} | {:.2} | {:.3} | {:.0} | {:.0} | {:.1} | {:.0} |\n",
                m(|r| r.up),
                m(|r| r.up_cpu),
                m(|r| r.down),
                m(|r| r.state_bytes as f64),
                m(|r| r.spawns_per_sec),
                m(|r| r.cpu_pct),
                m(|r| r.churn_cpu_per_k)
            ));
        }
    }
    table.push_str(&micro(&ns, &work));
    let _ = std::fs::remove_dir_all(&work);
    println!("\nmedians:\n\n{table}");
}

/// The state file's operations alone, median of 11 rounds each.
fn micro(ns: &[usize], work: &Path) -> String {
    use taskmaster::strays::{StateFile, path_for};
    let mut out = String::from(
        "\n| N | record N spawns | one write of the file | forget N exits |\n|---|---|---|---|\n",
    );
    let _ = std::fs::create_dir_all(work);
    for &n in ns {
        let (mut rec, mut write, mut forget) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..11 {
            let (mut s, _) = StateFile::create(path_for(&work.join("micro.sock")));
            let t = Instant::now();
            for pid in 0..n as i32 {
                s.started(100_000 + pid, (1, 2), 15, Duration::from_secs(10), "s_1234");
            }
            rec.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let _ = s.flush(Instant::now());
            write.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for pid in 0..n as i32 {
                s.leader_exited(100_000 + pid, false);
            }
            forget.push(t.elapsed().as_secs_f64());
            s.finish(true);
        }
        let us = |v: Vec<f64>| format!("{:.0} µs", median(v) * 1e6);
        out.push_str(&format!(
            "| {n} | {} | {} | {} |\n",
            us(rec),
            us(write),
            us(forget)
        ));
    }
    out
}
