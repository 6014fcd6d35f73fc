use super::*;
use std::time::Duration;

/// 2026-12-02 10:15:25.123 UTC.
fn t() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_796_206_525_123)
}

fn proc_record(from: &'static str, to: &'static str, pid: Option<i32>, what: What) -> Record {
    Record {
        time: t(),
        subject: Some(Subject {
            name: "worker_1".into(),
            task: "worker".into(),
            from,
            to,
            pid,
            health: None,
        }),
        what,
    }
}

fn log_line(r: &Record) -> String {
    let mut out = Vec::new();
    r.write_log_line(&mut out);
    String::from_utf8(out).unwrap()
}

/// The line without its local-time stamp (the test machine's zone varies).
fn log_text(r: &Record) -> String {
    let line = log_line(r);
    assert!(line.ends_with('\n'));
    assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
    line[24..line.len() - 1].to_string()
}

#[test]
fn utc_time_is_iso_with_millis() {
    let mut s = String::new();
    utc_millis(t(), &mut s);
    assert_eq!(s, "2026-12-02T10:15:25.123Z");
    s.clear();
    utc_millis(UNIX_EPOCH, &mut s);
    assert_eq!(s, "1970-01-01T00:00:00.000Z");
    s.clear();
    // A leap day.
    utc_millis(UNIX_EPOCH + Duration::from_secs(951_782_400), &mut s);
    assert_eq!(s, "2000-02-29T00:00:00.000Z");
}

#[test]
fn log_line_has_local_stamp_level_and_message() {
    let r = proc_record(
        "STOPPED",
        "STARTED",
        Some(1235),
        What::Spawned { pid: 1235 },
    );
    let line = log_line(&r);
    let stamp = &line[..23];
    let b = stamp.as_bytes();
    assert!(
        b[4] == b'-' && b[7] == b'-' && b[10] == b' ' && b[13] == b':' && b[19] == b'.',
        "{line:?}"
    );
    assert_eq!(&line[23..], " INFO  'worker_1' spawned with PID 1235\n");
}

#[test]
fn design_sample_lines() {
    let running = proc_record("STARTED", "RUNNING", Some(1235), What::Running);
    assert_eq!(log_text(&running), "INFO  'worker_1' is RUNNING");
    let exited = proc_record(
        "RUNNING",
        "EXITED",
        Some(1235),
        What::Exited {
            status: ExitStatus::code(1),
            expected: false,
            during_start: false,
            next: Next::Restart,
        },
    );
    assert_eq!(
        log_text(&exited),
        "WARN  'worker_1' exited unexpectedly (exit status 1); restarting"
    );
    let fatal = proc_record(
        "STARTED",
        "FATAL",
        None,
        What::Fatal {
            reason: "cannot execute 'postgres': No such file or directory".into(),
        },
    );
    assert_eq!(
        log_text(&fatal),
        "ERROR 'worker_1' is FATAL: cannot execute 'postgres': No such file or directory"
    );
}

#[test]
fn notices_keep_the_terminal_wording() {
    let exited = proc_record(
        "RUNNING",
        "EXITED",
        Some(7),
        What::Exited {
            status: ExitStatus::signal(9),
            expected: false,
            during_start: false,
            next: Next::Restart,
        },
    );
    assert_eq!(
        exited.notice().as_deref(),
        Some("'worker_1' exited (killed by SIGKILL); restarting")
    );
    let retry = proc_record(
        "STARTED",
        "BACKOFF",
        Some(7),
        What::Exited {
            status: ExitStatus::code(2),
            expected: false,
            during_start: true,
            next: Next::Retry {
                retry: 1,
                of: 3,
                delay: Duration::from_millis(500),
            },
        },
    );
    assert_eq!(
        retry.notice().as_deref(),
        Some("'worker_1' exited during start (exit status 2); retry 1 of 3 in 0.5s")
    );
    assert_eq!(
        log_text(&retry),
        "WARN  'worker_1' exited during start (exit status 2); retry 1 of 3 in 0.5s"
    );
    let spawn = proc_record("STOPPED", "STARTED", Some(7), What::Spawned { pid: 7 });
    assert_eq!(spawn.notice(), None, "spawns are logged, not shown");
}

#[test]
fn levels_follow_design() {
    let exit = |expected| {
        proc_record(
            "RUNNING",
            "EXITED",
            Some(1),
            What::Exited {
                status: ExitStatus::code(0),
                expected,
                during_start: false,
                next: Next::Stays,
            },
        )
        .level()
    };
    assert_eq!(exit(true), Level::Info);
    assert_eq!(exit(false), Level::Warn);
    let sup = |what| Record::supervisor(t(), what).level();
    assert_eq!(sup(What::ReloadFailed { error: "x".into() }), Level::Error);
    assert_eq!(sup(What::SignalReceived { signal: 1 }), Level::Info);
    assert_eq!(sup(What::SupervisorExits { status: 0 }), Level::Info);
    assert_eq!(sup(What::SupervisorExits { status: 1 }), Level::Error);
    assert_eq!(
        proc_record(
            "RUNNING",
            "RUNNING",
            Some(1),
            What::Health {
                health: "unhealthy",
                reason: Some("timeout".into()),
                restarting: false,
            }
        )
        .level(),
        Level::Warn
    );
}

#[test]
fn json_for_state_changes_only() {
    let exited = proc_record(
        "RUNNING",
        "EXITED",
        Some(1235),
        What::Exited {
            status: ExitStatus::code(1),
            expected: false,
            during_start: false,
            next: Next::Restart,
        },
    );
    let v: serde_json::Value = serde_json::from_str(&exited.json().unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "time": "2026-12-02T10:15:25.123Z",
            "name": "worker_1",
            "task": "worker",
            "from": "RUNNING",
            "to": "EXITED",
            "pid": 1235,
            "exit_code": 1,
            "reason": null,
            "health": null,
        })
    );
    let killed = proc_record(
        "STOPPING",
        "STOPPING",
        Some(3),
        What::Killed { forced: false },
    );
    assert_eq!(killed.json(), None, "no change of state");
    let health = proc_record(
        "RUNNING",
        "RUNNING",
        Some(3),
        What::Health {
            health: "unhealthy",
            reason: Some("connection refused".into()),
            restarting: true,
        },
    );
    let v: serde_json::Value = serde_json::from_str(&health.json().unwrap()).unwrap();
    assert_eq!(v["reason"], "connection refused");
    let sup = Record::supervisor(t(), What::SignalReceived { signal: 1 });
    assert_eq!(sup.json(), None);
}

#[test]
fn text_from_outside_stays_on_one_line() {
    let r = proc_record(
        "STARTED",
        "FATAL",
        None,
        What::Fatal {
            reason: "bad\nthing\r".into(),
        },
    );
    assert_eq!(log_text(&r), "ERROR 'worker_1' is FATAL: bad thing ");
    let v: serde_json::Value = serde_json::from_str(&r.json().unwrap()).unwrap();
    assert_eq!(v["reason"], "bad\nthing\r");
}

#[test]
fn notices_read_as_one_line_about_the_process() {
    use crate::process::Notice;
    let cases = [
        (
            Notice::ExitedDuringStart {
                status: ExitStatus::code(1),
                retry: 2,
                attempts: 3,
                delay: Duration::from_secs(1),
            },
            "'worker_1' exited during start (exit status 1); retry 2 of 3 in 1s",
        ),
        (
            Notice::FailedToStart {
                reason: "cannot spawn x: Out of memory".into(),
                retry: 1,
                attempts: 3,
            },
            "'worker_1' failed to start: cannot spawn x: Out of memory; retry 1 of 3",
        ),
        (
            Notice::Fatal {
                reason: "cannot spawn x: No such file or directory".into(),
            },
            "'worker_1' is FATAL: cannot spawn x: No such file or directory",
        ),
        (
            Notice::Exited {
                status: ExitStatus::signal(libc::SIGKILL),
                restarting: true,
                expected: false,
            },
            "'worker_1' exited (killed by SIGKILL); restarting",
        ),
        (
            Notice::Exited {
                status: ExitStatus::code(0),
                restarting: false,
                expected: true,
            },
            "'worker_1' exited (exit status 0)",
        ),
    ];
    for (notice, text) in cases {
        let r = proc_record(
            "RUNNING",
            "EXITED",
            Some(1),
            What::of_notice(notice, StopCause::Command),
        );
        assert_eq!(r.notice().as_deref(), Some(text));
    }
    // Transitions only logged: no terminal notice.
    for n in [
        Notice::Spawned { pid: 3 },
        Notice::Running,
        Notice::Stopping { signal: 15 },
        Notice::Killed { forced: false },
        Notice::Stopped { status: None },
        Notice::ExitedDuringStartForGood {
            status: ExitStatus::code(0),
            expected: true,
        },
    ] {
        let r = proc_record(
            "RUNNING",
            "STOPPING",
            Some(1),
            What::of_notice(n, StopCause::Command),
        );
        assert_eq!(r.notice(), None, "{r:?}");
    }
}

#[test]
fn health_and_waiting_lines() {
    let health = |health, reason: Option<&str>, restarting| {
        proc_record(
            "RUNNING",
            "RUNNING",
            Some(1),
            What::Health {
                health,
                reason: reason.map(str::to_string),
                restarting,
            },
        )
    };
    let sick = health(
        "unhealthy",
        Some("cannot connect: Connection refused"),
        true,
    );
    assert_eq!(
        log_text(&sick),
        "WARN  'worker_1' is unhealthy: cannot connect: Connection refused; restarting"
    );
    assert_eq!(
        sick.notice().as_deref(),
        Some("'worker_1' is unhealthy: cannot connect: Connection refused; restarting")
    );
    let well = health("healthy", None, false);
    assert_eq!(log_text(&well), "INFO  'worker_1' is healthy");
    assert_eq!(well.notice().as_deref(), Some("'worker_1' is healthy"));
    let ready = health("healthy", Some("READY=1"), false);
    assert_eq!(log_text(&ready), "INFO  'worker_1' is healthy: READY=1");
    let v: serde_json::Value = serde_json::from_str(&ready.json().unwrap()).unwrap();
    assert_eq!(v["reason"], "READY=1");

    let waiting = proc_record(
        "STOPPED",
        "WAITING",
        None,
        What::Waiting {
            on: "db (healthy), migrate (completed)".into(),
        },
    );
    assert_eq!(
        log_text(&waiting),
        "INFO  'worker_1' is WAITING for db (healthy), migrate (completed)"
    );
    assert_eq!(waiting.notice(), None, "logged, not shown");
    let v: serde_json::Value = serde_json::from_str(&waiting.json().unwrap()).unwrap();
    assert_eq!(v["to"], "WAITING");
    assert_eq!(v["reason"], "waiting for db (healthy), migrate (completed)");

    let by_health = proc_record(
        "RUNNING",
        "STOPPING",
        Some(1),
        What::Stopping {
            signal: libc::SIGTERM,
            by: StopCause::Health,
        },
    );
    assert_eq!(
        log_text(&by_health),
        "INFO  'worker_1' is STOPPING: SIGTERM sent, asked by a failed health check"
    );
}

#[test]
fn a_start_called_off_says_who_asked() {
    let record = |by| {
        proc_record(
            "WAITING",
            "STOPPED",
            None,
            What::of_notice(Notice::CalledOff, by),
        )
    };
    let by_dep = record(StopCause::Dependency);
    assert_eq!(
        log_text(&by_dep),
        "INFO  'worker_1' stopped, asked by a dependency"
    );
    // Nobody named it: the terminal is told too.
    assert_eq!(
        by_dep.notice().as_deref(),
        Some("'worker_1' stopped, asked by a dependency")
    );
    let json: serde_json::Value = serde_json::from_str(&by_dep.json().unwrap()).unwrap();
    assert_eq!(json["reason"], "asked by a dependency");
    assert_eq!(json["to"], "STOPPED");
    // Asked by the user: logged, not echoed back.
    let by_cmd = record(StopCause::Command);
    assert_eq!(
        log_text(&by_cmd),
        "INFO  'worker_1' stopped, asked by a command"
    );
    assert_eq!(by_cmd.notice(), None);
    // The end of a stop that went through STOPPING names who asked no
    // more; it says how the leader ended when it ended during the stop.
    let after = proc_record(
        "STOPPING",
        "STOPPED",
        Some(4),
        What::of_notice(Notice::Stopped { status: None }, StopCause::Dependency),
    );
    assert_eq!(log_text(&after), "INFO  'worker_1' stopped");
    let killed = proc_record(
        "STOPPING",
        "STOPPED",
        Some(4),
        What::of_notice(
            Notice::Stopped {
                status: Some(ExitStatus::signal(libc::SIGTERM)),
            },
            StopCause::Command,
        ),
    );
    assert_eq!(
        log_text(&killed),
        "INFO  'worker_1' stopped (killed by SIGTERM)"
    );
    assert!(killed.json().unwrap().contains("\"exit_code\":143"));
}
