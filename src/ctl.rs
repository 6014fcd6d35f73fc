//! `taskmaster ctl`: one command to a running supervisor over its control
//! socket, the reply copied to stdout (success) or stderr (failure) as it
//! arrives: raw to a pipe or file, escaped to a terminal. The socket's
//! directory and its server must belong to root or to the caller.

use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use rustix::event::PollFlags;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
use rustix::pipe::SpliceFlags;

use crate::control::{PIPED, check_private_dir, peer_uid, user_name};

/// `taskmaster ctl`: sends `words` as one command to the supervisor at
/// `path`, prints the reply, and returns the exit status: 0 success,
/// 1 the command failed, 3 no supervisor reachable.
pub fn client(path: &Path, words: &[String]) -> u8 {
    let shown = path.display();
    if let Err(e) = check_private_dir(path) {
        crate::text::stderr_line(&format!("taskmaster ctl: {e}"));
        return 3;
    }
    let mut stream = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e) => {
            crate::text::stderr_line(&format!(
                "taskmaster ctl: cannot reach a supervisor at {shown}: {}",
                crate::text::os_reason(e)
            ));
            return 3;
        }
    };
    // Trust goes both ways: only a supervisor run by root or by us is
    // believed, never a socket another user planted.
    let me = nix::unistd::geteuid().as_raw();
    match peer_uid(&stream) {
        Some(uid) if uid == 0 || uid == me => {}
        Some(uid) => {
            crate::text::stderr_line(&format!(
                "taskmaster ctl: the socket {shown} is served by {}, not by root or by you; not talking to it",
                user_name(uid)
            ));
            return 3;
        }
        None => {
            crate::text::stderr_line(&format!(
                "taskmaster ctl: cannot tell who serves the socket {shown}; not talking to it"
            ));
            return 3;
        }
    }
    let line: Vec<String> = words.iter().map(|w| crate::words::quote(w)).collect();
    let request = format!("{}\n", line.join(" "));
    // A streaming reply comes through a pipe of ours: the supervisor can
    // hand one block to many followers without a copy for each.
    let pipe = if streams(words) {
        ctrl_c_ends_with_success();
        batch_scheduling();
        follow_pipe()
    } else {
        None
    };
    if let Err(e) = send(&stream, request.as_bytes(), pipe.as_ref().map(|(_, w)| w)) {
        crate::text::stderr_line(&format!(
            "taskmaster ctl: cannot send to {shown}: {}",
            crate::text::os_reason(e)
        ));
        return 3;
    }
    // Ours to read; the supervisor holds the write end now.
    let pipe = pipe.map(|(r, _)| std::fs::File::from(r));
    // The reply is copied as it arrives: a streaming reply never ends
    // until we go away.
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut piped = false;
    let code = loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                crate::text::stderr_line(&format!(
                    "taskmaster ctl: cannot read reply from {shown}: {}",
                    crate::text::os_reason(e)
                ));
                return 3;
            }
        };
        head.extend_from_slice(&buf[..n]);
        let Some(i) = head.iter().position(|&b| b == b'\n') else {
            if n == 0 {
                break None;
            }
            continue;
        };
        let code = match &head[..i] {
            b"0" => Some(0),
            PIPED => {
                piped = true;
                Some(0)
            }
            b"1" => Some(1),
            _ => None,
        };
        head.drain(..=i);
        break code;
    };
    let Some(code) = code else {
        crate::text::stderr_line(&format!(
            "taskmaster ctl: the supervisor at {shown} refused the connection"
        ));
        return 3;
    };
    // A stream the supervisor sends through our pipe goes on there
    // (nothing more comes on the socket); anything else on the socket.
    let out = if code == 0 {
        rustix::stdio::stdout()
    } else {
        rustix::stdio::stderr()
    };
    let tty = rustix::termios::isatty(out);
    let mut from: Box<dyn Read> = match pipe {
        Some(p) if piped => {
            // To a pipe or file the stream is moved by the kernel, not
            // copied through ctl: ten followers of a flood then take
            // next to no CPU from the supervisor and the process writing.
            if !tty {
                if !write_all(out, &head) {
                    return code;
                }
                head.clear();
                if splice_all(&p, out) {
                    return code;
                }
            }
            Box::new(p)
        }
        _ => Box::new(stream),
    };
    // What processes wrote reaches a terminal escaped, a pipe or file as is.
    if tty {
        copy_escaped(&mut from, out, head, &mut buf);
    } else {
        copy_raw(&mut from, out, &head, &mut buf);
    }
    code
}

/// Moves what comes through `pipe` to `out` with `splice(2)` until the
/// stream ends or nobody reads `out` any more: `true`. `false`, with
/// nothing moved, when `out` takes no splice (a file opened for appending,
/// some devices): the stream is then copied.
fn splice_all(pipe: &std::fs::File, out: std::os::fd::BorrowedFd<'_>) -> bool {
    let mut moved = false;
    loop {
        match rustix::pipe::splice(pipe, None, out, None, FOLLOW_PIPE, SpliceFlags::empty()) {
            Ok(0) => return true,
            Ok(_) => moved = true,
            Err(rustix::io::Errno::INTR) => {}
            // With either end non-blocking, a splice between pipes does
            // not wait for the other: wait for lines to move, then for
            // room to move them to.
            Err(rustix::io::Errno::AGAIN)
                if ready(pipe.as_fd(), PollFlags::IN) && ready(out, PollFlags::OUT) => {}
            Err(rustix::io::Errno::INVAL) if !moved => return false,
            Err(_) => return true,
        }
    }
}

/// What the pipe of a streaming reply holds: ctl's receive buffer.
const FOLLOW_PIPE: usize = 1 << 20;

/// A pipe for a streaming reply; `None` if none can be made, or none of
/// at least `OUTBOX_BYTES` (a user's pipe memory spent leaves new pipes a
/// few KiB): the reply then comes on the socket, whose buffer holds more.
fn follow_pipe() -> Option<(OwnedFd, OwnedFd)> {
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).ok()?;
    let _ = rustix::pipe::fcntl_setpipe_size(&w, FOLLOW_PIPE);
    let size = rustix::pipe::fcntl_getpipe_size(&w).ok()?;
    (size >= crate::outbox::OUTBOX_BYTES).then_some((r, w))
}

/// Sends the command line, with `pipe` attached (SCM_RIGHTS) if given.
fn send(stream: &UnixStream, mut bytes: &[u8], pipe: Option<&OwnedFd>) -> io::Result<()> {
    let fds = pipe.map(|p| [p.as_fd()]);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if let Some(fds) = &fds {
        control.push(SendAncillaryMessage::ScmRights(fds));
    }
    let n = rustix::net::sendmsg(
        stream,
        &[io::IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    bytes = &bytes[n..];
    let mut stream = stream;
    stream.write_all(bytes)
}

/// The size of the blocks `ctl` reads a reply in: a flood followed with
/// `logs -f` is taken in few, large reads.
const CLIENT_BUF: usize = 256 * 1024;

/// Writes all of `bytes` to `out`; `false` when nobody reads it any more
/// (`| head`).
fn write_all(out: std::os::fd::BorrowedFd<'_>, mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match rustix::io::write(out, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) if ready(out, PollFlags::OUT) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Waits until `fd` is ready for `what`: stdout may be a non-blocking
/// pipe (made so by whoever handed it over), and full for now is not
/// gone. `false` if even waiting fails.
fn ready(fd: std::os::fd::BorrowedFd<'_>, what: PollFlags) -> bool {
    let mut fds = [rustix::event::PollFd::new(&fd, what)];
    loop {
        match rustix::event::poll(&mut fds, None) {
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}

/// The rest of a reply to a pipe or file: each block written as it was
/// read, straight from the read buffer.
fn copy_raw(
    stream: &mut dyn Read,
    out: std::os::fd::BorrowedFd<'_>,
    head: &[u8],
    buf: &mut Vec<u8>,
) {
    if !write_all(out, head) {
        return;
    }
    buf.resize(CLIENT_BUF, 0);
    loop {
        match stream.read(buf) {
            Ok(0) => return,
            Ok(n) => {
                if !write_all(out, &buf[..n]) {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The rest of a reply to a terminal: whole lines, escaped, so an escape
/// is never cut in two; an unfinished last line when the reply ends.
fn copy_escaped(
    stream: &mut dyn Read,
    out: std::os::fd::BorrowedFd<'_>,
    mut pending: Vec<u8>,
    buf: &mut Vec<u8>,
) {
    buf.resize(CLIENT_BUF, 0);
    loop {
        let upto = pending
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        if !write_all(
            out,
            crate::escape::for_terminal(&pending[..upto]).as_bytes(),
        ) {
            return;
        }
        pending.drain(..upto);
        match stream.read(buf) {
            Ok(0) => {
                write_all(out, crate::escape::for_terminal(&pending).as_bytes());
                return;
            }
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Whether the command streams until the client goes away.
fn streams(words: &[String]) -> bool {
    let line: Vec<String> = words.iter().map(|w| crate::words::quote(w)).collect();
    matches!(
        crate::shell::command::parse(&line.join(" ")),
        Ok(Some(
            crate::shell::command::Command::Logs { follow: true, .. }
                | crate::shell::command::Command::Events
        ))
    )
}

/// A follower takes lines in batches: woken by new lines, it waits for the
/// CPU its turn rather than taking it from the supervisor (or the process
/// writing), which would otherwise lose it to each of ten followers at
/// every block of a flood. The lines still arrive within a scheduler tick.
fn batch_scheduling() {
    let param = libc::sched_param { sched_priority: 0 };
    // Raw: neither nix nor rustix wraps sched_setscheduler.
    // SAFETY: `param` is a valid sched_param for the call's duration; a
    // failure changes nothing and is harmless.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
}

/// Ctrl-C is how a person ends `ctl logs -f`: that is success, not an
/// interrupted command.
fn ctrl_c_ends_with_success() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    extern "C" fn exit_zero(_: libc::c_int) {
        // Raw: the handler may only call async-signal-safe functions, and
        // neither std (whose `exit` flushes and runs destructors) nor nix
        // offers `_exit`.
        // SAFETY: _exit is async-signal-safe; nothing is left to flush
        // (each chunk was flushed as it was written).
        unsafe { libc::_exit(0) }
    }
    // SAFETY: installs a handler that only calls an async-signal-safe
    // function; the client has no other thread.
    let _ = unsafe { signal(Signal::SIGINT, SigHandler::Handler(exit_zero)) };
}
