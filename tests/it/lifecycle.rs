//! Process lifecycle: states, PIDs, restarts, backoff, FATAL, stops with a
//! deadline, process groups, spawn errors and child hygiene.

use std::time::{Duration, Instant};

use crate::harness::*;

#[test]
fn started_then_running_with_a_live_pid() {
    let sup = Sup::start(
        "running",
        "tasks:\n  sleeper:\n    command: sleep 1000\n    successfulStartTimeout: 0.5\n",
    );
    let row = sup.proc("sleeper");
    assert!(
        row["state"] == "STARTED" || row["state"] == "RUNNING",
        "{row}"
    );
    let pid = sup.running_pid("sleeper");
    assert!(alive(pid));
    assert_eq!(proc_status(pid, "PPid").unwrap(), sup.pid().to_string());
    // Its own process group, led by itself.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let pgid: i32 = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(pgid, pid);
    let row = sup.proc("sleeper");
    assert_eq!(row["task"], "sleeper");
    assert_eq!(row["restarts"], 0);
    assert_eq!(row["exit_code"], serde_json::Value::Null);
    assert_eq!(row["reason"], serde_json::Value::Null);
    assert_eq!(row["command"], "sleep 1000");
    assert!(row["uptime_secs"].as_u64().is_some());
    assert_eq!(sup.ok("pid sleeper"), pid.to_string());
    assert_eq!(sup.ok("pid"), sup.pid().to_string());
}

#[test]
fn instances_are_numbered_and_names_resolve() {
    let sup = Sup::start(
        "instances",
        "tasks:\n  w:\n    command: sleep 1000\n    instances: 3\n    successfulStartTimeout: 0\n  solo:\n    command: sleep 1000\n    autoLaunch: false\n",
    );
    let names: Vec<String> = sup
        .status()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["solo", "w_1", "w_2", "w_3"]);
    assert_eq!(sup.proc("solo")["state"], "STOPPED");
    let pids: Vec<i32> = ["w_1", "w_2", "w_3"]
        .iter()
        .map(|n| sup.running_pid(n))
        .collect();
    // A task name stops all of its processes.
    let reply = sup.ok("stop w");
    for n in ["w_1", "w_2", "w_3"] {
        assert!(reply.contains(&format!("Process '{n}' stopped")), "{reply}");
        assert_eq!(sup.proc(n)["state"], "STOPPED");
    }
    for p in pids {
        assert!(!alive(p));
    }
    let reply = sup.ok("start all");
    assert!(
        reply.contains("Process 'solo' started with PID "),
        "{reply}"
    );
    assert!(reply.contains("Process 'w_2' started with PID "), "{reply}");
    let reply = sup.ok("start w_1");
    assert!(reply.contains("already running"), "{reply}");
}

#[test]
fn restart_always_counts_restarts() {
    let sup = Sup::start(
        "always",
        "tasks:\n  blink:\n    command: sh -c 'sleep 0.3; exit 0'\n    restart: always\n    successfulStartTimeout: 0.1\n",
    );
    let first = sup.running_pid("blink");
    wait_until(secs(10), "two restarts", || {
        sup.proc("blink")["restarts"].as_u64().unwrap() >= 2
    });
    let row = sup.wait_state("blink", "RUNNING", secs(5));
    assert_ne!(row["pid"].as_i64().unwrap() as i32, first);
    assert_eq!(row["exit_code"], 0);
}

#[test]
fn on_failure_restarts_only_unexpected_codes() {
    let sup = Sup::start(
        "onfailure",
        "tasks:
  good:
    command: sh -c 'sleep 0.3; exit 3'
    expectedExitCodes: [0, 3]
    successfulStartTimeout: 0.1
  bad:
    command: sh -c 'sleep 0.3; exit 4'
    expectedExitCodes: 3
    successfulStartTimeout: 0.1
  never:
    command: sh -c 'sleep 0.3; exit 4'
    restart: never
    successfulStartTimeout: 0.1
",
    );
    let good = sup.wait_state("good", "EXITED", secs(10));
    assert_eq!(good["exit_code"], 3);
    assert_eq!(good["restarts"], 0);
    assert_eq!(good["pid"], serde_json::Value::Null);
    let never = sup.wait_state("never", "EXITED", secs(10));
    assert_eq!(never["exit_code"], 4);
    wait_until(secs(10), "bad to restart", || {
        sup.proc("bad")["restarts"].as_u64().unwrap() >= 1
    });
}

#[test]
fn failed_starts_back_off_then_fatal() {
    let dir = test_dir("fatal-scripts");
    let count = dir.join("spawns");
    let yaml = format!(
        "tasks:\n  crash:\n    command: sh -c 'echo x >> {}; exit 1'\n    restartsAttempts: 2\n    successfulStartTimeout: 1\n",
        count.display()
    );
    let sup = Sup::start("fatal", &yaml);
    let t0 = Instant::now();
    let row = sup.wait_state("crash", "BACKOFF", secs(5));
    assert!(
        row["reason"].as_str().unwrap().contains("exit status 1"),
        "{row}"
    );
    let row = sup.wait_state("crash", "FATAL", secs(10));
    // 0.5 s then 1 s of backoff between the three spawns.
    assert!(
        t0.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t0.elapsed()
    );
    let reason = row["reason"].as_str().unwrap();
    assert!(
        reason.contains("exit status 1") && reason.contains("3 starts"),
        "{reason}"
    );
    assert_eq!(row["exit_code"], 1);
    assert_eq!(
        std::fs::read_to_string(&count).unwrap().lines().count(),
        3,
        "restartsAttempts 2 = 3 spawns"
    );
    sup.wait_stderr("'crash' is FATAL", secs(5));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn spawn_errors_are_fatal_with_a_reason_and_touch_nothing_else() {
    let sup = Sup::start(
        "spawnerr",
        "tasks:
  missing:
    command: /nonexistent/program --flag
  badcwd:
    command: sleep 1000
    workingDirectory: /nonexistent/dir
  badlog:
    command: sleep 1000
    stdout: /dev/null/out.log
  fine:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let cases = [
        (
            "missing",
            "cannot execute '/nonexistent/program': No such file or directory",
        ),
        (
            "badcwd",
            "cannot use working directory /nonexistent/dir: No such file or directory",
        ),
        (
            "badlog",
            "cannot open stdout log /dev/null/out.log: Not a directory",
        ),
    ];
    for (name, reason) in cases {
        let row = sup.wait_state(name, "FATAL", secs(5));
        assert_eq!(row["reason"], reason);
        assert_eq!(row["pid"], serde_json::Value::Null);
    }
    sup.running_pid("fine");
    let (ok, reply) = sup.cmd("start missing");
    assert!(!ok);
    assert!(
        reply.contains("Process 'missing' failed to start: cannot execute"),
        "{reply}"
    );
}

#[test]
fn stop_kills_after_the_deadline_when_term_is_ignored() {
    let sup = Sup::start(
        "stubborn",
        "tasks:\n  stubborn:\n    command: sh -c 'trap \"\" TERM; echo ready; while true; do sleep 0.1; done'\n    gracefulStopTimeout: 1\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("stubborn");
    wait_until(secs(5), "the trap to be set", || {
        sup.ok("logs stubborn").contains("ready")
    });
    let t0 = Instant::now();
    let reply = sup.ok("stop stubborn");
    let took = t0.elapsed();
    assert_eq!(reply, "Process 'stubborn' stopped");
    assert!(
        took >= Duration::from_millis(950),
        "stopped before the deadline: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(!alive(pid));
    assert!(group_members(pid).is_empty(), "no group member survives");
    let row = sup.proc("stubborn");
    assert_eq!(row["state"], "STOPPED");
    assert_eq!(row["exit_code"], 128 + libc::SIGKILL);
}

#[test]
fn stop_signal_is_sent_to_the_whole_group() {
    let dir = test_dir("group-scripts");
    let sup = Sup::start(
        "group",
        &format!(
            "tasks:\n  family:\n    command: sh -c 'sleep 1000 & echo $! > {}/child; trap \"exit 0\" USR1; wait'\n    stopSignal: USR1\n    successfulStartTimeout: 0\n",
            dir.display()
        ),
    );
    let pid = sup.running_pid("family");
    let child_file = dir.join("child");
    let child = read_pid_file(&child_file);
    assert!(alive(child));
    assert_eq!(sup.ok("stop family"), "Process 'family' stopped");
    // sleep got SIGUSR1 too (its default action ends it).
    wait_until(secs(2), "the group to be gone", || {
        !alive(child) && group_members(pid).is_empty()
    });
    assert!(sup.zombies().is_empty(), "zombies: {:?}", sup.zombies());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn group_members_left_by_an_exiting_leader_are_stopped() {
    let dir = test_dir("orphan-scripts");
    let sup = Sup::start(
        "leftover",
        &format!(
            "tasks:\n  parent:\n    command: sh -c 'sleep 1000 & echo $! > {}/child; sleep 0.5; exit 0'\n    restart: never\n    successfulStartTimeout: 0\n    gracefulStopTimeout: 1\n",
            dir.display()
        ),
    );
    let child_file = dir.join("child");
    let child = read_pid_file(&child_file);
    sup.wait_state("parent", "EXITED", secs(5));
    wait_until(secs(3), "the left-over sleep to be stopped", || {
        !alive(child)
    });
    wait_until(secs(2), "no zombie", || sup.zombies().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn restart_gives_a_new_pid() {
    let sup = Sup::start(
        "restart",
        "tasks:\n  r:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("r");
    let reply = sup.ok("restart r");
    assert!(
        reply.starts_with("Process 'r' stopped\nProcess 'r' started with PID "),
        "{reply}"
    );
    let new: i32 = reply.rsplit(' ').next().unwrap().parse().unwrap();
    assert_ne!(new, pid);
    assert!(!alive(pid));
    assert_eq!(sup.running_pid("r"), new);
}

#[test]
fn child_sees_env_cwd_umask_and_clean_signals_and_fds() {
    let dir = test_dir("env-scripts");
    let out = dir.join("report");
    let sup = Sup::start(
        "hygiene",
        &format!(
            "tasks:
  probe:
    command: sh -c 'echo \"$PORT $MODE $(pwd) $(umask)\" > {out}; exec sleep 1000'
    environment:
      PORT: 0080
      MODE: yes
    workingDirectory: {dir}
    umask: 027
    successfulStartTimeout: 0
",
            out = out.display(),
            dir = dir.display()
        ),
    );
    let pid = sup.running_pid("probe");
    let report = wait_for(secs(5), "the report", || {
        std::fs::read_to_string(&out)
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(report.trim(), format!("0080 yes {} 0027", dir.display()));
    wait_until(secs(5), "exec sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep")
    });
    assert_eq!(proc_status(pid, "SigBlk").unwrap(), "0000000000000000");
    assert_eq!(proc_status(pid, "SigIgn").unwrap(), "0000000000000000");
    let mut fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"], "only stdin, stdout and stderr");
    let stdin = std::fs::read_link(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(stdin, std::path::Path::new("/dev/null"));
    let pdeath = proc_status(pid, "PPid").unwrap();
    assert_eq!(pdeath, sup.pid().to_string());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn killed_from_outside_is_restarted_at_once() {
    let sup = Sup::start(
        "outsidekill",
        "tasks:\n  victim:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("victim");
    kill(pid, libc::SIGKILL);
    wait_until(secs(5), "a restart", || {
        let r = sup.proc("victim");
        r["restarts"] == 1 && r["pid"].as_i64().is_some_and(|p| p as i32 != pid)
    });
    assert_eq!(sup.proc("victim")["exit_code"], 128 + libc::SIGKILL);
    assert!(sup.zombies().is_empty());
}

#[test]
fn orphans_are_reaped() {
    let dir = test_dir("orphan-list");
    let list = dir.join("pids");
    let sup = Sup::start(
        "orphans",
        &format!(
            "tasks:\n  forker:\n    command: sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do (sleep 0.2 & echo $! >> {}); done; exec sleep 1000'\n    successfulStartTimeout: 0\n",
            list.display()
        ),
    );
    sup.running_pid("forker");
    let pids: Vec<i32> = wait_for(secs(5), "ten orphan pids", || {
        let s = std::fs::read_to_string(&list).ok()?;
        let p: Vec<i32> = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
        (p.len() == 10).then_some(p)
    });
    // The double-forked sleeps end up as our children; a zombie would stay
    // in /proc for good.
    wait_until(secs(5), "every orphan to be reaped", || {
        pids.iter()
            .all(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
    });
    assert_eq!(sup.proc("forker")["state"], "RUNNING");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn signal_command_reaches_the_group() {
    let dir = test_dir("sig-scripts");
    let sup = Sup::start(
        "signalcmd",
        &format!(
            "tasks:\n  hup:\n    command: sh -c 'trap \"echo got-hup > {}/hup\" HUP; while true; do sleep 0.1; done'\n    successfulStartTimeout: 0\n",
            dir.display()
        ),
    );
    let pid = sup.running_pid("hup");
    wait_for_trap(pid, libc::SIGHUP);
    let reply = sup.ok("signal HUP hup");
    assert_eq!(reply, format!("Sent SIGHUP to 'hup' (PID {pid})"));
    wait_until(secs(5), "the trap to run", || dir.join("hup").exists());
    let (ok, reply) = sup.cmd("signal TERM nosuch");
    assert!(!ok);
    assert_eq!(reply, "error: no such process or task: 'nosuch'");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn idle_supervisor_never_wakes_up() {
    let sup = Sup::start(
        "idle",
        "tasks:\n  quiet:\n    command: sleep 1000\n    instances: 20\n    successfulStartTimeout: 0.2\n",
    );
    wait_until(secs(10), "all running", || {
        sup.status().iter().all(|r| r["state"] == "RUNNING")
    });
    let switches = |pid: i32| -> u64 {
        ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
            .iter()
            .map(|f| proc_status(pid, f).unwrap().parse::<u64>().unwrap())
            .sum()
    };
    // The last status reply may still be on its way out: settle first.
    let mut before = switches(sup.pid());
    wait_until(secs(5), "a quiet moment", || {
        std::thread::sleep(Duration::from_millis(100));
        let now = switches(sup.pid());
        std::mem::replace(&mut before, now) == now
    });
    let start = switches(sup.pid());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        switches(sup.pid()),
        start,
        "the supervisor woke up with nothing to do"
    );
    // Nor will it later: its one timerfd is disarmed, even though control
    // connections (with idle deadlines) came and went.
    let timerfd = std::fs::read_dir(format!("/proc/{}/fd", sup.pid()))
        .unwrap()
        .flatten()
        .find(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains("timerfd"))
        })
        .expect("a timerfd");
    let info = std::fs::read_to_string(format!(
        "/proc/{}/fdinfo/{}",
        sup.pid(),
        timerfd.file_name().to_string_lossy()
    ))
    .unwrap();
    let value = info.lines().find(|l| l.starts_with("it_value:")).unwrap();
    assert_eq!(
        value.split_whitespace().collect::<Vec<_>>(),
        ["it_value:", "(0,", "0)"],
        "{info}"
    );
}

#[test]
fn stop_waits_for_group_members_that_outlive_the_leader() {
    let sup = Sup::start(
        "outlive",
        "tasks:\n  mixed:\n    command: sh -c '(trap \"\" TERM; sleep 1000) & sleep 1000'\n    gracefulStopTimeout: 1\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("mixed");
    // A member of the group ignores SIGTERM once its trap ran.
    wait_until(secs(5), "a member that ignores SIGTERM", || {
        group_members(pid).iter().any(|&m| {
            proc_status(m, "SigIgn")
                .and_then(|v| u64::from_str_radix(&v, 16).ok())
                .is_some_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
        })
    });
    let t0 = Instant::now();
    let reply = sup.ok("stop mixed");
    assert_eq!(reply, "Process 'mixed' stopped");
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "replied before the deadline: {:?}",
        t0.elapsed()
    );
    assert!(
        group_members(pid).is_empty(),
        "members left: {:?}",
        group_members(pid)
    );
    assert_eq!(
        sup.proc("mixed")["exit_code"],
        128 + libc::SIGTERM,
        "the leader's own end is kept"
    );
    wait_until(secs(2), "no zombies", || sup.zombies().is_empty());
}
