//! `taskmaster import`: real supervisord configs of several shapes go in,
//! YAML comes out that `--check` accepts as it is, and that, run, behaves
//! as supervisord would have: instance names and log files, environments
//! with quotes and commas, stderr redirected, logs discarded, includes
//! followed. Bad files are one-line errors with exit status 2.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;

/// Writes `files` (relative path, text) under a fresh dir; the dir.
fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = test_dir(name);
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text.replace("$DIR", dir.to_str().unwrap())).unwrap();
    }
    dir
}

/// `taskmaster import PATH` with `env` added: (status, stdout, stderr).
fn import(path: &Path, env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("import")
        .arg(path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Imports `dir/supervisord.conf`, which must succeed; the YAML.
fn imported(dir: &Path, env: &[(&str, &str)]) -> String {
    let (code, yaml, err) = import(&dir.join("supervisord.conf"), env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "");
    yaml
}

/// `taskmaster --check` on `yaml` saved in `dir`: (status, stdout, stderr).
fn check(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let path = dir.join("imported.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(BIN)
        .arg("--check")
        .arg(&path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of the task `name`'s block, indentation removed.
fn task_block(yaml: &str, name: &str) -> Vec<String> {
    let mut lines = yaml.lines().skip_while(|l| *l != format!("  {name}:"));
    lines
        .next()
        .unwrap_or_else(|| panic!("no task {name} in:\n{yaml}"));
    lines
        .take_while(|l| l.starts_with("    "))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn import_a_typical_config_maps_keys_and_passes_check() {
    let dir = tree(
        "import-typical",
        &[(
            "supervisord.conf",
            "; written by hand, as on many servers
[unix_http_server]
file=/tmp/supervisor.sock   ; the path to the socket file

[supervisord]
logfile=$DIR/log/supervisord.log
pidfile=/tmp/supervisord.pid
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///tmp/supervisor.sock

[program:web]
command=/bin/sh -c \"echo hi; exec sleep 1000\"
directory=%(here)s
autostart=true
autorestart=unexpected
startsecs=2
startretries=5
exitcodes=0,2
stopsignal=QUIT
stopwaitsecs=7
stopasgroup=true
killasgroup=false
umask=022
user=nobody
priority=10
stdout_logfile=%(here)s/log/%(program_name)s.out
stdout_logfile_maxbytes=1MB
stdout_logfile_backups=3

[program:once]
command=true
autostart=false
autorestart=false
",
        )],
    );
    let yaml = imported(&dir, &[]);
    let d = dir.display();
    assert_eq!(
        task_block(&yaml, "web"),
        [
            "command: \"/bin/sh -c \\\"echo hi; exec sleep 1000\\\"\"".to_string(),
            "autoLaunch: true".into(),
            "restart: on-failure".into(),
            "expectedExitCodes: [0, 2]".into(),
            "successfulStartTimeout: 2".into(),
            "restartsAttempts: 5".into(),
            "stopingSignal: SIGQUIT".into(),
            "gracefulStopTimeout: 7".into(),
            format!("stdout: \"{d}/log/web.out\""),
            "logMaxSize: 1M".into(),
            "logBackups: 3".into(),
            format!("workingDirectory: \"{d}\""),
            "umask: \"022\"".into(),
            "user: \"nobody\"".into(),
            "# not imported: killasgroup = false (taskmaster always signals the whole process group)".into(),
            "# not imported: priority = 10 (tasks start together; order them with dependsOn)".into(),
        ]
    );
    assert_eq!(
        task_block(&yaml, "once"),
        ["command: \"true\"", "autoLaunch: false", "restart: never"]
    );
    for top in [
        format!("logfile: \"{d}/log/supervisord.log\""),
        "logMaxSize: 50M".into(),
        "logBackups: 10".into(),
        "# not imported: [supervisord] pidfile = /tmp/supervisord.pid (taskmaster writes no pid file)".into(),
        "# not imported: [unix_http_server] file = /tmp/supervisor.sock (taskmaster has its own control socket: set 'socket:' to choose its path)".into(),
        "# not imported: [supervisorctl] serverurl = unix:///tmp/supervisor.sock (taskmaster ctl finds the control socket itself)".into(),
    ] {
        assert!(yaml.lines().any(|l| l == top), "{top} in:\n{yaml}");
    }
    let (code, out, err) = check(&dir, &yaml, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "once: true  (autoLaunch: false)",
            "web: /bin/sh -c \"echo hi; exec sleep 1000\""
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn import_numprocs_with_process_name_runs_one_log_file_per_instance() {
    let dir = tree(
        "import-numprocs",
        &[(
            "supervisord.conf",
            "[program:worker]
command=sh -c 'echo \"I am $TASKMASTER_PROCESS\"; exec sleep 1000'
process_name=%(program_name)s_%(process_num)02d
numprocs=3
numprocs_start=1
startsecs=0
stdout_logfile=%(here)s/logs/%(program_name)s-%(process_num)s.log
",
        )],
    );
    let yaml = imported(&dir, &[]);
    let block = task_block(&yaml, "worker");
    assert!(block.contains(&"instances: 3".to_string()), "{yaml}");
    assert!(
        block.contains(&format!(
            "stdout: \"{}/logs/worker-${{TASKMASTER_INSTANCE}}.log\"",
            dir.display()
        )),
        "{yaml}"
    );
    assert!(
        block.contains(
            &"# not imported: process_name = %(program_name)s_%(process_num)02d (processes are named worker_1 .. worker_3)"
                .to_string()
        ),
        "{yaml}"
    );
    let (code, out, err) = check(&dir, &yaml, &[]);
    assert_eq!(code, 0, "{err}");
    let names: Vec<&str> = out.lines().filter_map(|l| l.split(':').next()).collect();
    assert_eq!(names, ["worker_1", "worker_2", "worker_3"], "{out}");
    // Run it: three processes, each writing its own file.
    let sup = Sup::start("import-numprocs-run", &yaml);
    for n in 1..=3 {
        sup.running_pid(&format!("worker_{n}"));
        let file = dir.join(format!("logs/worker-{n}.log"));
        wait_until(secs(10), "the instance's log", || {
            std::fs::read_to_string(&file).is_ok_and(|t| t == format!("I am worker_{n}\n"))
        });
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn import_numprocs_from_zero_says_how_the_numbers_changed() {
    let dir = tree(
        "import-numprocs0",
        &[(
            "supervisord.conf",
            "[program:w]\ncommand=sleep %(process_num)s\nnumprocs=2\n",
        )],
    );
    let yaml = imported(&dir, &[]);
    assert_eq!(
        task_block(&yaml, "w"),
        [
            "command: \"sleep ${TASKMASTER_INSTANCE}\"",
            "instances: 2",
            "# not imported: numprocs_start = 0 (%(process_num) became ${TASKMASTER_INSTANCE}, which counts 1..2)",
        ]
    );
    assert_eq!(check(&dir, &yaml, &[]).0, 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn import_environment_with_quotes_commas_and_variables_reaches_the_process() {
    let dir = tree(
        "import-env",
        &[(
            "supervisord.conf",
            "[supervisord]
environment=SHARED=\"from supervisord\",ONLY_GLOBAL=g

[program:envy]
command=sh -c 'printf \"%%s|%%s|%%s|%%s|%%s|%%s\\n\" \"$LIST\" \"$QUOTED\" \"$SHARED\" \"$ONLY_GLOBAL\" \"$FROM_ENV\" \"$DOLLAR\" > %(here)s/env.txt; exec sleep 1000'
startsecs=0
environment=LIST=\"a,b,c\",QUOTED='single, quoted',
  SHARED=\"program wins\",FROM_ENV=\"%(ENV_IMPORT_TEST_HOME)s/x\",DOLLAR=\"${NOT_EXPANDED}\"
",
        )],
    );
    let env = [("IMPORT_TEST_HOME", "/home/someone")];
    let yaml = imported(&dir, &env);
    assert!(
        yaml.contains("      FROM_ENV: \"${IMPORT_TEST_HOME}/x\"\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("      DOLLAR: \"$${NOT_EXPANDED}\"\n"),
        "{yaml}"
    );
    assert_eq!(check(&dir, &yaml, &env).0, 0);
    let sup = Sup::launch(
        "import-env-run",
        &yaml,
        Launch {
            env: vec![("IMPORT_TEST_HOME".into(), "/home/someone".into())],
            ..Launch::default()
        },
    );
    sup.running_pid("envy");
    let file = dir.join("env.txt");
    let got = wait_for(secs(10), "env.txt", || {
        std::fs::read_to_string(&file)
            .ok()
            .filter(|t| t.ends_with('\n'))
    });
    assert_eq!(
        got,
        "a,b,c|single, quoted|program wins|g|/home/someone/x|${NOT_EXPANDED}\n"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn import_redirect_stderr_and_logfile_none_and_auto() {
    let dir = tree(
        "import-redirect",
        &[(
            "supervisord.conf",
            "[program:both]
command=sh -c 'echo out; echo err >&2; exec sleep 1000'
startsecs=0
redirect_stderr=true
stdout_logfile=%(here)s/both.log
stderr_logfile=%(here)s/ignored.log

[program:quiet]
command=sh -c 'echo nobody hears this; exec sleep 1000'
startsecs=0
stdout_logfile=NONE
stderr_logfile=AUTO
",
        )],
    );
    let yaml = imported(&dir, &[]);
    let d = dir.display();
    let both = task_block(&yaml, "both");
    assert!(
        both.contains(&format!("stdout: \"{d}/both.log\"")),
        "{yaml}"
    );
    assert!(
        both.contains(&format!("stderr: \"{d}/both.log\"")),
        "{yaml}"
    );
    assert!(
        both.contains(
            &"# not imported: stderr_logfile = %(here)s/ignored.log (redirect_stderr sends stderr to the stdout log)"
                .to_string()
        ),
        "{yaml}"
    );
    assert_eq!(
        task_block(&yaml, "quiet"),
        [
            "command: \"sh -c 'echo nobody hears this; exec sleep 1000'\"",
            "successfulStartTimeout: 0",
            "stdout: \"/dev/null\"",
            "# not imported: stderr_logfile = AUTO (no file: taskmaster keeps the last lines for 'logs')",
        ]
    );
    assert_eq!(check(&dir, &yaml, &[]).0, 0);
    let sup = Sup::start("import-redirect-run", &yaml);
    sup.running_pid("both");
    sup.running_pid("quiet");
    let file = dir.join("both.log");
    wait_until(secs(10), "both lines in one file", || {
        std::fs::read_to_string(&file).is_ok_and(|t| {
            let mut lines: Vec<&str> = t.lines().collect();
            lines.sort();
            lines == ["err", "out"]
        })
    });
    assert!(!dir.join("ignored.log").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn import_follows_include_globs_and_groups() {
    let dir = tree(
        "import-include",
        &[
            (
                "supervisord.conf",
                "[supervisord]\nnodaemon=true\n\n[include]\nfiles = conf.d/*.conf other/b.ini none/*.conf\n",
            ),
            (
                "conf.d/20-api.conf",
                "[program:api]\ncommand=sleep 1000\nenvironment=GROUP=\"%(group_name)s\",HERE=\"%(here)s\"\n\n[group:backend]\nprograms=api,db\npriority=5\n",
            ),
            ("conf.d/10-db.conf", "[program:db]\ncommand=sleep 1001\n"),
            ("conf.d/skipped.txt", "[program:nope]\ncommand=sleep 1\n"),
            (
                "other/b.ini",
                "[program:cache]\ncommand=sleep 1002\n[include]\nfiles=nested/*.conf\n",
            ),
        ],
    );
    let yaml = imported(&dir, &[]);
    let d = dir.display();
    let tasks: Vec<&str> = yaml
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("    "))
        .collect();
    // Sorted matches of each glob, globs in the order written.
    assert_eq!(tasks, ["  db:", "  api:", "  cache:"], "{yaml}");
    for line in [
        format!("# included: {d}/conf.d/10-db.conf"),
        format!("# included: {d}/conf.d/20-api.conf"),
        format!("# included: {d}/other/b.ini"),
        format!("# not imported: [include] no file matches {d}/none/*.conf"),
        "# not imported: [group:backend] programs = api,db (no groups: commands take task names and globs, e.g. 'start web api')".to_string(),
        "# not imported: [include] files = nested/*.conf (includes are followed from the main file only, as supervisord does)".to_string(),
    ] {
        assert!(yaml.lines().any(|l| l == line), "{line} in:\n{yaml}");
    }
    let api = task_block(&yaml, "api");
    assert!(api.contains(&"GROUP: \"backend\"".to_string()), "{yaml}");
    assert!(api.contains(&format!("HERE: \"{d}/conf.d\"")), "{yaml}");
    let (code, out, err) = check(&dir, &yaml, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 3, "{out}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn import_refuses_what_is_not_a_supervisord_config() {
    let dir = tree(
        "import-bad",
        &[
            ("empty.conf", ""),
            ("blank.conf", "\n  \n; just a comment\n"),
            ("tasks.yaml", "tasks:\n  a:\n    command: sleep 1\n"),
            (
                "noname.conf",
                "[program:web]\ncommand=sleep 1\n\n[program:]\ncommand=sleep 2\n",
            ),
            ("nocommand.conf", "[program:web]\nnumprocs=2\n"),
            (
                "badvalue.conf",
                "[program:web]\ncommand=sleep 1\nautostart=perhaps\n",
            ),
            ("badname.conf", "[program:my web]\ncommand=sleep 1\n"),
            ("percent.conf", "[program:web]\ncommand=echo 100%\n"),
            (
                "unset.conf",
                "[program:web]\ncommand=sleep 1\nnumprocs=%(ENV_IMPORT_UNSET_VAR)s\n",
            ),
            (
                "noinclude.conf",
                "[include]\n[program:web]\ncommand=sleep 1\n",
            ),
            (
                "openquote.conf",
                "[program:web]\ncommand=sh -c \"echo a ;b\"\n",
            ),
            ("emptycommand.conf", "[program:web]\ncommand= ; nothing\n"),
        ],
    );
    std::fs::write(
        dir.join("binary.conf"),
        b"[program:x]\ncommand=\x00\x01\x02\n",
    )
    .unwrap();
    std::fs::write(dir.join("latin1.conf"), b"[program:x]\ncommand=caf\xe9\n").unwrap();
    std::fs::create_dir(dir.join("a-directory.conf")).unwrap();
    let d = dir.display();
    let cases = [
        (
            "missing.conf",
            format!("{d}/missing.conf: cannot read: No such file or directory"),
        ),
        (
            "a-directory.conf",
            format!("{d}/a-directory.conf: cannot read: Is a directory"),
        ),
        ("empty.conf", format!("{d}/empty.conf: empty file")),
        (
            "blank.conf",
            format!("{d}/blank.conf: not an INI file: no [section] in it"),
        ),
        (
            "binary.conf",
            format!("{d}/binary.conf: not a supervisord config: binary data"),
        ),
        (
            "latin1.conf",
            format!("{d}/latin1.conf: not a supervisord config: invalid UTF-8 at byte 23"),
        ),
        (
            "tasks.yaml",
            format!(
                "{d}/tasks.yaml:1: not an INI file: expected a [section] header, found 'tasks:'"
            ),
        ),
        (
            "noname.conf",
            format!("{d}/noname.conf:4: [program:]: a program section without a program name"),
        ),
        (
            "nocommand.conf",
            format!("{d}/nocommand.conf:1: [program:web]: no 'command' setting"),
        ),
        (
            "badvalue.conf",
            format!("{d}/badvalue.conf:3: [program:web] autostart: 'perhaps' is not a boolean"),
        ),
        (
            "badname.conf",
            format!(
                "{d}/badname.conf:1: [program:my web]: 'my web' cannot be a task name (letters, digits, '_', '.', '-')"
            ),
        ),
        (
            "percent.conf",
            format!(
                "{d}/percent.conf:2: [program:web] command: a '%' that starts no %(name)s expansion (write %% for a percent sign)"
            ),
        ),
        (
            "unset.conf",
            format!(
                "{d}/unset.conf:3: [program:web] numprocs: %(ENV_IMPORT_UNSET_VAR)s: IMPORT_UNSET_VAR is not set"
            ),
        ),
        (
            "noinclude.conf",
            format!("{d}/noinclude.conf:1: [include] has no 'files' setting"),
        ),
        (
            "openquote.conf",
            format!(
                "{d}/openquote.conf:2: [program:web] command: unterminated double quote (the line was cut at an inline comment: ' ;' or ' #' starts one, as in supervisord)"
            ),
        ),
        (
            "emptycommand.conf",
            format!("{d}/emptycommand.conf:2: [program:web] command: empty command"),
        ),
    ];
    for (file, want) in cases {
        let (code, out, err) = import(&dir.join(file), &[]);
        assert_eq!(code, 2, "{file}: {err}");
        assert_eq!(out, "", "{file}: nothing on stdout");
        assert_eq!(err, format!("taskmaster import: {want}\n"), "{file}");
    }
    // Usage errors are usage errors.
    let out = Command::new(BIN).arg("import").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("import: missing SUPERVISORD.CONF"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}
