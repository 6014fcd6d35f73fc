//! Service stacks: one-shot jobs, no hot restart loop, `restartDelay`,
//! `dependsOn` conditions and WAITING, failure propagation, stop order,
//! reload, and `start --wait` / `restart --wait`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

fn read(sup: &Sup, rel: &str) -> String {
    std::fs::read_to_string(sup.path(rel)).unwrap_or_default()
}

/// A nanosecond timestamp a script wrote with `date +%s%N`.
fn stamp(sup: &Sup, rel: &str) -> u128 {
    wait_for(secs(10), rel, || read(sup, rel).trim().parse().ok())
}

// ----- lifecycle

#[test]
fn issue_13_a_one_shot_job_runs_once_and_is_exited() {
    let sup = Sup::start(
        "one-shot",
        "tasks:
  migrate:
    command: sh -c 'echo run >> $DIR/runs'
    restart: never
    successfulStartTimeout: 1
  seed:
    command: sh -c 'echo run >> $DIR/seeds'
    restart: on-failure
    successfulStartTimeout: 1
    expectedExitCodes: [0, 4]
",
    );
    for (name, file) in [("migrate", "runs"), ("seed", "seeds")] {
        let row = sup.wait_state(name, "EXITED", secs(10));
        assert_eq!(row["exit_code"], 0, "{row}");
        assert_eq!(row["restarts"], 0, "{row}");
        assert_eq!(row["reason"], serde_json::Value::Null, "{row}");
        // Well past the first backoff delay: still one run.
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(read(&sup, file).lines().count(), 1, "{name}");
        assert_eq!(sup.proc(name)["state"], "EXITED");
    }
}

#[test]
fn a_failed_one_shot_is_still_retried() {
    let sup = Sup::start(
        "one-shot-fails",
        "tasks:
  job:
    command: sh -c 'echo run >> $DIR/runs; exit 3'
    restart: never
    successfulStartTimeout: 1
    restartsAttempts: 1
",
    );
    sup.wait_state("job", "FATAL", secs(10));
    assert_eq!(read(&sup, "runs").lines().count(), 2);
}

#[test]
fn issue_13_a_crash_loop_is_throttled_not_hot() {
    let sup = Sup::start(
        "hot-loop",
        "tasks:
  crash:
    command: 'false'
    restart: always
    successfulStartTimeout: 0
",
    );
    let row = wait_for(secs(10), "BACKOFF with its delay", || {
        let r = sup.proc("crash");
        (r["state"] == "BACKOFF").then_some(r)
    });
    let reason = row["reason"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("restarting in"), "{row}");
    std::thread::sleep(Duration::from_secs(3));
    let restarts = sup.proc("crash")["restarts"].as_u64().unwrap();
    // 0.5 + 1 + 2 s of delays fit in 3.x s: a handful, not thousands.
    assert!((2..=5).contains(&restarts), "{restarts} restarts in 3 s");
    let notices = sup.err_text().lines().count() as u64;
    assert!(
        notices <= restarts + 3,
        "{notices} notices for {restarts} restarts"
    );
}

#[test]
fn restart_delay_waits_before_every_policy_restart() {
    let sup = Sup::start(
        "restart-delay",
        "tasks:
  t:
    command: sh -c 'date +%s%N >> $DIR/starts; sleep 1.1; exit 1'
    restart: always
    successfulStartTimeout: 0
    restartDelay: 1
",
    );
    let row = wait_for(secs(10), "BACKOFF", || {
        let r = sup.proc("t");
        (r["state"] == "BACKOFF").then_some(r)
    });
    assert!(
        row["reason"].as_str().unwrap().contains("restarting in 1s"),
        "{row}"
    );
    wait_until(secs(10), "a second start", || {
        read(&sup, "starts").lines().count() >= 2
    });
    let starts: Vec<u128> = read(&sup, "starts")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let gap = Duration::from_nanos((starts[1] - starts[0]) as u64);
    assert!(gap >= Duration::from_millis(2050), "{gap:?}");
}

// ----- dependsOn

const STACK: &str = "tasks:
  db:
    command: sh -c 'date +%s%N > $DIR/db.start; exec sleep 1000'
    successfulStartTimeout: 0
    healthCheck: {command: test -e $DIR/db-ok, interval: 0.1}
  migrate:
    command: sh -c 'date +%s%N > $DIR/migrate.start; echo run >> $DIR/migrate.runs'
    restart: never
    successfulStartTimeout: 1
    dependsOn: {db: healthy}
  api:
    command: sh -c 'date +%s%N > $DIR/api.start; exec sleep 1000'
    successfulStartTimeout: 0
    dependsOn: {db: healthy, migrate: completed}
  worker:
    command: sleep 1000
    instances: 2
    successfulStartTimeout: 0
    dependsOn: [api]
";

#[test]
fn a_stack_starts_in_dependency_order_and_waits_with_reasons() {
    let sup = Sup::start("stack", STACK);
    sup.running_pid("db");
    let row = sup.wait_state("migrate", "WAITING", secs(5));
    assert_eq!(row["reason"], "waiting for db (healthy)");
    assert_eq!(row["pid"], serde_json::Value::Null);
    let row = sup.wait_state("api", "WAITING", secs(5));
    assert_eq!(
        row["reason"],
        "waiting for db (healthy), migrate (completed)"
    );
    let row = sup.wait_state("worker_2", "WAITING", secs(5));
    assert_eq!(row["reason"], "waiting for api (healthy)");
    assert!(sup.ok("status").contains("WAITING"));
    assert!(!sup.path("migrate.start").exists());

    std::fs::write(sup.path("db-ok"), "").unwrap();
    for w in ["worker_1", "worker_2"] {
        sup.wait_state(w, "RUNNING", secs(15));
    }
    assert_eq!(sup.proc("migrate")["state"], "EXITED");
    assert_eq!(read(&sup, "migrate.runs").lines().count(), 1);
    let (db, mig, api) = (
        stamp(&sup, "db.start"),
        stamp(&sup, "migrate.start"),
        stamp(&sup, "api.start"),
    );
    assert!(db < mig && mig < api, "{db} {mig} {api}");
}

#[test]
fn start_pulls_in_dependencies() {
    let sup = Sup::start(
        "pull-in",
        "tasks:
  db:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
    healthCheck: {command: test -e $DIR/db-ok, interval: 0.1}
  web:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
    dependsOn: {db: healthy}
",
    );
    let reply = sup.ok("start web");
    assert!(
        reply.contains("Process 'web' is waiting for db (healthy)"),
        "{reply}"
    );
    assert!(reply.contains("Process 'db' started with PID"), "{reply}");
    sup.running_pid("db");
    assert_eq!(sup.proc("web")["state"], "WAITING");
    std::fs::write(sup.path("db-ok"), "").unwrap();
    sup.running_pid("web");
}

#[test]
fn started_releases_before_running_and_running_waits_for_it() {
    let sup = Sup::start(
        "conditions",
        "tasks:
  base:
    command: sleep 1000
    successfulStartTimeout: 600
  s:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {base: started}
  r:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {base: running}
",
    );
    // base stays STARTED for ten minutes: `started` must not wait for
    // RUNNING, and `running` must.
    sup.wait_state("s", "RUNNING", secs(10));
    let base = sup.proc("base");
    assert_eq!(base["state"], "STARTED", "{base}");
    let row = sup.proc("r");
    assert_eq!(row["state"], "WAITING", "{row}");
    assert_eq!(row["reason"], "waiting for base (running)");
    assert_eq!(row["pid"], serde_json::Value::Null);
}

#[test]
fn a_condition_on_a_task_needs_all_its_instances() {
    let sup = Sup::start(
        "all-instances",
        "tasks:
  db:
    command: sleep 1000
    instances: 2
    successfulStartTimeout: 0
    healthCheck: {command: sh -c 'test -e $DIR/ok_$TASKMASTER_INSTANCE', interval: 0.1}
  app:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: [db]
",
    );
    std::fs::write(sup.path("ok_1"), "").unwrap();
    wait_until(secs(10), "db_1 healthy", || {
        sup.proc("db_1")["health"] == "healthy"
    });
    assert_eq!(sup.proc("db_2")["health"], "starting");
    assert_eq!(sup.proc("app")["state"], "WAITING");
    std::fs::write(sup.path("ok_2"), "").unwrap();
    sup.wait_state("app", "RUNNING", secs(10));
}

#[test]
fn a_failed_dependency_makes_waiting_dependents_fatal() {
    let sup = Sup::start(
        "dep-fails",
        "tasks:
  db:
    command: /nonexistent/postgres
  web:
    command: sleep 1000
    dependsOn: {db: healthy}
  mig:
    command: sh -c 'exit 3'
    restart: never
    successfulStartTimeout: 0
  api:
    command: sleep 1000
    dependsOn: {mig: completed}
",
    );
    let row = sup.wait_state("web", "FATAL", secs(10));
    assert_eq!(row["reason"], "dependency 'db' failed");
    let mig = sup.wait_state("mig", "EXITED", secs(10));
    assert_eq!(mig["exit_code"], 3);
    let row = sup.wait_state("api", "FATAL", secs(10));
    assert_eq!(row["reason"], "dependency 'mig' failed");
}

#[test]
fn a_dependency_restarted_later_does_not_restart_dependents() {
    let sup = Sup::start(
        "dep-restart",
        "tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
  api:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {db: running}
",
    );
    let api = sup.running_pid("api");
    let db = sup.running_pid("db");
    sup.ok("restart db");
    let db2 = sup.running_pid("db");
    assert_ne!(db, db2);
    assert_eq!(sup.running_pid("api"), api);
    assert_eq!(sup.proc("api")["restarts"], 0);
}

/// A task that records when it got SIGTERM, then takes `linger` to exit.
fn trapper(name: &str, linger: &str, deps: &str) -> String {
    format!(
        "  {name}:
    command: sh -c 'trap \"date +%s%N > $DIR/{name}.term; sleep {linger}; exit 0\" TERM; echo $$ > $DIR/{name}.pid; while :; do sleep 0.05; done'
    successfulStartTimeout: 0
{deps}"
    )
}

fn ordered_stack() -> String {
    format!(
        "tasks:\n{}{}{}{}",
        trapper("db", "0.1", ""),
        trapper("api", "0.6", "    dependsOn: {db: running}\n"),
        trapper("x", "1", ""),
        trapper("y", "1", ""),
    )
}

fn wait_traps(sup: &Sup) {
    for n in ["db", "api", "x", "y"] {
        sup.running_pid(n);
        wait_for_trap(read_pid_file(&sup.path(&format!("{n}.pid"))), libc::SIGTERM);
    }
}

#[test]
fn stop_all_stops_dependents_first_and_independent_ones_together() {
    let sup = Sup::start("stop-order", &ordered_stack());
    wait_traps(&sup);
    let t = Instant::now();
    let reply = sup.ok("stop all");
    assert!(reply.contains("Process 'db' stopped"), "{reply}");
    let (api, db) = (stamp(&sup, "api.term"), stamp(&sup, "db.term"));
    assert!(
        db > api + 500_000_000,
        "db got its signal {} ms after api",
        (db as i128 - api as i128) / 1_000_000
    );
    let (x, y) = (stamp(&sup, "x.term"), stamp(&sup, "y.term"));
    assert!(x.abs_diff(y) < 500_000_000, "x and y stop together");
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn stop_db_stops_db_alone() {
    let sup = Sup::start("stop-alone", &ordered_stack());
    wait_traps(&sup);
    let api = sup.running_pid("api");
    sup.ok("stop db");
    assert_eq!(sup.proc("db")["state"], "STOPPED");
    assert_eq!(sup.running_pid("api"), api);
}

#[test]
fn shutdown_stops_dependents_first() {
    let mut sup = Sup::start("shutdown-order", &ordered_stack());
    wait_traps(&sup);
    let (code, out, _) = sup.ctl(&["shutdown"]);
    assert_eq!(code, 0, "{out}");
    sup.wait_exit(secs(10));
    let (api, db) = (stamp(&sup, "api.term"), stamp(&sup, "db.term"));
    assert!(db > api + 500_000_000, "api {api} db {db}");
}

#[test]
fn reload_removals_stop_dependents_first() {
    let sup = Sup::start("reload-order", &ordered_stack());
    wait_traps(&sup);
    let keep = format!("tasks:\n{}{}", trapper("x", "1", ""), trapper("y", "1", ""));
    std::fs::write(&sup.config, keep.replace("$DIR", sup.dir.to_str().unwrap())).unwrap();
    sup.ok("reload");
    wait_until(secs(10), "db and api gone", || {
        sup.status()
            .iter()
            .all(|r| r["name"] != "db" && r["name"] != "api")
    });
    let (api, db) = (stamp(&sup, "api.term"), stamp(&sup, "db.term"));
    assert!(db > api + 500_000_000, "api {api} db {db}");
    assert!(!sup.path("x.term").exists());
}

#[test]
fn a_dependency_removed_at_reload_makes_its_waiting_dependents_fatal() {
    let sup = Sup::start(
        "reload-removed-dep",
        "tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {command: 'false', interval: 0.2, onUnhealthy: none}
  web:
    command: sleep 1000
    dependsOn: {db: healthy}
",
    );
    sup.wait_state("web", "WAITING", secs(10));
    std::fs::write(&sup.config, "tasks:\n  web:\n    command: sleep 1000\n").unwrap();
    sup.ok("reload");
    let row = sup.wait_state("web", "FATAL", secs(10));
    assert_eq!(row["reason"], "dependency 'db' was removed");
}

#[test]
fn reload_changes_checks_and_dependencies_in_place() {
    let yaml = |interval: &str, cond: &str| {
        format!(
            "tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{command: 'true', interval: {interval}}}
  api:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {{db: {cond}}}
"
        )
    };
    let sup = Sup::start("reload-in-place", &yaml("0.2", "healthy"));
    let api = sup.running_pid("api");
    let db = sup.running_pid("db");
    std::fs::write(&sup.config, yaml("0.5", "running")).unwrap();
    let reply = sup.ok("reload");
    assert!(!reply.is_empty());
    assert_eq!(sup.running_pid("api"), api);
    assert_eq!(sup.running_pid("db"), db);
    assert_eq!(sup.proc("db")["health"], "healthy");
}

// ----- start --wait

#[test]
fn start_wait_replies_once_ready() {
    let sup = Sup::start(
        "start-wait",
        "tasks:
  db:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
    healthCheck: {command: test -e $DIR/ok, interval: 0.1}
",
    );
    let mut ctl = Command::new(BIN)
        .args(["ctl", "--socket"])
        .arg(&sup.socket)
        .args(["start", "--wait", "db"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    sup.running_pid("db");
    // RUNNING but not healthy: no reply yet.
    for _ in 0..20 {
        assert!(ctl.try_wait().unwrap().is_none(), "replied before ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(sup.path("ok"), "").unwrap();
    let out = ctl.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), "Process 'db' is RUNNING (healthy)");
}

#[test]
fn start_wait_exits_1_when_not_ready() {
    let sup = Sup::start(
        "start-wait-fail",
        "tasks:
  bad:
    command: /nonexistent/x
    autoLaunch: false
  job:
    command: sh -c 'exit 0'
    restart: never
    autoLaunch: false
  badjob:
    command: sh -c 'exit 3'
    restart: never
    successfulStartTimeout: 1
    restartsAttempts: 0
    autoLaunch: false
  plain:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0.2
",
    );
    // A reply that is not all ready goes to stderr, with exit status 1.
    let ctl = |args: &[&str]| {
        let (code, out, err) = sup.ctl(args);
        (code, format!("{out}{err}"))
    };
    let (code, out) = ctl(&["start", "--wait", "bad"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("Process 'bad' is FATAL: "), "{out}");
    let (code, out) = ctl(&["start", "--wait", "job"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "Process 'job' is EXITED: exit status 0");
    let (code, out) = ctl(&["start", "--wait", "badjob"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("Process 'badjob' is FATAL: exit status 3 within"),
        "{out}"
    );
    let (code, out) = ctl(&["start", "--wait", "plain"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "Process 'plain' is RUNNING");
    let (code, out) = ctl(&["restart", "--wait", "plain", "job"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Process 'plain' is RUNNING"), "{out}");
    assert!(
        out.contains("Process 'job' is EXITED: exit status 0"),
        "{out}"
    );
}

// ----- pulled-in dependencies and graph errors

#[test]
fn a_task_added_at_reload_pulls_in_its_dependencies() {
    let db = "tasks:
  db:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
    healthCheck: {command: test -e $DIR/ok, interval: 0.1}
";
    let sup = Sup::start("reload-pull-in", db);
    sup.ok("status");
    assert_eq!(sup.proc("db")["state"], "STOPPED");
    let more = format!(
        "{db}  cache:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
  web:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {{db: healthy, cache: running}}
"
    );
    std::fs::write(&sup.config, more.replace("$DIR", sup.dir.to_str().unwrap())).unwrap();
    let reply = sup.ok("reload");
    assert!(reply.contains("added: cache, web"), "{reply}");
    // Neither db (already there) nor cache (new) launches by itself: web
    // pulls both in.
    sup.running_pid("db");
    sup.running_pid("cache");
    let row = wait_for(secs(10), "web waiting for db alone", || {
        let r = sup.proc("web");
        (r["reason"] == "waiting for db (healthy)").then_some(r)
    });
    assert_eq!(row["state"], "WAITING");
    std::fs::write(sup.path("ok"), "").unwrap();
    sup.running_pid("web");
}

#[test]
fn an_autolaunch_task_pulls_in_dependencies_that_do_not_autolaunch() {
    let sup = Sup::start(
        "autolaunch-pull-in",
        "tasks:
  db:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
  mig:
    command: sh -c 'echo run >> $DIR/mig.runs'
    restart: never
    autoLaunch: false
    successfulStartTimeout: 1
  web:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: {db: running, mig: completed}
  idle:
    command: sleep 1000
    autoLaunch: false
",
    );
    sup.running_pid("web");
    assert_eq!(sup.proc("db")["state"], "RUNNING");
    let mig = sup.proc("mig");
    assert_eq!(mig["state"], "EXITED", "{mig}");
    assert_eq!(mig["exit_code"], 0, "{mig}");
    assert_eq!(read(&sup, "mig.runs").lines().count(), 1);
    assert_eq!(sup.proc("idle")["state"], "STOPPED", "not a dependency");
}

/// Graph errors: (config, what the error says).
const GRAPH_ERRORS: [(&str, &str); 3] = [
    (
        "tasks:
  api:
    command: sleep 1000
    dependsOn: [db]
  db:
    command: sleep 1000
    dependsOn: {api: running}
",
        "taskmaster.yaml:7:17: tasks.db.dependsOn.api: dependency cycle api -> db -> api",
    ),
    (
        "tasks:
  api:
    command: sleep 1000
    dependsOn: [nope]
  db:
    command: sleep 1000
",
        "taskmaster.yaml:4:17: tasks.api.dependsOn.nope: unknown task 'nope'",
    ),
    (
        "tasks:
  api:
    command: sleep 1000
    dependsOn: {api: started}
  db:
    command: sleep 1000
",
        "taskmaster.yaml:4:17: tasks.api.dependsOn.api: task 'api' depends on itself",
    ),
];

#[test]
fn a_dependency_cycle_unknown_task_or_self_dependency_refuses_to_start() {
    for (i, (yaml, want)) in GRAPH_ERRORS.iter().enumerate() {
        let dir = test_dir(&format!("graph-error-{i}"));
        let config = dir.join("taskmaster.yaml");
        std::fs::write(&config, yaml).unwrap();
        let mut child = Command::new(BIN)
            .arg("--no-shell")
            .arg("--socket")
            .arg(dir.join("tm.sock"))
            .arg(&config)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_for(secs(10), "taskmaster to refuse the config", || {
            child.try_wait().unwrap()
        });
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert_eq!(status.code(), Some(2), "{err}");
        assert!(err.contains(want), "want {want:?} in:\n{err}");
        assert!(!dir.join("tm.sock").exists(), "nothing ran");
        remove_test_dir(&dir);
    }
}

#[test]
fn a_reload_with_a_dependency_cycle_unknown_task_or_self_dependency_changes_nothing() {
    let good = "tasks:
  api:
    command: sleep 1000
    successfulStartTimeout: 0
    dependsOn: [db]
  db:
    command: sleep 1000
    successfulStartTimeout: 0
";
    let sup = Sup::start("graph-error-reload", good);
    let (api, db) = (sup.running_pid("api"), sup.running_pid("db"));
    for (yaml, want) in GRAPH_ERRORS {
        // With a new task besides, which must not appear either.
        let bad = format!("{yaml}  extra:\n    command: sleep 1000\n");
        std::fs::write(&sup.config, bad).unwrap();
        let (code, out, err) = sup.ctl(&["reload"]);
        let text = format!("{out}{err}");
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("reload failed, nothing changed"), "{text}");
        assert!(text.contains(want), "want {want:?} in:\n{text}");
        let rows = sup.status();
        assert_eq!(rows.len(), 2, "{rows:?}");
        for (name, pid) in [("api", api), ("db", db)] {
            let row = sup.proc(name);
            assert_eq!(row["state"], "RUNNING", "{row}");
            assert_eq!(row["pid"].as_i64().unwrap() as i32, pid, "{row}");
        }
    }
}

// ----- start --wait, more

/// Runs `taskmaster ctl ARGS` in the background.
fn ctl_spawn(sup: &Sup, args: &[&str]) -> std::process::Child {
    Command::new(BIN)
        .args(["ctl", "--socket"])
        .arg(&sup.socket)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Asserts that `ctl` has not replied for a while.
fn still_waiting(ctl: &mut std::process::Child) {
    for _ in 0..25 {
        assert!(ctl.try_wait().unwrap().is_none(), "replied too early");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `ctl` to end: (exit code, stdout and stderr).
fn ctl_done(ctl: std::process::Child) -> (i32, String) {
    let out = ctl.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `start --wait NAME` while NAME is WAITING for `dep`, which runs: no
/// reply yet; then the file `settle` in the test's directory decides
/// `dep`. The reply: (exit code, stdout and stderr).
fn start_wait_on_dependency(sup: &Sup, name: &str, dep: &str, settle: &str) -> (i32, String) {
    let mut ctl = ctl_spawn(sup, &["start", "--wait", name]);
    sup.running_pid(dep);
    sup.wait_state(name, "WAITING", secs(10));
    still_waiting(&mut ctl);
    std::fs::write(sup.path(settle), "").unwrap();
    ctl_done(ctl)
}

#[test]
fn start_wait_exits_1_when_the_process_exits_with_an_unexpected_code() {
    let job = |name: &str, code: u8| {
        format!(
            "  {name}:
    command: sh -c 'while [ ! -e $DIR/{name}.go ]; do sleep 0.02; done; exit {code}'
    restart: never
    autoLaunch: false
    successfulStartTimeout: 0
    healthCheck: {{command: 'false', interval: 0.1, onUnhealthy: none}}
"
        )
    };
    // RUNNING but never ready (its check fails), then it ends.
    let sup = Sup::start(
        "start-wait-exited",
        &format!("tasks:\n{}{}", job("bad", 3), job("good", 0)),
    );
    for (name, code, exit) in [("bad", 3, 1), ("good", 0, 0)] {
        let mut ctl = ctl_spawn(&sup, &["start", "--wait", name]);
        sup.running_pid(name);
        still_waiting(&mut ctl);
        std::fs::write(sup.path(&format!("{name}.go")), "").unwrap();
        let (got, out) = ctl_done(ctl);
        assert_eq!(got, exit, "{out}");
        assert_eq!(
            out.trim(),
            format!("Process '{name}' is EXITED: exit status {code}")
        );
    }
}

#[test]
fn start_wait_waits_through_waiting() {
    let sup = Sup::start(
        "start-wait-waiting",
        "tasks:
  db:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
    healthCheck: {command: test -e $DIR/ok, interval: 0.1}
  web:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
    dependsOn: {db: healthy}
",
    );
    let (code, out) = start_wait_on_dependency(&sup, "web", "db", "ok");
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), "Process 'web' is RUNNING");
}

#[test]
fn start_wait_exits_1_when_a_dependency_fails() {
    let sup = Sup::start(
        "start-wait-dep-fails",
        "tasks:
  db:
    command: sh -c 'while [ ! -e $DIR/fail ]; do sleep 0.02; done; exit 3'
    autoLaunch: false
    restart: never
    successfulStartTimeout: 0
  api:
    command: sleep 1000
    autoLaunch: false
    successfulStartTimeout: 0
    dependsOn: {db: completed}
",
    );
    let (code, out) = start_wait_on_dependency(&sup, "api", "db", "fail");
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.trim(), "Process 'api' is FATAL: dependency 'db' failed");
}
