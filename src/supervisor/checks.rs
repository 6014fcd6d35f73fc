//! Health checks and sd_notify readiness inside the loop. A `command` check
//! is spawned through the same spawner as tasks (its own process group,
//! the task's user, environment and directory), its pipes read into a
//! `LastLine`, its group SIGKILLed at `timeout`, and it is reaped by the
//! same reap loop; `tcp` and `http` checks are `health::probe::Probe`
//! sockets registered with mio. Every check deadline (next check, timeout)
//! and every watchdog is an entry of the one timer heap, rounded to the
//! coalescing grid. sd_notify (READY=1, the watchdog) is in
//! `checks/notify.rs`. Nothing here blocks or sleeps.

mod notify;

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use mio::Interest;
use mio::unix::SourceFd;

use super::Supervisor;
use super::output::Stream;
use super::token::Source;
use crate::config::{OnUnhealthy, Probe as CheckSpec, TaskSpec};
use crate::events::{StopCause, What};
use crate::health::probe::{Outcome, Probe};
use crate::health::{Change, Health, LastLine, Rules, Tracker};
use crate::process::{Event, ExitStatus, State};
use crate::signals;
use crate::timers::{COALESCE, Due};

/// Checks started per loop iteration, like spawns (`SPAWN_BATCH`).
const CHECK_BATCH: usize = 32;

/// What the loop keeps for checks beside each process's `Vitals`.
#[derive(Default)]
pub(super) struct Checks {
    /// Command checks in flight: leader pid -> (process key, generation).
    pub(super) pids: HashMap<i32, (usize, u64)>,
    /// The sd_notify socket, once a task has `notify: true`.
    pub(super) notify: Option<crate::notify::NotifySocket>,
    /// Notify datagrams ignored (malformed, oversized, from strangers).
    pub(super) notify_ignored: u64,
    /// Checks started in this loop iteration (at most `CHECK_BATCH`).
    pub(super) started: usize,
}

/// The loop source of a command check's stream `s`.
fn check_source(s: Stream, key: usize) -> Source {
    match s {
        Stream::Stdout => Source::CheckOut(key),
        Stream::Stderr => Source::CheckErr(key),
    }
}

/// A check in flight.
enum Run {
    /// A `command` check: its leader (also its pgid), output pipes and last
    /// line. `timed_out` once its group got SIGKILL at the timeout.
    Exec {
        pid: i32,
        pipes: [Option<OwnedFd>; 2],
        last: LastLine,
        timed_out: bool,
    },
    /// A `tcp` or `http` check.
    Net(Probe),
}

/// Health and readiness of the current run of one process.
#[derive(Default)]
pub(super) struct Vitals {
    /// Check results so far (reset at each spawn).
    tracker: Option<Tracker>,
    /// READY=1 arrived during this run.
    notified_ready: bool,
    /// The last STATUS= text of this run.
    status_text: Option<String>,
    /// The watchdog missed: unhealthy until the next run.
    watchdog_missed: bool,
    run: Option<Run>,
    /// The check deadline on the heap: the next check, or the timeout of
    /// the one in flight.
    due: Option<Instant>,
    /// When the watchdog expires.
    watchdog: Option<Instant>,
    /// Tells a command check's reap apart from an older run's.
    generation: u64,
}

impl Vitals {
    /// A fresh run spawned at `now`.
    pub(super) fn reset(&mut self, now: Instant) {
        let generation = self.generation + 1;
        *self = Vitals {
            tracker: Some(Tracker::new(now)),
            generation,
            ..Vitals::default()
        };
    }
}

impl Supervisor {
    /// Whether process `key`'s task has a check or `notify`: then it has a
    /// health and is ready only when healthy.
    pub(super) fn watched(&self, key: usize) -> bool {
        self.spec(key)
            .is_some_and(|t| t.health_check.is_some() || t.notify)
    }

    /// The health `status` shows: `None` for a task without check or
    /// notify.
    pub(super) fn health(&self, key: usize) -> Option<Health> {
        if !self.watched(key) {
            return None;
        }
        let e = self.procs.get(key)?;
        let task = self.spec(key)?;
        let v = &e.vitals;
        let check = v.tracker.as_ref().map_or(Health::Starting, |t| t.health());
        Some(
            if v.watchdog_missed || (task.health_check.is_some() && check == Health::Unhealthy) {
                Health::Unhealthy
            } else if (task.health_check.is_none() || check == Health::Healthy)
                && (!task.notify || v.notified_ready)
            {
                Health::Healthy
            } else {
                Health::Starting
            },
        )
    }

    /// Whether process `key` is ready: RUNNING, and healthy where it has a
    /// check or `notify`.
    pub(super) fn is_ready(&self, key: usize) -> bool {
        let Some(e) = self.procs.get(key) else {
            return false;
        };
        matches!(e.proc.state(), State::Running { .. })
            && self.health(key).is_none_or(|h| h == Health::Healthy)
    }

    /// The reason `status` shows for a live process with a check or
    /// notify: the last check failure, else the STATUS= text.
    pub(super) fn health_reason(&self, key: usize) -> Option<String> {
        let e = self.procs.get(key)?;
        e.proc.state().pid()?;
        let v = &e.vitals;
        v.tracker
            .as_ref()
            .and_then(|t| t.last_failure())
            .map(str::to_string)
            .or_else(|| v.status_text.clone())
    }

    /// The process became RUNNING: its first check now, its watchdog from
    /// now.
    pub(super) fn begin_checks(&mut self, key: usize, now: Instant) {
        let Some(task) = self.spec(key) else { return };
        let check = task.health_check.is_some();
        let watchdog =
            (task.notify && !task.watchdog_timeout.is_zero()).then(|| now + task.watchdog_timeout);
        let at = self.timers.coalesce(now);
        let e = &mut self.procs[key];
        if e.vitals.tracker.is_none() {
            e.vitals.reset(now);
        }
        if check && e.vitals.run.is_none() {
            e.vitals.due = Some(at);
            self.timers.push(at, Due::Check(key));
        }
        if let Some(w) = watchdog {
            e.vitals.watchdog = Some(w);
            self.timers.push(w, Due::Watchdog(key));
        }
    }

    /// Ends checks of process `key` (it left RUNNING or is being removed):
    /// a command check's group is killed, a probe closed, the watchdog
    /// disarmed.
    pub(super) fn end_checks(&mut self, key: usize) {
        self.stop_check(key);
        if let Some(e) = self.procs.get_mut(key) {
            e.vitals.watchdog = None;
        }
    }

    /// Drops process `key`'s next check and the one in flight: a command
    /// check's whole group is SIGKILLed (it is still reaped by the reap
    /// loop, its result ignored), a probe closed.
    fn stop_check(&mut self, key: usize) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        e.vitals.due = None;
        match e.vitals.run.take() {
            Some(Run::Exec { pid, pipes, .. }) => {
                let _ = signals::signal_group(pid, libc::SIGKILL);
                for fd in pipes.iter().flatten() {
                    let _ = self
                        .poll
                        .registry()
                        .deregister(&mut SourceFd(&fd.as_raw_fd()));
                }
            }
            Some(Run::Net(mut probe)) => {
                let _ = self.poll.registry().deregister(probe.source());
            }
            None => {}
        }
    }

    /// A reload changed process `key`'s task in place (`before` is the old
    /// definition). A changed or removed `healthCheck` stops the check in
    /// flight (its group killed); a new or changed one runs at once if the
    /// process is RUNNING, so its parameters apply from now (an added check
    /// starts from `starting`, a changed one keeps the health so far). A
    /// `watchdogTimeout` turned off is disarmed; one turned on or changed
    /// counts from now.
    pub(super) fn checks_reloaded(&mut self, key: usize, before: &TaskSpec, now: Instant) {
        let Some(task) = self.spec(key) else { return };
        let check_changed = before.health_check != task.health_check;
        let added = before.health_check.is_none();
        let has_check = task.health_check.is_some();
        let watchdog_changed = before.watchdog_timeout != task.watchdog_timeout;
        let watchdog =
            (task.notify && !task.watchdog_timeout.is_zero()).then_some(task.watchdog_timeout);
        let Some(e) = self.procs.get(key) else { return };
        let running = matches!(e.proc.state(), State::Running { .. });
        let since = e.proc.since().unwrap_or(now);
        if check_changed {
            self.stop_check(key);
            self.stacks.dirty = true;
            if running && has_check {
                let at = self.timers.coalesce(now);
                let v = &mut self.procs[key].vitals;
                if added {
                    v.tracker = Some(Tracker::new(since));
                }
                v.due = Some(at);
                self.timers.push(at, Due::Check(key));
            }
        }
        if watchdog_changed {
            let v = &mut self.procs[key].vitals;
            v.watchdog = None;
            if let (true, Some(timeout)) = (running, watchdog) {
                let at = now + timeout;
                v.watchdog = Some(at);
                self.timers.push(at, Due::Watchdog(key));
            }
        }
    }

    /// A check deadline fired: start the next check, or time out the one
    /// running.
    pub(super) fn fire_check(&mut self, key: usize, now: Instant) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        e.vitals.due = None;
        if !matches!(e.proc.state(), State::Running { .. }) {
            return;
        }
        let Some(check) = self.spec(key).and_then(|t| t.health_check.clone()) else {
            // No check any more: nothing of one may linger.
            self.stop_check(key);
            return;
        };
        let timeout = format!("timed out after {}", crate::text::secs(check.timeout));
        match self.procs[key].vitals.run.take() {
            Some(Run::Exec {
                pid, pipes, last, ..
            }) => {
                // The result comes with the reap.
                let _ = signals::signal_group(pid, libc::SIGKILL);
                self.procs[key].vitals.run = Some(Run::Exec {
                    pid,
                    pipes,
                    last,
                    timed_out: true,
                });
            }
            Some(Run::Net(mut probe)) => {
                let _ = self.poll.registry().deregister(probe.source());
                self.check_done(key, Err(timeout), now);
            }
            None if self.checks.started >= CHECK_BATCH => {
                // A wave of checks due together is spread over iterations,
                // so replies and output are served in between.
                let at = self.timers.coalesce(now + COALESCE);
                self.procs[key].vitals.due = Some(at);
                self.timers.push(at, Due::Check(key));
            }
            None => {
                self.checks.started += 1;
                self.start_check(key, &check.probe, check.timeout, now);
            }
        }
    }

    fn start_check(&mut self, key: usize, spec: &CheckSpec, timeout: Duration, now: Instant) {
        let started = match spec {
            CheckSpec::Command { argv, .. } => self.spawn_check(key, argv),
            CheckSpec::Tcp(addr) => self.watch_probe(key, Probe::tcp(*addr)),
            CheckSpec::Http { addr, host, path } => {
                self.watch_probe(key, Probe::http(*addr, host, path))
            }
        };
        match started {
            Ok(()) => {
                let at = self.timers.coalesce(now + timeout);
                self.procs[key].vitals.due = Some(at);
                self.timers.push(at, Due::Check(key));
            }
            Err(reason) => self.check_done(key, Err(reason), now),
        }
    }

    fn watch_probe(&mut self, key: usize, probe: std::io::Result<Probe>) -> Result<(), String> {
        let mut probe = probe.map_err(|e| format!("cannot connect: {e}"))?;
        self.poll
            .registry()
            .register(
                probe.source(),
                Source::Probe(key).token(),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("cannot watch the check's socket: {e}"))?;
        self.procs[key].vitals.run = Some(Run::Net(probe));
        Ok(())
    }

    fn spawn_check(&mut self, key: usize, argv: &[String]) -> Result<(), String> {
        let name = self.procs[key].name.clone();
        let Some(mut task) = self.spec(key).map(|t| t.for_process(&name)) else {
            return Err("task is no longer configured".into());
        };
        task.argv = argv.to_vec();
        if let Some(n) = &self.checks.notify {
            task.environment
                .insert("NOTIFY_SOCKET".into(), n.address().to_string());
        }
        let child = self.children.spawner.spawn(&task).map_err(|e| e.reason)?;
        let generation = self.procs[key].vitals.generation;
        self.checks.pids.insert(child.pid, (key, generation));
        let mut pipes = [Some(child.stdout), Some(child.stderr)];
        for (fd, s) in pipes.iter_mut().zip(Stream::BOTH) {
            let ok = fd.as_ref().is_some_and(|f| {
                self.poll
                    .registry()
                    .register(
                        &mut SourceFd(&f.as_raw_fd()),
                        check_source(s, key).token(),
                        Interest::READABLE,
                    )
                    .is_ok()
            });
            if !ok {
                // Unwatched, it is closed: the check's writes fail, not hang.
                *fd = None;
            }
        }
        self.procs[key].vitals.run = Some(Run::Exec {
            pid: child.pid,
            pipes,
            last: LastLine::default(),
            timed_out: false,
        });
        Ok(())
    }

    /// The socket of process `key`'s check is ready.
    pub(super) fn on_probe(&mut self, key: usize, now: Instant) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let Some(Run::Net(probe)) = &mut e.vitals.run else {
            return;
        };
        let result = match probe.advance() {
            Outcome::Pending => return,
            Outcome::Passed => Ok(()),
            Outcome::Failed(reason) => Err(reason),
        };
        if let Some(Run::Net(mut probe)) = e.vitals.run.take() {
            let _ = self.poll.registry().deregister(probe.source());
        }
        self.check_done(key, result, now);
    }

    /// Reads what a command check wrote on its stream `s`.
    pub(super) fn read_check_pipe(&mut self, key: usize, s: Stream) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let Some(Run::Exec { pipes, last, .. }) = &mut e.vitals.run else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            let Some(fd) = &pipes[s.index()] else { return };
            match rustix::io::read(fd, &mut buf) {
                Ok(0) => break,
                Ok(n) => last.feed(&buf[..n]),
                Err(rustix::io::Errno::INTR) => {}
                Err(rustix::io::Errno::AGAIN) => return,
                Err(_) => break,
            }
        }
        if let Some(fd) = pipes[s.index()].take() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
    }

    /// A command check with leader `pid` was reaped.
    pub(super) fn check_exited(&mut self, pid: i32, status: ExitStatus, now: Instant) {
        let Some((key, generation)) = self.checks.pids.remove(&pid) else {
            return;
        };
        // Members it left behind go with it.
        if signals::group_alive(pid) {
            let _ = signals::signal_group(pid, libc::SIGKILL);
        }
        let current = self.procs.get(key).is_some_and(|e| {
            e.vitals.generation == generation
                && matches!(e.vitals.run, Some(Run::Exec { pid: p, .. }) if p == pid)
        });
        if !current {
            return;
        }
        for s in Stream::BOTH {
            self.read_check_pipe(key, s);
        }
        let Some(Run::Exec {
            pipes,
            mut last,
            timed_out,
            ..
        }) = self.procs[key].vitals.run.take()
        else {
            return;
        };
        for fd in pipes.iter().flatten() {
            let _ = self
                .poll
                .registry()
                .deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        let timeout = self
            .spec(key)
            .and_then(|t| t.health_check.as_ref())
            .map_or(Duration::ZERO, |c| c.timeout);
        let what = if timed_out {
            format!("timed out after {}", crate::text::secs(timeout))
        } else {
            format!("check {status}")
        };
        let result = match (timed_out, status.code, last.get()) {
            (false, 0, _) if status.signal.is_none() => Ok(()),
            (_, _, Some(line)) => Err(format!("{what}: {line}")),
            (_, _, None) => Err(what),
        };
        self.check_done(key, result, now);
    }

    /// One check of process `key` ended: count it, tell health changes,
    /// restart an unhealthy process if the task says so, schedule the next.
    fn check_done(&mut self, key: usize, result: Result<(), String>, now: Instant) {
        let Some(check) = self.spec(key).and_then(|t| t.health_check.clone()) else {
            return;
        };
        let rules = Rules {
            retries: check.retries,
            start_period: check.start_period,
        };
        let before = self.health(key);
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        if !matches!(e.proc.state(), State::Running { .. }) {
            return;
        }
        let since = e.proc.since().unwrap_or(now);
        let change = e
            .vitals
            .tracker
            .get_or_insert_with(|| Tracker::new(since))
            .record(rules, result, now);
        let at = self.timers.coalesce(now + check.interval);
        e.vitals.due = Some(at);
        self.timers.push(at, Due::Check(key));
        self.stacks.dirty = true;
        match change {
            Change::Same => {}
            Change::Healthy => self.tell_health(key, before, None, false),
            Change::Unhealthy(reason) => {
                let restart = check.on_unhealthy == OnUnhealthy::Restart;
                self.tell_health(key, before, Some(reason), restart);
                if restart {
                    self.apply_by(StopCause::Health, key, Event::Unhealthy, now);
                }
            }
        }
    }

    /// Tells a change of process `key`'s health from `before` (none when
    /// it is the same): in the log, on the terminal and to `events`.
    fn tell_health(
        &mut self,
        key: usize,
        before: Option<Health>,
        reason: Option<String>,
        restarting: bool,
    ) {
        let Some(now) = self.health(key).filter(|&h| Some(h) != before) else {
            return;
        };
        self.emit_process_now(
            key,
            What::Health {
                health: now.name(),
                reason,
                restarting,
            },
        );
    }

    /// Whether a check deadline still stands.
    pub(super) fn check_stands(&self, key: usize, at: Instant) -> bool {
        self.procs
            .get(key)
            .is_some_and(|e| e.vitals.due == Some(at))
    }
}
