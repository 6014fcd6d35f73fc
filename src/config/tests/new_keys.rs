//! The keys added for real deployments: every new key and alias, merge
//! keys, dependencies, health checks, sizes and limits; and every spelling
//! of every task key changes what it says.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::{Condition, HealthCheck, OnUnhealthy, Probe};

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
    let deps: Vec<(&str, Condition)> = t.depends_on.iter().map(|(k, v)| (k.as_str(), *v)).collect();
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
        errs("metrics: example.com:80\nlogMaxSize: 10X\nlogBackups: -1\nlogfile: 3\ntasks: {}\n"),
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

mod every_key {
    use super::*;
    use crate::config::schema::TASK_KEYS;

    /// A value for the key named `name` that differs from its default; the
    /// test fails for a key added without one.
    fn sample(name: &str) -> &'static str {
        // envFile: a file that exists everywhere (a regular file).
        match name {
            "instances" => "2",
            "autoLaunch" => "false",
            "restart" => "never",
            "expectedExitCodes" => "[1]",
            "successfulStartTimeout" => "2.5",
            "restartsAttempts" => "9",
            "stopingSignal" => "HUP",
            "gracefulStopTimeout" => "1",
            "stdout" | "stderr" | "workingDirectory" => "x",
            "environment" => "{A: b}",
            "umask" => "\"077\"",
            "user" => "nobody",
            "essential" | "notify" => "true",
            "envFile" => "/etc/os-release",
            "restartDelay" | "watchdogTimeout" => "3",
            "logMaxSize" => "1K",
            "logBackups" => "1",
            "dependsOn" => "{o: started}",
            "healthCheck" => "{tcp: '127.0.0.1:1'}",
            _ => panic!("no sample value for '{name}'"),
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
        for key in &TASK_KEYS[1..] {
            for name in key.names {
                // supervisord's autorestart takes its own words.
                let value = match *name {
                    "autorestart" => "true",
                    _ => sample(key.names[0]),
                };
                let line = format!("{name}: {value}");
                assert_ne!(parse_task(&line), default, "{line} changed nothing");
            }
        }
        assert_eq!(TASK_KEYS[0].names, ["command", "cmd"]);
        let cmd = parse("tasks: {t: {cmd: other}}", Path::new("/t.yaml"), false).unwrap();
        assert_eq!(cmd.tasks["t"].argv, ["other"]);
    }
}

#[test]
fn a_merged_key_yields_to_another_spelling_written_in_the_mapping() {
    let c = ok(
        "x-d: &d {startsecs: 0, stoptime: 3}\ntasks:\n  a:\n    <<: *d\n    command: x\n    starttime: 1\n",
    );
    let a = &c.tasks["a"];
    assert_eq!(a.start_timeout, Duration::from_secs(1));
    assert_eq!(a.stop_timeout, Duration::from_secs(3));
    // Two merged spellings: the first merged mapping wins, as for one key.
    let c = ok(
        "x-a: &a {startsecs: 2}\nx-b: &b {starttime: 5}\ntasks:\n  a:\n    <<: [*a, *b]\n    command: x\n",
    );
    assert_eq!(c.tasks["a"].start_timeout, Duration::from_secs(2));
    // Written twice in the mapping itself it stays an error.
    assert_eq!(
        errs("tasks:\n  a:\n    command: x\n    startsecs: 0\n    starttime: 1\n"),
        ["t.yaml:5:5: tasks.a.starttime: both 'startsecs' and 'starttime' given (keep one)"]
    );
}
