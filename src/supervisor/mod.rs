//! The event loop: one `mio::Poll` over the signalfd, the timerfd, every
//! child pipe, stdin, the control socket and its connections; a slab of
//! processes; the pid -> key map. It turns what the OS reports into `Event`s
//! for `process::step` and carries out the `Action`s that come back. It never
//! sleeps and never polls: with nothing to do it waits in `epoll_wait`.

mod commands;
mod conns;
mod reload;
pub mod render;
pub mod token;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};
use slab::Slab;

use crate::config::{Config, TaskSpec};
use crate::console::{Console, Stream};
use crate::control::{Conn, Listener};
use crate::error::Error;
use crate::logs::lines::Lines;
use crate::logs::ring::Ring;
use crate::logs::sink::Sink;
use crate::process::{Action, Event, Policy, Proc, State, step};
use crate::shell::stdin::Fill;
use crate::signals::{self, Signals};
use crate::timers::{Due, Timers};
use token::Source;

/// Bytes read from one pipe per wake-up before other sources get a turn.
const READ_BUDGET: usize = 256 * 1024;
/// How long a control connection may stay silent before it is closed.
const CONN_IDLE: Duration = Duration::from_secs(10);
/// Spawns per loop iteration: a start storm (autoLaunch of thousands, a
/// wave of restarts) is spread over iterations so commands, output and
/// signals are served in between.
const SPAWN_BATCH: usize = 32;
/// How long orphans left at shutdown (as PID 1) have between SIGTERM and
/// SIGKILL.
pub const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// The last phase of a shutdown as PID 1: processes nobody manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// SIGTERM sent; SIGKILL at this instant.
    Term(Instant),
    /// SIGKILL sent; at this instant we stop waiting (a process stuck in
    /// uninterruptible sleep, or kernel threads when we are a VM's init).
    Killed(Instant),
    /// Whatever is left is not waited for.
    GaveUp,
}

/// How the supervisor runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Forward child output to our own stdout/stderr as `NAME | line`.
    pub forward: bool,
    /// The control socket path, already resolved.
    pub socket: Option<PathBuf>,
    /// `--socket` as given (or `--no-socket`), so a reload does not move
    /// the socket.
    pub socket_forced: bool,
    /// The socket path was chosen (flag, environment or config): failing
    /// to create it is an error, not a warning.
    pub socket_explicit: bool,
    /// Running as PID 1: at shutdown, orphans in the namespace are swept.
    pub pid1: bool,
    /// The open-file soft limit children get back (`limits::raise`).
    pub child_nofile: Option<u64>,
}

/// A child pipe being read.
struct Pipe {
    fd: OwnedFd,
    lines: Lines,
}

/// One process and everything the loop keeps for it.
struct Entry {
    name: String,
    task: String,
    proc: Proc,
    /// stdout and stderr pipes of the current (or last) child.
    pipes: [Option<Pipe>; 2],
    /// The configured log files, opened at the first spawn.
    sinks: [Option<Sink>; 2],
    ring: Ring,
    /// The last spawn error, shown with BACKOFF.
    spawn_error: Option<String>,
    /// Pending replies waiting for this process to be down.
    waiters: Vec<usize>,
    /// A spawn waits in `spawn_queue`.
    spawn_queued: bool,
    /// Its place in the config is gone: it stops, then disappears.
    retiring: bool,
}

/// Where a reply goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    Shell,
    Conn(usize),
    /// A reload from SIGHUP: errors go to stderr.
    Log,
    /// Nobody waits (restarts a reload set off).
    Quiet,
}

/// What to do once every process of a wait is down.
enum Then {
    Reply,
    /// `restart`: start these processes, then reply.
    Start(Vec<(usize, String)>),
}

/// A reply waiting for processes to go down.
struct Wait {
    to: ReplyTo,
    pending: usize,
    lines: Vec<String>,
    ok: bool,
    then: Then,
}

/// The supervisor.
pub struct Supervisor {
    poll: Poll,
    opts: Options,
    config: Config,
    procs: Slab<Entry>,
    by_name: BTreeMap<String, usize>,
    by_pid: HashMap<i32, usize>,
    /// Processes whose leader is gone while group members still live.
    lingering: Vec<usize>,
    /// Groups whose leader exited on its own: SIGKILL time by pgid.
    released: HashMap<i32, Instant>,
    /// Processes not down.
    alive: usize,
    /// Processes to remove once down (their task left the config).
    removing: Vec<usize>,
    timers: Timers,
    signals: Signals,
    console: Console,
    listener: Option<Listener>,
    conns: Slab<Conn>,
    waits: Slab<Wait>,
    /// Pipes with data left after their read budget.
    backlog: VecDeque<Source>,
    /// Processes to spawn, `SPAWN_BATCH` per loop iteration.
    spawn_queue: VecDeque<usize>,
    stdin: Option<crate::shell::stdin::Stdin>,
    /// A shell command waits for its reply; further lines wait.
    shell_busy: bool,
    /// The shell became free: read the lines that waited.
    stdin_resume: bool,
    /// Shutting down: the exit status, and who waits for the end.
    shutdown: Option<(i32, Vec<ReplyTo>)>,
    forced: bool,
    sweep: Option<Sweep>,
    /// Makes children; its stack and fd slots serve every spawn.
    spawner: crate::spawn::Spawner,
    read_buf: Vec<u8>,
}

/// Where the lines of stream `i` are forwarded: to the stream a
/// `/dev/stdout` or `/dev/stderr` sink names, else to the matching stream
/// when forwarding is on.
fn forward_to(sink: &Option<Sink>, forward: bool, i: usize) -> Option<Stream> {
    match sink.as_ref().and_then(Sink::forwards_to) {
        Some(s) => Some(s),
        None if forward => Some(if i == 0 { Stream::Out } else { Stream::Err }),
        None => None,
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Supervisor {
    /// Sets up the loop's own fds and the processes of `config` (none is
    /// started yet). Fails when an fd of the loop cannot be made.
    pub fn new(
        config: Config,
        opts: Options,
        stdin: Option<crate::shell::stdin::Stdin>,
    ) -> Result<Supervisor, Error> {
        let poll = Poll::new().map_err(|e| Error::io("cannot create epoll instance", e))?;
        let signals = Signals::new().map_err(|e| Error::io("cannot set up signalfd", e))?;
        let timers = Timers::new().map_err(|e| Error::io("cannot create timerfd", e))?;
        let reg = poll.registry();
        reg.register(
            &mut SourceFd(&signals.as_raw_fd()),
            Source::Signals.token(),
            Interest::READABLE,
        )
        .map_err(|e| Error::io("cannot register signalfd", e))?;
        reg.register(
            &mut SourceFd(&timers.as_raw_fd()),
            Source::Timer.token(),
            Interest::READABLE,
        )
        .map_err(|e| Error::io("cannot register timerfd", e))?;
        let console = Console::new();
        for (fd, k) in [(1, 0), (2, 1)] {
            // Regular files and /dev/null cannot be polled; they never block.
            let _ = reg.register(
                &mut SourceFd(&fd),
                Source::Console(k).token(),
                Interest::WRITABLE,
            );
        }
        let mut opts = opts;
        let mut warning = None;
        let listener = match &opts.socket {
            Some(path) if opts.socket_explicit => Some(Listener::bind(path)?),
            Some(path) => Listener::bind_default(path)?
                .map_err(|w| warning = Some(w))
                .ok(),
            None => None,
        };
        let listener = match listener {
            Some(mut l) => {
                reg.register(l.source(), Source::Listener.token(), Interest::READABLE)
                    .map_err(|e| Error::io("cannot register control socket", e))?;
                Some(l)
            }
            None => {
                opts.socket = None;
                None
            }
        };
        let child_nofile = opts.child_nofile;
        let mut sup = Supervisor {
            poll,
            opts,
            config: Config::empty(&config.path),
            procs: Slab::new(),
            by_name: BTreeMap::new(),
            by_pid: HashMap::new(),
            lingering: Vec::new(),
            released: HashMap::new(),
            alive: 0,
            removing: Vec::new(),
            timers,
            signals,
            console,
            listener,
            conns: Slab::new(),
            waits: Slab::new(),
            backlog: VecDeque::new(),
            spawn_queue: VecDeque::new(),
            stdin,
            shell_busy: false,
            stdin_resume: false,
            shutdown: None,
            forced: false,
            sweep: None,
            spawner: crate::spawn::Spawner::new(child_nofile),
            read_buf: vec![0; 64 * 1024],
        };
        if let Some(w) = warning {
            sup.notice(&w);
        }
        if let Some(stdin) = &mut sup.stdin {
            stdin.register(sup.poll.registry(), Source::Stdin.token());
        }
        sup.config = config;
        let tasks: Vec<TaskSpec> = sup.config.tasks.values().cloned().collect();
        for task in &tasks {
            for name in task.process_names() {
                sup.insert(&name, task);
            }
        }
        Ok(sup)
    }

    /// Adds a process of `task` in STOPPED.
    fn insert(&mut self, name: &str, task: &TaskSpec) -> usize {
        let key = self.procs.insert(Entry {
            name: name.to_string(),
            task: task.name.clone(),
            proc: Proc::new(Policy::of(task)),
            pipes: [None, None],
            sinks: [None, None],
            ring: Ring::default(),
            spawn_error: None,
            waiters: Vec::new(),
            retiring: false,
            spawn_queued: false,
        });
        self.by_name.insert(name.to_string(), key);
        key
    }

    /// Starts the processes with `autoLaunch`, then runs the loop until
    /// shutdown. Returns the exit status.
    pub fn run(mut self) -> Result<i32, Error> {
        let now = Instant::now();
        let auto: Vec<usize> = self
            .by_name
            .values()
            .copied()
            .filter(|&k| self.spec(k).is_some_and(|t| t.auto_launch))
            .collect();
        for key in auto {
            self.apply(key, Event::StartRequested, now);
        }
        self.prompt();
        self.read_stdin(now);
        let result = self.event_loop();
        self.close();
        result
    }

    fn event_loop(&mut self) -> Result<i32, Error> {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Some(code) = self.finished() {
                return Ok(code);
            }
            let now = Instant::now();
            self.drop_stale_timers();
            self.timers
                .arm_earliest(now)
                .map_err(|e| Error::io("cannot arm timerfd", e))?;
            let timeout = if self.backlog.is_empty() && self.spawn_queue.is_empty() {
                None
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("epoll_wait failed", e));
            }
            let now = Instant::now();
            for ev in events.iter() {
                let Some(src) = Source::decode(ev.token()) else {
                    continue;
                };
                self.dispatch(
                    src,
                    ev.is_readable() || ev.is_read_closed() || ev.is_error(),
                    ev.is_writable(),
                    now,
                )?;
            }
            for _ in 0..self.backlog.len() {
                let Some(src) = self.backlog.pop_front() else {
                    break;
                };
                self.dispatch(src, true, false, now)?;
            }
            self.fire_timers(now);
            self.spawn_batch(now);
            if std::mem::take(&mut self.stdin_resume) {
                self.read_stdin(now);
            }
            self.sweep_removed();
        }
    }

    fn dispatch(
        &mut self,
        src: Source,
        readable: bool,
        writable: bool,
        now: Instant,
    ) -> Result<(), Error> {
        match src {
            Source::Signals => self.on_signals(now)?,
            Source::Timer => self
                .timers
                .clear()
                .map_err(|e| Error::io("cannot read timerfd", e))?,
            Source::Stdin => self.read_stdin(now),
            Source::Listener => self.accept(now),
            Source::Stdout(k) => self.read_pipe(k, 0),
            Source::Stderr(k) => self.read_pipe(k, 1),
            Source::Conn(k) => self.on_conn(k, readable, writable, now),
            Source::Console(_) => self.console.flush(),
        }
        Ok(())
    }

    /// The exit status once shutdown is complete.
    fn finished(&mut self) -> Option<i32> {
        let code = self.shutdown.as_ref()?.0;
        if self.alive > 0 || !self.lingering.is_empty() || !self.released.is_empty() {
            return None;
        }
        if self.opts.pid1 && self.sweep_orphans() {
            return None;
        }
        let code = if self.forced { 1 } else { code };
        let waiting = self
            .shutdown
            .as_mut()
            .map(|(_, w)| std::mem::take(w))
            .unwrap_or_default();
        for to in waiting {
            self.reply(
                to,
                true,
                "All processes stopped; taskmaster exits".to_string(),
            );
        }
        Some(code)
    }

    /// Releases what must not outlive the loop.
    fn close(&mut self) {
        for k in 0..self.conns.capacity() {
            if self.conns.contains(k) {
                self.flush_conn(k);
            }
        }
        if let Some(l) = self.listener.take() {
            l.remove();
        }
        if let Some(stdin) = &mut self.stdin {
            stdin.stop(self.poll.registry(), &mut self.console);
        }
        // The handled signals stay blocked to the end: unblocked now, one
        // that came after the last read would kill us with its default
        // action and change the exit status. The mask dies with us.
        self.console.finish();
        // After the console: on a terminal fds 0 and 1 share one open file,
        // and stdin saw its flags before the console made them non-blocking.
        if let Some(stdin) = &mut self.stdin {
            stdin.restore();
        }
    }

    // ----- the shell

    /// Runs the command lines stdin has, one at a time: while a command
    /// waits for its reply, the next lines wait too. On a terminal the line
    /// editor keeps taking keys meanwhile (entered lines queue up).
    fn read_stdin(&mut self, now: Instant) {
        loop {
            if self.shutdown.is_some() {
                return;
            }
            let Some(stdin) = &mut self.stdin else { return };
            if !self.shell_busy
                && let Some(line) = stdin.next_line()
            {
                self.shell_busy = true;
                self.execute_line(&line, ReplyTo::Shell, now);
                continue;
            }
            if self.shell_busy && !stdin.is_editing() {
                return;
            }
            // Completion asks for the names only on Tab.
            let (procs, tasks) = (&self.by_name, &self.config.tasks);
            let names = |f: &mut dyn FnMut(&str)| {
                procs.keys().chain(tasks.keys()).for_each(|n| f(n));
            };
            match stdin.fill(&mut self.console, &names) {
                Fill::Data => {}
                Fill::Empty => break,
                Fill::Eof => {
                    let tty = stdin.is_tty();
                    stdin.stop(self.poll.registry(), &mut self.console);
                    if tty {
                        // Ctrl-D on an empty line.
                        self.console.raw(Stream::Out, b"\n");
                        self.begin_shutdown(0, None, now);
                        return;
                    }
                }
            }
        }
        self.prompt();
    }

    // ----- signals and reaping

    fn on_signals(&mut self, now: Instant) -> Result<(), Error> {
        let mut reap = false;
        while let Some(sig) = self
            .signals
            .next_signal()
            .map_err(|e| Error::io("cannot read signalfd", e))?
        {
            match sig {
                libc::SIGCHLD => reap = true,
                libc::SIGTERM | libc::SIGINT => self.begin_shutdown(0, None, now),
                libc::SIGHUP => self.reload(ReplyTo::Log, now),
                libc::SIGUSR1 | libc::SIGUSR2 => self.reopen_logs(),
                libc::SIGWINCH => {
                    if let Some(stdin) = &mut self.stdin {
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
            if let Some(pid) = e.proc.state.pid() {
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
            let Some(key) = self.by_pid.remove(&pid) else {
                orphans = true;
                continue;
            };
            // Output written before the exit comes before its notice.
            self.read_pipe(key, 0);
            self.read_pipe(key, 1);
            let group_alive = signals::group_alive(pid);
            self.apply(
                key,
                Event::Exited {
                    status,
                    group_alive,
                },
                now,
            );
        }
        if orphans || !self.lingering.is_empty() {
            self.check_lingering(now);
        }
    }

    /// Tells stopping processes whose group emptied, and forgets released
    /// groups that are gone.
    fn check_lingering(&mut self, now: Instant) {
        let gone: Vec<usize> = self
            .lingering
            .iter()
            .copied()
            .filter(|&k| match self.procs.get(k).map(|e| &e.proc.state) {
                Some(&State::Stopping {
                    pid,
                    leader_gone: true,
                    ..
                }) => !signals::group_alive(pid),
                _ => true,
            })
            .collect();
        for k in gone {
            self.lingering.retain(|&x| x != k);
            self.apply(k, Event::GroupGone, now);
        }
        self.released.retain(|&pgid, _| signals::group_alive(pgid));
    }

    // ----- the state machine

    fn spec(&self, key: usize) -> Option<&TaskSpec> {
        self.config.tasks.get(&self.procs.get(key)?.task)
    }

    /// Runs `ev` through the state machine of process `key` and carries out
    /// the actions.
    fn apply(&mut self, key: usize, ev: Event, now: Instant) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let before = e.proc.state.clone();
        let mut actions = Vec::new();
        step(&mut e.proc, ev, now, &mut actions);
        let respawn = actions.contains(&Action::Spawn);
        self.observe(key, &before, respawn, now);
        for a in actions {
            self.perform(key, a);
        }
    }

    /// Bookkeeping after a transition: live count, lingering groups,
    /// waiting replies, notices, essential processes.
    fn observe(&mut self, key: usize, before: &State, respawn: bool, now: Instant) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let after = &e.proc.state;
        let (was, is) = (!before.is_down(), !after.is_down());
        match (was, is) {
            (false, true) => self.alive += 1,
            (true, false) => self.alive -= 1,
            _ => {}
        }
        if let State::Stopping {
            leader_gone: true, ..
        } = after
            && !matches!(
                before,
                State::Stopping {
                    leader_gone: true,
                    ..
                }
            )
        {
            self.lingering.push(key);
        }
        let name = &e.name;
        let message = match (before, after) {
            (State::Started { .. }, State::Backoff { until }) => Some(format!(
                "'{name}' exited during start ({}); retry {} of {} in {}",
                e.proc.last_exit.map(|s| s.to_string()).unwrap_or_default(),
                e.proc.retries,
                e.proc.policy.restart_attempts,
                crate::text::secs(until.saturating_duration_since(now))
            )),
            (_, State::Backoff { .. }) if before.name() != "BACKOFF" => Some(format!(
                "'{name}' failed to start: {}; retry {} of {}",
                e.spawn_error.as_deref().unwrap_or("unknown error"),
                e.proc.retries,
                e.proc.policy.restart_attempts
            )),
            (_, State::Fatal { reason }) if before.name() != "FATAL" => {
                Some(format!("'{name}' is FATAL: {reason}"))
            }
            (State::Running { .. }, State::Exited { status }) => Some(if respawn {
                format!("'{name}' exited ({status}); restarting")
            } else {
                format!("'{name}' exited ({status})")
            }),
            _ => None,
        };
        let essential = !respawn
            && e.proc.policy.essential
            && e.proc.ended_for_good()
            && before.name() != after.name();
        // Only what a transition needs is copied out: most need nothing.
        let waiters = if was && !is && !e.waiters.is_empty() {
            Some((
                std::mem::take(&mut e.waiters),
                format!("Process '{name}' stopped"),
            ))
        } else {
            None
        };
        let essential = essential.then(|| (e.proc.last_exit.map_or(1, |s| s.code), name.clone()));
        if let Some(m) = message {
            self.notice(&m);
        }
        if let Some((waiters, line)) = waiters {
            for w in waiters {
                self.wait_done(w, line.clone());
            }
        }
        if let Some((code, name)) = essential
            && self.shutdown.is_none()
        {
            self.notice(&format!("essential process '{name}' ended; shutting down"));
            self.begin_shutdown(code, None, now);
        }
    }

    fn perform(&mut self, key: usize, action: Action) {
        match action {
            Action::Spawn => {
                if let Some(e) = self.procs.get_mut(key)
                    && !e.spawn_queued
                {
                    e.spawn_queued = true;
                    self.spawn_queue.push_back(key);
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
                if crate::process::state::continues_after(sig) {
                    let _ = signals::signal_group(pgid, libc::SIGCONT);
                }
                self.released.insert(pgid, kill_at);
                self.timers.push(kill_at, Due::Group(pgid));
            }
        }
    }

    /// Spawns the next `SPAWN_BATCH` queued processes.
    fn spawn_batch(&mut self, now: Instant) {
        let mut budget = SPAWN_BATCH;
        while budget > 0 {
            let Some(key) = self.spawn_queue.pop_front() else {
                return;
            };
            if self.spawn_now(key, now) {
                budget -= 1;
            }
        }
    }

    /// Spawns process `key` now if its spawn is queued and still wanted (a
    /// stop since then cancels it); `start` uses this to reply with the
    /// PID. Returns whether it tried.
    pub(super) fn spawn_now(&mut self, key: usize, now: Instant) -> bool {
        let Some(e) = self.procs.get_mut(key) else {
            return false;
        };
        let wanted = std::mem::take(&mut e.spawn_queued)
            && e.proc.want == crate::process::Want::Up
            && e.proc.state.pid().is_none()
            && !matches!(e.proc.state, State::Stopping { .. })
            && self.shutdown.is_none();
        if !wanted {
            return false;
        }
        let ev = match self.spawn_entry(key) {
            Ok(pid) => Event::Spawned { pid },
            Err(err) => {
                if let Some(e) = self.procs.get_mut(key) {
                    e.spawn_error = Some(err.reason.clone());
                }
                Event::SpawnFailed {
                    reason: err.reason,
                    transient: err.transient,
                }
            }
        };
        self.apply(key, ev, now);
        true
    }

    /// Spawns process `key`: opens its log files, closes the pipes of its
    /// last child, registers the new pipes.
    fn spawn_entry(&mut self, key: usize) -> Result<i32, crate::spawn::SpawnError> {
        let Some(task) = self.spec(key).cloned() else {
            return Err(crate::spawn::SpawnError {
                reason: "task is no longer configured".into(),
                transient: false,
            });
        };
        // What the last child (or its group) wrote is read before its pipes
        // close: the log files lose nothing.
        for i in 0..2 {
            self.read_pipe(key, i);
            self.close_pipe(key, i);
        }
        let e = &mut self.procs[key];
        for (i, path) in [&task.stdout, &task.stderr].into_iter().enumerate() {
            match (path, &e.sinks[i]) {
                (Some(p), Some(s)) if s.path() == p => {}
                (Some(p), _) => {
                    let sink = Sink::open(p).map_err(|err| crate::spawn::SpawnError {
                        reason: format!(
                            "cannot open {} log {}: {}",
                            ["stdout", "stderr"][i],
                            p.display(),
                            err.reason
                        ),
                        transient: err.transient,
                    })?;
                    e.sinks[i] = Some(sink);
                }
                (None, _) => e.sinks[i] = None,
            }
        }
        let child = self.spawner.spawn(&task)?;
        let fds = [child.stdout, child.stderr];
        for (i, fd) in fds.into_iter().enumerate() {
            let src = if i == 0 {
                Source::Stdout(key)
            } else {
                Source::Stderr(key)
            };
            if let Err(err) = self.poll.registry().register(
                &mut SourceFd(&fd.as_raw_fd()),
                src.token(),
                Interest::READABLE,
            ) {
                self.notice(&format!(
                    "cannot watch output of '{}': {err}",
                    self.procs[key].name
                ));
                continue;
            }
            self.procs[key].pipes[i] = Some(Pipe {
                fd,
                lines: Lines::default(),
            });
        }
        self.procs[key].spawn_error = None;
        self.by_pid.insert(child.pid, key);
        Ok(child.pid)
    }

    // ----- child output

    /// Reads pipe `i` of process `key` until it would block, its budget is
    /// spent (then it waits in the backlog) or it ends.
    fn read_pipe(&mut self, key: usize, i: usize) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(e) = self.procs.get_mut(key) else {
                return;
            };
            let Some(pipe) = &e.pipes[i] else { return };
            let n = match rustix::io::read(&pipe.fd, &mut self.read_buf[..]) {
                Ok(0) => {
                    self.close_pipe(key, i);
                    return;
                }
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return,
                Err(_) => {
                    self.close_pipe(key, i);
                    return;
                }
            };
            self.output(key, i, n);
            budget = budget.saturating_sub(n);
            if budget == 0 {
                let src = if i == 0 {
                    Source::Stdout(key)
                } else {
                    Source::Stderr(key)
                };
                if !self.backlog.contains(&src) {
                    self.backlog.push_back(src);
                }
                return;
            }
        }
    }

    /// Handles `n` bytes of `read_buf` from stream `i` of process `key`.
    fn output(&mut self, key: usize, i: usize, n: usize) {
        let at = unix_now();
        let forward = self.opts.forward;
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let data = &self.read_buf[..n];
        let mut report = None;
        if let Some(sink) = &mut e.sinks[i] {
            report = sink.write(data).map(|r| (sink.path().to_path_buf(), r));
        }
        let to = forward_to(&e.sinks[i], forward, i);
        let Entry {
            name, pipes, ring, ..
        } = e;
        let console = &mut self.console;
        if let Some(pipe) = &mut pipes[i] {
            pipe.lines.feed(data, |line| {
                ring.push(at, i == 1, line);
                if let Some(stream) = to {
                    console.forward(stream, name, line);
                }
            });
        }
        if let Some((path, report)) = report {
            let name = e.name.clone();
            self.notice(&crate::logs::sink::describe(&name, &path, &report));
        }
    }

    /// Reads what is left in pipe `i` of process `key` and closes it.
    fn close_pipe(&mut self, key: usize, i: usize) {
        let Some(e) = self.procs.get_mut(key) else {
            return;
        };
        let Some(mut pipe) = e.pipes[i].take() else {
            return;
        };
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&pipe.fd.as_raw_fd()));
        let at = unix_now();
        let to = forward_to(&e.sinks[i], self.opts.forward, i);
        let Entry { name, ring, .. } = e;
        let console = &mut self.console;
        pipe.lines.finish(|line| {
            ring.push(at, i == 1, line);
            if let Some(stream) = to {
                console.forward(stream, name, line);
            }
        });
    }

    fn reopen_logs(&mut self) {
        let mut failures = Vec::new();
        for (_, e) in self.procs.iter_mut() {
            for sink in e.sinks.iter_mut().flatten() {
                if let Err(err) = sink.reopen() {
                    failures.push(format!(
                        "cannot reopen {}: {}",
                        sink.path().display(),
                        err.reason
                    ));
                }
            }
        }
        for f in failures {
            self.notice(&f);
        }
    }

    // ----- timers

    fn fire_timers(&mut self, now: Instant) {
        while let Some((at, due)) = self.timers.pop_expired(now) {
            if !self.timer_stands(at, due) {
                continue;
            }
            match due {
                Due::Proc(key) => self.apply(key, Event::DeadlineReached, now),
                Due::Group(pgid) => {
                    self.released.remove(&pgid);
                    // The number is ours again only if a new child took it.
                    if !self.by_pid.contains_key(&pgid) && signals::group_alive(pgid) {
                        let _ = signals::signal_group(pgid, libc::SIGKILL);
                    }
                }
                Due::Conn(key) => self.drop_conn(key),
                Due::Sweep => self.kill_orphans(),
            }
        }
    }

    /// Whether a deadline still stands: its owner still waits for it.
    fn timer_stands(&self, at: Instant, due: Due) -> bool {
        match due {
            Due::Proc(key) => self.procs.get(key).and_then(|e| e.proc.state.deadline()) == Some(at),
            Due::Group(pgid) => self.released.get(&pgid) == Some(&at),
            Due::Conn(key) => self
                .conns
                .get(key)
                .is_some_and(|c| c.idle_at == at && c.phase == crate::control::Phase::Reading),
            Due::Sweep => matches!(self.sweep, Some(Sweep::Term(t) | Sweep::Killed(t)) if t == at),
        }
    }

    /// Drops stale deadlines from the top of the heap, so the timerfd is
    /// never armed for nothing (an idle supervisor never wakes up).
    fn drop_stale_timers(&mut self) {
        while let Some((at, due)) = self.timers.peek() {
            if self.timer_stands(at, due) {
                break;
            }
            self.timers.pop();
        }
    }

    // ----- shutdown

    /// Starts a graceful shutdown (or, when one runs, forces it).
    fn begin_shutdown(&mut self, code: i32, waiter: Option<ReplyTo>, now: Instant) {
        if let Some((_, waiting)) = &mut self.shutdown {
            if let Some(w) = waiter {
                waiting.push(w);
                return;
            }
            if !self.forced {
                self.forced = true;
                self.notice("second shutdown request: killing every process");
                let keys: Vec<usize> = self.procs.iter().map(|(k, _)| k).collect();
                for k in keys {
                    self.apply(k, Event::KillRequested, now);
                }
                for &pgid in self.released.keys() {
                    let _ = signals::signal_group(pgid, libc::SIGKILL);
                }
                if self.opts.pid1 && matches!(self.sweep, Some(Sweep::Term(_))) {
                    self.sweep = Some(Sweep::Term(now));
                    self.kill_orphans();
                }
            }
            return;
        }
        self.shutdown = Some((code, waiter.into_iter().collect()));
        if let Some(stdin) = &mut self.stdin {
            stdin.stop(self.poll.registry(), &mut self.console);
        }
        let keys: Vec<usize> = self.procs.iter().map(|(k, _)| k).collect();
        for k in keys {
            self.apply(k, Event::StopRequested, now);
        }
    }

    /// As PID 1, once every managed process is down: SIGTERM to whatever
    /// else lives in the namespace, SIGKILL after `ORPHAN_GRACE`. Returns
    /// whether anything is left to wait for.
    fn sweep_orphans(&mut self) -> bool {
        // SAFETY: kill(-1, 0) only tests whether any process but us exists.
        let others = unsafe { libc::kill(-1, 0) } == 0;
        if !others || self.sweep == Some(Sweep::GaveUp) {
            return false;
        }
        if self.forced && matches!(self.sweep, None | Some(Sweep::Term(_))) {
            self.sweep = Some(Sweep::Term(Instant::now()));
            self.kill_orphans();
        }
        if self.sweep.is_none() {
            let n = std::fs::read_dir("/proc")
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
                .unwrap_or(0);
            self.notice(&format!("sending SIGTERM to {n} remaining processes"));
            let kill_at = Instant::now() + ORPHAN_GRACE;
            // SAFETY: as PID 1, -1 addresses every other process of the namespace.
            unsafe {
                libc::kill(-1, libc::SIGTERM);
                libc::kill(-1, libc::SIGCONT);
            }
            self.sweep = Some(Sweep::Term(kill_at));
            self.timers.push(kill_at, Due::Sweep);
        }
        true
    }

    /// The orphans' grace period is over: SIGKILL; after another one, stop
    /// waiting for what survives even that.
    fn kill_orphans(&mut self) {
        match self.sweep {
            Some(Sweep::Term(_)) => {
                self.notice("sending SIGKILL to the remaining processes");
                // SAFETY: as PID 1, -1 addresses every other process of the namespace.
                unsafe { libc::kill(-1, libc::SIGKILL) };
                let give_up = Instant::now() + ORPHAN_GRACE;
                self.sweep = Some(Sweep::Killed(give_up));
                self.timers.push(give_up, Due::Sweep);
            }
            Some(Sweep::Killed(_)) => {
                self.notice("processes left that SIGKILL did not end; exiting without them");
                self.sweep = Some(Sweep::GaveUp);
            }
            Some(Sweep::GaveUp) | None => {}
        }
    }

    // ----- messages

    /// A message about the supervisor's own doings, on stderr.
    fn notice(&mut self, msg: &str) {
        let line = format!("taskmaster: {msg}");
        if let Some(stdin) = &mut self.stdin {
            stdin.above_prompt(&mut self.console, Stream::Err, &line);
        } else {
            self.console.line(Stream::Err, &[line.as_bytes()]);
        }
    }

    /// Shows the prompt if the shell takes input now: when no command
    /// waits for its reply, or at any time with the line editor.
    fn prompt(&mut self) {
        if let Some(stdin) = &mut self.stdin
            && (!self.shell_busy || stdin.is_editing())
            && self.shutdown.is_none()
        {
            stdin.prompt(&mut self.console);
        }
    }

    /// Prints `text` for the person at the shell: above the prompt and the
    /// line being typed when they are on screen.
    fn say(&mut self, stream: Stream, text: &str) {
        match &mut self.stdin {
            Some(stdin) => stdin.above_prompt(&mut self.console, stream, text),
            None => self.console.text(stream, text),
        }
    }

    /// Whether a reply to the shell may colour states.
    fn shell_colour(&self) -> bool {
        self.stdin.as_ref().is_some_and(|s| s.colour())
    }

    /// Delivers a finished reply.
    fn reply(&mut self, to: ReplyTo, ok: bool, text: String) {
        match to {
            ReplyTo::Shell => {
                if !text.is_empty() {
                    self.say(Stream::Out, &text);
                }
                self.shell_busy = false;
                self.prompt();
                self.stdin_resume = true;
            }
            ReplyTo::Conn(k) => self.conn_reply(k, ok, &text),
            ReplyTo::Log => {
                for l in text.lines() {
                    self.notice(l);
                }
            }
            ReplyTo::Quiet => {}
        }
    }

    /// Removes entries marked for removal once they are down. Runs after
    /// each batch so no key is reused inside one.
    fn sweep_removed(&mut self) {
        if self.removing.is_empty() {
            return;
        }
        let procs = &self.procs;
        let (done, keep): (Vec<usize>, Vec<usize>) = self.removing.iter().partition(|&&k| {
            procs
                .get(k)
                .is_none_or(|e| e.proc.state.is_down() && e.waiters.is_empty())
        });
        self.removing = keep;
        for k in done {
            if !self.procs.contains(k) {
                continue;
            }
            for i in 0..2 {
                self.close_pipe(k, i);
            }
            let e = self.procs.remove(k);
            if self.by_name.get(&e.name) == Some(&k) {
                self.by_name.remove(&e.name);
            }
        }
    }
}
