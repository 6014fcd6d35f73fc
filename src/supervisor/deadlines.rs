//! The deadlines of the loop's one timerfd: what each kind of deadline
//! (`timers::Due`) does when it comes, and whether it still stands (its
//! owner still waits for it). Stale ones are dropped from the top of the
//! heap before the timerfd is armed, so an idle supervisor never wakes up.

use std::time::Instant;

use super::Supervisor;
use crate::process::Event;
use crate::signals;
use crate::timers::Due;

impl Supervisor {
    pub(super) fn fire_timers(&mut self, now: Instant) {
        while let Some((at, due)) = self.timers.pop_expired(now) {
            if !self.timer_stands(at, due) {
                continue;
            }
            match due {
                Due::Proc(key) => self.apply(key, Event::DeadlineReached, now),
                Due::Group(pgid) => {
                    self.children.released.remove(&pgid);
                    // The number is ours again only if a new child took it.
                    if !self.children.by_pid.contains_key(&pgid) && signals::group_alive(pgid) {
                        let _ = signals::signal_group(pgid, libc::SIGKILL);
                    }
                }
                Due::Conn(key) => self.drop_conn(key),
                Due::Sweep => self.kill_orphans(now),
                Due::StateFile => {
                    if let Some(err) = self.children.state.as_mut().and_then(|s| s.flush(now)) {
                        self.notice(&err);
                    }
                }
                Due::Check(key) => self.fire_check(key, now),
                Due::Watchdog(key) => self.fire_watchdog(key, now),
                Due::Http(key) => self.expire_http(key),
            }
        }
    }

    /// Whether a deadline still stands: its owner still waits for it.
    fn timer_stands(&self, at: Instant, due: Due) -> bool {
        match due {
            Due::Proc(key) => {
                self.procs.get(key).and_then(|e| e.proc.state().deadline()) == Some(at)
            }
            Due::Group(pgid) => self.children.released.get(&pgid) == Some(&at),
            Due::Conn(key) => self
                .conns
                .get(key)
                .is_some_and(|c| c.idle_at == at && c.phase == crate::control::Phase::Reading),
            Due::Sweep => self.shutdown.deadline() == Some(at),
            Due::StateFile => self
                .children
                .state
                .as_ref()
                .is_some_and(|s| s.is_scheduled(at)),
            Due::Check(key) => self.check_stands(key, at),
            Due::Watchdog(key) => self.watchdog_stands(key, at),
            Due::Http(key) => self
                .http
                .as_ref()
                .is_some_and(|h| h.deadline_stands(key, at)),
        }
    }

    /// Drops stale deadlines from the top of the heap, so the timerfd is
    /// never armed for nothing (an idle supervisor never wakes up).
    pub(super) fn drop_stale_timers(&mut self) {
        while let Some((at, due)) = self.timers.peek() {
            if self.timer_stands(at, due) {
                break;
            }
            self.timers.pop();
        }
    }
}
