//! The task keys that shape a process's surroundings: paths, environment,
//! umask and user, each with its forms and the error for each wrong value.

use std::path::{Path, PathBuf};

use super::*;

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
            format!("{FILE}:9:7: tasks.t.environment.M: expected a scalar value, found a mapping"),
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
