//! `metrics`: the Prometheus text exposition through the control socket and
//! over HTTP (`metrics: ADDRESS:PORT`), checked with a real parser (the
//! `prometheus_client` Python package) and real HTTP clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// Parses exposition `text` with prometheus_client's parser; returns
/// `{family: {"type": T, "samples": [[name, labels, value], ...]}}`.
fn parse(text: &str) -> Value {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of `sample` with labels `name` (and `state`), if present.
fn value(fams: &Value, family: &str, sample: &str, labels: &[(&str, &str)]) -> Option<f64> {
    fams[family]["samples"]
        .as_array()?
        .iter()
        .find(|s| s[0] == sample && labels.iter().all(|(k, v)| s[1][*k].as_str() == Some(*v)))
        .and_then(|s| s[2].as_f64())
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET (or `method`) `path` with python's urllib: (status, body).
fn urllib(port: u16, method: &str, path: &str) -> (u16, String) {
    let script = r#"
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1], method=sys.argv[2])
try:
    r = urllib.request.urlopen(req, timeout=10)
    print(r.status, r.headers.get("Content-Type"))
    sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get("Content-Type"))
    sys.stdout.write(e.read().decode())
"#;
    let out = Command::new("python3")
        .args([
            "-c",
            script,
            &format!("http://127.0.0.1:{port}{path}"),
            method,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once('\n').unwrap();
    let code = head.split(' ').next().unwrap().parse().unwrap();
    if code == 200 {
        assert!(
            head.ends_with("text/plain; version=0.0.4; charset=utf-8"),
            "{head}"
        );
    }
    (code, body.to_string())
}

const TASKS: &str = "tasks:
  web:
    command: sleep 1000
    instances: 2
    successfulStartTimeout: 0
  crash:
    command: sh -c 'exit 7'
    restart: never
    successfulStartTimeout: 0
";

#[test]
fn metrics_through_the_socket_parse_with_a_real_parser() {
    let sup = Sup::start("metrics-socket", TASKS);
    let pid = sup.running_pid("web_1");
    sup.running_pid("web_2");
    sup.wait_state("crash", "EXITED", secs(5));
    kill(pid, libc::SIGKILL);
    wait_until(secs(5), "web_1 restarted", || {
        sup.proc("web_1")["restarts"] == 1 && sup.proc("web_1")["state"] == "RUNNING"
    });
    let (code, text, err) = sup.ctl(&["metrics"]);
    assert_eq!(code, 0, "{err}");
    let fams = parse(&text);
    let web1 = [("name", "web_1"), ("task", "web")];
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_up",
            "taskmaster_process_up",
            &web1
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_up",
            "taskmaster_process_up",
            &[("name", "crash")]
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_state",
            "taskmaster_process_state",
            &[("name", "crash"), ("state", "EXITED")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_state",
            "taskmaster_process_state",
            &[("name", "crash"), ("state", "RUNNING")]
        ),
        Some(0.0)
    );
    assert_eq!(fams["taskmaster_process_restarts"]["type"], "counter");
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_restarts",
            "taskmaster_process_restarts_total",
            &web1
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_exit_code",
            "taskmaster_process_exit_code",
            &[("name", "crash")]
        ),
        Some(7.0)
    );
    let started = value(
        &fams,
        "taskmaster_process_start_time_seconds",
        "taskmaster_process_start_time_seconds",
        &web1,
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(started > now - 60.0 && started <= now + 1.0, "{started}");
    assert_eq!(
        value(&fams, "taskmaster_processes", "taskmaster_processes", &[]),
        Some(3.0)
    );
    assert!(
        value(
            &fams,
            "process_resident_memory_bytes",
            "process_resident_memory_bytes",
            &[]
        )
        .unwrap()
            > 0.0
    );
    assert!(value(&fams, "process_open_fds", "process_open_fds", &[]).unwrap() >= 3.0);
    assert_eq!(fams["process_cpu_seconds"]["type"], "counter");
    assert_eq!(fams["taskmaster_log_bytes_dropped"]["type"], "counter");
    // The same text in the shell's language through the raw socket.
    assert!(
        sup.ok("metrics")
            .contains("# TYPE taskmaster_process_up gauge")
    );
}

#[test]
fn metrics_over_http_for_real_clients() {
    let port = free_port();
    let sup = Sup::start(
        "metrics-http",
        &format!("metrics: 127.0.0.1:{port}\n{TASKS}"),
    );
    sup.running_pid("web_1");
    let (code, body) = urllib(port, "GET", "/metrics");
    assert_eq!(code, 200);
    let fams = parse(&body);
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_up",
            "taskmaster_process_up",
            &[("name", "web_1")]
        ),
        Some(1.0)
    );
    assert_eq!(urllib(port, "GET", "/").0, 404);
    assert_eq!(urllib(port, "GET", "/metrics/x").0, 404);
    assert_eq!(urllib(port, "POST", "/metrics").0, 405);
    assert_eq!(urllib(port, "DELETE", "/metrics").0, 405);
    // curl too, when it is there.
    if let Ok(out) = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
    {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
    }
}

/// Reads what the server sends until it closes; `None` if it has not
/// closed within `limit`.
fn read_until_closed(s: &mut TcpStream, limit: Duration) -> Option<String> {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut all = Vec::new();
    match s.read_to_end(&mut all) {
        Ok(_) => Some(String::from_utf8_lossy(&all).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            Some(String::from_utf8_lossy(&all).into_owned())
        }
        Err(_) => None,
    }
}

#[test]
fn http_heads_are_bounded_idle_connections_closed_and_connections_capped() {
    let port = free_port();
    let sup = Sup::start(
        "metrics-limits",
        &format!("metrics: 127.0.0.1:{port}\n{TASKS}"),
    );
    sup.running_pid("web_1");

    // A head over 8 KiB.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: ".to_vec();
    head.extend(std::iter::repeat_n(b'a', 9000));
    head.extend_from_slice(b"\r\n\r\n");
    let _ = s.write_all(&head);
    let reply = read_until_closed(&mut s, secs(5)).expect("closed");
    assert!(
        reply.starts_with("HTTP/1.1 431 "),
        "{}",
        &reply[..reply.len().min(200)]
    );

    // At most 64 connections: 64 silent ones are held, the next is turned
    // away at once, the status answers meanwhile.
    let idle: Vec<TcpStream> = (0..64)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    let opened = Instant::now();
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let reply = read_until_closed(&mut extra, secs(5)).expect("the 65th is closed");
    assert!(reply.starts_with("HTTP/1.1 503 "), "{reply}");
    sup.status();

    // Silent connections are closed after 10 s.
    for mut c in idle {
        let left = Duration::from_secs(14).saturating_sub(opened.elapsed());
        let got = read_until_closed(&mut c, left.max(Duration::from_millis(1)));
        assert_eq!(got.as_deref(), Some(""), "closed without a reply");
    }
    assert!(
        opened.elapsed() >= Duration::from_secs(9),
        "{:?}",
        opened.elapsed()
    );
    // Served again.
    assert_eq!(urllib(port, "GET", "/metrics").0, 200);
}

#[test]
fn a_taken_metrics_port_is_an_error_at_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = test_dir("metrics-taken");
    let config = dir.join("taskmaster.yaml");
    std::fs::write(&config, format!("metrics: 127.0.0.1:{port}\n{TASKS}")).unwrap();
    let out = Command::new(BIN)
        .arg("--no-shell")
        .arg("--socket")
        .arg(dir.join("tm.sock"))
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("metrics 127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_large_exposition_reaches_an_http_client_whole() {
    // 1500 processes: over a megabyte, more than the connection takes at
    // once, so the reply goes out in many writes, head then body.
    let port = free_port();
    let sup = Sup::start(
        "metrics-large",
        &format!(
            "metrics: 127.0.0.1:{port}\ntasks:\n  w:\n    command: sleep 1000\n    instances: 1500\n    successfulStartTimeout: 0\n"
        ),
    );
    sup.wait_running(1500, secs(60));
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let reply = read_until_closed(&mut s, secs(30)).expect("the whole reply, then close");
    let (head, body) = reply.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("Content-Length")
        .trim()
        .parse()
        .unwrap();
    assert!(length > 1 << 20, "{length} bytes");
    assert_eq!(body.len(), length);
    let fams = parse(body);
    let up = fams["taskmaster_process_up"]["samples"].as_array().unwrap();
    assert_eq!(up.len(), 1500);
    assert!(up.iter().all(|s| s[2].as_f64() == Some(1.0)));
    assert_eq!(
        value(
            &fams,
            "taskmaster_process_state",
            "taskmaster_process_state",
            &[("name", "w_1500"), ("state", "RUNNING")]
        ),
        Some(1.0)
    );
}

/// Whether anything accepts a connection on `port`.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_reload_adds_moves_and_removes_the_endpoint() {
    let sup = Sup::start("metrics-reload", TASKS);
    let web = sup.running_pid("web_1");
    let write = |yaml: &str| std::fs::write(&sup.config, yaml).unwrap();
    // Added.
    let first = free_port();
    write(&format!("metrics: 127.0.0.1:{first}\n{TASKS}"));
    let dry = sup.ok("reload --dry-run");
    assert!(
        dry.contains(&format!("would change metrics: on 127.0.0.1:{first}")),
        "{dry}"
    );
    assert!(!listening(first), "a dry run binds nothing");
    let reply = sup.ok("reload");
    assert!(
        reply.contains(&format!("\nmetrics: on 127.0.0.1:{first}")),
        "{reply}"
    );
    assert!(!reply.contains("no changes"), "{reply}");
    assert_eq!(urllib(first, "GET", "/metrics").0, 200);
    // A connection open before the move is served to its end.
    let mut before = TcpStream::connect(("127.0.0.1", first)).unwrap();
    // Moved.
    let second = free_port();
    write(&format!("metrics: 127.0.0.1:{second}\n{TASKS}"));
    let reply = sup.ok("reload");
    assert!(
        reply.contains(&format!("metrics: on 127.0.0.1:{second}")),
        "{reply}"
    );
    let (code, body) = urllib(second, "GET", "/metrics");
    assert_eq!(code, 200);
    assert!(body.contains("taskmaster_processes"), "{body}");
    assert!(!listening(first), "the old address is let go of");
    before
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let reply = read_until_closed(&mut before, Duration::from_secs(10)).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    // A taken address fails the reload; the endpoint stays where it was.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let third = taken.local_addr().unwrap().port();
    write(&format!("metrics: 127.0.0.1:{third}\n{TASKS}"));
    let (ok, reply) = sup.cmd("reload");
    assert!(!ok, "{reply}");
    assert!(
        reply.starts_with("reload failed, nothing changed:\nmetrics 127.0.0.1:"),
        "{reply}"
    );
    assert_eq!(urllib(second, "GET", "/metrics").0, 200);
    drop(taken);
    // Removed.
    write(TASKS);
    let reply = sup.ok("reload");
    assert!(reply.contains("\nmetrics: off"), "{reply}");
    assert!(!listening(second));
    assert_eq!(sup.running_pid("web_1"), web, "no process touched");
}
