//! The cost of the supervisor's own log file and of metrics, measured on
//! the release binary:
//!
//! 1. `logfile`: 1000 crash-looping processes (each lives 1.1 s, exits 1,
//!    and is restarted at once: a life under 1 s would be restarted after
//!    a growing delay, and the loop would slow down within the run) for
//!    `BENCH_SECS` (default 30) without a log file, then the same with
//!    one, then without and with again; a client asks `status` every
//!    100 ms. Reported side by side: the supervisor's CPU
//!    (user + system, % of one core), restarts per second, `status` p50 /
//!    p99 / max, and the lines the log file got.
//! 2. `metrics`: 9968 `sleep` processes; `metrics` over the control socket
//!    timed 20 times (median, max); then `GET /metrics` on the HTTP
//!    endpoint once a second for `BENCH_SECS`, the supervisor's CPU over
//!    that window set against the same window with no scrape.
//!
//! Run: `cargo bench --bench eventlog` (`BENCH_ONLY=logfile` or
//! `metrics`; `BENCH_PROCS=N` for the metrics part's processes). Every
//! supervisor is stopped with SIGTERM (SIGKILL by pid after 60 s) and its
//! children follow it through their parent-death signal.

#[path = "common/supervisor.rs"]
#[allow(dead_code)]
mod supervisor;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use supervisor::{Supervisor, Window, cpu, env_number};

impl Supervisor {
    /// Waits until `status --json` shows `n` RUNNING processes.
    fn wait_running(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let reply = self.ask("status --json");
            if reply.matches("\"state\":\"RUNNING\"").count() >= n {
                return;
            }
            assert!(Instant::now() < deadline, "processes never all ran");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn pct(part: Duration, whole: Duration) -> String {
    format!("{:.2}", part.as_secs_f64() / whole.as_secs_f64() * 100.0)
}

/// One crash loop run: what the window saw, and the log file's lines.
fn crash_loop(logfile: bool, secs: u64) -> (Window, usize) {
    let yaml = format!(
        "{}tasks:
  crash:
    command: sh -c 'sleep 1.1; exit 1'
    instances: 1000
    restart: on-failure
    successfulStartTimeout: 0
    gracefulStopTimeout: 2
",
        if logfile { "logfile: sup.log\n" } else { "" }
    );
    let sup = Supervisor::start(if logfile { "with" } else { "without" }, &yaml);
    let window = sup.status_window(secs);
    let lines = std::fs::read_to_string(sup.dir.join("sup.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0);
    (window, lines)
}

fn bench_logfile(secs: u64) {
    println!("## logfile: 1000 crash-looping processes, {secs} s per run, status every 100 ms");
    println!(
        "| run | CPU % of a core | restarts/s | status p50 ms | p99 ms | max ms | log lines |"
    );
    println!("|---|---|---|---|---|---|---|");
    // Interleaved, so a load that grows or falls on a shared machine does
    // not always favour one side.
    for (name, with) in [
        ("without logfile", false),
        ("with logfile", true),
        ("without logfile (again)", false),
        ("with logfile (again)", true),
    ] {
        let (w, lines) = crash_loop(with, secs);
        let lat = &w.status;
        let q = |f: f64| lat[((lat.len() as f64 * f) as usize).min(lat.len() - 1)];
        println!(
            "| {name} | {:.2} | {:.0} | {} | {} | {} | {lines} |",
            w.cpu_pct(),
            w.restarts_per_sec(),
            ms(q(0.5)),
            ms(q(0.99)),
            ms(*lat.last().unwrap()),
        );
    }
}

/// `GET /metrics` with a plain HTTP/1.1 client: the body length.
fn scrape(port: u16) -> usize {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    assert!(reply.starts_with(b"HTTP/1.1 200 OK\r\n"));
    reply.len()
}

fn bench_metrics(procs: u64, secs: u64) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        "metrics: 127.0.0.1:{port}
tasks:
  idle:
    command: sleep 100000
    instances: {procs}
    successfulStartTimeout: 0
    gracefulStopTimeout: 5
"
    );
    let sup = Supervisor::start("metrics", &yaml);
    sup.wait_running(procs as usize);
    println!("## metrics: {procs} processes");
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..20 {
        let t = Instant::now();
        bytes = sup.ask("metrics").len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "`metrics` over the control socket: median {} ms, max {} ms ({bytes} bytes)",
        ms(times[times.len() / 2]),
        ms(*times.last().unwrap())
    );
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        scrape(port);
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "`GET /metrics`: median {} ms, max {} ms",
        ms(times[times.len() / 2]),
        ms(*times.last().unwrap())
    );
    // Idle window, then the same window scraped once a second.
    let (c0, t0) = (cpu(sup.pid()), Instant::now());
    std::thread::sleep(Duration::from_secs(secs));
    let (idle, idle_window) = (cpu(sup.pid()) - c0, t0.elapsed());
    let (c0, t0) = (cpu(sup.pid()), Instant::now());
    let mut next = t0;
    for _ in 0..secs {
        scrape(port);
        next += Duration::from_secs(1);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    let (busy, busy_window) = (cpu(sup.pid()) - c0, t0.elapsed());
    println!(
        "CPU over {secs} s: idle {} % of a core, scraped every second {} % (difference {} %)",
        pct(idle, idle_window),
        pct(busy, busy_window),
        pct(
            busy.saturating_sub(
                idle.mul_f64(busy_window.as_secs_f64() / idle_window.as_secs_f64())
            ),
            busy_window
        )
    );
}

fn main() {
    let secs = env_number("BENCH_SECS", 30);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "logfile" {
        bench_logfile(secs);
    }
    if only.is_empty() || only == "metrics" {
        bench_metrics(env_number("BENCH_PROCS", 9968), secs);
    }
}
