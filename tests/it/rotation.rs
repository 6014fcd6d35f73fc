//! Log rotation by the supervisor (`logMaxSize`, `logBackups`): real
//! processes flood numbered lines into one shared file, and every line is
//! found once, whole and in order, across the rotated files; old backups
//! are deleted (freed by a short-lived child, seen with strace, never held
//! by the supervisor); SIGUSR1 reopening and reload keep working beside it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::harness::*;

/// A writer of `$1` numbered lines `NAME N ....` (N % 50 dots), as fast
/// as Python writes, that then touches `$2.NAME` and waits.
fn flood_script(dir: &Path) -> PathBuf {
    script(
        dir,
        "flood.py",
        "exec python3 -c '
import os, sys, time
name = os.environ[\"TASKMASTER_PROCESS\"]
w = sys.stdout.write
for i in range(int(sys.argv[1])):
    w(\"%s %d %s\\n\" % (name, i, \".\" * (i % 50)))
sys.stdout.flush()
open(sys.argv[2] + \".\" + name, \"w\").close()
time.sleep(1000)
' \"$1\" \"$2\"",
    )
}

/// The log and its backups, oldest first.
fn chain(log: &Path) -> Vec<PathBuf> {
    let mut backups: Vec<(u32, PathBuf)> = std::fs::read_dir(log.parent().unwrap())
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name.strip_prefix("out.log.")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    backups.sort();
    let mut files: Vec<PathBuf> = backups.into_iter().rev().map(|(_, p)| p).collect();
    files.push(log.to_path_buf());
    files
}

/// Checks every line of `files` (oldest first): whole, from a known
/// writer, each writer's numbers consecutive from its first one. Returns
/// the last number seen per writer.
fn check_lines(files: &[PathBuf], max: u64) -> HashMap<String, u64> {
    let mut next: HashMap<String, u64> = HashMap::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        // A line that began below the limit ends in its file.
        assert!(
            text.len() as u64 <= max + 80,
            "{} is {} bytes",
            f.display(),
            text.len()
        );
        assert!(text.ends_with('\n'), "{} ends inside a line", f.display());
        for line in text.lines() {
            let mut parts = line.split(' ');
            let (Some(name), Some(n), Some(dots), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                panic!("torn line in {}: {line:?}", f.display());
            };
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("torn line {line:?}"));
            assert_eq!(dots.len() as u64, n % 50, "torn line {line:?}");
            assert!(dots.bytes().all(|b| b == b'.'), "torn line {line:?}");
            let want = next.entry(name.to_string()).or_insert(n);
            assert_eq!(n, *want, "{name}: line {want} missing before {line:?}");
            *want = n + 1;
        }
    }
    next
}

#[test]
fn a_shared_file_rotates_once_at_line_boundaries_losing_nothing() {
    let tools = test_dir("rotate-tools");
    let flood = flood_script(&tools);
    let sup = Sup::start(
        "rotate-shared",
        &format!(
            "tasks:
  f:
    command: {} 30000 $DIR/done
    instances: 4
    stdout: $DIR/logs/out.log
    logMaxSize: 100K
    logBackups: 100
",
            flood.display()
        ),
    );
    wait_until(secs(60), "four writers done", || {
        (1..=4).all(|i| sup.dir.join(format!("done.f_{i}")).exists())
    });
    let log = sup.dir.join("logs/out.log");
    // Everything read from the pipes has reached the files once the ring
    // shows each writer's last line.
    wait_until(secs(30), "the last lines", || {
        (1..=4).all(|i| {
            sup.ok(&format!("logs f_{i} 1"))
                .contains(&format!("] f_{i} 29999 "))
        })
    });
    let files = chain(&log);
    let next = check_lines(&files, 100 * 1024);
    for i in 1..=4 {
        assert_eq!(next[&format!("f_{i}")], 30000, "f_{i} complete from 0");
    }
    let total: u64 = files.iter().map(|f| f.metadata().unwrap().len()).sum();
    // One rotation per 100 KiB of the file, not one per writer: every
    // rotated file is nearly full.
    assert!(files.len() >= 2);
    for f in &files[..files.len() - 1] {
        let len = f.metadata().unwrap().len();
        assert!(len > 100 * 1024 - 80, "{} only {len} bytes", f.display());
    }
    assert!(
        files.len() as u64 <= total / (100 * 1024 - 80) + 1,
        "{} files for {total} bytes",
        files.len()
    );
    let _ = std::fs::remove_dir_all(tools);
}

#[test]
fn backups_beyond_log_backups_are_deleted_and_sigusr1_still_reopens() {
    let tools = test_dir("rotate-tools2");
    let flood = flood_script(&tools);
    let sup = Sup::start(
        "rotate-backups",
        &format!(
            "tasks:
  f:
    command: {} 20000 $DIR/done
    stdout: $DIR/logs/out.log
    logMaxSize: 20K
    logBackups: 2
    autoLaunch: false
  tick:
    command: sh -c 'trap \"echo tock\" USR1; while true; do sleep 0.05; done'
    stdout: $DIR/logs/tick.log
    logMaxSize: 1M
",
            flood.display()
        ),
    );
    let log = sup.dir.join("logs/out.log");
    sup.ok("start f");
    wait_until(secs(60), "the writer done", || {
        sup.dir.join("done.f").exists()
    });
    wait_until(secs(30), "the last line", || {
        sup.ok("logs f 1").contains("] f 19999 ")
    });
    let files = chain(&log);
    assert_eq!(
        files,
        [
            PathBuf::from(format!("{}.2", log.display())),
            PathBuf::from(format!("{}.1", log.display())),
            log.clone()
        ],
        "the current file and 2 backups"
    );
    let next = check_lines(&files, 20 * 1024);
    assert_eq!(next["f"], 20000, "the newest lines are all there");

    // logrotate's way still works: move the file, SIGUSR1, a new file.
    let tick_log = sup.dir.join("logs/tick.log");
    let pid = sup.running_pid("tick");
    wait_for_trap(pid, libc::SIGUSR1);
    kill(pid, libc::SIGUSR1);
    wait_until(secs(10), "tock", || {
        std::fs::read_to_string(&tick_log).is_ok_and(|t| t == "tock\n")
    });
    let moved = sup.dir.join("logs/tick.log.moved");
    std::fs::rename(&tick_log, &moved).unwrap();
    sup.signal(libc::SIGUSR1);
    wait_until(secs(10), "the reopened file", || tick_log.exists());
    kill(pid, libc::SIGUSR1);
    wait_until(secs(10), "tock in the new file", || {
        std::fs::read_to_string(&tick_log).is_ok_and(|t| t == "tock\n")
    });
    assert_eq!(std::fs::read_to_string(&moved).unwrap(), "tock\n");
    let _ = std::fs::remove_dir_all(tools);
}

#[test]
fn reload_changes_log_max_size_in_place() {
    let yaml = |max: &str| {
        format!(
            "tasks:
  talk:
    command: sh -c 'trap \"echo 0123456789abcdefghi\" USR1; while true; do sleep 0.05; done'
    stdout: $DIR/out.log
    logMaxSize: {max}
    logBackups: 1
"
        )
    };
    let sup = Sup::start("rotate-reload", &yaml("1M"));
    let pid = sup.running_pid("talk");
    wait_for_trap(pid, libc::SIGUSR1);
    let log = sup.dir.join("out.log");
    let say = |n: usize| {
        kill(pid, libc::SIGUSR1);
        wait_until(secs(10), "the line", || {
            sup.ok("logs talk 100").lines().count() == n
        });
    };
    say(1);
    say(2);
    assert_eq!(std::fs::read_to_string(&log).unwrap().len(), 40);
    std::fs::write(
        &sup.config,
        yaml("50").replace("$DIR", sup.dir.to_str().unwrap()),
    )
    .unwrap();
    let reply = sup.ok("reload");
    assert!(reply.contains("updated in place: talk"), "{reply}");
    assert_eq!(sup.running_pid("talk"), pid, "not restarted");
    // 40 + 20 > 50: the next line starts a new file.
    say(3);
    assert_eq!(std::fs::read_to_string(&log).unwrap().len(), 20);
    assert_eq!(
        std::fs::read_to_string(sup.dir.join("out.log.1"))
            .unwrap()
            .len(),
        40
    );
}

#[test]
fn a_rotated_out_file_is_freed_by_a_child_not_by_the_loop() {
    let sup = Sup::start(
        "rotate-handoff",
        "tasks:
  w:
    command: sh -c 'while [ ! -e go ]; do sleep 0.01; done; head -c 7000000 /dev/zero | tr \"\\\\0\" x | fold -w 99; exec sleep 1000'
    stdout: out.log
    logMaxSize: 2M
    logBackups: 1
    successfulStartTimeout: 0
",
    );
    sup.wait_state("w", "RUNNING", secs(10));
    // Every execve of the supervisor and its children, from now on.
    let trace = sup.path("trace");
    let mut strace = std::process::Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=execve,rename,renameat,renameat2,unlink,unlinkat",
            "-o",
        ])
        .arg(&trace)
        .arg("-p")
        .arg(sup.pid().to_string())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(secs(10), "strace attached", || {
        proc_status(sup.pid(), "TracerPid").is_some_and(|t| t != "0")
    });
    std::fs::write(sup.path("go"), "").unwrap();
    // 7 MB through 2 MiB files with one backup: the second rotation on
    // takes a full backup (more than one 1 MiB slice) out of the chain.
    wait_until(secs(20), "a child run to free the backup", || {
        std::fs::read_to_string(&trace).is_ok_and(|t| {
            t.contains("execve(\"/proc/self/exe\", [\"/proc/self/exe\", \"--version\"]")
        })
    });
    let deleted = || {
        std::fs::read_dir(format!("/proc/{}/fd", sup.pid()))
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .filter(|l| l.to_string_lossy().ends_with(" (deleted)"))
            .count()
    };
    wait_until(secs(10), "no freed file held by the supervisor", || {
        deleted() == 0
    });
    kill(strace.id() as i32, libc::SIGINT);
    let _ = strace.wait();
    assert!(sup.ok("status").contains("RUNNING"));
    // The backup leaving the chain is unlinked before the current file is
    // renamed to its name, never replaced by that rename (ext4 would write
    // the renamed file out inside the call).
    let trace = std::fs::read_to_string(&trace).unwrap();
    let moves: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("out.log") && (l.contains("rename") || l.contains("unlink")))
        .collect();
    let renames = moves.iter().filter(|l| l.contains("rename")).count();
    assert!(renames >= 2, "7 MB through 2 MiB files: {moves:#?}");
    for (i, l) in moves
        .iter()
        .enumerate()
        .filter(|(_, l)| l.contains("rename"))
        .skip(1)
    {
        assert!(
            i > 0 && moves[i - 1].contains("unlink") && moves[i - 1].contains("out.log.1\""),
            "rename over an existing backup: {moves:#?}"
        );
        assert!(l.contains("out.log.1\""), "{l}");
    }
}
