//! Ending the supervisor: SIGTERM/SIGINT stop everything gracefully and exit
//! 0; a second signal kills at once and exits 1; an essential process takes
//! everything down with its exit code.

use std::time::{Duration, Instant};

use crate::harness::*;

const MIXED: &str = "tasks:
  web:
    command: sleep 1000
    instances: 2
    successfulStartTimeout: 0
  polite:
    command: sh -c 'trap \"exit 0\" INT; while true; do sleep 0.05; done'
    stopingSignal: INT
    successfulStartTimeout: 0
";

fn pids(sup: &Sup) -> Vec<i32> {
    ["web_1", "web_2", "polite"]
        .iter()
        .map(|n| sup.running_pid(n))
        .collect()
}

#[test]
fn sigterm_stops_everything_and_exits_0() {
    let mut sup = Sup::start("sigterm", MIXED);
    let pids = pids(&sup);
    let socket = sup.socket.clone();
    sup.signal(libc::SIGTERM);
    assert_eq!(sup.wait_exit(secs(10)), 0);
    for p in pids {
        assert!(!alive(p), "{p} survived");
    }
    assert!(!socket.exists(), "the socket is removed on exit");
}

#[test]
fn sigint_stops_everything_and_exits_0() {
    let mut sup = Sup::start("sigint", MIXED);
    let pids = pids(&sup);
    sup.signal(libc::SIGINT);
    assert_eq!(sup.wait_exit(secs(10)), 0);
    for p in pids {
        assert!(!alive(p), "{p} survived");
    }
}

#[test]
fn second_sigterm_kills_at_once_and_exits_1() {
    let mut sup = Sup::start(
        "double",
        "tasks:\n  deaf:\n    command: sh -c 'trap \"\" TERM; while true; do sleep 0.05; done'\n    gracefulStopTimeout: 60\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("deaf");
    wait_for_trap(pid, libc::SIGTERM);
    sup.signal(libc::SIGTERM);
    wait_until(secs(5), "STOPPING", || {
        sup.proc("deaf")["state"] == "STOPPING"
    });
    let t0 = Instant::now();
    sup.signal(libc::SIGTERM);
    assert_eq!(sup.wait_exit(secs(10)), 1);
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert!(!alive(pid));
}

#[test]
fn shutdown_command_replies_then_exits_0() {
    let mut sup = Sup::start("shutdowncmd", MIXED);
    let pids = pids(&sup);
    let (code, out, _) = sup.ctl(&["shutdown"]);
    assert_eq!(code, 0);
    assert!(out.contains("stopped"), "{out}");
    for p in pids {
        assert!(!alive(p), "{p} survived the reply");
    }
    assert_eq!(sup.wait_exit(secs(5)), 0);
}

#[test]
fn essential_exit_code_becomes_ours() {
    let mut sup = Sup::start(
        "essential",
        "tasks:
  main:
    command: sh -c 'sleep 0.5; exit 7'
    essential: true
    restart: never
    successfulStartTimeout: 0.1
  side:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let side = sup.running_pid("side");
    assert_eq!(sup.wait_exit(secs(10)), 7);
    assert!(!alive(side));
}

#[test]
fn essential_killed_by_signal_exits_128_plus_n() {
    let mut sup = Sup::start(
        "essential-sig",
        "tasks:\n  main:\n    command: sleep 1000\n    essential: true\n    restart: never\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("main");
    kill(pid, libc::SIGKILL);
    assert_eq!(sup.wait_exit(secs(10)), 137);
}

#[test]
fn essential_stopped_by_the_user_does_not_shut_down() {
    let mut sup = Sup::start(
        "essential-stop",
        "tasks:\n  main:\n    command: sleep 1000\n    essential: true\n    successfulStartTimeout: 0\n",
    );
    sup.running_pid("main");
    sup.ok("stop main");
    std::thread::sleep(Duration::from_millis(200));
    assert!(sup.try_exit().is_none());
    assert_eq!(sup.proc("main")["state"], "STOPPED");
}
