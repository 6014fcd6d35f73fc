//! Real network peers for health checks, on 127.0.0.1 ephemeral ports: a
//! TCP listener (one that can pause, one whose backlog is full) and an
//! HTTP server in python3, each in its own process group, killed by pid on
//! drop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::harness::*;

/// A python3 peer and the port it listens on.
pub struct Peer {
    child: Child,
    pub port: u16,
    /// Where an HTTP peer logs the requests it got, and reads the status
    /// it answers (`status` file, default 200).
    pub dir: PathBuf,
}

const TCP: &str = r#"
import os, socket, sys, time
d = sys.argv[1]
def listen(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    return s
s = listen(0)
port = s.getsockname()[1]
print(port, flush=True)
while True:
    c, _ = s.accept()
    c.close()
    pause = os.path.join(d, "pause")
    if os.path.exists(pause):
        secs = float(open(pause).read())
        os.remove(pause)
        s.close()
        time.sleep(secs)
        s = listen(port)
        with open(os.path.join(d, "resumed"), "a") as f:
            f.write("x\n")
"#;

/// A listener whose accept queue is full and never drained: a connect to
/// it stays pending (the kernel drops its SYN).
const FULL: &str = r#"
import socket, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
port = s.getsockname()[1]
fill = []
for _ in range(2):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fill.append(c)
time.sleep(0.2)
print(port, flush=True)
while True:
    time.sleep(3600)
"#;

const HTTP: &str = r#"
import http.server, os, sys, time
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_GET(self):
        with open(os.path.join(d, "requests.log"), "a") as f:
            f.write(self.requestline + "\n" + str(self.headers) + "\n")
        if self.path == "/silent":
            time.sleep(3600)
            return
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 1024 * 1024))
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(160):
                    self.wfile.write(chunk)
            except OSError:
                pass
            return
        # The status file holds the codes of the next answers: each answer
        # takes the first one, and the last one stays.
        status = os.path.join(d, "status")
        try:
            codes = [int(c) for c in open(status).read().split()]
        except (OSError, ValueError):
            codes = []
        code = codes[0] if codes else 200
        if len(codes) > 1:
            with open(status + ".tmp", "w") as f:
                f.write(" ".join(str(c) for c in codes[1:]))
            os.replace(status + ".tmp", status)
        with open(os.path.join(d, "answers.log"), "a") as f:
            f.write("%d\n" % code)
        body = b"ok\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

impl Peer {
    fn spawn(code: &str, dir: &Path) -> Peer {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(code)
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("peer prints its port");
        Peer {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// A listener that accepts and closes every connection.
    pub fn tcp() -> Peer {
        Peer::spawn(TCP, &test_dir("tcp-peer"))
    }

    /// A listener whose backlog is full: connects to it never complete.
    pub fn full_backlog() -> Peer {
        Peer::spawn(FULL, &test_dir("full-peer"))
    }

    /// Makes a `tcp` peer close its listener for `secs` seconds right
    /// after the next connection it accepts; it appends a line to
    /// `DIR/resumed` once it listens again.
    pub fn pause_after_next(&self, secs: f64) {
        self.write("pause", &secs.to_string());
    }

    /// How many times a `tcp` peer listened again after a pause.
    pub fn resumed(&self) -> usize {
        std::fs::read_to_string(self.dir.join("resumed"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// An HTTP server answering the code in `DIR/status` (200 without),
    /// `/big` with a 10 MB body, `/silent` never; it appends every request
    /// head to `DIR/requests.log`.
    pub fn http() -> Peer {
        Peer::spawn(HTTP, &test_dir("http-peer"))
    }

    /// The request heads received so far.
    pub fn requests(&self) -> String {
        std::fs::read_to_string(self.dir.join("requests.log")).unwrap_or_default()
    }

    /// Sets the status code the HTTP peer answers.
    pub fn answer(&self, code: u16) {
        self.answer_each(&[code]);
    }

    /// Sets the codes of the HTTP peer's next answers, one each; the last
    /// one stays.
    pub fn answer_each(&self, codes: &[u16]) {
        let text: Vec<String> = codes.iter().map(u16::to_string).collect();
        self.write("status", &text.join(" "));
    }

    /// The codes the HTTP peer answered, in order.
    pub fn answers(&self) -> Vec<u16> {
        std::fs::read_to_string(self.dir.join("answers.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }

    /// Replaces a control file at once, so the peer never reads half of it.
    fn write(&self, name: &str, text: &str) {
        let tmp = self.dir.join(format!("{name}.new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.join(name)).unwrap();
    }

    /// Kills the peer now (its port refuses from then on).
    pub fn kill(&mut self) {
        kill(-(self.child.id() as i32), libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago, for a task that listens itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
