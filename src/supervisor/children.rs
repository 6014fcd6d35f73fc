//! Children coming and going: the signals the loop handles (SIGCHLD reaps,
//! SIGTERM/SIGINT shut down, SIGHUP reloads, SIGUSR1/SIGUSR2 reopen logs,
//! the rest go to every group as PID 1), the
//! reap loop that turns exits into `Exited` events, the groups that outlive
//! their leader, and the spawn queue: `SPAWN_BATCH` spawns per iteration
//! at most, and no more once `SPAWN_TIME` has passed, each one asked of
//! the state machine (`SpawnTurn`) before it happens.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::output::Stream;
use super::{ReplyTo, SPAWN_BATCH, Supervisor};
use crate::error::Error;
use crate::events::What;
use crate::process::{Action, Event, State};
use crate::signals;
use crate::spawn::{SpawnError, Spawner};

/// The time one loop iteration spends spawning, at most (the spawn under
/// way finishes): commands wait that long at worst behind a wave of
/// restarts.
const SPAWN_TIME: Duration = Duration::from_millis(5);

/// The children as the OS knows them.
pub(super) struct Children {
    pub(super) by_pid: HashMap<i32, usize>,
    /// Processes whose leader is gone while group members still live.
    pub(super) lingering: Vec<usize>,
    /// Groups whose leader exited on its own: SIGKILL time by pgid.
    pub(super) released: HashMap<i32, Instant>,
    /// Processes not down.
    pub(super) alive: usize,
    /// Processes to spawn, `SPAWN_BATCH` per loop iteration.
    pub(super) spawn_queue: VecDeque<usize>,
    /// Makes children; its stack and fd slots serve every spawn.
    pub(super) spawner: Spawner,
    /// The started process groups, recorded beside the socket.
    pub(super) state: Option<crate::strays::StateFile>,
}

impl Children {
    pub(super) fn new(spawner: Spawner) -> Children {
        Children {
            by_pid: HashMap::new(),
            lingering: Vec::new(),
            released: HashMap::new(),
            alive: 0,
            spawn_queue: VecDeque::new(),
            spawner,
            state: None,
        }
    }
}

impl Supervisor {
    /// Handles every pending signal; reaps once for any number of SIGCHLD.
    pub(super) fn on_signals(&mut self, now: Instant) -> Result<(), Error> {
        let mut reap = false;
        while let Some(sig) = self
            .signals
            .next_signal()
            .map_err(|e| Error::io("cannot read signalfd", e))?
        {
            if !matches!(sig, libc::SIGCHLD | libc::SIGWINCH) {
                self.emit_supervisor(What::SignalReceived { signal: sig });
            }
            match sig {
                libc::SIGCHLD => reap = true,
                libc::SIGTERM | libc::SIGINT => {
                    if !self.shutting_down() {
                        self.emit_supervisor(What::ShuttingDown {
                            reason: format!("{} received", crate::signame::name(sig)),
                        });
                    }
                    self.begin_shutdown(0, None, now)
                }
                libc::SIGHUP => self.reload(false, ReplyTo::Log, now),
                libc::SIGUSR1 | libc::SIGUSR2 => {
                    self.reopen_logs();
                    self.reopen_journal();
                }
                libc::SIGWINCH => {
                    if let Some(stdin) = &mut self.shell.stdin {
                        stdin.resize(&mut self.console);
                    }
                    self.stray_signal(sig);
                }
                _ => self.stray_signal(sig),
            }
        }
        if reap {
            self.reap(now);
        }
        Ok(())
    }

    /// A signal with no meaning of its own: as PID 1 it goes to the group
    /// of every running process (as tini does); otherwise it is ignored.
    fn stray_signal(&mut self, sig: i32) {
        if !self.opts.pid1 {
            return;
        }
        for (_, e) in self.procs.iter() {
            if let Some(pid) = e.proc.state().pid() {
                let _ = signals::signal_group(pid, sig);
            }
        }
    }

    /// Reaps every exited child; signals coalesce, so until none is left.
    fn reap(&mut self, now: Instant) {
        let mut orphans = false;
        loop {
            let (pid, status) = match signals::reap_one() {
                Ok(Some(x)) => x,
                Ok(None) => break,
                Err(e) => {
                    self.notice(&format!("waitpid failed: {e}"));
                    break;
                }
            };
            let Some(key) = self.children.by_pid.remove(&pid) else {
                if self.checks.pids.contains_key(&pid) {
                    self.check_exited(pid, status, now);
                } else {
                    orphans = true;
                }
                continue;
            };
            // Output written before the exit comes before its notice.
            self.read_pipe(key, Stream::Stdout);
            self.read_pipe(key, Stream::Stderr);
            let group_alive = signals::group_alive(pid);
            if let Some(s) = &mut self.children.state {
                s.leader_exited(pid, group_alive);
            }
            self.apply(
                key,
                Event::Exited {
                    status,
                    group_alive,
                },
                now,
            );
        }
        if orphans || !self.children.lingering.is_empty() {
            self.check_lingering(now);
        }
    }

    /// Tells stopping processes whose group emptied, and forgets released
    /// groups that are gone.
    fn check_lingering(&mut self, now: Instant) {
        let gone: Vec<usize> = self
            .children
            .lingering
            .iter()
            .copied()
            .filter(|&k| match self.procs.get(k).map(|e| e.proc.state()) {
                Some(&State::Stopping {
                    pid,
                    leader_gone: true,
                    ..
                }) => !signals::group_alive(pid),
                _ => true,
            })
            .collect();
        for k in gone {
            self.children.lingering.retain(|&x| x != k);
            self.apply(k, Event::GroupGone, now);
        }
        self.children
            .released
            .retain(|&pgid, _| signals::group_alive(pgid));
    }

    /// Spawns the next `SPAWN_BATCH` queued processes, or fewer when they
    /// have taken `SPAWN_TIME` already: a spawn waits for its child's
    /// exec, which a machine busy with a restart wave makes slow (0.6 ms
    /// each was measured with 1000 crash-looping processes on 2 cores), and
    /// a command that came meanwhile waits for the batch to end.
    ///
    /// One spawn is always tried: a loaded machine may take `SPAWN_TIME`
    /// between two readings of the clock, and the queue must still move.
    pub(super) fn spawn_batch(&mut self, now: Instant) {
        let started = Instant::now();
        let mut budget = SPAWN_BATCH;
        while budget > 0 && (budget == SPAWN_BATCH || started.elapsed() < SPAWN_TIME) {
            let Some(key) = self.children.spawn_queue.pop_front() else {
                return;
            };
            if self.spawn_now(key, now) {
                budget -= 1;
            }
        }
    }

    /// Gives process `key`'s queued spawn its turn now: the state machine
    /// says whether it is still wanted (a stop since then cancels it), and
    /// none starts during a shutdown. `start` uses this to reply with the
    /// PID. Returns whether it tried.
    pub(super) fn spawn_now(&mut self, key: usize, now: Instant) -> bool {
        let Some(e) = self.procs.get_mut(key) else {
            return false;
        };
        if !std::mem::take(&mut e.spawn_queued) || self.shutting_down() {
            return false;
        }
        let actions = self.transition(key, Event::SpawnTurn, now);
        let tried = actions.contains(&Action::SpawnNow);
        self.perform_all(key, actions, now);
        tried
    }

    /// Carries out `SpawnNow` for process `key` and reports the result to
    /// its state machine.
    pub(super) fn spawn_and_report(&mut self, key: usize, now: Instant) {
        let ev = match self.spawn_entry(key) {
            Ok(pid) => Event::Spawned { pid },
            Err(err) => Event::SpawnFailed {
                reason: err.reason,
                transient: err.transient,
            },
        };
        self.apply(key, ev, now);
    }

    /// With a socket: stops what a dead supervisor on the same socket left
    /// running, then starts a fresh state file (`strays.rs`).
    pub(super) fn recover_strays(&mut self) {
        let Some(socket) = self.opts.socket.as_ref().filter(|_| self.opts.state_file) else {
            return;
        };
        let path = crate::strays::path_for(socket);
        for n in crate::strays::recover(&path) {
            self.notice(&n);
        }
        let (state, err) = crate::strays::StateFile::create(path);
        if let Some(e) = err {
            self.notice(&e);
        }
        self.children.state = Some(state);
    }

    /// Spawns process `key`: closes the pipes of its last child, opens its
    /// log files, registers the new pipes.
    fn spawn_entry(&mut self, key: usize) -> Result<i32, SpawnError> {
        let name = &self.procs[key].name;
        let Some(mut task) = self.spec(key).map(|t| t.for_process(name)) else {
            return Err(SpawnError {
                reason: "task is no longer configured".into(),
                transient: false,
            });
        };
        if let (true, Some(n)) = (task.notify, &self.checks.notify) {
            task.environment
                .insert("NOTIFY_SOCKET".into(), n.address().to_string());
        }
        // What the last child (or its group) wrote is read before its pipes
        // close: the log files lose nothing.
        self.drain_pipes(key);
        let rotation = super::output::rotation_of(&task);
        self.open_sink(key, Stream::Stdout, task.stdout.as_deref(), rotation)?;
        self.open_sink(key, Stream::Stderr, task.stderr.as_deref(), rotation)?;
        let child = self.children.spawner.spawn(&task)?;
        self.watch_pipe(key, Stream::Stdout, child.stdout);
        self.watch_pipe(key, Stream::Stderr, child.stderr);
        if let Some(s) = &mut self.children.state {
            let name = &self.procs[key].name;
            s.started(
                child.pid,
                child.born,
                task.stop_signal,
                task.stop_timeout,
                name,
            );
        }
        self.children.by_pid.insert(child.pid, key);
        Ok(child.pid)
    }
}
