//! `tcp` and `http` checks as non-blocking sockets: a `Probe` is made with a
//! non-blocking connect, the supervisor registers its stream with mio and
//! calls `advance` on each readiness event until it passes or fails; the
//! timeout is the supervisor's deadline, after which it drops the probe. An
//! `http` probe writes `GET` with `Host` and `Connection: close` and reads
//! at most [`HEAD_MAX`] bytes: enough for the status line, which `httparse`
//! judges; a body, however long, is never read. Never blocks, never reads
//! the clock, never resolves a name (the config holds addresses).

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use mio::net::TcpStream;

/// The most response bytes an http probe reads before it must have seen a
/// whole status line.
pub const HEAD_MAX: usize = 8 * 1024;

/// Where a probe is.
#[derive(Debug)]
enum Phase {
    Connecting,
    /// Writing the request, from this offset.
    Writing(usize),
    Reading,
}

/// How a probe stands after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Wait for the next readiness event (or the timeout).
    Pending,
    Passed,
    /// Failed, with a one-line reason.
    Failed(String),
}

/// One check in flight over a non-blocking TCP socket.
#[derive(Debug)]
pub struct Probe {
    stream: TcpStream,
    phase: Phase,
    request: Vec<u8>,
    /// Response bytes read so far (at most [`HEAD_MAX`]).
    head: Vec<u8>,
    http: bool,
}

impl Probe {
    /// Starts a non-blocking connect for a `tcp` check.
    ///
    /// Fails when no socket can be made or the connect fails at once (e.g.
    /// no route); a refused connection shows up later through `advance`.
    pub fn tcp(addr: SocketAddr) -> io::Result<Probe> {
        Probe::start(addr, Vec::new(), false)
    }

    /// Starts an `http` check: `GET path` with `Host: host`, once connected.
    ///
    /// Fails like [`Probe::tcp`].
    pub fn http(addr: SocketAddr, host: &str, path: &str) -> io::Result<Probe> {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: taskmaster\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        Probe::start(addr, request.into_bytes(), true)
    }

    fn start(addr: SocketAddr, request: Vec<u8>, http: bool) -> io::Result<Probe> {
        Ok(Probe {
            stream: TcpStream::connect(addr)?,
            phase: Phase::Connecting,
            request,
            head: Vec::new(),
            http,
        })
    }

    /// The socket, to register with mio (readable and writable).
    pub fn source(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Moves the probe on after a readiness event, as far as it goes
    /// without blocking.
    pub fn advance(&mut self) -> Outcome {
        loop {
            match self.phase {
                Phase::Connecting => {
                    match self.stream.take_error() {
                        Ok(Some(e)) | Err(e) => return Outcome::Failed(connect_failed(&e)),
                        Ok(None) => {}
                    }
                    match self.stream.peer_addr() {
                        Ok(_) => {}
                        Err(e)
                            if e.kind() == io::ErrorKind::NotConnected
                                || e.raw_os_error() == Some(libc::EINPROGRESS) =>
                        {
                            return Outcome::Pending;
                        }
                        Err(e) => return Outcome::Failed(connect_failed(&e)),
                    }
                    if !self.http {
                        return Outcome::Passed;
                    }
                    self.phase = Phase::Writing(0);
                }
                Phase::Writing(done) => match self.stream.write(&self.request[done..]) {
                    Ok(n) if done + n >= self.request.len() => self.phase = Phase::Reading,
                    Ok(n) => self.phase = Phase::Writing(done + n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Pending,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Outcome::Failed(format!("cannot send the request: {e}")),
                },
                Phase::Reading => {
                    let mut buf = [0u8; 2048];
                    let room = (HEAD_MAX - self.head.len()).min(buf.len());
                    match self.stream.read(&mut buf[..room]) {
                        Ok(0) => {
                            return judge(&self.head).unwrap_or_else(|| {
                                Outcome::Failed(if self.head.is_empty() {
                                    "connection closed with no response".to_string()
                                } else {
                                    "connection closed before a whole status line".to_string()
                                })
                            });
                        }
                        Ok(n) => {
                            self.head.extend_from_slice(&buf[..n]);
                            if let Some(done) = judge(&self.head) {
                                return done;
                            }
                            if self.head.len() >= HEAD_MAX {
                                return Outcome::Failed(format!(
                                    "no status line in the first {HEAD_MAX} bytes"
                                ));
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Outcome::Pending,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Outcome::Failed(format!("cannot read the response: {e}")),
                    }
                }
            }
        }
    }
}

fn connect_failed(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => format!("cannot connect: {}", nix::errno::Errno::from_raw(n).desc()),
        None => format!("cannot connect: {e}"),
    }
}

/// The verdict on the response bytes read so far, once the status line is
/// whole; `None` while it is not.
pub fn judge(head: &[u8]) -> Option<Outcome> {
    let mut headers = [httparse::EMPTY_HEADER; 0];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(head) {
        // Headers past the status line are not needed: with none allowed,
        // httparse stops at the first one.
        Ok(_) | Err(httparse::Error::TooManyHeaders) => {}
        Err(e) => return Some(Outcome::Failed(format!("not an HTTP response: {e}"))),
    }
    let code = resp.code?;
    Some(if (200..400).contains(&code) {
        Outcome::Passed
    } else {
        let reason = resp.reason.unwrap_or("").trim();
        Outcome::Failed(if reason.is_empty() {
            format!("HTTP status {code}")
        } else {
            format!("HTTP status {code} {reason}")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    #[test]
    fn judges_status_lines() {
        assert_eq!(judge(b"HTTP/1.1 20"), None);
        assert_eq!(judge(b"HTTP/1.1"), None);
        assert_eq!(judge(b"HTTP/1.0 200 OK\r\n"), Some(Outcome::Passed));
        assert_eq!(
            judge(b"HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n"),
            Some(Outcome::Passed)
        );
        assert_eq!(
            judge(b"HTTP/1.1 503 Service Unavailable\r\nX: y\r\n"),
            Some(Outcome::Failed(
                "HTTP status 503 Service Unavailable".into()
            ))
        );
        assert_eq!(
            judge(b"HTTP/1.1 404 \r\n"),
            Some(Outcome::Failed("HTTP status 404".into()))
        );
        assert!(matches!(
            judge(b"SSH-2.0-OpenSSH\r\n"),
            Some(Outcome::Failed(r)) if r.starts_with("not an HTTP response")
        ));
    }

    /// Drives a probe with a real mio poll until it ends or `limit` passes.
    fn drive(start: impl FnOnce() -> io::Result<Probe>, limit: Duration) -> Outcome {
        let mut poll = mio::Poll::new().unwrap();
        let mut probe = start().unwrap();
        poll.registry()
            .register(
                probe.source(),
                mio::Token(0),
                mio::Interest::READABLE | mio::Interest::WRITABLE,
            )
            .unwrap();
        let mut events = mio::Events::with_capacity(8);
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Outcome::Pending;
            }
            poll.poll(&mut events, Some(left)).unwrap();
            if events.is_empty() {
                continue;
            }
            match probe.advance() {
                Outcome::Pending => {}
                done => return done,
            }
        }
    }

    #[test]
    fn tcp_probe_passes_on_accept_and_fails_on_refusal() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        assert_eq!(
            drive(|| Probe::tcp(addr), Duration::from_secs(5)),
            Outcome::Passed
        );
        drop(l);
        assert_eq!(
            drive(|| Probe::tcp(addr), Duration::from_secs(5)),
            Outcome::Failed("cannot connect: Connection refused".into())
        );
    }

    fn serve(
        reply: &'static [u8],
        then_hold: bool,
    ) -> (SocketAddr, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(reply).unwrap();
            if then_hold {
                // A body that never ends: keep writing until the peer goes.
                let chunk = vec![b'x'; 64 * 1024];
                while s.write_all(&chunk).is_ok() {}
            }
            req
        });
        (addr, h)
    }

    #[test]
    fn http_probe_sends_host_and_close_and_reads_only_the_head() {
        let (addr, server) = serve(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", true);
        let target = || Probe::http(addr, &addr.to_string(), "/healthz");
        assert_eq!(drive(target, Duration::from_secs(5)), Outcome::Passed);
        let req = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(req.starts_with("GET /healthz HTTP/1.1\r\n"), "{req}");
        assert!(req.contains(&format!("\r\nHost: {addr}\r\n")), "{req}");
        assert!(req.contains("\r\nConnection: close\r\n"), "{req}");
    }

    #[test]
    fn http_probe_fails_on_5xx_and_on_a_silent_close() {
        let (addr, server) = serve(b"HTTP/1.1 500 Internal Server Error\r\n\r\n", false);
        let target = || Probe::http(addr, "x", "/");
        assert_eq!(
            drive(target, Duration::from_secs(5)),
            Outcome::Failed("HTTP status 500 Internal Server Error".into())
        );
        server.join().unwrap();
        let (addr, server) = serve(b"", false);
        let target = || Probe::http(addr, "x", "/");
        assert_eq!(
            drive(target, Duration::from_secs(5)),
            Outcome::Failed("connection closed with no response".into())
        );
        server.join().unwrap();
    }

    #[test]
    fn http_probe_to_a_silent_server_stays_pending() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let target = || Probe::http(addr, "x", "/");
        assert_eq!(drive(target, Duration::from_millis(300)), Outcome::Pending);
        drop(l);
    }
}
