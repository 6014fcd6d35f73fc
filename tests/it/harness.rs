//! Runs the real `taskmaster` binary on a config written to a per-test
//! directory, talks to it over its control socket or stdin, and waits with
//! deadlines. On drop it kills the supervisor and every process group it
//! saw, by pid.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_taskmaster");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Polls `f` every 10 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads what is left of `s` to its end: a whole reply. Fails the test,
/// instead of hanging it, when the end does not come within
/// `REPLY_TIMEOUT` (`read_to_string` goes on after EINTR by itself).
pub fn read_reply(s: &mut UnixStream, what: &str) -> String {
    s.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let mut reply = String::new();
    if let Err(e) = s.read_to_string(&mut reply) {
        panic!("no whole reply to {what} within {REPLY_TIMEOUT:?} ({e}); got {reply:?}");
    }
    reply
}

/// `wait_for` with a boolean condition.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    wait_for(timeout, what, || f().then_some(()))
}

/// Uid number `k` (1..8) of this run of the suite: no other test, and no
/// other run of the suite on the same machine at the same time, runs as it
/// (RLIMIT_NPROC counts every process of a uid across the machine).
pub fn private_uid(k: u32) -> u32 {
    assert!((1..8).contains(&k), "uid slot {k}");
    200_000 + (std::process::id() % 1_000_000) * 8 + k
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Removes a test's directory when the test passed; when it failed
/// (the thread is panicking) keeps it for inspection and says where.
pub fn remove_test_dir(dir: &Path) {
    if std::thread::panicking() {
        eprintln!("test failed: its files are kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// How long `Sup::cmd` waits for a reply: far more than any command takes,
/// so only a hung supervisor reaches it, and the test fails instead of
/// hanging.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh directory for one test.
pub fn test_dir(name: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("tm-it-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// How many descriptors process `pid` has open (0 once it is gone).
pub fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Whether a process with this pid exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

/// A field of /proc/PID/status, e.g. `SigBlk`.
pub fn proc_status(pid: i32, field: &str) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_string())
    })
}

/// Every process as /proc shows it: (pid, state letter, ppid, pgid).
pub fn processes() -> Vec<(i32, String, i32, i32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name may hold spaces and parentheses: fields start
        // after the last ')'.
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(state), Some(Ok(ppid)), Some(Ok(pgid))) = (
            f.first(),
            f.get(1).map(|v| v.parse()),
            f.get(2).map(|v| v.parse()),
        ) {
            out.push((pid, state.to_string(), ppid, pgid));
        }
    }
    out
}

/// Pids whose parent is `ppid`, with their state letter.
pub fn children_of(ppid: i32) -> Vec<(i32, String)> {
    processes()
        .into_iter()
        .filter(|p| p.2 == ppid)
        .map(|(pid, state, _, _)| (pid, state))
        .collect()
}

/// Live (not zombie) pids in process group `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.3 == pgid && p.1 != "Z")
        .map(|p| p.0)
        .collect()
}

pub fn kill(pid: i32, sig: i32) {
    unsafe { libc::kill(pid, sig) };
}

/// How to start the supervisor.
#[derive(Clone, Default)]
pub struct Launch {
    pub shell: bool,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Run under `unshare --pid --fork --mount-proc` (PID 1).
    pub pid1: bool,
    /// Run as this uid and gid (`setpriv`, no supplementary groups), from a
    /// copy of the binary in the test dir, which becomes theirs.
    pub uid: Option<u32>,
    /// `prlimit` options for the supervisor, e.g. `--nproc=2`.
    pub limits: Vec<String>,
    /// Where the supervisor's stdout goes.
    pub stdout: Output,
    /// A command the supervisor runs under, e.g. `setpriv` options.
    pub wrap: Vec<String>,
    /// The control socket, instead of `tm.sock` in the test dir.
    pub socket: Option<PathBuf>,
    /// The supervisor's working directory; the test dir when `None`.
    pub cwd: Option<PathBuf>,
}

/// The supervisor's stdout.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub enum Output {
    /// A pipe the test reads (`Sup::out_text`).
    #[default]
    Piped,
    /// A pipe whose read end is closed before the supervisor starts.
    BrokenPipe,
    /// No fd 1 at all.
    Closed,
    /// A pipe nobody reads until `Sup::read_stdout` (a stalled reader).
    Held,
}

/// A running supervisor.
pub struct Sup {
    pub child: Child,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub stdin: Option<ChildStdin>,
    pub stdout: Arc<Mutex<Vec<u8>>>,
    pub stderr: Arc<Mutex<Vec<u8>>>,
    seen: Mutex<Vec<i32>>,
    exit: Option<std::process::ExitStatus>,
    /// The read end of a `Held` stdout, until `read_stdout`.
    held: Mutex<Option<std::io::PipeReader>>,
}

/// Everything `r` gives until its end, gathered by a thread.
pub fn collect(r: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    collect_into(r, buf.clone());
    buf
}

/// Appends what `r` gives to `b` until its end, in a thread.
fn collect_into(mut r: impl Read + Send + 'static, b: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
}

impl Sup {
    /// Writes `yaml` as the config of a new test dir and starts the
    /// supervisor headless, waiting until its socket answers.
    pub fn start(name: &str, yaml: &str) -> Sup {
        Sup::launch(name, yaml, Launch::default())
    }

    /// Starts with stdin as a pipe (the shell).
    pub fn start_shell(name: &str, yaml: &str) -> Sup {
        Sup::launch(
            name,
            yaml,
            Launch {
                shell: true,
                ..Launch::default()
            },
        )
    }

    pub fn launch(name: &str, yaml: &str, how: Launch) -> Sup {
        let dir = test_dir(name);
        let config = dir.join("taskmaster.yaml");
        std::fs::write(&config, yaml.replace("$DIR", dir.to_str().unwrap())).unwrap();
        let socket = how.socket.clone().unwrap_or_else(|| dir.join("tm.sock"));
        let mut bin = PathBuf::from(BIN);
        let mut wrap: Vec<String> = how.wrap.clone();
        if let Some(uid) = how.uid {
            // The user may not reach the build directory; a copy it can.
            bin = dir.join("taskmaster");
            std::fs::copy(BIN, &bin).unwrap();
            std::os::unix::fs::chown(&dir, Some(uid), Some(uid)).unwrap();
            wrap.extend([
                "setpriv".to_string(),
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".to_string(),
            ]);
        }
        if !how.limits.is_empty() {
            wrap.push("prlimit".to_string());
            wrap.extend(how.limits.iter().cloned());
            wrap.push("--".to_string());
        }
        let mut cmd = if how.pid1 {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
                .args(&wrap)
                .arg(&bin);
            c
        } else if let Some((first, rest)) = wrap.split_first() {
            let mut c = Command::new(first);
            c.args(rest).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        if !how.shell {
            cmd.arg("--no-shell");
        }
        cmd.arg("--socket")
            .arg(&socket)
            .args(&how.args)
            .arg(&config);
        cmd.current_dir(how.cwd.as_ref().unwrap_or(&dir))
            .env_remove("TASKMASTER_SOCKET")
            .envs(how.env.iter().cloned())
            .stdin(if how.shell {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::piped())
            .process_group(0);
        let mut unread = None;
        let mut held = None;
        match how.stdout {
            Output::Piped => {
                cmd.stdout(Stdio::piped());
            }
            Output::BrokenPipe => {
                let (r, w) = std::io::pipe().unwrap();
                cmd.stdout(w);
                unread = Some(r);
            }
            Output::Held => {
                let (r, w) = std::io::pipe().unwrap();
                cmd.stdout(w);
                held = Some(r);
            }
            Output::Closed => {
                cmd.stdout(Stdio::null());
                // SAFETY: close is async-signal-safe; runs between fork and exec.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::close(1);
                        Ok(())
                    });
                }
            }
        }
        let mut child = cmd.spawn().expect("spawn taskmaster");
        // Nobody reads: from now on every write to it gets EPIPE.
        drop(unread);
        let stdout = match child.stdout.take() {
            Some(out) => collect(out),
            None => Arc::new(Mutex::new(Vec::new())),
        };
        let stderr = collect(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        let mut sup = Sup {
            child,
            dir,
            config,
            socket,
            stdin,
            stdout,
            stderr,
            seen: Mutex::new(Vec::new()),
            exit: None,
            held: Mutex::new(held),
        };
        let sock = sup.socket.clone();
        wait_until(secs(10), "the control socket", || {
            if let Some(st) = sup.try_exit() {
                panic!("taskmaster exited early ({st:?}): {}", sup.err_text());
            }
            // A whole exchange, read to its end: the supervisor has closed
            // its side by then, so a count of its descriptors taken next
            // holds no connection of ours.
            UnixStream::connect(&sock).is_ok_and(|mut s| {
                let mut reply = String::new();
                s.set_read_timeout(Some(REPLY_TIMEOUT)).is_ok()
                    && s.write_all(b"version\n").is_ok()
                    && s.read_to_string(&mut reply).is_ok()
            })
        });
        sup
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends one command over the socket: (success, reply text).
    pub fn cmd(&self, line: &str) -> (bool, String) {
        self.cmd_within(line, REPLY_TIMEOUT)
    }

    /// `cmd` that fails the test when no whole reply comes within `timeout`.
    pub fn cmd_within(&self, line: &str, timeout: Duration) -> (bool, String) {
        let mut s = UnixStream::connect(&self.socket).expect("connect to control socket");
        s.set_read_timeout(Some(timeout)).unwrap();
        s.set_write_timeout(Some(timeout)).unwrap();
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut reply = String::new();
        if let Err(e) = s.read_to_string(&mut reply) {
            panic!(
                "no whole reply to '{line}' within {timeout:?} ({e}); got {reply:?}\nstderr: {}",
                self.err_text()
            );
        }
        let (status, text) = reply.split_once('\n').unwrap_or((&reply, ""));
        (status == "0", text.trim_end().to_string())
    }

    /// A command that must succeed; its reply.
    pub fn ok(&self, line: &str) -> String {
        let (ok, text) = self.cmd(line);
        assert!(ok, "'{line}' failed: {text}");
        text
    }

    /// Runs `taskmaster ctl` against this supervisor: (exit code, stdout,
    /// stderr).
    pub fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(BIN)
            .arg("ctl")
            .arg("--socket")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `status --json`, as values.
    pub fn status(&self) -> Vec<Value> {
        let text = self.ok("status --json");
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad json {e}: {text}"));
        let rows = v.as_array().unwrap().clone();
        let mut seen = self.seen.lock().unwrap();
        for r in &rows {
            if let Some(p) = r["pid"].as_i64()
                && !seen.contains(&(p as i32))
            {
                seen.push(p as i32);
            }
        }
        rows
    }

    /// The status row of one process.
    pub fn proc(&self, name: &str) -> Value {
        self.status()
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no process '{name}' in status"))
    }

    /// Waits until `name` is in `state`; returns its row.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let row = self.proc(name);
            if row["state"] == state {
                return row;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for '{name}' to be {state}; last: {row}\nstderr: {}",
                    self.err_text()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `n` processes are RUNNING.
    pub fn wait_running(&self, n: usize, timeout: Duration) {
        wait_until(timeout, &format!("{n} running"), || {
            self.status()
                .iter()
                .filter(|r| r["state"] == "RUNNING")
                .count()
                == n
        });
    }

    /// The live pid of `name` once RUNNING.
    pub fn running_pid(&self, name: &str) -> i32 {
        self.wait_state(name, "RUNNING", secs(10))["pid"]
            .as_i64()
            .unwrap() as i32
    }

    /// Starts reading a `Held` stdout into `out_text`.
    pub fn read_stdout(&self) {
        let r = self.held.lock().unwrap().take().expect("a held stdout");
        collect_into(r, self.stdout.clone());
    }

    pub fn out_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn err_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Writes a line to the supervisor's stdin.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("started with a shell");
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Closes the supervisor's stdin.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits until stdout contains `needle`.
    pub fn wait_stdout(&self, needle: &str, timeout: Duration) {
        wait_until(timeout, &format!("stdout to contain {needle:?}"), || {
            self.out_text().contains(needle)
        });
    }

    /// Waits until stderr contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) {
        wait_until(timeout, &format!("stderr to contain {needle:?}"), || {
            self.err_text().contains(needle)
        });
    }

    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().unwrap();
        }
        self.exit
    }

    /// Waits for the supervisor to exit; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let st = wait_for(timeout, "taskmaster to exit", || self.try_exit());
        st.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)
        })
    }

    /// Sends a signal to the supervisor.
    pub fn signal(&self, sig: i32) {
        kill(self.pid(), sig);
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Zombie children of the supervisor right now.
    pub fn zombies(&self) -> Vec<i32> {
        children_of(self.pid())
            .into_iter()
            .filter(|(_, s)| s == "Z")
            .map(|(p, _)| p)
            .collect()
    }
}

impl Drop for Sup {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            if let Ok(mut s) = UnixStream::connect(&self.socket) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"status --json\n");
                let mut reply = String::new();
                let _ = s.read_to_string(&mut reply);
                if let Some((_, json)) = reply.split_once('\n')
                    && let Ok(Value::Array(rows)) = serde_json::from_str::<Value>(json)
                {
                    let mut seen = self.seen.lock().unwrap();
                    seen.extend(
                        rows.iter()
                            .filter_map(|r| r["pid"].as_i64())
                            .map(|p| p as i32),
                    );
                }
            }
            kill(-self.pid(), libc::SIGKILL);
            kill(self.pid(), libc::SIGKILL);
            let _ = self.child.wait();
        }
        for &pid in self.seen.lock().unwrap().iter() {
            if pid > 1 {
                kill(-pid, libc::SIGKILL);
                kill(pid, libc::SIGKILL);
            }
        }
        remove_test_dir(&self.dir);
    }
}

/// Waits until process `pid` catches or ignores `sig` (a shell's `trap`
/// ran), instead of guessing how long a shell takes to get there.
pub fn wait_for_trap(pid: i32, sig: i32) {
    let bit = 1u64 << (sig - 1);
    let set = |field: &str| {
        proc_status(pid, field)
            .and_then(|v| u64::from_str_radix(&v, 16).ok())
            .is_some_and(|mask| mask & bit != 0)
    };
    wait_until(secs(5), &format!("{pid} to trap signal {sig}"), || {
        set("SigCgt") || set("SigIgn")
    });
}

/// Waits for a script to write a pid into `path`; the pid.
pub fn read_pid_file(path: &Path) -> i32 {
    wait_for(secs(5), &format!("a pid in {}", path.display()), || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

/// Writes an executable script into `dir`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn a_hung_supervisor_fails_a_command_instead_of_hanging_the_test() {
    let sup = Sup::start("hung", "tasks:\n  a:\n    command: sleep 1000\n");
    sup.ok("status");
    sup.signal(libc::SIGSTOP);
    let asked = Instant::now();
    let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sup.cmd_within("status", Duration::from_millis(300))
    }));
    sup.signal(libc::SIGCONT);
    let message = failed.expect_err("a stopped supervisor gives no reply");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(text.contains("no whole reply to 'status'"), "{text}");
    assert!(asked.elapsed() < Duration::from_secs(30));
    sup.ok("status");
}

#[test]
fn a_failing_tests_directory_is_kept_and_a_passing_ones_removed() {
    let kept = test_dir("kept");
    std::fs::write(kept.join("evidence"), "x").unwrap();
    let dir = kept.clone();
    let failed = std::thread::spawn(move || {
        struct Cleanup(PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                remove_test_dir(&self.0);
            }
        }
        let _cleanup = Cleanup(dir);
        panic!("a failing test");
    })
    .join();
    assert!(failed.is_err());
    assert!(kept.join("evidence").exists(), "kept for inspection");
    remove_test_dir(&kept);
    assert!(!kept.exists(), "removed when nothing failed");
}

/// A child whose stdout a thread collects (its stderr is discarded); killed
/// and reaped on drop.
pub struct Captured {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

/// The command line of `taskmaster ctl ARGS` talking to `sup`.
fn ctl_command(sup: &Sup, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("ctl").arg("--socket").arg(&sup.socket).args(args);
    c
}

impl Captured {
    pub fn start(cmd: &mut Command) -> Captured {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = collect(child.stdout.take().unwrap());
        Captured { child, out }
    }

    /// A child whose stdout goes to `to` (a file the test reads itself):
    /// `text` stays empty; killed and reaped on drop all the same.
    pub fn start_to(cmd: &mut Command, to: std::fs::File) -> Captured {
        let child = cmd.stdout(to).stderr(Stdio::null()).spawn().unwrap();
        Captured {
            child,
            out: Arc::default(),
        }
    }

    /// `taskmaster ctl ARGS` talking to `sup`.
    pub fn ctl(sup: &Sup, args: &[&str]) -> Captured {
        Captured::start(&mut ctl_command(sup, args))
    }

    /// `taskmaster ctl ARGS` talking to `sup`, its stdout on `to`.
    pub fn ctl_to(sup: &Sup, args: &[&str], to: std::fs::File) -> Captured {
        Captured::start_to(&mut ctl_command(sup, args), to)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    pub fn wait_text(&self, what: &str, f: impl Fn(&str) -> bool) {
        wait_until(secs(10), what, || f(&self.text()));
    }

    /// Ctrl-C, as a terminal sends it; the exit code.
    pub fn interrupt(&mut self) -> i32 {
        kill(self.child.id() as i32, libc::SIGINT);
        let deadline = Instant::now() + secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the child did not end on SIGINT");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
