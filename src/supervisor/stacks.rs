//! Service stacks in the loop: WAITING processes released once their
//! `dependsOn` conditions hold (or failed when they never will), the
//! dependencies a start pulls in, group stops ordered dependents first
//! (independent ones together), and `start --wait` replies sent once each
//! process is ready, EXITED or FATAL. All of it is re-evaluated in
//! `settle`, once per loop iteration in which some process changed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use slab::Slab;

use super::{ReplyTo, Supervisor};
use crate::deps::{self, Condition, Seen, Standing};
use crate::events::StopCause;
use crate::process::{Event, State, Want};

/// What the loop keeps for service stacks.
pub(super) struct Stacks {
    /// Some process changed: dependencies, held stops and `--wait`
    /// replies are looked at again (`settle`).
    pub(super) dirty: bool,
    /// Processes WAITING for their dependencies.
    pub(super) waiting: BTreeSet<usize>,
    /// Stops held until the processes' dependents are down.
    pub(super) stop_held: BTreeMap<usize, StopCause>,
    /// Stops of an ordered group stop sent and not yet complete.
    pub(super) stop_pending: BTreeSet<usize>,
    /// Who asks for the stops being requested now.
    pub(super) stop_cause: StopCause,
    /// `start --wait` replies waiting for readiness.
    pub(super) ready_waits: Slab<ReadyWait>,
    /// Each task's `dependsOn`, and who depends on each task.
    pub(super) graph: deps::Graph,
    pub(super) dependents: BTreeMap<String, Vec<String>>,
}

impl Default for Stacks {
    fn default() -> Stacks {
        Stacks {
            dirty: false,
            waiting: BTreeSet::new(),
            stop_held: BTreeMap::new(),
            stop_pending: BTreeSet::new(),
            stop_cause: StopCause::Command,
            ready_waits: Slab::new(),
            graph: deps::Graph::new(),
            dependents: BTreeMap::new(),
        }
    }
}

/// A `start --wait` (or `restart --wait`) reply waiting for its processes.
pub(super) struct ReadyWait {
    pub(super) to: ReplyTo,
    /// The processes and their names when the wait began.
    pub(super) keys: Vec<(usize, String)>,
    /// Lines so far: a process's line once it is settled.
    pub(super) lines: Vec<Option<(String, bool)>>,
}

impl Supervisor {
    /// Rebuilds the dependency graph from the config.
    pub(super) fn rebuild_graph(&mut self) {
        self.stacks.graph = self
            .config
            .tasks
            .iter()
            .map(|(n, t)| (n.clone(), t.depends_on.clone()))
            .collect();
        self.stacks.dependents = deps::dependents(&self.stacks.graph);
    }

    /// The live keys of task `task`'s processes.
    pub(super) fn task_keys(&self, task: &str) -> Vec<usize> {
        self.by_name
            .range(task.to_string()..)
            .take_while(|(n, _)| n.starts_with(task))
            .map(|(_, &k)| k)
            .filter(|&k| self.procs[k].task == task && !self.procs[k].retiring)
            .collect()
    }

    /// What a dependency condition sees of process `key`.
    fn seen(&self, key: usize) -> Seen {
        let e = &self.procs[key];
        match e.proc.state() {
            State::Stopped | State::Waiting { .. } | State::Backoff { .. } => Seen::Down,
            State::Stopping { .. } => Seen::Down,
            State::Started { .. } => Seen::Started,
            State::Running { .. } => Seen::Running {
                ready: self.is_ready(key),
            },
            State::Exited { .. } if e.spawn_queued => Seen::Down,
            State::Exited { status } if e.proc.policy().expected(*status) => Seen::Completed,
            State::Exited { .. } if e.proc.want() == Want::Up => Seen::Failed,
            State::Exited { .. } => Seen::Down,
            State::Fatal { .. } => Seen::Failed,
        }
    }

    /// How the dependencies of process `key` stand: met, unmet (with what
    /// is missing) or failed (with the reason).
    fn dependency_standing(&self, key: usize) -> Result<Option<Vec<(String, Condition)>>, String> {
        let Some(task) = self.spec(key) else {
            return Ok(None);
        };
        let mut unmet = Vec::new();
        for (dep, &cond) in &task.depends_on {
            let keys = self.task_keys(dep);
            match deps::task_standing(cond, keys.iter().map(|&k| self.seen(k))) {
                Standing::Met => {}
                Standing::Unmet => unmet.push((dep.clone(), cond)),
                Standing::Failed => return Err(format!("dependency '{dep}' failed")),
            }
        }
        Ok((!unmet.is_empty()).then_some(unmet))
    }

    /// What WAITING process `key` waits for, as `status` words it
    /// (`db (healthy), migrate (completed)`).
    pub(super) fn waiting_text(&self, key: usize) -> String {
        match self.dependency_standing(key) {
            Ok(Some(unmet)) => deps::waiting_for(&unmet),
            // Met already: released within this turn.
            Ok(None) => self.spec(key).map_or_else(String::new, |t| {
                let all: Vec<(String, Condition)> =
                    t.depends_on.iter().map(|(d, &c)| (d.clone(), c)).collect();
                deps::waiting_for(&all)
            }),
            Err(reason) => reason,
        }
    }

    /// Re-evaluates WAITING process `key`: releases it, fails it, or
    /// updates what it waits for.
    pub(super) fn evaluate_waiting(&mut self, key: usize, now: Instant) {
        if !matches!(
            self.procs.get(key).map(|e| e.proc.state()),
            Some(State::Waiting { released: false })
        ) {
            self.stacks.waiting.remove(&key);
            return;
        }
        match self.dependency_standing(key) {
            Ok(None) => {
                self.stacks.waiting.remove(&key);
                self.procs[key].waiting_for = None;
                self.apply(key, Event::DependenciesMet, now);
            }
            Ok(Some(unmet)) => {
                self.procs[key].waiting_for = Some(deps::waiting_for(&unmet));
            }
            Err(reason) => {
                self.stacks.waiting.remove(&key);
                self.procs[key].waiting_for = None;
                self.apply(key, Event::DependencyFailed { reason }, now);
            }
        }
    }

    /// Brings everything that depends on process states up to date: WAITING
    /// processes, held stops, `--wait` replies. Runs until nothing changes.
    pub(super) fn settle(&mut self, now: Instant) {
        while std::mem::take(&mut self.stacks.dirty) {
            let waiting: Vec<usize> = self.stacks.waiting.iter().copied().collect();
            for k in waiting {
                self.evaluate_waiting(k, now);
            }
            self.release_stops(now);
            self.settle_ready_waits();
        }
    }

    /// Starts what the tasks of `keys` depend on and is not up, dependencies
    /// first. `reply`: spawn at once and return the reply lines; else the
    /// spawns queue like autoLaunch.
    pub(super) fn pull_in(&mut self, keys: &[usize], reply: bool, now: Instant) -> Vec<String> {
        let mut roots: Vec<String> = keys
            .iter()
            .filter_map(|&k| self.procs.get(k).map(|e| e.task.clone()))
            .collect();
        roots.dedup();
        if roots
            .iter()
            .all(|t| self.stacks.graph.get(t).is_none_or(|d| d.is_empty()))
        {
            return Vec::new();
        }
        let mut lines = Vec::new();
        for dep in deps::dependencies_of(&self.stacks.graph, &roots) {
            for k in self.task_keys(&dep) {
                let e = &self.procs[k];
                let start = match e.proc.state() {
                    State::Stopped | State::Fatal { .. } => true,
                    State::Exited { status } => !e.proc.policy().expected(*status),
                    State::Waiting { .. }
                    | State::Started { .. }
                    | State::Running { .. }
                    | State::Backoff { .. }
                    | State::Stopping { .. } => false,
                };
                if !start {
                    continue;
                }
                if reply {
                    lines.push(self.start_key(k, now));
                } else {
                    self.apply(k, Event::StartRequested, now);
                }
            }
        }
        lines
    }

    /// Asks `keys` to stop, dependents before what they depend on: a
    /// process whose dependents (among those being stopped) are not down
    /// yet is held until they are.
    pub(super) fn request_stops(&mut self, keys: &[usize], now: Instant) {
        for &k in keys {
            if self.procs[k].proc.state().is_down() {
                self.apply(k, Event::StopRequested, now);
            } else {
                // Sent later, told as asked by whoever asks now.
                self.stacks.stop_held.insert(k, self.stacks.stop_cause);
            }
        }
        self.stacks.dirty = true;
        self.release_stops(now);
    }

    /// Before `stop` of `keys`: a WAITING process that depends on one of
    /// their tasks would wait for good, so its start is called off, told as
    /// asked by a dependency. Dependents already up are left alone (`stop
    /// db` stops db alone), and a restart keeps them waiting.
    pub(super) fn stop_waiting_dependents(&mut self, keys: &[usize], now: Instant) {
        let tasks: BTreeSet<&str> = keys.iter().map(|&k| self.procs[k].task.as_str()).collect();
        let chosen: BTreeSet<usize> = keys.iter().copied().collect();
        let given_up: Vec<usize> =
            self.stacks
                .waiting
                .iter()
                .copied()
                .filter(|k| !chosen.contains(k))
                .filter(|&k| {
                    self.procs.get(k).is_some_and(|e| {
                        matches!(e.proc.state(), State::Waiting { released: false })
                    }) && self
                        .spec(k)
                        .is_some_and(|t| t.depends_on.keys().any(|d| tasks.contains(d.as_str())))
                })
                .collect();
        for k in given_up {
            self.apply_by(StopCause::Dependency, k, Event::StopRequested, now);
        }
    }

    /// Sends the held stops whose dependents are down.
    fn release_stops(&mut self, now: Instant) {
        let procs = &self.procs;
        self.stacks
            .stop_pending
            .retain(|&k| procs.get(k).is_some_and(|e| !e.proc.state().is_down()));
        if self.stacks.stop_held.is_empty() {
            return;
        }
        self.stacks.stop_held.retain(|&k, _| procs.contains(k));
        let stopping: BTreeSet<&str> = self
            .stacks
            .stop_held
            .keys()
            .chain(self.stacks.stop_pending.iter())
            .map(|&k| self.procs[k].task.as_str())
            .collect();
        let free: Vec<(usize, StopCause)> = self
            .stacks
            .stop_held
            .iter()
            .map(|(&k, &by)| (k, by))
            .filter(|&(k, _)| {
                !deps::stop_blocked(&self.procs[k].task, &self.stacks.dependents, |t| {
                    stopping.contains(t)
                })
            })
            .collect();
        for (k, by) in free {
            self.stacks.stop_held.remove(&k);
            self.apply_by(by, k, Event::StopRequested, now);
            if !self.procs[k].proc.state().is_down() {
                self.stacks.stop_pending.insert(k);
            }
        }
    }

    /// Drops held stops (a forced shutdown kills everything at once).
    pub(super) fn forget_held_stops(&mut self) {
        self.stacks.stop_held.clear();
        self.stacks.stop_pending.clear();
    }

    /// Replies `Process 'x' is ...` per process once each of `keys` is
    /// ready, EXITED or FATAL.
    pub(super) fn wait_ready(&mut self, keys: &[usize], to: ReplyTo) {
        let keys: Vec<(usize, String)> = keys
            .iter()
            .map(|&k| (k, self.procs[k].name.clone()))
            .collect();
        let n = keys.len();
        self.stacks.ready_waits.insert(ReadyWait {
            to,
            keys,
            lines: vec![None; n],
        });
        self.stacks.dirty = true;
    }

    /// The line of a `--wait` reply for process `key`, once it is settled.
    fn ready_line(&self, key: usize, name: &str) -> Option<(String, bool)> {
        let Some(e) = self.procs.get(key).filter(|e| e.name == name) else {
            return Some((format!("Process '{name}' was removed"), false));
        };
        match e.proc.state() {
            State::Running { .. } if self.is_ready(key) => Some(match self.health(key) {
                Some(h) => (format!("Process '{name}' is RUNNING ({})", h.name()), true),
                None => (format!("Process '{name}' is RUNNING"), true),
            }),
            State::Exited { .. } if e.spawn_queued => None,
            State::Exited { status } => Some((
                format!("Process '{name}' is EXITED: {status}"),
                e.proc.policy().expected(*status),
            )),
            State::Fatal { reason } => {
                Some((format!("Process '{name}' is FATAL: {reason}"), false))
            }
            State::Stopped if e.proc.want() == Want::Down => {
                Some((format!("Process '{name}' is STOPPED"), false))
            }
            State::Stopped
            | State::Waiting { .. }
            | State::Started { .. }
            | State::Running { .. }
            | State::Backoff { .. }
            | State::Stopping { .. } => None,
        }
    }

    fn settle_ready_waits(&mut self) {
        if self.stacks.ready_waits.is_empty() {
            return;
        }
        let mut done = Vec::new();
        for (w, wait) in self.stacks.ready_waits.iter() {
            let mut lines = wait.lines.clone();
            for (i, (k, name)) in wait.keys.iter().enumerate() {
                if lines[i].is_none() {
                    lines[i] = self.ready_line(*k, name);
                }
            }
            done.push((w, lines));
        }
        for (w, lines) in done {
            if lines.iter().all(Option::is_some) {
                let wait = self.stacks.ready_waits.remove(w);
                let ok = lines.iter().flatten().all(|(_, ok)| *ok);
                let text: Vec<String> = lines.into_iter().flatten().map(|(l, _)| l).collect();
                self.reply(wait.to, ok, text.join("\n"));
            } else {
                self.stacks.ready_waits[w].lines = lines;
            }
        }
    }

    /// Fails the WAITING processes whose old `dependsOn` named a task a
    /// reload removed.
    pub(super) fn fail_orphaned_waiters(
        &mut self,
        old: &crate::config::Config,
        removed: &[String],
        now: Instant,
    ) {
        let waiting: Vec<usize> = self.stacks.waiting.iter().copied().collect();
        for k in waiting {
            let Some(task) = old.tasks.get(&self.procs[k].task) else {
                continue;
            };
            if let Some(dep) = task.depends_on.keys().find(|d| removed.contains(d)) {
                let reason = format!("dependency '{dep}' was removed");
                self.stacks.waiting.remove(&k);
                self.procs[k].waiting_for = None;
                self.apply(k, Event::DependencyFailed { reason }, now);
            }
        }
    }
}
