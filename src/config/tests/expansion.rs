//! `${NAME}` expansion and `envFile`s in every key that takes them.

use super::*;

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
