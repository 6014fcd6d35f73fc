//! Service stacks at scale, side by side in one run (release build):
//!
//! - tcp: 1 000 `sleep` processes, each with a `tcp` check every 1 s
//!   against one listener on 127.0.0.1 (a thread of this harness that
//!   accepts and closes), next to the same 1 000 without checks: the
//!   supervisor's CPU (% of one core), wake-ups (context switches) per
//!   second and `status --json` round trip p50/p99 over a window;
//! - exec: 1 000 processes with a `command: true` check every 5 s (200
//!   check spawns a second), same measures;
//! - deps: 1 000 tasks in 10 layers of 100 (each depends on two tasks of
//!   the layer below with `running`; `successfulStartTimeout: 0`) against
//!   1 000 independent tasks: seconds from the supervisor's start to all
//!   RUNNING, median of 3.
//!
//! Run: `cargo bench --bench stacks` (`BENCH_QUICK=1` for a 5 s window and
//! one repetition). Every supervisor is killed with its process groups by
//! pid at the end of its run; children also get the parent-death signal.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");
const N: usize = 1000;

fn quick() -> bool {
    std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// utime + stime, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let s = read(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = s.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

fn ctx_switches(pid: i32) -> u64 {
    let s = read(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .filter(|l| l.contains("ctxt_switches"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf only reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// One request on the control socket: the reply and its round trip.
fn request(sock: &Path, line: &str) -> Option<(String, Duration)> {
    let t = Instant::now();
    let mut s = UnixStream::connect(sock).ok()?;
    s.write_all(line.as_bytes()).ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    Some((reply, t.elapsed()))
}

struct Sup {
    child: Child,
    dir: PathBuf,
    started: Instant,
}

impl Sup {
    fn start(name: &str, yaml: &str) -> Sup {
        let dir =
            std::env::temp_dir().join(format!("tm-bench-stacks-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tm.yaml"), yaml).unwrap();
        let started = Instant::now();
        let mut cmd = Command::new(TASKMASTER);
        cmd.args(["--no-shell", "--socket"])
            .arg(dir.join("tm.sock"))
            .arg(dir.join("tm.yaml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn taskmaster");
        let sup = Sup {
            child,
            dir,
            started,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(sup.sock()).is_err() {
            assert!(Instant::now() < deadline, "no control socket");
            std::thread::sleep(Duration::from_millis(2));
        }
        sup
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("tm.sock")
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Waits until `count(status)` reaches N; seconds since start.
    fn wait_all(&self, what: &str, count: impl Fn(&str) -> usize) -> f64 {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some((r, d)) = request(&self.sock(), "status --json\n")
                && count(&r) >= N
            {
                return (self.started.elapsed() - d / 2).as_secs_f64();
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// CPU % of a core, wake-ups/s and status p50/p99 (ms) over `window`,
    /// with a status query every 100 ms.
    fn measure(&self, window: Duration) -> (f64, f64, f64, f64) {
        let (t0, c0, x0) = (
            Instant::now(),
            cpu_ticks(self.pid()),
            ctx_switches(self.pid()),
        );
        let mut lat = Vec::new();
        while t0.elapsed() < window {
            let (_, d) = request(&self.sock(), "status --json\n").expect("status");
            lat.push(d.as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(100));
        }
        let el = t0.elapsed().as_secs_f64();
        // Our own queries cost it too: that is part of what is measured.
        let cpu = (cpu_ticks(self.pid()) - c0) as f64 / clk_tck() / el * 100.0;
        let wakeups = (ctx_switches(self.pid()) - x0) as f64 / el;
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
        (cpu, wakeups, pct(0.5), pct(0.99))
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        // Every group it started, then itself.
        if let Some((r, _)) = request(&self.sock(), "status --json\n") {
            for part in r.split("\"pid\":").skip(1) {
                if let Ok(p) = part
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap_or("")
                    .parse::<i32>()
                {
                    // SAFETY: kill by pid of processes this run started.
                    unsafe { libc::kill(-p, libc::SIGKILL) };
                }
            }
        }
        // SAFETY: as above.
        unsafe { libc::kill(self.pid(), libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn healthy(r: &str) -> usize {
    r.matches("\"health\":\"healthy\"").count()
}

fn running(r: &str) -> usize {
    r.matches("\"state\":\"RUNNING\"").count()
}

fn checks(window: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            drop(c);
        }
    });
    let task = |check: &str| {
        format!(
            "tasks:\n  t:\n    command: sleep 100000\n    instances: {N}\n    successfulStartTimeout: 0\n{check}"
        )
    };
    let mut out = String::new();
    let mut row = |name: &str, yaml: String, wait_healthy: bool| {
        let sup = Sup::start(name, &yaml);
        if wait_healthy {
            sup.wait_all("all healthy", healthy);
        } else {
            sup.wait_all("all running", running);
        }
        // Let the start settle before the window.
        std::thread::sleep(Duration::from_secs(2));
        let (cpu, wake, p50, p99) = sup.measure(window);
        let line = format!("| {name} | {cpu:.2} % | {wake:.0} | {p50:.2} ms | {p99:.2} ms |\n");
        print!("{line}");
        out.push_str(&line);
    };
    row("no check", task(""), false);
    row(
        "tcp check every 1 s",
        task(&format!(
            "    healthCheck: {{tcp: '127.0.0.1:{port}', interval: 1}}\n"
        )),
        true,
    );
    row(
        "exec check every 5 s",
        task("    healthCheck: {command: 'true', interval: 5}\n"),
        true,
    );
    out
}

fn layered(deps: bool) -> String {
    let mut y = String::from("tasks:\n");
    for layer in 0..10 {
        for i in 0..N / 10 {
            y.push_str(&format!(
                "  l{layer}_{i}:\n    command: sleep 100000\n    successfulStartTimeout: 0\n"
            ));
            if deps && layer > 0 {
                let j = (i + 1) % (N / 10);
                y.push_str(&format!(
                    "    dependsOn: {{l{p}_{i}: running, l{p}_{j}: running}}\n",
                    p = layer - 1
                ));
            }
        }
    }
    y
}

fn graph(reps: usize) -> String {
    let times = |deps: bool| {
        let mut t: Vec<f64> = (0..reps)
            .map(|r| {
                let sup = Sup::start(&format!("graph-{deps}-{r}"), &layered(deps));
                sup.wait_all("all running", running)
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let flat = times(false);
    let layers = times(true);
    let line = format!(
        "| 1 000 independent tasks | {flat:.3} s | 1.00 |\n| 1 000 tasks, 10 layers | {layers:.3} s | {:.2} |\n",
        layers / flat
    );
    print!("{line}");
    line
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let (window, reps) = if quick() {
        (Duration::from_secs(5), 1)
    } else {
        (Duration::from_secs(20), 3)
    };
    println!("| 1 000 processes | supervisor CPU | wake-ups/s | status p50 | status p99 |");
    println!("|---|---|---|---|---|");
    let a = checks(window);
    println!();
    println!("| start | all RUNNING after | ratio |");
    println!("|---|---|---|");
    let b = graph(reps);
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-stacks.md");
    let _ = std::fs::write(target, format!("{a}\n{b}"));
}
