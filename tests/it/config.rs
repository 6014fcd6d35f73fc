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
    drop(sup);
    remove_test_dir(&elsewhere);
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

fn states(sup: &Sup) -> Vec<(String, String)> {
    sup.status()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn up(sup: &Sup) -> Vec<String> {
    states(sup)
        .into_iter()
        .filter(|(_, s)| s == "RUNNING")
        .map(|(n, _)| n)
        .collect()
}

#[test]
fn selectors_globs_and_task_members() {
    let sup = Sup::start(
        "config-selectors",
        "tasks:
  worker: {command: sleep 1000, instances: 3, successfulStartTimeout: 0}
  web1: {command: sleep 1001, successfulStartTimeout: 0}
  web2: {command: sleep 1002, successfulStartTimeout: 0}
  db: {command: sleep 1003, successfulStartTimeout: 0}
",
    );
    let all = ["db", "web1", "web2", "worker_1", "worker_2", "worker_3"];
    wait_until(secs(10), "all up", || up(&sup) == all);
    // A glob, through ctl (quoted: no shell expands it).
    let (code, out, err) = sup.ctl(&["stop", "worker_*"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    assert_eq!(up(&sup), ["db", "web1", "web2"]);
    // supervisorctl's task:N and task:process.
    sup.ok("start worker:2");
    sup.ok("start worker:worker_3");
    wait_until(secs(10), "two workers", || {
        up(&sup) == ["db", "web1", "web2", "worker_2", "worker_3"]
    });
    sup.ok("stop worker:*");
    let rows: Vec<String> = sup
        .ok("status web?")
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(rows, ["web1", "web2"]);
    // One name standing for nothing: the whole command does nothing.
    for bad in [
        &["stop", "web1", "nosuch"][..],
        &["stop", "web1", "zz*"],
        &["stop", "web1", "worker:4"],
        &["stop", "web1", "nosuch:*"],
    ] {
        let (code, _, err) = sup.ctl(bad);
        assert_eq!(code, 1, "{bad:?}");
        assert!(err.contains("no such process or task"), "{bad:?}: {err}");
    }
    assert_eq!(up(&sup), ["db", "web1", "web2"]);
    sup.ok("stop db:1 web[12]");
    assert!(up(&sup).is_empty());
}

#[test]
fn reload_dry_run_and_reread_change_nothing() {
    let base = "tasks:
  keep: {command: sleep 1000, successfulStartTimeout: 0}
  change: {command: sleep 1001, successfulStartTimeout: 0}
  policy: {command: sleep 1002, successfulStartTimeout: 0}
  gone: {command: sleep 1003, successfulStartTimeout: 0}
";
    let sup = Sup::start("config-dry-run", base);
    let names = ["change", "gone", "keep", "policy"];
    wait_until(secs(10), "all up", || up(&sup) == names);
    let pids: Vec<i32> = names.iter().map(|n| sup.running_pid(n)).collect();
    std::fs::write(
        &sup.config,
        "tasks:
  keep: {command: sleep 1000, successfulStartTimeout: 0}
  change: {command: sleep 2001, successfulStartTimeout: 0}
  policy: {command: sleep 1002, successfulStartTimeout: 0, restart: always}
  new: {command: sleep 1004, successfulStartTimeout: 0}
",
    )
    .unwrap();
    let expected = format!(
        "Dry run of {}: valid, nothing changed
would add: new
would remove: gone
would restart: change
would change in place: policy
would keep unchanged: keep",
        sup.config.display()
    );
    assert_eq!(sup.ok("reload --dry-run"), expected);
    let (code, out, _) = sup.ctl(&["reread"]);
    assert_eq!((code, out.trim_end()), (0, expected.as_str()));
    let after: Vec<i32> = names.iter().map(|n| sup.running_pid(n)).collect();
    assert_eq!(after, pids);
    assert_eq!(states(&sup).len(), 4);
    // An invalid file: the dry run says why, exit 1.
    std::fs::write(&sup.config, "tasks:\n  x: {comand: y}\n").unwrap();
    let (code, _, err) = sup.ctl(&["reload", "--dry-run"]);
    assert_eq!(code, 1);
    assert!(err.contains("tasks.x.comand: unknown key"), "{err}");
    assert_eq!(
        names.iter().map(|n| sup.running_pid(n)).collect::<Vec<_>>(),
        pids
    );
}

#[test]
fn each_process_shows_its_own_command_with_dollars_as_written() {
    let yaml = "tasks:
  w:
    command: sh -c 'echo $0 $$ $${x}; exec sleep 1000' ${TASKMASTER_PROCESS}
    instances: 2
    successfulStartTimeout: 0
  v:
    command: sh -c 'echo $HOME $$; exec sleep 1000'
    instances: 2
    successfulStartTimeout: 0
";
    let expected = [
        ("v_1", "sh -c 'echo $HOME $$; exec sleep 1000'"),
        ("v_2", "sh -c 'echo $HOME $$; exec sleep 1000'"),
        ("w_1", "sh -c 'echo $0 $$ ${x}; exec sleep 1000' w_1"),
        ("w_2", "sh -c 'echo $0 $$ ${x}; exec sleep 1000' w_2"),
    ];
    let dir = test_dir("config-shown-command");
    std::fs::write(dir.join("c.yaml"), yaml).unwrap();
    let out = Command::new(BIN)
        .args(["--check", "c.yaml"])
        .current_dir(&dir)
        .env_remove("TASKMASTER_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<String> = expected
        .iter()
        .map(|(n, c)| format!("{n}: {c}\n"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), lines.concat());
    let _ = std::fs::remove_dir_all(dir);
    // `status` and `status --json` show the same text.
    let sup = Sup::start("config-shown-command-status", yaml);
    wait_until(secs(10), "all up", || up(&sup).len() == 4);
    let rows: Vec<(String, String)> = sup
        .status()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["command"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(n, c)| (n.to_string(), c.to_string()))
        .collect();
    assert_eq!(rows, want);
    let table = sup.ok("status w_2");
    assert!(table.contains("${x}; exec sleep 1000' w_2"), "{table}");
}

#[test]
fn a_tab_after_a_colon_separates_key_and_value() {
    let dir = test_dir("config-tab");
    std::fs::write(
        dir.join("t.yaml"),
        "tasks:\n  w:\n    command:\tsleep 1\n    instances:\t2\n    environment: {A:\tx, B: \"y:\tz\"}\n",
    )
    .unwrap();
    let (code, err) = check(&dir, "t.yaml");
    assert_eq!((code, err.as_str()), (0, ""));
    // Where YAML itself refuses it, the error names file, line and column.
    std::fs::write(
        dir.join("bad.yaml"),
        "tasks:\n  w:\n    command:\t- sleep\n",
    )
    .unwrap();
    let (code, err) = check(&dir, "bad.yaml");
    assert_eq!(code, 2);
    assert!(err.starts_with("bad.yaml:3:14: "), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn merge_keys_x_keys_and_supervisord_spellings_run_as_written() {
    let sup = Sup::start(
        "config-aliases",
        "x-defaults: &defaults
  startsecs: 0
  stopsignal: USR1
  stopwaitsecs: 10
  env:
    FROM: defaults
x-unused: {anything: [1, 2, 3]}
programs:
  w:
    <<: *defaults
    cmd: sh -c 'echo \"$FROM $TASKMASTER_PROCESS $(pwd)\"; trap \"echo got-usr1; exit 0\" USR1; while :; do sleep 0.05; done'
    numprocs: 2
    directory: sub
    autostart: false
    stdout: ${TASKMASTER_PROCESS}.log
  off:
    <<: *defaults
    cmd: sleep 1000
    autostart: false
  once:
    <<: *defaults
    cmd: sh -c 'exit 3'
    autorestart: unexpected
    exitcodes: [0, 3]
  bad:
    <<: *defaults
    cmd: sh -c 'exit 1'
    starttime: 1
    startretries: 0
",
    );
    // `directory` is relative to the config's directory, created by the test
    // before w is started (a start before it would fail and retry, and a
    // retry after it could write a second line).
    std::fs::create_dir_all(sup.dir.join("sub")).unwrap();
    sup.ok("start w");
    let sub = sup.dir.join("sub");
    for name in ["w_1", "w_2"] {
        // `stdout` is relative to the config's directory, as every path.
        let line = read_line_file(&sup.dir.join(format!("{name}.log")));
        assert_eq!(line, format!("defaults {name} {}\n", sub.display()));
    }
    let state = |name: &str| sup.proc(name)["state"].as_str().unwrap().to_string();
    assert_eq!(
        state("off"),
        "STOPPED",
        "autostart: false overrides the merge"
    );
    wait_until(secs(10), "once EXITED, not restarted", || {
        state("once") == "EXITED"
    });
    assert_eq!(sup.proc("once")["restarts"], 0);
    wait_until(secs(10), "bad FATAL at its first failure", || {
        state("bad") == "FATAL"
    });
    // stopsignal USR1 reaches the trap, which exits 0.
    sup.ok("stop w_1");
    wait_until(secs(10), "got-usr1 in the log", || {
        std::fs::read_to_string(sup.dir.join("w_1.log")).is_ok_and(|s| s.contains("got-usr1\n"))
    });
    assert_eq!(state("w_1"), "STOPPED");
    assert_eq!(state("w_2"), "RUNNING");
}

#[test]
fn two_spellings_of_one_key_are_an_error_naming_both() {
    let dir = test_dir("config-two-spellings");
    std::fs::write(
        dir.join("t.yaml"),
        "programs:\n  a:\n    command: sleep 1\n    cmd: sleep 2\n    stoptime: 1\n    stopwaitsecs: 2\n",
    )
    .unwrap();
    let (code, err) = check(&dir, "t.yaml");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("t.yaml:4:5: programs.a.cmd: both 'command' and 'cmd' given (keep one)"),
        "{err}"
    );
    assert!(
        err.contains("t.yaml:6:5: programs.a.stopwaitsecs: both 'stoptime' and 'stopwaitsecs' given (keep one)"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
