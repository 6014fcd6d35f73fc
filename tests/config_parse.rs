//! The configuration file as the validator sees it: every accepted form of
//! every key, every error message with its file, line, column and key
//! path. Pure: `config::parse` on text, no process started.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use taskmaster::config::{Config, ConfigError, RestartPolicy, TaskSpec, load, parse};

mod existing {
    use super::*;

    const FILE: &str = "/etc/tm/taskmaster.yaml";

    fn try_parse(text: &str, is_root: bool) -> Result<Config, ConfigError> {
        parse(text, Path::new("t.yaml"), is_root)
    }

    fn ok(text: &str) -> Config {
        parse(text, Path::new(FILE), false).unwrap_or_else(|e| panic!("{text}\n{e}"))
    }

    fn errs(text: &str) -> Vec<String> {
        match try_parse(text, false) {
            Ok(c) => panic!("accepted:\n{text}\n{c:?}"),
            Err(e) => e.errors,
        }
    }

    /// The task `t` of a file with one task, `command: run` and `extra`
    /// (lines at task-key indentation).
    fn task_with(extra: &str, is_root: bool) -> Result<TaskSpec, Vec<String>> {
        let mut text = "tasks:\n  t:\n    command: run\n".to_string();
        for line in extra.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
        parse(&text, Path::new(FILE), is_root)
            .map(|mut c| c.tasks.remove("t").expect("task t"))
            .map_err(|e| e.errors)
    }

    fn task(extra: &str) -> TaskSpec {
        task_with(extra, false).unwrap_or_else(|e| panic!("{extra}: {e:?}"))
    }

    #[test]
    fn instances_are_capped_at_the_pid_space() {
        assert_eq!(task("instances: 4194304").instances, 1 << 22);
        assert_eq!(
            key_error("instances: 4194305"),
            "4194305 is out of range (0 to 4194304)"
        );
    }

    /// The one error for a single task key line `line` (written at 4:5).
    fn key_error(line: &str) -> String {
        let errors = task_with(line, false).expect_err(line);
        assert_eq!(errors.len(), 1, "{line}: {errors:?}");
        let key = line.split(':').next().unwrap();
        let prefix = format!("{FILE}:4:5: tasks.t.{key}: ");
        errors[0]
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line}: {}", errors[0]))
            .to_string()
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

    #[test]
    fn paths_resolve_against_the_config_dir() {
        let t = task("stdout: out.log\nstderr: ./logs/../err.log\nworkingDirectory: /srv/app");
        assert_eq!(t.stdout, Some(PathBuf::from("/etc/tm/out.log")));
        assert_eq!(t.stderr, Some(PathBuf::from("/etc/tm/logs/../err.log")));
        assert_eq!(t.working_directory, Some(PathBuf::from("/srv/app")));
        let t = task("workingDirectory: .");
        assert_eq!(t.working_directory, Some(PathBuf::from("/etc/tm")));

        let cwd = std::env::current_dir().unwrap();
        let text = "socket: tm.sock\ntasks:\n  t:\n    command: run\n    stdout: o.log\n";
        let c = parse(text, Path::new("conf/t.yaml"), false).unwrap();
        assert_eq!(c.path, PathBuf::from("conf/t.yaml"));
        assert_eq!(c.socket, Some(cwd.join("conf/tm.sock")));
        assert_eq!(c.tasks["t"].stdout, Some(cwd.join("conf/o.log")));
        let c = parse(text, Path::new("t.yaml"), false).unwrap();
        assert_eq!(c.socket, Some(cwd.join("tm.sock")));
        assert!(c.tasks["t"].stdout.as_ref().unwrap().is_absolute());

        assert_eq!(key_error("stdout: ''"), "empty path");
        assert_eq!(key_error("stderr: 12"), "expected a path, found '12'");
        assert_eq!(
            key_error("workingDirectory: [a]"),
            "expected a path, found a list"
        );
        let e = errs("socket: [x]\ntasks: {}\n");
        assert_eq!(e, ["t.yaml:1:1: socket: expected a path, found a list"]);
    }

    #[test]
    fn environment_keeps_text_as_written() {
        let expect = [
            ("A", "007"),
            ("B", "yes"),
            ("C", "1.50"),
            ("D", "true"),
            ("E", "quoted: 1.50"),
            ("F", "0x1F"),
            ("G", ""),
            ("H", "True"),
            ("I", "+5"),
            ("J", "1e3"),
            ("K", "it's"),
            ("L", "-0.0"),
            ("M", "8080"),
        ];
        let block = task(
            "environment:\n  A: 007\n  B: yes   # comment\n  C: 1.50\n  D: true\n  E: \"quoted: 1.50\"\n  F: 0x1F\n  G: ~\n  H: True\n  I: +5\n  J: 1e3\n  K: 'it''s'\n  L: -0.0\n  M: 8080",
        );
        let flow = task(
            "environment: {A: 007, B: yes, C: 1.50, D: true, E: \"quoted: 1.50\", F: 0x1F, G: ~, H: True, I: +5, J: 1e3, K: 'it''s', L: -0.0, M: 8080}",
        );
        let flow_multiline = task(
            "environment: {\n    A: 007, B: yes,  # c\n    C: 1.50, D: true, E: \"quoted: 1.50\",\n    F: 0x1F, G: ~, H: True, I: +5, J: 1e3, K: 'it''s', L: -0.0, M: 8080 }",
        );
        for t in [block, flow, flow_multiline] {
            let got: Vec<(&str, &str)> = t
                .environment
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, expect);
        }
        // Keys that YAML reads as numbers or booleans keep their text too.
        let t = task("environment:\n  1.50: a\n  true: b\n  010: c\n  null: d");
        let keys: Vec<&str> = t.environment.keys().map(String::as_str).collect();
        assert_eq!(keys, ["010", "1.50", "null", "true"]);
        assert!(task("environment:").environment.is_empty());
        assert!(task("environment: {}").environment.is_empty());
    }

    #[test]
    fn environment_through_anchors() {
        let c = ok(
            "tasks:\n  a:\n    command: x\n    environment: &env\n      V: 1.50\n  b:\n    command: y\n    environment: *env\n",
        );
        assert_eq!(c.tasks["b"].environment["V"], "1.50");
        let c = ok("tasks:\n  a: &a {command: x, environment: {V: 0x10}}\n  b: *a\n");
        assert_eq!(c.tasks["b"].environment["V"], "0x10");
    }

    #[test]
    fn environment_errors() {
        assert_eq!(
            key_error("environment: [A=1]"),
            "expected a mapping of variable names to values, found a list"
        );
        let e = task_with(
            "environment:\n  GOOD: 1\n  'A=B': 2\n  '': 3\n  L: [1]\n  M: {x: 1}",
            false,
        )
        .unwrap_err();
        assert_eq!(
            e,
            [
                format!(
                    "{FILE}:6:7: tasks.t.environment.A=B: invalid variable name 'A=B' (contains '=')"
                ),
                format!("{FILE}:7:7: tasks.t.environment.: empty variable name"),
                format!("{FILE}:8:7: tasks.t.environment.L: expected a scalar value, found a list"),
                format!(
                    "{FILE}:9:7: tasks.t.environment.M: expected a scalar value, found a mapping"
                ),
            ]
        );
        let e = task_with("environment: {1: a, '1': b}", false).unwrap_err();
        assert_eq!(
            e,
            [format!(
                "{FILE}:4:25: tasks.t.environment.1: duplicate variable '1'"
            )]
        );
    }

    #[test]
    fn umask_forms() {
        for (text, mask) in [
            ("022", 0o22),
            ("\"022\"", 0o22),
            ("'022'", 0o22),
            ("22", 0o22),
            ("0o22", 0o22),
            ("777", 0o777),
            ("0777", 0o777),
            ("0", 0),
            ("000", 0),
            ("0o0", 0),
            ("\"0027\"", 0o27),
        ] {
            assert_eq!(task(&format!("umask: {text}")).umask, Some(mask), "{text}");
        }
        assert_eq!(
            key_error("umask: 1000"),
            "umask '1000' is out of range (0 to 777)"
        );
        assert_eq!(
            key_error("umask: 08"),
            "expected an octal umask like 022, found '08'"
        );
        assert_eq!(
            key_error("umask: 18"),
            "expected an octal umask like 022, found '18'"
        );
        assert_eq!(
            key_error("umask: rwx"),
            "expected an octal umask like 022, found 'rwx'"
        );
        assert_eq!(
            key_error("umask: -1"),
            "expected an octal umask like 022, found '-1'"
        );
        assert_eq!(
            key_error("umask: 0x12"),
            "expected an octal umask like 022, found '0x12'"
        );
        assert_eq!(
            key_error("umask: 2.5"),
            "expected an octal umask like 022, found '2.5'"
        );
        assert_eq!(
            key_error("umask: true"),
            "expected an octal umask like 022, found 'true'"
        );
        assert_eq!(
            key_error("umask: ''"),
            "expected an octal umask like 022, found ''"
        );
        assert_eq!(
            key_error("umask: 00000000000000000000001000"),
            "umask '00000000000000000000001000' is out of range (0 to 777)"
        );
        assert_eq!(
            key_error("umask: '7777777777777777777777777'"),
            "umask '7777777777777777777777777' is out of range (0 to 777)"
        );
    }

    #[test]
    fn user_needs_root() {
        assert_eq!(
            key_error("user: www-data"),
            "only allowed when taskmaster runs as root"
        );
        let e = errs("tasks:\n  web:\n    command: x\n    user: 33\n");
        assert_eq!(
            e,
            ["t.yaml:4:5: tasks.web.user: only allowed when taskmaster runs as root"]
        );
        let as_root = |line: &str| task_with(line, true);
        assert_eq!(
            as_root("user: www-data").unwrap().user.as_deref(),
            Some("www-data")
        );
        assert_eq!(as_root("user: 33").unwrap().user.as_deref(), Some("33"));
        assert_eq!(as_root("user: '0'").unwrap().user.as_deref(), Some("0"));
        assert_eq!(
            as_root("user: ''").unwrap_err(),
            [format!("{FILE}:4:5: tasks.t.user: empty user name")]
        );
        assert_eq!(
            as_root("user: -1").unwrap_err(),
            [format!(
                "{FILE}:4:5: tasks.t.user: expected a user name or uid, found '-1'"
            )]
        );
        assert_eq!(
            as_root("user: [a]").unwrap_err(),
            [format!(
                "{FILE}:4:5: tasks.t.user: expected a user name or uid, found a list"
            )]
        );
    }

    #[test]
    fn unknown_keys_and_suggestions() {
        assert_eq!(
            key_error("comand: x"),
            "unknown key 'comand' (did you mean 'command'?)"
        );
        assert_eq!(
            key_error("autolaunch: true"),
            "unknown key 'autolaunch' (did you mean 'autoLaunch'?)"
        );
        assert_eq!(
            key_error("stoppingSignal: TERM"),
            "unknown key 'stoppingSignal' (did you mean 'stopingSignal'?)"
        );
        assert_eq!(
            key_error("restartAttempts: 1"),
            "unknown key 'restartAttempts' (did you mean 'restartsAttempts'?)"
        );
        assert_eq!(key_error("priority: 1"), "unknown key 'priority'");
        assert_eq!(key_error("1: x"), "unknown key '1'");
        let e = errs("sockett: /x\ntask:\n  a: {command: x}\n");
        assert_eq!(
            e,
            [
                "t.yaml:1:1: sockett: unknown key 'sockett' (did you mean 'socket'?)",
                "t.yaml:1:1: missing key 'tasks'",
                "t.yaml:2:1: task: unknown key 'task' (did you mean 'tasks'?)",
            ]
        );
    }

    #[test]
    fn top_level_shapes() {
        assert!(ok("tasks: {}").tasks.is_empty());
        assert!(ok("tasks:\n").tasks.is_empty());
        assert!(ok("# nothing yet\ntasks: # none\n").tasks.is_empty());
        assert_eq!(
            errs(""),
            ["t.yaml:1:1: empty configuration (expected a mapping with key 'tasks')"]
        );
        assert_eq!(
            errs("# only a comment\n"),
            ["t.yaml:1:1: empty configuration (expected a mapping with key 'tasks')"]
        );
        assert_eq!(
            errs("socket: /tmp/x\n"),
            ["t.yaml:1:1: missing key 'tasks'"]
        );
        assert_eq!(
            errs("- a\n- b\n"),
            ["t.yaml:1:1: expected a mapping with key 'tasks', found a list"]
        );
        assert_eq!(
            errs("hello\n"),
            ["t.yaml:1:1: expected a mapping with key 'tasks', found 'hello'"]
        );
        assert_eq!(
            errs("tasks: [web]\n"),
            ["t.yaml:1:1: tasks: expected a mapping of task names to tasks, found a list"]
        );
    }

    #[test]
    fn task_names() {
        let c =
            ok("tasks:\n  A-z_0.9: {command: x}\n  123: {command: y}\n  'quoted': {command: z}\n");
        let names: Vec<&str> = c.tasks.keys().map(String::as_str).collect();
        assert_eq!(names, ["123", "A-z_0.9", "quoted"]);
        let e = errs(
            "tasks:\n  web server: {command: x}\n  'a/b': {command: x}\n  all: {command: x}\n",
        );
        assert_eq!(
            e,
            [
                "t.yaml:2:3: tasks.web server: invalid task name 'web server' (use letters, digits, '_', '.' and '-')",
                "t.yaml:3:3: tasks.a/b: invalid task name 'a/b' (use letters, digits, '_', '.' and '-')",
                "t.yaml:4:3: tasks.all: the task name 'all' is reserved",
            ]
        );
        let e = errs("tasks:\n  \"\": {command: x}\n");
        assert_eq!(
            e,
            ["t.yaml:2:3: tasks.: invalid task name '' (use letters, digits, '_', '.' and '-')"]
        );
    }

    #[test]
    fn duplicate_process_names() {
        let e = errs("tasks:\n  w:\n    command: x\n    instances: 2\n  w_1:\n    command: y\n");
        assert_eq!(
            e,
            ["t.yaml:5:3: tasks.w_1: duplicate process name 'w_1' (task 'w' and task 'w_1')"]
        );
        let e = errs("tasks:\n  w_3: {command: y}\n  w: {command: x, instances: 3}\n");
        assert_eq!(
            e,
            ["t.yaml:3:3: tasks.w: duplicate process name 'w_3' (task 'w' and task 'w_3')"]
        );
        let e = errs(
            "tasks:\n  a_b: {command: x, instances: 2}\n  a_b_2: {command: x}\n  a: {command: x, instances: 2}\n  a_1: {command: x}\n",
        );
        assert_eq!(
            e,
            [
                "t.yaml:3:3: tasks.a_b_2: duplicate process name 'a_b_2' (task 'a_b' and task 'a_b_2')",
                "t.yaml:5:3: tasks.a_1: duplicate process name 'a_1' (task 'a' and task 'a_1')",
            ]
        );
        // No collision: out of range, leading zero, zero instances, one instance.
        ok(
            "tasks:\n  w: {command: x, instances: 2}\n  w_3: {command: y}\n  w_01: {command: y}\n  w_0: {command: y}\n",
        );
        ok("tasks:\n  w: {command: x, instances: 0}\n  w_1: {command: y}\n");
        ok("tasks:\n  w: {command: x}\n  w_1: {command: y}\n");
        ok("tasks:\n  w: {command: x, instances: 4000000}\n  v_1: {command: y}\n");
        ok("tasks:\n  w: {command: x, instances: 2}\n  w_1: {command: y, instances: 2}\n");
        // Two keys YAML tells apart but whose text is the same.
        let e = errs("tasks:\n  1: {command: x}\n  '1': {command: y}\n");
        assert_eq!(e, ["t.yaml:3:3: tasks.1: duplicate task name '1'"]);
    }

    #[test]
    fn many_errors_reported_in_file_order() {
        let text = "\
tasks:
  web:
    command: nginx
    restart: sometimes
    instances: -2
  worker:
    comand: work
    autoLaunch: maybe

  ok:
    command: sleep 1
  bad:
    command: run
    gracefulStopTimeout: -1
    umask: 999
";
        assert_eq!(
            errs(text),
            [
                "t.yaml:4:5: tasks.web.restart: unknown value 'sometimes' (expected always, on-failure, never)",
                "t.yaml:5:5: tasks.web.instances: expected a whole number >= 0, found '-2'",
                "t.yaml:6:3: tasks.worker: missing key 'command'",
                "t.yaml:7:5: tasks.worker.comand: unknown key 'comand' (did you mean 'command'?)",
                "t.yaml:8:5: tasks.worker.autoLaunch: expected a boolean (true or false), found 'maybe'",
                "t.yaml:14:5: tasks.bad.gracefulStopTimeout: expected a number of seconds >= 0, found '-1'",
                "t.yaml:15:5: tasks.bad.umask: expected an octal umask like 022, found '999'",
            ]
        );
        let e = try_parse(text, false).unwrap_err();
        assert_eq!(e.to_string(), e.errors.join("\n"));
    }

    #[test]
    fn positions_in_other_layouts() {
        // Flow style on one line.
        let e = errs("tasks: {web: {command: x, restart: sometimes}, b: {}}\n");
        assert_eq!(
            e,
            [
                "t.yaml:1:27: tasks.web.restart: unknown value 'sometimes' (expected always, on-failure, never)",
                "t.yaml:1:48: tasks.b: missing key 'command'",
            ]
        );
        // Quoted keys, comments, block scalars, lists and CRLF line ends.
        let text = "# header\r\n\"tasks\":\r\n  'web':   # the web\r\n    \"command\": |\r\n      nginx\r\n      -q\r\n    expectedExitCodes:\r\n    - 0\r\n    - 1\r\n    # restart: never\r\n    restart: nope\r\n";
        assert_eq!(
            errs(text),
            [
                "t.yaml:11:5: tasks.web.restart: unknown value 'nope' (expected always, on-failure, never)"
            ]
        );
        // Explicit document start, deeper indentation, tabs after colons
        // (before a word the parser wants a space: YAML test suite DK95).
        let text = "%YAML 1.2\n---\ntasks:\n      web:\n            command:\t'x'\n            bogus:\t[1]\n...\n";
        assert_eq!(
            errs(text),
            ["t.yaml:6:13: tasks.web.bogus: unknown key 'bogus'"]
        );
        // Unicode before the key counts as one column per character.
        let text = "tasks:\n  web: {command: \"é\", x: 1}\n";
        assert_eq!(errs(text), ["t.yaml:2:23: tasks.web.x: unknown key 'x'"]);
        // Multi-line flow mapping.
        let text = "tasks: {\n  web: {\n    command: x,\n    nope: 1\n  }\n}\n";
        assert_eq!(
            errs(text),
            ["t.yaml:4:5: tasks.web.nope: unknown key 'nope'"]
        );
    }

    #[test]
    fn syntax_errors_use_the_parser_location() {
        let e = errs("tasks:\n  web:\n    command: x\n   bad: 1\n");
        assert_eq!(
            e,
            ["t.yaml:4:4: while parsing a block mapping, did not find expected key"]
        );
        assert!(!e[0].contains("at line 4 column 4"), "{}", e[0]);
        let e = errs("tasks:\n  web: {command: x\n");
        assert!(e[0].starts_with("t.yaml:3:1: "), "{}", e[0]);
        let e = errs("tasks:\n  web:\n    command: x\n  web:\n    command: y\n");
        assert_eq!(e, ["t.yaml:4:3: tasks: duplicate entry with key \"web\""]);
        // Every duplicate at once, and the rest of the file still checked.
        let e = errs("tasks:\n  a: {command: x, command: y}\n  a: {}\n  b: {comand: x}\n");
        assert_eq!(
            e,
            [
                "t.yaml:2:19: tasks.a: duplicate entry with key \"command\"",
                "t.yaml:3:3: tasks: duplicate entry with key \"a\"",
                "t.yaml:4:3: tasks.b: missing key 'command'",
                "t.yaml:4:7: tasks.b.comand: unknown key 'comand' (did you mean 'command'?)",
            ]
        );
        let e = errs("a: 1\n---\nb: 2\n");
        assert_eq!(e, ["t.yaml:2:1: more than one document (keep one)"]);
        let e = errs("tasks: *nowhere\n");
        assert_eq!(e, ["t.yaml:1:8: while parsing node, found unknown anchor"]);
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = errs(
            "tasks:\n  \"a\\nb\": {command: x}\n  web:\n    \"x\\ny\": 1\n    restart: \"so\\nme\"\n",
        );
        assert_eq!(
            e,
            [
                "t.yaml:2:3: tasks.a\\nb: invalid task name 'a\\nb' (use letters, digits, '_', '.' and '-')",
                "t.yaml:3:3: tasks.web: missing key 'command'",
                "t.yaml:4:5: tasks.web.x\\ny: unknown key 'x\\ny'",
                "t.yaml:5:5: tasks.web.restart: unknown value 'so\\nme' (expected always, on-failure, never)",
            ]
        );
        let long = "x".repeat(100);
        let e = errs(&format!("tasks:\n  web:\n    command: x\n    {long}: 1\n"));
        assert_eq!(
            e,
            [format!(
                "t.yaml:4:5: tasks.web.{0}...: unknown key '{0}...'",
                "x".repeat(60)
            )]
        );
        let e = errs("tasks:\n  \"a\\nb\": {}\n  \"a\\nb\": {}\n");
        assert_eq!(
            e,
            [
                "t.yaml:2:3: tasks.a\\nb: invalid task name 'a\\nb' (use letters, digits, '_', '.' and '-')",
                "t.yaml:2:3: tasks.a\\nb: missing key 'command'",
                "t.yaml:3:3: tasks: duplicate entry with key \"a\\nb\"",
            ]
        );
    }

    #[test]
    fn load_reads_the_file() {
        let dir = std::env::temp_dir().join(format!("tm-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("taskmaster.yaml");
        std::fs::write(&path, "tasks:\n  a:\n    command: run\n    stdout: a.log\n").unwrap();
        let c = load(&path, false).unwrap();
        assert_eq!(c.path, path);
        assert_eq!(c.tasks["a"].stdout, Some(dir.join("a.log")));

        std::fs::write(&path, b"tasks:\n  a: {command: \"\xff\"}\n").unwrap();
        let e = load(&path, false).unwrap_err();
        assert_eq!(
            e.errors,
            [format!("{}:2:17: not valid UTF-8 text", path.display())]
        );

        let missing = dir.join("missing.yaml");
        let e = load(&missing, false).unwrap_err();
        assert_eq!(
            e.errors,
            [format!(
                "cannot read {}: No such file or directory",
                missing.display()
            )]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn example_is_valid() {
        let c = ok(taskmaster::config::EXAMPLE);
        assert!((3..=4).contains(&c.tasks.len()));
        assert!(c.tasks.values().any(|t| t.instances == 2));
        assert!(c.tasks.values().any(|t| !t.auto_launch));
        assert!(
            c.tasks
                .values()
                .all(|t| t.stdout.is_none() && t.stderr.is_none())
        );
        assert!(
            c.tasks
                .values()
                .all(|t| t.user.is_none() && t.working_directory == Some(PathBuf::from("/etc/tm")))
        );
        assert!(
            c.tasks
                .values()
                .any(|t| t.argv.last().unwrap().contains(">&2"))
        );
        for t in c.tasks.values() {
            assert_eq!(t.argv[..2], ["sh", "-c"], "{}", t.name);
        }
    }

    /// A deterministic stand-in for fuzzing: many broken variants of a rich
    /// file must give `Ok` or `Err`, never a panic.
    #[test]
    fn never_panics() {
        let sample = "%YAML 1.2\n---\nsocket: s # c\ntasks:\n  'a': &x {command: \"x\\ty\", environment: {A: 007, \"B\": [1], C: *x}}\n  b:\n    command: |\n      run\n    environment:\n      - 1\n    ? complex\n    : value\n  c: [1, {2: 3}, 'it''s', \"\\u00e9\"]\n  d: !tag {umask: 0o7}\r\n  é: {command: x, stdout: y}\n...\n";
        let chars: Vec<char> = sample.chars().collect();
        let mut inputs = Vec::new();
        for i in 0..=chars.len() {
            inputs.push(chars[..i].iter().collect::<String>());
            inputs.push(chars[i..].iter().collect::<String>());
            let mut dropped = chars.clone();
            if i < dropped.len() {
                dropped.remove(i);
            }
            inputs.push(dropped.iter().collect());
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet: Vec<char> = " \t\n\r:-?[]{},#&*!|>'\"%@`\\ab0é".chars().collect();
        for _ in 0..1500 {
            let mut v = chars.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % v.len() as u64) as usize;
                v[at] = alphabet[((seed >> 32) % alphabet.len() as u64) as usize];
            }
            inputs.push(v.into_iter().collect());
        }
        inputs.push("[".repeat(100_000));
        inputs.push("{a: ".repeat(10_000));
        inputs.push((0..300).map(|i| format!("{}a:\n", " ".repeat(i))).collect());
        inputs.push("- ".repeat(10_000));
        for (i, input) in inputs.iter().enumerate() {
            let _ = try_parse(input, i % 2 == 0);
        }
    }
}

/// A directory holding `files` (name, content), removed by the caller.
fn env_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tm-parse-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (f, text) in files {
        let path = dir.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

mod new_keys {
    use super::*;
    use std::net::SocketAddr;
    use taskmaster::config::{Condition, HealthCheck, OnUnhealthy, Probe};

    const FILE: &str = "/etc/tm/taskmaster.yaml";

    fn ok(text: &str) -> Config {
        parse(text, Path::new(FILE), false).unwrap_or_else(|e| panic!("{text}\n{e}"))
    }

    fn errs(text: &str) -> Vec<String> {
        match parse(text, Path::new("t.yaml"), false) {
            Ok(c) => panic!("accepted:\n{text}\n{c:?}"),
            Err(e) => e.errors,
        }
    }

    #[test]
    fn every_new_task_key() {
        let dir = env_dir("new", &[("a.env", "A=1\n"), ("b.env", "B=2\n")]);
        let c = ok(&format!(
            "\
tasks:
  db: {{command: postgres}}
  migrate: {{command: ./migrate, restart: never}}
  api:
    command: ./api
    essential: true
    envFile: [{d}/a.env, {d}/b.env]
    restartDelay: 2.5
    logMaxSize: 10M
    logBackups: 2
    dependsOn: {{db: healthy, migrate: completed}}
    healthCheck:
      http: http://127.0.0.1:8080/healthz?full=1
      interval: 0.5
      timeout: 2
      retries: 4
      startPeriod: 30
      onUnhealthy: none
    notify: true
    watchdogTimeout: 30
",
            d = dir.display()
        ));
        let t = &c.tasks["api"];
        assert!(t.essential);
        assert_eq!(t.env_files, [dir.join("a.env"), dir.join("b.env")]);
        assert_eq!(
            (t.environment["A"].as_str(), t.environment["B"].as_str()),
            ("1", "2")
        );
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(t.restart_delay, Duration::from_millis(2500));
        assert_eq!(t.log_max_size, 10 << 20);
        assert_eq!(t.log_backups, 2);
        let deps: Vec<(&str, Condition)> =
            t.depends_on.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            deps,
            [
                ("db", Condition::Healthy),
                ("migrate", Condition::Completed)
            ]
        );
        assert_eq!(
            t.health_check,
            Some(HealthCheck {
                probe: Probe::Http {
                    addr: "127.0.0.1:8080".parse().unwrap(),
                    host: "127.0.0.1:8080".to_string(),
                    path: "/healthz?full=1".to_string(),
                },
                interval: Duration::from_millis(500),
                timeout: Duration::from_secs(2),
                retries: 4,
                start_period: Duration::from_secs(30),
                on_unhealthy: OnUnhealthy::None,
            })
        );
        assert!(t.notify);
        assert_eq!(t.watchdog_timeout, Duration::from_secs(30));
        // Defaults of the new keys.
        let d = &c.tasks["db"];
        assert!(!d.essential && !d.notify && d.env_files.is_empty());
        assert_eq!(
            (
                d.restart_delay,
                d.log_max_size,
                d.log_backups,
                d.watchdog_timeout
            ),
            (Duration::ZERO, 0, 5, Duration::ZERO)
        );
        assert!(d.depends_on.is_empty() && d.health_check.is_none());
    }

    #[test]
    fn every_new_top_level_key() {
        let c = ok(
            "metrics: 127.0.0.1:9350\nlogfile: taskmaster.log\nlogMaxSize: 1G\nlogBackups: 9\nsocket: false\ntasks: {}\n",
        );
        assert_eq!(
            c.metrics,
            Some("127.0.0.1:9350".parse::<SocketAddr>().unwrap())
        );
        assert_eq!(c.logfile, Some(PathBuf::from("/etc/tm/taskmaster.log")));
        assert_eq!((c.log_max_size, c.log_backups), (1 << 30, 9));
        assert!(!c.socket_enabled && c.socket.is_none());
        let c = ok("tasks: {}\n");
        assert!(c.socket_enabled && c.metrics.is_none() && c.logfile.is_none());
        assert_eq!((c.log_max_size, c.log_backups), (0, 5));
        assert_eq!(
            ok("metrics: ':9350'\ntasks: {}").metrics,
            Some("0.0.0.0:9350".parse().unwrap())
        );
        assert_eq!(
            errs(
                "metrics: example.com:80\nlogMaxSize: 10X\nlogBackups: -1\nlogfile: 3\ntasks: {}\n"
            ),
            [
                "t.yaml:1:1: metrics: expected ADDRESS:PORT with an IP address (like 127.0.0.1:8080), found 'example.com:80'",
                "t.yaml:2:1: logMaxSize: expected a size in bytes or like 10K, 10M, 1G, found '10X'",
                "t.yaml:3:1: logBackups: expected a whole number >= 0, found '-1'",
                "t.yaml:4:1: logfile: expected a path, found '3'",
            ]
        );
    }

    #[test]
    fn aliases_are_the_same_keys() {
        let dir = env_dir("alias", &[("w.env", "W=1\n")]);
        let c = ok(&format!(
            "\
programs:
  w:
    cmd: sleep 1
    numprocs: 2
    autostart: false
    autorestart: unexpected
    exitcodes: [0, 2]
    startsecs: 3
    startretries: 7
    stopsignal: INT
    stopwaitsecs: 4
    env: {{A: b}}
    directory: /srv
    env_file: {}/w.env
  x: {{cmd: x, autorestart: true, starttime: 1, stoptime: 2, workingdir: /tmp}}
  y: {{cmd: y, autorestart: false}}
",
            dir.display()
        ));
        let w = &c.tasks["w"];
        assert_eq!(w.argv, ["sleep", "1"]);
        assert_eq!(w.instances, 2);
        assert!(!w.auto_launch);
        assert_eq!(w.restart, RestartPolicy::OnFailure);
        assert_eq!(w.expected_exit_codes, [0, 2]);
        assert_eq!(w.start_timeout, Duration::from_secs(3));
        assert_eq!(w.restart_attempts, 7);
        assert_eq!(w.stop_signal, libc_sigint());
        assert_eq!(w.stop_timeout, Duration::from_secs(4));
        assert_eq!(w.environment["A"], "b");
        assert_eq!(w.working_directory, Some(PathBuf::from("/srv")));
        assert_eq!(w.env_files, [dir.join("w.env")]);
        assert_eq!(w.environment["W"], "1");
        let _ = std::fs::remove_dir_all(&dir);
        let x = &c.tasks["x"];
        assert_eq!(x.restart, RestartPolicy::Always);
        assert_eq!(x.start_timeout, Duration::from_secs(1));
        assert_eq!(x.stop_timeout, Duration::from_secs(2));
        assert_eq!(x.working_directory, Some(PathBuf::from("/tmp")));
        assert_eq!(c.tasks["y"].restart, RestartPolicy::Never);
    }

    fn libc_sigint() -> i32 {
        2
    }

    #[test]
    fn two_spellings_of_one_key_are_an_error() {
        assert_eq!(
            errs(
                "tasks:\n  a:\n    command: x\n    cmd: y\n    restart: never\n    autorestart: true\n    directory: /a\n    workingDirectory: /b\n"
            ),
            [
                "t.yaml:4:5: tasks.a.cmd: both 'command' and 'cmd' given (keep one)",
                "t.yaml:6:5: tasks.a.autorestart: both 'restart' and 'autorestart' given (keep one)",
                "t.yaml:8:5: tasks.a.workingDirectory: both 'directory' and 'workingDirectory' given (keep one)",
            ]
        );
        assert_eq!(
            errs("tasks: {}\nprograms: {}\n"),
            ["t.yaml:2:1: programs: both 'tasks' and 'programs' given (keep one)"]
        );
        assert_eq!(
            errs("tasks:\n  a: {command: x, autorestart: sometimes}\n"),
            [
                "t.yaml:2:19: tasks.a.autorestart: unknown value 'sometimes' (expected true, false, unexpected)"
            ]
        );
    }

    #[test]
    fn merge_keys_anchors_and_ignored_keys() {
        let c = ok("\
x-defaults: &defaults
  restart: always
  environment: {A: '1', B: '2'}
  stopSignal: INT
x-anything: [not, checked]
tasks:
  a:
    <<: *defaults
    command: a
  b:
    <<: [*defaults, {instances: 2}]
    command: b
    restart: never
");
        assert_eq!(c.tasks["a"].restart, RestartPolicy::Always);
        assert_eq!(c.tasks["a"].environment["B"], "2");
        assert_eq!(c.tasks["a"].stop_signal, 2);
        assert_eq!(c.tasks["b"].restart, RestartPolicy::Never);
        assert_eq!(c.tasks["b"].instances, 2);
        // An error in merged keys is reported where the key is written.
        assert_eq!(
            errs("x-d: &d {restart: sometimes}\ntasks:\n  a: {<<: *d, command: a}\n"),
            [
                "t.yaml:1:10: tasks.a.restart: unknown value 'sometimes' (expected always, on-failure, never)"
            ]
        );
        assert_eq!(
            errs("x-d: &d [1]\ntasks:\n  a: {<<: *d, command: a}\n  b: &b {<<: *b, command: b}\n"),
            [
                "t.yaml:3:7: merge key '<<' expects a mapping or a list of mappings",
                "t.yaml:4:10: merge key '<<' names a mapping that contains it",
            ]
        );
        // A quoted '<<' is an ordinary key.
        assert_eq!(
            errs("tasks:\n  a: {'<<': 1, command: a}\n"),
            ["t.yaml:2:7: tasks.a.<<: unknown key '<<'"]
        );
    }

    #[test]
    fn depends_on_forms_and_errors() {
        let c = ok(
            "tasks:\n  a: {command: a, dependsOn: [b, c]}\n  b: {command: b, dependsOn: {c: started}}\n  c: {command: c, dependsOn: {}}\n",
        );
        assert_eq!(c.tasks["a"].depends_on["b"], Condition::Healthy);
        assert_eq!(c.tasks["a"].depends_on["c"], Condition::Healthy);
        assert_eq!(c.tasks["b"].depends_on["c"], Condition::Started);
        assert_eq!(
            errs(
                "tasks:\n  api: {command: a, dependsOn: {wroker: healthy, api: running, db: started}}\n  worker: {command: d, dependsOn: {x: ready}}\n"
            ),
            [
                "t.yaml:2:33: tasks.api.dependsOn.wroker: unknown task 'wroker' (did you mean 'worker'?)",
                "t.yaml:2:50: tasks.api.dependsOn.api: task 'api' depends on itself",
                "t.yaml:2:64: tasks.api.dependsOn.db: unknown task 'db'",
                "t.yaml:3:36: tasks.worker.dependsOn.x: unknown value 'ready' (expected started, running, healthy, completed)",
            ]
        );
        assert_eq!(
            errs(
                "tasks:\n  api:\n    command: a\n    dependsOn: {db: healthy}\n  db:\n    command: d\n    dependsOn: [api]\n"
            ),
            ["t.yaml:7:17: tasks.db.dependsOn.api: dependency cycle api -> db -> api"]
        );
        assert_eq!(
            errs(
                "tasks:\n  a: {command: a, dependsOn: [b]}\n  b: {command: b, dependsOn: [c]}\n  c: {command: c, dependsOn: [a]}\n  d: {command: d, dependsOn: [a]}\n"
            ),
            ["t.yaml:4:31: tasks.c.dependsOn.a: dependency cycle a -> b -> c -> a"]
        );
        assert_eq!(
            errs("tasks:\n  a: {command: a, dependsOn: [[b]]}\n  b: {command: b, dependsOn: 3}\n"),
            [
                "t.yaml:2:31: tasks.a.dependsOn: expected a task name, found a list",
                "t.yaml:3:19: tasks.b.dependsOn: expected a mapping of task names to started, running, healthy or completed, or a list of task names, found '3'",
            ]
        );
        // A long chain is fine (no recursion).
        let mut text = "tasks:\n".to_string();
        for i in 0..20_000 {
            text.push_str(&format!(
                "  t{i}: {{command: x, dependsOn: [t{}]}}\n",
                i + 1
            ));
        }
        text.push_str("  t20000: {command: x}\n");
        assert_eq!(ok(&text).tasks.len(), 20_001);
    }

    #[test]
    fn health_check_forms_and_errors() {
        let c = ok(
            "tasks:\n  a: {command: a, healthCheck: {tcp: 'localhost:5432'}}\n  b: {command: b, healthCheck: {command: pg_isready -q}}\n",
        );
        assert_eq!(
            c.tasks["a"].health_check,
            Some(HealthCheck {
                probe: Probe::Tcp("127.0.0.1:5432".parse().unwrap()),
                interval: Duration::from_secs(10),
                timeout: Duration::from_secs(5),
                retries: 3,
                start_period: Duration::ZERO,
                on_unhealthy: OnUnhealthy::Restart,
            })
        );
        assert_eq!(
            c.tasks["b"].health_check.as_ref().unwrap().probe,
            Probe::Command {
                command: "pg_isready -q".to_string(),
                argv: vec!["pg_isready".to_string(), "-q".to_string()]
            }
        );
        let http = |url: &str| match ok(&format!(
            "tasks:\n  a: {{command: a, healthCheck: {{http: '{url}'}}}}\n"
        ))
        .tasks["a"]
            .health_check
            .clone()
            .unwrap()
            .probe
        {
            Probe::Http { addr, host, path } => (addr.to_string(), host, path),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            http("http://127.0.0.1"),
            ("127.0.0.1:80".into(), "127.0.0.1".into(), "/".into())
        );
        assert_eq!(
            http("http://[::1]:81/x"),
            ("[::1]:81".into(), "[::1]:81".into(), "/x".into())
        );
        assert_eq!(
            errs(
                "tasks:\n  a:\n    command: a\n    healthCheck:\n      interval: 1\n      intervall: 2\n      retries: 0\n      onUnhealthy: kill\n  b: {command: b, healthCheck: {tcp: '127.0.0.1:1', http: 'http://127.0.0.1/'}}\n  c: {command: c, healthCheck: {http: 'https://127.0.0.1/'}}\n  d: {command: d, healthCheck: []}\n"
            ),
            [
                "t.yaml:6:7: tasks.a.healthCheck.intervall: unknown key 'intervall' (did you mean 'interval'?)",
                "t.yaml:7:7: tasks.a.healthCheck.retries: 0 is out of range (1 to 4294967295)",
                "t.yaml:8:7: tasks.a.healthCheck.onUnhealthy: unknown value 'kill' (expected restart, none)",
                "t.yaml:9:53: tasks.b.healthCheck.http: both 'tcp' and 'http' given (keep one)",
                "t.yaml:10:33: tasks.c.healthCheck.http: expected an http:// URL with an IP address (like http://127.0.0.1:8080/health), found 'https://127.0.0.1/'",
                "t.yaml:11:19: tasks.d.healthCheck: expected a mapping with one of 'command', 'tcp', 'http', found a list",
            ]
        );
        assert_eq!(
            errs("tasks:\n  a: {command: a, healthCheck: {interval: 1}}\n"),
            ["t.yaml:2:19: tasks.a.healthCheck: missing one of 'command', 'tcp', 'http'"]
        );
    }

    #[test]
    fn sizes_and_wrong_types_of_new_keys() {
        for (text, n) in [
            ("0", 0),
            ("4096", 4096),
            ("10K", 10 << 10),
            ("'2MB'", 2 << 20),
        ] {
            let c = ok(&format!(
                "tasks:\n  a: {{command: a, logMaxSize: {text}}}\n"
            ));
            assert_eq!(c.tasks["a"].log_max_size, n, "{text}");
        }
        assert_eq!(
            errs(
                "tasks:\n  a: {command: a, logMaxSize: -1, notify: yes, essential: 1, envFile: [2], restartDelay: soon, watchdogTimeout: -1}\n"
            ),
            [
                "t.yaml:2:19: tasks.a.logMaxSize: expected a size in bytes or like 10K, 10M, 1G, found '-1'",
                "t.yaml:2:35: tasks.a.notify: expected a boolean (true or false), found 'yes'",
                "t.yaml:2:48: tasks.a.essential: expected a boolean (true or false), found '1'",
                "t.yaml:2:62: tasks.a.envFile: expected a path, found '2'",
                "t.yaml:2:76: tasks.a.restartDelay: expected a number of seconds >= 0, found 'soon'",
                "t.yaml:2:96: tasks.a.watchdogTimeout: expected a number of seconds >= 0, found '-1'",
            ]
        );
    }

    #[test]
    fn size_and_depth_limits() {
        let big = format!("tasks: {{}}\n#{}\n", "x".repeat(16 << 20));
        assert_eq!(errs(&big), ["t.yaml: file is larger than 16 MiB"]);
        let deep = format!("tasks: {}\n", "{a: ".repeat(100));
        assert_eq!(errs(&deep), ["t.yaml:1:260: nested deeper than 64 levels"]);
        // Aliases of aliases: shared, so parsing stays small; walking them
        // is bounded too.
        let mut text = "x-0: &a0 {command: x}\n".to_string();
        for i in 1..30 {
            text.push_str(&format!("x-{i}: &a{i} [*a{0}, *a{0}, *a{0}]\n", i - 1));
        }
        text.push_str("tasks: {t: *a0}\n");
        assert_eq!(ok(&text).tasks.len(), 1);
        // Merge keys copy entries, within a budget.
        let wide: Vec<String> = (0..2000).map(|i| format!("k{i}: 1")).collect();
        let mut text = format!("x-base: &b {{{}}}\n", wide.join(", "));
        for i in 0..600 {
            text.push_str(&format!("x-{i}: {{<<: *b}}\n"));
        }
        let e = errs(&(text + "tasks: {}\n"));
        assert_eq!(
            e,
            ["t.yaml:502:9: merge keys copy more than 1000000 entries"]
        );
    }

    #[test]
    fn a_tab_after_a_colon_separates_like_a_space() {
        let c = parse(
            "tasks:\n  a:\n    command:\tx\n    environment: {A:\t'b:\tc'}\n",
            Path::new("t.yaml"),
            false,
        )
        .unwrap();
        assert_eq!(c.tasks["a"].argv, ["x"]);
        assert_eq!(c.tasks["a"].environment["A"], "b:\tc");
        assert_eq!(
            errs("tasks:\n  a:\n    command:\t- x\n"),
            ["t.yaml:3:14: block sequence entries are not allowed in this context"]
        );
    }
}

mod every_key {
    use super::*;
    use taskmaster::config::schema::{TASK_KEYS, TaskKey};

    /// A value for `key` that differs from its default.
    fn sample(key: TaskKey) -> &'static str {
        // envFile: a file that exists everywhere (a regular file).
        match key {
            TaskKey::Command => "other",
            TaskKey::Instances => "2",
            TaskKey::AutoLaunch => "false",
            TaskKey::Restart => "never",
            TaskKey::AutoRestart => "true",
            TaskKey::ExpectedExitCodes => "[1]",
            TaskKey::StartTimeout => "2.5",
            TaskKey::RestartAttempts => "9",
            TaskKey::StopSignal => "HUP",
            TaskKey::StopTimeout => "1",
            TaskKey::Stdout | TaskKey::Stderr | TaskKey::WorkingDirectory => "x",
            TaskKey::Environment => "{A: b}",
            TaskKey::Umask => "\"077\"",
            TaskKey::User => "nobody",
            TaskKey::Essential | TaskKey::Notify => "true",
            TaskKey::EnvFile => "/etc/os-release",
            TaskKey::RestartDelay | TaskKey::WatchdogTimeout => "3",
            TaskKey::LogMaxSize => "1K",
            TaskKey::LogBackups => "1",
            TaskKey::DependsOn => "{o: started}",
            TaskKey::HealthCheck => "{tcp: '127.0.0.1:1'}",
        }
    }

    #[test]
    fn every_spelling_of_every_task_key_is_handled() {
        let parse_task = |line: &str| {
            let text = format!("tasks:\n  o: {{command: o}}\n  t:\n    command: run\n    {line}\n");
            parse(&text, Path::new("/t.yaml"), true)
                .unwrap_or_else(|e| panic!("{line}: {e}"))
                .tasks
                .remove("t")
                .unwrap()
        };
        let default = parse_task("");
        for &(name, key) in TASK_KEYS {
            if key == TaskKey::Command {
                continue;
            }
            let line = format!("{name}: {}", sample(key));
            assert_ne!(parse_task(&line), default, "{line} changed nothing");
        }
    }
}

mod expansion {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        match parse(text, Path::new("t.yaml"), false) {
            Ok(c) => panic!("accepted:\n{text}\n{c:?}"),
            Err(e) => e.errors,
        }
    }

    #[test]
    fn variables_in_every_expanding_key() {
        let home = std::env::var("HOME").unwrap_or_default();
        let dir = env_dir("expand", &[("e.env", "FROM_FILE=f\nPORT=1\n")]);
        let c = parse(
            &format!(
                "tasks:
  w:
    command: run --port ${{PORT}} ${{HOME}} '$${{lit}}' $x
    envFile: {d}/e.env
    environment:
      PORT: 80${{PORT}}
      URL: http://${{HOST:-localhost}}:${{PORT}}/${{FROM_FILE}}
      EMPTY: ''
      DEF: ${{EMPTY:-fallback}}
    stdout: logs/${{TASKMASTER_TASK}}.log
    workingDirectory: ${{HOME}}
",
                d = dir.display()
            ),
            Path::new("/etc/tm/t.yaml"),
            false,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let w = &c.tasks["w"];
        assert!(w.per_process.is_none());
        assert_eq!(w.argv, ["run", "--port", "801", &home, "${lit}", "$x"]);
        assert_eq!(w.environment["PORT"], "801");
        assert_eq!(w.environment["URL"], "http://localhost:801/f");
        assert_eq!(w.environment["FROM_FILE"], "f");
        assert_eq!(w.environment["DEF"], "fallback");
        assert_eq!(w.stdout, Some(PathBuf::from("/etc/tm/logs/w.log")));
        assert_eq!(w.working_directory, Some(PathBuf::from(&home)));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn per_process_names_are_finished_per_process() {
        let c = parse(
            "tasks:\n  w:\n    command: echo ${TASKMASTER_PROCESS}\n    instances: 2\n    stdout: logs/${TASKMASTER_PROCESS}.log\n    environment: {N: '${TASKMASTER_INSTANCE}$$'}\n  one:\n    command: echo ${TASKMASTER_PROCESS}\n",
            Path::new("/etc/tm/t.yaml"),
            false,
        )
        .unwrap();
        let w = &c.tasks["w"];
        assert!(w.per_process.is_some());
        // The fields show the first process.
        assert_eq!(w.argv, ["echo", "w_1"]);
        assert_eq!(w.stdout, Some(PathBuf::from("/etc/tm/logs/w_1.log")));
        let w2 = w.for_process("w_2");
        assert_eq!(w2.argv, ["echo", "w_2"]);
        assert_eq!(w2.stdout, Some(PathBuf::from("/etc/tm/logs/w_2.log")));
        assert_eq!(w2.environment["N"], "2$$");
        assert_eq!(w2.environment["TASKMASTER_PROCESS"], "w_2");
        assert_eq!(w2.environment["TASKMASTER_INSTANCE"], "2");
        assert_eq!(w2.environment["TASKMASTER_TASK"], "w");
        // A literal `$` stays one `$` in every process.
        let c2 = parse(
            "tasks:\n  d:\n    command: sh -c 'echo $HOME $${x}' ${TASKMASTER_INSTANCE}\n    instances: 2\n",
            Path::new("/etc/tm/t.yaml"),
            false,
        )
        .unwrap();
        let d = &c2.tasks["d"];
        assert_eq!(d.command, "sh -c 'echo $HOME ${x}' 1");
        assert_eq!(
            d.for_process("d_2").argv,
            ["sh", "-c", "echo $HOME ${x}", "2"]
        );
        let one = &c.tasks["one"];
        assert!(one.per_process.is_none());
        assert_eq!(one.argv, ["echo", "one"]);
        assert_eq!(
            one.for_process("one").environment["TASKMASTER_INSTANCE"],
            "1"
        );
    }

    #[test]
    fn expansion_errors_name_line_column_key_and_variable() {
        assert_eq!(
            errs(
                "tasks:\n  w:\n    command: run ${NOT_SET_ANYWHERE_Q}\n    environment:\n      A: ${B\n    stdout: ${1}\n"
            ),
            [
                "t.yaml:3:5: tasks.w.command: variable 'NOT_SET_ANYWHERE_Q' is not set (write '${NOT_SET_ANYWHERE_Q:-default}' for a default)",
                "t.yaml:5:7: tasks.w.environment.A: unterminated '${' (write '$${' for a literal '${')",
                "t.yaml:6:5: tasks.w.stdout: invalid variable name '1' in '${...}'",
            ]
        );
        // Only the keys above count.
        assert_eq!(
            errs("tasks:\n  w:\n    command: x\n    environment: {A: '${B}', B: b}\n")[0],
            "t.yaml:4:19: tasks.w.environment.A: variable 'B' is not set (write '${B:-default}' for a default)"
        );
    }

    #[test]
    fn env_file_errors_name_file_and_line() {
        let dir = env_dir(
            "envbad",
            &[("bad.env", "A=1\n\nno equals\n"), ("sub/x", "")],
        );
        let d = dir.display();
        let e = errs(&format!(
            "tasks:\n  w:\n    command: x\n    envFile: [{d}/bad.env, {d}/missing.env, {d}/sub, '${{TASKMASTER_PROCESS}}']\n    instances: 2\n"
        ));
        assert_eq!(
            e,
            [
                format!("t.yaml:4:5: tasks.w.envFile: {d}/bad.env:3: line without '='"),
                format!(
                    "t.yaml:4:5: tasks.w.envFile: cannot read {d}/missing.env: No such file or directory"
                ),
                format!("t.yaml:4:5: tasks.w.envFile: cannot read {d}/sub: not a regular file"),
                "t.yaml:4:5: tasks.w.envFile: an envFile cannot differ per process".to_string(),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
