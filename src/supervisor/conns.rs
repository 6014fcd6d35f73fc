//! The supervisor's side of control connections: bind the socket at start
//! (a reload that moves it binds it in `reload.rs`), accept (refusing
//! peers of another uid), read one command line, run it, write the reply
//! when it is ready, close. A connection waiting for its reply is never
//! removed, so its slab key cannot pass to another client meanwhile.

use std::time::Instant;

use std::os::fd::AsRawFd;

use mio::unix::SourceFd;
use mio::{Interest, Registry};

use super::{CONN_IDLE, Options, ReplyTo, Source, Supervisor};
use crate::control::{Conn, Listener, Phase};
use crate::error::Error;
use crate::events::What;
use crate::timers::Due;

/// Binds and registers the control socket of `opts`. A default path that
/// cannot be bound gives a warning (the second value) and no socket, and
/// `opts.socket` is cleared whenever there is none.
pub(super) fn open_listener(
    opts: &mut Options,
    reg: &Registry,
) -> Result<(Option<Listener>, Option<String>), Error> {
    let mut warning = None;
    let listener = match &opts.socket {
        Some(path) if opts.socket_explicit => Some(Listener::bind(path)?),
        Some(path) => Listener::bind_default(path)?
            .map_err(|w| warning = Some(w))
            .ok(),
        None => None,
    };
    let listener = match listener {
        Some(mut l) => {
            reg.register(l.source(), Source::Listener.token(), Interest::READABLE)
                .map_err(|e| Error::io("cannot register control socket", e))?;
            Some(l)
        }
        None => {
            opts.socket = None;
            None
        }
    };
    Ok((listener, warning))
}

impl Supervisor {
    /// Accepts every pending connection.
    pub(super) fn accept(&mut self, now: Instant) {
        let our_uid = nix::unistd::geteuid().as_raw();
        loop {
            let Some(listener) = &mut self.listener else {
                return;
            };
            let (mut stream, uid) = match listener.accept() {
                Ok(Some(x)) => x,
                Ok(None) => {
                    let refused = listener.take_refused();
                    if refused > 0 {
                        self.emit_supervisor(What::SocketRefused {
                            detail: format!(
                                "control socket: refused {refused} connection{}: out of file descriptors",
                                if refused == 1 { "" } else { "s" }
                            ),
                        });
                    }
                    return;
                }
                Err(e) => {
                    let msg = format!("control socket: accept failed: {e}");
                    self.notice(&msg);
                    return;
                }
            };
            if uid != our_uid && uid != 0 {
                self.emit_supervisor(What::SocketRefused {
                    detail: format!("refused control connection from uid {uid}"),
                });
                continue;
            }
            let entry = self.conns.vacant_entry();
            let key = entry.key();
            let reg = self.poll.registry();
            if let Err(e) = reg.register(
                &mut stream,
                Source::Conn(key).token(),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                self.notice(&format!("control socket: cannot watch connection: {e}"));
                continue;
            }
            let idle_at = now + CONN_IDLE;
            entry.insert(Conn {
                stream,
                phase: Phase::Reading,
                input: Vec::new(),
                head: b"",
                output: Vec::new(),
                written: 0,
                idle_at,
                gone: false,
                eof: false,
                outbox: Default::default(),
                pipe: None,
            });
            self.timers.push(idle_at, Due::Conn(key));
            // Data may have arrived before registration.
            self.on_conn(key, true, false, now);
        }
    }

    /// A connection became readable or writable.
    pub(super) fn on_conn(&mut self, key: usize, readable: bool, writable: bool, now: Instant) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        match c.phase {
            Phase::Reading if readable => match c.read_request() {
                Ok(Some(line)) => {
                    c.phase = Phase::Waiting;
                    self.execute_line(&line, ReplyTo::Conn(key), now);
                }
                Ok(None) => {
                    if c.gone || c.eof {
                        self.drop_conn(key);
                    }
                }
                Err(e) => {
                    c.phase = Phase::Waiting;
                    self.conn_reply(key, false, format!("error: {e}"));
                }
            },
            Phase::Waiting if readable && !c.eof => {
                // Further input is ignored; only a failed connection
                // matters. An end of input may be a half-close: the reply
                // is still written (and dropped by the kernel if nobody
                // reads it any more).
                let mut buf = [0u8; 512];
                loop {
                    match std::io::Read::read(&mut c.stream, &mut buf) {
                        Ok(0) => {
                            c.eof = true;
                            break;
                        }
                        Ok(_) => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            c.gone = true;
                            break;
                        }
                    }
                }
            }
            Phase::Writing if writable => self.flush_conn(key),
            Phase::Streaming => {
                if writable {
                    self.flush_stream(key);
                }
                if readable {
                    self.read_stream(key);
                }
            }
            Phase::Reading | Phase::Waiting | Phase::Writing => {}
        }
    }

    /// Sends the reply of connection `key`'s command.
    pub(super) fn conn_reply(&mut self, key: usize, ok: bool, text: String) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.gone {
            return self.drop_conn(key);
        }
        // Written from where it was made: a reply of megabytes (`metrics`
        // of 10 000 processes) is not copied behind its first line.
        let mut text = text;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        c.head = if ok { b"0\n" } else { b"1\n" };
        c.output = text.into_bytes();
        c.phase = Phase::Writing;
        self.flush_conn(key);
    }

    /// Writes what the socket takes; closes once the reply is out.
    pub(super) fn flush_conn(&mut self, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.phase == Phase::Writing && c.write_reply() {
            self.drop_conn(key);
        }
    }

    /// Connection `k`'s command streams from now on: lines for as long as
    /// the client stays, after `0 pipe` into the pipe it attached, else
    /// after `0` on the socket. `false` when the client is gone (the
    /// connection is dropped).
    pub(super) fn start_streaming(&mut self, k: usize) -> bool {
        let Some(c) = self.conns.get_mut(k) else {
            return false;
        };
        if c.gone {
            self.drop_conn(k);
            return false;
        }
        c.phase = Phase::Streaming;
        let Some(pipe) = &c.pipe else {
            c.outbox.push_line(&[b"0"]);
            return true;
        };
        // A fresh connection's socket takes one short line at once.
        let head = [crate::control::PIPED, b"\n"].concat();
        let told = rustix::io::write(&c.stream, &head) == Ok(head.len());
        let watched = told
            && self
                .poll
                .registry()
                .register(
                    &mut SourceFd(&pipe.as_raw_fd()),
                    Source::Pipe(k).token(),
                    Interest::WRITABLE,
                )
                .is_ok();
        if !watched {
            self.drop_conn(k);
        }
        watched
    }

    pub(super) fn drop_conn(&mut self, key: usize) {
        if self
            .conns
            .get(key)
            .is_some_and(|c| c.phase == Phase::Streaming)
        {
            self.log_stream_drops(key, true);
        }
        if let Some(mut c) = self.conns.try_remove(key) {
            let reg = self.poll.registry();
            let _ = reg.deregister(&mut c.stream);
            if let Some(pipe) = &c.pipe {
                // Registered once streaming began; an error otherwise.
                let _ = reg.deregister(&mut SourceFd(&pipe.as_raw_fd()));
            }
            if c.phase == Phase::Streaming {
                self.unfollow(super::follow::FollowTo::Conn(key));
                self.unsubscribe(key);
            }
        }
    }
}
