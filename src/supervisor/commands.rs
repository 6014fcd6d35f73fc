//! Carrying out commands from the shell and the control socket. Replies that
//! depend on processes going down (`stop`, `restart`, `shutdown`) wait in
//! `waits` and are sent when the last process is down; nothing here blocks.

use std::borrow::Cow;
use std::time::Instant;

use super::render::{self, Row};
use super::{ReplyTo, Supervisor};
use crate::process::{Event, State};
use crate::shell::command::{self, Command};

/// What to do once every process of a wait is down.
pub(super) enum Then {
    Reply,
    /// `restart`: start these processes, then reply.
    Start(Vec<(usize, String)>),
    /// `restart --wait`: start these processes, then reply once each is
    /// ready, EXITED or FATAL.
    StartWait(Vec<(usize, String)>),
}

/// A reply waiting for processes to go down.
pub(super) struct Wait {
    to: ReplyTo,
    pending: usize,
    lines: Vec<String>,
    ok: bool,
    then: Then,
}

impl Supervisor {
    /// Parses and runs one command line.
    pub(super) fn execute_line(&mut self, line: &str, to: ReplyTo, now: Instant) {
        match command::parse(line) {
            Ok(Some(cmd)) => self.execute(cmd, to, now),
            Ok(None) => self.reply(to, true, String::new()),
            Err(e) => self.reply(to, false, format!("error: {e}")),
        }
    }

    /// Runs `cmd`; the reply goes to `to` now or once processes are down.
    pub(super) fn execute(&mut self, cmd: Command, to: ReplyTo, now: Instant) {
        let result = match cmd {
            Command::Status { names, json } => {
                // Colour only for the shell on a terminal, never on the socket.
                let colour = to == ReplyTo::Shell && self.shell_colour();
                self.status(&names, json, colour, now)
            }
            Command::Start(names) => self.resolve(&names).map(|keys| {
                let lines: Vec<String> =
                    keys.iter().flat_map(|&k| self.start_one(k, now)).collect();
                let ok = !lines.iter().any(|l| l.contains("failed to start"));
                (ok, lines.join("\n"))
            }),
            Command::StartWait(names) => match self.resolve(&names) {
                Ok(keys) => {
                    for &k in &keys {
                        self.start_one(k, now);
                    }
                    return self.wait_ready(&keys, to);
                }
                Err(e) => Err(e),
            },
            Command::Stop(names) => match self.resolve(&names) {
                Ok(keys) => {
                    self.stop_waiting_dependents(&keys, now);
                    return self.stop_then(keys, Then::Reply, to, now);
                }
                Err(e) => Err(e),
            },
            Command::Restart(names) => match self.resolve(&names) {
                Ok(keys) => {
                    let then = Then::Start(self.start_later(&keys));
                    return self.stop_then(keys, then, to, now);
                }
                Err(e) => Err(e),
            },
            Command::RestartWait(names) => match self.resolve(&names) {
                Ok(keys) => {
                    let named = self.start_later(&keys);
                    return self.stop_then(keys, Then::StartWait(named), to, now);
                }
                Err(e) => Err(e),
            },
            Command::Reload { dry_run } => return self.reload(dry_run, to, now),
            Command::Logs {
                name,
                lines,
                follow,
                streams,
            } => match self.resolve(std::slice::from_ref(&name)) {
                Ok(keys) => {
                    // One process named as such: plain lines; a task, a
                    // glob or `all`: each line says whose it is.
                    let named = !self.by_name.contains_key(&name);
                    // Process text on the operator's terminal is escaped.
                    let tty =
                        to == ReplyTo::Shell && self.console.is_tty(crate::console::Stream::Out);
                    let text = self.recent_lines(&keys, lines, streams, named, tty);
                    if follow {
                        return self.follow(keys, streams, named, &text, to);
                    }
                    Ok((true, text))
                }
                Err(e) => Err(e),
            },
            Command::Clear(names) => self.resolve(&names).map(|keys| {
                let lines: Vec<String> = keys
                    .iter()
                    .map(|&k| {
                        let e = &mut self.procs[k];
                        e.ring.clear();
                        format!("Cleared the kept output of '{}'", e.name)
                    })
                    .collect();
                (true, lines.join("\n"))
            }),
            Command::Version => Ok((true, format!("taskmaster {}", env!("CARGO_PKG_VERSION")))),
            Command::Signal { sig, names } => self.resolve(&names).map(|keys| {
                let mut ok = true;
                let lines = keys
                    .iter()
                    .map(|&k| {
                        let e = &self.procs[k];
                        match e.proc.state().pid() {
                            Some(pid) => match crate::signals::signal_group(pid, sig) {
                                Ok(()) => format!(
                                    "Sent {} to '{}' (PID {pid})",
                                    crate::signame::name(sig),
                                    e.name
                                ),
                                Err(err) => {
                                    ok = false;
                                    format!(
                                        "Process '{}': cannot send {}: {err}",
                                        e.name,
                                        crate::signame::name(sig)
                                    )
                                }
                            },
                            None => {
                                ok = false;
                                format!("Process '{}' is not running", e.name)
                            }
                        }
                    })
                    .collect::<Vec<_>>();
                (ok, lines.join("\n"))
            }),
            Command::Pid(None) => Ok((true, std::process::id().to_string())),
            Command::Pid(Some(name)) => self.resolve(std::slice::from_ref(&name)).map(|keys| {
                let pid = |k: usize| self.procs[k].proc.state().pid();
                match keys[..] {
                    [k] => match pid(k) {
                        Some(p) => (true, p.to_string()),
                        None => (
                            false,
                            format!("Process '{}' is not running", self.procs[k].name),
                        ),
                    },
                    _ => {
                        let lines: Vec<String> = keys
                            .iter()
                            .map(|&k| {
                                format!(
                                    "{} {}",
                                    self.procs[k].name,
                                    pid(k).map_or("-".into(), |p| p.to_string())
                                )
                            })
                            .collect();
                        (true, lines.join("\n"))
                    }
                }
            }),
            Command::Help(topic) => command::help(topic.as_deref()).map(|t| (true, t)),
            Command::Metrics => Ok((true, self.metrics_text(now))),
            Command::Events => match to {
                ReplyTo::Conn(k) => return self.subscribe(k),
                ReplyTo::Shell | ReplyTo::Log | ReplyTo::Quiet => Err(
                    "events streams through the control socket: run 'taskmaster ctl events'".into(),
                ),
            },
            Command::Shutdown => {
                if !self.shutting_down() {
                    if to == ReplyTo::Shell {
                        self.say(crate::console::Stream::Out, "Shutting down...");
                    }
                    self.emit_supervisor(crate::events::What::ShuttingDown {
                        reason: "asked by the shutdown command".into(),
                    });
                }
                let waiter = if to == ReplyTo::Shell { None } else { Some(to) };
                self.begin_shutdown(0, waiter, now);
                return;
            }
        };
        match result {
            Ok((ok, text)) => self.reply(to, ok, text),
            Err(e) => self.reply(to, false, format!("error: {e}")),
        }
    }

    /// The slab keys for names: a process, a task (all its processes),
    /// `all`, a glob over process names, `task:*` or `task:N`, in name order
    /// without repeats. One name that stands for nothing fails it all, so a
    /// command naming an unknown process does nothing.
    pub(super) fn resolve(&self, names: &[String]) -> Result<Vec<usize>, String> {
        use crate::shell::select::{self, Selector};
        let mut keys = Vec::new();
        let of_task = |task: &str| -> Vec<usize> {
            self.by_name
                .values()
                .copied()
                .filter(|&k| self.procs[k].task == task)
                .collect()
        };
        for n in names {
            let before = keys.len();
            // A task with no process (instances: 0) is known, not an error.
            let mut known_task = false;
            match select::selector(n) {
                Selector::All => keys.extend(self.by_name.values().copied()),
                Selector::Name(name) => match self.by_name.get(name) {
                    Some(&k) => keys.push(k),
                    None if self.config.tasks.contains_key(name) => {
                        known_task = true;
                        keys.extend(of_task(name));
                    }
                    None => {}
                },
                Selector::Task(task) if self.config.tasks.contains_key(task) => {
                    known_task = true;
                    keys.extend(of_task(task));
                }
                Selector::Task(_) => {}
                Selector::Member { task, member } => {
                    if let Some(t) = self.config.tasks.get(task) {
                        let name = select::member(task, t.instances, member);
                        keys.extend(
                            self.by_name
                                .get(&name)
                                .copied()
                                .filter(|&k| self.procs[k].task == task),
                        );
                    }
                }
                Selector::Glob(pattern) => keys.extend(
                    self.by_name
                        .iter()
                        .filter(|(name, _)| select::glob(pattern, name))
                        .map(|(_, &k)| k),
                ),
            }
            if keys.len() == before && !known_task {
                return Err(format!(
                    "no such process or task: '{}'",
                    crate::text::one_line(n)
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        keys.retain(|k| seen.insert(*k));
        keys.sort_by(|&a, &b| self.procs[a].name.cmp(&self.procs[b].name));
        Ok(keys)
    }

    fn status(
        &self,
        names: &[String],
        json: bool,
        colour: bool,
        now: Instant,
    ) -> Result<(bool, String), String> {
        let keys = if names.is_empty() {
            self.by_name.values().copied().collect()
        } else {
            self.resolve(names)?
        };
        let rows: Vec<Row> = keys
            .iter()
            .map(|&k| {
                let e = &self.procs[k];
                let p = &e.proc;
                let reason = match p.state() {
                    // Asked to start, its turn in a start storm's queue to
                    // come.
                    _ if e.spawn_queued && p.want() == crate::process::Want::Up => {
                        Some("start queued".to_string())
                    }
                    State::Fatal { reason } | State::Backoff { reason, .. } => Some(reason.clone()),
                    State::Waiting { .. } => {
                        e.waiting_for.as_ref().map(|w| format!("waiting for {w}"))
                    }
                    State::Started { .. } | State::Running { .. } => self.health_reason(k),
                    _ => None,
                };
                Row {
                    name: &e.name,
                    task: &e.task,
                    state: p.state().name(),
                    pid: p.state().pid(),
                    uptime: p
                        .state()
                        .pid()
                        .and(p.since())
                        .map(|s| now.saturating_duration_since(s)),
                    restarts: p.restarts(),
                    health: self.health(k).map(|h| h.name()),
                    ready: self.is_ready(k),
                    exit_code: p.last_exit().map(|s| s.code),
                    reason,
                    command: self
                        .config
                        .tasks
                        .get(&e.task)
                        .map_or(Cow::Borrowed(""), |t| t.command_of(&e.name)),
                }
            })
            .collect();
        Ok((
            true,
            if json {
                render::json(&rows)
            } else {
                render::table_styled(&rows, colour)
            },
        ))
    }

    /// Starts process `key` and what it depends on that is not up; returns
    /// the reply lines, the dependencies' first.
    pub(super) fn start_one(&mut self, key: usize, now: Instant) -> Vec<String> {
        let mut lines = self.pull_in(&[key], true, now);
        lines.push(self.start_key(key, now));
        lines
    }

    /// Starts process `key` alone; returns its reply line.
    pub(super) fn start_key(&mut self, key: usize, now: Instant) -> String {
        let e = &self.procs[key];
        let name = e.name.clone();
        if e.retiring {
            return format!("Process '{name}' failed to start: it is being removed by a reload");
        }
        match *e.proc.state() {
            State::Started { pid, .. } | State::Running { pid } => {
                return format!("Process '{name}' is already running with PID {pid}");
            }
            State::Stopping { .. } => {
                self.apply(key, Event::StartRequested, now);
                return format!("Process '{name}' is stopping; it starts again once down");
            }
            _ => {}
        }
        self.apply(key, Event::StartRequested, now);
        if matches!(self.procs[key].proc.state(), State::Waiting { .. }) {
            self.evaluate_waiting(key, now);
        }
        // Not behind the queued start storm: the reply names the PID.
        self.spawn_now(key, now);
        let e = &self.procs[key];
        match e.proc.state() {
            State::Started { pid, .. } | State::Running { pid } => {
                format!("Process '{name}' started with PID {pid}")
            }
            State::Fatal { reason } => format!("Process '{name}' failed to start: {reason}"),
            State::Backoff { reason, .. } => {
                format!("Process '{name}' failed to start: {reason}; retrying")
            }
            State::Waiting { released: false } => format!(
                "Process '{name}' is waiting for {}",
                e.waiting_for.as_deref().unwrap_or("its dependencies")
            ),
            other => format!("Process '{name}' is {}", other.name()),
        }
    }

    /// Stops `keys`, then (once all are down) does `then` and replies.
    pub(super) fn stop_then(&mut self, keys: Vec<usize>, then: Then, to: ReplyTo, now: Instant) {
        let w = self.waits.insert(Wait {
            to,
            pending: 0,
            lines: Vec::new(),
            ok: true,
            then,
        });
        let was_backoff: Vec<bool> = keys
            .iter()
            .map(|&k| matches!(self.procs[k].proc.state(), State::Backoff { .. }))
            .collect();
        // Dependents first; what waits for them is held meanwhile.
        self.request_stops(&keys, now);
        for (&k, was_backoff) in keys.iter().zip(was_backoff) {
            let e = &mut self.procs[k];
            if e.proc.state().is_down() {
                let line = if was_backoff {
                    format!("Process '{}' stopped", e.name)
                } else {
                    format!("Process '{}' is not running", e.name)
                };
                self.waits[w].lines.push(line);
            } else {
                e.waiters.push(w);
                self.waits[w].pending += 1;
            }
        }
        if self.waits[w].pending == 0 {
            self.finish_wait(w, now);
        }
    }

    /// One process of wait `w` is down.
    pub(super) fn wait_done(&mut self, w: usize, line: String, now: Instant) {
        let Some(wait) = self.waits.get_mut(w) else {
            return;
        };
        wait.lines.push(line);
        wait.pending -= 1;
        if wait.pending == 0 {
            self.finish_wait(w, now);
        }
    }

    /// `keys` with their names, for a wait that starts them again once
    /// they are down: each only if it is still the same process.
    pub(super) fn start_later(&self, keys: &[usize]) -> Vec<(usize, String)> {
        keys.iter()
            .map(|&k| (k, self.procs[k].name.clone()))
            .collect()
    }

    fn finish_wait(&mut self, w: usize, now: Instant) {
        let mut wait = self.waits.remove(w);
        let then = std::mem::replace(&mut wait.then, Then::Reply);
        if let Then::StartWait(keys) = then {
            let live: Vec<usize> = keys
                .iter()
                .filter(|(k, name)| {
                    self.procs
                        .get(*k)
                        .is_some_and(|e| e.name == *name && !e.retiring)
                })
                .map(|&(k, _)| k)
                .collect();
            for &k in &live {
                self.start_one(k, now);
            }
            return self.wait_ready(&live, wait.to);
        }
        if let Then::Start(keys) = then {
            for (k, name) in keys {
                // A key freed and reused meanwhile (a reload removed the
                // process) is not the process that was named.
                let same = self
                    .procs
                    .get(k)
                    .is_some_and(|e| e.name == name && !e.retiring);
                if same {
                    for line in self.start_one(k, now) {
                        wait.ok &= !line.contains("failed to start");
                        wait.lines.push(line);
                    }
                }
            }
        }
        self.reply(wait.to, wait.ok, wait.lines.join("\n"));
    }
}
