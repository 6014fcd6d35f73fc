//! Following a flood: one process writes 100 MiB of 100-byte lines as fast
//! as it can to stdout, which the supervisor writes to a log file, side by
//! side in one run:
//!
//! - taskmaster, log file without rotation, no follower;
//! - taskmaster, rotating log (`logMaxSize: 10M`, `logBackups: 3`), no
//!   follower;
//! - taskmaster, rotating log, 10 followers (`taskmaster ctl logs -f`):
//!   9 whose output goes to /dev/null, 1 whose stdout is a pipe nobody
//!   reads (stalled);
//! - supervisord, rotating log (`stdout_logfile_maxbytes=10MB`,
//!   `stdout_logfile_backups=3`), no follower;
//! - supervisord, rotating log, 10 `supervisorctl tail -f` (9 to
//!   /dev/null, 1 stalled).
//!
//! For each: the writer's throughput (it times its own writes from the
//! moment every follower is attached; the pipe holds 64 KiB, so it can only
//! go as fast as the supervisor reads), the supervisor's CPU time and peak
//! RSS (VmHWM), and the round trip of `status` (supervisord: XML-RPC
//! `getAllProcessInfo`) asked every 20 ms during the flood, p50 and p99.
//!
//! Run: `cargo bench --bench follow` (`BENCH_QUICK=1`: 20 MiB, one run;
//! `BENCH_ONLY=taskmaster` skips supervisord). supervisord comes from the
//! venv `cargo bench --bench compare` installs under the target directory
//! (installed here too if missing). Every process started is killed by pid
//! at the end of its run and, through the parent-death signal, if the
//! bench dies.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");
const SUPERVISOR_VERSION: &str = "4.3.0";
const FOLLOWERS: usize = 10;

/// The writer: waits for `$1/go`, writes `$2` MiB of numbered 100-byte
/// lines in 1 MiB writes, writes its elapsed seconds to `$1/took`, sleeps.
const WRITER: &str = r#"
import os, sys, time
d, mib = sys.argv[1], int(sys.argv[2])
chunk = b"".join(b"%09d " % i + b"x" * 89 + b"\n" for i in range(10486))[:1 << 20]
chunk = chunk[: chunk.rindex(b"\n") + 1]
while not os.path.exists(d + "/go"):
    time.sleep(0.005)
t = time.monotonic()
n = 0
while n < mib << 20:
    v = memoryview(chunk)
    while v:
        v = v[os.write(1, v):]
    n += len(chunk)
took = time.monotonic() - t
with open(d + "/took.tmp", "w") as f:
    f.write("%f %d" % (took, n))
os.rename(d + "/took.tmp", d + "/took")
time.sleep(100000)
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Taskmaster,
    Supervisord,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    kind: Kind,
    rotate: bool,
    followers: bool,
    label: &'static str,
}

const CASES: &[Case] = &[
    Case {
        kind: Kind::Taskmaster,
        rotate: false,
        followers: false,
        label: "taskmaster, file, no follower",
    },
    Case {
        kind: Kind::Taskmaster,
        rotate: true,
        followers: false,
        label: "taskmaster, rotating, no follower",
    },
    Case {
        kind: Kind::Taskmaster,
        rotate: true,
        followers: true,
        label: "taskmaster, rotating, 10 followers (1 stalled)",
    },
    Case {
        kind: Kind::Supervisord,
        rotate: true,
        followers: false,
        label: "supervisord, rotating, no follower",
    },
    Case {
        kind: Kind::Supervisord,
        rotate: true,
        followers: true,
        label: "supervisord, rotating, 10 tail -f (1 stalled)",
    },
];

#[derive(Debug, Clone, Default)]
struct Run {
    mib_s: f64,
    cpu_s: f64,
    /// CPU time of the follower clients together.
    followers_cpu_s: f64,
    hwm_mib: f64,
    status_p50: f64,
    status_p99: f64,
    statuses: usize,
    files: usize,
    note: String,
}

fn read(p: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(p).ok()
}

fn status_kib(pid: i32, field: &str) -> u64 {
    read(format!("/proc/{pid}/status"))
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field)?
                    .strip_prefix(':')?
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

fn cpu_ticks(pid: i32) -> u64 {
    read(format!("/proc/{pid}/stat"))
        .and_then(|s| {
            // After the command's ')': state, ppid, ..., utime (11), stime (12).
            let f: Vec<&str> = s.rsplit(')').next()?.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn children(pid: i32) -> Vec<i32> {
    read(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn request(path: &Path, bytes: &[u8]) -> Option<String> {
    let mut s = UnixStream::connect(path).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    s.write_all(bytes).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn xmlrpc(sock: &Path, method: &str, params: &str) -> Option<String> {
    let body = format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>"
    );
    let req = format!(
        "POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    request(sock, req.as_bytes())
}

fn wait(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("timed out waiting for {what}");
    false
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The supervisord venv of `benches/compare.rs`, made if missing.
fn supervisord_venv() -> Option<PathBuf> {
    let venv = target_dir().join("bench-venv");
    let ok = || {
        Command::new(venv.join("bin/supervisord"))
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == SUPERVISOR_VERSION)
    };
    if ok() {
        return Some(venv);
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .arg(format!("supervisor=={SUPERVISOR_VERSION}"))
            .status()
            .is_ok_and(|s| s.success());
    (made && ok()).then_some(venv)
}

/// Starts `cmd` as a child that dies with us.
fn spawn(cmd: &mut Command) -> Child {
    // SAFETY: prctl is async-signal-safe; it runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    cmd.spawn().expect("spawn")
}

/// Everything one run started, killed by pid on drop.
struct Procs {
    sup: Child,
    others: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Procs {
    fn drop(&mut self) {
        let pid = self.sup.id() as i32;
        for c in children(pid) {
            // SAFETY: the supervisor's children, each leading its group.
            unsafe {
                libc::kill(-c, libc::SIGKILL);
                libc::kill(c, libc::SIGKILL);
            }
        }
        let _ = self.sup.kill();
        let _ = self.sup.wait();
        for c in &mut self.others {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn run(case: Case, mib: u64, venv: Option<&Path>, n: usize) -> Option<Run> {
    let dir = target_dir().join(format!("bench-follow-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).ok()?;
    let writer = dir.join("writer.py");
    std::fs::write(&writer, WRITER).ok()?;
    let d = dir.display();
    let log = dir.join("flood.log");
    let mut procs = match case.kind {
        Kind::Taskmaster => {
            let conf = dir.join("tm.yaml");
            let rotate = if case.rotate {
                "    logMaxSize: 10M\n    logBackups: 3\n"
            } else {
                ""
            };
            std::fs::write(
                &conf,
                format!(
                    "tasks:\n  flood:\n    command: python3 {} {d} {mib}\n    autoLaunch: false\n    successfulStartTimeout: 0\n    stdout: {}\n{rotate}",
                    writer.display(),
                    log.display()
                ),
            )
            .ok()?;
            // Not --no-shell: lines are not forwarded to our stdout, as
            // supervisord does not forward them either. Stdin at its end
            // only stops the shell.
            let sup = spawn(
                Command::new(TASKMASTER)
                    .arg("--socket")
                    .arg(dir.join("tm.sock"))
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            Procs {
                sup,
                others: Vec::new(),
                dir: dir.clone(),
            }
        }
        Kind::Supervisord => {
            let venv = venv?;
            let conf = dir.join("sd.conf");
            std::fs::write(
                &conf,
                format!(
                    "[unix_http_server]\nfile={d}/sd.sock\n\
                     [supervisord]\nlogfile={d}/sd.log\npidfile={d}/sd.pid\nnodaemon=true\nchildlogdir={d}\n\
                     [supervisorctl]\nserverurl=unix://{d}/sd.sock\n\
                     [rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\
                     [program:flood]\ncommand=python3 {} {d} {mib}\nautostart=false\nstartsecs=0\n\
                     stdout_logfile={}\nstdout_logfile_maxbytes=10MB\nstdout_logfile_backups=3\nstderr_logfile=NONE\n",
                    writer.display(),
                    log.display()
                ),
            )
            .ok()?;
            let sup = spawn(
                Command::new(venv.join("bin/supervisord"))
                    .arg("-c")
                    .arg(&conf)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
            Procs {
                sup,
                others: Vec::new(),
                dir: dir.clone(),
            }
        }
    };
    let pid = procs.sup.id() as i32;
    let status = |kind: Kind| -> Option<Duration> {
        let t = Instant::now();
        let ok = match kind {
            Kind::Taskmaster => {
                request(&dir.join("tm.sock"), b"status\n").is_some_and(|r| r.contains("flood"))
            }
            Kind::Supervisord => xmlrpc(&dir.join("sd.sock"), "supervisor.getAllProcessInfo", "")
                .is_some_and(|r| r.contains("flood")),
        };
        ok.then(|| t.elapsed())
    };
    if !wait("the supervisor", Duration::from_secs(30), || {
        status(case.kind).is_some()
    }) {
        return None;
    }
    let started = match case.kind {
        Kind::Taskmaster => request(&dir.join("tm.sock"), b"start flood\n"),
        Kind::Supervisord => xmlrpc(
            &dir.join("sd.sock"),
            "supervisor.startProcess",
            "<param><value><string>flood</string></value></param>",
        ),
    };
    started?;
    if !wait("the writer", Duration::from_secs(30), || log.exists()) {
        return None;
    }
    let mut stalled_reader = None;
    if case.followers {
        let base = open_fds(pid);
        for i in 0..FOLLOWERS {
            let mut cmd = match case.kind {
                Kind::Taskmaster => {
                    let mut c = Command::new(TASKMASTER);
                    c.arg("ctl")
                        .arg("--socket")
                        .arg(dir.join("tm.sock"))
                        .args(["logs", "-f", "flood"]);
                    c
                }
                Kind::Supervisord => {
                    let mut c = Command::new(venv?.join("bin/supervisorctl"));
                    c.arg("-c")
                        .arg(dir.join("sd.conf"))
                        .args(["tail", "-f", "flood"]);
                    c
                }
            };
            cmd.stdin(Stdio::null()).stderr(Stdio::null());
            if i == 0 {
                // Stalled: a pipe whose read end we hold and never read.
                let (r, w) = std::io::pipe().ok()?;
                cmd.stdout(w);
                stalled_reader = Some(r);
            } else {
                cmd.stdout(Stdio::null());
            }
            procs.others.push(spawn(&mut cmd));
        }
        if !wait("the followers", Duration::from_secs(30), || {
            open_fds(pid) >= base + FOLLOWERS
        }) {
            return None;
        }
    }
    let follower_ticks =
        |procs: &Procs| -> u64 { procs.others.iter().map(|c| cpu_ticks(c.id() as i32)).sum() };
    let cpu0 = cpu_ticks(pid);
    let fcpu0 = follower_ticks(&procs);
    std::fs::write(dir.join("go"), "").ok()?;
    let took_path = dir.join("took");
    let mut rtts = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !took_path.exists() && Instant::now() < deadline {
        if let Some(t) = status(case.kind) {
            rtts.push(t.as_secs_f64() * 1000.0);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let took = read(&took_path)?;
    let cpu = cpu_ticks(pid) - cpu0;
    let fcpu = follower_ticks(&procs) - fcpu0;
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let (secs, bytes) = took.split_once(' ')?;
    let secs: f64 = secs.parse().ok()?;
    let bytes: f64 = bytes.parse().ok()?;
    rtts.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        rtts.get(((rtts.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let files = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("flood.log"))
                .count()
        })
        .unwrap_or(0);
    drop(stalled_reader);
    Some(Run {
        mib_s: bytes / (1 << 20) as f64 / secs,
        cpu_s: cpu as f64 / tck,
        followers_cpu_s: fcpu as f64 / tck,
        hwm_mib: status_kib(pid, "VmHWM") as f64 / 1024.0,
        status_p50: pct(0.5),
        status_p99: pct(0.99),
        statuses: rtts.len(),
        files,
        note: String::new(),
    })
}

fn median_run(mut runs: Vec<Run>) -> Option<Run> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.mib_s.total_cmp(&b.mib_s));
    let mut m = runs[runs.len() / 2].clone();
    if runs.len() > 1 {
        m.note = format!(
            "{} runs, MiB/s {:.0}..{:.0}",
            runs.len(),
            runs[0].mib_s,
            runs[runs.len() - 1].mib_s
        );
    }
    Some(m)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let only = std::env::var("BENCH_ONLY").ok();
    let (mib, reps) = if quick { (20, 1) } else { (100, 3) };
    let reps = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(reps);
    let only_case = std::env::var("BENCH_CASE").ok();
    let want_sd = only.as_deref().is_none_or(|o| o.contains("supervisord"));
    let venv = if want_sd { supervisord_venv() } else { None };
    if want_sd && venv.is_none() {
        eprintln!("supervisord unavailable: its cases are skipped");
    }
    let load = read("/proc/loadavg").unwrap_or_default();
    println!(
        "follow: {mib} MiB of 100-byte lines per run; loadavg at start {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let cases: Vec<Case> = CASES
        .iter()
        .copied()
        .filter(|case| {
            let skip = match case.kind {
                Kind::Supervisord => venv.is_none(),
                Kind::Taskmaster => only.as_deref().is_some_and(|o| !o.contains("taskmaster")),
            } || only_case
                .as_deref()
                .is_some_and(|c| !case.label.contains(c));
            !skip
        })
        .collect();
    // The repetitions take turns (A B C, A B C, ...) so that a burst of
    // load elsewhere on the machine falls on every case alike.
    let mut runs: Vec<Vec<Run>> = vec![Vec::new(); cases.len()];
    let mut n = 0;
    for rep in 0..reps {
        for (i, &case) in cases.iter().enumerate() {
            if case.kind == Kind::Supervisord && rep > 0 {
                continue;
            }
            n += 1;
            match run(case, mib, venv.as_deref(), n) {
                Some(r) => {
                    eprintln!("run {n}: {}: {:.0} MiB/s", case.label, r.mib_s);
                    runs[i].push(r);
                }
                None => eprintln!("{}: run failed", case.label),
            }
        }
    }
    let results: Vec<(Case, Option<Run>)> = cases
        .iter()
        .copied()
        .zip(runs.iter().cloned().map(median_run))
        .collect();
    println!(
        "\n| case | MiB/s | supervisor CPU s | followers CPU s | VmHWM MiB | status p50 / p99 ms (n) | log files | note |\n|---|---|---|---|---|---|---|---|"
    );
    for (case, r) in &results {
        match r {
            Some(r) => println!(
                "| {} | {:.0} | {:.2} | {:.2} | {:.1} | {:.2} / {:.2} ({}) | {} | {} |",
                case.label,
                r.mib_s,
                r.cpu_s,
                r.followers_cpu_s,
                r.hwm_mib,
                r.status_p50,
                r.status_p99,
                r.statuses,
                r.files,
                r.note
            ),
            None => println!("| {} | failed | | | | | | |", case.label),
        }
    }
    let get = |label: &str| {
        results
            .iter()
            .find(|(c, _)| c.label == label)
            .and_then(|(_, r)| r.as_ref())
    };
    if let (Some(a), Some(b)) = (
        get("taskmaster, rotating, 10 followers (1 stalled)"),
        get("taskmaster, rotating, no follower"),
    ) {
        println!(
            "\ntaskmaster: 10 followers / none: {:.2} of the throughput (target >= 0.80)",
            a.mib_s / b.mib_s
        );
    }
    let at = |label: &str| cases.iter().position(|c| c.label == label);
    if let (Some(f), Some(b)) = (
        at("taskmaster, rotating, 10 followers (1 stalled)"),
        at("taskmaster, rotating, no follower"),
    ) {
        let pairs: Vec<String> = runs[f]
            .iter()
            .zip(&runs[b])
            .map(|(f, b)| format!("{:.2}", f.mib_s / b.mib_s))
            .collect();
        println!(
            "taskmaster: the same ratio in each round: {}",
            pairs.join(" ")
        );
    }
    if let (Some(a), Some(b)) = (
        get("taskmaster, rotating, no follower"),
        get("taskmaster, file, no follower"),
    ) {
        println!(
            "taskmaster: rotating / plain file: {:.2} of the throughput",
            a.mib_s / b.mib_s
        );
    }
    if let (Some(t), Some(s)) = (
        get("taskmaster, rotating, 10 followers (1 stalled)"),
        get("supervisord, rotating, 10 tail -f (1 stalled)"),
    ) {
        println!(
            "with 10 followers: taskmaster / supervisord throughput {:.1}x",
            t.mib_s / s.mib_s
        );
    }
}
