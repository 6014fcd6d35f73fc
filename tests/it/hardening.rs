//! Hostile input and odd surroundings (issue 10): planted symlinks, FIFOs
//! and devices as log files, stray signals, spawn errors that name their
//! step, `user:` environments, escape sequences from processes, a full
//! disk, `/dev/stdout` as a log.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::harness::*;

/// One command with a deadline on the reply: a loop blocked in an open
/// would never answer.
fn ask(sup: &Sup, line: &str, limit: Duration) -> String {
    let mut s = UnixStream::connect(&sup.socket).expect("connect");
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    if let Err(e) = s.read_to_string(&mut reply) {
        panic!("no reply to '{line}' within {limit:?}: {e}");
    }
    reply
}

fn reason(sup: &Sup, name: &str) -> String {
    sup.proc(name)["reason"].as_str().unwrap_or("").to_string()
}

#[test]
fn issue_10_a_symlink_planted_at_a_log_path_is_refused_not_followed() {
    let dir = test_dir("symlink-log");
    let secret = dir.join("secret");
    std::fs::write(&secret, "root only\n").unwrap();
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::os::unix::fs::symlink(&secret, logs.join("out.log")).unwrap();
    let sup = Sup::start(
        "symlink-log",
        &format!(
            "tasks:\n  t:\n    command: echo pwned\n    stdout: {}/out.log\n    restart: never\n",
            logs.display()
        ),
    );
    sup.wait_state("t", "FATAL", secs(10));
    assert_eq!(
        reason(&sup, "t"),
        format!(
            "cannot open stdout log {}/out.log: is a symbolic link (not followed)",
            logs.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root only\n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_a_fifo_socket_device_or_directory_as_log_is_a_spawn_error_and_never_blocks() {
    let dir = test_dir("odd-logs");
    nix::unistd::mkfifo(&dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(dir.join("sock")).unwrap();
    std::fs::create_dir(dir.join("adir")).unwrap();
    let task = |name: &str, path: &str| {
        format!(
            "  {name}:\n    command: echo hi\n    stdout: {path}\n    restart: never\n    successfulStartTimeout: 0\n"
        )
    };
    let d = dir.display();
    let yaml = format!(
        "tasks:\n{}{}{}{}  ok:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
        task("fifo", &format!("{d}/fifo")),
        task("sock", &format!("{d}/sock")),
        task("dev", "/dev/zero"),
        task("adir", &format!("{d}/adir")),
    );
    let sup = Sup::start("odd-logs", &yaml);
    // The loop answers at once: no open waits for a FIFO's reader.
    let reply = ask(&sup, "status", secs(5));
    assert!(reply.starts_with("0\n"), "{reply}");
    sup.running_pid("ok");
    for (name, what) in [
        ("fifo", "fifo: is a FIFO (named pipe), not a regular file"),
        ("sock", "sock: is a socket, not a regular file"),
        ("adir", "adir: is a directory"),
    ] {
        sup.wait_state(name, "FATAL", secs(10));
        assert_eq!(
            reason(&sup, name),
            format!("cannot open stdout log {d}/{what}")
        );
    }
    sup.wait_state("dev", "FATAL", secs(10));
    assert_eq!(
        reason(&sup, "dev"),
        "cannot open stdout log /dev/zero: is a device, not a regular file"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_missing_log_directories_are_created() {
    let dir = test_dir("log-parents");
    let sup = Sup::start(
        "log-parents",
        &format!(
            "tasks:\n  t:\n    command: sh -c 'echo made; exec sleep 1000'\n    stdout: {}/a/b/out.log\n    successfulStartTimeout: 0\n",
            dir.display()
        ),
    );
    sup.running_pid("t");
    wait_until(secs(5), "the line in the new file", || {
        std::fs::read_to_string(dir.join("a/b/out.log")).is_ok_and(|s| s == "made\n")
    });
    let mode = std::fs::metadata(dir.join("a/b"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_dev_stdout_and_dev_stderr_forward_each_line_once() {
    let sup = Sup::start(
        "dev-stdout",
        "tasks:\n  t:\n    command: sh -c 'echo to-out; echo to-err >&2; exec sleep 1000'\n    stdout: /dev/stdout\n    stderr: /dev/stdout\n    successfulStartTimeout: 0\n",
    );
    sup.running_pid("t");
    sup.wait_stdout("t | to-err", secs(5));
    sup.wait_stdout("t | to-out", secs(5));
    let out = sup.out_text();
    assert_eq!(out.matches("to-out").count(), 1, "{out}");
    assert_eq!(out.matches("to-err").count(), 1, "{out}");
    assert!(!sup.err_text().contains("to-err"), "{}", sup.err_text());
}

#[test]
fn issue_10_dev_stdout_forwards_in_the_shell_too() {
    let mut sup = Sup::start_shell(
        "dev-stdout-shell",
        "tasks:\n  t:\n    command: sh -c 'echo shown-once; exec sleep 1000'\n    stdout: /dev/stdout\n    successfulStartTimeout: 0\n",
    );
    sup.running_pid("t");
    sup.wait_stdout("t | shown-once", secs(5));
    sup.send("status");
    sup.wait_stdout("RUNNING", secs(5));
    // Once, prefixed (the status table shows the command, not the line).
    let out = sup.out_text();
    assert_eq!(out.matches("| shown-once").count(), 1, "{out}");
    assert!(
        !out.lines()
            .any(|l| l.trim_start_matches("Taskmaster> ") == "shown-once"),
        "{out}"
    );
}

/// Signals that used to end the supervisor.
const STRAYS: [i32; 6] = [
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPWR,
    libc::SIGQUIT,
    libc::SIGPROF,
];

/// Sends each of `signals` to a supervisor with one process; it answers
/// after each, and it and its process live on with the same PID.
fn signals_leave_it_running(name: &str, signals: &[i32]) {
    let sup = Sup::start(
        name,
        "tasks:\n  t:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("t");
    for &sig in signals {
        sup.signal(sig);
        let reply = ask(&sup, "status --json", secs(5));
        assert!(reply.starts_with("0\n"), "after signal {sig}: {reply}");
    }
    assert!(alive(sup.pid()));
    assert_eq!(sup.proc("t")["pid"], pid);
    assert!(alive(pid));
}

#[test]
fn issue_10_stray_signals_are_ignored() {
    let rt = libc::SIGRTMIN() + 3;
    let signals: Vec<i32> = STRAYS.into_iter().chain([rt]).collect();
    signals_leave_it_running("stray-signals", &signals);
}

#[test]
fn fault_signals_sent_by_another_process_are_ignored() {
    let faults = [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGTRAP,
        libc::SIGSYS,
        libc::SIGABRT,
    ];
    // Twice each: a handler that resets itself on the first would fall to
    // the default action on the second.
    let signals: Vec<i32> = faults.into_iter().chain(faults).collect();
    signals_leave_it_running("fault-signals", &signals);
}

#[test]
fn issue_10_sigusr2_reopens_log_files() {
    let dir = test_dir("usr2-reopen");
    let log = dir.join("out.log");
    let sup = Sup::start(
        "usr2-reopen",
        &format!(
            "tasks:\n  t:\n    command: sh -c 'while :; do echo tick; sleep 0.05; done'\n    stdout: {}\n    successfulStartTimeout: 0\n",
            log.display()
        ),
    );
    sup.running_pid("t");
    wait_until(secs(5), "ticks", || log.exists());
    std::fs::rename(&log, dir.join("out.log.1")).unwrap();
    sup.signal(libc::SIGUSR2);
    wait_until(secs(5), "a new file with ticks", || {
        std::fs::read_to_string(&log).is_ok_and(|s| s.contains("tick\n"))
    });
    assert!(alive(sup.pid()));
    let _ = std::fs::remove_dir_all(dir);
}

/// The supervisor's pid outside its namespace (the child of `unshare`).
fn host_pid(sup: &Sup) -> i32 {
    wait_for(secs(5), "the namespace's init", || {
        children_of(sup.pid()).first().map(|c| c.0)
    })
}

#[test]
fn issue_10_as_pid_1_stray_signals_reach_every_running_group() {
    let dir = test_dir("pid1-forward-signals");
    let trap = |name: &str| {
        format!(
            "  {name}:\n    command: sh -c 'trap \"echo pwr >> {d}/{name}\" 30; trap \"echo alrm >> {d}/{name}\" 14; trap \"echo rt >> {d}/{name}\" 36; trap \"echo abrt >> {d}/{name}\" 6; trap \"echo segv >> {d}/{name}\" 11; echo $$ > {d}/{name}.pid; while :; do sleep 0.05; done'\n    successfulStartTimeout: 0\n",
            d = dir.display()
        )
    };
    let sup = Sup::launch(
        "pid1-forward-signals",
        &format!("tasks:\n{}{}", trap("a"), trap("b")),
        Launch {
            pid1: true,
            ..Launch::default()
        },
    );
    sup.running_pid("a");
    sup.running_pid("b");
    let init = host_pid(&sup);
    for name in ["a", "b"] {
        // The namespace's pids mean nothing here; wait on the file only.
        wait_until(secs(5), "the trap in place", || {
            dir.join(format!("{name}.pid")).exists()
        });
    }
    for (sig, word) in [
        (30, "pwr"),
        (14, "alrm"),
        (36, "rt"),
        (6, "abrt"),
        (11, "segv"),
    ] {
        // The trap runs between two sleeps; send until it shows.
        kill(init, sig);
        for name in ["a", "b"] {
            wait_until(secs(5), &format!("{name} to get {word}"), || {
                std::fs::read_to_string(dir.join(name)).is_ok_and(|s| s.contains(word))
            });
        }
    }
    assert!(alive(init));
    assert_eq!(sup.proc("a")["state"], "RUNNING");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_a_program_not_on_an_overridden_path_names_the_path() {
    let sup = Sup::start(
        "exec-reason",
        "tasks:\n  t:\n    command: nginx-not-here -g x\n    environment: {PATH: /nonexistent/sbin:/opt/none/bin}\n    restart: never\n    restartsAttempts: 0\n",
    );
    sup.wait_state("t", "FATAL", secs(10));
    assert_eq!(
        reason(&sup, "t"),
        "cannot execute 'nginx-not-here' (searched PATH=/nonexistent/sbin:/opt/none/bin): No such file or directory"
    );
}

#[test]
fn issue_10_setgroups_without_cap_setgid_names_the_step_and_user() {
    let sup = Sup::launch(
        "setgroups-reason",
        "tasks:\n  t:\n    command: sleep 1000\n    user: nobody\n    restartsAttempts: 0\n",
        Launch {
            wrap: [
                "setpriv",
                "--bounding-set=-setgid",
                "--inh-caps=-setgid",
                "--",
            ]
            .map(String::from)
            .to_vec(),
            ..Launch::default()
        },
    );
    sup.wait_state("t", "FATAL", secs(10));
    assert_eq!(
        reason(&sup, "t"),
        "cannot set groups for user 'nobody': Operation not permitted"
    );
}

/// A field of `getent passwd USER`.
fn passwd(user: &str, field: usize) -> String {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    line.trim_end().split(':').nth(field).unwrap().to_string()
}

#[test]
fn issue_10_user_sets_home_user_logname_shell_and_groups() {
    let dir = test_dir("user-env");
    let show = "sh -c 'echo \"$HOME|$USER|$LOGNAME|$SHELL|$(id -G)\"; exec sleep 1000'";
    let sup = Sup::start(
        "user-env",
        &format!(
            "tasks:
  plain:
    command: {show}
    user: nobody
    stdout: {d}/plain.log
    successfulStartTimeout: 0
  custom:
    command: {show}
    user: nobody
    environment: {{HOME: /srv/custom, SHELL: /bin/custom}}
    stdout: {d}/custom.log
    successfulStartTimeout: 0
",
            d = dir.display()
        ),
    );
    sup.running_pid("plain");
    sup.running_pid("custom");
    let groups = Command::new("id").args(["-G", "nobody"]).output().unwrap();
    let groups = String::from_utf8(groups.stdout).unwrap().trim().to_string();
    let home = passwd("nobody", 5);
    let shell = passwd("nobody", 6);
    let read = |f: &str| {
        wait_for(secs(5), f, || {
            std::fs::read_to_string(dir.join(f))
                .ok()
                .filter(|s| s.ends_with('\n'))
        })
    };
    assert_eq!(
        read("plain.log"),
        format!("{home}|nobody|nobody|{shell}|{groups}\n")
    );
    assert_eq!(
        read("custom.log"),
        format!("/srv/custom|nobody|nobody|/bin/custom|{groups}\n")
    );
    let _ = std::fs::remove_dir_all(dir);
}

const EVIL: &str = "tasks:\n  evil:\n    command: printf 'before\\033[2J\\033]0;pwned\\007after\\n'\n    restart: never\n    successfulStartTimeout: 0\n";

#[test]
fn issue_10_ctl_escapes_process_text_on_a_terminal_only() {
    let sup = Sup::start("escape-ctl", EVIL);
    sup.wait_state("evil", "EXITED", secs(10));
    wait_until(secs(5), "the line in the ring", || {
        sup.ok("logs evil").contains("after")
    });
    // To a pipe: the bytes as they are.
    let (code, out, _) = sup.ctl(&["logs", "evil"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("before\x1b[2J\x1b]0;pwned\x07after"),
        "{out:?}"
    );
    // To a terminal (script gives ctl a pty): shown as text.
    let cmd = format!(
        "{BIN} ctl --socket {} logs evil",
        sup.socket.to_str().unwrap()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        text.contains("before\\x1b[2J\\x1b]0;pwned\\x07after"),
        "{text:?}"
    );
    assert!(!text.contains('\x1b'), "{text:?}");
}

/// A small tmpfs, unmounted (lazily) and removed on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Tmpfs {
        let dir = test_dir(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot mount a tmpfs (needs root)");
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let block = [b'f'; 4096];
    while f.write_all(&block).is_ok() {}
}

/// Whether `line` is (a head of) one line the writer below prints.
fn well_formed(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("line ") else {
        return "line ".starts_with(line);
    };
    let (n, pad) = rest.split_once(' ').unwrap_or((rest, ""));
    n.chars().all(|c| c.is_ascii_digit()) && pad.chars().all(|c| c == 'x') && pad.len() <= 300
}

#[test]
fn issue_10_a_full_disk_keeps_line_boundaries_and_counts_what_was_lost() {
    let fs = Tmpfs::mount("diskfull-lines", "64k");
    let log = fs.0.join("out.log");
    let pad = "x".repeat(300);
    let sup = Sup::start(
        "diskfull-lines",
        &format!(
            "tasks:
  w:
    command: sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i {pad}\"; sleep 0.002; done'
    successfulStartTimeout: 0
    stdout: {}
",
            log.display()
        ),
    );
    sup.running_pid("w");
    wait_until(secs(5), "lines in the file", || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() > 0)
    });
    let filler = fs.0.join("filler");
    fill(&filler);
    sup.wait_stderr("cannot write output of 'w' to ", secs(20));
    // Failures go on for a while, several torn writes among them.
    let before = std::fs::metadata(&log).unwrap().len();
    std::thread::sleep(Duration::from_millis(300));
    std::fs::remove_file(&filler).unwrap();
    wait_until(secs(10), "the file to grow again", || {
        std::fs::metadata(&log).unwrap().len() > before + 20_000
    });
    let text = std::fs::read_to_string(&log).unwrap();
    for l in text.lines() {
        assert!(well_formed(l), "a torn line glued to another: {l:?}");
    }
    sup.wait_stderr("bytes were lost (No space left on device)", secs(5));
    let err = sup.err_text();
    assert_eq!(err.matches("bytes were lost").count(), 1, "{err}");
    assert_eq!(
        err.matches("cannot write output of 'w'").count(),
        1,
        "{err}"
    );
}

// ----- the control socket: read-only roots, other users' sockets

/// A read-only tmpfs (as a read-only root filesystem is), unmounted on drop.
fn read_only_dir(name: &str) -> Tmpfs {
    let fs = Tmpfs::mount(name, "1m");
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(&fs.0)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot remount read-only");
    fs
}

/// Runs the supervisor headless on `yaml` with `args`, outside the harness
/// (which always names a socket).
fn run_plain(dir: &Path, yaml: &str, args: &[&str], env: &[(&str, &Path)]) -> std::process::Child {
    let config = dir.join("taskmaster.yaml");
    std::fs::write(&config, yaml.replace("$DIR", dir.to_str().unwrap())).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("--no-shell")
        .args(args)
        .arg(&config)
        .current_dir(dir)
        .env_remove("TASKMASTER_SOCKET")
        .env_remove("XDG_RUNTIME_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits for the supervisor's exit; (code, stderr).
fn finish(mut child: std::process::Child, term: bool) -> (i32, String) {
    if term {
        kill(child.id() as i32, libc::SIGTERM);
    }
    let st = wait_for(secs(20), "the supervisor to exit", || {
        child.try_wait().unwrap()
    });
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (st.code().unwrap_or(-1), err)
}

const UP: &str = "tasks:\n  t:\n    command: sh -c 'echo up > $DIR/up; exec sleep 1000'\n    successfulStartTimeout: 0\n";

#[test]
fn issue_10_a_default_socket_path_on_a_read_only_root_warns_and_runs_without() {
    let ro = read_only_dir("ro-default-socket");
    let dir = test_dir("ro-default-socket-run");
    let child = run_plain(&dir, UP, &[], &[("XDG_RUNTIME_DIR", &ro.0)]);
    wait_until(secs(10), "the task to run", || dir.join("up").exists());
    let (code, err) = finish(child, true);
    assert_eq!(code, 0, "{err}");
    let warning = format!(
        "taskmaster: cannot bind control socket {}/taskmaster.sock: Read-only file system; running without a control socket",
        ro.0.display()
    );
    assert_eq!(
        err.lines().filter(|l| l.contains("control socket")).count(),
        1,
        "{err}"
    );
    assert!(err.contains(&warning), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_an_explicit_socket_path_that_cannot_be_made_is_an_error() {
    let ro = read_only_dir("ro-explicit-socket");
    let dir = test_dir("ro-explicit-socket-run");
    let sock = ro.0.join("tm.sock");
    let child = run_plain(&dir, UP, &["--socket", sock.to_str().unwrap()], &[]);
    let (code, err) = finish(child, false);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    assert!(!dir.join("up").exists(), "nothing started");
    // The same path from the config.
    let yaml = format!("socket: {}\n{UP}", sock.display());
    let (code, err) = finish(run_plain(&dir, &yaml, &[], &[]), false);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Read-only file system"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_no_socket_and_socket_false_run_without_one() {
    let with_false = format!("socket: false\n{UP}");
    for (yaml, args) in [(UP, &["--no-socket"][..]), (with_false.as_str(), &[][..])] {
        let dir = test_dir("no-socket");
        let xdg = dir.join("xdg");
        std::fs::create_dir(&xdg).unwrap();
        let child = run_plain(&dir, yaml, args, &[("XDG_RUNTIME_DIR", &xdg)]);
        wait_until(secs(10), "the task to run", || dir.join("up").exists());
        let made = std::fs::read_dir(&xdg).unwrap().count();
        assert_eq!(made, 0, "no socket made");
        let (code, err) = finish(child, true);
        assert_eq!(code, 0, "{err}");
        assert!(!err.contains("socket"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A listener run by `nobody` in a directory open to all (as /tmp is),
/// answering every command with a fake table.
struct Impostor {
    child: std::process::Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl Impostor {
    fn start(name: &str) -> Impostor {
        let dir = test_dir(name);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let socket = dir.join("tm.sock");
        let code = format!(
            "import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind({:?})\ns.listen(8)\nwhile True:\n    c, _ = s.accept()\n    try:\n        c.recv(4096)\n        c.sendall(b'0\\nTask Status\\nweb  RUNNING (fake)\\n')\n    except OSError:\n        pass\n    c.close()\n",
            socket.to_str().unwrap()
        );
        let child = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
                &code,
            ])
            .spawn()
            .unwrap();
        wait_until(secs(10), "the impostor's socket", || {
            UnixStream::connect(&socket).is_ok()
        });
        Impostor { child, socket, dir }
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        kill(self.child.id() as i32, libc::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn issue_10_ctl_refuses_a_socket_served_by_another_user() {
    let imp = Impostor::start("impostor-ctl");
    let out = Command::new(BIN)
        .args(["ctl", "--socket", imp.socket.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(err.contains("user 'nobody' (uid 65534)"), "{err}");
}

#[test]
fn issue_10_the_supervisor_refuses_a_path_taken_by_another_users_socket() {
    let imp = Impostor::start("impostor-sup");
    let dir = test_dir("impostor-sup-run");
    let child = run_plain(&dir, UP, &["--socket", imp.socket.to_str().unwrap()], &[]);
    let (code, err) = finish(child, false);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("user 'nobody' (uid 65534)"), "{err}");
    assert!(!dir.join("up").exists(), "nothing started");
    assert!(
        UnixStream::connect(&imp.socket).is_ok(),
        "their socket stays"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_check_warns_about_what_is_certain_to_fail() {
    let dir = test_dir("check-warnings");
    let yaml = format!(
        "tasks:
  nopath:
    command: ngnx-typo -g x
  nodir:
    command: sleep 1
    workingDirectory: {d}/missing
  nolog:
    command: sleep 1
    stdout: /proc/version/out.log
  fine:
    command: sleep 1
    stdout: {d}/new/dir/out.log
",
        d = dir.display()
    );
    std::fs::write(dir.join("c.yaml"), yaml).unwrap();
    let out = Command::new(BIN)
        .arg("--check")
        .arg(dir.join("c.yaml"))
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "taskmaster: warning: task 'nodir': working directory {}/missing does not exist",
                dir.display()
            ),
            "taskmaster: warning: task 'nolog': stdout log /proc/version/out.log cannot be created: /proc/version is not a directory".to_string(),
            "taskmaster: warning: task 'nopath': program 'ngnx-typo' not found on PATH=/usr/bin:/bin".to_string(),
        ],
        "{err}"
    );
    assert!(!dir.join("new").exists(), "--check creates nothing");
    let _ = std::fs::remove_dir_all(dir);
}

// ----- strays of a supervisor that was killed

/// Pids of live processes whose command line is `cmd` (NUL-separated
/// words given with spaces).
fn pids_running(cmd: &str) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|p| p.1 != "Z")
        .filter(|p| {
            std::fs::read(format!("/proc/{}/cmdline", p.0))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").trim_end() == cmd)
        })
        .map(|p| p.0)
        .collect()
}

/// Kills the pids it holds on drop.
struct KillOnDrop(Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &p in &self.0 {
            kill(p, libc::SIGKILL);
        }
    }
}

#[test]
fn issue_10_a_new_supervisor_stops_the_strays_of_one_that_was_killed() {
    let shared = test_dir("strays-socket");
    let socket = shared.join("tm.sock");
    let yaml = "tasks:\n  w:\n    command: sh -c 'sleep 1005; echo done'\n    successfulStartTimeout: 0\n    gracefulStopTimeout: 2\n";
    let how = Launch {
        socket: Some(socket.clone()),
        ..Launch::default()
    };
    let mut first = Sup::launch("strays-1", yaml, how.clone());
    let leader = first.running_pid("w");
    let sleep = wait_for(secs(5), "the grandchild sleep", || {
        group_members(leader).into_iter().find(|&p| p != leader)
    });
    let _guard = KillOnDrop(vec![sleep]);
    let state = shared.join("tm.sock.state");
    wait_until(secs(5), "the group in the state file", || {
        std::fs::read_to_string(&state)
            .is_ok_and(|s| s.lines().any(|l| l.starts_with(&format!("{leader} "))))
    });
    kill(first.pid(), libc::SIGKILL);
    first.wait_exit(secs(5));
    // The parent-death signal ends the shell; its child lives on.
    wait_until(secs(5), "the shell to die", || !alive(leader));
    assert!(alive(sleep), "the grandchild outlives the supervisor");

    let second = Sup::launch("strays-2", yaml, how);
    wait_until(secs(5), "the stray to be stopped", || !alive(sleep));
    let fresh = second.running_pid("w");
    assert_ne!(fresh, leader);
    let copies = wait_for(secs(5), "one sleep 1005", || {
        let p = pids_running("sleep 1005");
        (p.len() == 1).then_some(p)
    });
    assert_eq!(group_members(fresh).len(), 2, "{copies:?}");
    second.wait_stderr(
        &format!("stopping 1 stray process of 'w' (process group {leader})"),
        secs(5),
    );
    drop(second);
    let _ = std::fs::remove_dir_all(shared);
}

/// Ticks since boot when `pid` started (/proc/PID/stat field 22).
fn start_ticks(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(19).unwrap().parse().unwrap()
}

#[test]
fn issue_10_recovery_stops_only_groups_whose_leader_start_time_matches() {
    let shared = test_dir("strays-verify");
    let socket = shared.join("tm.sock");
    let spawn = || {
        Command::new("sleep")
            .arg("1006")
            .process_group(0)
            .spawn()
            .unwrap()
    };
    let (mut ours, mut reused) = (spawn(), spawn());
    let (o, r) = (ours.id() as i32, reused.id() as i32);
    let _guard = KillOnDrop(vec![o, r]);
    let t = start_ticks(o);
    // `reused` stands for a PID taken by another process since: its
    // recorded start time is not its own.
    std::fs::write(
        shared.join("tm.sock.state"),
        format!(
            "taskmaster-state 1\n{o} {} {} 15 2000 w\n{r} 1 2 15 2000 x\n",
            t, t
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        shared.join("tm.sock.state"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let sup = Sup::launch(
        "strays-verify-run",
        "tasks: {}\n",
        Launch {
            socket: Some(socket),
            ..Launch::default()
        },
    );
    wait_for(secs(5), "our group to be stopped", || {
        ours.try_wait().unwrap()
    });
    assert!(alive(r), "a process with another start time is never hit");
    assert!(reused.try_wait().unwrap().is_none());
    drop(sup);
    let _ = std::fs::remove_dir_all(shared);
}

#[test]
fn issue_10_forwarded_lines_are_escaped_on_a_terminal() {
    let dir = test_dir("escape-forward");
    let config = dir.join("taskmaster.yaml");
    std::fs::write(&config, EVIL).unwrap();
    let socket = dir.join("tm.sock");
    // script gives the supervisor a terminal as stdout.
    let cmd = format!(
        "{BIN} --no-shell --socket {} {}",
        socket.display(),
        config.display()
    );
    let mut child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            t.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let seen = || String::from_utf8_lossy(&text.lock().unwrap()).into_owned();
    let found = std::panic::catch_unwind(|| {
        wait_until(secs(10), "the forwarded line", || {
            seen().contains("evil | before\\x1b[2J\\x1b]0;pwned\\x07after")
        })
    });
    if UnixStream::connect(&socket).is_ok() {
        let mut s = UnixStream::connect(&socket).unwrap();
        let _ = s.write_all(b"shutdown\n");
        let _ = s.read_to_end(&mut Vec::new());
    }
    kill(-(child.id() as i32), libc::SIGKILL);
    let _ = child.wait();
    assert!(found.is_ok(), "{:?}", seen());
    assert!(!seen().contains("\x1b[2J"), "{:?}", seen());
    let _ = std::fs::remove_dir_all(dir);
}
