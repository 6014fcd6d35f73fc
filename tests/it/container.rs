//! Container init: taskmaster as PID 1 of a new PID namespace (`unshare
//! --pid --fork --mount-proc`), reaping orphans, sweeping the namespace at
//! shutdown, essential exit codes, forwarded output, parent death, users.

use std::time::Duration;

use crate::harness::*;

fn pid1(name: &str, yaml: &str) -> Sup {
    Sup::launch(
        name,
        yaml,
        Launch {
            pid1: true,
            ..Launch::default()
        },
    )
}

/// The supervisor's pid as the host sees it (the child of `unshare`).
fn host_pid(sup: &Sup) -> i32 {
    wait_for(secs(5), "the supervisor under unshare", || {
        children_of(sup.pid()).first().map(|(p, _)| *p)
    })
}

/// Every descendant of `pid`, as the host sees them.
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for (c, _) in children_of(p) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

#[test]
fn runs_as_pid_1_headless() {
    let sup = pid1(
        "pid1-basic",
        "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    );
    assert_eq!(sup.ok("pid"), "1");
    sup.running_pid("a");
    let host = host_pid(&sup);
    assert_eq!(
        proc_status(host, "NSpid")
            .unwrap()
            .split_whitespace()
            .last(),
        Some("1")
    );
}

#[test]
fn a_hundred_orphans_leave_no_zombie() {
    let sup = pid1(
        "pid1-orphans",
        "tasks:\n  forker:\n    command: sh -c 'for i in $(seq 100); do (sleep 0.2 &); done; exec sleep 1000'\n    successfulStartTimeout: 0\n",
    );
    sup.running_pid("forker");
    let host = host_pid(&sup);
    // The orphans are re-parented to PID 1; once they end, only the task
    // itself may be left as a child, and never a zombie.
    wait_until(secs(10), "all orphans reaped", || {
        let c = children_of(host);
        c.len() == 1 && c[0].1 != "Z"
    });
}

#[test]
fn a_double_forking_task_is_recorded_and_its_grandchild_reaped() {
    let sup = pid1(
        "pid1-daemon",
        "tasks:\n  daemon:\n    command: sh -c '(sleep 0.5; exit 0) & exit 0'\n    restart: never\n    successfulStartTimeout: 0\n",
    );
    let row = sup.wait_state("daemon", "EXITED", secs(5));
    assert_eq!(row["exit_code"], 0);
    let host = host_pid(&sup);
    wait_until(secs(10), "the grandchild reaped", || {
        children_of(host).is_empty()
    });
}

#[test]
fn sigterm_empties_the_namespace_and_exits_0() {
    let mut sup = pid1(
        "pid1-sweep",
        "tasks:
  main:
    command: sleep 1000
    successfulStartTimeout: 0
  escaper:
    command: sh -c 'setsid sh -c \"trap \\\"\\\" TERM; while true; do sleep 0.1; done\" & exec sleep 1000'
    successfulStartTimeout: 0
",
    );
    sup.running_pid("main");
    sup.running_pid("escaper");
    let host = host_pid(&sup);
    let all = wait_for(secs(5), "the escaped process", || {
        let d = descendants(host);
        (d.len() >= 4).then_some(d)
    });
    // What `docker stop` does: SIGTERM to the namespace's PID 1.
    kill(host, libc::SIGTERM);
    assert_eq!(sup.wait_exit(secs(15)), 0, "{}", sup.err_text());
    for p in all {
        assert!(!alive(p), "{p} outlived PID 1");
    }
    assert!(
        sup.err_text().contains("remaining processes"),
        "{}",
        sup.err_text()
    );
}

#[test]
fn essential_exit_codes_propagate() {
    for (cmd, want) in [
        ("sh -c 'sleep 0.3; exit 7'", 7),
        ("sh -c 'sleep 0.3; kill -9 $$'", 137),
    ] {
        let mut sup = pid1(
            "pid1-essential",
            &format!(
                "tasks:\n  main:\n    command: {cmd}\n    essential: true\n    restart: never\n    successfulStartTimeout: 0.1\n  side:\n    command: sleep 1000\n    successfulStartTimeout: 0\n"
            ),
        );
        assert_eq!(sup.wait_exit(secs(10)), want, "{cmd}");
    }
}

#[test]
fn forwarded_lines_stay_whole_under_two_noisy_tasks() {
    let yaml = "tasks:
  a:
    command: sh -c 'i=0; while [ $i -lt 3000 ]; do echo \"a-line-$i-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"; i=$((i+1)); done; exec sleep 1000'
    successfulStartTimeout: 0
  b:
    command: sh -c 'i=0; while [ $i -lt 3000 ]; do echo \"b-line-$i-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"; i=$((i+1)); done; exec sleep 1000'
    successfulStartTimeout: 0
";
    let sup = pid1("pid1-forward", yaml);
    wait_until(secs(20), "6000 lines", || {
        sup.out_text().lines().count() >= 6000
    });
    let out = sup.out_text();
    let mut next = [0usize; 2];
    for line in out.lines() {
        let (name, rest) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("not a forwarded line: {line:?}"));
        let k = match name {
            "a" => 0,
            "b" => 1,
            _ => panic!("{line:?}"),
        };
        let fill = if k == 0 { "a" } else { "b" };
        assert_eq!(
            rest,
            format!("{name}-line-{}-{}", next[k], fill.repeat(56)),
            "mixed or lost line"
        );
        next[k] += 1;
    }
    assert_eq!(next, [3000, 3000]);
}

#[test]
fn children_get_their_stop_signal_when_the_supervisor_is_killed() {
    let dir = test_dir("pdeath-files");
    let mut sup = Sup::start(
        "pdeath",
        &format!(
            "tasks:\n  orphan:\n    command: sh -c 'trap \"echo got > {}/sig; exit 0\" USR1; while true; do sleep 0.05; done'\n    stopSignal: USR1\n    successfulStartTimeout: 0\n",
            dir.display()
        ),
    );
    let pid = sup.running_pid("orphan");
    wait_for_trap(pid, libc::SIGUSR1);
    sup.signal(libc::SIGKILL);
    sup.wait_exit(secs(5));
    wait_until(secs(5), "the parent-death signal", || {
        dir.join("sig").exists()
    });
    wait_until(secs(5), "the child to end", || !alive(pid));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn user_nobody_runs_as_nobody() {
    let sup = Sup::start(
        "user",
        "tasks:\n  low:\n    command: sleep 1000\n    user: nobody\n    successfulStartTimeout: 0\n  ghost:\n    command: sleep 1000\n    user: no-such-user-here\n",
    );
    let pid = sup.running_pid("low");
    let uid = proc_status(pid, "Uid").unwrap();
    assert!(uid.split_whitespace().all(|u| u == "65534"), "{uid}");
    let gid = proc_status(pid, "Gid").unwrap();
    let nobody_gid = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| l.split(':').nth(3).map(str::to_string))
        .unwrap();
    assert!(gid.split_whitespace().all(|g| g == nobody_gid), "{gid}");
    let groups = proc_status(pid, "Groups").unwrap();
    assert!(
        groups.split_whitespace().all(|g| g == nobody_gid),
        "no root groups left: {groups}"
    );
    let row = sup.wait_state("ghost", "FATAL", secs(5));
    assert_eq!(row["reason"], "unknown user 'no-such-user-here'");
}

#[test]
fn user_needs_root() {
    let dir = test_dir("user-root");
    let cfg = dir.join("u.yaml");
    std::fs::write(
        &cfg,
        "tasks:\n  low:\n    command: sleep 1\n    user: nobody\n",
    )
    .unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "--check",
        ])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("u.yaml:4:5: tasks.low.user: only allowed when taskmaster runs as root"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stalled_log_reader_never_blocks_the_loop_and_drops_are_counted() {
    use std::io::Read;
    let dir = test_dir("stalled-stdout");
    let cfg = dir.join("c.yaml");
    let socket = dir.join("s.sock");
    // About 6 MiB of forwarded lines: far more than a pipe and the 1 MiB
    // queue hold while nobody reads.
    std::fs::write(
        &cfg,
        "tasks:\n  noisy:\n    command: sh -c 'seq 1 600000; exec sleep 1000'\n    successfulStartTimeout: 0\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["--no-shell", "--socket"])
        .arg(&socket)
        .arg(&cfg)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ctl = |cmd: &str| {
        std::process::Command::new(BIN)
            .args(["ctl", "--socket"])
            .arg(&socket)
            .arg(cmd)
            .output()
            .unwrap()
    };
    wait_until(secs(10), "the socket", || socket.exists());
    // The task's whole output is read (its file end is the ring) although
    // our end of the supervisor's stdout is never read meanwhile.
    wait_until(secs(30), "the last line in the ring", || {
        std::process::Command::new(BIN)
            .args(["ctl", "--socket"])
            .arg(&socket)
            .args(["logs", "noisy", "1"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).ends_with("] 600000\n"))
    });
    let t0 = std::time::Instant::now();
    assert!(ctl("status").status.success());
    assert!(t0.elapsed() < Duration::from_secs(2));
    // Now read: whole lines only, then the count of what was dropped.
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if all.windows(13).any(|w| w == b"lines dropped") {
                break;
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let text = reader.join().unwrap();
    let notice = text
        .lines()
        .find(|l| l.contains("lines dropped"))
        .expect("a drop count");
    let dropped: u64 = notice.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(dropped > 0, "{notice}");
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.contains("lines dropped")) {
        let n = line
            .strip_prefix("noisy | ")
            .unwrap_or_else(|| panic!("a mixed line: {line:?}"));
        assert!(n.parse::<u32>().is_ok(), "a cut line: {line:?}");
        seen += 1;
    }
    assert!(seen > 1000);
    kill(child.id() as i32, libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}
