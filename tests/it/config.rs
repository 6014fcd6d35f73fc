//! The configuration file through the real binary: hostile files (deep
//! nesting, oversize, alias and merge-key bombs) are refused at start and
//! at reload with one clear error, while the running processes and the
//! control socket carry on.

use std::process::{Command, Stdio};

use crate::harness::*;

/// `--check FILE` in `dir`: exit code and stderr.
fn check(dir: &std::path::Path, file: &str) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["--check", file])
        .current_dir(dir)
        .env_remove("TASKMASTER_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Hostile files, each about 200 KB, with the error each must give.
fn hostile() -> Vec<(&'static str, String, &'static str)> {
    let n = 200_000;
    let block: String = (0..630).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let mut laughs = "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_string();
    for i in 1..4000 {
        laughs.push_str(&format!(
            "x-{i}: &a{i} [*a{0}, *a{0}, *a{0}, *a{0}, *a{0}]\n",
            i - 1
        ));
    }
    laughs.push_str("tasks:\n  t: {command: x, expectedExitCodes: *a3999}\n");
    let wide: Vec<String> = (0..5000).map(|i| format!("k{i}: 1")).collect();
    let mut merges = format!("x-base: &b {{{}}}\n", wide.join(", "));
    for i in 0..8000 {
        merges.push_str(&format!("x-{i}: {{<<: *b}}\n"));
    }
    merges.push_str("tasks: {}\n");
    vec![
        (
            "flow.yaml",
            "[".repeat(n),
            "flow.yaml:1:256: recursion limit exceeded",
        ),
        (
            "flowmap.yaml",
            format!("tasks: {}", "{a: ".repeat(n / 4)),
            "flowmap.yaml:1:",
        ),
        (
            "block.yaml",
            block,
            "block.yaml:65:65: nested deeper than 64 levels",
        ),
        (
            "seq.yaml",
            "- ".repeat(n / 2),
            "seq.yaml:1:129: nested deeper than 64 levels",
        ),
        (
            "laughs.yaml",
            laughs,
            "laughs.yaml:4002:19: tasks.t.expectedExitCodes: expected an exit code 0 to 255, found a list",
        ),
        (
            "merges.yaml",
            merges,
            "merges.yaml:202:9: merge keys copy more than 1000000 entries",
        ),
    ]
}

#[test]
fn issue_10_hostile_files_are_refused_at_start() {
    let dir = test_dir("config-hostile");
    for (file, text, error) in hostile() {
        assert!(text.len() >= 150_000, "{file}: {}", text.len());
        std::fs::write(dir.join(file), &text).unwrap();
        let (code, err) = check(&dir, file);
        assert_eq!(code, 2, "{file}: {err}");
        assert!(err.starts_with(error), "{file}: {err}");
        assert!(err.lines().count() <= 2, "{file}: {err}");
    }
    // Over 16 MiB: refused before parsing.
    let big = dir.join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((16 << 20) + 1).unwrap();
    let (code, err) = check(&dir, "big.yaml");
    assert_eq!(code, 2);
    assert_eq!(err.trim_end(), "big.yaml: file is larger than 16 MiB");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_hostile_files_at_reload_change_nothing_and_status_answers() {
    let sup = Sup::start(
        "config-hostile-reload",
        "tasks:\n  keep:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("keep");
    for (file, text, error) in hostile() {
        std::fs::write(&sup.config, &text).unwrap();
        let (code, _, err) = sup.ctl(&["reload"]);
        assert_eq!(code, 1, "{file}: {err}");
        let expected = error.replacen(file, "taskmaster.yaml", 1);
        assert!(err.contains(&expected), "{file}: {err}");
        // The loop is free again at once: status answers, nothing moved.
        let (code, out, _) = sup.ctl(&["status"]);
        assert_eq!(code, 0, "{file}");
        assert!(out.contains("keep"), "{out}");
        assert_eq!(sup.running_pid("keep"), pid, "{file}");
    }
    assert!(alive(pid));
}

/// Waits until `path` holds a complete line and returns the text.
fn read_line_file(path: &std::path::Path) -> String {
    wait_for(secs(10), &format!("{}", path.display()), || {
        std::fs::read_to_string(path)
            .ok()
            .filter(|s| s.ends_with('\n'))
    })
}

#[test]
fn tasks_run_in_the_config_files_directory() {
    // Started from another directory.
    let elsewhere = test_dir("config-cwd-elsewhere");
    let sup = Sup::launch(
        "config-cwd",
        "tasks:\n  w:\n    command: sh worker.sh\n    successfulStartTimeout: 0\n    autoLaunch: false\n",
        Launch {
            cwd: Some(elsewhere.clone()),
            ..Launch::default()
        },
    );
    std::fs::write(sup.dir.join("worker.sh"), "pwd > where; exec sleep 1000\n").unwrap();
    sup.ok("start w");
    let pwd = read_line_file(&sup.dir.join("where"));
    assert_eq!(pwd.trim(), sup.dir.to_str().unwrap());
    assert!(!elsewhere.join("where").exists());
}

#[test]
fn per_instance_log_files_and_exported_names() {
    let sup = Sup::start(
        "config-per-instance",
        "tasks:
  w:
    command: sh -c 'echo \"$TASKMASTER_TASK $TASKMASTER_PROCESS $TASKMASTER_INSTANCE $ID\"; exec sleep 1000'
    instances: 2
    stdout: logs/${TASKMASTER_PROCESS}.log
    environment:
      ID: id-${TASKMASTER_INSTANCE}
    successfulStartTimeout: 0
  one:
    command: sh -c 'echo \"$TASKMASTER_PROCESS $TASKMASTER_INSTANCE\"; exec sleep 1000'
    stdout: logs/${TASKMASTER_PROCESS}.log
    successfulStartTimeout: 0
",
    );
    for (file, line) in [
        ("logs/w_1.log", "w w_1 1 id-1\n"),
        ("logs/w_2.log", "w w_2 2 id-2\n"),
        ("logs/one.log", "one 1\n"),
    ] {
        assert_eq!(read_line_file(&sup.dir.join(file)), line, "{file}");
    }
}

#[test]
fn env_file_content_is_part_of_the_task_at_reload() {
    let files = test_dir("config-envfile-files");
    let env = files.join("app.env");
    std::fs::write(
        &env,
        "# settings\nexport GREETING='hello world'\nPORT=808\n",
    )
    .unwrap();
    let yaml = format!(
        "tasks:
  w:
    command: sh -c 'echo \"$GREETING $PORT\" > out; exec sleep 1000'
    envFile: {}
    environment:
      PORT: ${{PORT:-1}}0
    successfulStartTimeout: 0
  other:
    command: sleep 1000
    successfulStartTimeout: 0
",
        env.display()
    );
    let sup = Sup::start("config-envfile", &yaml);
    let out = sup.dir.join("out");
    assert_eq!(read_line_file(&out), "hello world 8080\n");
    let (w, other) = (sup.running_pid("w"), sup.running_pid("other"));
    // Same content: nothing restarts.
    std::fs::write(
        &env,
        "# settings\nexport GREETING='hello world'\nPORT=808\n",
    )
    .unwrap();
    sup.ok("reload");
    assert_eq!((sup.running_pid("w"), sup.running_pid("other")), (w, other));
    // New content: the task restarts with it, the other keeps its PID.
    std::fs::remove_file(&out).unwrap();
    std::fs::write(&env, "GREETING=\"bye\"\n").unwrap();
    let reply = sup.ok("reload");
    assert!(reply.contains('w'), "{reply}");
    assert_eq!(read_line_file(&out), "bye 10\n");
    assert_ne!(sup.running_pid("w"), w);
    assert_eq!(sup.running_pid("other"), other);
    // A malformed file: the reload fails naming file and line; nothing moves.
    let w = sup.running_pid("w");
    std::fs::write(&env, "GREETING=x\nnot a pair\n").unwrap();
    let (code, _, err) = sup.ctl(&["reload"]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "tasks.w.envFile: {}:2: line without '='",
            env.display()
        )),
        "{err}"
    );
    assert_eq!(sup.running_pid("w"), w);
    let _ = std::fs::remove_dir_all(files);
}

#[test]
fn an_unset_variable_is_an_error_at_start() {
    let dir = test_dir("config-unset");
    std::fs::write(
        dir.join("u.yaml"),
        "tasks:\n  w:\n    command: run ${TM_TEST_SURELY_UNSET}\n",
    )
    .unwrap();
    let (code, err) = check(&dir, "u.yaml");
    assert_eq!(code, 2);
    assert_eq!(
        err.trim_end(),
        "u.yaml:3:5: tasks.w.command: variable 'TM_TEST_SURELY_UNSET' is not set (write '${TM_TEST_SURELY_UNSET:-default}' for a default)"
    );
    let _ = std::fs::remove_dir_all(dir);
}
