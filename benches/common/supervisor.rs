//! The release supervisor as the load benches (`events`, `eventlog`,
//! `soak`) drive it: started in a fresh directory on a config written
//! there, asked one command per control-socket connection, and stopped on
//! drop with SIGTERM, then SIGKILL by pid once its patience runs out; its
//! children follow it through their parent-death signal.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary the bench was built with.
pub const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");

/// The environment variable `name` as a number; `default` when it is unset
/// or not a number.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) of `pid` so far.
pub fn cpu(pid: i32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// `NAME-PID` under the temp dir, emptied of any earlier run.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The supervisor under test; stopped (then killed) on drop.
pub struct Supervisor {
    child: Child,
    /// Its directory: the config, the socket, what it writes there.
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// How long it may take to come up, and to go on SIGTERM.
    patience: Duration,
    /// How long one reply may take.
    reply_within: Duration,
}

impl Supervisor {
    /// `taskmaster --no-shell` on `yaml`, in `tm-bench-NAME-PID` under the
    /// temp dir; a minute to come up, to answer, and to go.
    pub fn start(name: &str, yaml: &str) -> Supervisor {
        let dir = fresh_dir(&format!("tm-bench-{name}"));
        let config = dir.join("bench.yaml");
        std::fs::write(&config, yaml).unwrap();
        let mut cmd = Command::new(TASKMASTER);
        cmd.arg("--no-shell").stdin(Stdio::null());
        let minute = Duration::from_secs(60);
        Supervisor::launch(cmd, dir, &config, minute, minute)
    }

    /// Runs `cmd` with `--socket DIR/tm.sock CONFIG` after its own
    /// arguments, stdout and stderr on /dev/null, in a process group of its
    /// own, and returns once the socket accepts. Panics when it does not
    /// within `patience`.
    pub fn launch(
        mut cmd: Command,
        dir: PathBuf,
        config: &Path,
        patience: Duration,
        reply_within: Duration,
    ) -> Supervisor {
        let socket = dir.join("tm.sock");
        let child = cmd
            .arg("--socket")
            .arg(&socket)
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn taskmaster");
        let sup = Supervisor {
            child,
            dir,
            socket,
            patience,
            reply_within,
        };
        let deadline = Instant::now() + patience;
        while UnixStream::connect(&sup.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "the control socket never came up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        sup
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// One command over the socket: the reply text. Panics unless it
    /// succeeds.
    pub fn ask(&self, line: &str) -> String {
        let mut s = UnixStream::connect(&self.socket).expect("connect");
        s.set_read_timeout(Some(self.reply_within)).unwrap();
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).expect("a reply");
        assert!(reply.starts_with("0\n"), "'{line}' failed: {reply}");
        reply
    }

    /// The restarts of every process, summed, from `status --json`.
    pub fn total_restarts(&self) -> u64 {
        let reply = self.ask("status --json");
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(reply.trim_start_matches("0\n")).expect("status --json");
        rows.iter()
            .map(|r| r["restarts"].as_u64().unwrap_or(0))
            .sum()
    }

    /// A window of `secs` in a crash loop that has just begun: after 3 s of
    /// warm-up (every process spawned once), `status` asked every 100 ms.
    pub fn status_window(&self, secs: u64) -> Window {
        std::thread::sleep(Duration::from_secs(3));
        let (cpu0, r0, t0) = (cpu(self.pid()), self.total_restarts(), Instant::now());
        let mut status = Vec::new();
        let end = t0 + Duration::from_secs(secs);
        let mut next = t0;
        while Instant::now() < end {
            let t = Instant::now();
            self.ask("status");
            status.push(t.elapsed());
            next += Duration::from_millis(100);
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
        let length = t0.elapsed();
        let cpu = cpu(self.pid()) - cpu0;
        let restarts = self.total_restarts() - r0;
        status.sort();
        Window {
            cpu,
            length,
            restarts,
            status,
        }
    }
}

/// What `Supervisor::status_window` saw.
pub struct Window {
    /// The supervisor's CPU time (user + system) in the window.
    pub cpu: Duration,
    pub length: Duration,
    /// Restarts in the window, over every process.
    pub restarts: u64,
    /// How long each `status` took, shortest first.
    pub status: Vec<Duration>,
}

impl Window {
    /// The supervisor's CPU, in % of one core.
    pub fn cpu_pct(&self) -> f64 {
        self.cpu.as_secs_f64() / self.length.as_secs_f64() * 100.0
    }

    pub fn restarts_per_sec(&self) -> f64 {
        self.restarts as f64 / self.length.as_secs_f64()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        let pid = self.pid();
        // SAFETY: plain kill of our own child, by pid.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + self.patience;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; the children get their parent-death signal.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
