//! The control socket and `taskmaster ctl`: mode 0600, live and stale
//! sockets, peer uid checks, exit codes, slow replies that do not hold up
//! other clients, and hostile input.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

const ONE: &str = "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n";

#[test]
fn socket_is_0600_and_removed_on_exit() {
    let mut sup = Sup::start("ctl-mode", ONE);
    let mode = std::fs::metadata(&sup.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    sup.signal(libc::SIGTERM);
    assert_eq!(sup.wait_exit(secs(10)), 0);
    assert!(!sup.socket.exists());
}

#[test]
fn ctl_exit_codes() {
    let sup = Sup::start("ctl-codes", ONE);
    sup.running_pid("a");
    let (code, out, _) = sup.ctl(&["status"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("Task"), "{out}");
    let (code, _, err) = sup.ctl(&["stop", "nosuch"]);
    assert_eq!(code, 1);
    assert!(err.contains("no such process or task: 'nosuch'"), "{err}");
    let (code, _, err) = sup.ctl(&["frobnicate"]);
    assert_eq!(code, 1, "an unknown command is a failed command");
    assert!(err.contains("unknown command 'frobnicate'"), "{err}");
    let (code, _, _) = sup.ctl(&[]);
    assert_eq!(code, 2, "ctl's own usage error");
    let (code, _, _) = sup.ctl(&["--bogus", "status"]);
    assert_eq!(code, 2);
    let out = Command::new(BIN)
        .args(["ctl", "--socket", "/nonexistent/tm.sock", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "taskmaster ctl: cannot reach a supervisor at /nonexistent/tm.sock: No such file or directory\n"
    );
    // A command naming one unknown process does nothing at all.
    let (code, _, _) = sup.ctl(&["stop", "a", "nosuch"]);
    assert_eq!(code, 1);
    assert_eq!(sup.proc("a")["state"], "RUNNING");
}

#[test]
fn ctl_status_json_is_the_machine_interface() {
    let sup = Sup::start("ctl-json", ONE);
    let pid = sup.running_pid("a");
    let (code, out, _) = sup.ctl(&["status", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["name"], "a");
    assert_eq!(v[0]["pid"], pid);
    for key in [
        "name",
        "task",
        "state",
        "pid",
        "uptime_secs",
        "restarts",
        "exit_code",
        "reason",
        "command",
    ] {
        assert!(v[0].get(key).is_some(), "missing {key}");
    }
}

#[test]
fn a_live_socket_refuses_a_second_supervisor() {
    let sup = Sup::start("ctl-live", ONE);
    let out = Command::new(BIN)
        .arg("--no-shell")
        .arg("--socket")
        .arg(&sup.socket)
        .arg(&sup.config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another taskmaster is running"), "{err}");
    assert_eq!(
        sup.ok("pid"),
        sup.pid().to_string(),
        "the first one is untouched"
    );
}

#[test]
fn a_stale_socket_is_replaced_and_a_non_socket_is_kept() {
    let dir = test_dir("ctl-stale");
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let cfg = dir.join("c.yaml");
    std::fs::write(&cfg, ONE).unwrap();
    let mut child = Command::new(BIN)
        .arg("--no-shell")
        .arg("--socket")
        .arg(&stale)
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(secs(10), "the new socket", || {
        UnixStream::connect(&stale).is_ok()
    });
    kill(child.id() as i32, libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));

    let file = dir.join("plain");
    std::fs::write(&file, "keep me").unwrap();
    let out = Command::new(BIN)
        .arg("--no-shell")
        .arg("--socket")
        .arg(&file)
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a socket"));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn peers_of_another_uid_are_refused() {
    let sup = Sup::start("ctl-uid", ONE);
    // Let anyone connect, so the peer-credential check is what refuses.
    std::fs::set_permissions(&sup.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(&sup.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "ctl",
            "--socket",
        ])
        .arg(&sup.socket)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    sup.wait_stderr("refused control connection from uid 65534", secs(5));
    sup.ok("status");
}

#[test]
fn a_slow_stop_does_not_hold_up_other_clients() {
    let sup = Sup::start(
        "ctl-slow",
        "tasks:\n  slow:\n    command: sh -c 'trap \"sleep 1.5; exit 0\" TERM; while true; do sleep 0.05; done'\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("slow");
    wait_for_trap(pid, libc::SIGTERM);
    let socket = sup.socket.clone();
    let t0 = Instant::now();
    let stopper = std::thread::spawn(move || {
        let mut s = UnixStream::connect(&socket).unwrap();
        s.write_all(b"stop slow\n").unwrap();
        let reply = read_reply(&mut s, "'stop slow'");
        (reply, t0.elapsed())
    });
    wait_until(secs(5), "STOPPING", || {
        sup.proc("slow")["state"] == "STOPPING"
    });
    for _ in 0..10 {
        let t = Instant::now();
        sup.ok("status");
        assert!(t.elapsed() < Duration::from_millis(500));
    }
    let (reply, took) = stopper.join().unwrap();
    assert_eq!(reply, "0\nProcess 'slow' stopped\n");
    assert!(took >= Duration::from_millis(1400), "{took:?}");
}

#[test]
fn hostile_clients_harm_nothing() {
    let sup = Sup::start("ctl-hostile", ONE);
    let pid = sup.running_pid("a");
    // Garbage bytes.
    let mut s = UnixStream::connect(&sup.socket).unwrap();
    s.write_all(b"\x00\xff\x1b[2J garbage ;;; \n").unwrap();
    let reply = read_reply(&mut s, "garbage");
    assert!(reply.starts_with("1\nerror: "), "{reply:?}");
    // An endless line is cut off with an error.
    let mut s = UnixStream::connect(&sup.socket).unwrap();
    let big = vec![b'x'; 200 * 1024];
    s.set_write_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let _ = s.write_all(&big);
    // The reply may be lost to a reset (the rest of our line stays unread
    // when the server closes); what matters is that nothing else suffers.
    let mut reply = String::new();
    s.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    let _ = s.read_to_string(&mut reply);
    assert!(
        reply.is_empty() || reply.starts_with("1\nerror: command longer than"),
        "{reply:?}"
    );
    sup.ok("status");
    // A client that leaves before its reply.
    let mut s = UnixStream::connect(&sup.socket).unwrap();
    s.write_all(b"restart a\n").unwrap();
    drop(s);
    // A silent client is closed after the idle timeout (10 s from its
    // accept, so never sooner after its connect); others are served
    // meanwhile. The read's own timeout only keeps a broken supervisor
    // from hanging the test.
    let t0 = Instant::now();
    let mut idle = UnixStream::connect(&sup.socket).unwrap();
    idle.set_read_timeout(Some(REPLY_TIMEOUT)).unwrap();
    sup.ok("status");
    let mut buf = [0u8; 16];
    let n = loop {
        match idle.read(&mut buf) {
            // A read with a timeout is not restarted after the test was
            // stopped and continued (or frozen and thawed): it says EINTR.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            r => break r.unwrap_or_else(|e| panic!("idle client, after {:?}: {e}", t0.elapsed())),
        }
    };
    assert_eq!(n, 0, "closed without a reply");
    assert!(t0.elapsed() >= Duration::from_secs(5), "{:?}", t0.elapsed());
    // The supervisor and its process are fine.
    wait_until(secs(15), "a restarted", || {
        sup.proc("a")["pid"]
            .as_i64()
            .is_some_and(|p| p as i32 != pid)
    });
}

#[test]
fn many_concurrent_clients_get_correct_replies() {
    let sup = Sup::start(
        "ctl-many",
        "tasks:\n  w:\n    command: sleep 1000\n    instances: 500\n    successfulStartTimeout: 0\n",
    );
    wait_until(secs(30), "500 running", || {
        sup.status()
            .iter()
            .filter(|r| r["state"] == "RUNNING")
            .count()
            == 500
    });
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let socket = sup.socket.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&socket).unwrap();
                s.write_all(b"status --json\n").unwrap();
                let reply = read_reply(&mut s, "'status --json'");
                let (code, json) = reply.split_once('\n').unwrap();
                assert_eq!(code, "0");
                let v: serde_json::Value = serde_json::from_str(json).unwrap();
                v.as_array().unwrap().len()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 500);
    }
}

#[test]
fn a_client_that_half_closes_still_gets_a_late_reply() {
    let sup = Sup::start(
        "ctl-halfclose",
        "tasks:\n  slow:\n    command: sh -c 'trap \"sleep 0.5; exit 0\" TERM; while true; do sleep 0.05; done'\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("slow");
    wait_for_trap(pid, libc::SIGTERM);
    let mut s = UnixStream::connect(&sup.socket).unwrap();
    s.write_all(b"stop slow\n").unwrap();
    // Like `nc -N`: no more input, but waiting for the answer.
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let reply = read_reply(&mut s, "'stop slow' after a half close");
    assert_eq!(reply, "0\nProcess 'slow' stopped\n");
}

#[test]
fn the_per_user_socket_directory_must_be_private() {
    // uid 61003 has no XDG_RUNTIME_DIR here: its default socket lives in
    // /tmp/taskmaster-61003, which someone else prepared, open to all.
    let dir = std::path::PathBuf::from("/tmp/taskmaster-61003");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let work = test_dir("ctl-private");
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = work.join("c.yaml");
    std::fs::write(&cfg, "tasks: {}\n").unwrap();
    let run = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=61003", "--regid=61003", "--clear-groups", BIN])
            .args(args)
            .env_remove("XDG_RUNTIME_DIR")
            .env_remove("TASKMASTER_SOCKET")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["--no-shell", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/tmp/taskmaster-61003: not a private directory"),
        "{err}"
    );
    let out = run(&["ctl", "status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a private directory"));
    std::fs::remove_dir_all(&dir).unwrap();
    let _ = std::fs::remove_dir_all(work);
}
