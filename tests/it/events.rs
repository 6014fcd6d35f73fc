//! `events`: one JSON object per line for every state change, streamed to
//! control-socket clients until they go away; a reader that stalls gets
//! lines dropped and one marker, never a stalled supervisor.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::harness::*;

/// A client subscribed to `events` through the raw socket.
struct Subscriber {
    reader: BufReader<UnixStream>,
}

impl Subscriber {
    fn new(sup: &Sup) -> Subscriber {
        let mut s = UnixStream::connect(&sup.socket).unwrap();
        s.write_all(b"events\n").unwrap();
        s.set_read_timeout(Some(secs(10))).unwrap();
        let mut reader = BufReader::new(s);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert_eq!(status, "0\n");
        Subscriber { reader }
    }

    fn next_line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("an event in time");
        assert!(n > 0, "stream ended");
        line
    }

    /// Reads events until one satisfies `f`; returns all read.
    fn until(&mut self, f: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let line = self.next_line();
            let v: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
            let done = f(&v);
            seen.push(v);
            if done {
                return seen;
            }
        }
    }
}

fn is(v: &Value, name: &str, from: &str, to: &str) -> bool {
    v["name"] == name && v["from"] == from && v["to"] == to
}

#[test]
fn state_changes_stream_as_json_lines() {
    let sup = Sup::start(
        "events-basic",
        "tasks:
  web:
    command: sleep 1000
    successfulStartTimeout: 0.2
",
    );
    let pid = sup.running_pid("web");
    let mut sub = Subscriber::new(&sup);
    kill(pid, libc::SIGKILL);
    // A life this short is restarted after a delay (BACKOFF).
    let seen = sub.until(|v| v["name"] == "web" && v["from"] == "RUNNING");
    let exit = seen.last().unwrap();
    assert!(exit["to"] == "BACKOFF" || exit["to"] == "EXITED", "{exit}");
    assert_eq!(exit["task"], "web");
    assert_eq!(exit["pid"], pid);
    assert_eq!(exit["exit_code"], 137);
    assert_eq!(exit["health"], Value::Null);
    let time = exit["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && &time[10..11] == "T",
        "{time}"
    );
    let spawn = sub.until(|v| v["name"] == "web" && v["to"] == "STARTED");
    let new_pid = spawn.last().unwrap()["pid"].as_i64().unwrap();
    assert_ne!(new_pid, pid as i64);
    sub.until(|v| is(v, "web", "STARTED", "RUNNING"));
    sup.ok("stop web");
    sub.until(|v| is(v, "web", "RUNNING", "STOPPING"));
    let stopped = sub.until(|v| is(v, "web", "STOPPING", "STOPPED"));
    assert_eq!(stopped.len(), 1, "{stopped:?}");
}

#[test]
fn fatal_carries_its_reason() {
    let sup = Sup::start(
        "events-fatal",
        "tasks:
  bad:
    command: /nonexistent/program
    autoLaunch: false
",
    );
    let mut sub = Subscriber::new(&sup);
    sup.cmd("start bad");
    let seen = sub.until(|v| v["name"] == "bad" && v["to"] == "FATAL");
    let fatal = seen.last().unwrap();
    assert!(
        fatal["reason"]
            .as_str()
            .unwrap()
            .contains("No such file or directory"),
        "{fatal}"
    );
    assert_eq!(fatal["pid"], Value::Null);
}

#[test]
fn ctl_events_streams_until_interrupted() {
    let sup = Sup::start(
        "events-ctl",
        "tasks:
  a:
    command: sleep 1000
    successfulStartTimeout: 0
",
    );
    sup.running_pid("a");
    let mut child = Command::new(BIN)
        .args(["ctl", "--socket"])
        .arg(&sup.socket)
        .arg("events")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // ctl may not be subscribed yet when a restart happens: restart until
    // one shows in the stream.
    wait_until(secs(20), "the restart's events", || {
        sup.ok("restart a");
        while let Ok(line) = rx.recv_timeout(std::time::Duration::from_millis(500)) {
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["to"] == "STOPPING" {
                return true;
            }
        }
        false
    });
    kill(child.id() as i32, libc::SIGINT);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    // The supervisor saw the client go and goes on serving.
    sup.ok("status");
}

#[test]
fn events_in_the_shell_point_to_the_socket() {
    let mut sup = Sup::start_shell("events-shell", "tasks:\n  a:\n    command: sleep 1000\n");
    sup.send("events");
    sup.wait_stdout("taskmaster ctl events", secs(5));
}

#[test]
fn a_stalled_reader_gets_a_marker_and_a_reading_one_loses_nothing() {
    let sup = Sup::start(
        "events-slow",
        "tasks:
  w:
    command: sleep 1000
    instances: 40
    successfulStartTimeout: 0
    gracefulStopTimeout: 5
",
    );
    wait_until(secs(20), "all running", || {
        sup.status().iter().all(|r| r["state"] == "RUNNING")
    });
    // Subscribed, never read: its queue fills.
    let mut stalled = UnixStream::connect(&sup.socket).unwrap();
    stalled.write_all(b"events\n").unwrap();
    let reader = Subscriber::new(&sup);
    // The reader reads on another thread, counting what it gets.
    let counted = std::thread::spawn(move || {
        let mut reader = reader;
        let mut changes = 0;
        loop {
            let line = reader.next_line();
            let v: Value = serde_json::from_str(&line).unwrap();
            assert!(v["from"].is_string(), "{line}");
            changes += 1;
            if v["name"] == "done" {
                return changes;
            }
        }
    });
    // 40 processes x 3 changes x ~200 bytes per restart.
    // Past the socket buffers and the 256 KiB queue.
    let rounds = 40;
    for _ in 0..rounds {
        let t = Instant::now();
        sup.ok("restart w");
        assert!(t.elapsed() < secs(10));
    }
    // A last change marks the end for the reader.
    std::fs::write(
        &sup.config,
        "tasks:\n  w:\n    command: sleep 1000\n    instances: 40\n    successfulStartTimeout: 0\n  done:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    )
    .unwrap();
    sup.ok("reload");
    let changes = counted.join().unwrap();
    // Each restart: RUNNING->STOPPING, STOPPING->STOPPED, STOPPED->RUNNING.
    assert_eq!(changes, rounds * 40 * 3 + 1, "no change lost to a reader");

    // The stalled one: whole lines, then a marker, then the newest.
    // It reads what is queued, until nothing more comes for a second.
    stalled
        .set_read_timeout(Some(std::time::Duration::from_secs(1)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + secs(20);
    while Instant::now() < deadline {
        match stalled.read(&mut buf) {
            // A read with a timeout is not restarted after the test was
            // stopped and continued (or frozen and thawed): it says EINTR.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8(got).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"));
    let mut marker = None;
    for l in lines {
        if l.starts_with("[... ") {
            marker = Some(l.to_string());
        } else {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}"));
        }
    }
    let marker = marker.expect("a drop marker");
    assert!(marker.ends_with(" lines dropped]"), "{marker}");
    // The queue (256 KiB) and the kernel's socket buffers, no more.
    assert!(text.len() < 1024 * 1024, "{} bytes", text.len());
}

#[test]
fn a_reading_client_loses_nothing_of_a_stop_of_thousands() {
    // Stopping 2000 processes makes 2000 changes to STOPPING in one loop
    // turn, about 360 KiB of JSON: more than the 256 KiB queue holds, and
    // far more than the queue beside the pipe of a `ctl events`. They go on
    // to the socket or the pipe as the queue grows, where a reader takes
    // them.
    let n = 2000;
    let sup = Sup::start(
        "events-burst",
        &format!(
            "tasks:\n  w:\n    command: sleep 1000\n    instances: {n}\n    successfulStartTimeout: 0\n    gracefulStopTimeout: 10\n  probe:\n    command: sleep 1000\n    successfulStartTimeout: 0\n"
        ),
    );
    sup.wait_running(n + 1, secs(60));
    let count = move |next: &mut dyn FnMut() -> String| {
        let (mut stopping, mut stopped) = (0, 0);
        while stopped < n {
            let line = next();
            // Ends the count (instead of waiting for lines that will not
            // come) on the first loss.
            if line.starts_with("[... ") {
                return Err(line);
            }
            let v: Value = serde_json::from_str(&line).unwrap();
            let name = v["name"].as_str().unwrap();
            if name.starts_with("w_") && is(&v, name, "RUNNING", "STOPPING") {
                stopping += 1;
            }
            if name.starts_with("w_") && v["to"] == "STOPPED" {
                stopped += 1;
            }
        }
        Ok(stopping)
    };
    let mut socket = Subscriber::new(&sup);
    let on_socket = std::thread::spawn(move || count(&mut || socket.next_line()));
    let mut ctl = Command::new(BIN)
        .arg("ctl")
        .arg("--socket")
        .arg(&sup.socket)
        .arg("events")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(ctl.stdout.take().unwrap());
    let (seen, heard) = std::sync::mpsc::channel();
    let (tell, counted) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let got = count(&mut || {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            let _ = seen.send(());
            line
        });
        let _ = tell.send(got);
    });
    wait_until(secs(20), "ctl events subscribed", || {
        sup.ok("restart probe");
        heard.recv_timeout(secs(1)).is_ok()
    });
    sup.ok("stop w");
    assert_eq!(on_socket.join().unwrap(), Ok(n), "on the socket");
    // A reader that waits for lines that never come fails, not hangs.
    let on_pipe = counted.recv_timeout(secs(60));
    let _ = ctl.kill();
    let _ = ctl.wait();
    assert_eq!(on_pipe, Ok(Ok(n)), "through ctl's pipe");
}

#[test]
fn the_end_of_a_stop_carries_the_exit_code() {
    let sup = Sup::start(
        "events-stop-exit",
        "tasks:
  plain:
    command: sleep 1000
    successfulStartTimeout: 0.2
  trapper:
    command: sh -c 'trap \"exit 7\" TERM; echo ready; while :; do sleep 0.05; done'
    successfulStartTimeout: 0.2
",
    );
    sup.running_pid("plain");
    sup.running_pid("trapper");
    wait_until(secs(10), "the trap is set", || {
        sup.ok("logs trapper").contains("ready")
    });
    let mut sub = Subscriber::new(&sup);
    sup.ok("stop plain");
    let seen = sub.until(|v| is(v, "plain", "STOPPING", "STOPPED"));
    assert_eq!(seen.last().unwrap()["exit_code"], 143, "{seen:?}");
    sup.ok("stop trapper");
    let seen = sub.until(|v| is(v, "trapper", "STOPPING", "STOPPED"));
    assert_eq!(seen.last().unwrap()["exit_code"], 7, "{seen:?}");
}
