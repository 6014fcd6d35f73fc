//! The operator's view of output: `logs` of several processes merged in
//! arrival order, stream filters, `logs -f` through `ctl` (Ctrl-C ends it
//! with 0, a stalled reader loses lines with a marker while the supervisor
//! stays fast and small), `clear` and the supervisorctl words.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::*;

/// Two instances that print on stdout for SIGUSR1 and on stderr for
/// SIGUSR2, so the test decides the order lines arrive in.
const TALKERS: &str = "tasks:
  w:
    command: sh -c 'trap \"echo out-$$\" USR1; trap \"echo err-$$ >&2\" USR2; while true; do sleep 0.05; done'
    instances: 2
    successfulStartTimeout: 0
";

/// Sends `sig` to `pid` and waits until `logs` of `name` shows `text`.
fn say(sup: &Sup, name: &str, pid: i32, sig: i32, text: &str) {
    kill(pid, sig);
    wait_until(secs(5), text, || {
        sup.ok(&format!("logs {name} 100")).contains(text)
    });
}

/// The part of a `logs` line after `[YYYY-MM-DD HH:MM:SS] `.
fn body(line: &str) -> &str {
    assert_eq!(&line[..1], "[", "{line}");
    assert_eq!(&line[20..22], "] ", "{line}");
    &line[22..]
}

fn bodies(text: &str) -> Vec<String> {
    text.lines().map(|l| body(l).to_string()).collect()
}

/// Lines delivered plus lines counted by markers, in the complete lines
/// of `text`.
fn tally(text: &str) -> u64 {
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    complete
        .lines()
        .map(|l| match l.strip_prefix("[... ") {
            Some(rest) => rest
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            None => 1,
        })
        .sum()
}

/// Checks a follower's numbered lines `0..total`: whole, in order, every
/// gap stated by one `[... N lines dropped]` of exactly its size. Returns
/// how many were dropped.
fn accounted(text: &str, total: u64) -> u64 {
    let mut next = 0u64;
    let mut dropped = 0u64;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("[... ") {
            assert!(l.ends_with(" dropped]"), "{l}");
            let n: u64 = rest.split(' ').next().unwrap().parse().unwrap();
            next += n;
            dropped += n;
            continue;
        }
        assert_eq!(body(l), next.to_string(), "no line torn, lost or reordered");
        next += 1;
    }
    assert_eq!(next, total, "every line delivered or counted");
    dropped
}

/// What one `ctl logs -f` holds open in the supervisor: its connection
/// and the pipe it streams through.
const FDS_PER_CTL: usize = 2;

fn rss_kib(pid: i32) -> u64 {
    proc_status(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kib(pid: i32) -> u64 {
    proc_status(pid, "VmHWM")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn logs_of_a_task_merges_instances_in_arrival_order() {
    let sup = Sup::start("merge", TALKERS);
    let (p1, p2) = (sup.running_pid("w_1"), sup.running_pid("w_2"));
    for p in [p1, p2] {
        wait_for_trap(p, libc::SIGUSR1);
        wait_for_trap(p, libc::SIGUSR2);
    }
    say(&sup, "w_1", p1, libc::SIGUSR1, &format!("out-{p1}"));
    say(&sup, "w_2", p2, libc::SIGUSR2, &format!("err-{p2}"));
    say(&sup, "w_2", p2, libc::SIGUSR1, &format!("out-{p2}"));
    say(&sup, "w_1", p1, libc::SIGUSR2, &format!("err-{p1}"));
    let all = [
        format!("w_1 | out-{p1}"),
        format!("w_2 | err-{p2}"),
        format!("w_2 | out-{p2}"),
        format!("w_1 | err-{p1}"),
    ];
    assert_eq!(bodies(&sup.ok("logs w")), all);
    assert_eq!(bodies(&sup.ok("logs all")), all, "all merges the same way");
    assert_eq!(bodies(&sup.ok("tail w")), all, "tail is logs");
    assert_eq!(bodies(&sup.ok("logs w 2")), all[2..], "the last 2 of all");
    assert_eq!(
        bodies(&sup.ok("logs --stderr w")),
        [all[1].clone(), all[3].clone()]
    );
    assert_eq!(bodies(&sup.ok("logs --stdout w 1")), [all[2].clone()]);
    // One process named as such: no name in front.
    assert_eq!(
        bodies(&sup.ok("logs w_1")),
        [format!("out-{p1}"), format!("err-{p1}")]
    );
    assert_eq!(bodies(&sup.ok("logs --stderr w_1")), [format!("err-{p1}")]);
    let (ok, err) = sup.cmd("logs --stdout --stderr w");
    assert!(!ok);
    assert_eq!(
        err,
        "error: logs: give one of --stdout and --stderr (usage: logs [-f] [--stdout|--stderr] NAME|all [N])"
    );
}

#[test]
fn clear_forgets_kept_lines_and_version_avail_update_answer() {
    let sup = Sup::start("clear", TALKERS);
    let (p1, p2) = (sup.running_pid("w_1"), sup.running_pid("w_2"));
    wait_for_trap(p1, libc::SIGUSR1);
    say(&sup, "w_1", p1, libc::SIGUSR1, &format!("out-{p1}"));
    assert_eq!(sup.ok("clear w_1"), "Cleared the kept output of 'w_1'");
    assert_eq!(sup.ok("logs w_1"), "");
    say(&sup, "w_1", p1, libc::SIGUSR1, &format!("out-{p1}"));
    assert_eq!(bodies(&sup.ok("logs w_1")), [format!("out-{p1}")]);
    let (ok, err) = sup.cmd("clear nosuch");
    assert!(!ok);
    assert!(err.contains("no such process or task: 'nosuch'"), "{err}");

    let (code, out, _) = sup.ctl(&["version"]);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            format!("taskmaster {}", env!("CARGO_PKG_VERSION")).as_str()
        )
    );
    let avail = sup.ok("avail");
    assert!(avail.starts_with("Task"), "{avail}");
    for p in [p1, p2] {
        assert!(avail.contains(&p.to_string()), "{avail}");
    }
    let reply = sup.ok("update");
    assert_eq!(reply, sup.ok("reload"), "update is reload");
    assert_eq!(
        sup.running_pid("w_1"),
        p1,
        "an unchanged reload keeps the pid"
    );
    let help = sup.ok("help");
    let aliases = help.lines().last().unwrap();
    for a in [
        "tail = logs",
        "update = reload",
        "reread = reload --dry-run",
        "avail = status all",
    ] {
        assert!(aliases.contains(a), "{aliases}");
    }
}

#[test]
fn ctl_logs_follow_streams_until_ctrl_c_then_exits_zero() {
    let sup = Sup::start("follow", TALKERS);
    let (p1, p2) = (sup.running_pid("w_1"), sup.running_pid("w_2"));
    for p in [p1, p2] {
        wait_for_trap(p, libc::SIGUSR1);
        wait_for_trap(p, libc::SIGUSR2);
    }
    say(&sup, "w_1", p1, libc::SIGUSR1, &format!("out-{p1}"));
    let before = open_fds(sup.pid());
    // Several followers at once, each with its own view.
    let mut one = Captured::ctl(&sup, &["logs", "-f", "w_1"]);
    let mut task = Captured::ctl(&sup, &["tail", "-f", "w", "0"]);
    let mut errs = Captured::ctl(&sup, &["logs", "-f", "--stderr", "all", "0"]);
    one.wait_text("the kept line first", |t| {
        t.contains(&format!("] out-{p1}\n"))
    });
    wait_until(secs(10), "three followers connected", || {
        open_fds(sup.pid()) == before + 3 * FDS_PER_CTL
    });
    kill(p2, libc::SIGUSR1);
    task.wait_text("w_2's line", |t| t.contains(&format!("] w_2 | out-{p2}\n")));
    kill(p1, libc::SIGUSR2);
    errs.wait_text("w_1's stderr", |t| {
        t.contains(&format!("] w_1 | err-{p1}\n"))
    });
    one.wait_text("w_1's stderr", |t| t.contains(&format!("] err-{p1}\n")));
    task.wait_text("w_1's stderr", |t| {
        t.contains(&format!("] w_1 | err-{p1}\n"))
    });
    assert!(
        !one.text().contains(&format!("out-{p2}")),
        "w_2 is not followed"
    );
    assert!(
        !errs.text().contains("out-"),
        "stderr only: {}",
        errs.text()
    );
    assert_eq!(
        task.text().lines().count(),
        2,
        "N = 0: new lines only: {}",
        task.text()
    );
    for l in one.text().lines() {
        body(l);
    }

    assert_eq!(one.interrupt(), 0, "Ctrl-C ends ctl logs -f with 0");
    assert_eq!(task.interrupt(), 0);
    // The supervisor notices the client went away and lets go of it.
    wait_until(secs(10), "two connections closed", || {
        open_fds(sup.pid()) == before + FDS_PER_CTL
    });
    assert_eq!(errs.interrupt(), 0);
    wait_until(secs(10), "every connection closed", || {
        open_fds(sup.pid()) == before
    });
    assert!(sup.ok("status").contains("RUNNING"));
    let (ok, err) = sup.cmd("logs -f nosuch");
    assert!(!ok, "an unknown name is an error, not a follow");
    assert!(err.contains("no such process"), "{err}");
}

#[test]
fn stalled_follower_loses_lines_with_a_marker_never_the_loop() {
    let tools = test_dir("stall-tools");
    let flood = script(
        &tools,
        "flood.py",
        "exec python3 -c '
import sys
w = sys.stdout.write
for i in range(300000):
    w(\"%d\\n\" % i)
sys.stdout.flush()
open(sys.argv[1], \"w\").close()
import time
time.sleep(1000)
' \"$1\"",
    );
    let sup = Sup::start(
        "stall",
        &format!(
            "tasks:\n  flood:\n    command: {} $DIR/done\n    autoLaunch: false\n",
            flood.display()
        ),
    );
    let base_rss = rss_kib(sup.pid());
    let before = open_fds(sup.pid());
    // A follower whose stdout is a pipe nobody reads (yet).
    let (reader, writer) = std::io::pipe().unwrap();
    let mut stalled = Command::new(BIN)
        .arg("ctl")
        .arg("--socket")
        .arg(&sup.socket)
        .args(["logs", "-f", "flood"])
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let fast = Captured::ctl(&sup, &["logs", "-f", "flood"]);
    wait_until(secs(10), "both followers connected", || {
        open_fds(sup.pid()) == before + 2 * FDS_PER_CTL
    });
    sup.ok("start flood");
    let done = sup.dir.join("done");
    let mut worst = Duration::ZERO;
    let mut asked = 0;
    while !done.exists() {
        let t = Instant::now();
        assert!(sup.ok("status").contains("flood"));
        worst = worst.max(t.elapsed());
        asked += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    // A debug build on a shared machine; the release figures are in
    // BENCHMARKS.md (benches/follow.rs).
    assert!(asked >= 3, "only {asked} status replies during the flood");
    assert!(worst < secs(2), "status took {worst:?} during the flood");
    let peak = peak_rss_kib(sup.pid());
    assert!(
        peak < base_rss + 16 * 1024,
        "peak RSS {peak} KiB, {base_rss} KiB at start"
    );
    // Both readers get whole lines in order, each gap stated by a marker
    // of exactly its size; the one that kept up loses little or nothing,
    // the stalled one loses lines.
    fast.wait_text("every line or its marker", |t| tally(t) == 300_000);
    let fast_dropped = accounted(&fast.text(), 300_000);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut buf = [0u8; 65536];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            g.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    wait_until(secs(30), "the stalled follower to catch up", || {
        tally(&String::from_utf8_lossy(&got.lock().unwrap())) == 300_000
    });
    let text = String::from_utf8(got.lock().unwrap().clone()).unwrap();
    let dropped = accounted(&text, 300_000);
    assert!(
        dropped > 100_000,
        "the stalled reader lost lines: {dropped}"
    );
    assert!(fast_dropped < dropped, "{fast_dropped} vs {dropped}");
    let _ = stalled.kill();
    let _ = stalled.wait();
    let _ = std::fs::remove_dir_all(tools);
}

#[test]
fn ctl_logs_follow_gets_its_whole_history_first() {
    // 401 lines, 400 of about 105 bytes: all in the ring, 50 KB as
    // history, more than the queue beside ctl's pipe holds.
    let tools = test_dir("follow-history-tools");
    let talk = script(
        &tools,
        "talk.sh",
        &format!(
            "printf 'cr\\r\\n'; i=0; while [ $i -lt 400 ]; do echo \"$i {}\"; i=$((i+1)); done; exec sleep 1000",
            "x".repeat(100)
        ),
    );
    let sup = Sup::start(
        "follow-history",
        &format!(
            "tasks:\n  h:\n    command: sh {}\n    successfulStartTimeout: 0\n",
            talk.display()
        ),
    );
    wait_until(secs(10), "every line kept", || {
        sup.ok("logs h 1").contains("] 399 ")
    });
    let f = Captured::ctl(&sup, &["logs", "-f", "h", "401"]);
    f.wait_text("the last line or a marker", |t| {
        t.contains("] 399 ") || t.contains("[... ")
    });
    let text = f.text();
    assert!(!text.contains("[... "), "history dropped: {text}");
    // The first line as the process wrote it, `\r` and all.
    let (first, rest) = text.split_once('\n').unwrap();
    assert_eq!(body(first), "cr\r");
    let numbers: Vec<u32> = rest
        .lines()
        .map(|l| body(l).split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(numbers, (0..400).collect::<Vec<u32>>());
    let _ = std::fs::remove_dir_all(tools);
}
