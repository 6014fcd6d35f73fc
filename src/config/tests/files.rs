//! The file as a whole: unknown keys, shapes, names, positions, many
//! errors at once, syntax errors, `load`, the example, hostile input.

use std::path::PathBuf;

use super::*;

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
    let c = ok("tasks:\n  A-z_0.9: {command: x}\n  123: {command: y}\n  'quoted': {command: z}\n");
    let names: Vec<&str> = c.tasks.keys().map(String::as_str).collect();
    assert_eq!(names, ["123", "A-z_0.9", "quoted"]);
    let e =
        errs("tasks:\n  web server: {command: x}\n  'a/b': {command: x}\n  all: {command: x}\n");
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
    let c = ok(crate::config::EXAMPLE);
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
