//! The command line: `--check`, config errors with exit 2, the example
//! config written when the default file is missing, `--help`, `--version`.

use std::process::{Command, Stdio};

use crate::harness::*;

fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("TASKMASTER_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_lists_processes() {
    let dir = test_dir("check");
    std::fs::write(
        dir.join("c.yaml"),
        "tasks:\n  w:\n    command: sleep 1\n    instances: 2\n  off:\n    command: sleep 2\n    autoLaunch: false\n",
    )
    .unwrap();
    let (code, out, err) = run(&dir, &["--check", "c.yaml"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        "off: sleep 2  (autoLaunch: false)\nw_1: sleep 1\nw_2: sleep 1\n"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn invalid_config_exits_2_naming_file_line_and_key() {
    let dir = test_dir("badconfig");
    std::fs::write(
        dir.join("bad.yaml"),
        "tasks:\n  web:\n    command: sleep 1\n    restart: sometimes\n    comand: x\n",
    )
    .unwrap();
    for args in [
        &["--check", "bad.yaml"][..],
        &["--no-shell", "bad.yaml"][..],
    ] {
        let (code, out, err) = run(&dir, args);
        assert_eq!(code, 2, "{args:?}");
        assert!(out.is_empty());
        assert!(err.contains("bad.yaml:4:"), "{err}");
        assert!(err.contains("tasks.web.restart"), "{err}");
        assert!(
            err.contains("bad.yaml:5:") && err.contains("did you mean 'command'"),
            "{err}"
        );
    }
    let (code, _, err) = run(&dir, &["--no-shell", "missing.yaml"]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.yaml"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn usage_errors_exit_2() {
    let dir = test_dir("usage");
    let (code, _, err) = run(&dir, &["--bogus"]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown option '--bogus'"), "{err}");
    let (code, out, _) = run(&dir, &["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("usage: taskmaster"));
    let (code, out, _) = run(&dir, &["--version"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("taskmaster "));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn missing_default_config_writes_the_example_and_runs_it() {
    let dir = test_dir("example");
    let socket = dir.join("s.sock");
    let mut child = Command::new(BIN)
        .args(["--no-shell", "--socket"])
        .arg(&socket)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(secs(10), "the socket", || socket.exists());
    let example = std::fs::read_to_string(dir.join("taskmaster.yaml")).unwrap();
    assert!(example.contains("instances: 2"));
    // The socket file exists a moment before it answers.
    let rows: serde_json::Value = wait_for(secs(10), "a status reply", || {
        let out = Command::new(BIN)
            .args(["ctl", "--socket"])
            .arg(&socket)
            .args(["status", "--json"])
            .output()
            .ok()?;
        serde_json::from_slice(&out.stdout).ok()
    });
    let rows = rows.as_array().unwrap();
    assert!(rows.len() >= 3);
    let pids: Vec<i64> = wait_for(secs(10), "the example to run", || {
        let out = Command::new(BIN)
            .args(["ctl", "--socket"])
            .arg(&socket)
            .args(["status", "--json"])
            .output()
            .ok()?;
        let rows: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let running: Vec<i64> = rows
            .as_array()?
            .iter()
            .filter(|r| r["state"] == "RUNNING")
            .filter_map(|r| r["pid"].as_i64())
            .collect();
        (running.len() >= 3).then_some(running)
    });
    kill(child.id() as i32, libc::SIGTERM);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    for p in pids {
        assert!(!alive(p as i32));
    }
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("wrote an example config to taskmaster.yaml"),
        "{err}"
    );
    // The example keeps the supervisor's log beside it.
    let log = std::fs::read_to_string(dir.join("taskmaster.log")).unwrap();
    assert!(log.contains("INFO  'ticker' spawned with PID "), "{log}");
    assert!(
        log.trim_end()
            .ends_with("INFO  taskmaster exits with status 0"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn output_to_a_reader_that_went_away_ends_quietly() {
    let dir = test_dir("closed-pipe");
    std::fs::write(
        dir.join("c.yaml"),
        "tasks:\n  w:\n    command: sleep 1\n    instances: 2000\n",
    )
    .unwrap();
    std::fs::write(dir.join("s.conf"), "[program:a]\ncommand=sleep 1\n").unwrap();
    for args in [
        &["--check", "c.yaml"][..],
        &["--help"][..],
        &["--version"][..],
        &["import", "s.conf"][..],
    ] {
        // A pipe whose reader is already gone, as in `--check c.yaml | head -1`.
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // Warnings to a stderr whose reader is gone too, as in `--check
    // c.yaml 2>&1 | head -1`; and ctl's error about a missing supervisor.
    std::fs::write(
        dir.join("w.yaml"),
        "tasks:\n  w:\n    command: nosuch_program_xyz\n    instances: 50\n",
    )
    .unwrap();
    for (args, code) in [
        (&["--check", "w.yaml"][..], 0),
        (&["--check", "nosuch.yaml"][..], 2),
        (&["ctl", "--socket", "nosuch.sock", "status"][..], 3),
    ] {
        let (reader, writer) = nix::unistd::pipe().unwrap();
        drop(reader);
        let status = Command::new(BIN)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer.try_clone().unwrap()))
            .stderr(Stdio::from(writer))
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
