//! The supervisor's own signals. Every catchable signal is blocked and read
//! from a signalfd, so no stray signal (SIGUSR2, SIGALRM, SIGPWR, a
//! real-time one, or a SIGSEGV or SIGABRT sent with `kill`) can end the
//! supervisor with its default action; the loop decides what each one
//! means. A fault of our own still ends it: the kernel delivers a fault
//! signal it raises (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) even
//! when blocked, with its default action, and `abort` unblocks SIGABRT
//! before raising it. SIGPIPE is ignored (a write to a closed pipe fails
//! with EPIPE), and so are SIGTTIN and SIGTTOU, so that the terminal never
//! stops the supervisor (a background read fails with EIO instead).
//! Also the reap loop. Children undo all of this before exec (`spawn.rs`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::process::ExitStatus;

/// Signals that are neither blocked nor read: SIGKILL and SIGSTOP cannot
/// be; the ignored ones are ignored.
const NOT_READ: [Signal; 5] = [
    Signal::SIGKILL,
    Signal::SIGSTOP,
    Signal::SIGPIPE,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
];

/// Every signal up to SIGRTMAX but `NOT_READ`. `sigfillset` leaves out the
/// two real-time signals libc reserves for its threads, which we do not use.
fn read_set() -> SigSet {
    let mut set = SigSet::all();
    for sig in NOT_READ {
        set.remove(sig);
    }
    set
}

/// The signalfd of every read signal, which are blocked for the thread.
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the read signals, ignores SIGPIPE, SIGTTIN and SIGTTOU, and
    /// opens the signalfd.
    pub fn new() -> io::Result<Signals> {
        let set = read_set();
        set.thread_block()?;
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
                Ok(info) => return Ok(info.map(|i| i.ssi_signo as i32)),
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
    let Some(pgid) = rustix::process::Pid::from_raw(pgid) else {
        return false;
    };
    match rustix::process::test_kill_process_group(pgid) {
        Ok(()) | Err(rustix::io::Errno::PERM) => true,
        Err(_) => false,
    }
}

/// `sig` as rustix's `Signal`: a named one, or any other number up to
/// SIGRTMAX (the real-time ones `signame::parse` accepts).
fn to_signal(sig: i32) -> io::Result<rustix::process::Signal> {
    use rustix::process::Signal;
    if let Some(s) = Signal::from_named_raw(sig) {
        return Ok(s);
    }
    if (1..=libc::SIGRTMAX()).contains(&sig) {
        // SAFETY: a valid, non-zero signal number. The numbers libc keeps
        // for itself must not be sent, blocked or handled in this process;
        // this one is only ever sent to another process group, never to us.
        return Ok(unsafe { Signal::from_raw_unchecked(sig) });
    }
    Err(io::Error::from_raw_os_error(libc::EINVAL))
}

/// Sends `sig` to process group `pgid`; a group that is already gone is
/// fine.
pub fn signal_group(pgid: i32, sig: i32) -> io::Result<()> {
    let pgid = rustix::process::Pid::from_raw(pgid)
        .filter(|p| p.as_raw_nonzero().get() > 1)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    match rustix::process::kill_process_group(pgid, to_signal(sig)?) {
        Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
