//! The control socket: where it lives, the listener (mode 0600, a live
//! socket at the path refuses the start, a stale one is replaced), one
//! connection's buffers. The supervisor's side of a connection (what a
//! command does) is in `supervisor/conns.rs`; the client is `ctl.rs`.
//!
//! Protocol: the client sends one command line ending in `\n`; the server
//! answers `0\n` (success) or `1\n` (failure), then the reply text, and
//! closes the connection. A streaming command (`logs -f`) answers `0\n`
//! and then lines for as long as the client stays: the connection's
//! `Outbox` bounds what waits for a slow client. A client may attach the
//! write end of a pipe to its command line (SCM_RIGHTS): a streaming
//! command then answers `0 pipe\n` on the socket and sends its lines into
//! the pipe, where the supervisor can hand one block to many followers
//! without copying it for each (`tee(2)`, see `fanout::Fanout`). The
//! socket stays open: its end is the client's end.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, OFlags};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

use crate::error::Error;
use crate::outbox::{Flushed, Outbox};

/// The first line of a streaming reply that goes on in the pipe the client
/// attached (`0` when it goes on on the socket).
pub const PIPED: &[u8] = b"0 pipe";

/// The longest command line accepted.
pub const MAX_REQUEST: usize = 64 * 1024;

/// The control socket path: `--socket`, else `TASKMASTER_SOCKET`, else the
/// config's `socket`, else `$XDG_RUNTIME_DIR/taskmaster.sock`, else
/// `/run/taskmaster.sock` for root, else `/tmp/taskmaster-UID/taskmaster.sock`.
pub fn resolve_path(flag: Option<&Path>, config: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("TASKMASTER_SOCKET").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = config {
        return p.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir).join("taskmaster.sock");
    }
    if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/taskmaster.sock")
    } else {
        private_dir().join("taskmaster.sock")
    }
}

/// The per-user directory of the last-resort socket path.
fn private_dir() -> PathBuf {
    PathBuf::from(format!("/tmp/taskmaster-{}", nix::unistd::geteuid()))
}

/// For a socket in the per-user directory under /tmp: that directory must
/// be a real directory (no symlink), ours, and closed to others, or another
/// user could replace the socket or plant one of their own.
pub fn check_private_dir(socket: &Path) -> Result<(), String> {
    let dir = private_dir();
    if socket.parent() != Some(dir.as_path()) {
        return Ok(());
    }
    let m = std::fs::symlink_metadata(&dir)
        .map_err(|e| format!("{}: {}", dir.display(), crate::text::os_reason(e)))?;
    let ours = m.uid() == nix::unistd::geteuid().as_raw();
    if !m.file_type().is_dir() || !ours || m.mode() & 0o077 != 0 {
        return Err(format!(
            "{}: not a private directory of this user (it must be a directory owned by uid {} with mode 0700)",
            dir.display(),
            nix::unistd::geteuid()
        ));
    }
    Ok(())
}

/// `user 'NAME' (uid N)`, or `uid N` when the user has no name.
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => format!("user '{}' (uid {uid})", u.name),
        _ => format!("uid {uid}"),
    }
}

/// The uid of the process at the other end of a connected socket.
pub(crate) fn peer_uid(s: &impl std::os::fd::AsFd) -> Option<u32> {
    nix::sys::socket::getsockopt(s, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|c| c.uid())
}

/// The listening socket.
pub struct Listener {
    inner: mio::net::UnixListener,
    path: PathBuf,
    ino: u64,
    /// An open file given up when the process runs out of descriptors, so
    /// that a pending connection can still be accepted and told why.
    spare: Option<std::fs::File>,
    /// Connections refused that way since the last `take_refused`.
    refused: usize,
}

/// The reply to a connection refused for want of file descriptors.
const REFUSED: &[u8] = b"1\nerror: taskmaster is out of file descriptors; try again later\n";

fn open_spare() -> Option<std::fs::File> {
    // std opens with O_CLOEXEC.
    std::fs::File::open("/dev/null").ok()
}

impl Listener {
    /// Binds `path` with mode 0600. Fails when another supervisor answers
    /// there, another user's socket takes the path (naming the user), or the
    /// path is something other than a socket.
    pub fn bind(path: &Path) -> Result<Listener, Error> {
        Listener::bind_or_why(path).map_err(|(e, _)| e)
    }

    /// `bind` for a path nobody chose (the default): when the socket cannot
    /// be created (a read-only root filesystem), `Ok(Err(warning))` and the
    /// supervisor runs without one. Other failures stay errors.
    pub fn bind_default(path: &Path) -> Result<Result<Listener, String>, Error> {
        match Listener::bind_or_why(path) {
            Ok(l) => Ok(Ok(l)),
            Err((e, true)) => Ok(Err(format!("{e}; running without a control socket"))),
            Err((e, false)) => Err(e),
        }
    }

    /// Binds `path`; on failure the error and whether it is only that the
    /// socket (or its directory) cannot be created.
    fn bind_or_why(path: &Path) -> Result<Listener, (Error, bool)> {
        let shown = path.display();
        let refuse = |e: Error| (e, false);
        if path.parent().is_some_and(Path::exists) {
            check_private_dir(path)
                .map_err(|e| refuse(Error::Fatal(format!("control socket {shown}: {e}"))))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if m.uid() != nix::unistd::geteuid().as_raw() {
                    return Err(refuse(Error::Fatal(format!(
                        "control socket {shown}: the path is taken by a socket of {}",
                        user_name(m.uid())
                    ))));
                }
                match std::os::unix::net::UnixStream::connect(path) {
                    Ok(s) => {
                        let whose = peer_uid(&s)
                            .filter(|&u| u != nix::unistd::geteuid().as_raw())
                            .map(|u| format!(" (run by {})", user_name(u)))
                            .unwrap_or_default();
                        return Err(refuse(Error::Fatal(format!(
                            "control socket {shown}: another taskmaster is running there{whose}"
                        ))));
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                        std::fs::remove_file(path).map_err(|e| {
                            refuse(Error::io(&format!("cannot remove stale socket {shown}"), e))
                        })?;
                    }
                    Err(e) => return Err(refuse(Error::io(&format!("control socket {shown}"), e))),
                }
            }
            Ok(_) => {
                return Err(refuse(Error::Fatal(format!(
                    "control socket {shown}: the path exists and is not a socket"
                ))));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(refuse(Error::io(&format!("control socket {shown}"), e))),
        }
        if let Some(dir) = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !d.exists())
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    (
                        Error::io(&format!("cannot create {}", dir.display()), e),
                        true,
                    )
                })?;
        }
        // The socket is born 0600: no moment where others could connect.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = mio::net::UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let inner = bound.map_err(|e| {
            (
                Error::io(&format!("cannot bind control socket {shown}"), e),
                true,
            )
        })?;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        let ino = std::fs::symlink_metadata(path)
            .map(|m| m.ino())
            .unwrap_or(0);
        Ok(Listener {
            inner,
            path: path.to_path_buf(),
            ino,
            spare: open_spare(),
            refused: 0,
        })
    }

    /// The mio source to register.
    pub fn source(&mut self) -> &mut mio::net::UnixListener {
        &mut self.inner
    }

    /// Accepts one pending connection with its peer's uid; `Ok(None)` when
    /// none is pending.
    ///
    /// Out of file descriptors (EMFILE, ENFILE), the oldest pending
    /// connection is refused with an error reply (see `take_refused`) and
    /// the next one is tried: left pending, it would wait until another
    /// connection woke the edge-triggered listener. Fails only when even
    /// that is impossible.
    pub fn accept(&mut self) -> io::Result<Option<(mio::net::UnixStream, u32)>> {
        loop {
            match self.inner.accept() {
                Ok((stream, _)) => {
                    match nix::sys::socket::getsockopt(
                        &stream,
                        nix::sys::socket::sockopt::PeerCredentials,
                    ) {
                        Ok(cred) => return Ok(Some((stream, cred.uid()))),
                        // Unknown peer: dropped, and the next one served.
                        Err(_) => continue,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The kernel wants a free descriptor before it even looks
                // at the queue: EMFILE may also mean that none is pending.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                    match self.refuse_one() {
                        Some(true) => continue,
                        Some(false) => return Ok(None),
                        None => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Refuses the oldest pending connection while no descriptor is left:
    /// closes the spare file to accept it, replies with the error, closes
    /// it and takes the spare again. Returns whether one was pending, or
    /// `None` when there is no spare to give up.
    fn refuse_one(&mut self) -> Option<bool> {
        let spare = self.spare.take()?;
        drop(spare);
        let refused = match self.inner.accept() {
            Ok((mut stream, _)) => {
                // A fresh socket's buffer takes these few bytes at once.
                let _ = stream.write(REFUSED);
                // Closing with the request unread would reset the connection
                // and lose the reply: read what came (a line, at most).
                let mut buf = [0u8; 4096];
                let mut left = MAX_REQUEST;
                while left > 0 {
                    match stream.read(&mut buf) {
                        Ok(n) if n > 0 => left = left.saturating_sub(n),
                        _ => break,
                    }
                }
                Some(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(false),
            Err(_) => None,
        };
        self.spare = open_spare();
        self.refused += usize::from(refused == Some(true));
        refused
    }

    /// How many connections were refused for want of file descriptors
    /// since the last call.
    pub fn take_refused(&mut self) -> usize {
        std::mem::take(&mut self.refused)
    }

    /// Removes the socket file, if it is still ours.
    pub fn remove(self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Where a connection is in its one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Reading,
    /// The command runs; the reply comes later.
    Waiting,
    Writing,
    /// Lines go out for as long as the client stays (`logs -f`).
    Streaming,
}

// The queue beside a client's pipe holds a whole line of the longest kind.
const _: () = assert!(crate::outbox::BESIDE_PIPE_BYTES >= 2 * crate::logs::lines::MAX_LINE);

/// One control connection.
pub struct Conn {
    pub stream: mio::net::UnixStream,
    pub phase: Phase,
    pub input: Vec<u8>,
    /// The reply: its first line (`0` or `1`), then the rest, written from
    /// where they were made; `written` counts over both.
    pub head: &'static [u8],
    pub output: Vec<u8>,
    pub written: usize,
    /// When it is closed if still silent.
    pub idle_at: std::time::Instant,
    /// The connection failed (reset); the reply is dropped when it comes.
    /// An end of input is not that: a client may half-close its side after
    /// the command and still wait for the reply.
    pub gone: bool,
    /// The client sent everything it will send.
    pub eof: bool,
    /// What waits for the client while streaming.
    pub outbox: Outbox,
    /// The write end of the pipe the client attached (non-blocking), where
    /// a streaming reply goes instead of the socket.
    pub pipe: Option<OwnedFd>,
}

/// Where streamed lines go: the client's pipe, else the socket.
fn stream_fd<'a>(pipe: &'a Option<OwnedFd>, socket: &'a mio::net::UnixStream) -> BorrowedFd<'a> {
    match pipe {
        Some(p) => p.as_fd(),
        None => socket.as_fd(),
    }
}

/// The pipe end attached to a message, if it is the write end of a pipe;
/// made non-blocking. Anything else attached is closed unused.
fn attached_pipe(control: &mut RecvAncillaryBuffer<'_>) -> Option<OwnedFd> {
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(got) = msg {
            fds.extend(got);
        }
    }
    let fd = fds.into_iter().next()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    let flags = rustix::fs::fcntl_getfl(&fd).ok()?;
    let pipe = FileType::from_raw_mode(st.st_mode) == FileType::Fifo
        && flags & OFlags::ACCMODE == OFlags::WRONLY;
    (pipe && rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK).is_ok()).then_some(fd)
}

impl Conn {
    /// Reads what is there. `Ok(Some(line))` once a whole command line
    /// arrived (or the peer closed after a partial one); `Err` for an
    /// oversized line.
    pub fn read_request(&mut self) -> Result<Option<String>, String> {
        let mut buf = [0u8; 4096];
        loop {
            match self.receive(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    if self.input.is_empty() {
                        return Ok(None);
                    }
                    let line = String::from_utf8_lossy(&self.input).into_owned();
                    return Ok(Some(line));
                }
                Ok(n) => {
                    self.input.extend_from_slice(&buf[..n]);
                    if let Some(i) = self.input.iter().position(|&b| b == b'\n') {
                        let line = String::from_utf8_lossy(&self.input[..i]).into_owned();
                        return Ok(Some(line));
                    }
                    if self.input.len() > MAX_REQUEST {
                        return Err(format!("command longer than {MAX_REQUEST} bytes"));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.gone = true;
                    return Ok(None);
                }
            }
        }
    }

    /// One read of the command line, taking a pipe end sent with it.
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &self.stream,
            &mut [io::IoSliceMut::new(buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )?;
        if let (Some(pipe), None) = (attached_pipe(&mut control), &self.pipe) {
            // The pipe queues for the client: the supervisor holds only
            // what makes up the bound with it.
            let held = rustix::pipe::fcntl_getpipe_size(&pipe).unwrap_or(0);
            self.outbox = Outbox::beside_pipe(held);
            self.pipe = Some(pipe);
        }
        Ok(got.bytes)
    }

    /// Writes what the socket takes. `true` when all is out (or the peer
    /// is gone).
    pub fn write_reply(&mut self) -> bool {
        let out = crate::outbox::write_head_and_body(
            &mut self.stream,
            self.head,
            &self.output,
            &mut self.written,
        );
        out.unwrap_or(true)
    }
}

impl Conn {
    /// While streaming: sends whole lines (`Outbox::send_lines`); `teed`
    /// (a pipe holding `block`) is used when the client gave a pipe.
    pub fn send_lines(
        &mut self,
        block: &[u8],
        ends: &[usize],
        teed: Option<BorrowedFd<'_>>,
    ) -> Flushed {
        let to = stream_fd(&self.pipe, &self.stream);
        let teed = teed.filter(|_| self.pipe.is_some());
        self.outbox.send_lines(to, block, ends, teed)
    }

    /// While streaming: writes what the socket (or the client's pipe)
    /// takes of the outbox.
    pub fn write_stream(&mut self) -> Flushed {
        let to = stream_fd(&self.pipe, &self.stream);
        self.outbox.write_to(to)
    }

    /// While streaming, after the socket read as ended: whether the client
    /// closed both directions (gone) rather than only its sending side.
    pub fn hung_up(&self) -> bool {
        let mut fds = [rustix::event::PollFd::new(
            &self.stream,
            rustix::event::PollFlags::empty(),
        )];
        // A zero timeout: this asks, it never waits.
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match rustix::event::poll(&mut fds, Some(&zero)) {
            Ok(_) => fds[0]
                .revents()
                .intersects(rustix::event::PollFlags::HUP | rustix::event::PollFlags::ERR),
            Err(_) => true,
        }
    }
}
