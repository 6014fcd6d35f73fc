//! sd_notify inside the loop: the notify socket, opened once a task has
//! `notify: true`; each datagram matched to a process by the sender's
//! process group, or, for a sender already reaped, by the process its
//! `MAINPID=` names (strangers and malformed ones counted and told at 1,
//! 10, 100, ...); READY=1, STATUS= and WATCHDOG=1 applied to the process's
//! `Vitals`; and the watchdog's deadline, which makes the process unhealthy
//! when it passes without a WATCHDOG=1.

use std::time::{Duration, Instant};

use mio::Interest;
use mio::unix::SourceFd;

use crate::events::StopCause;
use crate::notify::{Datagram, NotifySocket};
use crate::process::{Event, State};
use crate::supervisor::Supervisor;
use crate::supervisor::token::Source;
use crate::timers::Due;

impl Supervisor {
    /// The watchdog of process `key` expired: unhealthy, restarted.
    pub(in crate::supervisor) fn fire_watchdog(&mut self, key: usize, now: Instant) {
        let timeout = self.watchdog_timeout(key);
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        e.vitals.watchdog = None;
        let Some(timeout) = timeout else { return };
        if !matches!(e.proc.state(), State::Running { .. }) {
            return;
        }
        let before = self.health(key);
        self.procs[key].vitals.watchdog_missed = true;
        self.stacks.dirty = true;
        let reason = format!(
            "no WATCHDOG=1 for {} (watchdog)",
            crate::text::secs(timeout)
        );
        self.tell_health(key, before, Some(reason), true);
        self.apply_by(StopCause::Health, key, Event::Unhealthy, now);
    }

    /// Opens the notify socket once some task has `notify: true`.
    pub(in crate::supervisor) fn ensure_notify(&mut self) {
        if self.checks.notify.is_some() || !self.config.tasks.values().any(|t| t.notify) {
            return;
        }
        let salt = Instant::now().elapsed().as_nanos() as u64 ^ u64::from(std::process::id());
        match NotifySocket::bind(salt) {
            Ok(sock) => {
                let fd = sock.raw_fd();
                if let Err(e) = self.poll.registry().register(
                    &mut SourceFd(&fd),
                    Source::Notify.token(),
                    Interest::READABLE,
                ) {
                    self.notice(&format!("cannot watch the notify socket: {e}"));
                    return;
                }
                self.checks.notify = Some(sock);
            }
            Err(e) => self.notice(&format!("cannot create the notify socket: {e}")),
        }
    }

    /// Handles every datagram waiting on the notify socket.
    pub(in crate::supervisor) fn on_notify(&mut self, now: Instant) {
        loop {
            let Some(sock) = &mut self.checks.notify else {
                return;
            };
            let (pid, uid, message, fds) = match sock.recv() {
                Ok(None) => return,
                Ok(Some(Datagram::Message {
                    pid,
                    uid,
                    message,
                    fds,
                })) => (pid, uid, message, fds),
                Ok(Some(Datagram::Dropped)) => {
                    self.notify_dropped(Ignored::Malformed);
                    continue;
                }
                Err(e) => {
                    self.notice(&format!("notify socket failed: {e}"));
                    return;
                }
            };
            // Reaped before we read, a sender has no group left (the kernel
            // keeps none for a reaped process, not even behind a pidfd): it
            // counts only if it names with MAINPID= a live process of a
            // notify group that it may speak for.
            let found = self.notify_process_of(pid);
            let key = match found {
                Some(key) => key,
                None => message
                    .main_pid
                    .and_then(|main| self.vouched_for(main, uid)),
            };
            let Some(key) = key else {
                self.notify_dropped(match found {
                    Some(_) => Ignored::Stranger(pid),
                    None => Ignored::Gone(pid, message.main_pid),
                });
                continue;
            };
            if message.ready && !self.procs[key].vitals.notified_ready {
                let before = self.health(key);
                self.procs[key].vitals.notified_ready = true;
                self.tell_health(key, before, Some("READY=1".into()), false);
            }
            let e = &mut self.procs[key];
            if let Some(text) = message.status {
                e.vitals.status_text = Some(text);
            }
            if message.watchdog && e.vitals.watchdog.is_some() {
                // Off since the watchdog was armed: it stays off.
                let at = self.watchdog_timeout(key).map(|t| now + t);
                self.procs[key].vitals.watchdog = at;
                if let Some(at) = at {
                    self.timers.push(at, Due::Watchdog(key));
                }
            }
            self.stacks.dirty = true;
            // The sender may wait for these to close (BARRIER=1).
            drop(fds);
        }
    }

    /// Process `key`'s `watchdogTimeout`, if it has one in force.
    fn watchdog_timeout(&self, key: usize) -> Option<Duration> {
        self.spec(key)
            .filter(|t| t.notify && !t.watchdog_timeout.is_zero())
            .map(|t| t.watchdog_timeout)
    }

    /// The notify process whose group process `pid` is in: `None` when
    /// `pid` is gone (reaped), `Some(None)` when it lives outside every
    /// notify group.
    fn notify_process_of(&self, pid: i32) -> Option<Option<usize>> {
        let pgid = match nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))) {
            Ok(g) => g.as_raw(),
            Err(nix::errno::Errno::ESRCH) => return None,
            Err(_) => return Some(None),
        };
        Some(self.children.by_pid.get(&pgid).copied().filter(|&k| {
            self.spec(k).is_some_and(|t| t.notify) && self.procs[k].proc.state().pid() == Some(pgid)
        }))
    }

    /// The notify process a gone sender of uid `uid` may speak for with
    /// `MAINPID=main`: `main` lives in its group, and the sender was root
    /// or `main`'s owner.
    fn vouched_for(&self, main: i32, uid: u32) -> Option<usize> {
        let key = self.notify_process_of(main).flatten()?;
        let owner =
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(format!("/proc/{main}")).ok()?);
        (uid == 0 || uid == owner).then_some(key)
    }

    /// Counts an ignored datagram; tells at 1, 10, 100, ...
    fn notify_dropped(&mut self, why: Ignored) {
        self.checks.notify_ignored += 1;
        let n = self.checks.notify_ignored;
        if is_power_of_ten(n) {
            let why = match why {
                Ignored::Stranger(pid) => {
                    format!("the last from pid {pid}, not in a notify process's group")
                }
                Ignored::Gone(pid, None) => format!(
                    "the last from pid {pid}, which exited before it was read, without MAINPID"
                ),
                Ignored::Gone(pid, Some(main)) => format!(
                    "the last from pid {pid}, which exited before it was read, with MAINPID={main} not a notify process it may speak for"
                ),
                Ignored::Malformed => "the last malformed or oversized".into(),
            };
            self.notice(&format!("ignored {n} notify datagram(s) so far ({why})"));
        }
    }

    /// Whether a watchdog deadline still stands.
    pub(in crate::supervisor) fn watchdog_stands(&self, key: usize, at: Instant) -> bool {
        self.procs
            .get(key)
            .is_some_and(|e| e.vitals.watchdog == Some(at))
    }
}

/// Why a notify datagram was ignored.
enum Ignored {
    /// Too large, not UTF-8, not `KEY=VALUE`, or without credentials.
    Malformed,
    /// From a live process outside every notify group.
    Stranger(i32),
    /// From a process reaped before it was read, with this MAINPID.
    Gone(i32, Option<i32>),
}

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}
