//! Each task key: its forms, defaults, and the error for each wrong value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

#[test]
fn instances_are_capped_at_the_pid_space() {
    assert_eq!(task("instances: 4194304").instances, 1 << 22);
    assert_eq!(
        key_error("instances: 4194305"),
        "4194305 is out of range (0 to 4194304)"
    );
}

#[test]
fn defaults() {
    let c = ok("tasks:\n  web:\n    command: /usr/bin/nginx -g 'daemon off;'\n");
    assert_eq!(c.path, PathBuf::from(FILE));
    assert_eq!(c.socket, None);
    let t = &c.tasks["web"];
    assert_eq!(
        *t,
        TaskSpec {
            name: "web".to_string(),
            command: "/usr/bin/nginx -g 'daemon off;'".to_string(),
            argv: vec!["/usr/bin/nginx".into(), "-g".into(), "daemon off;".into()],
            instances: 1,
            auto_launch: true,
            restart: RestartPolicy::OnFailure,
            expected_exit_codes: vec![0],
            start_timeout: Duration::from_secs(1),
            restart_attempts: 3,
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            stdout: None,
            stderr: None,
            environment: BTreeMap::new(),
            working_directory: Some(PathBuf::from("/etc/tm")),
            umask: None,
            user: None,
            essential: false,
            env_files: vec![],
            restart_delay: Duration::ZERO,
            log_max_size: 0,
            log_backups: 5,
            depends_on: BTreeMap::new(),
            health_check: None,
            notify: false,
            watchdog_timeout: Duration::ZERO,
            per_process: None,
        }
    );
}

#[test]
fn every_key_set() {
    let text = "\
socket: run/tm.sock
tasks:
  web_server:
    command: \"/usr/local/bin/nginx -g 'daemon off;'\"
    instances: 3
    autoLaunch: false
    restart: always
    expectedExitCodes: [0, 2]
    successfulStartTimeout: 3
    restartsAttempts: 5
    stopingSignal: SIGQUIT
    gracefulStopTimeout: 0.5
    stdout: /var/log/nginx.out.log
    stderr: logs/nginx.err.log
    environment: {PORT: \"8080\", ENV: production}
    workingDirectory: /var/www
    umask: \"022\"
    user: www-data
    essential: true
";
    let c = parse(text, Path::new(FILE), true).unwrap();
    assert_eq!(c.socket, Some(PathBuf::from("/etc/tm/run/tm.sock")));
    let t = &c.tasks["web_server"];
    assert_eq!(t.argv, ["/usr/local/bin/nginx", "-g", "daemon off;"]);
    assert_eq!(t.instances, 3);
    assert!(!t.auto_launch);
    assert_eq!(t.restart, RestartPolicy::Always);
    assert_eq!(t.expected_exit_codes, [0, 2]);
    assert_eq!(t.start_timeout, Duration::from_secs(3));
    assert_eq!(t.restart_attempts, 5);
    assert_eq!(t.stop_signal, libc::SIGQUIT);
    assert_eq!(t.stop_timeout, Duration::from_millis(500));
    assert_eq!(t.stdout, Some(PathBuf::from("/var/log/nginx.out.log")));
    assert_eq!(t.stderr, Some(PathBuf::from("/etc/tm/logs/nginx.err.log")));
    assert_eq!(t.environment["PORT"], "8080");
    assert_eq!(t.environment["ENV"], "production");
    assert_eq!(t.working_directory, Some(PathBuf::from("/var/www")));
    assert_eq!(t.umask, Some(0o22));
    assert_eq!(t.user.as_deref(), Some("www-data"));
    assert!(t.essential);
    assert_eq!(
        t.process_names(),
        ["web_server_1", "web_server_2", "web_server_3"]
    );
}

#[test]
fn command() {
    assert_eq!(task("").argv, ["run"]);
    let t = ok("tasks:\n  t:\n    command: sh -c 'echo \"a  b\"; exit 3'\n");
    assert_eq!(t.tasks["t"].argv, ["sh", "-c", "echo \"a  b\"; exit 3"]);
    let t = ok("tasks:\n  t:\n    command: >\n      sleep\n      10\n");
    assert_eq!(t.tasks["t"].argv, ["sleep", "10"]);
    let t = ok("tasks:\n  t:\n    command: 'printf \"%s\\n\" x\\ y'\n");
    assert_eq!(t.tasks["t"].argv, ["printf", "%s\\n", "x y"]);

    let e = errs("tasks:\n  t:\n    command: sh -c 'oops\n");
    assert_eq!(
        e,
        ["t.yaml:3:5: tasks.t.command: unterminated single quote"]
    );
    let e = errs("tasks:\n  t:\n    command: '  '\n");
    assert_eq!(e, ["t.yaml:3:5: tasks.t.command: empty command"]);
    let e = errs("tasks:\n  t:\n    command: \"a\\\\\"\n");
    assert_eq!(e, ["t.yaml:3:5: tasks.t.command: trailing backslash"]);
    let e = errs("tasks:\n  t:\n    command: [sleep, 1]\n");
    assert_eq!(
        e,
        ["t.yaml:3:5: tasks.t.command: expected a command line (a string), found a list"]
    );
    let e = errs("tasks:\n  t:\n    command: 42\n");
    assert_eq!(
        e,
        ["t.yaml:3:5: tasks.t.command: expected a command line (a string), found '42'"]
    );
    let e = errs("tasks:\n  t:\n    command:\n");
    assert_eq!(
        e,
        ["t.yaml:3:5: tasks.t.command: expected a command line (a string), found nothing"]
    );
    let e = errs("tasks:\n  t:\n    command: \"a\\0b\"\n");
    assert_eq!(
        e,
        ["t.yaml:3:5: tasks.t.command: command contains a NUL character"]
    );
}

#[test]
fn missing_command() {
    let e = errs("tasks:\n  web:\n    restart: never\n");
    assert_eq!(e, ["t.yaml:2:3: tasks.web: missing key 'command'"]);
    let e = errs("tasks:\n  web:\n");
    assert_eq!(e, ["t.yaml:2:3: tasks.web: missing key 'command'"]);
    let e = errs("tasks:\n  web: {}\n");
    assert_eq!(e, ["t.yaml:2:3: tasks.web: missing key 'command'"]);
    let e = errs("tasks:\n  web: nginx\n");
    assert_eq!(
        e,
        ["t.yaml:2:3: tasks.web: expected a mapping of task keys, found 'nginx'"]
    );
}

#[test]
fn instances_and_attempts() {
    assert_eq!(task("instances: 0").instances, 0);
    assert_eq!(task("instances: 4").instances, 4);
    assert_eq!(
        task("restartsAttempts: 4294967295").restart_attempts,
        u32::MAX
    );
    assert_eq!(task("restartsAttempts: 0").restart_attempts, 0);
    assert_eq!(task("restartsAttempts: 10").restart_attempts, 10);
    assert_eq!(
        key_error("instances: -1"),
        "expected a whole number >= 0, found '-1'"
    );
    assert_eq!(
        key_error("instances: 1.5"),
        "expected a whole number >= 0, found '1.5'"
    );
    assert_eq!(
        key_error("instances: two"),
        "expected a whole number >= 0, found 'two'"
    );
    assert_eq!(
        key_error("instances: \"2\""),
        "expected a whole number >= 0, found '2'"
    );
    assert_eq!(
        key_error("instances: 4294967296"),
        "4294967296 is out of range (0 to 4294967295)"
    );
    assert_eq!(
        key_error("restartsAttempts: -3"),
        "expected a whole number >= 0, found '-3'"
    );
    assert_eq!(
        key_error("restartsAttempts: [1]"),
        "expected a whole number >= 0, found a list"
    );
    assert_eq!(
        key_error("restartsAttempts:"),
        "expected a whole number >= 0, found nothing"
    );
}

#[test]
fn booleans() {
    assert!(!task("autoLaunch: false").auto_launch);
    assert!(task("autoLaunch: true").auto_launch);
    assert!(task("essential: true").essential);
    assert!(task("essential: True").essential);
    assert!(!task("essential: FALSE").essential);
    assert_eq!(
        key_error("autoLaunch: yes"),
        "expected a boolean (true or false), found 'yes'"
    );
    assert_eq!(
        key_error("autoLaunch: 1"),
        "expected a boolean (true or false), found '1'"
    );
    assert_eq!(
        key_error("essential: \"true\""),
        "expected a boolean (true or false), found 'true'"
    );
    assert_eq!(
        key_error("essential: {}"),
        "expected a boolean (true or false), found a mapping"
    );
    assert_eq!(
        key_error("essential: !flag true"),
        "expected a boolean (true or false), found a value tagged !flag"
    );
}

#[test]
fn restart() {
    assert_eq!(task("restart: always").restart, RestartPolicy::Always);
    assert_eq!(
        task("restart: on-failure").restart,
        RestartPolicy::OnFailure
    );
    assert_eq!(task("restart: never").restart, RestartPolicy::Never);
    assert_eq!(task("restart: 'never'").restart, RestartPolicy::Never);
    let expected = "(expected always, on-failure, never)";
    assert_eq!(
        key_error("restart: sometimes"),
        format!("unknown value 'sometimes' {expected}")
    );
    assert_eq!(
        key_error("restart: Always"),
        format!("unknown value 'Always' {expected}")
    );
    assert_eq!(
        key_error("restart: true"),
        format!("unknown value 'true' {expected}")
    );
    assert_eq!(
        key_error("restart:"),
        "expected one of always, on-failure, never, found nothing"
    );
    assert_eq!(
        key_error("restart: [always]"),
        "expected one of always, on-failure, never, found a list"
    );
}

#[test]
fn exit_codes() {
    assert_eq!(task("expectedExitCodes: 2").expected_exit_codes, [2]);
    assert_eq!(
        task("expectedExitCodes: [0, 255, 1]").expected_exit_codes,
        [0, 255, 1]
    );
    assert_eq!(
        task("expectedExitCodes:\n  - 3\n  - 4").expected_exit_codes,
        [3, 4]
    );
    assert!(task("expectedExitCodes: []").expected_exit_codes.is_empty());
    assert_eq!(
        key_error("expectedExitCodes: 256"),
        "exit code 256 is out of range (0 to 255)"
    );
    assert_eq!(
        key_error("expectedExitCodes: [0, -1]"),
        "exit code -1 is out of range (0 to 255)"
    );
    assert_eq!(
        key_error("expectedExitCodes: [0, x]"),
        "expected an exit code 0 to 255, found 'x'"
    );
    assert_eq!(
        key_error("expectedExitCodes: [[0]]"),
        "expected an exit code 0 to 255, found a list"
    );
    assert_eq!(
        key_error("expectedExitCodes: zero"),
        "expected an exit code 0 to 255 or a list of them, found 'zero'"
    );
    let e = task_with("expectedExitCodes: [300, 1, 400]", false).unwrap_err();
    assert_eq!(e.len(), 2);
}

#[test]
fn seconds() {
    assert_eq!(
        task("successfulStartTimeout: 0").start_timeout,
        Duration::ZERO
    );
    assert_eq!(
        task("successfulStartTimeout: 2.5").start_timeout,
        Duration::from_millis(2500)
    );
    assert_eq!(
        task("gracefulStopTimeout: 30").stop_timeout,
        Duration::from_secs(30)
    );
    assert_eq!(
        task("gracefulStopTimeout: 0.1").stop_timeout,
        Duration::from_millis(100)
    );
    assert_eq!(
        task("gracefulStopTimeout: 1e2").stop_timeout,
        Duration::from_secs(100)
    );
    assert_eq!(
        key_error("successfulStartTimeout: -1"),
        "expected a number of seconds >= 0, found '-1'"
    );
    assert_eq!(
        key_error("gracefulStopTimeout: -0.5"),
        "expected a number of seconds >= 0, found '-0.5'"
    );
    assert_eq!(
        key_error("gracefulStopTimeout: 10s"),
        "expected a number of seconds >= 0, found '10s'"
    );
    assert_eq!(
        key_error("gracefulStopTimeout: .nan"),
        "expected a number of seconds >= 0, found '.nan'"
    );
    assert_eq!(
        key_error("gracefulStopTimeout: .inf"),
        "'.inf' is out of range (0 to 31536000 seconds)"
    );
    assert_eq!(
        key_error("successfulStartTimeout: 1e12"),
        "'1e12' is out of range (0 to 31536000 seconds)"
    );
}

#[test]
fn stop_signal() {
    for (text, n) in [
        ("TERM", libc::SIGTERM),
        ("SIGTERM", libc::SIGTERM),
        ("term", libc::SIGTERM),
        ("15", libc::SIGTERM),
        ("'9'", libc::SIGKILL),
        ("SIGUSR1", libc::SIGUSR1),
        ("RTMIN+2", libc::SIGRTMIN() + 2),
    ] {
        assert_eq!(
            task(&format!("stopingSignal: {text}")).stop_signal,
            n,
            "{text}"
        );
        assert_eq!(
            task(&format!("stopSignal: {text}")).stop_signal,
            n,
            "{text}"
        );
    }
    assert_eq!(
        key_error("stopingSignal: SIGFOO"),
        "unknown signal 'SIGFOO'"
    );
    assert_eq!(key_error("stopSignal: 0"), "unknown signal '0'");
    assert_eq!(key_error("stopSignal: -9"), "unknown signal '-9'");
    assert_eq!(key_error("stopSignal: 1.5"), "unknown signal '1.5'");
    assert_eq!(
        key_error("stopSignal: true"),
        "expected a signal name or number, found 'true'"
    );
    assert_eq!(
        key_error("stopSignal: [TERM]"),
        "expected a signal name or number, found a list"
    );
}

#[test]
fn stop_signal_alias_conflict() {
    let e = task_with("stopingSignal: TERM\nstopSignal: INT", false).unwrap_err();
    assert_eq!(
        e,
        [format!(
            "{FILE}:5:5: tasks.t.stopSignal: both 'stopingSignal' and 'stopSignal' given (keep one)"
        )]
    );
    let e = task_with("stopSignal: INT\nstopingSignal: TERM", false).unwrap_err();
    assert_eq!(
        e,
        [format!(
            "{FILE}:5:5: tasks.t.stopingSignal: both 'stopSignal' and 'stopingSignal' given (keep one)"
        )]
    );
}
