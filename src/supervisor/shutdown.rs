//! Shutdown: every process is asked to stop; a second request kills them
//! all; once every managed process and group is down the supervisor exits.
//! As PID 1 it then sweeps the orphans of its namespace: SIGTERM, SIGKILL
//! after `ORPHAN_GRACE`, and after another grace period it stops waiting.
//! Where the shutdown stands is one `Shutdown` value; the time comes in as
//! `now`, never from the clock.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{ReplyTo, Supervisor};
use crate::events::{Level, StopCause, What};
use crate::process::Event;
use crate::timers::Due;

/// How long orphans left at shutdown (as PID 1) have between SIGTERM and
/// SIGKILL, and after SIGKILL before they are given up.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// Where a shutdown stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Shutdown {
    /// The supervisor runs.
    Off,
    /// Shutting down with exit status `code` (1 once `forced` by a second
    /// request); `waiting` get a reply at the end.
    On {
        code: i32,
        forced: bool,
        sweep: Sweep,
        waiting: Vec<ReplyTo>,
    },
}

/// The last phase of a shutdown as PID 1: processes nobody manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sweep {
    /// Not begun: managed processes are still going down.
    NotYet,
    /// SIGTERM sent; SIGKILL at this instant.
    Term(Instant),
    /// SIGKILL sent; at this instant we stop waiting (a process stuck in
    /// uninterruptible sleep, or kernel threads when we are a VM's init).
    Killed(Instant),
    /// Whatever is left is not waited for.
    GaveUp,
}

impl Shutdown {
    /// Whether a shutdown runs.
    pub(super) fn is_on(&self) -> bool {
        matches!(self, Shutdown::On { .. })
    }

    /// The deadline the sweep waits for, if any.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Shutdown::On {
                sweep: Sweep::Term(t) | Sweep::Killed(t),
                ..
            } => Some(*t),
            Shutdown::Off | Shutdown::On { .. } => None,
        }
    }
}

/// Whether any process but us lives (as PID 1: anything to sweep).
fn others_alive() -> bool {
    kill(Pid::from_raw(-1), None).is_ok()
}

/// The number of processes in /proc other than PID 1.
fn count_others() -> usize {
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .parse::<u32>()
                        .is_ok_and(|p| p > 1)
                })
                .count()
        })
        .unwrap_or(0)
}

impl Supervisor {
    /// Whether a shutdown runs.
    pub(super) fn shutting_down(&self) -> bool {
        self.shutdown.is_on()
    }

    /// Starts a graceful shutdown (or, when one runs, forces it).
    pub(super) fn begin_shutdown(&mut self, code: i32, waiter: Option<ReplyTo>, now: Instant) {
        if let Shutdown::On {
            forced,
            sweep,
            waiting,
            ..
        } = &mut self.shutdown
        {
            if let Some(w) = waiter {
                waiting.push(w);
                return;
            }
            if *forced {
                return;
            }
            *forced = true;
            let sweeping = matches!(sweep, Sweep::Term(_));
            if sweeping {
                *sweep = Sweep::Term(now);
            }
            self.emit_supervisor(What::Message {
                level: Level::Warn,
                text: "second shutdown request: killing every process".into(),
            });
            self.forget_held_stops();
            let keys: Vec<usize> = self.procs.iter().map(|(k, _)| k).collect();
            for k in keys {
                self.apply(k, Event::KillRequested, now);
            }
            for &pgid in self.children.released.keys() {
                let _ = crate::signals::signal_group(pgid, libc::SIGKILL);
            }
            if self.opts.pid1 && sweeping {
                self.kill_orphans(now);
            }
            return;
        }
        self.shutdown = Shutdown::On {
            code,
            forced: false,
            sweep: Sweep::NotYet,
            waiting: waiter.into_iter().collect(),
        };
        if let Some(stdin) = &mut self.shell.stdin {
            stdin.stop(self.poll.registry(), &mut self.console);
        }
        // Dependents first, independent ones together.
        self.stacks.stop_cause = StopCause::Shutdown;
        let keys: Vec<usize> = self.procs.iter().map(|(k, _)| k).collect();
        self.request_stops(&keys, now);
    }

    /// The exit status once shutdown is complete: every managed process and
    /// released group down, and as PID 1 the orphans swept.
    pub(super) fn finished(&mut self, now: Instant) -> Option<i32> {
        if !self.shutdown.is_on()
            || self.children.alive > 0
            || !self.children.lingering.is_empty()
            || !self.children.released.is_empty()
        {
            return None;
        }
        if self.opts.pid1 && self.sweep_orphans(now) {
            return None;
        }
        let Shutdown::On {
            code,
            forced,
            waiting,
            ..
        } = &mut self.shutdown
        else {
            return None;
        };
        let code = if *forced { 1 } else { *code };
        for to in std::mem::take(waiting) {
            self.reply(
                to,
                true,
                "All processes stopped; taskmaster exits".to_string(),
            );
        }
        Some(code)
    }

    /// As PID 1, once every managed process is down: SIGTERM to whatever
    /// else lives in the namespace, SIGKILL after `ORPHAN_GRACE`. Returns
    /// whether anything is left to wait for.
    fn sweep_orphans(&mut self, now: Instant) -> bool {
        let Shutdown::On { forced, sweep, .. } = &mut self.shutdown else {
            return false;
        };
        if !others_alive() || *sweep == Sweep::GaveUp {
            return false;
        }
        if *forced && matches!(sweep, Sweep::NotYet | Sweep::Term(_)) {
            // Forced: no grace, SIGKILL at once.
            *sweep = Sweep::Term(now);
            self.kill_orphans(now);
            return true;
        }
        if *sweep == Sweep::NotYet {
            let kill_at = now + ORPHAN_GRACE;
            *sweep = Sweep::Term(kill_at);
            self.notice(&format!(
                "sending SIGTERM to {} remaining processes",
                count_others()
            ));
            // As PID 1, -1 addresses every other process of the namespace.
            let all = Pid::from_raw(-1);
            let _ = kill(all, Signal::SIGTERM);
            let _ = kill(all, Signal::SIGCONT);
            self.timers.push(kill_at, Due::Sweep);
        }
        true
    }

    /// The orphans' grace period is over: SIGKILL; after another one, stop
    /// waiting for what survives even that.
    pub(super) fn kill_orphans(&mut self, now: Instant) {
        let Shutdown::On { sweep, .. } = &mut self.shutdown else {
            return;
        };
        match *sweep {
            Sweep::Term(_) => {
                let give_up = now + ORPHAN_GRACE;
                *sweep = Sweep::Killed(give_up);
                self.notice("sending SIGKILL to the remaining processes");
                let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
                self.timers.push(give_up, Due::Sweep);
            }
            Sweep::Killed(_) => {
                *sweep = Sweep::GaveUp;
                self.notice("processes left that SIGKILL did not end; exiting without them");
            }
            Sweep::GaveUp | Sweep::NotYet => {}
        }
    }
}
