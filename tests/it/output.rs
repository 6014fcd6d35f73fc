//! Child output: exact bytes in log files, the `logs` ring with timestamps,
//! SIGUSR1 reopening, forwarding as `NAME | line`, floods.

use std::time::Duration;

use crate::harness::*;

#[test]
fn log_files_get_exact_bytes() {
    let dir = test_dir("bytes-logs");
    let sup = Sup::start(
        "bytes",
        &format!(
            "tasks:
  writer:
    command: sh -c 'printf \"line one\\nline two\\n\\001\\377raw\"; printf \"err line\\nno newline\" >&2; exec sleep 1000'
    stdout: {d}/out.log
    stderr: {d}/err.log
    successfulStartTimeout: 0
",
            d = dir.display()
        ),
    );
    sup.running_pid("writer");
    wait_until(secs(5), "both files", || {
        std::fs::read(dir.join("out.log")).is_ok_and(|b| b.ends_with(b"raw"))
            && std::fs::read(dir.join("err.log")).is_ok_and(|b| b.ends_with(b"no newline"))
    });
    assert_eq!(
        std::fs::read(dir.join("out.log")).unwrap(),
        b"line one\nline two\n\x01\xffraw"
    );
    assert_eq!(
        std::fs::read(dir.join("err.log")).unwrap(),
        b"err line\nno newline"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn log_files_are_appended_to() {
    let dir = test_dir("append-logs");
    std::fs::write(dir.join("out.log"), "before\n").unwrap();
    let sup = Sup::start(
        "append",
        &format!(
            "tasks:\n  once:\n    command: echo after\n    restart: never\n    successfulStartTimeout: 0\n    stdout: {}/out.log\n",
            dir.display()
        ),
    );
    sup.wait_state("once", "EXITED", secs(5));
    wait_until(secs(5), "the line", || {
        std::fs::read_to_string(dir.join("out.log")).is_ok_and(|s| s == "before\nafter\n")
    });
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn logs_shows_timestamped_lines_of_both_streams() {
    let sup = Sup::start(
        "logs",
        "tasks:\n  talk:\n    command: sh -c 'echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; exec sleep 1000'\n    successfulStartTimeout: 0\n",
    );
    sup.running_pid("talk");
    let text = wait_for(secs(5), "three lines", || {
        let t = sup.ok("logs talk");
        (t.lines().count() == 3).then_some(t)
    });
    let lines: Vec<&str> = text.lines().collect();
    for (line, want) in lines.iter().zip(["one", "two", "three"]) {
        // [YYYY-MM-DD HH:MM:SS] text
        assert_eq!(line.len(), 22 + want.len(), "{line}");
        let b = line.as_bytes();
        assert_eq!(
            (b[0], b[5], b[8], b[11], b[14], b[17], b[20], b[21]),
            (b'[', b'-', b'-', b' ', b':', b':', b']', b' '),
            "{line}"
        );
        assert!(line[1..5].chars().all(|c| c.is_ascii_digit()), "{line}");
        assert!(line.ends_with(want), "{line}");
    }
    assert_eq!(sup.ok("logs talk 1").lines().count(), 1);
    assert!(sup.ok("logs talk 1").ends_with("three"));
    let (ok, reply) = sup.cmd("logs nosuch");
    assert!(!ok);
    assert!(reply.contains("no such process"), "{reply}");
}

#[test]
fn sigusr1_reopens_log_files() {
    let dir = test_dir("rotate-logs");
    let sup = Sup::start(
        "rotate",
        &format!(
            "tasks:\n  tick:\n    command: sh -c 'while true; do echo tick; sleep 0.05; done'\n    successfulStartTimeout: 0\n    stdout: {}/out.log\n",
            dir.display()
        ),
    );
    let log = dir.join("out.log");
    wait_until(secs(5), "output", || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() > 0)
    });
    std::fs::rename(&log, dir.join("out.log.1")).unwrap();
    sup.signal(libc::SIGUSR1);
    wait_until(secs(5), "a new file with output", || {
        std::fs::metadata(&log).is_ok_and(|m| m.len() > 0)
    });
    let new = std::fs::read_to_string(&log).unwrap();
    assert!(new.starts_with("tick\n"), "{new:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn headless_forwards_lines_with_names() {
    let sup = Sup::start(
        "forward",
        "tasks:\n  chatty:\n    command: sh -c 'echo hello out; echo hello err >&2; exec sleep 1000'\n    successfulStartTimeout: 0\n",
    );
    sup.wait_stdout("chatty | hello out\n", secs(5));
    sup.wait_stderr("chatty | hello err\n", secs(5));
    assert!(!sup.out_text().contains("hello err"));
}

#[test]
fn a_flood_keeps_the_loop_responsive_and_the_file_complete() {
    let dir = test_dir("flood-logs");
    // 20 MiB as fast as the pipe takes it.
    let sup = Sup::start(
        "flood",
        &format!(
            "tasks:\n  flood:\n    command: sh -c 'head -c 20971520 /dev/zero | tr \"\\\\0\" x; exec sleep 1000'\n    successfulStartTimeout: 0\n    stdout: {}/out.log\n",
            dir.display()
        ),
    );
    // Commands are answered while the flood runs.
    for _ in 0..20 {
        let t = std::time::Instant::now();
        sup.status();
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "status took {:?}",
            t.elapsed()
        );
    }
    wait_until(secs(30), "the whole file", || {
        std::fs::metadata(dir.join("out.log")).is_ok_and(|m| m.len() == 20 * 1024 * 1024)
    });
    let rss: u64 = proc_status(sup.pid(), "VmHWM")
        .unwrap()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    assert!(rss < 32 * 1024, "peak RSS {rss} kB");
    let logs = sup.ok("logs flood 100");
    assert!(logs.lines().count() <= 100);
    let _ = std::fs::remove_dir_all(dir);
}
