//! The spawn path (`spawn.rs`) and the limits around it (`limits.rs`), as
//! the user sees them: the one-line warning when a limit cannot fit the
//! config, the open-file limit children get back, how a program is found
//! and why it cannot run (errno in the reason), and that spawning leaves the
//! supervisor's own descriptors alone (the child shares its fd table until
//! it takes its own).

use std::os::unix::fs::PermissionsExt;

use crate::harness::*;

fn reason(row: &serde_json::Value) -> &str {
    row["reason"].as_str().unwrap_or("")
}

/// The soft and hard RLIMIT_NOFILE of `pid`, from /proc/PID/limits.
fn nofile(pid: i32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    (f[3].parse().unwrap(), f[4].parse().unwrap())
}

// A uid no other test runs as (`private_uid`): RLIMIT_NPROC counts every
// process of a uid.
#[test]
fn a_process_limit_that_cannot_fit_the_config_is_named_in_one_line() {
    let sup = Sup::launch(
        "nproc-warning",
        "tasks:
  w:
    command: sleep 1000
    instances: 5
    autoLaunch: false
",
        Launch {
            uid: Some(private_uid(3)),
            limits: vec!["--nproc=3".into()],
            ..Launch::default()
        },
    );
    sup.wait_stderr(
        "taskmaster: RLIMIT_NPROC: 5 processes and the supervisor need 6 processes, the limit is 3 (hard limit 3); some will fail to start\n",
        secs(5),
    );
    let lines = sup
        .err_text()
        .lines()
        .filter(|l| l.contains("RLIMIT"))
        .count();
    assert_eq!(lines, 1, "{}", sup.err_text());
    // It still serves.
    assert_eq!(sup.status().len(), 5);
}

#[test]
fn children_get_back_the_open_file_limit_the_supervisor_was_given() {
    let (_, hard) = nofile(std::process::id() as i32);
    if hard < 1024 {
        // No room to raise anything here: nothing to show.
        return;
    }
    // 200 processes need more than 256 files: the supervisor raises its
    // soft limit; its children start with the 256 it was given.
    let sup = Sup::launch(
        "child-nofile",
        "tasks:
  idle:
    command: sleep 1000
    instances: 200
    autoLaunch: false
  probe:
    command: sh -c 'ulimit -n > $DIR/nofile.tmp; mv $DIR/nofile.tmp $DIR/nofile; exec sleep 1000'
    successfulStartTimeout: 0
",
        Launch {
            limits: vec![format!("--nofile=256:{hard}")],
            ..Launch::default()
        },
    );
    sup.running_pid("probe");
    let seen = wait_for(secs(5), "the probe's limit", || {
        std::fs::read_to_string(sup.path("nofile")).ok()
    });
    assert_eq!(seen.trim(), "256");
    let (soft, _) = nofile(sup.pid());
    assert!(soft >= 64 + 2 * 201, "supervisor soft limit {soft}");
}

#[test]
fn exec_failures_name_the_error_and_path_lookup_is_execvp_s() {
    let dir = test_dir("exec-errors");
    let plain = dir.join("plain");
    std::fs::write(&plain, "echo hi\n").unwrap();
    // Executable, without `#!`: run by /bin/sh, as execvp does.
    let bare = dir.join("bare");
    std::fs::write(&bare, "echo bare > \"$1\"\nexec sleep 1000\n").unwrap();
    std::fs::set_permissions(&bare, std::fs::Permissions::from_mode(0o755)).unwrap();
    // On PATH: the first entry has a non-executable `tool`, the second a
    // working one, which is what runs.
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("tool"), "#!/bin/sh\nexit 3\n").unwrap();
    // The task's PATH is the child's too: sleep by its full path.
    script(&b, "tool", "exec /bin/sleep 1000");
    let sup = Sup::start(
        "exec-errors",
        &format!(
            "tasks:
  plain:
    command: {plain}
  dir:
    command: {dir}
  bare:
    command: {bare} {out}
    successfulStartTimeout: 0
  tool:
    command: tool
    environment:
      PATH: {a}:{b}
    successfulStartTimeout: 0
",
            plain = plain.display(),
            dir = dir.display(),
            bare = bare.display(),
            out = dir.join("bare.out").display(),
            a = a.display(),
            b = b.display(),
        ),
    );
    let row = sup.wait_state("plain", "FATAL", secs(5));
    assert_eq!(
        reason(&row),
        format!("cannot execute '{}': Permission denied", plain.display())
    );
    let row = sup.wait_state("dir", "FATAL", secs(5));
    assert_eq!(
        reason(&row),
        format!("cannot execute '{}': Permission denied", dir.display())
    );
    sup.running_pid("bare");
    let out = wait_for(secs(5), "the bare script's output", || {
        std::fs::read_to_string(dir.join("bare.out"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(out, "bare\n");
    let pid = sup.running_pid("tool");
    wait_until(secs(5), "tool to exec sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    let _ = std::fs::remove_dir_all(dir);
}

/// The pipes `pid` holds: (fd, link).
fn pipe_fds(pid: &str) -> Vec<(String, String)> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let link = std::fs::read_link(e.path()).ok()?;
            let link = link.to_string_lossy().into_owned();
            link.starts_with("pipe:")
                .then(|| (e.file_name().to_string_lossy().into_owned(), link))
        })
        .collect()
}

/// The pipes the supervisor opened itself, with whether it holds them for
/// writing.
fn pipes_of(pid: i32) -> Vec<(String, bool)> {
    // Its stdout, stderr and whatever it inherited (a jobserver) are the
    // test's pipes too.
    let ours: Vec<String> = pipe_fds("self").into_iter().map(|(_, l)| l).collect();
    let mut out = Vec::new();
    for (fd, link) in pipe_fds(&pid.to_string()) {
        if fd == "1" || fd == "2" || ours.contains(&link) {
            continue;
        }
        let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        out.push((
            format!("{fd} -> {link}"),
            flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32,
        ));
    }
    out
}

#[test]
fn spawning_leaves_the_supervisors_descriptors_alone() {
    let sup = Sup::start(
        "spawn-fds",
        "tasks:
  w:
    command: sh -c 'echo out; echo err >&2; exec sleep 1000'
    instances: 20
    successfulStartTimeout: 0
  quick:
    command: sh -c 'echo bye; exit 0'
    restart: never
    successfulStartTimeout: 0
",
    );
    for i in 1..=20 {
        sup.running_pid(&format!("w_{i}"));
    }
    sup.wait_state("quick", "EXITED", secs(5));
    // Its own stdio is still where it was: the forwarded lines arrive.
    sup.wait_stdout("w_20 | out", secs(5));
    sup.wait_stderr("w_20 | err", secs(5));
    sup.wait_stdout("quick | bye", secs(5));
    // It keeps read ends only: a write end left behind would hide every
    // child's end of output.
    let pipes = pipes_of(sup.pid());
    assert_eq!(pipes.len(), 40, "{pipes:?}");
    assert!(pipes.iter().all(|(_, write)| !write), "{pipes:?}");
    // And each child has exactly its three.
    let pid = sup.running_pid("w_7");
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"]);
}

#[test]
fn processes_waiting_in_a_start_storm_say_so() {
    let dir = test_dir("start-queued");
    let config = dir.join("taskmaster.yaml");
    std::fs::write(
        &config,
        "tasks:\n  w:\n    command: sleep 1000\n    instances: 40\n    successfulStartTimeout: 0\n",
    )
    .unwrap();
    let socket = dir.join("tm.sock");
    // On the shell's stdin before the supervisor starts: read right after
    // the storm's first batch (32 spawns at most), so 8 at least still
    // wait in the queue.
    let (r, mut w) = std::io::pipe().unwrap();
    std::io::Write::write_all(&mut w, b"status\n").unwrap();
    let mut sup = Captured::start(
        std::process::Command::new(BIN)
            .arg("--socket")
            .arg(&socket)
            .arg(&config)
            .stdin(r)
            .current_dir(&dir),
    );
    let rows = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("w_"))
            .map(str::to_string)
            .collect()
    };
    sup.wait_text("the first status", |t| rows(t).len() == 40);
    let first = rows(&sup.text());
    let queued = first
        .iter()
        .filter(|row| row.contains("STOPPED") && row.ends_with("(start queued)"))
        .count();
    let started = first
        .iter()
        .filter(|row| row.contains("STARTED") || row.contains("RUNNING"))
        .count();
    assert!(queued >= 8 && queued + started == 40, "{first:#?}");
    let status = || -> Vec<serde_json::Value> {
        let out = std::process::Command::new(BIN)
            .arg("ctl")
            .arg("--socket")
            .arg(&socket)
            .args(["status", "--json"])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    wait_until(secs(20), "40 running", || {
        status().iter().filter(|r| r["state"] == "RUNNING").count() == 40
    });
    let rows = status();
    assert!(rows.iter().all(|r| r["reason"].is_null()), "{rows:?}");
    let pids: Vec<i32> = rows
        .iter()
        .map(|r| r["pid"].as_i64().unwrap() as i32)
        .collect();
    std::io::Write::write_all(&mut w, b"shutdown\n").unwrap();
    wait_until(secs(20), "the supervisor gone", || {
        sup.child.try_wait().unwrap().is_some()
    });
    assert!(pids.iter().all(|&p| !alive(p)), "every child gone");
    let _ = std::fs::remove_dir_all(dir);
}
