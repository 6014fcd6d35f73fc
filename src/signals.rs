//! The supervisor's own signals: SIGCHLD, SIGHUP, SIGTERM, SIGINT, SIGUSR1
//! and SIGWINCH are blocked and read from a signalfd; SIGPIPE is ignored,
//! and so are SIGTTIN and SIGTTOU, so that the terminal never stops the
//! supervisor (a background read fails with EIO instead).
//! Also the reap loop. Children undo all of this before exec (`spawn.rs`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::process::ExitStatus;

/// The signals read from the signalfd.
pub const HANDLED: [Signal; 6] = [
    Signal::SIGCHLD,
    Signal::SIGHUP,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGWINCH,
];

fn handled_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in HANDLED {
        set.add(s);
    }
    set
}

/// The signalfd of the handled signals, which are blocked for the thread.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the handled signals, ignores SIGPIPE, SIGTTIN and SIGTTOU,
    /// and opens the signalfd.
    pub fn new() -> io::Result<Signals> {
        let set = handled_set();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        for sig in [Signal::SIGPIPE, Signal::SIGTTIN, Signal::SIGTTOU] {
            // SAFETY: SIG_IGN installs no handler code; nothing else in this
            // single-threaded program changes these dispositions concurrently.
            unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigIgn) }?;
        }
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The next pending signal, or `None` when none is left.
    pub fn next_signal(&mut self) -> io::Result<Option<i32>> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => return Ok(Some(info.ssi_signo as i32)),
                Ok(None) => return Ok(None),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Signals {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Reaps one exited child, if any: `Ok(None)` when no child has exited (or
/// there are no children at all). Signals coalesce, so callers loop until
/// `None`.
pub fn reap_one() -> io::Result<Option<(i32, ExitStatus)>> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                return Ok(Some((pid.as_raw(), ExitStatus::code(code))));
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                return Ok(Some((pid.as_raw(), ExitStatus::signal(sig as i32))));
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            // Stops and continues are not requested; anything else is not an exit.
            Ok(_) => continue,
            Err(Errno::ECHILD) => return Ok(None),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether any process of group `pgid` is still alive (zombies count).
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let r = unsafe { libc::kill(-pgid, 0) };
    r == 0 || Errno::last() == Errno::EPERM
}

/// Sends `sig` to process group `pgid`; a group that is already gone is
/// fine.
pub fn signal_group(pgid: i32, sig: i32) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: plain syscall; a negative pid addresses the group.
    let r = unsafe { libc::kill(-pgid, sig) };
    if r == 0 || Errno::last() == Errno::ESRCH {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
