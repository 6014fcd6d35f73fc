//! The metrics endpoint (`metrics: ADDRESS:PORT`): a non-blocking TCP
//! listener and its connections, served by the event loop like every other
//! fd. One request per connection: the head is parsed with `httparse`,
//! `GET /metrics` gets the exposition, other paths 404, other methods 405,
//! a head over 8 KiB 431, then the connection closes. A connection has
//! `IDLE` to send its request and take the reply; at most `MAX_CONNS` are
//! open (the next ones get 503 and are closed).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use slab::Slab;

/// The largest request head accepted.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a connection may take to send its request and read the reply.
pub const IDLE: Duration = Duration::from_secs(10);
/// The most connections open at once.
pub const MAX_CONNS: usize = 64;
/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct HttpConn {
    stream: TcpStream,
    input: Vec<u8>,
    /// The response's head and body; `written` counts over both.
    head: Vec<u8>,
    body: Vec<u8>,
    written: usize,
    /// When it is closed, reply written or not.
    close_at: Instant,
    replying: bool,
}

/// The listener and its open connections.
pub struct HttpServer {
    listener: TcpListener,
    conns: Slab<HttpConn>,
}

/// What a request asks for, once its head is complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics` (or `HEAD`): the exposition.
    Metrics { head_only: bool },
    /// A reply with no exposition: status line and a one-line body.
    Status(u16, &'static str),
}

/// Decides what the bytes received so far ask for; `None` while the head
/// is incomplete and still within `MAX_HEAD`.
pub fn route(input: &[u8]) -> Option<Route> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n > MAX_HEAD => {
            Some(Route::Status(431, "Request Header Fields Too Large"))
        }
        Ok(httparse::Status::Complete(_)) => {
            let path = req.path.unwrap_or("");
            let path = path.split_once('?').map_or(path, |(p, _)| p);
            let head_only = match req.method {
                Some("GET") => false,
                Some("HEAD") => true,
                _ => return Some(Route::Status(405, "Method Not Allowed")),
            };
            if path == "/metrics" {
                Some(Route::Metrics { head_only })
            } else {
                Some(Route::Status(404, "Not Found"))
            }
        }
        Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
            Some(Route::Status(431, "Request Header Fields Too Large"))
        }
        Ok(httparse::Status::Partial) => None,
        Err(httparse::Error::TooManyHeaders) => {
            Some(Route::Status(431, "Request Header Fields Too Large"))
        }
        Err(_) => Some(Route::Status(400, "Bad Request")),
    }
}

/// The whole response for `route`; `metrics` renders the exposition.
pub fn response(route: &Route, metrics: &mut dyn FnMut() -> String) -> Vec<u8> {
    let (mut head, body) = response_parts(route, metrics);
    head.extend_from_slice(&body);
    head
}

/// The response for `route` as its head and its body, so that a large
/// body is sent from where it was rendered, never copied behind the head.
pub fn response_parts(route: &Route, metrics: &mut dyn FnMut() -> String) -> (Vec<u8>, Vec<u8>) {
    let (code, reason, body, head_only, ctype) = match route {
        Route::Metrics { head_only } => (200, "OK", metrics(), *head_only, CONTENT_TYPE),
        Route::Status(code, reason) => (
            *code,
            *reason,
            format!("{reason}\n"),
            false,
            "text/plain; charset=utf-8",
        ),
    };
    let allow = if *route == Route::Status(405, "Method Not Allowed") {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    let body = if head_only {
        Vec::new()
    } else {
        body.into_bytes()
    };
    (head, body)
}

impl HttpServer {
    /// Binds `addr` (non-blocking, close-on-exec, SO_REUSEADDR).
    pub fn bind(addr: SocketAddr) -> io::Result<HttpServer> {
        Ok(HttpServer {
            listener: TcpListener::bind(addr)?,
            conns: Slab::new(),
        })
    }

    /// A server listening on `listener` (bound already).
    pub fn with_listener(listener: TcpListener) -> HttpServer {
        HttpServer {
            listener,
            conns: Slab::new(),
        }
    }

    /// Listens on `listener` from now on; connections already open are
    /// served to their end. Returns the old listener.
    pub fn set_listener(&mut self, listener: TcpListener) -> TcpListener {
        std::mem::replace(&mut self.listener, listener)
    }

    /// The address it listens on (the port, when 0 was asked for).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The listener, to register with the loop.
    pub fn listener(&mut self) -> &mut TcpListener {
        &mut self.listener
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Accepts every pending connection and registers it with the token
    /// `token(key)`. Returns the deadlines to arm: (key, close_at).
    pub fn accept(
        &mut self,
        reg: &Registry,
        token: impl Fn(usize) -> Token,
        now: Instant,
    ) -> Vec<(usize, Instant)> {
        let mut armed = Vec::new();
        loop {
            let mut stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock, or out of fds: the next wake-up tries again.
                Err(_) => return armed,
            };
            if self.conns.len() >= MAX_CONNS {
                // A fresh socket's buffer takes this at once; then close.
                let _ = stream.write(&response(
                    &Route::Status(503, "Service Unavailable"),
                    &mut String::new,
                ));
                continue;
            }
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            if reg
                .register(
                    &mut stream,
                    token(key),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            let close_at = now + IDLE;
            entry.insert(HttpConn {
                stream,
                input: Vec::new(),
                head: Vec::new(),
                body: Vec::new(),
                written: 0,
                close_at,
                replying: false,
            });
            // Data that came before registration is reported by epoll
            // at registration: nothing is read here.
            armed.push((key, close_at));
        }
    }

    /// Connection `key` is readable or writable: reads the request, answers
    /// it once complete, writes what the socket takes, closes when done.
    pub fn ready(&mut self, key: usize, reg: &Registry, metrics: &mut dyn FnMut() -> String) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if !c.replying {
            let mut buf = [0u8; 4096];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        // The client gave up before a whole head.
                        return self.close(key, reg);
                    }
                    Ok(n) => {
                        c.input.extend_from_slice(&buf[..n]);
                        if c.input.len() > MAX_HEAD {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return self.close(key, reg),
                }
            }
            let Some(r) = route(&c.input) else { return };
            (c.head, c.body) = response_parts(&r, metrics);
            c.replying = true;
            c.input = Vec::new();
        }
        let written =
            crate::outbox::write_head_and_body(&mut c.stream, &c.head, &c.body, &mut c.written);
        if written.is_ok_and(|all| !all) {
            return;
        }
        self.close(key, reg);
    }

    /// Whether the deadline `at` of connection `key` still stands.
    pub fn deadline_stands(&self, key: usize, at: Instant) -> bool {
        self.conns.get(key).is_some_and(|c| c.close_at == at)
    }

    /// Closes connection `key` (its deadline passed, or it is done).
    pub fn close(&mut self, key: usize, reg: &Registry) {
        if let Some(mut c) = self.conns.try_remove(key) {
            let _ = reg.deregister(&mut c.stream);
            let _ = c.stream.shutdown(std::net::Shutdown::Write);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Route::Metrics { head_only: false })
        );
        assert_eq!(
            route(b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
            Some(Route::Metrics { head_only: false })
        );
        assert_eq!(
            route(b"HEAD /metrics HTTP/1.1\r\n\r\n"),
            Some(Route::Metrics { head_only: true })
        );
        assert_eq!(
            route(b"GET / HTTP/1.1\r\n\r\n"),
            Some(Route::Status(404, "Not Found"))
        );
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Some(Route::Status(405, "Method Not Allowed"))
        );
        assert_eq!(route(b"GET /metrics HTTP/1.1\r\nHost:"), None);
        assert_eq!(
            route(b"\x01\x02 nonsense\r\n\r\n"),
            Some(Route::Status(400, "Bad Request"))
        );
    }

    #[test]
    fn oversized_heads_are_refused() {
        let mut head = b"GET /metrics HTTP/1.1\r\nX-Long: ".to_vec();
        head.extend(std::iter::repeat_n(b'a', MAX_HEAD));
        assert_eq!(
            route(&head),
            Some(Route::Status(431, "Request Header Fields Too Large"))
        );
        head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(
            route(&head),
            Some(Route::Status(431, "Request Header Fields Too Large"))
        );
    }

    #[test]
    fn responses_carry_length_type_and_close() {
        let r = response(&Route::Metrics { head_only: false }, &mut || "a 1\n".into());
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(text.contains("Content-Length: 4\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\na 1\n"));
        let r = response(&Route::Status(405, "Method Not Allowed"), &mut String::new);
        let text = String::from_utf8(r).unwrap();
        assert!(text.contains("Allow: GET, HEAD\r\n"), "{text}");
        let head = response(&Route::Metrics { head_only: true }, &mut || "a 1\n".into());
        assert!(String::from_utf8(head).unwrap().ends_with("\r\n\r\n"));
    }
}
