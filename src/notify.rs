//! The sd_notify readiness socket: one non-blocking datagram socket in the
//! abstract namespace, owned by the supervisor and given to `notify: true`
//! processes as `NOTIFY_SOCKET`. The kernel stamps each datagram with its
//! sender's credentials (`SO_PASSCRED`, `SCM_CREDENTIALS`), so the
//! supervisor maps a message to a process by the sender's process group and
//! ignores strangers; a sender already reaped when its message is read has
//! no group left, and counts only through `MAINPID=`. Messages are newline-separated `KEY=VALUE` lines; a
//! datagram larger than [`MESSAGE_MAX`], not UTF-8 or not `KEY=VALUE` is
//! dropped and counted. File descriptors that come along (systemd-notify's
//! `BARRIER=1` sends one and waits until it is closed) are closed once the
//! datagram before them has been handled. Never blocks.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    self, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, sockopt,
};

/// The largest message accepted, in bytes (what systemd accepts too).
pub const MESSAGE_MAX: usize = 4096;

/// What one notify message says; unknown keys are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// `READY=1`.
    pub ready: bool,
    /// `STATUS=text`.
    pub status: Option<String>,
    /// `WATCHDOG=1`.
    pub watchdog: bool,
    /// `MAINPID=N`: the process the sender speaks for (a positive pid;
    /// another value is ignored).
    pub main_pid: Option<i32>,
}

/// Parses one datagram.
///
/// Fails (returns `None`) for text that is not UTF-8 or a line that is not
/// `KEY=VALUE`.
pub fn parse(data: &[u8]) -> Option<Message> {
    let text = std::str::from_utf8(data).ok()?;
    let mut m = Message::default();
    let mut any = false;
    for line in text.split('\n') {
        if line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=')?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return None;
        }
        any = true;
        match (key, value) {
            ("READY", "1") => m.ready = true,
            ("STATUS", v) => m.status = Some(v.to_string()),
            ("WATCHDOG", "1") => m.watchdog = true,
            ("MAINPID", v) => m.main_pid = v.parse().ok().filter(|&p: &i32| p > 0),
            _ => {}
        }
    }
    any.then_some(m)
}

/// One datagram as received.
#[derive(Debug)]
pub enum Datagram {
    /// A well-formed message from the process `pid`, run as `uid`. `fds`
    /// came along; drop them once the message is handled.
    Message {
        pid: i32,
        uid: u32,
        message: Message,
        fds: Vec<OwnedFd>,
    },
    /// Too large, malformed, or without credentials: dropped.
    Dropped,
}

/// The supervisor's notify socket.
#[derive(Debug)]
pub struct NotifySocket {
    fd: OwnedFd,
    /// The `NOTIFY_SOCKET` value: `@` and the abstract name.
    address: String,
    buf: Vec<u8>,
}

impl NotifySocket {
    /// Binds a fresh abstract datagram socket named after our pid and
    /// `salt` (tried with increasing salts if taken).
    ///
    /// Fails when no socket can be made or bound.
    pub fn bind(salt: u64) -> io::Result<NotifySocket> {
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        socket::setsockopt(&fd, sockopt::PassCred, &true)?;
        let mut last = io::Error::from(io::ErrorKind::AddrInUse);
        for n in 0..16u64 {
            let name = format!(
                "taskmaster/notify/{}/{:x}",
                std::process::id(),
                salt.wrapping_add(n)
            );
            let addr = UnixAddr::new_abstract(name.as_bytes())?;
            match socket::bind(fd.as_raw_fd(), &addr) {
                Ok(()) => {
                    return Ok(NotifySocket {
                        fd,
                        address: format!("@{name}"),
                        buf: vec![0; MESSAGE_MAX + 1],
                    });
                }
                Err(nix::errno::Errno::EADDRINUSE) => last = nix::errno::Errno::EADDRINUSE.into(),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last)
    }

    /// The value of `NOTIFY_SOCKET` for children.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The fd, to register with the loop (readable).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Receives the next datagram; `Ok(None)` when none is waiting.
    ///
    /// Fails only for errors of the socket itself.
    pub fn recv(&mut self) -> io::Result<Option<Datagram>> {
        let mut cmsg = nix::cmsg_space!(libc::ucred, [RawFd; 16]);
        loop {
            let mut iov = [IoSliceMut::new(&mut self.buf)];
            let r = socket::recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_TRUNC,
            );
            let msg = match r {
                Ok(m) => m,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let mut cred = None;
            let mut fds = Vec::new();
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::ScmCredentials(c) => cred = Some((c.pid(), c.uid())),
                        ControlMessageOwned::ScmRights(list) => {
                            // nix hands the fds over raw. rustix's recvmsg
                            // would own them, but its credentials hold a
                            // non-zero pid, and the kernel reports 0 for a
                            // sender outside our pid namespace.
                            // SAFETY: the kernel just installed these fds
                            // in our table; nobody else owns them.
                            fds.extend(
                                list.into_iter().map(|f| unsafe { OwnedFd::from_raw_fd(f) }),
                            );
                        }
                        _ => {}
                    }
                }
            }
            let bytes = msg.bytes;
            let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC) || bytes > MESSAGE_MAX;
            let parsed = (!truncated).then(|| parse(&self.buf[..bytes])).flatten();
            return Ok(Some(match (cred, parsed) {
                (Some((pid, uid)), Some(message)) if pid > 0 => Datagram::Message {
                    pid,
                    uid,
                    message,
                    fds,
                },
                _ => Datagram::Dropped,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn parses_messages() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=Accepting connections\n"),
            Some(Message {
                ready: true,
                status: Some("Accepting connections".into()),
                ..Message::default()
            })
        );
        assert_eq!(
            parse(b"WATCHDOG=1"),
            Some(Message {
                watchdog: true,
                ..Message::default()
            })
        );
        assert_eq!(
            parse(b"MAINPID=7\nBARRIER=1\n"),
            Some(Message {
                main_pid: Some(7),
                ..Message::default()
            })
        );
        for bad in [&b"MAINPID=0"[..], b"MAINPID=-3", b"MAINPID=x", b"MAINPID="] {
            assert_eq!(parse(bad), Some(Message::default()), "{bad:?}");
        }
        assert_eq!(parse(b"READY=0"), Some(Message::default()));
        assert_eq!(
            parse(b"STATUS=a=b"),
            Some(Message {
                status: Some("a=b".into()),
                ..Message::default()
            })
        );
        assert_eq!(parse(b""), None);
        assert_eq!(parse(b"hello"), None);
        assert_eq!(parse(b"READY=1\ngarbage"), None);
        assert_eq!(parse(b"ready=1"), None);
        assert_eq!(parse(b"\xff\xfe=1"), None);
    }

    fn sender(sock: &NotifySocket) -> (UnixDatagram, std::os::unix::net::SocketAddr) {
        use std::os::linux::net::SocketAddrExt;
        let name = sock.address().strip_prefix('@').unwrap();
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).unwrap();
        (UnixDatagram::unbound().unwrap(), addr)
    }

    #[test]
    fn receives_with_the_senders_pid_and_drops_bad_datagrams() {
        let mut sock = NotifySocket::bind(1).unwrap();
        assert!(sock.address().starts_with("@taskmaster/notify/"));
        assert!(sock.recv().unwrap().is_none());
        let (tx, addr) = sender(&sock);
        tx.send_to_addr(b"READY=1\nSTATUS=up", &addr).unwrap();
        tx.send_to_addr(&vec![b'A'; MESSAGE_MAX + 10], &addr)
            .unwrap();
        tx.send_to_addr(b"not a message", &addr).unwrap();
        match sock.recv().unwrap() {
            Some(Datagram::Message {
                pid,
                uid,
                message,
                fds,
            }) => {
                assert_eq!(pid, std::process::id() as i32);
                assert!(message.ready);
                assert_eq!(message.status.as_deref(), Some("up"));
                assert_eq!(uid, nix::unistd::getuid().as_raw());
                assert!(fds.is_empty());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(sock.recv().unwrap(), Some(Datagram::Dropped)));
        assert!(matches!(sock.recv().unwrap(), Some(Datagram::Dropped)));
        assert!(sock.recv().unwrap().is_none());
    }

    #[test]
    fn a_second_socket_gets_another_name() {
        let a = NotifySocket::bind(7).unwrap();
        let b = NotifySocket::bind(7).unwrap();
        assert_ne!(a.address(), b.address());
    }
}
