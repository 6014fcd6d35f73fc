//! Health checks (`command`, `tcp`, `http`) and sd_notify readiness
//! against real peers on 127.0.0.1: what `status` shows, when checks run,
//! what a failing, hanging or flooding check does, restarts of unhealthy
//! processes, READY=1 / STATUS= / WATCHDOG=1.

use std::time::{Duration, Instant};

use crate::harness::*;
use crate::peers::Peer;

/// Waits until `name`'s `health` is `want`; its row.
fn wait_health(sup: &Sup, name: &str, want: &str, timeout: Duration) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        let row = sup.proc(name);
        if row["health"] == want {
            return row;
        }
        if Instant::now() > deadline {
            panic!(
                "timed out waiting for '{name}' to be {want}; last: {row}\nstderr: {}",
                sup.err_text()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The status table line of `name`.
fn table_line(sup: &Sup, name: &str) -> String {
    sup.ok("status")
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row for {name}"))
        .to_string()
}

#[test]
fn tcp_check_makes_healthy_and_a_closed_port_unhealthy() {
    let mut peer = Peer::tcp();
    let sup = Sup::start(
        "tcp-check",
        &format!(
            "tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{tcp: 127.0.0.1:{}, interval: 0.2, timeout: 1, retries: 2, onUnhealthy: none}}
  plain:
    command: sleep 1000
    successfulStartTimeout: 0
",
            peer.port
        ),
    );
    let row = wait_health(&sup, "db", "healthy", secs(10));
    assert_eq!(row["state"], "RUNNING");
    assert_eq!(row["ready"], true);
    let pid = row["pid"].as_i64().unwrap();
    let line = table_line(&sup, "db");
    assert!(line.contains("RUNNING (healthy)"), "{line}");
    // A task without a check shows exactly what it showed before.
    let plain = sup.wait_state("plain", "RUNNING", secs(10));
    assert_eq!(plain["health"], serde_json::Value::Null);
    assert_eq!(plain["ready"], true);
    let line = table_line(&sup, "plain");
    assert!(
        line.contains("RUNNING") && !line.contains("RUNNING ("),
        "{line}"
    );

    peer.kill();
    let row = wait_health(&sup, "db", "unhealthy", secs(10));
    assert_eq!(row["state"], "RUNNING", "onUnhealthy: none keeps it");
    assert_eq!(row["pid"].as_i64().unwrap(), pid);
    assert_eq!(row["ready"], false);
    let reason = row["reason"].as_str().unwrap();
    assert!(reason.contains("Connection refused"), "{reason}");
    assert!(table_line(&sup, "db").contains("RUNNING (unhealthy)"));
    sup.wait_stderr("unhealthy", secs(5));
    assert!(
        sup.err_text().contains("Connection refused"),
        "{}",
        sup.err_text()
    );
}

#[test]
fn checks_begin_once_running_and_the_first_pass_makes_healthy() {
    let sup = Sup::start(
        "checks-begin",
        "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 1.5
    healthCheck:
      command: sh -c 'echo x >> $DIR/checks'
      interval: 0.1
",
    );
    loop {
        let row = sup.proc("t");
        let ran = sup.path("checks").exists();
        match row["state"].as_str().unwrap() {
            "STARTED" => {
                assert!(!ran, "a check ran while STARTED");
                assert_eq!(row["health"], "starting");
                assert_eq!(row["ready"], false);
            }
            "RUNNING" => break,
            other => panic!("unexpected state {other}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let row = wait_health(&sup, "t", "healthy", secs(10));
    assert_eq!(row["ready"], true);
    assert_eq!(row["reason"], serde_json::Value::Null);
    // It goes on at the interval.
    wait_until(secs(10), "further checks", || {
        std::fs::read_to_string(sup.path("checks"))
            .unwrap_or_default()
            .lines()
            .count()
            >= 3
    });
}

#[test]
fn a_command_check_runs_like_the_task_in_its_own_group() {
    let sup = Sup::start(
        "check-env",
        "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    workingDirectory: /tmp
    environment: {FOO: bar}
    healthCheck:
      command: sh -c 'echo \"$TASKMASTER_PROCESS $FOO $(pwd) $$ $(cut -d\" \" -f5 /proc/$$/stat)\" > $DIR/seen'
      interval: 0.2
",
    );
    wait_health(&sup, "t", "healthy", secs(10));
    let seen = std::fs::read_to_string(sup.path("seen")).unwrap();
    let f: Vec<&str> = seen.split_whitespace().collect();
    assert_eq!(&f[..3], ["t", "bar", "/tmp"], "{seen}");
    assert_eq!(f[3], f[4], "the check leads its own process group: {seen}");
    assert_ne!(f[3], sup.running_pid("t").to_string());
    wait_until(secs(5), "no zombie checks", || sup.zombies().is_empty());
}

#[test]
fn a_hanging_check_is_killed_with_its_whole_group_at_timeout() {
    let sup = Sup::start(
        "check-hang",
        "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck:
      command: sh -c 'sleep 1000 & echo $! > $DIR/bg; echo $$ > $DIR/ck; echo still going; wait'
      interval: 30
      timeout: 0.5
      retries: 1
      onUnhealthy: none
",
    );
    let row = wait_health(&sup, "t", "unhealthy", secs(10));
    let reason = row["reason"].as_str().unwrap();
    assert!(reason.contains("timed out after 0.5s"), "{reason}");
    assert!(reason.contains("still going"), "{reason}");
    let bg = read_pid_file(&sup.path("bg"));
    let ck = read_pid_file(&sup.path("ck"));
    wait_until(secs(5), "the check's group to be gone", || {
        !alive(bg) && !alive(ck)
    });
    wait_until(secs(5), "no zombies", || sup.zombies().is_empty());
    assert_eq!(sup.proc("t")["state"], "RUNNING");
}

#[test]
fn a_failed_check_reason_has_its_last_output_line() {
    let sup = Sup::start(
        "check-fail",
        "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck:
      command: sh -c 'echo first >&2; echo second line >&2; echo \"db is down\" >&2; exit 3'
      interval: 0.2
      retries: 2
      onUnhealthy: none
",
    );
    let row = wait_health(&sup, "t", "unhealthy", secs(10));
    let reason = row["reason"].as_str().unwrap();
    assert_eq!(reason, "check exit status 3: db is down");
    sup.wait_stderr("db is down", secs(5));
    let err = sup.err_text();
    assert!(
        !err.contains("first") && !err.contains("second line"),
        "{err}"
    );
}

#[test]
fn a_missing_check_command_is_unhealthy_and_the_task_runs_until_retries() {
    let sup = Sup::start(
        "check-missing",
        "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck:
      command: /nonexistent/pg_isready
      interval: 1
      retries: 3
",
    );
    let first = sup.running_pid("t");
    // One failure is not enough: it keeps running, with the reason shown
    // (the third failure is two intervals away).
    let row = wait_for(secs(10), "a first failure", || {
        let r = sup.proc("t");
        r["reason"].as_str().is_some().then_some(r)
    });
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("No such file or directory"),
        "{row}"
    );
    assert_eq!(row["restarts"], 0, "{row}");
    assert_eq!(row["state"], "RUNNING", "{row}");
    assert_eq!(row["pid"].as_i64().unwrap() as i32, first, "{row}");
    // After `retries` failures: restarted (onUnhealthy defaults to restart).
    wait_until(secs(15), "a restart", || {
        sup.proc("t")["restarts"].as_u64().unwrap() >= 1
    });
    wait_until(secs(10), "the first process gone", || !alive(first));
    let second = sup.running_pid("t");
    assert_ne!(second, first);
}

#[test]
fn unhealthy_with_restart_stops_gracefully_and_starts_again_counted() {
    let sup = Sup::start(
        "check-restart",
        "tasks:
  t:
    command: sh -c 'trap \"echo term >> $DIR/terms; exit 0\" TERM; echo $$ > $DIR/pid; while :; do sleep 0.05; done'
    successfulStartTimeout: 0
    healthCheck:
      command: test -e $DIR/ok
      interval: 0.2
      retries: 2
",
    );
    std::fs::write(sup.path("ok"), "").unwrap();
    let row = wait_health(&sup, "t", "healthy", secs(10));
    let first = row["pid"].as_i64().unwrap() as i32;
    wait_for_trap(first, libc::SIGTERM);
    std::fs::remove_file(sup.path("ok")).unwrap();
    wait_until(secs(10), "a restart", || sup.proc("t")["restarts"] == 1);
    wait_until(secs(10), "the stop signal handled", || {
        std::fs::read_to_string(sup.path("terms")).is_ok_and(|t| t.trim() == "term")
    });
    wait_until(secs(10), "the first process gone", || !alive(first));
    let row = sup.wait_state("t", "RUNNING", secs(10));
    assert_ne!(row["pid"].as_i64().unwrap() as i32, first);
    assert_eq!(row["health"], "starting", "a new process starts over");
    std::fs::write(sup.path("ok"), "").unwrap();
    wait_health(&sup, "t", "healthy", secs(10));
}

#[test]
fn failures_inside_the_start_period_do_not_count() {
    let sup = Sup::start(
        "check-start-period",
        "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck:
      command: sh -c 'echo x >> $DIR/checks; exit 1'
      interval: 0.1
      retries: 1
      startPeriod: 1.5
      onUnhealthy: none
",
    );
    sup.running_pid("t");
    let seen_running = Instant::now();
    wait_until(secs(10), "two failed checks", || {
        std::fs::read_to_string(sup.path("checks"))
            .unwrap_or_default()
            .lines()
            .count()
            >= 2
    });
    if seen_running.elapsed() < Duration::from_millis(1200) {
        let row = sup.proc("t");
        assert_eq!(row["health"], "starting", "{row}");
    }
    wait_health(&sup, "t", "unhealthy", secs(10));
    assert!(seen_running.elapsed() >= Duration::from_millis(1400));
}

#[test]
fn http_check_judges_the_status_line_and_sends_host_and_close() {
    let peer = Peer::http();
    let sup = Sup::start(
        "http-check",
        &format!(
            "tasks:
  web:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck:
      http: http://127.0.0.1:{}/healthz
      interval: 0.2
      retries: 2
      onUnhealthy: none
",
            peer.port
        ),
    );
    wait_health(&sup, "web", "healthy", secs(10));
    let req = peer.requests();
    assert!(req.contains("GET /healthz HTTP/1.1"), "{req}");
    assert!(
        req.contains(&format!("Host: 127.0.0.1:{}", peer.port)),
        "{req}"
    );
    assert!(req.contains("Connection: close"), "{req}");
    peer.answer(503);
    let row = wait_health(&sup, "web", "unhealthy", secs(10));
    assert!(
        row["reason"].as_str().unwrap().contains("HTTP status 503"),
        "{row}"
    );
    peer.answer(302);
    wait_health(&sup, "web", "healthy", secs(10));
}

#[test]
fn an_http_endpoint_sending_10mb_or_never_answering_does_not_hurt() {
    let peer = Peer::http();
    let sup = Sup::start(
        "http-hostile",
        &format!(
            "tasks:
  big:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{http: 'http://127.0.0.1:{p}/big', interval: 0.2}}
  silent:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{http: 'http://127.0.0.1:{p}/silent', interval: 0.2, timeout: 0.3, retries: 1, onUnhealthy: none}}
",
            p = peer.port
        ),
    );
    wait_health(&sup, "big", "healthy", secs(10));
    let row = wait_health(&sup, "silent", "unhealthy", secs(10));
    assert!(
        row["reason"].as_str().unwrap().contains("timed out"),
        "{row}"
    );
    // The loop stays responsive while both go on.
    for _ in 0..20 {
        let t = Instant::now();
        sup.status();
        assert!(t.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(50));
    }
    let rss_kb: u64 = proc_status(sup.pid(), "VmRSS")
        .unwrap()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    assert!(rss_kb < 64 * 1024, "supervisor RSS {rss_kb} kB");
    assert_eq!(sup.proc("big")["health"], "healthy");
}

/// A python task that talks sd_notify over $NOTIFY_SOCKET.
const NOTIFIER: &str = r#"
import os, socket, sys, time
d = sys.argv[1]
addr = os.environ["NOTIFY_SOCKET"]
# Written whole or not at all: a reader never sees the file empty.
with open(os.path.join(d, "notify_socket.tmp"), "w") as f:
    f.write(addr)
os.rename(os.path.join(d, "notify_socket.tmp"), os.path.join(d, "notify_socket"))
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
def send(m):
    s.sendto(m.encode(), addr)
send("STATUS=warming up")
while not os.path.exists(os.path.join(d, "go")):
    time.sleep(0.05)
send("READY=1\nSTATUS=serving")
while True:
    if os.path.exists(os.path.join(d, "ping")):
        send("WATCHDOG=1")
    time.sleep(0.1)
"#;

fn notifier_config(extra: &str) -> String {
    format!(
        "tasks:
  api:
    command: python3 $DIR/notifier.py $DIR
    successfulStartTimeout: 0
    autoLaunch: false
    notify: true
{extra}"
    )
}

#[test]
fn notify_ready_makes_it_ready_and_status_text_is_the_reason() {
    let sup = Sup::start("notify-ready", &notifier_config(""));
    std::fs::write(sup.path("notifier.py"), NOTIFIER).unwrap();
    sup.ok("start api");
    let row = wait_for(secs(10), "STATUS=warming up", || {
        let r = sup.proc("api");
        (r["reason"] == "warming up").then_some(r)
    });
    assert_eq!(row["state"], "RUNNING");
    assert_eq!(row["health"], "starting");
    assert_eq!(row["ready"], false);
    let addr = std::fs::read_to_string(sup.path("notify_socket")).unwrap();
    assert!(addr.starts_with('@'), "{addr}");
    std::fs::write(sup.path("go"), "").unwrap();
    let row = wait_health(&sup, "api", "healthy", secs(10));
    assert_eq!(row["ready"], true);
    assert_eq!(row["reason"], "serving");
    assert!(table_line(&sup, "api").contains("RUNNING (healthy)"));
}

#[test]
fn systemd_notify_works_from_a_wrapper_script() {
    let sup = Sup::start(
        "notify-systemd",
        "tasks:
  svc:
    command: sh -c 'systemd-notify --ready --status=\"up and serving\"; exec sleep 1000'
    successfulStartTimeout: 0
    notify: true
",
    );
    let row = wait_health(&sup, "svc", "healthy", secs(10));
    assert_eq!(row["ready"], true);
    assert_eq!(row["reason"], "up and serving");
}

#[test]
fn a_watchdog_timeout_restarts_a_process_that_stops_pinging() {
    let sup = Sup::start(
        "notify-watchdog",
        &notifier_config("    watchdogTimeout: 1\n"),
    );
    std::fs::write(sup.path("notifier.py"), NOTIFIER).unwrap();
    std::fs::write(sup.path("go"), "").unwrap();
    std::fs::write(sup.path("ping"), "").unwrap();
    sup.ok("start api");
    let row = wait_health(&sup, "api", "healthy", secs(10));
    let first = row["pid"].as_i64().unwrap() as i32;
    // Pinging every 0.1 s keeps it for well past the timeout.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(2500) {
        assert_eq!(sup.proc("api")["pid"].as_i64().unwrap() as i32, first);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::remove_file(sup.path("ping")).unwrap();
    wait_until(secs(10), "a watchdog restart", || {
        sup.proc("api")["restarts"].as_u64().unwrap() >= 1
    });
    wait_until(secs(10), "the old process gone", || !alive(first));
    let second = sup.running_pid("api");
    assert_ne!(second, first);
    sup.wait_stderr("watchdog", secs(5));
}

#[test]
fn notify_datagrams_from_strangers_or_malformed_are_ignored() {
    use std::os::linux::net::SocketAddrExt;
    let sup = Sup::start("notify-strangers", &notifier_config(""));
    std::fs::write(sup.path("notifier.py"), NOTIFIER).unwrap();
    sup.ok("start api");
    let addr = wait_for(secs(10), "the task's NOTIFY_SOCKET", || {
        std::fs::read_to_string(sup.path("notify_socket")).ok()
    });
    let name = addr.strip_prefix('@').unwrap();
    let to = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
    let tx = std::os::unix::net::UnixDatagram::unbound().unwrap();
    // This test process is not in the task's group: a stranger.
    tx.send_to_addr(b"READY=1\nSTATUS=forged", &to).unwrap();
    tx.send_to_addr(&vec![b'A'; 70_000], &to).unwrap_or(0);
    tx.send_to_addr(b"\xff\xfe garbage", &to).unwrap();
    sup.wait_stderr("ignored", secs(5));
    let row = sup.proc("api");
    assert_eq!(row["ready"], false, "{row}");
    assert_ne!(row["reason"], "forged");
    assert_eq!(row["health"], "starting");
    std::fs::write(sup.path("go"), "").unwrap();
    wait_health(&sup, "api", "healthy", secs(10));
}

#[test]
fn a_command_check_runs_as_the_tasks_user() {
    let sup = Sup::start(
        "check-user",
        "tasks:
  t:
    command: sleep 1000
    user: nobody
    successfulStartTimeout: 0
    healthCheck:
      command: sh -c 'id -u > /tmp/tm-check-user-$PPID-$$.uid; test $(id -u) != 0'
      interval: 30
      onUnhealthy: none
",
    );
    // As root, a check that ran as root would fail (`test ... != 0`).
    let row = wait_health(&sup, "t", "healthy", secs(10));
    assert_eq!(row["state"], "RUNNING");
    let nobody = std::process::Command::new("id")
        .args(["-u", "nobody"])
        .output()
        .unwrap();
    let nobody = String::from_utf8_lossy(&nobody.stdout).trim().to_string();
    let written: Vec<std::path::PathBuf> = std::fs::read_dir("/tmp")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("tm-check-user-"))
        })
        .collect();
    assert!(!written.is_empty());
    for p in written {
        let uid = std::fs::read_to_string(&p).unwrap_or_default();
        let _ = std::fs::remove_file(&p);
        assert_eq!(uid.trim(), nobody);
    }
}

#[test]
fn changing_notify_at_reload_restarts_the_process_checks_apply_in_place() {
    let yaml = |notify: bool, interval: &str| {
        format!(
            "tasks:
  svc:
    command: sh -c 'echo \"$${{NOTIFY_SOCKET:-none}}\" > $DIR/sock; exec sleep 1000'
    successfulStartTimeout: 0
    notify: {notify}
    healthCheck: {{command: 'true', interval: {interval}}}
"
        )
    };
    let sup = Sup::start("notify-reload", &yaml(false, "0.2"));
    let first = sup.running_pid("svc");
    wait_health(&sup, "svc", "healthy", secs(10));
    // The process can be RUNNING (and healthy) before sh wrote the file.
    let seen = wait_for(secs(10), "the NOTIFY_SOCKET report", || {
        std::fs::read_to_string(sup.path("sock"))
            .ok()
            .filter(|s| s.ends_with('\n'))
    });
    assert_eq!(seen.trim(), "none");
    let dir = sup.dir.to_str().unwrap().to_string();
    std::fs::write(&sup.config, yaml(false, "0.5").replace("$DIR", &dir)).unwrap();
    let reply = sup.ok("reload");
    assert!(reply.contains("in place"), "{reply}");
    assert_eq!(
        sup.running_pid("svc"),
        first,
        "a check change keeps the process"
    );
    std::fs::write(&sup.config, yaml(true, "0.5").replace("$DIR", &dir)).unwrap();
    let reply = sup.ok("reload");
    assert!(reply.contains("restarted"), "{reply}");
    let second = wait_for(secs(10), "a new process", || {
        let r = sup.proc("svc");
        let p = r["pid"].as_i64()? as i32;
        (p != first && r["state"] == "RUNNING").then_some(p)
    });
    assert_ne!(second, first);
    wait_until(secs(10), "NOTIFY_SOCKET set", || {
        std::fs::read_to_string(sup.path("sock")).is_ok_and(|s| s.starts_with('@'))
    });
}

/// Rewrites the config of `sup` and reloads it; the reply.
fn reload_with(sup: &Sup, yaml: &str) -> String {
    let dir = sup.dir.to_str().unwrap().to_string();
    std::fs::write(&sup.config, yaml.replace("$DIR", &dir)).unwrap();
    sup.ok("reload")
}

#[test]
fn a_check_added_at_reload_runs_on_the_running_process() {
    let plain = "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
";
    let sup = Sup::start("check-added", plain);
    let pid = sup.running_pid("t");
    assert_eq!(sup.proc("t")["health"], serde_json::Value::Null);
    let reply = reload_with(
        &sup,
        &format!("{plain}    healthCheck: {{command: test -e $DIR/ok, interval: 0.1}}\n"),
    );
    assert!(reply.contains("updated in place: t"), "{reply}");
    // The check runs: it fails until the file is there, then passes.
    let row = wait_for(secs(10), "a first check failure", || {
        let r = sup.proc("t");
        r["reason"].as_str().is_some().then_some(r)
    });
    assert_eq!(row["health"], "starting", "{row}");
    assert_eq!(row["ready"], false, "{row}");
    std::fs::write(sup.path("ok"), "").unwrap();
    let row = wait_health(&sup, "t", "healthy", secs(10));
    assert_eq!(row["pid"].as_i64().unwrap() as i32, pid, "not restarted");
    assert_eq!(row["restarts"], 0);
}

#[test]
fn changed_check_parameters_apply_at_reload() {
    let yaml = |file: &str, interval: &str| {
        format!(
            "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{command: sh -c 'echo x >> $DIR/{file}', interval: {interval}}}
"
        )
    };
    let sup = Sup::start("check-changed", &yaml("old", "60"));
    let pid = sup.running_pid("t");
    wait_health(&sup, "t", "healthy", secs(10));
    reload_with(&sup, &yaml("new", "0.1"));
    // The old check waited 60 s for its next run; the new one runs now and
    // every 0.1 s.
    wait_until(secs(10), "the new check, at its new interval", || {
        std::fs::read_to_string(sup.path("new"))
            .unwrap_or_default()
            .lines()
            .count()
            >= 5
    });
    let old = std::fs::read_to_string(sup.path("old")).unwrap();
    assert_eq!(old.lines().count(), 1, "the old check ran once: {old}");
    let row = sup.proc("t");
    assert_eq!(row["health"], "healthy", "a changed check keeps the health");
    assert_eq!(row["pid"].as_i64().unwrap() as i32, pid);
}

#[test]
fn a_check_replaced_or_removed_at_reload_is_killed_with_its_group() {
    let yaml = |check: &str| {
        format!(
            "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
{check}"
        )
    };
    let hanging = |name: &str| {
        format!(
            "    healthCheck:
      command: sh -c 'sleep 1000 & echo $! > $DIR/{name}.bg; echo $$ > $DIR/{name}.pid; wait'
      interval: 0.1
      timeout: 600
"
        )
    };
    let sup = Sup::start("check-removed", &yaml(&hanging("a")));
    let pid = sup.running_pid("t");
    let (a, a_bg) = (
        read_pid_file(&sup.path("a.pid")),
        read_pid_file(&sup.path("a.bg")),
    );
    assert!(alive(a) && alive(a_bg));
    // Replaced: the old check's group goes at once, the new one runs.
    reload_with(&sup, &yaml(&hanging("b")));
    wait_until(secs(5), "the replaced check's group gone", || {
        !alive(a) && !alive(a_bg)
    });
    let (b, b_bg) = (
        read_pid_file(&sup.path("b.pid")),
        read_pid_file(&sup.path("b.bg")),
    );
    assert!(alive(b) && alive(b_bg));
    // Removed: its check in flight goes too, and no other comes.
    reload_with(&sup, &yaml(""));
    wait_until(secs(5), "the removed check's group gone", || {
        !alive(b) && !alive(b_bg)
    });
    wait_until(secs(5), "no zombie checks", || sup.zombies().is_empty());
    let row = sup.proc("t");
    assert_eq!(row["health"], serde_json::Value::Null, "{row}");
    assert_eq!(row["ready"], true, "{row}");
    assert_eq!(row["pid"].as_i64().unwrap() as i32, pid);
}

#[test]
fn a_watchdog_turned_off_at_reload_restarts_nothing() {
    let sup = Sup::start("watchdog-off", &notifier_config("    watchdogTimeout: 3\n"));
    std::fs::write(sup.path("notifier.py"), NOTIFIER).unwrap();
    std::fs::write(sup.path("go"), "").unwrap();
    std::fs::write(sup.path("ping"), "").unwrap();
    sup.ok("start api");
    let pid = wait_health(&sup, "api", "healthy", secs(10))["pid"]
        .as_i64()
        .unwrap() as i32;
    reload_with(&sup, &notifier_config(""));
    // It goes on pinging every 0.1 s: each ping used to re-arm the
    // watchdog at now + 0, which restarted it at once.
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        let row = sup.proc("api");
        assert_eq!(row["pid"].as_i64(), Some(pid as i64), "{row}");
        assert_eq!(row["restarts"], 0, "{row}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!sup.err_text().contains("watchdog"), "{}", sup.err_text());
}

#[test]
fn a_watchdog_turned_on_at_reload_is_enforced() {
    let sup = Sup::start("watchdog-on", &notifier_config(""));
    std::fs::write(sup.path("notifier.py"), NOTIFIER).unwrap();
    std::fs::write(sup.path("go"), "").unwrap();
    sup.ok("start api");
    let first = wait_health(&sup, "api", "healthy", secs(10))["pid"]
        .as_i64()
        .unwrap() as i32;
    // It never pings: once the reload sets a watchdog, it is restarted.
    reload_with(&sup, &notifier_config("    watchdogTimeout: 0.5\n"));
    wait_until(secs(10), "a watchdog restart", || {
        sup.proc("api")["restarts"].as_u64().unwrap() >= 1
    });
    sup.wait_stderr("no WATCHDOG=1 for 0.5s (watchdog)", secs(5));
    wait_until(secs(10), "the old process gone", || !alive(first));
    assert_ne!(sup.running_pid("api"), first);
}

/// Sends its arguments, one per line, as one datagram to $NOTIFY_SOCKET,
/// then writes `sent` (a second argument of `--then FILE`) and, with
/// `--stay FILE`, waits for FILE before it exits.
const SENDER: &str = r#"
import os, socket, sys, time
args = sys.argv[1:]
stay = then = None
if "--stay" in args:
    i = args.index("--stay"); stay = args[i + 1]; del args[i:i + 2]
if "--then" in args:
    i = args.index("--then"); then = args[i + 1]; del args[i:i + 2]
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto("\n".join(args).encode(), addr)
if then:
    open(then, "w").close()
while stay and not os.path.exists(stay):
    time.sleep(0.02)
"#;

/// A notify task whose wrapper waits for `DIR/go`, runs `sender` (a
/// command line), writes `DIR/NAME.sent` once the sender has exited (and
/// the wrapper has reaped it), then execs the service.
fn wrapped_sender(name: &str, sender: &str) -> String {
    format!(
        "  {name}:
    command: sh -c 'while [ ! -e $DIR/go ]; do sleep 0.02; done; {sender}; touch $DIR/{name}.sent; exec sleep 1000'
    successfulStartTimeout: 0
    notify: true
"
    )
}

/// Holds the supervisor stopped while every wrapper of `names` runs its
/// sender to the end, so each datagram is read only after its sender may
/// be gone; then lets it go on.
fn send_while_stopped(sup: &Sup, names: &[&str]) {
    for n in names {
        sup.running_pid(n);
    }
    sup.signal(libc::SIGSTOP);
    std::fs::write(sup.path("go"), "").unwrap();
    for n in names {
        let marker = sup.path(&format!("{n}.sent"));
        wait_until(secs(10), "the wrapper past its sender", || marker.exists());
    }
    sup.signal(libc::SIGCONT);
}

#[test]
fn a_sender_gone_before_its_message_is_read_counts_with_mainpid() {
    // A slot of its own: other slots carry RLIMIT_NPROC tests.
    let other = private_uid(7);
    let yaml = format!(
        "tasks:\n{}{}{}{}",
        wrapped_sender("main", "python3 $DIR/send.py READY=1 STATUS=up MAINPID=$$"),
        wrapped_sender("sdnotify", "systemd-notify --ready --no-block --pid=$$"),
        wrapped_sender("forged", "python3 $DIR/send.py READY=1 MAINPID=1"),
        wrapped_sender(
            "other_uid",
            &format!(
                "setpriv --reuid={other} --regid={other} --clear-groups python3 $DIR/send.py READY=1 MAINPID=$$"
            )
        ),
    );
    let sup = Sup::start("notify-mainpid", &yaml);
    std::fs::write(sup.path("send.py"), SENDER).unwrap();
    send_while_stopped(&sup, &["main", "sdnotify", "forged", "other_uid"]);
    // The sender is reaped, but MAINPID names the wrapper, the process's
    // leader: it counts.
    let row = wait_health(&sup, "main", "healthy", secs(10));
    assert_eq!(row["reason"], "up");
    wait_health(&sup, "sdnotify", "healthy", secs(10));
    // MAINPID naming a process outside every notify group, or sent by
    // another user than the named process's, counts for nothing.
    sup.wait_stderr("not a notify process it may speak for", secs(5));
    for n in ["forged", "other_uid"] {
        let row = sup.proc(n);
        assert_eq!(row["health"], "starting", "{row}");
        assert_eq!(row["ready"], false, "{row}");
    }
}

#[test]
fn a_sender_counts_from_its_group_while_alive_and_not_once_reaped_without_mainpid() {
    let yaml = format!(
        "tasks:\n{}{}",
        wrapped_sender(
            "stays",
            "python3 $DIR/send.py READY=1 --then $DIR/stays.sent --stay $DIR/release"
        ),
        wrapped_sender("gone", "python3 $DIR/send.py READY=1"),
    );
    let sup = Sup::start("notify-plain", &yaml);
    std::fs::write(sup.path("send.py"), SENDER).unwrap();
    // `stays` writes its marker itself, once sent, and lives on.
    send_while_stopped(&sup, &["stays", "gone"]);
    wait_health(&sup, "stays", "healthy", secs(10));
    sup.wait_stderr(
        "ignored 1 notify datagram(s) so far (the last from pid",
        secs(5),
    );
    assert!(
        sup.err_text()
            .contains("which exited before it was read, without MAINPID"),
        "{}",
        sup.err_text()
    );
    let row = sup.proc("gone");
    assert_eq!(row["health"], "starting", "{row}");
    std::fs::write(sup.path("release"), "").unwrap();
}

#[test]
fn start_wait_with_a_check_and_notify_needs_both() {
    // A check that stays in flight until DIR/NAME.ok, then passes; so no
    // failure hides the STATUS= text, and each pass is written down.
    let svc = |name: &str| {
        format!(
            "  {name}:
    command: python3 $DIR/notifier.py $DIR/{name}
    successfulStartTimeout: 0
    autoLaunch: false
    notify: true
    healthCheck:
      command: sh -c 'while [ ! -e $DIR/{name}.ok ]; do sleep 0.02; done; echo x >> $DIR/{name}.passes'
      interval: 0.1
      timeout: 600
"
        )
    };
    let sup = Sup::start(
        "wait-check-and-notify",
        &format!("tasks:\n{}{}", svc("ready_first"), svc("check_first")),
    );
    std::fs::write(sup.path("notifier.py"), NOTIFIER).unwrap();
    let spawn_ctl = |name: &str| {
        std::fs::create_dir_all(sup.path(name)).unwrap();
        std::process::Command::new(BIN)
            .args(["ctl", "--socket"])
            .arg(&sup.socket)
            .args(["start", "--wait", name])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let still_waiting = |ctl: &mut std::process::Child| {
        for _ in 0..25 {
            assert!(ctl.try_wait().unwrap().is_none(), "replied too early");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let done = |ctl: std::process::Child| {
        let out = ctl.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };

    // READY=1 first: the check still runs, so not ready.
    let mut ctl = spawn_ctl("ready_first");
    sup.running_pid("ready_first");
    std::fs::write(sup.path("ready_first/go"), "").unwrap();
    let row = wait_for(secs(10), "READY=1 and STATUS=serving", || {
        let r = sup.proc("ready_first");
        (r["reason"] == "serving").then_some(r)
    });
    assert_eq!(row["health"], "starting", "{row}");
    assert_eq!(row["ready"], false, "{row}");
    still_waiting(&mut ctl);
    std::fs::write(sup.path("ready_first.ok"), "").unwrap();
    assert_eq!(done(ctl), "Process 'ready_first' is RUNNING (healthy)");

    // The check passes first: without READY=1, not ready.
    let mut ctl = spawn_ctl("check_first");
    sup.running_pid("check_first");
    std::fs::write(sup.path("check_first.ok"), "").unwrap();
    // A second check runs only once the first one's pass is recorded.
    wait_until(secs(10), "two passes", || {
        std::fs::read_to_string(sup.path("check_first.passes"))
            .unwrap_or_default()
            .lines()
            .count()
            >= 2
    });
    let row = sup.proc("check_first");
    assert_eq!(row["health"], "starting", "{row}");
    assert_eq!(row["ready"], false, "{row}");
    still_waiting(&mut ctl);
    std::fs::write(sup.path("check_first/go"), "").unwrap();
    assert_eq!(done(ctl), "Process 'check_first' is RUNNING (healthy)");
}

#[test]
fn malformed_and_oversized_datagrams_from_the_tasks_own_group_are_ignored_and_counted() {
    let sup = Sup::start(
        "notify-own-garbage",
        "tasks:
  api:
    command: python3 $DIR/garbage.py
    successfulStartTimeout: 0
    notify: true
",
    );
    // Ten bad datagrams from the process itself, then a good one.
    std::fs::write(
        sup.path("garbage.py"),
        r#"
import os, socket, time
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
bad = [b"\xff\xfe=1", b"hello", b"ready=1", b"READY=1\ngarbage", b"=1", b""]
bad += [b"READY=1\n" + b"X" * 5000] * 4
for m in bad:
    s.sendto(m, addr)
s.sendto(b"STATUS=after the garbage", addr)
time.sleep(1000)
"#,
    )
    .unwrap();
    sup.wait_stderr(
        "ignored 10 notify datagram(s) so far (the last malformed or oversized)",
        secs(10),
    );
    assert!(
        sup.err_text()
            .contains("ignored 1 notify datagram(s) so far (the last malformed or oversized)"),
        "{}",
        sup.err_text()
    );
    let row = wait_for(secs(10), "the good message after them", || {
        let r = sup.proc("api");
        (r["reason"] == "after the garbage").then_some(r)
    });
    assert_eq!(row["ready"], false, "none of them said READY=1: {row}");
    assert_eq!(row["health"], "starting", "{row}");
    assert_eq!(row["state"], "RUNNING", "{row}");
}

#[test]
fn a_check_that_ignores_sigterm_is_sigkilled_with_its_group_at_timeout() {
    let sup = Sup::start(
        "check-trap-term",
        "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck:
      command: sh -c 'trap \"\" TERM; sleep 30 & echo $! > $DIR/bg; echo $$ > $DIR/ck; wait'
      interval: 60
      timeout: 0.5
      retries: 1
      onUnhealthy: none
",
    );
    let (ck, bg) = (
        read_pid_file(&sup.path("ck")),
        read_pid_file(&sup.path("bg")),
    );
    // Both ignore SIGTERM (the sleep inherits it): only SIGKILL ends them.
    wait_for_trap(ck, libc::SIGTERM);
    wait_for_trap(bg, libc::SIGTERM);
    let t = Instant::now();
    let row = wait_health(&sup, "t", "unhealthy", secs(10));
    assert_eq!(row["reason"], "timed out after 0.5s", "{row}");
    wait_until(secs(5), "the check's group gone", || {
        !alive(ck) && !alive(bg)
    });
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "long before sleep 30"
    );
    wait_until(secs(5), "no zombies", || sup.zombies().is_empty());
}

#[test]
fn a_tcp_connect_that_never_completes_fails_at_the_timeout() {
    let peer = Peer::full_backlog();
    let sup = Sup::start(
        "tcp-pending",
        &format!(
            "tasks:
  t:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{tcp: 127.0.0.1:{}, interval: 60, timeout: 0.5, retries: 1, onUnhealthy: none}}
",
            peer.port
        ),
    );
    let t = Instant::now();
    let row = wait_health(&sup, "t", "unhealthy", secs(10));
    assert_eq!(row["reason"], "timed out after 0.5s", "{row}");
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(row["state"], "RUNNING");
}

#[test]
fn http_one_failure_short_of_retries_stays_healthy_and_retries_failures_do_not() {
    let peer = Peer::http();
    let sup = Sup::start(
        "http-retries",
        &format!(
            "tasks:
  web:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{http: 'http://127.0.0.1:{}/', interval: 0.1, retries: 3}}
",
            peer.port
        ),
    );
    let row = wait_health(&sup, "web", "healthy", secs(10));
    let pid = row["pid"].as_i64().unwrap();
    // Two failures, then a pass: the peer answers exactly that.
    let before = peer.answers().len();
    peer.answer_each(&[503, 503, 200]);
    wait_until(secs(10), "503, 503, then passes", || {
        let row = sup.proc("web");
        assert_eq!(row["health"], "healthy", "{row}");
        let a = peer.answers();
        a.len() >= before + 4 && a[before..before + 4] == [503, 503, 200, 200]
    });
    let row = sup.proc("web");
    assert_eq!(row["restarts"], 0, "{row}");
    assert_eq!(row["pid"].as_i64().unwrap(), pid, "{row}");
    assert_eq!(row["reason"], serde_json::Value::Null, "a pass clears it");
    assert!(!sup.err_text().contains("unhealthy"), "{}", sup.err_text());
    // Three in a row: unhealthy, and restarted.
    peer.answer_each(&[503, 503, 503, 200]);
    wait_until(secs(10), "a restart", || sup.proc("web")["restarts"] == 1);
    sup.wait_stderr("is unhealthy: HTTP status 503", secs(5));
}

#[test]
fn tcp_one_failure_short_of_retries_stays_healthy_and_retries_failures_do_not() {
    let mut peer = Peer::tcp();
    let sup = Sup::start(
        "tcp-retries",
        &format!(
            "tasks:
  db:
    command: sleep 1000
    successfulStartTimeout: 0
    healthCheck: {{tcp: 127.0.0.1:{}, interval: 2, timeout: 0.5, retries: 2, onUnhealthy: none}}
",
            peer.port
        ),
    );
    let row = wait_health(&sup, "db", "healthy", secs(10));
    let pid = row["pid"].as_i64().unwrap();
    // The peer closes right after a passing check for 1.5 intervals: the
    // next check is refused, the one after passes. One failure, not two.
    peer.pause_after_next(3.0);
    let mut saw_failure = false;
    wait_until(secs(20), "the peer back and a pass", || {
        let row = sup.proc("db");
        assert_eq!(row["health"], "healthy", "{row}");
        let refused = row["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Connection refused"));
        saw_failure |= refused;
        saw_failure && peer.resumed() == 1 && row["reason"].is_null()
    });
    assert_eq!(sup.proc("db")["pid"].as_i64().unwrap(), pid);
    // Closed for good: two failures in a row make it unhealthy.
    peer.kill();
    let row = wait_health(&sup, "db", "unhealthy", secs(15));
    assert!(
        row["reason"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{row}"
    );
}

/// The `taskmaster_process_restarts_total` sample of process `name`.
fn restarts_metric(sup: &Sup, name: &str) -> String {
    let text = sup.ok("metrics");
    let label = format!("name=\"{name}\"");
    text.lines()
        .find(|l| l.starts_with("taskmaster_process_restarts_total{") && l.contains(&label))
        .unwrap_or_else(|| panic!("no restarts sample for {name}: {text}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn a_restart_called_off_by_stop_is_not_counted() {
    let sup = Sup::start(
        "restart-called-off",
        "tasks:
  sick:
    command: sh -c 'trap \"sleep 2; exit 0\" TERM; while true; do sleep 0.05; done'
    successfulStartTimeout: 0
    healthCheck:
      command: sh -c 'test ! -e $DIR/sick'
      interval: 0.1
      retries: 1
  crash:
    command: sh -c 'sleep 0.1; exit 1'
    successfulStartTimeout: 0
    restart: always
    restartDelay: 60
",
    );
    // Unhealthy: a restart is decided and the process is stopping for it
    // (its TERM trap takes 2 s); the user's stop comes meanwhile.
    wait_health(&sup, "sick", "healthy", secs(10));
    let pid = sup.running_pid("sick");
    wait_for_trap(pid, libc::SIGTERM);
    std::fs::write(sup.path("sick"), "").unwrap();
    sup.wait_state("sick", "STOPPING", secs(10));
    assert_eq!(sup.ok("stop sick"), "Process 'sick' stopped");
    // An exit with a restart scheduled: stopped in BACKOFF.
    let row = sup.wait_state("crash", "BACKOFF", secs(10));
    assert!(
        row["reason"].as_str().unwrap().contains("restarting in"),
        "{row}"
    );
    assert_eq!(sup.ok("stop crash"), "Process 'crash' stopped");
    for name in ["sick", "crash"] {
        let row = sup.proc(name);
        assert_eq!(row["state"], "STOPPED", "{row}");
        assert_eq!(row["restarts"], 0, "no restart happened: {row}");
        assert_eq!(restarts_metric(&sup, name), "0");
    }
    let table = sup.ok("status sick");
    let line = table.lines().nth(1).unwrap_or_default();
    assert_eq!(line.split_whitespace().nth(4), Some("0"), "{table}");
}
