//! Faults: what the supervisor does when the system says no (no more
//! processes, no more files, a full disk), when children misbehave (close
//! their output, flood it, ignore signals, escape into another session, get
//! stopped or killed from outside) and when its own stdout goes away. Each
//! test checks that the supervisor keeps serving and says what happened.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

// Uids no one else runs as, one per test that needs one: RLIMIT_NPROC
// counts every process of a uid, so tests running side by side (in this
// run or in another run of the suite on the same machine) must not share
// one. See `private_uid`.

fn unprivileged(name: &str, yaml: &str, uid: u32, limits: &[&str]) -> Sup {
    Sup::launch(
        name,
        yaml,
        Launch {
            uid: Some(uid),
            limits: limits.iter().map(|s| s.to_string()).collect(),
            ..Launch::default()
        },
    )
}

fn state(row: &serde_json::Value) -> &str {
    row["state"].as_str().unwrap_or("")
}

fn reason(row: &serde_json::Value) -> &str {
    row["reason"].as_str().unwrap_or("")
}

fn pid_of(row: &serde_json::Value) -> Option<i32> {
    row["pid"].as_i64().map(|p| p as i32)
}

/// The supervisor's peak resident set, in KiB.
fn peak_rss_kib(pid: i32) -> u64 {
    proc_status(pid, "VmHWM")
        .unwrap()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap()
}

/// CPU time (user + system) of `pid`, in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Asserts that `status` is answered within `limit`, and returns its rows.
fn quick_status(sup: &Sup, limit: Duration) -> Vec<serde_json::Value> {
    let t = Instant::now();
    let rows = sup.status();
    assert!(t.elapsed() < limit, "status took {:?}", t.elapsed());
    rows
}

// ----- the system says no

#[test]
fn fork_failing_with_eagain_backs_off_or_goes_fatal_and_recovers() {
    // RLIMIT_NPROC 2 for an unprivileged supervisor: itself and one child.
    let sup = unprivileged(
        "eagain",
        "tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
  b:
    command: sleep 1000
    successfulStartTimeout: 0
    restartsAttempts: 20
  c:
    command: sleep 1000
    successfulStartTimeout: 0
    restartsAttempts: 0
",
        private_uid(1),
        &["--nproc=2"],
    );
    // Processes start in name order: `a` takes the one slot.
    let a = sup.running_pid("a");
    let b = wait_for(secs(5), "b to fail", || {
        let row = sup.proc("b");
        (state(&row) == "BACKOFF").then_some(row)
    });
    assert!(
        reason(&b).starts_with("cannot spawn sleep: ") && reason(&b).contains("again"),
        "{b}"
    );
    // No retries left: FATAL at once, with the reason.
    let c = sup.wait_state("c", "FATAL", secs(5));
    assert!(reason(&c).starts_with("cannot spawn sleep: "), "{c}");
    sup.wait_stderr("'b' failed to start: cannot spawn sleep: ", secs(5));
    assert_eq!(pid_of(&sup.proc("a")), Some(a), "a is untouched");

    // The supervisor keeps serving, and `b` gets the slot once `a` leaves.
    assert_eq!(sup.ok("stop a"), "Process 'a' stopped");
    let b = sup.running_pid("b");
    assert!(alive(b));
    // A FATAL process starts again when asked and there is room.
    sup.ok("stop b");
    sup.ok("start c");
    sup.running_pid("c");
}

#[test]
fn emfile_fails_the_processes_without_pipes_and_recovers() {
    // 20 open files for an unprivileged supervisor: it cannot raise them,
    // and says so; a few children get their pipes, the others cannot.
    let sup = unprivileged(
        "emfile",
        "tasks:
  w:
    command: sleep 1000
    instances: 8
    successfulStartTimeout: 0
    restartsAttempts: 0
",
        private_uid(2),
        &["--nofile=20"],
    );
    sup.wait_stderr(
        "taskmaster: RLIMIT_NOFILE: 8 processes need 80 open files, the limit is 20",
        secs(5),
    );
    let rows = wait_for(secs(10), "every process up or FATAL", || {
        let rows = sup.status();
        rows.iter()
            .all(|r| matches!(state(r), "RUNNING" | "FATAL"))
            .then_some(rows)
    });
    let running: Vec<String> = rows
        .iter()
        .filter(|r| state(r) == "RUNNING")
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    let fatal: Vec<&serde_json::Value> = rows.iter().filter(|r| state(r) == "FATAL").collect();
    assert!(!running.is_empty(), "{rows:?}");
    assert!(!fatal.is_empty(), "{rows:?}");
    for r in &fatal {
        assert_eq!(
            reason(r),
            "cannot spawn sleep: Too many open files",
            "{r}\n{}",
            sup.err_text()
        );
    }
    // Still serving: every command gets its answer.
    for _ in 0..20 {
        quick_status(&sup, secs(2));
    }
    // Idle clients holding every descriptor left: a new one is told so at
    // once instead of waiting in the backlog for good.
    let idle: Vec<UnixStream> = (0..20)
        .map(|_| UnixStream::connect(&sup.socket).unwrap())
        .collect();
    let reply = ask_with_deadline(&sup, "status", secs(5));
    assert!(
        reply == "1\nerror: taskmaster is out of file descriptors; try again later\n",
        "{reply:?}"
    );
    sup.wait_stderr("taskmaster: control socket: refused ", secs(5));
    assert!(
        !sup.err_text().contains("accept failed"),
        "{}",
        sup.err_text()
    );
    drop(idle);
    wait_until(secs(5), "status served again", || {
        ask_with_deadline(&sup, "status", secs(5)).starts_with("0\n")
    });

    // Recovery once processes are stopped: their pipes are given back.
    let first_fatal = fatal[0]["name"].as_str().unwrap().to_string();
    sup.ok(&format!("stop {}", running.join(" ")));
    sup.ok(&format!("start {first_fatal}"));
    sup.running_pid(&first_fatal);

    // Recovery once the limit is raised from outside, which takes
    // CAP_SYS_RESOURCE (a container's root may lack it).
    let raised = Command::new("prlimit")
        .arg(format!("--pid={}", sup.pid()))
        .arg("--nofile=1024")
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !raised {
        eprintln!("emfile: cannot raise the limit here (no CAP_SYS_RESOURCE); part skipped");
        return;
    }
    sup.ok("start all");
    for i in 1..=8 {
        sup.running_pid(&format!("w_{i}"));
    }
}

/// Sends `line` on a fresh connection and reads the whole reply, failing
/// the test if it takes longer than `limit`.
fn ask_with_deadline(sup: &Sup, line: &str, limit: Duration) -> String {
    let mut s = UnixStream::connect(&sup.socket).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    // A refused connection may be closed before the line goes out.
    let _ = s.write_all(format!("{line}\n").as_bytes());
    let mut reply = String::new();
    if let Err(e) = s.read_to_string(&mut reply) {
        panic!("no reply to '{line}' within {limit:?}: {e}");
    }
    reply
}

/// A small tmpfs, unmounted (lazily, even while files are open) and removed
/// on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, size: &str) -> Option<Tmpfs> {
        let dir = test_dir(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Some(Tmpfs(dir))
        } else {
            let _ = std::fs::remove_dir_all(&dir);
            None
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The number in the last `line N` of `text`.
fn last_number(text: &str) -> Option<u64> {
    text.lines()
        .rev()
        .find_map(|l| l.rsplit("line ").next()?.trim().parse().ok())
}

#[test]
fn a_full_disk_keeps_the_ring_going_reports_once_and_resumes() {
    let Some(fs) = Tmpfs::mount("diskfull-fs", "64k") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let log = fs.0.join("out.log");
    let sup = Sup::start(
        "diskfull",
        &format!(
            "tasks:
  w:
    command: sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i\"; sleep 0.005; done'
    successfulStartTimeout: 0
    stdout: {}
",
            log.display()
        ),
    );
    sup.running_pid("w");
    wait_until(secs(5), "the first lines in the file", || {
        file_len(&log) > 0
    });

    // Fill the disk.
    let filler = fs.0.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
    }
    let error = "taskmaster: cannot write output of 'w' to ";
    sup.wait_stderr(error, secs(20));
    let failed_at = last_number(&sup.ok("logs w 1")).unwrap();
    // The ring keeps receiving lines while the file cannot.
    wait_until(secs(10), "new lines in the ring", || {
        last_number(&sup.ok("logs w 1")).is_some_and(|n| n > failed_at + 100)
    });
    let full_len = file_len(&log);
    assert_eq!(
        sup.err_text().matches(error).count(),
        1,
        "{}",
        sup.err_text()
    );
    assert!(
        sup.err_text().contains("No space left on device"),
        "{}",
        sup.err_text()
    );

    // Space returns: writing resumes with the next output.
    std::fs::remove_file(&filler).unwrap();
    wait_until(secs(10), "the file to grow again", || {
        file_len(&log) > full_len + 1000
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        last_number(&text).is_some_and(|n| n > failed_at + 100),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
    assert_eq!(
        sup.err_text().matches(error).count(),
        1,
        "{}",
        sup.err_text()
    );
    assert_eq!(sup.proc("w")["restarts"], 0);
}

// ----- children that misbehave with their output

#[test]
fn a_child_closing_stdout_early_keeps_running() {
    let sup = Sup::start(
        "close-stdout",
        "tasks:
  w:
    command: sh -c 'echo before; exec >&-; sleep 0.3; echo after >&2; exec sleep 1000'
    successfulStartTimeout: 0
",
    );
    let pid = sup.running_pid("w");
    wait_until(secs(5), "the line on stderr", || {
        sup.ok("logs w").contains("after")
    });
    let logs = sup.ok("logs w");
    assert!(logs.contains("before"), "{logs}");
    // Its stdout is gone for good; nothing spins on it.
    let ticks = cpu_ticks(sup.pid());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        cpu_ticks(sup.pid()) - ticks < 10,
        "the loop is busy with a closed pipe"
    );
    let row = sup.proc("w");
    assert_eq!(state(&row), "RUNNING");
    assert_eq!(pid_of(&row), Some(pid));
    assert_eq!(row["restarts"], 0);
    assert_eq!(sup.ok("stop w"), "Process 'w' stopped");
    assert!(!alive(pid));
}

#[test]
fn a_ten_mib_line_without_newline_reaches_the_file_with_a_bounded_ring() {
    let dir = test_dir("long-line-logs");
    let log = dir.join("out.log");
    let sup = Sup::start(
        "long-line",
        &format!(
            "tasks:
  w:
    command: sh -c 'head -c 10485760 /dev/zero | tr \"\\\\0\" x; exec sleep 1000'
    successfulStartTimeout: 0
    stdout: {}
",
            log.display()
        ),
    );
    sup.running_pid("w");
    while file_len(&log) < 10 * 1024 * 1024 {
        quick_status(&sup, secs(2));
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            sup.proc("w")["uptime_secs"].as_u64().unwrap() < 60,
            "the file never got every byte: {}",
            file_len(&log)
        );
    }
    assert_eq!(file_len(&log), 10 * 1024 * 1024);
    let bytes = std::fs::read(&log).unwrap();
    assert!(bytes.iter().all(|&b| b == b'x'));
    // The ring holds at most 64 KiB: four 16 KiB pieces of the line.
    let logs = sup.ok("logs w 1000");
    assert!(logs.lines().count() <= 4, "{} lines", logs.lines().count());
    assert!(logs.len() < 70 * 1024, "{} bytes", logs.len());
    let rss = peak_rss_kib(sup.pid());
    assert!(rss < 32 * 1024, "peak RSS {rss} kB");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn yes_at_full_speed_for_ten_seconds() {
    let dir = test_dir("yes-logs");
    let log = dir.join("out.log");
    let count = dir.join("dd.txt");
    // dd passes everything on and says how many bytes that was.
    let sup = Sup::start_shell(
        "yes",
        &format!(
            "tasks:
  yes:
    command: sh -c 'timeout 10 yes | dd bs=65536 2>{}; exec sleep 1000'
    successfulStartTimeout: 0
    stdout: {}
",
            count.display(),
            log.display()
        ),
    );
    sup.running_pid("yes");
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut asked = 0;
    // Commands are answered all along.
    while !std::fs::read_to_string(&count).is_ok_and(|t| t.contains("bytes")) {
        let t = Instant::now();
        let row = sup.proc("yes");
        slowest = slowest.max(t.elapsed());
        asked += 1;
        assert_eq!(state(&row), "RUNNING");
        assert!(start.elapsed() < secs(60), "yes never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(asked >= 20, "only {asked} status replies");
    assert!(slowest < secs(2), "slowest status took {slowest:?}");
    let written: u64 = std::fs::read_to_string(&count)
        .unwrap()
        .lines()
        .find(|l| l.contains("bytes"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(written > 1024 * 1024, "yes wrote only {written} bytes");
    wait_until(secs(30), "every byte in the file", || {
        file_len(&log) == written
    });
    let rss = peak_rss_kib(sup.pid());
    assert!(rss < 32 * 1024, "peak RSS {rss} kB");
    let logs = sup.ok("logs yes 100");
    assert_eq!(logs.lines().count(), 100);
    assert!(logs.lines().all(|l| l.ends_with("] y")), "{logs}");
    let _ = std::fs::remove_dir_all(dir);
}

// ----- children that misbehave with signals and sessions

#[test]
fn a_child_ignoring_every_signal_is_killed_at_the_deadline() {
    // Every catchable signal ignored; the disposition survives exec.
    let sup = Sup::start(
        "ignore-all",
        "tasks:
  deaf:
    command: sh -c 'trap \"\" $(seq 1 64 | grep -vx -e 9 -e 19); echo ready; exec sleep 1000'
    successfulStartTimeout: 0
    gracefulStopTimeout: 1
",
    );
    let pid = sup.running_pid("deaf");
    wait_until(secs(5), "the traps", || {
        sup.ok("logs deaf").contains("ready")
    });
    let ignored = u64::from_str_radix(&proc_status(pid, "SigIgn").unwrap(), 16).unwrap();
    assert_eq!(
        ignored & (1 << (libc::SIGTERM - 1)),
        1 << (libc::SIGTERM - 1)
    );
    sup.ok("signal INT deaf");
    sup.ok("signal HUP deaf");
    assert!(alive(pid));
    let t = Instant::now();
    assert_eq!(sup.ok("stop deaf"), "Process 'deaf' stopped");
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900), "stopped after {took:?}");
    assert!(took < secs(5), "stopped after {took:?}");
    assert!(!alive(pid));
    let row = sup.proc("deaf");
    assert_eq!(state(&row), "STOPPED");
    assert_eq!(row["exit_code"], 128 + libc::SIGKILL);
    assert!(group_members(pid).is_empty());
}

/// SIGKILLs a process by pid when dropped.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill(self.0, libc::SIGKILL);
    }
}

/// The pid written to `path` by a process, once it is there.
fn read_pid(path: &Path) -> i32 {
    wait_for(secs(5), "the pid file", || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

#[test]
fn a_grandchild_in_its_own_session_survives_a_stop_and_is_reaped() {
    let dir = test_dir("setsid-files");
    let sup = Sup::start(
        "setsid",
        &format!(
            "tasks:
  w:
    command: sh -c 'setsid sh -c \"echo \\$$ > {}/gc.pid; exec sleep 1000\" & exec sleep 1000'
    successfulStartTimeout: 0
",
            dir.display()
        ),
    );
    let pid = sup.running_pid("w");
    let gc = read_pid(&dir.join("gc.pid"));
    // Out of the harness's reach: killed by pid even if the test fails.
    let gc_guard = KillOnDrop(gc);
    // Another session, another process group: the stop signal to the
    // group does not reach it.
    assert_eq!(
        nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(gc)))
            .unwrap()
            .as_raw(),
        gc
    );
    assert_eq!(sup.ok("stop w"), "Process 'w' stopped");
    assert!(!alive(pid));
    assert!(alive(gc), "the grandchild is not in the group");
    // Its parent is gone: the supervisor, a child subreaper, adopted it.
    assert_eq!(proc_status(gc, "PPid").unwrap(), sup.pid().to_string());
    // When it ends, the supervisor reaps it: no zombie is left.
    drop(gc_guard);
    wait_until(secs(5), "the grandchild reaped", || {
        std::fs::metadata(format!("/proc/{gc}")).is_err()
    });
    assert!(sup.zombies().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn as_pid_1_the_shutdown_sweep_ends_a_grandchild_in_its_own_session() {
    let dir = test_dir("setsid-pid1-files");
    let mut sup = Sup::launch(
        "setsid-pid1",
        &format!(
            "tasks:
  w:
    command: sh -c 'setsid sh -c \"trap \\\"echo term > {d}/gc.term; exit 0\\\" TERM; echo \\$$ > {d}/gc.pid; while :; do sleep 0.05; done\" & exec sleep 1000'
    successfulStartTimeout: 0
",
            d = dir.display()
        ),
        Launch {
            pid1: true,
            ..Launch::default()
        },
    );
    sup.running_pid("w");
    read_pid(&dir.join("gc.pid"));
    assert_eq!(sup.ok("stop w"), "Process 'w' stopped");
    assert!(
        !dir.join("gc.term").exists(),
        "the stop reached the other session"
    );
    sup.ok("shutdown");
    assert_eq!(sup.wait_exit(secs(10)), 0);
    // The sweep's SIGTERM reached it (the namespace's end would SIGKILL).
    assert!(dir.join("gc.term").exists(), "{}", sup.err_text());
    assert!(
        sup.err_text().contains("taskmaster: sending SIGTERM to "),
        "{}",
        sup.err_text()
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_stopped_child_stays_running_and_still_stops_gracefully() {
    // The child exits 0 on SIGTERM, which a stopped process only handles
    // once continued.
    let sup = Sup::start(
        "sigstop",
        "tasks:
  w:
    command: sh -c 'trap \"exit 0\" TERM; echo ready; while :; do sleep 0.05; done'
    successfulStartTimeout: 0
    gracefulStopTimeout: 30
",
    );
    let pid = sup.running_pid("w");
    wait_until(secs(5), "the trap", || sup.ok("logs w").contains("ready"));
    kill(pid, libc::SIGSTOP);
    wait_until(secs(5), "the child stopped", || {
        proc_status(pid, "State").is_some_and(|s| s.starts_with('T'))
    });
    // A stop is not an exit: no reap, no restart.
    let ticks = cpu_ticks(sup.pid());
    std::thread::sleep(Duration::from_millis(300));
    assert!(cpu_ticks(sup.pid()) - ticks < 10);
    let row = sup.proc("w");
    assert_eq!((state(&row), pid_of(&row)), ("RUNNING", Some(pid)));
    kill(pid, libc::SIGCONT);
    wait_until(secs(5), "the child continued", || {
        proc_status(pid, "State").is_some_and(|s| !s.starts_with('T'))
    });
    let row = sup.proc("w");
    assert_eq!((state(&row), pid_of(&row)), ("RUNNING", Some(pid)));
    assert_eq!(row["restarts"], 0);

    // Stopped again, then asked to stop: the stop signal is followed by
    // SIGCONT, so the handler runs now rather than SIGKILL in 30 s.
    kill(pid, libc::SIGSTOP);
    wait_until(secs(5), "the child stopped", || {
        proc_status(pid, "State").is_some_and(|s| s.starts_with('T'))
    });
    let t = Instant::now();
    assert_eq!(sup.ok("stop w"), "Process 'w' stopped");
    assert!(t.elapsed() < secs(10), "stop took {:?}", t.elapsed());
    assert_eq!(sup.proc("w")["exit_code"], 0, "the TERM handler ran");
    assert!(group_members(pid).is_empty());
}

#[test]
fn a_child_killed_from_outside_is_seen_at_once_and_the_policy_applies() {
    let sup = Sup::start(
        "outside-kill",
        "tasks:
  again:
    command: sleep 1000
    successfulStartTimeout: 0
    restart: on-failure
  once:
    command: sleep 1000
    successfulStartTimeout: 0
    restart: never
",
    );
    let again = sup.running_pid("again");
    let once = sup.running_pid("once");
    let t = Instant::now();
    kill(again, libc::SIGKILL);
    kill(once, libc::SIGKILL);
    // Death by a signal is a failure: restarted.
    let row = wait_for(secs(5), "a new 'again'", || {
        let row = sup.proc("again");
        (pid_of(&row).is_some_and(|p| p != again) && state(&row) == "RUNNING").then_some(row)
    });
    let row_once = sup.wait_state("once", "EXITED", secs(5));
    assert!(t.elapsed() < secs(2), "noticed after {:?}", t.elapsed());
    assert_eq!(row["restarts"], 1);
    assert_eq!(row["exit_code"], 128 + libc::SIGKILL);
    assert_eq!(row_once["exit_code"], 128 + libc::SIGKILL);
    assert_eq!(row_once["pid"], serde_json::Value::Null);
    sup.wait_stderr(
        "taskmaster: 'again' exited (killed by SIGKILL); restarting",
        secs(5),
    );
    sup.wait_stderr("taskmaster: 'once' exited (killed by SIGKILL)", secs(5));
    assert!(sup.zombies().is_empty());
}

// ----- the supervisor's own stdout

/// A headless supervisor whose stdout is `out`, forwarding a chatty child.
fn forwarding_into(name: &str, out: Output) -> Sup {
    Sup::launch(
        name,
        "tasks:
  chatty:
    command: sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i\"; sleep 0.01; done'
    successfulStartTimeout: 0
",
        Launch {
            stdout: out,
            ..Launch::default()
        },
    )
}

/// The checks shared by the stdout tests: lines keep coming into the
/// ring, the socket serves, and a shutdown is clean.
fn keeps_serving_without_stdout(mut sup: Sup) {
    sup.running_pid("chatty");
    wait_until(secs(10), "hundreds of forwarded lines", || {
        last_number(&sup.ok("logs chatty 1")).is_some_and(|n| n > 200)
    });
    assert!(sup.try_exit().is_none(), "{}", sup.err_text());
    assert_eq!(sup.proc("chatty")["restarts"], 0);
    sup.ok("stop chatty");
    sup.ok("shutdown");
    assert_eq!(sup.wait_exit(secs(10)), 0, "{}", sup.err_text());
}

#[test]
fn stdout_to_a_broken_pipe_does_not_kill_the_supervisor() {
    let sup = forwarding_into("stdout-epipe", Output::BrokenPipe);
    // SIGPIPE is ignored: writes fail with EPIPE instead.
    let ignored = u64::from_str_radix(&proc_status(sup.pid(), "SigIgn").unwrap(), 16).unwrap();
    assert_ne!(ignored & (1 << (libc::SIGPIPE - 1)), 0);
    keeps_serving_without_stdout(sup);
}

#[test]
fn a_closed_stdout_does_not_kill_the_supervisor() {
    let sup = forwarding_into("stdout-closed", Output::Closed);
    // Nothing of its own took fd 1, where forwarded lines would go: the
    // Rust runtime opens /dev/null on a closed 0, 1 or 2 before main.
    let target = std::fs::read_link(format!("/proc/{}/fd/1", sup.pid())).unwrap();
    assert_eq!(target, Path::new("/dev/null"));
    keeps_serving_without_stdout(sup);
}
