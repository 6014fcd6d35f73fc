//! Containers in a real OCI runtime: taskmaster as PID 1 of a `runc`
//! container whose read-only root holds static busybox, the taskmaster
//! binary the tests built and exactly the shared libraries `ldd` lists for
//! it. The spec is `runc spec` with no terminal, a tmpfs at /run and /tmp,
//! and the default capability set. Output is read from `runc run`'s own
//! stdout and stderr (what `docker logs` shows), commands go in through
//! `runc exec`, signals through `runc kill`, and the exit status of
//! `runc run` is the container's.
//!
//! The binary is the one cargo built for these tests
//! (`CARGO_BIN_EXE_taskmaster`): building a release binary inside a test
//! would add minutes and test a binary the rest of the suite never sees;
//! the release profile changes no behaviour these tests check.
//!
//! Where runc cannot run (not root, no runc, no static busybox, a cgroup
//! layout runc refuses), each test prints one line saying why and returns.
//! Every container is deleted with `runc delete -f` when its guard drops,
//! whether the test passed or panicked.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::*;

static IDS: AtomicUsize = AtomicUsize::new(0);

/// Busybox applets the test configs and checks call.
const APPLETS: &[&str] = &[
    "sh", "sleep", "cat", "echo", "seq", "kill", "true", "ls", "mv",
];

/// Why runc cannot run here, or `None` when it can (checked once: a tiny
/// container that runs `true`).
fn cannot_run() -> Option<&'static str> {
    static WHY: OnceLock<Option<String>> = OnceLock::new();
    WHY.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Some("runc tests need root".into());
        }
        if Command::new("runc").arg("--version").output().is_err() {
            return Some("runc is not installed".into());
        }
        let Some(bb) = busybox() else {
            return Some("no static busybox (install busybox-static)".into());
        };
        let dir = test_dir("runc-probe");
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        place(&bb, &rootfs.join("bin/busybox"));
        std::os::unix::fs::symlink("busybox", rootfs.join("bin/true")).unwrap();
        let why = match write_spec(&dir, &["/bin/true"], |_| {}) {
            Err(e) => Some(e),
            Ok(()) => {
                let id = format!("tm-probe-{}", std::process::id());
                let out = Command::new("runc")
                    .args(["run", "--bundle"])
                    .arg(&dir)
                    .arg(&id)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                let _ = Command::new("runc").args(["delete", "-f", &id]).output();
                (!out.status.success()).then(|| {
                    let err = String::from_utf8_lossy(&out.stderr);
                    let line = err.lines().rev().find(|l| !l.trim().is_empty());
                    format!(
                        "runc cannot run a container here: {}",
                        line.unwrap_or("no message")
                    )
                })
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        why
    })
    .as_deref()
}

/// Prints why and returns from the test when runc cannot run.
macro_rules! need_runc {
    () => {
        if let Some(why) = cannot_run() {
            println!("skipped: {why}");
            return;
        }
    };
}

/// A statically linked busybox on this machine.
fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| {
            p.exists()
                && Command::new("ldd")
                    .arg(p)
                    .output()
                    .is_ok_and(|o| !o.status.success() || o.stdout.is_empty())
        })
}

/// The shared libraries `ldd` lists for `bin`, as absolute paths (the
/// vDSO has no file and is left out).
fn shared_libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("run ldd");
    assert!(out.status.success(), "ldd {}", bin.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// Puts `src` at `dst`: a hard link where the file system allows, else a
/// copy (the root is read-only inside the container either way). A
/// symlink (`/lib64/ld-linux-x86-64.so.2`) is resolved: the file it
/// names takes its place.
fn place(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
    let src = &src.canonicalize().unwrap();
    if std::fs::hard_link(src, dst).is_err() {
        std::fs::copy(src, dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
}

/// `runc spec` in `dir`, edited: `args` as the process, no terminal, PATH
/// on /bin, tmpfs at /run and /tmp; then `edit` for a test's own changes.
fn write_spec(dir: &Path, args: &[&str], edit: impl FnOnce(&mut Value)) -> Result<(), String> {
    let out = Command::new("runc")
        .args(["spec", "--bundle"])
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run runc spec: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "runc spec failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let path = dir.join("config.json");
    let mut spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        spec["root"]["readonly"], true,
        "runc spec: a read-only root"
    );
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(args);
    spec["process"]["env"] = json!(["PATH=/bin"]);
    let mounts = spec["mounts"].as_array_mut().unwrap();
    for dest in ["/run", "/tmp"] {
        mounts.push(json!({
            "destination": dest,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", "size=16m"],
        }));
    }
    edit(&mut spec);
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    Ok(())
}

/// Drops the mount at `dest` from a spec.
fn without_mount(spec: &mut Value, dest: &str) {
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != dest);
}

/// Adds capabilities to every set of a spec but the ambient one.
fn with_caps(spec: &mut Value, caps: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        let list = spec["process"]["capabilities"][set].as_array_mut().unwrap();
        list.extend(caps.iter().map(|c| json!(c)));
    }
}

/// One running container: `runc run` in the foreground, its output
/// collected. Dropping it deletes the container and reaps `runc run`.
struct Container {
    id: String,
    dir: PathBuf,
    runc: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    exit: Option<ExitStatus>,
}

impl Container {
    /// Builds the bundle (rootfs with `yaml` as /etc/taskmaster.yaml, spec
    /// changed by `edit`) and starts taskmaster as its PID 1.
    fn start(name: &str, yaml: &str, edit: impl FnOnce(&mut Value)) -> Container {
        let dir = test_dir(&format!("runc-{name}"));
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "run", "tmp"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        place(&busybox().unwrap(), &rootfs.join("bin/busybox"));
        for applet in APPLETS {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        place(Path::new(BIN), &rootfs.join("bin/taskmaster"));
        for lib in shared_libraries(Path::new(BIN)) {
            place(&lib, &rootfs.join(lib.strip_prefix("/").unwrap()));
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        std::fs::write(rootfs.join("etc/taskmaster.yaml"), yaml).unwrap();
        write_spec(&dir, &["taskmaster", "/etc/taskmaster.yaml"], edit).unwrap();
        let id = format!(
            "tm-{}-{}-{name}",
            std::process::id(),
            IDS.fetch_add(1, Ordering::SeqCst)
        );
        let mut runc = Command::new("runc")
            .args(["run", "--bundle"])
            .arg(&dir)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn runc run");
        let out = collect(runc.stdout.take().unwrap());
        let err = collect(runc.stderr.take().unwrap());
        Container {
            id,
            dir,
            runc,
            out,
            err,
            exit: None,
        }
    }

    /// Starts the container and waits until `ctl status` answers inside.
    fn ready(name: &str, yaml: &str, edit: impl FnOnce(&mut Value)) -> Container {
        let mut c = Container::start(name, yaml, edit);
        wait_until(secs(20), "ctl status inside the container", || {
            if let Some(st) = c.try_exit() {
                panic!("container exited early ({st:?}): {}", c.err_text());
            }
            c.exec(&["taskmaster", "ctl", "status"]).0 == 0
        });
        c
    }

    /// `runc exec ID ARGS...`: (exit code, stdout, stderr).
    fn exec(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new("runc")
            .args(["exec", &self.id])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run runc exec");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `runc kill ID SIG`.
    fn kill(&self, sig: &str) {
        let out = Command::new("runc")
            .args(["kill", &self.id, sig])
            .output()
            .expect("run runc kill");
        assert!(
            out.status.success(),
            "runc kill {sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `status --json` from inside, as rows.
    fn status(&self) -> Vec<Value> {
        let (code, out, err) = self.exec(&["taskmaster", "ctl", "status", "--json"]);
        assert_eq!(code, 0, "ctl status --json: {err}");
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        v.as_array().unwrap().clone()
    }

    fn row(&self, name: &str) -> Value {
        self.status()
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no process '{name}' in status"))
    }

    /// Waits until process `name` is in `state`; its row.
    fn wait_state(&self, name: &str, state: &str) -> Value {
        wait_for(secs(20), &format!("'{name}' to be {state}"), || {
            let row = self.row(name);
            (row["state"] == state).then_some(row)
        })
    }

    fn out_text(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    fn err_text(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Waits until the container's stdout holds the line `line`.
    fn wait_line(&self, line: &str) {
        let deadline = Instant::now() + secs(20);
        while !self.out_text().lines().any(|l| l == line) {
            assert!(
                Instant::now() < deadline,
                "no line {line:?} on the container's stdout:\n{}\nstderr:\n{}",
                self.out_text(),
                self.err_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.runc.try_wait().unwrap();
        }
        self.exit
    }

    /// Waits for the container to end; its exit status as a shell shows it.
    fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let st = wait_for(timeout, "the container to exit", || self.try_exit());
        st.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)
        })
    }

    /// Every process of the container as its own /proc shows it, read
    /// with `runc exec`: (pid, state letter, ppid). Processes started by
    /// `runc exec` itself have ppid 0 and are left out.
    fn processes(&self) -> Vec<(i32, String, i32)> {
        let (_, out, _) = self.exec(&["sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null"]);
        out.lines()
            .filter_map(|l| {
                let (head, rest) = l.rsplit_once(')')?;
                let pid = head.split_whitespace().next()?.parse().ok()?;
                let mut f = rest.split_whitespace();
                let state = f.next()?.to_string();
                let ppid = f.next()?.parse().ok()?;
                Some((pid, state, ppid))
            })
            .filter(|p| p.2 != 0)
            .collect()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        // Kills whatever still runs in it (SIGKILL) and removes it; an
        // error only means it is gone already.
        let _ = Command::new("runc")
            .args(["delete", "-f", &self.id])
            .output();
        if self.try_exit().is_none() {
            let deadline = Instant::now() + secs(10);
            while self.try_exit().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.exit.is_none() {
                let _ = self.runc.kill();
                let _ = self.runc.wait();
            }
        }
        remove_test_dir(&self.dir);
    }
}

fn nothing(_: &mut Value) {}

#[test]
fn runc_rootfs_holds_only_busybox_taskmaster_and_its_libraries() {
    need_runc!();
    let c = Container::ready(
        "rootfs",
        "tasks:\n  idle:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
        nothing,
    );
    let (code, out, err) = c.exec(&["sh", "-c", "ls -R /bin /lib* /etc"]);
    assert_eq!(code, 0, "{err}");
    for name in ["busybox", "taskmaster", "passwd", "taskmaster.yaml"] {
        assert!(out.lines().any(|l| l == name), "{name} in:\n{out}");
    }
    for lib in shared_libraries(Path::new(BIN)) {
        let file = lib.file_name().unwrap().to_str().unwrap();
        assert!(out.lines().any(|l| l == file), "{file} in:\n{out}");
    }
    // Read-only root: nothing outside the tmpfs mounts can be written.
    let (code, _, err) = c.exec(&["sh", "-c", "echo x > /etc/x"]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");
}

#[test]
fn runc_output_reaches_the_containers_stdout_and_stderr() {
    need_runc!();
    let c = Container::ready(
        "output",
        "tasks:\n  say:\n    command: sh -c 'echo to-out; echo to-err >&2; exec sleep 1000'\n    successfulStartTimeout: 0\n",
        nothing,
    );
    c.wait_line("say | to-out");
    wait_until(secs(20), "the stderr line", || {
        c.err_text().lines().any(|l| l == "say | to-err")
    });
    assert!(!c.out_text().contains("to-err"), "{}", c.out_text());
    assert!(!c.err_text().contains("to-out"), "{}", c.err_text());
}

#[test]
fn runc_exec_ctl_status_and_json() {
    need_runc!();
    let c = Container::ready(
        "status",
        "tasks:\n  web:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
        nothing,
    );
    let row = c.wait_state("web", "RUNNING");
    let pid = row["pid"].as_i64().unwrap();
    assert_eq!(row["task"], "web");
    assert_eq!(row["command"], "sleep 1000");
    let (code, table, err) = c.exec(&["taskmaster", "ctl", "status"]);
    assert_eq!(code, 0, "{err}");
    let mut lines = table.lines();
    let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        head,
        ["Task", "Status", "PID", "Uptime", "Restarts", "Command"]
    );
    let cols: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(cols[..3], ["web", "RUNNING", &pid.to_string()]);
    // The pid is the container's own: its /proc shows that process.
    let (_, cmdline, _) = c.exec(&["cat", &format!("/proc/{pid}/cmdline")]);
    assert_eq!(cmdline, "sleep\x001000\x00");
    let (code, me, _) = c.exec(&["taskmaster", "ctl", "pid"]);
    assert_eq!((code, me.trim()), (0, "1"));
}

#[test]
fn runc_kill_term_exits_0_within_the_graceful_timeouts() {
    need_runc!();
    let yaml = "tasks:
  polite:
    command: sh -c 'trap \"echo stopping; exit 0\" TERM; echo up; while true; do sleep 0.1; done'
    successfulStartTimeout: 0
    gracefulStopTimeout: 10
  stubborn:
    command: sh -c 'trap \"\" TERM; echo up; while true; do sleep 0.1; done'
    successfulStartTimeout: 0
    gracefulStopTimeout: 2
";
    let mut c = Container::ready("term", yaml, nothing);
    c.wait_line("polite | up");
    c.wait_line("stubborn | up");
    let t0 = Instant::now();
    c.kill("TERM");
    assert_eq!(c.wait_exit(secs(20)), 0, "{}", c.err_text());
    let took = t0.elapsed();
    // The stubborn task had its 2 s before SIGKILL, and no more than that
    // plus the time to wind down on a loaded machine.
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took < secs(12), "{took:?}");
    c.wait_line("polite | stopping");
}

#[test]
fn runc_second_term_forces_exit_1() {
    need_runc!();
    let yaml = "tasks:
  stubborn:
    command: sh -c 'trap \"echo got TERM\" TERM; echo up; while true; do sleep 0.1; done'
    successfulStartTimeout: 0
    gracefulStopTimeout: 120
";
    let mut c = Container::ready("term2", yaml, nothing);
    c.wait_line("stubborn | up");
    c.kill("TERM");
    // The first one was taken (signals of one kind do not queue).
    c.wait_line("stubborn | got TERM");
    let t0 = Instant::now();
    c.kill("TERM");
    assert_eq!(c.wait_exit(secs(20)), 1, "{}", c.err_text());
    assert!(t0.elapsed() < secs(20));
}

fn essential(name: &str, cmd: &str) -> i32 {
    let yaml = format!(
        "tasks:\n  main:\n    command: {cmd}\n    essential: true\n    restart: never\n    successfulStartTimeout: 0.1\n  side:\n    command: sleep 1000\n    successfulStartTimeout: 0\n"
    );
    let mut c = Container::start(name, &yaml, nothing);
    let code = c.wait_exit(secs(30));
    println!("container stderr:\n{}", c.err_text());
    code
}

#[test]
fn runc_essential_exit_7_is_the_containers() {
    need_runc!();
    assert_eq!(essential("ess7", "sh -c 'sleep 1; exit 7'"), 7);
}

#[test]
fn runc_essential_killed_by_sigkill_is_137() {
    need_runc!();
    assert_eq!(essential("ess137", "sh -c 'sleep 1; kill -9 $$'"), 137);
}

#[test]
fn runc_orphans_of_a_fork_storm_are_reaped() {
    need_runc!();
    let yaml = "tasks:
  forker:
    command: sh -c 'for i in $(seq 100); do (sleep 2 &); done; echo forked; exec sleep 1000'
    successfulStartTimeout: 0
  daemon:
    command: sh -c '(sleep 2; exit 0) & exit 0'
    restart: never
    successfulStartTimeout: 0
";
    let c = Container::ready("orphans", yaml, nothing);
    c.wait_line("forker | forked");
    let forker = c.wait_state("forker", "RUNNING")["pid"].as_i64().unwrap() as i32;
    // The orphans were re-parented to taskmaster, PID 1.
    let seen = wait_for(secs(20), "orphans under PID 1", || {
        let n = c
            .processes()
            .iter()
            .filter(|p| p.2 == 1 && p.0 != forker)
            .count();
        (n >= 50).then_some(n)
    });
    assert!(seen >= 50);
    // Once they end, PID 1's only child is the task, and no zombie is left.
    wait_until(secs(30), "every orphan reaped", || {
        let ps = c.processes();
        ps.iter().all(|p| p.1 != "Z")
            && ps
                .iter()
                .filter(|p| p.0 != 1)
                .map(|p| p.0)
                .collect::<Vec<_>>()
                == [forker]
    });
    assert_eq!(c.row("daemon")["state"], "EXITED");
}

const NOBODY: &str =
    "tasks:\n  low:\n    command: sleep 1000\n    user: nobody\n    successfulStartTimeout: 0\n";

#[test]
fn runc_user_nobody_with_setuid_and_setgid_capabilities_runs_as_nobody() {
    need_runc!();
    let c = Container::ready("nobody-caps", NOBODY, |spec| {
        with_caps(spec, &["CAP_SETUID", "CAP_SETGID"])
    });
    let pid = c.wait_state("low", "RUNNING")["pid"].as_i64().unwrap();
    let (code, status, err) = c.exec(&["cat", &format!("/proc/{pid}/status")]);
    assert_eq!(code, 0, "{err}");
    for field in ["Uid:", "Gid:"] {
        let ids = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>();
        assert_eq!(ids, ["65534"; 4], "{field}");
    }
}

fn traps(sigs: &[&str]) -> String {
    let traps: String = sigs
        .iter()
        .map(|s| format!("trap \\\"echo got {s}\\\" {s}; "))
        .collect();
    format!(
        "tasks:\n  w:\n    command: sh -c \"{traps}echo up; while true; do sleep 0.1; done\"\n    successfulStartTimeout: 0\n"
    )
}

#[test]
fn runc_kill_usr2_reopens_the_log_files_as_pid_1() {
    need_runc!();
    let yaml = "tasks:
  w:
    command: sh -c 'while true; do echo tick; sleep 0.1; done'
    successfulStartTimeout: 0
    stdout: /tmp/w.log
";
    let c = Container::ready("usr2", yaml, nothing);
    let pid = c.wait_state("w", "RUNNING")["pid"].clone();
    let has_ticks = |path: &str| c.exec(&["cat", path]).1.starts_with("tick\n");
    wait_until(secs(20), "lines in /tmp/w.log", || has_ticks("/tmp/w.log"));
    // What logrotate does: move the file, then signal the supervisor.
    let (code, _, err) = c.exec(&["mv", "/tmp/w.log", "/tmp/w.log.1"]);
    assert_eq!(code, 0, "{err}");
    c.kill("USR2");
    wait_until(secs(20), "a new /tmp/w.log", || has_ticks("/tmp/w.log"));
    // The supervisor took the signal; the task was left alone.
    let row = c.row("w");
    assert_eq!((&row["state"], &row["pid"]), (&"RUNNING".into(), &pid));
}

#[test]
fn runc_kill_pwr_is_forwarded_to_the_tasks() {
    need_runc!();
    let c = Container::ready("pwr", &traps(&["PWR", "ALRM"]), nothing);
    c.wait_line("w | up");
    c.kill("PWR");
    c.wait_line("w | got PWR");
    c.kill("ALRM");
    c.wait_line("w | got ALRM");
    assert_eq!(c.row("w")["state"], "RUNNING");
}

#[test]
fn runc_user_nobody_with_default_capabilities_is_fatal_and_names_the_step() {
    need_runc!();
    let c = Container::ready("nobody-default", NOBODY, nothing);
    let row = c.wait_state("low", "FATAL");
    let reason = row["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "cannot set groups for user 'nobody': Operation not permitted"
    );
    // Nothing else was affected: the supervisor still answers.
    assert_eq!(c.exec(&["taskmaster", "ctl", "pid"]).1.trim(), "1");
}

#[test]
fn runc_read_only_root_without_a_run_tmpfs_runs_without_a_socket() {
    need_runc!();
    let mut c = Container::start(
        "no-run",
        "tasks:\n  say:\n    command: sh -c 'echo hello; exec sleep 1000'\n    successfulStartTimeout: 0\n",
        |spec| without_mount(spec, "/run"),
    );
    c.wait_line("say | hello");
    // One warning naming the path and why, then on without a socket.
    let err = c.err_text();
    let warning = err
        .lines()
        .find(|l| l.contains("/run/taskmaster.sock"))
        .unwrap_or_else(|| panic!("no warning about the socket: {err}"));
    assert!(
        warning.contains("Read-only file system")
            && warning.ends_with("; running without a control socket"),
        "{warning}"
    );
    let (code, _, _) = c.exec(&["taskmaster", "ctl", "status"]);
    assert_eq!(code, 3, "no supervisor reachable");
    c.kill("TERM");
    assert_eq!(c.wait_exit(secs(20)), 0, "{}", c.err_text());
}
