//! sd_notify inside the loop: the notify socket, opened once a task has
//! `notify: true`; each datagram matched to a process by the sender's
//! process group (strangers and malformed ones counted and told at 1, 10,
//! 100, ...); READY=1, STATUS= and WATCHDOG=1 applied to the process's
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
        self.dirty = true;
        let reason = format!(
            "no WATCHDOG=1 for {} (watchdog)",
            crate::text::secs(timeout)
        );
        self.tell_health(key, before, Some(reason), true);
        self.apply_by(StopCause::Health, key, Event::Unhealthy, now);
    }

    /// Opens the notify socket once some task has `notify: true`.
    pub(in crate::supervisor) fn ensure_notify(&mut self) {
        if self.notify.is_some() || !self.config.tasks.values().any(|t| t.notify) {
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
                self.notify = Some(sock);
            }
            Err(e) => self.notice(&format!("cannot create the notify socket: {e}")),
        }
    }

    /// Handles every datagram waiting on the notify socket.
    pub(in crate::supervisor) fn on_notify(&mut self, now: Instant) {
        loop {
            let Some(sock) = &mut self.notify else { return };
            let (pid, message, fds) = match sock.recv() {
                Ok(None) => return,
                Ok(Some(Datagram::Message { pid, message, fds })) => (pid, message, fds),
                Ok(Some(Datagram::Dropped)) => {
                    self.notify_dropped(None);
                    continue;
                }
                Err(e) => {
                    self.notice(&format!("notify socket failed: {e}"));
                    return;
                }
            };
            // A sender that is already gone matches no process.
            let pgid = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid)))
                .map_or(-1, |g| g.as_raw());
            let key = self.by_pid.get(&pgid).copied().filter(|&k| {
                self.spec(k).is_some_and(|t| t.notify)
                    && self.procs[k].proc.state().pid() == Some(pgid)
            });
            let Some(key) = key else {
                self.notify_dropped(Some(pid));
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
            self.dirty = true;
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

    /// Counts an ignored datagram; tells at 1, 10, 100, ...
    fn notify_dropped(&mut self, stranger: Option<i32>) {
        self.notify_ignored += 1;
        let n = self.notify_ignored;
        if is_power_of_ten(n) {
            let why = match stranger {
                Some(pid) => format!("the last from pid {pid}, not in a notify process's group"),
                None => "the last malformed or oversized".into(),
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

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}
