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
    // The config's path, as given, closes the line.
    assert!(
        started.ends_with(&format!("(config {})", sup.config.display())),
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
    let (ok, reply) = sup.cmd("reload");
    assert!(!ok);
    // The reply puts the reasons on lines of their own; the log line
    // keeps them on one.
    let (head, why) = reply.split_once('\n').unwrap();
    assert_eq!(head, "reload failed, nothing changed:");
    let why = why.lines().collect::<Vec<_>>().join("; ");
    let failed = wait_line(&log, "ERROR", "reload failed, nothing changed: ");
    assert!(
        failed.ends_with(&format!("ERROR reload failed, nothing changed: {why}")),
        "{failed}\n{reply}"
    );
    // After SIGHUP there is no reply: the shell's notice says the same.
    sup.signal(libc::SIGHUP);
    sup.wait_stderr("taskmaster: reload failed, nothing changed:\n", secs(5));
    wait_until(secs(5), "the second failure logged", || {
        all_lines(&log, "reload failed").len() == 2
    });
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

/// The time of day of a log line, in milliseconds.
fn stamp_ms(line: &str) -> u64 {
    let t = &line[11..23];
    let n = |r: std::ops::Range<usize>| t[r].parse::<u64>().unwrap();
    ((n(0..2) * 60 + n(3..5)) * 60 + n(6..8)) * 1000 + n(9..12)
}

/// The lines of the log whose message (after the level) contains `needle`.
fn all_lines(path: &Path, needle: &str) -> Vec<String> {
    lines(path)
        .into_iter()
        .filter(|l| l.get(30..).is_some_and(|m| m.contains(needle)))
        .collect()
}

/// The first line after `after` (a whole line of the log) whose message
/// contains `needle`, waited for.
fn wait_line_after(path: &Path, after: &str, level: &str, needle: &str) -> String {
    wait_for(
        secs(10),
        &format!("'{level} {needle}' after {after:?}"),
        || {
            lines(path)
                .into_iter()
                .skip_while(|l| l != after)
                .skip(1)
                .find(|l| l[24..].starts_with(&format!("{level:5} ")) && l[30..].contains(needle))
        },
    )
}

#[test]
fn restarts_and_retries_are_logged_with_their_growing_delay() {
    let sup = Sup::start(
        "evlog-restarts",
        "logfile: sup.log
tasks:
  crash:
    command: 'false'
    restart: always
    successfulStartTimeout: 0
  delayed:
    command: 'false'
    restart: always
    successfulStartTimeout: 0
    restartDelay: 0.25
  slow:
    command: sh -c 'sleep 1.2; exit 2'
    restart: always
    successfulStartTimeout: 0
    restartDelay: 0.3
  flop:
    command: sh -c 'exit 4'
    successfulStartTimeout: 5
    restartsAttempts: 2
",
    );
    let log = sup.path("sup.log");
    // A life under 1 s: 0.5 s, then 1 s, then 2 s, each a WARN, and the
    // next spawn comes no sooner.
    let mut after = wait_line(&log, "INFO", "'crash' spawned with PID");
    for delay in ["0.5s", "1s", "2s"] {
        let exited = wait_line_after(
            &log,
            &after,
            "WARN",
            &format!("'crash' exited unexpectedly (exit status 1); restarting in {delay} (it ran "),
        );
        let spawned = wait_line_after(&log, &exited, "INFO", "'crash' spawned with PID");
        let waited = stamp_ms(&spawned) - stamp_ms(&exited);
        let want = (delay.trim_end_matches('s').parse::<f64>().unwrap() * 1000.0) as u64;
        assert!(waited + 2 >= want, "{exited}\n{spawned}");
        after = spawned;
    }
    // restartDelay adds to the growing delay ...
    wait_line(
        &log,
        "WARN",
        "'delayed' exited unexpectedly (exit status 1); restarting in 0.75s (it ran ",
    );
    wait_line(
        &log,
        "WARN",
        "'delayed' exited unexpectedly (exit status 1); restarting in 1.25s (it ran ",
    );
    // ... and is all the wait of a process that lived over 1 s.
    let slow = wait_line(
        &log,
        "WARN",
        "'slow' exited unexpectedly (exit status 2); restarting in 0.3s (it ran 1.",
    );
    wait_line_after(&log, &slow, "INFO", "'slow' spawned with PID");
    // Failed starts: retry N of M with its delay, then FATAL.
    wait_line(
        &log,
        "WARN",
        "'flop' exited during start (exit status 4); retry 1 of 2 in 0.5s",
    );
    wait_line(
        &log,
        "WARN",
        "'flop' exited during start (exit status 4); retry 2 of 2 in 1s",
    );
    wait_line(
        &log,
        "ERROR",
        "'flop' is FATAL: exit status 4 within successfulStartTimeout (5s); gave up after 3 starts",
    );
    // One line per restart: never more exits than spawns.
    let exits = all_lines(&log, "'crash' exited").len();
    let spawns = all_lines(&log, "'crash' spawned").len();
    assert!(
        exits <= spawns && spawns <= exits + 1,
        "{exits} exits, {spawns} spawns"
    );
    assert_format(&log);
}

#[test]
fn a_client_of_another_uid_is_refused_and_logged() {
    let sup = Sup::start(
        "evlog-refused",
        "logfile: sup.log
tasks:
  a:
    command: sleep 1000
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("a");
    // The socket is 0600; widened, the peer check is what stands.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sup.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    // A copy of the binary that nobody may run.
    let bin = sup.path("tm-ctl");
    std::fs::copy(BIN, &bin).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
        .arg(&bin)
        .arg("ctl")
        .arg("--socket")
        .arg(&sup.socket)
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "nothing served");
    let line = wait_line(&log, "WARN", "refused control connection from uid 65534");
    assert!(
        line.ends_with("WARN  refused control connection from uid 65534"),
        "{line}"
    );
    sup.wait_stderr(
        "taskmaster: refused control connection from uid 65534",
        secs(5),
    );
    // Root is served.
    sup.ok("status");
    assert_eq!(all_lines(&log, "refused control connection").len(), 1);
    assert_format(&log);
}

#[test]
fn a_connection_refused_for_want_of_descriptors_is_logged() {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    let sup = Sup::start(
        "evlog-nofds",
        "logfile: sup.log
tasks:
  a:
    command: sleep 1000
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("a");
    let fds = || open_fds(sup.pid());
    let set_soft = |soft: &str| {
        let st = Command::new("prlimit")
            .arg(format!("--pid={}", sup.pid()))
            .arg(format!("--nofile={soft}:"))
            .status()
            .unwrap();
        assert!(st.success(), "prlimit {soft}");
    };
    let hard = std::fs::read_to_string(format!("/proc/{}/limits", sup.pid()))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_string))
        .unwrap();
    // Room for a few more descriptors only, then idle clients take them.
    set_soft(&(fds() + 3).to_string());
    let mut idle = Vec::new();
    let refused = wait_for(secs(10), "a refused connection", || {
        let mut s = UnixStream::connect(&sup.socket).unwrap();
        s.set_read_timeout(Some(secs(1))).unwrap();
        let _ = s.write_all(b"status\n");
        let mut reply = String::new();
        match s.read_to_string(&mut reply) {
            Ok(_) if reply.starts_with("1\nerror: taskmaster is out of file descriptors") => {
                Some(reply)
            }
            // Served (or still waiting to be): keep it open, take the next.
            _ => {
                idle.push(UnixStream::connect(&sup.socket).unwrap());
                None
            }
        }
    });
    assert_eq!(
        refused,
        "1\nerror: taskmaster is out of file descriptors; try again later\n"
    );
    let line = wait_line(&log, "WARN", "control socket: refused ");
    assert!(
        line.contains("WARN  control socket: refused ")
            && line.ends_with(": out of file descriptors"),
        "{line}"
    );
    drop(idle);
    set_soft(&hard);
    assert!(sup.ok("status").contains("RUNNING"));
    assert_format(&log);
}

#[test]
fn output_dropped_for_a_stalled_stdout_is_logged_with_its_count() {
    let sup = Sup::launch(
        "evlog-stalled",
        "logfile: sup.log
tasks:
  flood:
    command: sh -c 'yes 0123456789 | head -c 4000000; touch $DIR/done; exec sleep 1000'
",
        Launch {
            stdout: Output::Held,
            ..Launch::default()
        },
    );
    let log = sup.path("sup.log");
    // 4 MB of lines while nobody reads stdout: the console keeps 1 MiB.
    wait_until(secs(20), "the flood to be written", || {
        sup.path("done").exists()
    });
    assert!(all_lines(&log, "dropped").is_empty(), "told once drained");
    sup.read_stdout();
    let line = wait_line(
        &log,
        "WARN",
        " lines dropped: output was not read fast enough",
    );
    let n: u64 = line[30..].split(' ').next().unwrap().parse().unwrap();
    assert!(n > 100_000, "{line}");
    // The same count, in the stream that lost the lines.
    sup.wait_stdout(
        &format!("taskmaster: {n} lines dropped: output was not read fast enough"),
        secs(10),
    );
    assert!(!lines(&log).iter().any(|l| l.contains("0123456789")));
    assert_format(&log);
}

#[test]
fn lines_dropped_for_a_slow_follower_are_logged() {
    let sup = Sup::start(
        "evlog-follower",
        "logfile: sup.log
tasks:
  flood:
    command: sh -c 'while [ ! -e $DIR/go ]; do sleep 0.05; done; yes 0123456789 | head -c 4000000; touch $DIR/done; exec sleep 1000'
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("flood");
    // A follower that reads nothing while 4 MB go by.
    let mut s = std::os::unix::net::UnixStream::connect(&sup.socket).unwrap();
    {
        use std::io::Write;
        s.write_all(b"logs -f flood 0\n").unwrap();
    }
    std::fs::write(sup.path("go"), "").unwrap();
    wait_until(secs(20), "the flood to be written", || {
        sup.path("done").exists()
    });
    // Leaving, its loss is logged.
    drop(s);
    let line = wait_line(
        &log,
        "WARN",
        " lines dropped for a `logs -f` client that read too slowly",
    );
    let n: u64 = line[30..].split(' ').next().unwrap().parse().unwrap();
    assert!(n > 1000, "{line}");
    assert_format(&log);
}

#[test]
fn a_task_log_on_a_full_disk_is_reported_once_then_resumed() {
    let Some(fs) = Mount::tmpfs("evlog-tasklog", "size=64k") else {
        eprintln!("skipped: cannot mount a tmpfs (needs root)");
        return;
    };
    let out = fs.0.join("t.log");
    let line = "x".repeat(200);
    let sup = Sup::start(
        "evlog-tasklog-sup",
        &format!(
            "logfile: sup.log
tasks:
  t:
    command: sh -c 'while :; do echo $LINE; echo . >> $DIR/count; sleep 0.02; done'
    environment: {{LINE: {line}}}
    stdout: {}
",
            out.display()
        ),
    );
    let log = sup.path("sup.log");
    let count = || {
        std::fs::read_to_string(sup.path("count"))
            .unwrap_or_default()
            .len()
    };
    wait_until(secs(10), "output in the task's log", || {
        std::fs::metadata(&out).is_ok_and(|m| m.len() > 0)
    });
    let filler = fs.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
    }
    let failed = wait_line(
        &log,
        "ERROR",
        &format!(
            "cannot write output of 't' to {}: No space left on device; its lines are dropped until writing works again",
            out.display()
        ),
    );
    // Many more lines fail: still one line.
    let at = count();
    wait_until(secs(10), "20 more lines", || count() >= at + 20);
    assert_eq!(all_lines(&log, "cannot write output of 't'").len(), 1);
    sup.wait_stderr("taskmaster: cannot write output of 't' to ", secs(5));
    std::fs::remove_file(&filler).unwrap();
    let resumed = wait_line_after(
        &log,
        &failed,
        "ERROR",
        &format!("output of 't' reaches {} again; ", out.display()),
    );
    assert!(
        resumed.contains(
            " bytes were lost (No space left on device), whole lines from the one that failed"
        ),
        "{resumed}"
    );
    assert!(!lines(&log).iter().any(|l| l.contains(&line)));
    assert_format(&log);
}

#[test]
fn health_changes_are_logged_with_their_reason_and_the_restart_says_why() {
    let mut peer = crate::peers::Peer::tcp();
    let sup = Sup::start(
        "evlog-health",
        &format!(
            "logfile: sup.log
tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{tcp: 127.0.0.1:{port}, interval: 0.2, timeout: 1, retries: 2}}
  watch:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{tcp: 127.0.0.1:{port}, interval: 0.2, timeout: 1, retries: 2, onUnhealthy: none}}
",
            port = peer.port
        ),
    );
    let log = sup.path("sup.log");
    let pid = sup.running_pid("db");
    let healthy = wait_line(&log, "INFO", "'db' is healthy");
    assert!(healthy.ends_with("INFO  'db' is healthy"), "{healthy}");
    wait_line(&log, "INFO", "'watch' is healthy");
    peer.kill();
    let sick = wait_line(&log, "WARN", "'db' is unhealthy: ");
    assert!(
        sick.ends_with("WARN  'db' is unhealthy: cannot connect: Connection refused; restarting"),
        "{sick}"
    );
    let stop = wait_line_after(&log, &sick, "INFO", "'db' is STOPPING");
    assert!(
        stop.ends_with("INFO  'db' is STOPPING: SIGTERM sent, asked by a failed health check"),
        "{stop}"
    );
    wait_line_after(&log, &stop, "INFO", "'db' spawned with PID");
    assert!(!alive(pid));
    let watch = wait_line(&log, "WARN", "'watch' is unhealthy: ");
    assert!(
        watch.ends_with("WARN  'watch' is unhealthy: cannot connect: Connection refused"),
        "{watch}"
    );
    // Told once per change, not once per failed check.
    wait_until(secs(10), "more failed checks", || {
        sup.proc("watch")["reason"]
            .as_str()
            .is_some_and(|r| r.contains("refused"))
    });
    assert_eq!(all_lines(&log, "'watch' is unhealthy").len(), 1);
    assert!(all_lines(&log, "'watch' is STOPPING").is_empty());
    // The terminal's notices are the same events.
    sup.wait_stderr(
        "taskmaster: 'db' is unhealthy: cannot connect: Connection refused; restarting",
        secs(5),
    );
    assert_format(&log);
}

#[test]
fn dependency_waits_and_failures_are_logged() {
    let sup = Sup::start(
        "evlog-deps",
        "logfile: sup.log
tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {command: test -e $DIR/up, interval: 0.2, retries: 1}
  api:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {db: healthy}
  bad:
    command: sh -c 'sleep 0.3; exit 3'
    restart: never
    successfulStartTimeout: 0
  job:
    command: sleep 1000
    dependsOn: {bad: completed}
",
    );
    let log = sup.path("sup.log");
    let waiting = wait_line(&log, "INFO", "'api' is WAITING");
    assert!(
        waiting.ends_with("INFO  'api' is WAITING for db (healthy)"),
        "{waiting}"
    );
    let job = wait_line(&log, "INFO", "'job' is WAITING");
    assert!(
        job.ends_with("INFO  'job' is WAITING for bad (completed)"),
        "{job}"
    );
    let fatal = wait_line_after(&log, &job, "ERROR", "'job' is FATAL");
    assert!(
        fatal.ends_with("ERROR 'job' is FATAL: dependency 'bad' failed"),
        "{fatal}"
    );
    sup.wait_state("db", "RUNNING", secs(10));
    assert_eq!(sup.proc("api")["state"], "WAITING");
    assert!(all_lines(&log, "'api' spawned").is_empty());
    std::fs::write(sup.path("up"), "").unwrap();
    let healthy = wait_line(&log, "INFO", "'db' is healthy");
    wait_line_after(&log, &healthy, "INFO", "'api' spawned with PID");
    // `stop all`: the dependent first, then what it depends on (held
    // until then), both asked by the command.
    sup.ok("stop all");
    let api = wait_line(&log, "INFO", "'api' is STOPPING");
    assert!(api.ends_with("SIGTERM sent, asked by a command"), "{api}");
    let api_down = wait_line_after(&log, &api, "INFO", "'api' stopped");
    let db = wait_line_after(&log, &api_down, "INFO", "'db' is STOPPING");
    assert!(db.ends_with("SIGTERM sent, asked by a command"), "{db}");
    assert_format(&log);
}

#[test]
fn a_stopped_dependency_calls_off_the_start_of_what_waits_for_it() {
    let sup = Sup::start(
        "evlog-dep-stop",
        "logfile: sup.log
tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {command: test -e $DIR/up, interval: 60, onUnhealthy: none}
  api:
    command: sleep 1000
    dependsOn: {db: healthy}
  side:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {db: started}
",
    );
    let log = sup.path("sup.log");
    wait_line(&log, "INFO", "'api' is WAITING for db (healthy)");
    let side = sup.running_pid("side");
    // A restart of db brings it back: api goes on waiting.
    sup.ok("restart db");
    let db = sup.running_pid("db");
    assert_eq!(sup.proc("api")["state"], "WAITING");
    // A stop of db is for good: api would wait forever, so its start is
    // called off; side, already up, is left alone.
    let reply = sup.ok("stop db");
    assert_eq!(reply.trim(), "Process 'db' stopped", "{reply}");
    assert!(!alive(db));
    let api = wait_line(&log, "INFO", "'api' stopped");
    assert!(
        api.ends_with("INFO  'api' stopped, asked by a dependency"),
        "{api}"
    );
    sup.wait_stderr("taskmaster: 'api' stopped, asked by a dependency", secs(5));
    assert_eq!(sup.proc("api")["state"], "STOPPED");
    assert_eq!(sup.proc("side")["state"], "RUNNING");
    assert_eq!(sup.proc("side")["pid"], side);
    assert!(all_lines(&log, "'side' stopped").is_empty());
    // Started again by hand, api waits again and pulls db in.
    sup.ok("start api");
    sup.running_pid("db");
    assert_eq!(sup.proc("api")["state"], "WAITING");
    assert_format(&log);
}

#[test]
fn stops_asked_by_reload_say_so_even_when_held_for_dependents() {
    let sup = Sup::start(
        "evlog-reload-stops",
        "logfile: sup.log
tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
  api:
    command: sh -c 'trap \"sleep 0.3; exit 0\" TERM; while :; do sleep 0.1; done'
    successfulStartTimeout: 0
    dependsOn: {db: running}
  c:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("db");
    let api = sup.running_pid("api");
    wait_for_trap(api, libc::SIGTERM);
    sup.running_pid("c");
    std::fs::write(
        &sup.config,
        "logfile: sup.log
tasks:
  c:
    command: sleep 999
    successfulStartTimeout: 0
",
    )
    .unwrap();
    let reply = sup.ok("reload");
    assert!(reply.contains("removed: api, db"), "{reply}");
    let api = wait_line(&log, "INFO", "'api' is STOPPING");
    assert!(api.ends_with("SIGTERM sent, asked by reload"), "{api}");
    let c = wait_line(&log, "INFO", "'c' is STOPPING");
    assert!(c.ends_with("SIGTERM sent, asked by reload"), "{c}");
    // db's stop waits for api to be down, and is still reload's.
    let api_down = wait_line_after(&log, &api, "INFO", "'api' stopped");
    let db = wait_line_after(&log, &api_down, "INFO", "'db' is STOPPING");
    assert!(db.ends_with("SIGTERM sent, asked by reload"), "{db}");
    assert!(all_lines(&log, "asked by a command").is_empty());
    assert_format(&log);
}

#[test]
fn signals_received_are_logged() {
    let mut sup = Sup::start(
        "evlog-signals",
        "logfile: sup.log
tasks:
  stubborn:
    command: sh -c 'trap \"\" TERM INT; while :; do sleep 0.1; done'
    successfulStartTimeout: 0
    gracefulStopTimeout: 60
",
    );
    let log = sup.path("sup.log");
    let pid = sup.running_pid("stubborn");
    wait_for_trap(pid, libc::SIGTERM);
    for (sig, name) in [(libc::SIGUSR1, "SIGUSR1"), (libc::SIGQUIT, "SIGQUIT")] {
        sup.signal(sig);
        let line = wait_line(&log, "INFO", &format!("{name} received"));
        assert!(line.ends_with(&format!("INFO  {name} received")), "{line}");
    }
    // Ignored, not fatal: still supervising.
    assert_eq!(sup.running_pid("stubborn"), pid);
    sup.signal(libc::SIGINT);
    wait_line(&log, "INFO", "shutting down: SIGINT received");
    wait_line(
        &log,
        "INFO",
        "'stubborn' is STOPPING: SIGTERM sent, asked by shutdown",
    );
    // A second request during shutdown: everything is killed at once.
    sup.signal(libc::SIGTERM);
    assert_eq!(sup.wait_exit(secs(10)), 1);
    let second = wait_line(&log, "INFO", "SIGTERM received");
    wait_line_after(
        &log,
        &second,
        "WARN",
        "second shutdown request: killing every process",
    );
    wait_line(&log, "WARN", "'stubborn' killed (SIGKILL): forced shutdown");
    let last = lines(&log).pop().unwrap();
    assert!(
        last.ends_with("ERROR taskmaster exits with status 1"),
        "{last}"
    );
    assert_eq!(all_lines(&log, "shutting down").len(), 1);
    assert_format(&log);
}

#[test]
fn ignored_notify_datagrams_are_counted_in_the_log() {
    use std::os::linux::net::SocketAddrExt;
    let sup = Sup::start(
        "evlog-notify",
        "logfile: sup.log
tasks:
  api:
    command: sh -c 'echo $NOTIFY_SOCKET > $DIR/addr; exec sleep 1000'
    successfulStartTimeout: 0
    notify: true
",
    );
    let log = sup.path("sup.log");
    let addr = wait_for(secs(10), "the task's NOTIFY_SOCKET", || {
        std::fs::read_to_string(sup.path("addr"))
            .ok()
            .filter(|a| a.ends_with('\n'))
    });
    let name = addr.trim().strip_prefix('@').unwrap().to_string();
    let to = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
    let tx = std::os::unix::net::UnixDatagram::unbound().unwrap();
    // From this test's pid: not in the task's process group.
    for _ in 0..12 {
        tx.send_to_addr(b"READY=1", &to).unwrap();
    }
    let me = std::process::id();
    let first = wait_line(&log, "WARN", "ignored 1 notify datagram(s) so far");
    assert!(
        first.ends_with(&format!(
            "WARN  ignored 1 notify datagram(s) so far (the last from pid {me}, not in a notify process's group)"
        )),
        "{first}"
    );
    wait_line(&log, "WARN", "ignored 10 notify datagram(s) so far");
    assert_eq!(all_lines(&log, "notify datagram").len(), 2);
    assert_eq!(sup.proc("api")["health"], "starting");
    assert_format(&log);
}

#[test]
fn one_event_shows_in_the_log_the_shell_and_the_events_stream() {
    use std::io::{BufRead, BufReader, Write};
    let sup = Sup::start_shell(
        "evlog-views",
        "logfile: sup.log
tasks:
  w:
    command: sh -c 'echo OUTPUT-OF-W; exec sleep 1000'
    successfulStartTimeout: 0
",
    );
    let log = sup.path("sup.log");
    let pid = sup.running_pid("w");
    wait_until(secs(10), "the task's output", || {
        sup.ok("logs w").contains("OUTPUT-OF-W")
    });
    let mut s = std::os::unix::net::UnixStream::connect(&sup.socket).unwrap();
    s.write_all(b"events\n").unwrap();
    s.set_read_timeout(Some(secs(10))).unwrap();
    let mut events = BufReader::new(s);
    let mut status = String::new();
    events.read_line(&mut status).unwrap();
    assert_eq!(status, "0\n");

    kill(pid, libc::SIGKILL);
    // The events stream.
    let json: serde_json::Value = loop {
        let mut line = String::new();
        assert!(events.read_line(&mut line).unwrap() > 0, "stream ended");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v["name"] == "w" && v["from"] == "RUNNING" {
            break v;
        }
    };
    assert_eq!(json["pid"], pid);
    assert_eq!(json["exit_code"], 137);
    assert_eq!(json["to"], "BACKOFF", "a life under 1 s: {json}");
    // The log file.
    let line = wait_line(&log, "WARN", "'w' exited unexpectedly (killed by SIGKILL)");
    let message = "exited unexpectedly (killed by SIGKILL); restarting in 0.5s (it ran ";
    assert!(line.contains(message), "{line}");
    // The shell's notice (on stderr, with the shell on a pipe).
    let notice = "taskmaster: 'w' exited (killed by SIGKILL); restarting in 0.5s (it ran ";
    sup.wait_stderr(notice, secs(5));
    // One value: the same instant in the log (local) and the stream (UTC),
    // the same run time in the log and the notice.
    let time = json["time"].as_str().unwrap();
    assert_eq!(&line[17..23], &time[17..23], "{line}\n{time}");
    let ran = line.split("(it ran ").nth(1).unwrap();
    let err = sup.err_text();
    let shown = err.split(notice).nth(1).unwrap().lines().next().unwrap();
    assert_eq!(ran, shown);
    assert_eq!(err.matches("'w' exited").count(), 1);
    // Process output never goes into the log file.
    assert!(!lines(&log).iter().any(|l| l.contains("OUTPUT-OF-W")));
    assert_format(&log);
}

#[test]
fn expected_exits_are_logged_at_info() {
    let sup = Sup::start(
        "evlog-expected",
        "logfile: sup.log
tasks:
  done:
    command: sh -c 'sleep 0.2; exit 0'
    successfulStartTimeout: 0
  two:
    command: sh -c 'sleep 0.2; exit 2'
    successfulStartTimeout: 0
    expectedExitCodes: [0, 2]
  bad:
    command: sh -c 'sleep 0.2; exit 2'
    successfulStartTimeout: 0
    restart: never
",
    );
    let log = sup.path("sup.log");
    let done = wait_line(&log, "INFO", "'done' exited");
    assert!(
        done.ends_with("INFO  'done' exited expectedly (exit status 0)"),
        "{done}"
    );
    let two = wait_line(&log, "INFO", "'two' exited");
    assert!(
        two.ends_with("INFO  'two' exited expectedly (exit status 2)"),
        "{two}"
    );
    // The same code, not in the list: a WARN that says so.
    let bad = wait_line(&log, "WARN", "'bad' exited");
    assert!(
        bad.ends_with("WARN  'bad' exited unexpectedly (exit status 2)"),
        "{bad}"
    );
    sup.wait_state("done", "EXITED", secs(10));
    sup.wait_state("two", "EXITED", secs(10));
    assert!(
        all_lines(&log, "'done' spawned").len() == 1,
        "not restarted"
    );
    assert_format(&log);
}

#[test]
fn a_reload_logs_what_it_added_removed_restarted_and_updated_in_place() {
    let sup = Sup::start(
        "evlog-reload-summary",
        "logfile: sup.log
tasks:
  keep:
    command: sleep 1000
    successfulStartTimeout: 0
  change:
    command: sleep 1000
    successfulStartTimeout: 0
  policy:
    command: sleep 1000
    successfulStartTimeout: 0
  gone:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let log = sup.path("sup.log");
    for name in ["keep", "change", "policy", "gone"] {
        sup.running_pid(name);
    }
    let policy = sup.running_pid("policy");
    std::fs::write(
        &sup.config,
        "logfile: sup.log
tasks:
  keep:
    command: sleep 1000
    successfulStartTimeout: 0
  change:
    command: sleep 2000
    successfulStartTimeout: 0
  policy:
    command: sleep 1000
    successfulStartTimeout: 0
    restart: always
  fresh:
    command: sleep 1000
    successfulStartTimeout: 0
",
    )
    .unwrap();
    let reply = sup.ok("reload");
    let line = wait_line(&log, "INFO", "reload: ");
    assert!(
        line.ends_with(&format!(
            "INFO  reload: Reloaded {}; added: fresh; removed: gone; \
             changed, restarted: change; changed, updated in place: policy; \
             kept unchanged: keep",
            sup.config.display()
        )),
        "{line}"
    );
    // The reply and the log line say the same, a line each or joined.
    assert_eq!(line[30..], format!("reload: {}", reply.replace('\n', "; ")));
    // What it stopped, it says it stopped for the reload.
    for name in ["gone", "change"] {
        let stop = wait_line(&log, "INFO", &format!("'{name}' is STOPPING"));
        assert!(stop.ends_with("SIGTERM sent, asked by reload"), "{stop}");
    }
    wait_line(&log, "INFO", "'fresh' spawned with PID");
    assert!(all_lines(&log, "'policy' is STOPPING").is_empty());
    assert_eq!(sup.running_pid("policy"), policy, "updated in place");
    assert_format(&log);
}

/// The lines of `files` read one after the other, every one checked well
/// formed.
fn rotated_lines(files: &[PathBuf]) -> Vec<String> {
    let mut all = Vec::new();
    for f in files {
        assert_format(f);
        all.extend(lines(f));
    }
    all
}

#[test]
fn the_log_rotates_under_the_top_level_keys_and_loses_no_line() {
    const MAX: u64 = 1024;
    let sup = Sup::start(
        "evlog-rotate",
        "logfile: sup.log
logMaxSize: 1K
logBackups: 2
tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let log = sup.path("sup.log");
    let backup = |n: u32| sup.path(&format!("sup.log.{n}"));
    let mut pids = vec![sup.running_pid("a")];
    // Each restart logs three lines (about 190 bytes): 40 of them fill the
    // file and both backups over twice.
    for _ in 0..40 {
        let reply = sup.ok("restart a");
        pids.push(reply.rsplit(' ').next().unwrap().parse().unwrap());
    }
    let last = *pids.last().unwrap();
    wait_line(&log, "INFO", &format!("'a' spawned with PID {last}"));
    assert!(backup(1).exists() && backup(2).exists());
    assert!(!backup(3).exists(), "logBackups: 2 keeps two");
    let files = [backup(2), backup(1), log.clone()];
    for (i, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(f).unwrap();
        let len = text.len() as u64;
        // A backup was rotated when the next line would not fit: it is
        // full to within a line.
        let full = i == files.len() - 1 || len > MAX - 100;
        assert!(len <= MAX && full, "{} has {len} bytes", f.display());
        assert!(text.ends_with('\n'), "{} ends within a line", f.display());
    }
    let all = rotated_lines(&files);
    // The oldest lines were dropped with the oldest file ...
    assert!(!all.iter().any(|l| l.contains("taskmaster ")), "{all:#?}");
    // ... and what is kept is the whole story from some restart on: every
    // event of every restart, in order, across the files.
    let messages: Vec<&str> = all.iter().map(|l| &l[30..]).collect();
    let first = messages
        .iter()
        .position(|m| m.starts_with("'a' spawned with PID "))
        .unwrap();
    let pid: i32 = messages[first].rsplit(' ').next().unwrap().parse().unwrap();
    let from = pids.iter().position(|&p| p == pid).unwrap();
    assert!(from > 0, "the first spawn was dropped");
    let mut want = Vec::new();
    for (i, pid) in pids[from..].iter().enumerate() {
        if i > 0 {
            want.push("'a' is STOPPING: SIGTERM sent, asked by a command".to_string());
            want.push("'a' stopped (killed by SIGTERM)".to_string());
        }
        // (RUNNING at once, without a start period: not a line of its own.)
        want.push(format!("'a' spawned with PID {pid}"));
    }
    assert_eq!(messages[first..], want);
    // The lines before the first spawn kept are the end of a restart.
    let tail = [
        "'a' is STOPPING: SIGTERM sent, asked by a command",
        "'a' stopped (killed by SIGTERM)",
    ];
    assert!(first <= tail.len(), "{:#?}", &messages[..first]);
    assert_eq!(messages[..first], tail[tail.len() - first..]);
    // A dropped file is let go of: no deleted log stays open.
    wait_until(secs(5), "no deleted log file held open", || {
        !holds_deleted_log(sup.pid())
    });
    assert_format(&log);
}

/// Whether `pid` holds a deleted `sup.log*` open.
fn holds_deleted_log(pid: i32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|t| {
            let t = t.to_string_lossy();
            t.contains("/sup.log") && t.ends_with(" (deleted)")
        })
}

#[test]
fn a_rotation_at_start_is_freed_with_nothing_else_to_do() {
    // The start line rotates a full log; nothing runs, no client comes,
    // and stdout is /dev/null (a pipe's first "writable" would wake the
    // loop), so nothing else wakes it.
    let dir = test_dir("evlog-rotate-idle");
    let old = "x".repeat(99) + "\n";
    std::fs::write(dir.join("sup.log"), format!("NEWEST\n{}", old.repeat(10))).unwrap();
    std::fs::write(dir.join("sup.log.1"), old.repeat(10)).unwrap();
    let config = dir.join("taskmaster.yaml");
    std::fs::write(
        &config,
        "logfile: sup.log\nlogMaxSize: 1K\nlogBackups: 1\ntasks:\n  a:\n    command: sleep 1000\n    autoLaunch: false\n",
    )
    .unwrap();
    let sup = Captured::start(
        Command::new("sh")
            .args(["-c", "exec \"$0\" \"$@\" </dev/null >/dev/null 2>&1", BIN])
            .arg("--no-shell")
            .arg("--socket")
            .arg(dir.join("tm.sock"))
            .arg(&config),
    );
    let pid = sup.child.id() as i32;
    wait_until(secs(10), "the log rotated at start", || {
        std::fs::read_to_string(dir.join("sup.log.1")).is_ok_and(|t| t.starts_with("NEWEST\n"))
    });
    wait_until(secs(5), "the dropped backup let go of", || {
        !holds_deleted_log(pid)
    });
    drop(sup);
    remove_test_dir(&dir);
}

#[test]
fn a_fifo_at_the_path_is_refused_without_blocking_and_supervision_goes_on() {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = test_dir("evlog-fifo-dir");
    let fifo = dir.join("sup.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let yaml = format!(
        "logfile: {}
tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
",
        fifo.display()
    );
    let warning = format!(
        "taskmaster: cannot open log file {}: is a FIFO (named pipe), not a regular file",
        fifo.display()
    );
    let reader = || {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap()
    };
    // Without a reader an open for writing would wait for one; with a
    // reader it would succeed. Refused either way, and never written.
    for with_reader in [false, true] {
        let held = with_reader.then(reader);
        // `start` fails the test when the socket does not answer in time.
        let sup = Sup::start("evlog-fifo", &yaml);
        let (ok, status) = sup.cmd_within("status", secs(5));
        assert!(ok && status.contains("RUNNING"), "{status}");
        sup.running_pid("a");
        sup.wait_stderr(&warning, secs(5));
        sup.ok("restart a");
        sup.running_pid("a");
        assert_eq!(sup.err_text().matches("cannot open log file").count(), 1);
        // No writer holds the FIFO: a read ends at once, empty.
        let mut r = held.unwrap_or_else(reader);
        let mut got = Vec::new();
        assert_eq!(r.read_to_end(&mut got).unwrap(), 0, "{got:?}");
        drop(sup);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_shutdown_command_is_logged_with_its_exit_status() {
    let mut sup = Sup::start(
        "evlog-shutdown",
        "logfile: sup.log
tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("a");
    sup.ok("shutdown");
    assert_eq!(sup.wait_exit(secs(10)), 0);
    let down = wait_line(&log, "INFO", "shutting down: ");
    assert!(
        down.ends_with("INFO  shutting down: asked by the shutdown command"),
        "{down}"
    );
    let stop = wait_line_after(&log, &down, "INFO", "'a' is STOPPING");
    assert!(stop.ends_with("SIGTERM sent, asked by shutdown"), "{stop}");
    wait_line_after(&log, &stop, "INFO", "'a' stopped");
    let last = lines(&log).pop().unwrap();
    assert!(
        last.ends_with("INFO  taskmaster exits with status 0"),
        "{last}"
    );
    assert!(all_lines(&log, "received").is_empty(), "no signal involved");
    assert_format(&log);
}

#[test]
fn an_essential_process_ending_is_logged_with_the_exit_status_it_gives() {
    let mut sup = Sup::start(
        "evlog-essential",
        "logfile: sup.log
tasks:
  main:
    command: sh -c 'while [ ! -e $DIR/go ]; do sleep 0.05; done; exit 3'
    successfulStartTimeout: 0
    restart: never
    essential: true
  side:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("main");
    let side = sup.running_pid("side");
    std::fs::write(sup.path("go"), "").unwrap();
    assert_eq!(sup.wait_exit(secs(10)), 3, "the essential process's code");
    let exited = wait_line(&log, "WARN", "'main' exited");
    assert!(
        exited.ends_with("WARN  'main' exited unexpectedly (exit status 3)"),
        "{exited}"
    );
    let ended = wait_line_after(&log, &exited, "WARN", "essential process");
    assert!(
        ended.ends_with("WARN  essential process 'main' ended; shutting down"),
        "{ended}"
    );
    let stop = wait_line_after(&log, &ended, "INFO", "'side' is STOPPING");
    assert!(stop.ends_with("SIGTERM sent, asked by shutdown"), "{stop}");
    wait_line_after(&log, &stop, "INFO", "'side' stopped");
    assert!(!alive(side));
    let last = lines(&log).pop().unwrap();
    assert!(
        last.ends_with("ERROR taskmaster exits with status 3"),
        "{last}"
    );
    assert_format(&log);
}

#[test]
fn a_failed_spawn_and_its_retry_are_logged() {
    // RLIMIT_NPROC 2 for an unprivileged supervisor: itself and one child.
    let sup = Sup::launch(
        "evlog-spawn-retry",
        "logfile: sup.log
tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
  b:
    command: sleep 1000
    successfulStartTimeout: 0
    restartsAttempts: 20
",
        Launch {
            uid: Some(private_uid(5)),
            limits: vec!["--nproc=2".into()],
            ..Launch::default()
        },
    );
    let log = sup.path("sup.log");
    sup.running_pid("a");
    let failed = wait_line(&log, "WARN", "'b' failed to start: ");
    assert!(
        failed.contains("WARN  'b' failed to start: cannot spawn sleep: ")
            && failed.ends_with("; retry 1 of 20"),
        "{failed}"
    );
    // Room again: the retry spawns it.
    assert_eq!(sup.ok("stop a"), "Process 'a' stopped");
    let pid = sup.running_pid("b");
    wait_line_after(
        &log,
        &failed,
        "INFO",
        &format!("'b' spawned with PID {pid}"),
    );
    // Told once while it kept failing, not once per retry.
    assert_eq!(all_lines(&log, "'b' failed to start").len(), 1);
    assert_format(&log);
}

#[test]
fn a_reload_switches_the_log_file_or_fails_and_keeps_it() {
    let tasks = "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n";
    let sup = Sup::start("evlog-reload-switch", &format!("logfile: one.log\n{tasks}"));
    let (one, two) = (sup.path("one.log"), sup.path("two.log"));
    let a = sup.running_pid("a");
    wait_line(&one, "INFO", &format!("'a' spawned with PID {a}"));
    // Switched: what follows the reload goes to the new file.
    std::fs::write(&sup.config, format!("logfile: two.log\n{tasks}")).unwrap();
    let reply = sup.ok("reload");
    assert!(
        reply.contains(&format!("\nlogfile: {}", two.display())),
        "{reply}"
    );
    wait_line(&two, "INFO", "reload: Reloaded");
    // The old file ends saying where the log went.
    let last = std::fs::read_to_string(&one).unwrap();
    let last = last.lines().last().unwrap();
    assert!(
        last.ends_with(&format!("INFO  the log goes on in {}", two.display())),
        "{last}"
    );
    let pid = sup.ok("restart a");
    let b: i32 = pid.rsplit(' ').next().unwrap().parse().unwrap();
    wait_line(&two, "INFO", &format!("'a' spawned with PID {b}"));
    assert!(all_lines(&one, &format!("PID {b}")).is_empty());
    assert_format(&one);
    assert_format(&two);
    // A path that cannot be opened (a symlink) fails the reload; the
    // log file stays the same.
    std::os::unix::fs::symlink("/etc/passwd", sup.path("three.log")).unwrap();
    std::fs::write(&sup.config, format!("logfile: three.log\n{tasks}")).unwrap();
    let (ok, reply) = sup.cmd("reload");
    assert!(!ok, "{reply}");
    assert!(
        reply.starts_with(&format!(
            "reload failed, nothing changed:\ncannot open log file {}",
            sup.path("three.log").display()
        )),
        "{reply}"
    );
    wait_line(
        &two,
        "ERROR",
        "reload failed, nothing changed: cannot open log file",
    );
    // Turned off.
    std::fs::write(&sup.config, tasks).unwrap();
    let reply = sup.ok("reload");
    assert!(reply.contains("\nlogfile: off"), "{reply}");
    let before = std::fs::read_to_string(&two).unwrap();
    let pid = sup.ok("restart a");
    assert!(pid.ends_with(&sup.running_pid("a").to_string()), "{pid}");
    sup.ok("status");
    assert_eq!(
        std::fs::read_to_string(&two).unwrap(),
        before,
        "nothing more"
    );
}

#[test]
fn the_flag_keeps_the_log_file_across_a_reload() {
    let tasks = "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n";
    let logs = test_dir("evlog-reload-flag-log");
    let flag = logs.join("flag.log");
    let sup = Sup::launch(
        "evlog-reload-flag",
        &format!("logfile: key.log\n{tasks}"),
        Launch {
            args: vec!["--logfile".into(), flag.to_str().unwrap().into()],
            ..Default::default()
        },
    );
    sup.running_pid("a");
    std::fs::write(&sup.config, format!("logfile: other.log\n{tasks}")).unwrap();
    let reply = sup.ok("reload");
    assert!(
        reply.contains("no changes") && !reply.contains("logfile"),
        "{reply}"
    );
    wait_line(&flag, "INFO", "reload: Reloaded");
    assert!(!sup.path("other.log").exists());
    assert!(!sup.path("key.log").exists());
    drop(sup);
    remove_test_dir(&logs);
}

#[test]
fn the_exit_that_ends_a_stop_is_logged_with_its_code_or_signal() {
    let sup = Sup::start(
        "evlog-stop-exit",
        "logfile: sup.log
tasks:
  plain:
    command: sleep 1000
    successfulStartTimeout: 0.2
  trapper:
    command: sh -c 'trap \"exit 7\" TERM; echo ready; while :; do sleep 0.05; done'
    successfulStartTimeout: 0.2
",
    );
    let log = sup.path("sup.log");
    sup.running_pid("plain");
    sup.running_pid("trapper");
    wait_until(secs(10), "the trap is set", || {
        sup.ok("logs trapper").contains("ready")
    });
    sup.ok("stop plain trapper");
    wait_line(&log, "INFO", "'plain' stopped (killed by SIGTERM)");
    wait_line(&log, "INFO", "'trapper' stopped (exit status 7)");
}

#[test]
fn a_reload_that_fails_after_opening_the_new_log_leaves_no_file() {
    // The socket comes from the config (no --socket), so a reload moves
    // it; a path too long for a socket fails that move after the new log
    // file was opened.
    let dir = test_dir("evlog-reload-undo");
    let config = dir.join("taskmaster.yaml");
    let tasks = "tasks:\n  a:\n    command: sleep 1000\n    autoLaunch: false\n";
    std::fs::write(
        &config,
        format!("socket: s.sock\nlogfile: one.log\n{tasks}"),
    )
    .unwrap();
    let _sup = Captured::start(Command::new(BIN).arg("--no-shell").arg(&config));
    let socket = dir.join("s.sock");
    let ctl = |args: &[&str]| {
        Command::new(BIN)
            .arg("ctl")
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap()
    };
    wait_until(secs(10), "the supervisor answers", || {
        ctl(&["status"]).status.success()
    });
    let long = "s".repeat(120);
    std::fs::write(
        &config,
        format!("socket: {long}.sock\nlogfile: new/two.log\n{tasks}"),
    )
    .unwrap();
    let out = ctl(&["reload"]);
    let reply =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{reply}");
    assert!(reply.contains("reload failed, nothing changed:"), "{reply}");
    assert!(!dir.join("new/two.log").exists(), "no file left behind");
    wait_line(
        &dir.join("one.log"),
        "ERROR",
        "reload failed, nothing changed:",
    );
    drop(_sup);
    remove_test_dir(&dir);
}
