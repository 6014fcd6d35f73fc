//! Between the loop and the state machines: `apply` runs an event through
//! `process::step` for one process, turns the notices it returns into event
//! records, keeps the count of live processes and answers the replies that
//! waited for the process to be down; `perform` carries out each action
//! (queue a spawn, signal a group, arm a deadline, begin checks, ...).

use std::time::Instant;

use super::Supervisor;
use crate::config::TaskSpec;
use crate::events::What;
use crate::process::{Action, Event, step};
use crate::signals;
use crate::timers::Due;

impl Supervisor {
    /// The task of process `key`, if the process and its task still exist.
    pub(super) fn spec(&self, key: usize) -> Option<&TaskSpec> {
        self.config.tasks.get(&self.procs.get(key)?.task)
    }

    /// Runs `ev` through the state machine of process `key` and carries out
    /// the actions.
    pub(super) fn apply(&mut self, key: usize, ev: Event, now: Instant) {
        let actions = self.transition(key, ev, now);
        self.perform_all(key, actions, now);
    }

    /// Runs `ev` through the state machine of process `key` and returns the
    /// actions for the caller to perform. Keeps the count of live processes
    /// and answers the replies that waited for this one to be down.
    pub(super) fn transition(&mut self, key: usize, ev: Event, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let Some(e) = self.procs.get_mut(key) else {
            return actions;
        };
        self.stacks.dirty = true;
        let spawned = matches!(ev, Event::Spawned { .. });
        let was_down = e.proc.state().is_down();
        let (from, pid_before) = (e.proc.state().name(), e.proc.state().pid());
        step(&mut e.proc, ev, now, &mut actions);
        if spawned {
            e.vitals.reset(now);
        }
        if !matches!(e.proc.state(), crate::process::State::Running { .. }) {
            self.end_checks(key);
        }
        // What step tells becomes the event record, shown three ways.
        let mut notices = Vec::new();
        actions.retain_mut(|a| match a {
            Action::Notice(n) => {
                notices.push(std::mem::replace(n, crate::process::Notice::Running));
                false
            }
            _ => true,
        });
        for n in notices {
            let what = What::of_notice(n, self.stacks.stop_cause);
            self.emit_process(key, from, pid_before, what);
        }
        if actions.contains(&Action::AwaitDependencies) {
            self.emit_waiting(key, from, pid_before);
        }
        let Some(e) = self.procs.get_mut(key) else {
            return actions;
        };
        let is_down = e.proc.state().is_down();
        match (was_down, is_down) {
            (true, false) => self.children.alive += 1,
            (false, true) => {
                self.children.alive -= 1;
                if !e.waiters.is_empty() {
                    let waiters = std::mem::take(&mut e.waiters);
                    let line = format!("Process '{}' stopped", e.name);
                    for w in waiters {
                        self.wait_done(w, line.clone(), now);
                    }
                }
            }
            (true, true) | (false, false) => {}
        }
        actions
    }

    pub(super) fn perform_all(&mut self, key: usize, actions: Vec<Action>, now: Instant) {
        for a in actions {
            self.perform(key, a, now);
        }
    }

    pub(super) fn perform(&mut self, key: usize, action: Action, now: Instant) {
        match action {
            Action::Spawn => {
                if let Some(e) = self.procs.get_mut(key)
                    && !e.spawn_queued
                {
                    e.spawn_queued = true;
                    self.children.spawn_queue.push_back(key);
                }
            }
            Action::SignalGroup { pgid, sig } => {
                if let Err(e) = signals::signal_group(pgid, sig) {
                    let name = self
                        .procs
                        .get(key)
                        .map(|e| e.name.clone())
                        .unwrap_or_default();
                    self.notice(&format!(
                        "cannot send {} to '{name}': {e}",
                        crate::signame::name(sig)
                    ));
                }
            }
            Action::ArmDeadline(at) => self.timers.push(at, Due::Proc(key)),
            Action::ReleaseGroup { pgid, sig, kill_at } => {
                let _ = signals::signal_group(pgid, sig);
                if crate::process::continues_after(sig) {
                    let _ = signals::signal_group(pgid, libc::SIGCONT);
                }
                self.children.released.insert(pgid, kill_at);
                self.timers.push(kill_at, Due::Group(pgid));
            }
            Action::SpawnNow => self.spawn_and_report(key, now),
            Action::WatchGroup { .. } => self.children.lingering.push(key),
            // Taken out by `transition`, which knows the state before.
            Action::Notice(_) => {}
            Action::EndedForGood { code, essential } => {
                if essential && !self.shutting_down() {
                    self.emit_process_now(key, What::EssentialEnded);
                    self.begin_shutdown(code, None, now);
                }
            }
            Action::AwaitDependencies => {
                self.stacks.waiting.insert(key);
                self.stacks.dirty = true;
            }
            Action::BeginChecks => self.begin_checks(key, now),
        }
    }
}
