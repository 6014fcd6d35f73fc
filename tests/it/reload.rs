//! Reload (`reload` and SIGHUP): only the difference is applied, PIDs of
//! untouched processes stay, an invalid file changes nothing.

use std::time::Duration;

use crate::harness::*;

fn pid_of(sup: &Sup, name: &str) -> i32 {
    sup.running_pid(name)
}

fn write(sup: &Sup, yaml: &str) {
    std::fs::write(&sup.config, yaml.replace("$DIR", sup.dir.to_str().unwrap())).unwrap();
}

fn names(sup: &Sup) -> Vec<String> {
    sup.status()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

const BASE: &str = "tasks:
  keep:
    command: sleep 1000
    successfulStartTimeout: 0
  change:
    command: sleep 1000
    successfulStartTimeout: 0
  policy:
    command: sleep 1000
    successfulStartTimeout: 0
    restart: never
  gone:
    command: sleep 1000
    successfulStartTimeout: 0
";

#[test]
fn applies_only_the_difference() {
    let sup = Sup::start("reload-diff", BASE);
    let keep = pid_of(&sup, "keep");
    let change = pid_of(&sup, "change");
    let policy = pid_of(&sup, "policy");
    let gone = pid_of(&sup, "gone");
    write(
        &sup,
        "tasks:
  keep:
    command: sleep 1000
    successfulStartTimeout: 0
  change:
    command: sleep 2000
    successfulStartTimeout: 0
  policy:
    command: sleep 1000
    successfulStartTimeout: 0
    restart: always
    gracefulStopTimeout: 3
  fresh:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    let reply = sup.ok("reload");
    assert!(reply.contains("added: fresh"), "{reply}");
    assert!(reply.contains("removed: gone"), "{reply}");
    assert!(reply.contains("changed, restarted: change"), "{reply}");
    assert!(
        reply.contains("changed, updated in place: policy"),
        "{reply}"
    );
    assert!(reply.contains("kept unchanged: keep"), "{reply}");
    assert_eq!(pid_of(&sup, "keep"), keep);
    assert_eq!(pid_of(&sup, "policy"), policy);
    wait_until(secs(10), "change to run the new command", || {
        let r = sup.proc("change");
        r["state"] == "RUNNING"
            && r["pid"].as_i64() != Some(change as i64)
            && r["command"] == "sleep 2000"
    });
    assert!(!alive(change));
    pid_of(&sup, "fresh");
    wait_until(secs(10), "gone to disappear", || {
        !names(&sup).contains(&"gone".to_string())
    });
    assert!(!alive(gone));
    // The new policy applies in place: `restart: always` now restarts it.
    kill(policy, libc::SIGKILL);
    wait_until(secs(5), "policy to restart", || {
        sup.proc("policy")["pid"]
            .as_i64()
            .is_some_and(|p| p as i32 != policy)
    });
}

#[test]
fn environment_change_restarts() {
    let sup = Sup::start(
        "reload-env",
        "tasks:\n  e:\n    command: sleep 1000\n    successfulStartTimeout: 0\n    environment: {A: 1}\n",
    );
    let pid = pid_of(&sup, "e");
    write(
        &sup,
        "tasks:\n  e:\n    command: sleep 1000\n    successfulStartTimeout: 0\n    environment: {A: 2}\n",
    );
    assert!(sup.ok("reload").contains("changed, restarted: e"));
    wait_until(secs(10), "a new pid", || {
        sup.proc("e")["pid"]
            .as_i64()
            .is_some_and(|p| p as i32 != pid)
    });
    let new = pid_of(&sup, "e");
    let env = std::fs::read(format!("/proc/{new}/environ")).unwrap();
    assert!(env.split(|&b| b == 0).any(|v| v == b"A=2"));
}

#[test]
fn instances_grow_and_shrink_keeping_pids() {
    let one = "tasks:\n  w:\n    command: sleep 1000\n    successfulStartTimeout: 0\n";
    let sup = Sup::start("reload-instances", one);
    let w = pid_of(&sup, "w");
    write(&sup, &format!("{one}    instances: 3\n"));
    sup.ok("reload");
    assert_eq!(names(&sup), ["w_1", "w_2", "w_3"]);
    assert_eq!(pid_of(&sup, "w_1"), w, "w is renamed w_1 with the same PID");
    let w2 = pid_of(&sup, "w_2");
    let w3 = pid_of(&sup, "w_3");
    write(&sup, &format!("{one}    instances: 2\n"));
    sup.ok("reload");
    wait_until(secs(10), "w_3 to go", || names(&sup) == ["w_1", "w_2"]);
    assert!(!alive(w3));
    assert_eq!(pid_of(&sup, "w_1"), w);
    assert_eq!(pid_of(&sup, "w_2"), w2);
    write(&sup, one);
    sup.ok("reload");
    wait_until(secs(10), "back to one", || names(&sup) == ["w"]);
    assert_eq!(pid_of(&sup, "w"), w, "w_1 is renamed w with the same PID");
    assert!(!alive(w2));
}

#[test]
fn a_stopped_process_stays_stopped_unless_its_task_changed() {
    let yaml = "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n  b:\n    command: sleep 1000\n    successfulStartTimeout: 0\n";
    let sup = Sup::start("reload-stopped", yaml);
    pid_of(&sup, "a");
    pid_of(&sup, "b");
    sup.ok("stop a b");
    write(
        &sup,
        "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n  b:\n    command: sleep 999\n    successfulStartTimeout: 0\n",
    );
    sup.ok("reload");
    pid_of(&sup, "b");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sup.proc("a")["state"], "STOPPED");
}

#[test]
fn an_invalid_file_changes_nothing() {
    let sup = Sup::start("reload-invalid", BASE);
    let before: Vec<i32> = ["keep", "change", "policy", "gone"]
        .iter()
        .map(|n| pid_of(&sup, n))
        .collect();
    write(
        &sup,
        "tasks:\n  keep:\n    command: sleep 1000\n    instances: -1\n  new:\n    command: sleep 1\n",
    );
    let (ok, reply) = sup.cmd("reload");
    assert!(!ok);
    assert!(reply.contains("taskmaster.yaml:4:"), "{reply}");
    assert!(reply.contains("tasks.keep.instances"), "{reply}");
    let (code, _, err) = sup.ctl(&["reload"]);
    assert_eq!(code, 1);
    assert!(err.contains("tasks.keep.instances"), "{err}");
    let after: Vec<i32> = ["keep", "change", "policy", "gone"]
        .iter()
        .map(|n| pid_of(&sup, n))
        .collect();
    assert_eq!(before, after);
    assert_eq!(names(&sup).len(), 4);
    // SIGHUP with the same file: reported on stderr, nothing changes.
    sup.signal(libc::SIGHUP);
    sup.wait_stderr("tasks.keep.instances", secs(5));
    assert_eq!(names(&sup).len(), 4);
}

#[test]
fn sighup_reloads_and_survives_a_storm() {
    let sup = Sup::start(
        "reload-sighup",
        "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    );
    let a = pid_of(&sup, "a");
    write(
        &sup,
        "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n  b:\n    command: sleep 1000\n    instances: 3\n    successfulStartTimeout: 0\n",
    );
    for _ in 0..20 {
        sup.signal(libc::SIGHUP);
    }
    wait_until(secs(10), "b to run", || {
        let rows = sup.status();
        rows.len() == 4 && rows.iter().all(|r| r["state"] == "RUNNING")
    });
    assert_eq!(pid_of(&sup, "a"), a);
    // Each b_N was spawned once: the one pid seen is alive and the only one.
    for n in ["b_1", "b_2", "b_3"] {
        let row = sup.proc(n);
        assert_eq!(row["restarts"], 0, "{row}");
    }
    let children = children_of(sup.pid());
    assert_eq!(
        children.len(),
        4,
        "exactly the four processes: {children:?}"
    );
}

#[test]
fn socket_key_change_moves_the_socket() {
    let dir = test_dir("reload-socket");
    let cfg = dir.join("t.yaml");
    std::fs::write(&cfg, "socket: one.sock\ntasks: {}\n").unwrap();
    let mut child = std::process::Command::new(BIN)
        .arg("--no-shell")
        .arg(&cfg)
        .env_remove("TASKMASTER_SOCKET")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let one = dir.join("one.sock");
    let two = dir.join("two.sock");
    wait_until(secs(10), "one.sock", || {
        std::os::unix::net::UnixStream::connect(&one).is_ok()
    });
    std::fs::write(&cfg, "socket: two.sock\ntasks: {}\n").unwrap();
    let out = std::process::Command::new(BIN)
        .arg("ctl")
        .arg("--socket")
        .arg(&one)
        .arg("reload")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(std::os::unix::net::UnixStream::connect(&two).is_ok());
    assert!(!one.exists(), "the old socket is removed");
    let out = std::process::Command::new(BIN)
        .args(["ctl", "--config"])
        .arg(&cfg)
        .arg("pid")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        child.id().to_string()
    );
    kill(child.id() as i32, libc::SIGTERM);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(!two.exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_restart_pending_across_a_reload_starts_only_what_it_named() {
    let sup = Sup::start(
        "reload-restart-keys",
        "tasks:
  a:
    command: sleep 1000
    autoLaunch: false
  b:
    command: sh -c 'trap \"sleep 1; exit 0\" TERM; while true; do sleep 0.05; done'
    successfulStartTimeout: 0
",
    );
    let b = pid_of(&sup, "b");
    wait_for_trap(b, libc::SIGTERM);
    let socket = sup.socket.clone();
    // `restart all`: a is down already, b takes a second to stop.
    let restart = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
        s.write_all(b"restart all\n").unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        reply
    });
    wait_until(secs(5), "b stopping", || {
        sup.proc("b")["state"] == "STOPPING"
    });
    // Meanwhile a's task goes, and then c comes, into the slot a left.
    let b_task = "  b:
    command: sh -c 'trap \"sleep 1; exit 0\" TERM; while true; do sleep 0.05; done'
    successfulStartTimeout: 0
";
    write(&sup, &format!("tasks:\n{b_task}"));
    sup.ok("reload");
    wait_until(secs(5), "a gone", || {
        !names(&sup).contains(&"a".to_string())
    });
    write(
        &sup,
        &format!("tasks:\n{b_task}  c:\n    command: sleep 1000\n    autoLaunch: false\n"),
    );
    sup.ok("reload");
    let reply = restart.join().unwrap();
    assert!(reply.contains("Process 'b' started with PID"), "{reply}");
    assert!(!reply.contains("'c'"), "{reply}");
    assert_eq!(sup.proc("c")["state"], "STOPPED", "c was never named");
}

#[test]
fn a_removed_process_leaves_nothing_behind_for_the_one_that_takes_its_slot() {
    use std::io::{Read, Write};
    // When a reload removes them, old's instances each have a check in
    // flight, a watchdog, a stop deadline (they take a moment to stop), a
    // follower and a `start --wait` waiting for them to be ready. Their
    // deadlines outlive them on the timer heap; keep's checks, never more
    // than 0.5 s away, stay on top of it, so old's (4 s away) are looked
    // at only when due: after one of old's slots went to fresh and the
    // other stayed free.
    let keep = "  keep:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {command: \"true\", interval: 0.1, timeout: 0.5}
";
    let old = "  old:
    command: sh -c 'trap \"sleep 0.3; exit 0\" TERM; while true; do echo old-line; sleep 0.05; done'
    successfulStartTimeout: 0
    instances: 2
    gracefulStopTimeout: 3
    notify: true
    watchdogTimeout: 4
    healthCheck:
      command: sh -c 'echo $$ >> $DIR/checks; exec sleep 1000'
      interval: 0.1
      timeout: 4
";
    let sup = Sup::start("reload-slot-reuse", &format!("tasks:\n{keep}{old}"));
    let pids = [pid_of(&sup, "old_1"), pid_of(&sup, "old_2")];
    for p in pids {
        wait_for_trap(p, libc::SIGTERM);
    }
    wait_until(secs(10), "both checks in flight", || {
        std::fs::read_to_string(sup.path("checks")).is_ok_and(|t| t.lines().count() >= 2)
    });
    let follower = Captured::ctl(&sup, &["logs", "-f", "old", "0"]);
    follower.wait_text("old's lines", |t| t.contains("old-line"));
    let mut ready = std::os::unix::net::UnixStream::connect(&sup.socket).unwrap();
    ready.write_all(b"start --wait old\n").unwrap();
    // Connections are read as they are accepted, in order: once a later
    // one is answered, the start --wait waits.
    sup.ok("status");

    write(&sup, &format!("tasks:\n{keep}"));
    sup.ok("reload");
    wait_until(secs(10), "old gone", || names(&sup) == ["keep"]);
    for p in pids {
        assert!(!alive(p));
    }
    let checks = std::fs::read_to_string(sup.path("checks")).unwrap();
    for c in checks.lines() {
        let c: i32 = c.parse().unwrap();
        wait_until(secs(5), "the removed process's check killed", || !alive(c));
    }
    // The slot old left is taken by a process with no check, no watchdog
    // and no follower; the other stays free.
    let fresh = "  fresh:
    command: sh -c 'while true; do echo fresh-line; sleep 0.05; done'
    successfulStartTimeout: 0
";
    write(&sup, &format!("tasks:\n{keep}{fresh}"));
    sup.ok("reload");
    let pid = pid_of(&sup, "fresh");
    // Past every deadline old had: its stop, check and watchdog.
    let row = wait_for(secs(15), "fresh up for 5 s", || {
        let r = sup.proc("fresh");
        (r["uptime_secs"].as_u64() >= Some(5)).then_some(r)
    });
    assert_eq!(row["state"], "RUNNING", "{row}");
    assert_eq!(row["pid"].as_i64().unwrap() as i32, pid, "{row}");
    assert_eq!(row["restarts"], 0, "{row}");
    assert_eq!(row["health"], serde_json::Value::Null, "{row}");
    let followed = follower.text();
    assert!(
        !followed.contains("fresh-line"),
        "old's follower gets none of fresh's lines: {followed}"
    );
    ready.set_read_timeout(Some(secs(10))).unwrap();
    let mut answer = String::new();
    ready.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("Process 'old_2'"), "{answer}");
    assert!(answer.contains("Process 'old_1'"), "{answer}");
    assert!(!answer.contains("fresh"), "{answer}");
    assert!(sup.ok("status").contains("keep"));
}
