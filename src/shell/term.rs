//! The terminal under the shell: raw mode for the line editor and putting
//! the terminal back on every way out (the end of the shell, exit, a fatal
//! error, a panic: the panic hook restores what was saved), its width, and
//! whether we are its foreground job. Raw here keeps output processing, so
//! `\n` still starts a new row and every line the supervisor prints looks
//! the same in both modes. It changes only the terminal's settings and fd
//! 0's file flags, never reads or writes the terminal's data (but the
//! newline a panic leaves).

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::{Mutex, MutexGuard, Once};

use rustix::termios::{
    self, InputModes, LocalModes, OptionalActions, OutputModes, SpecialCodeIndex, Termios,
};

/// What to put back, kept where the panic hook reaches it.
#[derive(Default)]
struct Saved {
    /// The terminal's settings before raw mode.
    termios: Option<(RawFd, Termios)>,
    /// A file's status flags before they were made non-blocking.
    flags: Option<rustix::fs::OFlags>,
}

static SAVED: Mutex<Saved> = Mutex::new(Saved {
    termios: None,
    flags: None,
});

fn saved() -> MutexGuard<'static, Saved> {
    // Nothing panics while holding it; a poisoned lock still holds valid data.
    SAVED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Puts the terminal on `fd` in raw mode: no echo, no line buffering, no
/// signals from Ctrl-C/Ctrl-Z/Ctrl-\ (they arrive as bytes), no CR/LF
/// translation of input or flow control; output processing stays on. Its
/// settings are saved for `leave` and the panic hook. Fails when `fd` is not
/// a terminal.
pub fn enter(fd: BorrowedFd) -> io::Result<()> {
    let before = termios::tcgetattr(fd)?;
    let mut raw = before.clone();
    raw.input_modes -= InputModes::BRKINT
        | InputModes::ICRNL
        | InputModes::INLCR
        | InputModes::IGNCR
        | InputModes::INPCK
        | InputModes::ISTRIP
        | InputModes::IXON;
    raw.output_modes |= OutputModes::OPOST | OutputModes::ONLCR;
    raw.local_modes -=
        LocalModes::ECHO | LocalModes::ICANON | LocalModes::IEXTEN | LocalModes::ISIG;
    raw.special_codes[SpecialCodeIndex::VMIN] = 1;
    raw.special_codes[SpecialCodeIndex::VTIME] = 0;
    install_panic_hook();
    saved().termios = Some((fd.as_raw_fd(), before));
    // TCSANOW: keep what was typed ahead; output is processed the same way
    // in both modes, so nothing in flight changes meaning.
    if let Err(e) = termios::tcsetattr(fd, OptionalActions::Now, &raw) {
        saved().termios = None;
        return Err(e.into());
    }
    Ok(())
}

/// Puts back the settings `enter` saved; nothing when none are saved.
pub fn leave() {
    let taken = saved().termios.take();
    if let Some((fd, t)) = taken {
        put_back(fd, &t);
    }
}

fn put_back(fd: RawFd, t: &Termios) {
    // SAFETY: `fd` was a terminal when saved and stays open while saved: fd 0
    // for the whole program, or a test's pty until it calls `leave`.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = termios::tcsetattr(fd, OptionalActions::Now, t);
}

/// Remembers stdin's status flags from before they were changed, for the
/// panic hook (the normal ways out restore them themselves and `forget_flags`).
pub fn remember_flags(flags: rustix::fs::OFlags) {
    saved().flags = Some(flags);
}

/// The flags were restored.
pub fn forget_flags() {
    saved().flags = None;
}

/// Installs, once, a panic hook that restores the terminal and the saved
/// flags before the panic message is printed, then runs the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_for_panic();
            previous(info);
        }));
    });
}

fn restore_for_panic() {
    // try_lock: a panic while the lock is held (none is known) must not
    // deadlock the hook.
    let mut s = match SAVED.try_lock() {
        Ok(s) => s,
        Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    if let Some((fd, t)) = s.termios.take() {
        put_back(fd, &t);
        // The cursor may sit after a half-typed line: start the message on
        // a row of its own.
        let _ = rustix::io::write(rustix::stdio::stdout(), b"\r\n");
    }
    if let Some(flags) = s.flags.take() {
        let _ = rustix::fs::fcntl_setfl(rustix::stdio::stdin(), flags);
    }
}

/// The width of the terminal on stdout in columns, if it tells.
pub fn width() -> Option<usize> {
    let ws = termios::tcgetwinsize(rustix::stdio::stdout()).ok()?;
    (ws.ws_col > 0).then_some(ws.ws_col as usize)
}

/// Whether our process group is the foreground job of the terminal on
/// `fd`: only then may the shell read it and change its modes.
pub fn is_foreground(fd: BorrowedFd) -> bool {
    termios::tcgetpgrp(fd).ok() == Some(rustix::process::getpgrp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn lflag(fd: BorrowedFd) -> LocalModes {
        termios::tcgetattr(fd).unwrap().local_modes
    }

    /// One test, as it uses the process-wide saved state and panic hook.
    #[test]
    fn raw_mode_is_undone_by_leave_and_by_a_panic() {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let fd = pty.slave.as_fd();
        let cooked = lflag(fd);
        assert!(cooked.contains(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG));
        enter(fd).unwrap();
        let raw = termios::tcgetattr(fd).unwrap();
        assert!(
            !raw.local_modes
                .intersects(LocalModes::ICANON | LocalModes::ECHO | LocalModes::ISIG)
        );
        assert!(!raw.input_modes.contains(InputModes::ICRNL));
        assert!(
            raw.output_modes
                .contains(OutputModes::OPOST | OutputModes::ONLCR)
        );
        leave();
        assert_eq!(lflag(fd), cooked);
        leave();
        assert_eq!(lflag(fd), cooked, "a second leave changes nothing");

        enter(fd).unwrap();
        assert!(!lflag(fd).contains(LocalModes::ICANON));
        let caught = std::panic::catch_unwind(|| panic!("on purpose: the hook restores termios"));
        assert!(caught.is_err());
        assert_eq!(lflag(fd), cooked, "the panic hook put the terminal back");

        let devnull = std::fs::File::open("/dev/null").unwrap();
        assert!(enter(devnull.as_fd()).is_err(), "not a terminal");
        assert!(saved().termios.is_none());
    }
}
