//! Side-by-side comparison of taskmaster (release build), supervisord (from
//! PyPI, installed into a venv under the target directory on first run) and
//! a raw baseline (`common/raw_baseline.rs`: posix_spawn N children with piped
//! output and reap them, the physical limit), on the same workloads in one
//! run, printing ratios:
//!
//! - up: N `sleep` processes; seconds until the supervisor reports all
//!   RUNNING and until all are alive (exec'd, seen in /proc);
//! - memory: the supervisor's VmRSS and VmHWM with N up;
//! - idle: the supervisor's CPU ticks and context switches over a window
//!   with N up;
//! - churn: processes that exit after 0.5 s with restart always: restarts
//!   per second, supervisor CPU, status latency p50/p99;
//! - down: SIGTERM to the supervisor with N up: seconds until it and all
//!   its children are gone.
//!
//! Run: `cargo bench --bench compare` (add `BENCH_QUICK=1` for small N and
//! short windows). The results also go to `<target>/bench-results.md`.
//!
//! Two builds side by side: `BENCH_TASKMASTER=/path/to/taskmaster` adds that
//! binary as a fourth supervisor, `other`, run right after the built one in
//! every repetition (A/B/A/B), each of their runs with an idle window, and
//! churned as many times as `BENCH_REPS`; `BENCH_ONLY=taskmaster,other`
//! leaves out the rest. `BENCH_CHURN_N=1000,9968` churns at each N listed,
//! `BENCH_CHURN_SLEEP=1.1` with processes that live 1.1 s instead of 0.5.
//! Every process started is killed by pid at the end of its run, on
//! failure, and (through the parent-death signal) if the harness dies.

#[path = "common/raw_baseline.rs"]
mod raw_baseline;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");
const SUPERVISOR_VERSION: &str = "4.3.0";

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

// ----- what to run

#[derive(Debug, Clone)]
struct Plan {
    ns: Vec<usize>,
    reps: usize,
    idle: Duration,
    churn_ns: Vec<usize>,
    churn: Duration,
    churn_warmup: Duration,
    kinds: Vec<Kind>,
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
        let mut plan = if quick {
            Plan {
                ns: vec![200, 1000],
                reps: 1,
                idle: secs(5.0),
                churn_ns: vec![200],
                churn: secs(8.0),
                churn_warmup: secs(2.0),
                kinds: vec![Kind::Raw, Kind::Taskmaster, Kind::Other, Kind::Supervisord],
            }
        } else {
            Plan {
                ns: vec![1000, 5000, 10000],
                reps: 3,
                idle: secs(30.0),
                churn_ns: vec![1000],
                churn: secs(30.0),
                churn_warmup: secs(3.0),
                kinds: vec![Kind::Raw, Kind::Taskmaster, Kind::Other, Kind::Supervisord],
            }
        };
        if let Ok(v) = std::env::var("BENCH_N") {
            plan.ns = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        }
        if other_binary().is_none() {
            plan.kinds.retain(|&k| k != Kind::Other);
        }
        if let Ok(v) = std::env::var("BENCH_CHURN_N") {
            plan.churn_ns = v.split(',').filter_map(|s| s.trim().parse().ok()).collect();
        }
        if let Ok(v) = std::env::var("BENCH_ONLY") {
            plan.kinds.retain(|k| v.split(',').any(|s| s == k.name()));
        }
        if let Ok(v) = std::env::var("BENCH_IDLE")
            && let Ok(v) = v.parse()
        {
            plan.idle = secs(v);
        }
        if let Ok(v) = std::env::var("BENCH_CHURN")
            && let Ok(v) = v.parse()
        {
            plan.churn = secs(v);
        }
        if let Ok(v) = std::env::var("BENCH_REPS")
            && let Ok(r) = v.parse()
        {
            plan.reps = r;
        }
        plan
    }

    /// Two builds of taskmaster are compared.
    fn ab(&self) -> bool {
        self.kinds.contains(&Kind::Other)
    }
}

/// How long a churning process lives, in seconds (`BENCH_CHURN_SLEEP`):
/// 0.5 unless told. taskmaster delays the restart of a process that lived
/// less than a second (a growing backoff against crash loops), so to churn
/// it at full speed give it 1.1 or more.
fn churn_sleep() -> String {
    std::env::var("BENCH_CHURN_SLEEP")
        .ok()
        .filter(|v| v.parse::<f64>().is_ok_and(|s| s > 0.0))
        .unwrap_or_else(|| "0.5".into())
}

/// The second build to compare, from `BENCH_TASKMASTER`.
fn other_binary() -> Option<PathBuf> {
    std::env::var_os("BENCH_TASKMASTER")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Raw,
    /// The binary this bench was built with.
    Taskmaster,
    /// The binary `BENCH_TASKMASTER` names.
    Other,
    Supervisord,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Taskmaster => "taskmaster",
            Kind::Other => "other",
            Kind::Supervisord => "supervisord",
        }
    }

    /// Runs per N: supervisord is slow, so once.
    fn reps(self, plan: &Plan) -> usize {
        match self {
            Kind::Supervisord => 1,
            _ => plan.reps,
        }
    }

    /// Churn runs per N: once, but `BENCH_REPS` times for each of two
    /// builds compared.
    fn churn_reps(self, plan: &Plan) -> usize {
        match self {
            Kind::Taskmaster | Kind::Other if plan.ab() => plan.reps,
            _ => 1,
        }
    }

    /// An idle window in this repetition: the first one, or every one of
    /// two builds compared.
    fn idles(self, plan: &Plan, rep: usize) -> bool {
        rep == 0 || (plan.ab() && matches!(self, Kind::Taskmaster | Kind::Other))
    }

    /// The taskmaster binary this kind runs.
    fn binary(self) -> PathBuf {
        match self {
            Kind::Other => other_binary().expect("BENCH_TASKMASTER is set"),
            _ => PathBuf::from(TASKMASTER),
        }
    }

    fn up_timeout(self, n: usize) -> Duration {
        match self {
            Kind::Supervisord => secs(60.0 + n as f64 * 0.04),
            _ => secs(30.0 + n as f64 * 0.003),
        }
    }
}

/// What the children run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// `sleep 100000`: stays up.
    Up,
    /// `sleep 0.5` (`BENCH_CHURN_SLEEP`) with restart always.
    Churn,
}

impl Workload {
    fn argv(self) -> [String; 2] {
        match self {
            Workload::Up => ["sleep".into(), "100000".into()],
            Workload::Churn => ["sleep".into(), churn_sleep()],
        }
    }
}

// ----- limits

/// The hard RLIMIT_NOFILE every supervisor here inherits, raised first as
/// far as the harness may (as root with CAP_SYS_RESOURCE, to what the
/// largest N needs).
fn nofile_hard() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit on a local struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    lim.rlim_max
}

fn try_raise_nofile_hard(to: u64) {
    let cur = nofile_hard();
    if cur >= to {
        return;
    }
    let lim = libc::rlimit {
        rlim_cur: to,
        rlim_max: to,
    };
    // SAFETY: setrlimit with a local struct; failure leaves it unchanged.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
}

/// The largest N with two pipes per process (and taskmaster's 64 files of
/// its own) under the hard open-file limit.
fn n_cap() -> usize {
    (nofile_hard().saturating_sub(64) / 2) as usize
}

// ----- /proc

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

fn comm(pid: i32) -> Option<String> {
    read(format!("/proc/{pid}/comm")).map(|s| s.trim().to_string())
}

/// utime + stime, in clock ticks.
fn cpu_ticks(pid: i32) -> Option<u64> {
    let s = read(format!("/proc/{pid}/stat"))?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields after the comm: state is index 0, utime 11, stime 12.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

fn status_field(pid: i32, field: &str) -> Option<u64> {
    let s = read(format!("/proc/{pid}/status"))?;
    s.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

fn ctx_switches(pid: i32) -> Option<u64> {
    Some(
        status_field(pid, "voluntary_ctxt_switches")?
            + status_field(pid, "nonvoluntary_ctxt_switches")?,
    )
}

fn clk_tck() -> f64 {
    // SAFETY: sysconf only reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn pid_exists(pid: i32) -> bool {
    // SAFETY: signal 0 only checks existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Reaps orphans that were re-parented to the harness (a subreaper).
fn reap_orphans() {
    loop {
        let mut st = 0;
        // SAFETY: waitpid on our own children.
        let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
        if pid <= 0 {
            return;
        }
    }
}

// ----- one supervisor under test

struct Sup {
    kind: Kind,
    child: Option<Child>,
    pid: i32,
    dir: PathBuf,
    started: Instant,
    /// The raw baseline's stdout (it reports `up` and counts there).
    out: Option<std::process::ChildStdout>,
    out_buf: String,
    /// Every child pid seen alive.
    seen: HashSet<i32>,
    /// supervisord: how far its log was read, and the RUNNING entries in it.
    log_pos: usize,
    log_running: usize,
}

fn supervisord_bin(venv: &Path) -> PathBuf {
    venv.join("bin/supervisord")
}

impl Sup {
    fn start(kind: Kind, n: usize, w: Workload, dir: &Path, venv: &Path) -> Sup {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("create run dir");
        let [prog, arg] = w.argv();
        let mut cmd = match kind {
            Kind::Raw => {
                let mut c = Command::new(std::env::current_exe().expect("own path"));
                c.env(
                    "TM_RAW_BASELINE",
                    match w {
                        Workload::Up => "up",
                        Workload::Churn => "churn",
                    },
                )
                .env("TM_RAW_N", n.to_string())
                .args([&prog, &arg]);
                c
            }
            Kind::Taskmaster | Kind::Other => {
                let conf = dir.join("tm.yaml");
                std::fs::write(
                    &conf,
                    format!(
                        "tasks:\n  s:\n    command: {prog} {arg}\n    instances: {n}\n    successfulStartTimeout: 0\n    restart: {}\n",
                        if w == Workload::Churn { "always" } else { "on-failure" }
                    ),
                )
                .expect("write config");
                let mut c = Command::new(kind.binary());
                c.arg("--no-shell")
                    .arg("--socket")
                    .arg(dir.join("tm.sock"))
                    .arg(&conf);
                c
            }
            Kind::Supervisord => {
                let conf = dir.join("sd.conf");
                let d = dir.display();
                std::fs::write(
                    &conf,
                    format!(
                        "[unix_http_server]\nfile={d}/sd.sock\n\
                         [supervisord]\nlogfile={d}/sd.log\npidfile={d}/sd.pid\nnodaemon=true\n\
                         minfds={}\nminprocs={}\nchildlogdir={d}\n\
                         [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
                         [program:s]\ncommand={prog} {arg}\nnumprocs={n}\nprocess_name=%(program_name)s_%(process_num)d\n\
                         startsecs=0\nautorestart={}\nstdout_logfile=NONE\nstderr_logfile=NONE\n",
                        (3 * n as u64 + 200).min(nofile_hard()),
                        n + 200,
                        if w == Workload::Churn { "true" } else { "unexpected" }
                    ),
                )
                .expect("write config");
                let mut c = Command::new(supervisord_bin(venv));
                c.arg("-c").arg(&conf);
                c
            }
        };
        let log = |name: &str| std::fs::File::create(dir.join(name)).expect("log file");
        cmd.stdin(Stdio::null())
            .stdout(if kind == Kind::Raw {
                Stdio::piped()
            } else {
                log("stdout").into()
            })
            .stderr(log("stderr"));
        // SAFETY: prctl is async-signal-safe; it runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // If the harness dies, the supervisor shuts its children down.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn supervisor");
        let pid = child.id() as i32;
        let out = child.stdout.take();
        if let Some(o) = &out {
            // SAFETY: fcntl on the pipe we own.
            unsafe {
                let fd = std::os::fd::AsRawFd::as_raw_fd(o);
                libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
            }
        }
        Sup {
            kind,
            child: Some(child),
            pid,
            dir: dir.to_path_buf(),
            started,
            out,
            out_buf: String::new(),
            seen: HashSet::new(),
            log_pos: 0,
            log_running: 0,
        }
    }

    /// New lines from the raw baseline's stdout.
    fn raw_lines(&mut self) -> Vec<String> {
        let Some(out) = &mut self.out else {
            return Vec::new();
        };
        let mut buf = [0u8; 4096];
        loop {
            match out.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => self.out_buf.push_str(&String::from_utf8_lossy(&buf[..k])),
                Err(_) => break,
            }
        }
        let mut lines = Vec::new();
        while let Some(i) = self.out_buf.find('\n') {
            lines.push(self.out_buf[..i].to_string());
            self.out_buf.drain(..=i);
        }
        lines
    }

    /// Sends a status query; returns the reply and its round-trip time.
    fn query(&self, what: Query) -> Option<(String, Duration)> {
        let t = Instant::now();
        let reply = match (self.kind, what) {
            (Kind::Raw, _) => return None,
            (Kind::Taskmaster | Kind::Other, Query::Json) => {
                request(&self.dir.join("tm.sock"), b"status --json\n")
            }
            (Kind::Taskmaster | Kind::Other, Query::Table) => {
                request(&self.dir.join("tm.sock"), b"status\n")
            }
            (Kind::Supervisord, _) => {
                let body = "<?xml version=\"1.0\"?><methodCall><methodName>supervisor.getAllProcessInfo</methodName><params></params></methodCall>";
                let req = format!(
                    "POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                request(&self.dir.join("sd.sock"), req.as_bytes())
            }
        }?;
        Some((reply, t.elapsed()))
    }

    /// How many processes the supervisor reports RUNNING, with the query's
    /// round trip.
    fn running(&mut self, n: usize) -> Option<(usize, Duration)> {
        match self.kind {
            Kind::Raw => {
                let up = self.raw_lines().iter().any(|l| l.starts_with("up "));
                Some((if up { n } else { 0 }, Duration::ZERO))
            }
            Kind::Taskmaster | Kind::Other => {
                let (r, d) = self.query(Query::Json)?;
                Some((r.matches("\"state\":\"RUNNING\"").count(), d))
            }
            Kind::Supervisord => {
                // From its log rather than XML-RPC: each getAllProcessInfo
                // costs it 0.35 s at N = 1000, polling would slow it down.
                let log = std::fs::read(self.dir.join("sd.log")).ok()?;
                let new = String::from_utf8_lossy(log.get(self.log_pos..)?);
                // Only whole lines: the last one may be half written.
                let end = new.rfind('\n').map_or(0, |i| i + 1);
                self.log_running += new[..end].matches("entered RUNNING state").count();
                self.log_pos += end;
                Some((self.log_running, Duration::ZERO))
            }
        }
    }

    /// Spawns so far (first spawns and restarts), as the supervisor counts.
    fn spawns(&mut self) -> Option<u64> {
        match self.kind {
            Kind::Raw => {
                // SAFETY: plain kill of our own child.
                unsafe { libc::kill(self.pid, libc::SIGUSR1) };
                let deadline = Instant::now() + secs(5.0);
                while Instant::now() < deadline {
                    if let Some(c) = self
                        .raw_lines()
                        .iter()
                        .find_map(|l| l.strip_prefix("count ")?.parse().ok())
                    {
                        return Some(c);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                None
            }
            Kind::Taskmaster | Kind::Other => {
                let (r, _) = self.query(Query::Json)?;
                let v: serde_json::Value = serde_json::from_str(r.split_once('\n')?.1).ok()?;
                let rows = v.as_array()?;
                Some(
                    rows.iter()
                        .map(|r| r["restarts"].as_u64().unwrap_or(0) + 1)
                        .sum(),
                )
            }
            Kind::Supervisord => {
                let log = read(self.dir.join("sd.log"))?;
                Some(log.matches("spawned: '").count() as u64)
            }
        }
    }

    /// Child pids that have exec'd the workload, as seen in /proc.
    fn alive(&mut self, prog: &str) -> usize {
        for c in children(self.pid) {
            if !self.seen.contains(&c) && comm(c).is_some_and(|s| s == prog) {
                self.seen.insert(c);
            }
        }
        self.seen.len()
    }

    fn exited(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(Some(_))),
            None => true,
        }
    }

    /// Kills the supervisor and every child and group it has, by pid, and
    /// reaps them.
    fn kill_all(&mut self) {
        for c in children(self.pid)
            .into_iter()
            .chain(self.seen.iter().copied())
        {
            // SAFETY: kill of processes this run started (pids of its
            // children, each the leader of its own group).
            unsafe {
                libc::kill(-c, libc::SIGKILL);
                libc::kill(c, libc::SIGKILL);
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever was left is re-parented to us (a subreaper).
        let deadline = Instant::now() + secs(10.0);
        loop {
            reap_orphans();
            let left: Vec<i32> = self
                .seen
                .iter()
                .copied()
                .filter(|&p| pid_exists(p))
                .collect();
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for p in left {
                // SAFETY: as above.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        self.kill_all();
    }
}

#[derive(Debug, Clone, Copy)]
enum Query {
    Json,
    Table,
}

/// One request on a Unix socket, read to the end.
fn request(path: &Path, bytes: &[u8]) -> Option<String> {
    let mut s = UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(secs(60.0))).ok()?;
    s.write_all(bytes).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

// ----- scenarios

#[derive(Debug, Clone, Default)]
struct UpRun {
    running: Option<f64>,
    alive: Option<f64>,
    note: String,
    rss_kib: u64,
    hwm_kib: u64,
    idle_ticks: Option<u64>,
    idle_ctx: Option<u64>,
    down_exit: Option<f64>,
    down_gone: Option<f64>,
    /// Median round trip of `status` (supervisord: getAllProcessInfo) with
    /// all N up, in ms.
    status_ms: Option<f64>,
}

/// Start, up, memory, (idle), down.
fn run_up(kind: Kind, n: usize, idle: Option<Duration>, work: &Path, venv: &Path) -> UpRun {
    let dir = work.join(format!("{}-{n}", kind.name()));
    let mut sup = Sup::start(kind, n, Workload::Up, &dir, venv);
    let mut r = UpRun::default();
    let timeout = kind.up_timeout(n);
    let mut next_query = Instant::now();
    let mut running_seen = 0;
    // No progress for this long: it will not get there.
    let stall = secs(30.0);
    let mut progress = (Instant::now(), 0, 0);
    loop {
        let alive = sup.alive("sleep");
        if r.alive.is_none() && alive >= n {
            r.alive = Some(sup.started.elapsed().as_secs_f64());
        }
        if (alive, running_seen) != (progress.1, progress.2) {
            progress = (Instant::now(), alive, running_seen);
        } else if progress.0.elapsed() > stall {
            r.note = format!(
                "stalled: {alive} alive, {running_seen} RUNNING, no progress for {:.0} s (after {:.0} s)",
                stall.as_secs_f64(),
                sup.started.elapsed().as_secs_f64()
            );
            break;
        }
        if r.running.is_none() && Instant::now() >= next_query {
            if let Some((count, rtt)) = sup.running(n) {
                running_seen = count;
                if count >= n {
                    r.running = Some(sup.started.elapsed().as_secs_f64());
                }
                // Polling must not become the load: at most a third of the
                // time in queries.
                next_query = Instant::now() + rtt.mul_f64(2.0).max(Duration::from_millis(20));
            } else {
                next_query = Instant::now() + Duration::from_millis(20);
            }
        }
        if r.alive.is_some() && r.running.is_some() {
            break;
        }
        if sup.exited() {
            r.note = format!("exited early (see {})", dir.display());
            return r;
        }
        if sup.started.elapsed() > timeout {
            r.note = format!(
                "timeout after {:.0} s: {} alive, {} RUNNING",
                timeout.as_secs_f64(),
                sup.seen.len(),
                running_seen
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Short of the goal but still running: memory, idle and down are still
    // worth knowing, with the note.
    if kind != Kind::Raw {
        let tries = if kind == Kind::Supervisord { 3 } else { 5 };
        let mut rtts: Vec<f64> = (0..tries)
            .filter_map(|_| sup.query(Query::Table))
            .map(|(_, d)| d.as_secs_f64() * 1e3)
            .collect();
        rtts.sort_by(f64::total_cmp);
        r.status_ms = rtts.get(rtts.len() / 2).copied();
    }
    // Let the last connection close before measuring.
    std::thread::sleep(secs(1.0));
    r.rss_kib = status_field(sup.pid, "VmRSS").unwrap_or(0);
    r.hwm_kib = status_field(sup.pid, "VmHWM").unwrap_or(0);
    if let Some(window) = idle {
        let (t0, c0) = (cpu_ticks(sup.pid), ctx_switches(sup.pid));
        std::thread::sleep(window);
        let (t1, c1) = (cpu_ticks(sup.pid), ctx_switches(sup.pid));
        r.idle_ticks = t1.zip(t0).map(|(a, b)| a - b);
        r.idle_ctx = c1.zip(c0).map(|(a, b)| a - b);
    }
    {
        let (exit, gone) = measure_down(&mut sup, secs(60.0 + n as f64 * 0.012));
        r.down_exit = exit;
        r.down_gone = gone;
    }
    sup.kill_all();
    r
}

/// SIGTERM to the supervisor; seconds until it exited and until every
/// child it had is gone.
fn measure_down(sup: &mut Sup, timeout: Duration) -> (Option<f64>, Option<f64>) {
    for c in children(sup.pid) {
        sup.seen.insert(c);
    }
    let mut left: Vec<i32> = sup.seen.iter().copied().collect();
    let t0 = Instant::now();
    // SAFETY: SIGTERM to the supervisor this run started.
    unsafe { libc::kill(sup.pid, libc::SIGTERM) };
    let mut exit = None;
    while t0.elapsed() < timeout {
        if exit.is_none() && sup.exited() {
            exit = Some(t0.elapsed().as_secs_f64());
        }
        if exit.is_some() {
            reap_orphans();
            left.retain(|&p| pid_exists(p));
            if left.is_empty() {
                return (exit, Some(t0.elapsed().as_secs_f64()));
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    (exit, None)
}

#[derive(Debug, Clone, Default)]
struct ChurnRun {
    restarts_per_sec: Option<f64>,
    cpu_pct: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    samples: usize,
    note: String,
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    Some(sorted[i])
}

fn run_churn(kind: Kind, n: usize, plan: &Plan, work: &Path, venv: &Path) -> ChurnRun {
    let dir = work.join(format!("{}-churn-{n}", kind.name()));
    let mut sup = Sup::start(kind, n, Workload::Churn, &dir, venv);
    let mut r = ChurnRun::default();
    std::thread::sleep(plan.churn_warmup);
    if sup.exited() {
        r.note = "exited early".into();
        return r;
    }
    let s0 = sup.spawns();
    let c0 = cpu_ticks(sup.pid);
    let t0 = Instant::now();
    let mut lat = Vec::new();
    let mut tick = t0;
    while t0.elapsed() < plan.churn {
        if let Some((_, d)) = sup.query(Query::Table) {
            lat.push(d.as_secs_f64() * 1000.0);
        }
        tick += Duration::from_millis(100);
        if let Some(wait) = tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let c1 = cpu_ticks(sup.pid);
    let s1 = sup.spawns();
    // The raw baseline's counter and supervisord's log move by themselves;
    // taskmaster's is read in a query that took its own time.
    let span = t0.elapsed().as_secs_f64();
    r.restarts_per_sec = s1.zip(s0).map(|(b, a)| (b - a) as f64 / span);
    r.cpu_pct = c1
        .zip(c0)
        .map(|(b, a)| (b - a) as f64 / clk_tck() / elapsed * 100.0);
    lat.sort_by(f64::total_cmp);
    r.samples = lat.len();
    r.p50_ms = percentile(&lat, 0.50);
    r.p99_ms = percentile(&lat, 0.99);
    r.max_ms = lat.last().copied();
    sup.kill_all();
    r
}

// ----- setup

/// The target directory this bench binary was built in.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    // <target>/<profile>/deps/compare-HASH
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Installs supervisord into a venv under the target directory once.
fn ensure_supervisord() -> Result<PathBuf, String> {
    let venv = target_dir().join("bench-venv");
    let bin = supervisord_bin(&venv);
    let version_ok = || {
        Command::new(&bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == SUPERVISOR_VERSION)
    };
    if version_ok() {
        return Ok(venv);
    }
    eprintln!(
        "installing supervisor=={SUPERVISOR_VERSION} into {}",
        venv.display()
    );
    let run = |c: &mut Command| -> Result<(), String> {
        let s = c.status().map_err(|e| format!("{c:?}: {e}"))?;
        s.success()
            .then_some(())
            .ok_or(format!("{c:?} failed: {s}"))
    };
    if run(Command::new("python3").arg("-m").arg("venv").arg(&venv)).is_err() {
        // Debian's python3 needs the venv module from its own package.
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get").args(["install", "-y", "python3-venv"]))?;
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    }
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        &format!("supervisor=={SUPERVISOR_VERSION}"),
    ]))?;
    if version_ok() {
        Ok(venv)
    } else {
        Err("supervisord does not run after install".into())
    }
}

fn machine() -> String {
    let cpu = read("/proc/cpuinfo")
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|x| x.1.trim().to_string())
            })
        })
        .unwrap_or_else(|| "?".into());
    let mem = status_like("/proc/meminfo", "MemTotal").unwrap_or(0) / 1024;
    let kernel = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let load = read("/proc/loadavg").unwrap_or_default();
    format!(
        "date {date}; {nproc} CPUs ({cpu}); kernel {}; {mem} MiB RAM; loadavg at start {}",
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn status_like(path: &str, field: &str) -> Option<u64> {
    read(path)?.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

// ----- report

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn fmt_s(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.3}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    }
}

struct Results {
    up: Vec<(Kind, usize, Vec<UpRun>)>,
    churn: Vec<(Kind, usize, ChurnRun)>,
}

impl Results {
    fn runs(&self, k: Kind, n: usize) -> Option<&Vec<UpRun>> {
        self.up
            .iter()
            .find(|(kk, nn, _)| *kk == k && *nn == n)
            .map(|(_, _, r)| r)
    }

    fn add(&mut self, k: Kind, n: usize, r: UpRun) {
        match self.up.iter_mut().find(|(kk, nn, _)| *kk == k && *nn == n) {
            Some((_, _, runs)) => runs.push(r),
            None => self.up.push((k, n, vec![r])),
        }
    }

    fn med(&self, k: Kind, n: usize, f: impl Fn(&UpRun) -> Option<f64>) -> Option<f64> {
        median(self.runs(k, n)?.iter().filter_map(f).collect())
    }

    fn notes(&self, k: Kind, n: usize) -> String {
        self.runs(k, n)
            .map(|rs| {
                rs.iter()
                    .filter(|r| !r.note.is_empty())
                    .map(|r| r.note.clone())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    fn render(&self, plan: &Plan, machine: &str) -> String {
        use Kind::*;
        let ab = plan.ab();
        // The supervisors shown as columns, the second build beside the first.
        let cols: Vec<Kind> = if ab {
            vec![Raw, Taskmaster, Other, Supervisord]
        } else {
            vec![Raw, Taskmaster, Supervisord]
        };
        let head = |cols: &[Kind], extra: &[&str]| {
            let names: Vec<&str> = cols
                .iter()
                .map(|k| k.name())
                .chain(extra.iter().copied())
                .collect();
            format!(
                "| N | {} |\n|---|{}",
                names.join(" | "),
                "---|".repeat(names.len())
            )
        };
        let mut o = String::new();
        let _ = writeln!(o, "Machine: {machine}");
        let _ = writeln!(
            o,
            "Plan: N = {:?}, {} run(s) per N for raw and taskmaster (median shown), 1 for supervisord; idle window {} s; churn N = {:?} for {} s\n",
            plan.ns,
            plan.reps,
            plan.idle.as_secs(),
            plan.churn_ns,
            plan.churn.as_secs()
        );
        if ab {
            let _ = writeln!(
                o,
                "Two builds, run alternately: taskmaster = {}; other = {}\n",
                TASKMASTER,
                Other.binary().display()
            );
        }
        let _ = writeln!(
            o,
            "### up: seconds until all RUNNING (as reported: taskmaster `status --json`, supervisord its log, raw once it spawned all) / all alive (exec'd, in /proc)\n"
        );
        let ratios: &[&str] = if ab {
            &["tm / raw", "sd / tm", "other / tm"]
        } else {
            &["tm / raw", "sd / tm"]
        };
        let _ = writeln!(o, "{}", head(&cols, ratios));
        for &n in &plan.ns {
            let cell = |k: Kind| {
                let run = self.med(k, n, |r| r.running);
                let alive = self.med(k, n, |r| r.alive);
                let note = self.notes(k, n);
                if note.is_empty() {
                    format!("{} / {}", fmt_s(run), fmt_s(alive))
                } else {
                    format!("{} / {} ({note})", fmt_s(run), fmt_s(alive))
                }
            };
            let tm_alive = self.med(Taskmaster, n, |r| r.alive);
            let tm_run = self.med(Taskmaster, n, |r| r.running);
            let mut row: Vec<String> = cols.iter().map(|&k| cell(k)).collect();
            row.push(format!(
                "{} / {}",
                ratio(tm_run, self.med(Raw, n, |r| r.running)),
                ratio(tm_alive, self.med(Raw, n, |r| r.alive))
            ));
            row.push(format!(
                "{} / {}",
                ratio(self.med(Supervisord, n, |r| r.running), tm_run),
                ratio(self.med(Supervisord, n, |r| r.alive), tm_alive)
            ));
            if ab {
                row.push(format!(
                    "{} / {}",
                    ratio(self.med(Other, n, |r| r.running), tm_run),
                    ratio(self.med(Other, n, |r| r.alive), tm_alive)
                ));
            }
            let _ = writeln!(o, "| {n} | {} |", row.join(" | "));
        }
        let _ = writeln!(
            o,
            "\n### status with N up: round trip of `status` over the control socket (supervisord: XML-RPC getAllProcessInfo), ms, median of 5 (supervisord: of 3)\n"
        );
        let status_cols: Vec<Kind> = cols.iter().copied().filter(|&k| k != Raw).collect();
        let _ = writeln!(o, "{}", head(&status_cols, &[]));
        for &n in &plan.ns {
            let f = |k: Kind| {
                self.med(k, n, |r| r.status_ms)
                    .map_or("-".into(), |v| format!("{v:.1}"))
            };
            let row: Vec<String> = status_cols.iter().map(|&k| f(k)).collect();
            let _ = writeln!(o, "| {n} | {} |", row.join(" | "));
        }
        let _ = writeln!(
            o,
            "\n### memory: supervisor VmRSS / VmHWM in MiB with N up\n"
        );
        let _ = writeln!(
            o,
            "{}",
            head(&cols, &["taskmaster target (8 MiB + 4 KiB x N)"])
        );
        for &n in &plan.ns {
            let cell = |k: Kind| {
                let rss = self.med(k, n, |r| (r.rss_kib > 0).then_some(r.rss_kib as f64));
                let hwm = self.med(k, n, |r| (r.hwm_kib > 0).then_some(r.hwm_kib as f64));
                format!(
                    "{} / {}",
                    rss.map_or("-".into(), |v| format!("{:.1}", v / 1024.0)),
                    hwm.map_or("-".into(), |v| format!("{:.1}", v / 1024.0))
                )
            };
            let row: Vec<String> = cols.iter().map(|&k| cell(k)).collect();
            let _ = writeln!(
                o,
                "| {n} | {} | {:.1} |",
                row.join(" | "),
                8.0 + 4.0 * n as f64 / 1024.0
            );
        }
        let _ = writeln!(
            o,
            "\n### idle: supervisor CPU ticks / context switches over {} s with N up{}\n",
            plan.idle.as_secs(),
            if ab { " (each run, in order)" } else { "" }
        );
        let _ = writeln!(o, "{}", head(&cols, &[]));
        for &n in &plan.ns {
            let cell = |k: Kind| {
                let windows: Vec<String> = self
                    .runs(k, n)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| {
                        Some(format!(
                            "{} / {}",
                            r.idle_ticks?,
                            r.idle_ctx.map_or("-".into(), |c| c.to_string())
                        ))
                    })
                    .collect();
                if windows.is_empty() {
                    "-".into()
                } else {
                    windows.join(", ")
                }
            };
            let row: Vec<String> = cols.iter().map(|&k| cell(k)).collect();
            let _ = writeln!(o, "| {n} | {} |", row.join(" | "));
        }
        let _ = writeln!(
            o,
            "\n### churn: N processes `sleep {}`, restart always, {} s\n",
            churn_sleep(),
            plan.churn.as_secs()
        );
        let _ = writeln!(
            o,
            "| | N | restarts/s | supervisor CPU (% of one core) | status p50 ms | status p99 ms | max ms | samples |\n|---|---|---|---|---|---|---|---|"
        );
        for (k, n, c) in &self.churn {
            let f1 = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
            let _ = writeln!(
                o,
                "| {} | {n} | {} | {} | {} | {} | {} | {}{} |",
                k.name(),
                f1(c.restarts_per_sec),
                f1(c.cpu_pct),
                f1(c.p50_ms),
                f1(c.p99_ms),
                f1(c.max_ms),
                c.samples,
                if c.note.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.note)
                }
            );
        }
        let _ = writeln!(
            o,
            "\n### down: SIGTERM with N up; seconds until the supervisor exited / all children gone\n"
        );
        let _ = writeln!(o, "{}", head(&cols, ratios));
        for &n in &plan.ns {
            let cell = |k: Kind| {
                format!(
                    "{} / {}",
                    fmt_s(self.med(k, n, |r| r.down_exit)),
                    fmt_s(self.med(k, n, |r| r.down_gone))
                )
            };
            let tm = self.med(Taskmaster, n, |r| r.down_gone);
            let mut row: Vec<String> = cols.iter().map(|&k| cell(k)).collect();
            row.push(ratio(tm, self.med(Raw, n, |r| r.down_gone)));
            row.push(ratio(self.med(Supervisord, n, |r| r.down_gone), tm));
            if ab {
                row.push(ratio(self.med(Other, n, |r| r.down_gone), tm));
            }
            let _ = writeln!(o, "| {n} | {} |", row.join(" | "));
        }
        o
    }
}

fn main() {
    if let Ok(mode) = std::env::var("TM_RAW_BASELINE") {
        let n = std::env::var("TM_RAW_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .expect("TM_RAW_N");
        let argv: Vec<String> = std::env::args().skip(1).collect();
        raw_baseline::main(&mode, n, &argv);
    }
    let mut plan = Plan::from_env();
    if let Some(b) = other_binary() {
        assert!(
            b.is_file(),
            "BENCH_TASKMASTER={}: no such file",
            b.display()
        );
    }
    let biggest = plan
        .ns
        .iter()
        .chain(&plan.churn_ns)
        .copied()
        .max()
        .unwrap_or(0);
    try_raise_nofile_hard(3 * biggest as u64 + 256);
    let cap = n_cap();
    let mut capped = String::new();
    for n in plan.ns.iter_mut().chain(plan.churn_ns.iter_mut()) {
        if *n > cap {
            capped = format!(
                "N = {n} does not fit under the hard RLIMIT_NOFILE {} (two pipes per process, and it cannot be raised here): N = {cap} is run instead",
                nofile_hard()
            );
            *n = cap;
        }
    }
    // Orphans of a supervisor that dies come to us, to be reaped.
    // SAFETY: plain prctl.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
    let mut machine = machine();
    if !capped.is_empty() {
        machine = format!("{machine}\n\nNote: {capped}");
    }
    println!("{machine}");
    let venv = if plan.kinds.contains(&Kind::Supervisord) {
        match ensure_supervisord() {
            Ok(v) => v,
            Err(e) => {
                eprintln!("supervisord unavailable, skipped: {e}");
                PathBuf::new()
            }
        }
    } else {
        PathBuf::new()
    };
    let kinds: Vec<Kind> = plan
        .kinds
        .iter()
        .copied()
        .filter(|&k| k != Kind::Supervisord || supervisord_bin(&venv).exists())
        .collect();
    let work = std::env::temp_dir().join(format!("tm-bench-{}", std::process::id()));
    let mut res = Results {
        up: Vec::new(),
        churn: Vec::new(),
    };
    let t_all = Instant::now();
    // Repetitions interleave (A/B/A/B), so a change in the machine's load
    // falls on every supervisor alike.
    let most = |f: &dyn Fn(Kind) -> usize| kinds.iter().map(|&k| f(k)).max().unwrap_or(0);
    for &n in &plan.ns {
        for rep in 0..most(&|k| k.reps(&plan)) {
            for &k in kinds.iter().filter(|k| rep < k.reps(&plan)) {
                let idle = k.idles(&plan, rep).then_some(plan.idle);
                let t = Instant::now();
                let r = run_up(k, n, idle, &work, &venv);
                println!(
                    "up N={n} {:<11} rep {rep}: running {} alive {} status {:?} ms rss {} KiB hwm {} KiB idle {:?}/{:?} down {}/{} {} [{:.0} s]",
                    k.name(),
                    fmt_s(r.running),
                    fmt_s(r.alive),
                    r.status_ms,
                    r.rss_kib,
                    r.hwm_kib,
                    r.idle_ticks,
                    r.idle_ctx,
                    fmt_s(r.down_exit),
                    fmt_s(r.down_gone),
                    r.note,
                    t.elapsed().as_secs_f64()
                );
                res.add(k, n, r);
            }
        }
    }
    for &n in &plan.churn_ns {
        for rep in 0..most(&|k| k.churn_reps(&plan)) {
            for &k in kinds.iter().filter(|k| rep < k.churn_reps(&plan)) {
                let c = run_churn(k, n, &plan, &work, &venv);
                println!("churn N={n} {:<11} rep {rep}: {c:?}", k.name());
                res.churn.push((k, n, c));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    let report = res.render(&plan, &machine);
    println!("\n{report}");
    println!("total {:.0} s", t_all.elapsed().as_secs_f64());
    let path = target_dir().join("bench-results.md");
    if std::fs::write(&path, &report).is_ok() {
        println!("written to {}", path.display());
    }
}
