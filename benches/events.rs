//! `events` during churn, measured on the release binary: 1000
//! crash-looping processes (`sh -c 'sleep 1.1; exit 1'`, `restart:
//! on-failure`, `successfulStartTimeout: 0`: each lives just over the 1 s
//! under which a restart is delayed, so each is restarted at once) for
//! `BENCH_SECS` (default 30), a client asking `status` every 100 ms.
//!
//! Side by side, in turns: no `events` client, then 10 clients that read
//! every line as it comes (threads of this bench, each parsing every line
//! as JSON) and 1 that never reads. The clients subscribe before the
//! processes start, and the processes are stopped (and every one seen
//! down) before they are checked, so each reading client must have
//! received every change of state of the run:
//!
//! - every line is a JSON object (no `[... N lines dropped]` marker);
//! - for each process, the first change starts from `STOPPED`, each one
//!   starts where the one before ended, and the last ends in the state
//!   `status --json` shows at the end (`STOPPED`, or `EXITED` for one that
//!   had exited and waited for its restart when the stop came);
//! - for each process, the spawns seen (changes to `RUNNING`) are its
//!   `restarts` in `status --json` plus the first start (`restarts` counts
//!   the restarts that spawned: one still queued when the stop came is not
//!   counted).
//!
//! The client that never reads is read at the end: it must show the
//! marker of the lines it lost, and the supervisor's peak memory is given.
//!
//! Run: `cargo bench --bench events` (`BENCH_SECS=N`, `BENCH_ROUNDS=N`
//! rounds of the two runs, default 1). The supervisor is stopped with
//! SIGTERM (SIGKILL by pid after 60 s) and its children follow it through
//! their parent-death signal.

#[path = "common/supervisor.rs"]
#[allow(dead_code)]
mod supervisor;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use supervisor::{Supervisor, env_number};

const PROCS: usize = 1000;
const READERS: usize = 10;

impl Supervisor {
    /// `status --json`: (name, state, restarts) of every process.
    fn states(&self) -> Vec<(String, String, u64)> {
        let reply = self.ask("status --json");
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(reply.trim_start_matches("0\n")).expect("status --json");
        rows.iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["state"].as_str().unwrap_or_default().to_string(),
                    r["restarts"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    /// `events`: the connection, past its `0` line.
    fn subscribe(&self) -> UnixStream {
        let mut s = UnixStream::connect(&self.socket).expect("connect");
        s.write_all(b"events\n").unwrap();
        let mut head = [0u8; 2];
        s.read_exact(&mut head).expect("the events reply");
        assert_eq!(&head, b"0\n");
        s
    }
}

fn vm_hwm_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// What one reading client saw.
#[derive(Debug, Default)]
struct Seen {
    lines: u64,
    markers: u64,
    not_json: u64,
    /// Per process: the state its last change ended in.
    last: HashMap<String, String>,
    /// Changes that did not start where the one before ended (or, for a
    /// process's first, not from STOPPED).
    breaks: u64,
    /// Per process: changes to RUNNING.
    spawns: HashMap<String, u64>,
    /// The run had ended (every process down) when reading stopped.
    complete: bool,
}

#[derive(serde::Deserialize)]
struct Change {
    name: String,
    from: String,
    to: String,
}

/// Reads `events` until `stopped` is set and every process has ended down
/// (STOPPED, or EXITED: it had exited and waited for its restart when the
/// stop came), or 60 s pass after `stopped` without that.
fn read_events(s: UnixStream, stopped: Arc<AtomicBool>) -> Seen {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut r = BufReader::with_capacity(256 * 1024, s);
    let mut seen = Seen::default();
    let mut line = String::new();
    let mut give_up: Option<Instant> = None;
    loop {
        if stopped.load(Ordering::Relaxed) {
            let all_down = seen.last.len() == PROCS
                && seen.last.values().all(|s| s == "STOPPED" || s == "EXITED");
            if all_down {
                seen.complete = true;
                return seen;
            }
            let end = *give_up.get_or_insert_with(|| Instant::now() + Duration::from_secs(60));
            if Instant::now() > end {
                return seen;
            }
        }
        match r.read_line(&mut line) {
            Ok(0) => return seen,
            Ok(_) if !line.ends_with('\n') => continue,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return seen,
        }
        seen.lines += 1;
        if line.starts_with("[... ") {
            seen.markers += 1;
        } else {
            match serde_json::from_str::<Change>(&line) {
                Ok(c) => {
                    let before = seen.last.get(&c.name).map_or("STOPPED", String::as_str);
                    if before != c.from {
                        seen.breaks += 1;
                    }
                    if c.to == "RUNNING" {
                        *seen.spawns.entry(c.name.clone()).or_default() += 1;
                    }
                    seen.last.insert(c.name, c.to);
                }
                Err(_) => seen.not_json += 1,
            }
        }
        line.clear();
    }
}

struct Run {
    cpu_pct: f64,
    restarts_s: f64,
    lat: Vec<Duration>,
    hwm_kib: u64,
    /// (clients that read: events each, all checks passed) and what the
    /// stalled one showed.
    readers: Option<(Vec<u64>, Vec<String>)>,
    stalled: Option<String>,
}

fn churn(with_clients: bool, secs: u64) -> Run {
    let yaml = format!(
        "tasks:
  crash:
    command: sh -c 'sleep 1.1; exit 1'
    instances: {PROCS}
    autoLaunch: false
    restart: on-failure
    successfulStartTimeout: 0
    gracefulStopTimeout: 2
"
    );
    let sup = Supervisor::start(if with_clients { "events" } else { "quiet" }, &yaml);
    let stopped = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    let mut stalled = None;
    if with_clients {
        for _ in 0..READERS {
            let s = sup.subscribe();
            let stopped = stopped.clone();
            readers.push(std::thread::spawn(move || read_events(s, stopped)));
        }
        stalled = Some(sup.subscribe());
    }
    sup.ask("start crash");
    let window = sup.status_window(secs);
    sup.ask("stop crash");
    let deadline = Instant::now() + Duration::from_secs(120);
    let finals = loop {
        let states = sup.states();
        if states.iter().all(|s| s.1 == "STOPPED" || s.1 == "EXITED") {
            break states;
        }
        if Instant::now() > deadline {
            let mut by: HashMap<&str, usize> = HashMap::new();
            for s in &states {
                *by.entry(s.1.as_str()).or_default() += 1;
            }
            panic!("processes never all stopped: {by:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    stopped.store(true, Ordering::Relaxed);
    let hwm_kib = vm_hwm_kib(sup.pid());
    let readers = with_clients.then(|| {
        let mut counts = Vec::new();
        let mut faults = Vec::new();
        for (i, h) in readers.into_iter().enumerate() {
            let seen = h.join().expect("reader thread");
            counts.push(seen.lines);
            let mut fault = |what: String| faults.push(format!("client {i}: {what}"));
            if !seen.complete {
                fault(format!(
                    "saw {} of {PROCS} processes end down",
                    seen.last
                        .values()
                        .filter(|s| *s == "STOPPED" || *s == "EXITED")
                        .count()
                ));
            }
            if seen.markers > 0 {
                fault(format!("{} drop markers", seen.markers));
            }
            if seen.not_json > 0 {
                fault(format!("{} lines not JSON", seen.not_json));
            }
            if seen.breaks > 0 {
                fault(format!("{} changes not following the one before", seen.breaks));
            }
            let wrong = finals
                .iter()
                .filter(|(name, state, r)| {
                    // `restarts` counts the restarts that spawned.
                    let spawns = r + 1;
                    seen.spawns.get(name).copied().unwrap_or(0) != spawns
                        || seen.last.get(name) != Some(state)
                })
                .count();
            if wrong > 0 {
                fault(format!(
                    "{wrong} processes whose spawns seen differ from restarts + 1 or whose last change is not their state"
                ));
            }
        }
        (counts, faults)
    });
    let stalled = stalled.map(|mut s| {
        // Now read it: what it kept, then the marker of what it lost.
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut text = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&text);
        let lines = text.lines().filter(|l| l.starts_with('{')).count();
        let markers: Vec<&str> = text.lines().filter(|l| l.starts_with("[... ")).collect();
        format!("kept {lines} lines, then {}", markers.join(", "))
    });
    Run {
        cpu_pct: window.cpu_pct(),
        restarts_s: window.restarts_per_sec(),
        lat: window.status,
        hwm_kib,
        readers,
        stalled,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs = env_number("BENCH_SECS", 30);
    let rounds = env_number("BENCH_ROUNDS", 1);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "events: {PROCS} crash-looping processes, {secs} s per run, status every 100 ms; loadavg at start {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| run | CPU % of a core | restarts/s | status p50 ms | p99 ms | max ms | VmHWM KiB | events per reading client | checks |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for _ in 0..rounds {
        for with in [false, true] {
            let r = churn(with, secs);
            let q = |f: f64| r.lat[((r.lat.len() as f64 * f) as usize).min(r.lat.len() - 1)];
            let (events, checks) = match &r.readers {
                None => ("-".to_string(), "-".to_string()),
                Some((counts, faults)) => {
                    let (lo, hi) = (counts.iter().min(), counts.iter().max());
                    let events = match (lo, hi) {
                        (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
                        (Some(lo), Some(hi)) => format!("{lo}..{hi}"),
                        _ => "-".to_string(),
                    };
                    let checks = if faults.is_empty() {
                        format!("all {READERS}: every change, in order, none lost")
                    } else {
                        format!("FAILED: {}", faults.join("; "))
                    };
                    (events, checks)
                }
            };
            println!(
                "| {} | {:.2} | {:.0} | {} | {} | {} | {} | {events} | {checks} |",
                if with {
                    "10 reading + 1 stalled `events` client"
                } else {
                    "no `events` client"
                },
                r.cpu_pct,
                r.restarts_s,
                ms(q(0.5)),
                ms(q(0.99)),
                ms(*r.lat.last().unwrap()),
                r.hwm_kib,
            );
            if let Some(s) = r.stalled {
                notes.push(format!("the client that never read: {s}"));
            }
        }
    }
    for n in notes {
        println!("\n{n}");
    }
}
