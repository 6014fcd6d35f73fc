//! Applying a new configuration: the file is read and validated whole
//! before anything changes; then added tasks start, removed ones stop and
//! go, changed ones restart, policy-only changes apply in place, and a new
//! `instances` starts or stops only the difference. Untouched processes keep
//! their PIDs. A removed process leaves the slab once it is down
//! (`sweep_removed`, after each batch of events). The top-level keys that
//! are not tasks follow: the socket moves, the metrics endpoint listens on
//! its new address, the log file is switched; each is bound or opened
//! before anything changes, so one that fails fails the reload.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use super::commands::Then;
use super::output::Stream;
use super::{ReplyTo, Supervisor};
use crate::config::{self, Config, TaskSpec, diff};
use crate::control::Listener;
use crate::events::record::RELOAD_FAILED;
use crate::events::{Record, StopCause, What};
use crate::process::{Event, Policy, Want};

impl Supervisor {
    /// Re-reads the config file and applies the difference; replies with a
    /// summary, or with the errors (changing nothing). With `dry_run` it
    /// only replies with what it would do.
    pub(super) fn reload(&mut self, dry_run: bool, to: ReplyTo, now: Instant) {
        if self.shutting_down() {
            return self.reply(to, false, "reload: shutting down".into());
        }
        let path = self.config.path.clone();
        let new = match config::load(&path, nix::unistd::geteuid().is_root()) {
            Ok(c) => c,
            Err(e) => return self.reload_failed(dry_run, to, e.to_string()),
        };
        if dry_run {
            let d = diff::diff(&self.config, &new);
            let top = self.top_level_changes(&new);
            return self.reply(to, true, dry_run_summary(&path, &d, &top));
        }
        let top = match self.prepare_top_level(&new) {
            Ok(t) => t,
            Err(e) => return self.reload_failed(false, to, e),
        };
        if let Err(e) = self.rebind(&new) {
            top.discard();
            return self.reload_failed(false, to, e);
        }
        let top = self.apply_top_level(top, &new, now);
        let d = diff::diff(&self.config, &new);
        let old = std::mem::replace(&mut self.config, new);
        self.rebuild_graph();
        // Removed tasks still stop in order: their old edges stay known.
        for r in &d.removed {
            for dep in old
                .tasks
                .get(r)
                .into_iter()
                .flat_map(|t| t.depends_on.keys())
            {
                self.stacks
                    .dependents
                    .entry(dep.clone())
                    .or_default()
                    .push(r.clone());
            }
        }
        self.ensure_notify();
        self.fail_orphaned_waiters(&old, &d.removed, now);
        // One pass over the processes, not one per task.
        let mut by_task: HashMap<String, Vec<usize>> = HashMap::new();
        for &k in self.by_name.values() {
            let e = &self.procs[k];
            if !e.retiring {
                by_task.entry(e.task.clone()).or_default().push(k);
            }
        }
        let mut gone = Vec::new();
        for name in &d.removed {
            gone.extend(by_task.remove(name).unwrap_or_default());
        }
        // Removed tasks stop dependents first, all in one ordered stop.
        self.retire(gone, now);
        let mut started = Vec::new();
        let mut restart = Vec::new();
        let tasks: Vec<TaskSpec> = self.config.tasks.values().cloned().collect();
        for task in &tasks {
            match old.tasks.get(&task.name) {
                None => {
                    for name in task.process_names() {
                        let k = self.insert(&name, task);
                        if task.auto_launch {
                            started.push(k);
                        }
                    }
                }
                Some(before) => {
                    let keys = by_task.remove(&task.name).unwrap_or_default();
                    self.apply_task(before, task, keys, &mut restart, now);
                }
            }
        }
        // What new tasks depend on starts with them.
        self.pull_in(&started, false, now);
        for k in started {
            self.apply(k, Event::StartRequested, now);
        }
        if !restart.is_empty() {
            self.restart_quietly(restart, now);
        }
        let mut lines = vec![format!("Reloaded {}", path.display())];
        if d.is_empty() && top.is_empty() {
            lines.push("no changes".into());
        }
        lines.extend(top);
        for (label, names) in [
            ("added", &d.added),
            ("removed", &d.removed),
            ("changed, restarted", &d.changed),
            ("changed, updated in place", &d.updated),
            ("kept unchanged", &d.unchanged),
        ] {
            if !names.is_empty() {
                lines.push(format!("{label}: {}", names.join(", ")));
            }
        }
        self.record(Record::supervisor(
            SystemTime::now(),
            What::Reloaded {
                summary: lines.join("; "),
            },
        ));
        self.reply(to, true, lines.join("\n"));
    }

    /// A reload that changes nothing: logged (unless it was only a dry
    /// run), and the reply says why.
    fn reload_failed(&mut self, dry_run: bool, to: ReplyTo, error: String) {
        if !dry_run {
            self.record(Record::supervisor(
                SystemTime::now(),
                What::ReloadFailed {
                    error: error.lines().collect::<Vec<_>>().join("; "),
                },
            ));
        }
        self.reply(to, false, format!("{RELOAD_FAILED}\n{error}"));
    }

    /// Moves the control socket when the config's `socket` changed (and no
    /// `--socket` pins it). On failure the old socket stays.
    fn rebind(&mut self, new: &Config) -> Result<(), String> {
        if self.opts.socket_forced || new.socket == self.config.socket {
            return Ok(());
        }
        let path = crate::control::resolve_path(None, new.socket.as_deref());
        if self.opts.socket.as_ref() == Some(&path) {
            return Ok(());
        }
        let mut l = Listener::bind(&path).map_err(|e| e.to_string())?;
        let reg = self.poll.registry();
        reg.register(
            l.source(),
            super::Source::Listener.token(),
            mio::Interest::READABLE,
        )
        .map_err(|e| format!("cannot register control socket {}: {e}", path.display()))?;
        if let Some(mut old) = self.listener.replace(l) {
            let _ = reg.deregister(old.source());
            old.remove();
        }
        self.opts.socket = Some(path);
        Ok(())
    }

    /// What a reload to `new` would change among the top-level keys that
    /// are not tasks, one line each.
    fn top_level_changes(&self, new: &Config) -> Vec<String> {
        let mut lines = Vec::new();
        if new.metrics != self.config.metrics {
            lines.push(match new.metrics {
                Some(a) => format!("metrics: on {a}"),
                None => "metrics: off".into(),
            });
        }
        if !self.opts.logfile_forced && new.logfile != self.config.logfile {
            lines.push(match &new.logfile {
                Some(p) => format!("logfile: {}", p.display()),
                None => "logfile: off".into(),
            });
        } else if self.opts.logfile.is_some()
            && (new.log_max_size, new.log_backups)
                != (self.config.log_max_size, self.config.log_backups)
        {
            lines.push(format!(
                "logfile: logMaxSize {}, logBackups {}",
                new.log_max_size, new.log_backups
            ));
        }
        lines
    }

    /// Binds the new metrics address and opens the new log file, before
    /// anything changes: an error fails the reload.
    fn prepare_top_level(&self, new: &Config) -> Result<TopLevel, String> {
        let metrics = match new.metrics {
            a if a == self.config.metrics => None,
            None => Some(None),
            Some(a) => Some(Some(
                mio::net::TcpListener::bind(a).map_err(|e| format!("metrics {a}: {e}"))?,
            )),
        };
        let mut created = None;
        let logfile = match &new.logfile {
            _ if self.opts.logfile_forced || new.logfile == self.config.logfile => None,
            None => Some(None),
            Some(p) => {
                if std::fs::symlink_metadata(p).is_err() {
                    created = Some(p.clone());
                }
                Some(Some(
                    crate::events::logfile::LogFile::open(p, super::journal::rotation(new))
                        .map_err(|e| {
                            format!("cannot open log file {}: {}", p.display(), e.reason)
                        })?,
                ))
            }
        };
        Ok(TopLevel {
            metrics,
            logfile,
            created,
        })
    }

    /// Puts what `prepare_top_level` made in place; returns the summary's
    /// lines for it.
    fn apply_top_level(&mut self, top: TopLevel, new: &Config, now: Instant) -> Vec<String> {
        let mut lines = self.top_level_changes(new);
        let metrics_line = lines.iter().position(|l| l.starts_with("metrics: "));
        match top.metrics {
            None => {}
            Some(None) => self.http = None,
            Some(Some(l)) => {
                // Clients already queued on the old address are served.
                self.accept_http(now);
                let reg = self.poll.registry();
                if let Some(http) = &mut self.http {
                    let _ = reg.deregister(http.listener());
                    http.set_listener(l);
                } else {
                    self.http = Some(crate::metrics::http::HttpServer::with_listener(l));
                }
                let http = self.http.as_mut().expect("set above");
                let token = super::Source::HttpListener.token();
                let line = match reg.register(http.listener(), token, mio::Interest::READABLE) {
                    // The port bound, when 0 was asked for.
                    Ok(()) => http
                        .local_addr()
                        .map_or_else(|e| format!("metrics: {e}"), |a| format!("metrics: on {a}")),
                    Err(e) => {
                        self.http = None;
                        format!("metrics: off: cannot register the listener: {e}")
                    }
                };
                if let Some(i) = metrics_line {
                    lines[i] = line;
                }
            }
        }
        match top.logfile {
            None => {
                if let Some(f) = &mut self.journal.file {
                    f.set_rotation(super::journal::rotation(new));
                }
            }
            Some(file) => {
                // The old file says where the log goes on, and what it
                // still had to write goes there first.
                if let Some(old) = &mut self.journal.file {
                    let text = match &file {
                        Some(f) => format!("the log goes on in {}", f.path().display()),
                        None => "the log is turned off by a reload".to_string(),
                    };
                    old.push(&Record::supervisor(
                        SystemTime::now(),
                        What::Message {
                            level: crate::events::Level::Info,
                            text,
                        },
                    ));
                }
                self.write_journal();
                self.journal.file = file;
                self.opts.logfile = self.journal.file.as_ref().map(|f| f.path().to_path_buf());
            }
        }
        lines
    }

    /// Stops processes whose place in the config is gone; they stay in
    /// `status` until down, then disappear (`sweep_removed`).
    fn retire(&mut self, keys: Vec<usize>, now: Instant) {
        let by = std::mem::replace(&mut self.stacks.stop_cause, StopCause::Reload);
        for &k in &keys {
            self.procs[k].retiring = true;
            self.removing.push(k);
        }
        self.request_stops(&keys, now);
        self.stacks.stop_cause = by;
    }

    /// Applies the new definition of a task that was there before.
    fn apply_task(
        &mut self,
        before: &TaskSpec,
        task: &TaskSpec,
        mut keys: Vec<usize>,
        restart: &mut Vec<usize>,
        now: Instant,
    ) {
        let changed = !before.same_process(task);
        // One instance is named like the task, several are numbered: the
        // survivor keeps its process (and PID) under its new name.
        if before.instances == 1 && task.instances > 1 {
            self.rename(&task.name, &format!("{}_1", task.name));
        } else if before.instances > 1 && task.instances == 1 {
            self.rename(&format!("{}_1", task.name), &task.name);
        }
        let wanted = task.process_names();
        let wanted_set: std::collections::HashSet<&str> =
            wanted.iter().map(String::as_str).collect();
        let (stay, go): (Vec<usize>, Vec<usize>) = keys
            .drain(..)
            .partition(|&k| wanted_set.contains(self.procs[k].name.as_str()));
        self.retire(go, now);
        let rotation = super::output::rotation_of(task);
        for &k in &stay {
            self.procs[k].proc.set_policy(Policy::of(task));
            // healthCheck and watchdogTimeout apply in place too.
            self.checks_reloaded(k, before, now);
            // logMaxSize and logBackups apply in place, to the open files.
            self.set_rotation(k, rotation);
            if changed {
                let p = &self.procs[k].proc;
                if !p.state().is_down() || p.want() == Want::Up || task.auto_launch {
                    restart.push(k);
                }
            }
        }
        for name in wanted {
            let taken = self
                .by_name
                .get(&name)
                .is_some_and(|&k| !self.procs[k].retiring);
            if !taken {
                let k = self.insert(&name, task);
                if task.auto_launch {
                    self.apply(k, Event::StartRequested, now);
                }
            }
        }
    }

    fn rename(&mut self, from: &str, to: &str) {
        if let Some(k) = self.by_name.remove(from) {
            self.procs[k].name = to.to_string();
            self.by_name.insert(to.to_string(), k);
        }
    }

    /// Restarts processes with nobody waiting for the reply.
    fn restart_quietly(&mut self, keys: Vec<usize>, now: Instant) {
        let then = Then::Start(self.start_later(&keys));
        let by = std::mem::replace(&mut self.stacks.stop_cause, StopCause::Reload);
        self.stop_then(keys, then, ReplyTo::Quiet, now);
        self.stacks.stop_cause = by;
    }

    /// Removes entries marked for removal once they are down. Runs after
    /// each batch so no key is reused inside one.
    pub(super) fn sweep_removed(&mut self) {
        if self.removing.is_empty() {
            return;
        }
        let procs = &self.procs;
        let (done, keep): (Vec<usize>, Vec<usize>) = self.removing.iter().partition(|&&k| {
            procs
                .get(k)
                .is_none_or(|e| e.proc.state().is_down() && e.waiters.is_empty())
        });
        self.removing = keep;
        for k in done {
            if !self.procs.contains(k) {
                continue;
            }
            for s in Stream::BOTH {
                self.close_pipe(k, s);
            }
            self.end_checks(k);
            self.stacks.waiting.remove(&k);
            self.stacks.stop_held.remove(&k);
            self.stacks.stop_pending.remove(&k);
            let mut e = self.procs.remove(k);
            e.out.release(&mut self.logs.files);
            if self.by_name.get(&e.name) == Some(&k) {
                self.by_name.remove(&e.name);
            }
        }
    }
}

/// What `reload --dry-run` prints: the plan, in the words of the reload
/// reply.
/// The metrics listener and log file a reload switches to (`None`: no
/// change; `Some(None)`: turned off).
struct TopLevel {
    metrics: Option<Option<mio::net::TcpListener>>,
    logfile: Option<Option<crate::events::logfile::LogFile>>,
    /// The new log file, when opening it created it.
    created: Option<std::path::PathBuf>,
}

impl TopLevel {
    /// Lets go of what was bound or opened for a reload that failed after
    /// all; a log file it created, still empty, is removed.
    fn discard(self) {
        if let Some(p) = self.created
            && std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_file() && m.len() == 0)
        {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn dry_run_summary(path: &std::path::Path, d: &diff::Diff, top: &[String]) -> String {
    let mut lines = vec![format!(
        "Dry run of {}: valid, nothing changed",
        path.display()
    )];
    if d.is_empty() && top.is_empty() {
        lines.push("a reload would change nothing".into());
    }
    lines.extend(top.iter().map(|l| format!("would change {l}")));
    for (label, names) in [
        ("would add", &d.added),
        ("would remove", &d.removed),
        ("would restart", &d.changed),
        ("would change in place", &d.updated),
        ("would keep unchanged", &d.unchanged),
    ] {
        if !names.is_empty() {
            lines.push(format!("{label}: {}", names.join(", ")));
        }
    }
    lines.join("\n")
}
