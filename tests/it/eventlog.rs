//! The supervisor's own log file (`logfile:` / `--logfile`): one line per
//! event, read back from the file while real processes start, crash, stop
//! and while the supervisor reloads, gets signals and shuts down.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// The log file's lines, or none while it does not exist.
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Waits for a line of `path` whose message (after the time stamp) is
/// `LEVEL message-start...` and returns that line.
fn wait_line(path: &Path, level: &str, needle: &str) -> String {
    wait_for(secs(10), &format!("'{level} {needle}' in the log"), || {
        lines(path).into_iter().find(|l| {
            let Some(rest) = l.get(24..) else {
                return false;
            };
            rest.starts_with(&format!("{level:5} ")) && rest[6..].contains(needle)
        })
    })
}

/// Every line starts `YYYY-MM-DD HH:MM:SS.mmm LEVEL `.
fn assert_format(path: &Path) {
    for l in lines(path) {
        let b = l.as_bytes();
        assert!(
            b.len() > 30
                && b[4] == b'-'
                && b[7] == b'-'
                && b[10] == b' '
                && b[13] == b':'
                && b[16] == b':'
                && b[19] == b'.'
                && b[23] == b' '
                && b[..23]
                    .iter()
                    .enumerate()
                    .all(|(i, c)| [4, 7, 10, 13, 16, 19].contains(&i) || c.is_ascii_digit()),
            "bad stamp: {l:?}"
        );
        let level = &l[24..29];
        assert!(
            ["INFO ", "WARN ", "ERROR"].contains(&level),
            "bad level: {l:?}"
        );
        assert_eq!(&l[29..30], " ", "{l:?}");
    }
}

/// A tmpfs mounted at a fresh directory, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(name: &str, opts: &str) -> Option<Mount> {
        let dir = test_dir(name);
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Mount(dir))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn start_spawn_running_and_shutdown_are_logged() {
    let mut sup = Sup::start(
        "evlog-basic",
        "logfile: sup.log
tasks:
  web:
    command: sleep 1000
    successfulStartTimeout: 0.2
",
    );
    let log = sup.path("sup.log");
    let started = wait_line(&log, "INFO", "taskmaster ");
    assert!(
        started.contains(&format!(
            "taskmaster {} started with PID {} (config ",
            env!("CARGO_PKG_VERSION"),
            sup.pid()
        )),
        "{started}"
    );
    let pid = sup.running_pid("web");
    wait_line(&log, "INFO", &format!("'web' spawned with PID {pid}"));
    wait_line(&log, "INFO", "'web' is RUNNING");
    sup.signal(libc::SIGTERM);
    assert_eq!(sup.wait_exit(secs(10)), 0);
    wait_line(&log, "INFO", "SIGTERM received");
    wait_line(&log, "INFO", "shutting down: SIGTERM received");
    wait_line(
        &log,
        "INFO",
        "'web' is STOPPING: SIGTERM sent, asked by shutdown",
    );
    wait_line(&log, "INFO", "'web' stopped");
    let last = lines(&log).pop().unwrap();
    assert!(
        last.ends_with("INFO  taskmaster exits with status 0"),
        "{last}"
    );
    assert_format(&log);
    // Process output never goes into it.
    assert!(!lines(&log).iter().any(|l| l.contains(" | ")));
}

#[test]
fn exits_retries_and_fatal_are_logged_with_levels() {
    let sup = Sup::start(
        "evlog-exits",
        "logfile: sup.log
tasks:
  crash:
    command: sleep 1000
    restart: always
    successfulStartTimeout: 0
  flop:
    command: sh -c 'echo not logged; exit 3'
    successfulStartTimeout: 5
    restartsAttempts: 1
",
    );
    let log = sup.path("sup.log");
    let pid = sup.running_pid("crash");
    kill(pid, libc::SIGKILL);
    wait_line(
        &log,
        "WARN",
        "'crash' exited unexpectedly (killed by SIGKILL); restarting",
    );
    let again = sup.running_pid("crash");
    assert_ne!(again, pid);
    wait_line(&log, "INFO", &format!("'crash' spawned with PID {again}"));
    wait_line(
        &log,
        "WARN",
        "'flop' exited during start (exit status 3); retry 1 of 1 in 0.5s",
    );
    wait_line(
        &log,
        "ERROR",
        "'flop' is FATAL: exit status 3 within successfulStartTimeout (5s); gave up after 2 starts",
    );
    assert!(!lines(&log).iter().any(|l| l.contains("not logged")));
    assert_format(&log);
}

#[test]
fn stops_say_who_asked_and_sigkill_after_the_deadline() {
    let sup = Sup::start(
        "evlog-stops",
        "logfile: sup.log
tasks:
  polite:
    command: sleep 1000
    successfulStartTimeout: 0
  stubborn:
    command: sh -c 'trap \"\" TERM; echo ready; while :; do sleep 0.1; done'
    successfulStartTimeout: 0
    gracefulStopTimeout: 0.3
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("polite");
    let stubborn = sup.running_pid("stubborn");
    wait_for_trap(stubborn, libc::SIGTERM);
    assert_eq!(sup.ok("stop polite stubborn").lines().count(), 2);
    wait_line(
        &log,
        "INFO",
        "'polite' is STOPPING: SIGTERM sent, asked by a command",
    );
    wait_line(&log, "INFO", "'polite' stopped");
    wait_line(
        &log,
        "WARN",
        "'stubborn' did not stop before its gracefulStopTimeout; SIGKILL sent",
    );
    wait_line(&log, "INFO", "'stubborn' stopped");
}

#[test]
fn reloads_signals_and_failed_reloads_are_logged() {
    let sup = Sup::start(
        "evlog-reload",
        "logfile: sup.log
tasks:
  a:
    command: sleep 1000
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("a");
    std::fs::write(
        &sup.config,
        "logfile: sup.log\ntasks:\n  a:\n    command: sleep 1000\n  b:\n    command: sleep 1000\n",
    )
    .unwrap();
    sup.signal(libc::SIGHUP);
    wait_line(&log, "INFO", "SIGHUP received");
    let line = wait_line(&log, "INFO", "reload: ");
    assert!(line.contains("added: b"), "{line}");
    assert!(line.contains("kept unchanged: a"), "{line}");
    std::fs::write(&sup.config, "tasks: [oops\n").unwrap();
    let (ok, _) = sup.cmd("reload");
    assert!(!ok);
    wait_line(&log, "ERROR", "reload failed, nothing changed: ");
    sup.signal(libc::SIGUSR2);
    wait_line(&log, "INFO", "SIGUSR2 received");
    assert_format(&log);
}

#[test]
fn the_flag_overrides_the_key_and_paths_are_relative_to_the_config() {
    let dir = test_dir("evlog-flag-other");
    let flag = dir.join("flag.log");
    let sup = Sup::launch(
        "evlog-flag",
        "logfile: key.log
tasks:
  a:
    command: sleep 1000
",
        Launch {
            args: vec!["--logfile".into(), flag.to_str().unwrap().into()],
            ..Launch::default()
        },
    );
    sup.running_pid("a");
    wait_line(&flag, "INFO", "'a' spawned with PID");
    assert!(!sup.path("key.log").exists(), "the key is overridden");
    drop(sup);

    // Without the flag, the key's path is relative to the config's
    // directory, wherever the supervisor was started from.
    let sup = Sup::launch(
        "evlog-relative",
        "logfile: logs/sup.log
tasks:
  a:
    command: sleep 1000
",
        Launch {
            cwd: Some(std::env::temp_dir()),
            ..Launch::default()
        },
    );
    sup.running_pid("a");
    wait_line(&sup.path("logs/sup.log"), "INFO", "'a' spawned with PID");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_file_without_the_key_or_flag() {
    let sup = Sup::start(
        "evlog-none",
        "tasks:
  a:
    command: sleep 1000
",
    );
    sup.running_pid("a");
    let files: Vec<String> = std::fs::read_dir(&sup.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn reopened_on_sigusr1_and_sigusr2() {
    let sup = Sup::start(
        "evlog-reopen",
        "logfile: sup.log
tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("a");
    wait_line(&log, "INFO", "'a' spawned");
    for (n, sig) in [(1, libc::SIGUSR1), (2, libc::SIGUSR2)] {
        let moved = sup.path(&format!("sup.log.{n}"));
        std::fs::rename(&log, &moved).unwrap();
        sup.signal(sig);
        let name = if n == 1 { "SIGUSR1" } else { "SIGUSR2" };
        wait_line(&log, "INFO", &format!("{name} received"));
        let before = lines(&moved);
        sup.ok("restart a");
        let pid = sup.running_pid("a");
        wait_line(&log, "INFO", &format!("'a' spawned with PID {pid}"));
        assert_eq!(lines(&moved), before, "nothing more goes to the moved file");
        assert!(
            !before
                .iter()
                .any(|l| l.contains(&format!("{name} received")))
        );
    }
}

#[test]
fn a_symlink_at_the_path_is_refused() {
    let dir = test_dir("evlog-symlink-target");
    let target = dir.join("target");
    std::fs::write(&target, "").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("sup.log")).unwrap();
    let sup = Sup::start(
        "evlog-symlink",
        &format!(
            "logfile: {}
tasks:
  a:
    command: sleep 1000
",
            dir.join("sup.log").display()
        ),
    );
    // Supervision goes on.
    sup.running_pid("a");
    sup.wait_stderr("taskmaster: cannot open log file ", secs(5));
    assert!(
        sup.err_text().contains("is a symbolic link (not followed)"),
        "{}",
        sup.err_text()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"", "never followed");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_read_only_directory_warns_once_and_supervision_goes_on() {
    let Some(ro) = Mount::tmpfs("evlog-ro", "ro,size=64k") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let log = ro.0.join("sup.log");
    let sup = Sup::start(
        "evlog-readonly",
        &format!(
            "logfile: {}
tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
",
            log.display()
        ),
    );
    let pid = sup.running_pid("a");
    sup.wait_stderr("taskmaster: cannot open log file ", secs(5));
    // Events go on happening; the warning is not repeated.
    kill(pid, libc::SIGKILL);
    sup.wait_stderr("'a' exited (killed by SIGKILL)", secs(5));
    sup.ok("start a");
    sup.running_pid("a");
    assert!(
        sup.err_text().contains("Read-only file system"),
        "{}",
        sup.err_text()
    );
    assert_eq!(
        sup.err_text().matches("cannot open log file").count(),
        1,
        "{}",
        sup.err_text()
    );
    assert!(!log.exists());
}

#[test]
fn a_full_disk_is_reported_once_and_logging_resumes() {
    let Some(fs) = Mount::tmpfs("evlog-full", "size=64k") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let log = fs.0.join("sup.log");
    let sup = Sup::start(
        "evlog-fullsup",
        &format!(
            "logfile: {}
tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
",
            log.display()
        ),
    );
    sup.running_pid("a");
    wait_line(&log, "INFO", "'a' spawned");
    let filler = fs.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
    }
    // The file's last page may still take a few lines.
    let warning = "taskmaster: cannot write log file ";
    wait_until(secs(20), "the write error", || {
        sup.ok("restart a");
        sup.err_text().contains(warning)
    });
    for _ in 0..3 {
        sup.ok("restart a");
    }
    assert_eq!(
        sup.err_text().matches(warning).count(),
        1,
        "{}",
        sup.err_text()
    );
    assert!(sup.err_text().contains("No space left on device"));
    std::fs::remove_file(&filler).unwrap();
    let pid = sup.ok("restart a");
    let pid = pid.rsplit(' ').next().unwrap().to_string();
    wait_line(&log, "INFO", &format!("'a' spawned with PID {pid}"));
}
