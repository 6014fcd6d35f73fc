//! The event loop: one `mio::Poll` over the signalfd, the timerfd, every
//! child pipe, stdin, the control socket and its connections; a slab of
//! processes; the pid -> key map. It turns what the OS reports into `Event`s
//! for `process::step` and carries out the `Action`s that come back. It never
//! sleeps and never polls: with nothing to do it waits in `epoll_wait`.
//!
//! The parts of the loop live beside this file: `perform` (events into
//! `step`, actions out), `deadlines` (the timerfd's deadlines), `children`
//! (signals, reaping, the spawn queue), `output` (child pipes and log
//! files), `shutdown`, `messages` (notices, replies, the shell's lines),
//! `commands`, `conns` (control connections), `reload`, `stacks`
//! (dependencies), `checks` (health checks, sd_notify), `follow` (`logs`,
//! `logs -f`), `journal` (each event to the log file, the shell and
//! `events`), `metrics`, `render` and `token`.

mod checks;
mod children;
mod commands;
mod conns;
mod deadlines;
mod follow;
mod journal;
mod messages;
mod metrics;
mod output;
mod perform;
mod reload;
pub mod render;
mod shutdown;
mod stacks;
pub mod token;

use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll};
use slab::Slab;

use crate::config::{Config, TaskSpec};
use crate::console::Console;
use crate::control::{Conn, Listener};
use crate::error::Error;
use crate::events::{Level, What};
use crate::logs::ring::Ring;
use crate::process::{Event, Policy, Proc};
use crate::shell::stdin::Stdin;
use crate::signals::Signals;
use crate::spawn::Spawner;
use crate::timers::{Due, Timers};
use commands::Wait;
use output::{Outputs, Stream};
pub use shutdown::ORPHAN_GRACE;
use shutdown::Shutdown;
use token::Source;

/// How long a control connection may stay silent before it is closed.
const CONN_IDLE: Duration = Duration::from_secs(10);
/// Spawns per loop iteration: a start storm (autoLaunch of thousands, a
/// wave of restarts) is spread over iterations so commands, output and
/// signals are served in between.
const SPAWN_BATCH: usize = 32;

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
    /// Keep `<socket>.state` (with a socket only).
    pub state_file: bool,
    /// The supervisor's own log file (`--logfile`, else `logfile:`).
    pub logfile: Option<PathBuf>,
    /// `--logfile` given, so a reload does not move the log file.
    pub logfile_forced: bool,
    /// Where the metrics endpoint listens (`metrics:`).
    pub metrics: Option<std::net::SocketAddr>,
}

/// One process and everything the loop keeps for it.
struct Entry {
    name: String,
    task: String,
    proc: Proc,
    /// Pipes and log files of both streams.
    out: Outputs,
    ring: Ring,
    /// Pending replies waiting for this process to be down.
    waiters: Vec<usize>,
    /// A spawn waits in `spawn_queue`.
    spawn_queued: bool,
    /// Its place in the config is gone: it stops, then disappears.
    retiring: bool,
    /// The followers (`logs -f`) of its output.
    followers: Vec<usize>,
    /// Health and readiness of the current run.
    vitals: checks::Vitals,
    /// WAITING: what it waits for (`db (healthy), migrate (completed)`).
    waiting_for: Option<String>,
}

/// How child pipes are read: one buffer for every read, the pipes grown
/// for a flood, the pipes with data left after their read budget.
struct Reader {
    buf: Vec<u8>,
    /// Child pipes grown for a flood (`output::MAX_GROWN_PIPES` at most).
    grown: usize,
    /// Pipes with data left after their read budget.
    backlog: VecDeque<Source>,
}

impl Default for Reader {
    fn default() -> Reader {
        Reader {
            buf: vec![0; output::READ_BUDGET],
            grown: 0,
            backlog: VecDeque::new(),
        }
    }
}

/// The log files of child output.
#[derive(Default)]
struct Logs {
    /// Every open log file, shared by the processes that name it.
    files: crate::logs::shared::Sinks,
    /// A rotated-out log file is being freed: the loop does not sleep.
    freeing: bool,
    /// Bytes of output that could not be written to log files.
    bytes_dropped: u64,
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

/// The supervisor: the loop's own fds, the processes, and one part for
/// each concern of the loop.
pub struct Supervisor {
    poll: Poll,
    opts: Options,
    config: Config,
    /// Entries leave only in `sweep_removed`, between loop iterations,
    /// which also drops them from the stacks' `waiting`, `stop_held` and
    /// `stop_pending`: a key from these, `by_name` or the slab indexes
    /// safely. A key kept elsewhere (a deadline, a token, a wait, a
    /// follower, the spawn queue) is looked up with `get`: its entry may be
    /// gone, or its slot taken by another process.
    procs: Slab<Entry>,
    by_name: BTreeMap<String, usize>,
    /// Processes to remove once down (their task left the config).
    removing: Vec<usize>,
    /// Pids, process groups, the spawn queue and the spawner.
    children: children::Children,
    timers: Timers,
    signals: Signals,
    console: Console,
    /// The shell at stdin.
    shell: messages::Shell,
    listener: Option<Listener>,
    conns: Slab<Conn>,
    waits: Slab<Wait>,
    shutdown: Shutdown,
    /// How child pipes are read.
    reader: Reader,
    /// The log files of child output.
    logs: Logs,
    /// The arrival number of the last output line, of any process.
    line_seq: u64,
    /// `logs -f` followers.
    followers: Slab<follow::Follower>,
    /// Lines of the chunk being read, for its process's followers.
    fresh: follow::Fresh,
    /// The pipe blocks wait in while they are teed to followers' pipes;
    /// made when a block worth teeing first comes, closed when fewer than
    /// two follow.
    fanout: Option<crate::fanout::Fanout>,
    /// Health checks and sd_notify.
    checks: checks::Checks,
    /// Dependencies, ordered stops and `start --wait` replies.
    stacks: stacks::Stacks,
    /// The log file of the supervisor's events.
    journal: journal::Journal,
    /// The metrics endpoint, with `metrics: ADDRESS:PORT`.
    http: Option<crate::metrics::http::HttpServer>,
}

impl Supervisor {
    /// Sets up the loop's own fds and the processes of `config` (none is
    /// started yet). Fails when an fd of the loop cannot be made.
    pub fn new(config: Config, opts: Options, stdin: Option<Stdin>) -> Result<Supervisor, Error> {
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
        let (listener, warning) = conns::open_listener(&mut opts, reg)?;
        let http = metrics::open_http(opts.metrics, reg)?;
        let rotation = journal::rotation(&config);
        let (journal, journal_error) = journal::Journal::open(opts.logfile.as_deref(), rotation);
        let child_nofile = opts.child_nofile;
        let mut sup = Supervisor {
            poll,
            opts,
            config: Config::empty(&config.path),
            procs: Slab::new(),
            by_name: BTreeMap::new(),
            removing: Vec::new(),
            children: children::Children::new(Spawner::new(child_nofile)),
            timers,
            signals,
            console,
            shell: messages::Shell::new(stdin),
            listener,
            conns: Slab::new(),
            waits: Slab::new(),
            shutdown: Shutdown::Off,
            reader: Reader::default(),
            logs: Logs::default(),
            line_seq: 0,
            followers: Slab::new(),
            fresh: follow::Fresh::default(),
            fanout: None,
            checks: checks::Checks::default(),
            stacks: stacks::Stacks::default(),
            journal,
            http,
        };
        if let Some(detail) = journal_error {
            sup.emit_supervisor(What::LogWriteError { detail });
        }
        sup.recover_strays();
        if let Some(w) = warning {
            sup.notice(&w);
        }
        if let Some(stdin) = &mut sup.shell.stdin {
            stdin.register(sup.poll.registry(), Source::Stdin.token());
        }
        sup.config = config;
        sup.rebuild_graph();
        sup.ensure_notify();
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
            out: Outputs::default(),
            ring: Ring::default(),
            waiters: Vec::new(),
            retiring: false,
            spawn_queued: false,
            followers: Vec::new(),
            vitals: checks::Vitals::default(),
            waiting_for: None,
        });
        self.by_name.insert(name.to_string(), key);
        key
    }

    /// Starts the processes with `autoLaunch`, then runs the loop until
    /// shutdown. Returns the exit status.
    pub fn run(mut self) -> Result<i32, Error> {
        let config = std::fs::canonicalize(&self.config.path)
            .unwrap_or_else(|_| self.config.path.clone())
            .display()
            .to_string();
        self.emit_supervisor(What::SupervisorStarted {
            version: env!("CARGO_PKG_VERSION"),
            config,
            pid: std::process::id(),
        });
        let now = Instant::now();
        let auto: Vec<usize> = self
            .by_name
            .values()
            .copied()
            .filter(|&k| self.spec(k).is_some_and(|t| t.auto_launch))
            .collect();
        // What they depend on starts too, autoLaunch or not.
        self.pull_in(&auto, false, now);
        for key in auto {
            self.apply(key, Event::StartRequested, now);
        }
        self.settle(now);
        // The first batch is spawned before any command is read: a
        // `status` sent as soon as the socket answers sees the processes
        // of a small config STARTED, not STOPPED. A larger start storm
        // goes on a batch per iteration, with commands served in between.
        self.spawn_batch(now);
        self.prompt();
        self.read_stdin(now);
        self.end_turn();
        let result = self.event_loop();
        match &result {
            Ok(status) => self.emit_supervisor(What::SupervisorExits { status: *status }),
            Err(e) => self.emit_supervisor(What::Message {
                level: Level::Error,
                text: format!("{e}; taskmaster exits"),
            }),
        }
        self.end_turn();
        self.close();
        result
    }

    fn event_loop(&mut self) -> Result<i32, Error> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = Instant::now();
            self.checks.started = 0;
            if let Some(code) = self.finished(now) {
                return Ok(code);
            }
            self.drop_stale_timers();
            self.timers
                .arm_earliest(now)
                .map_err(|e| Error::io("cannot arm timerfd", e))?;
            // The supervisor's own log may have rotated as the last turn
            // (or the start) ended: its rotated-out file is freed from
            // this turn on.
            let journal_freeing = self.journal.file.as_ref().is_some_and(|f| f.freeing());
            let timeout = if self.reader.backlog.is_empty()
                && self.children.spawn_queue.is_empty()
                && !self.logs.freeing
                && !journal_freeing
            {
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
            for _ in 0..self.reader.backlog.len() {
                let Some(src) = self.reader.backlog.pop_front() else {
                    break;
                };
                self.dispatch(src, true, false, now)?;
            }
            self.fire_timers(now);
            self.spawn_batch(now);
            if let Some(at) = self.children.state.as_mut().and_then(|s| s.schedule(now)) {
                self.timers.push(at, Due::StateFile);
            }
            if std::mem::take(&mut self.shell.resume) {
                self.read_stdin(now);
            }
            self.settle(now);
            self.sweep_removed();
            // A rotated-out log file is freed a slice per turn, never all
            // at once inside one (see logs/rotate.rs).
            let journal = self.journal.file.as_mut().is_some_and(|f| f.free_step());
            self.logs.freeing = self.logs.files.free_step() | journal;
            self.end_turn();
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
            Source::Stdout(k) => self.read_pipe(k, Stream::Stdout),
            Source::Stderr(k) => self.read_pipe(k, Stream::Stderr),
            Source::Conn(k) => self.on_conn(k, readable, writable, now),
            Source::Console(_) => self.console_flushed(),
            Source::HttpListener => self.accept_http(now),
            Source::Http(k) => self.on_http(k, now),
            // An error on a pipe's write end: its reader closed it.
            Source::Pipe(k) if readable => self.drop_conn(k),
            Source::Pipe(k) => self.flush_stream(k),
            Source::Notify => self.on_notify(now),
            Source::Probe(k) => self.on_probe(k, now),
            Source::CheckOut(k) => self.read_check_pipe(k, Stream::Stdout),
            Source::CheckErr(k) => self.read_check_pipe(k, Stream::Stderr),
        }
        Ok(())
    }

    /// Releases what must not outlive the loop.
    fn close(&mut self) {
        for k in 0..self.conns.capacity() {
            if self.conns.contains(k) {
                self.flush_conn(k);
            }
        }
        if let Some(s) = self.children.state.take() {
            s.finish(
                self.children.alive == 0
                    && self.children.released.is_empty()
                    && self.children.lingering.is_empty(),
            );
        }
        if let Some(l) = self.listener.take() {
            l.remove();
        }
        if let Some(stdin) = &mut self.shell.stdin {
            stdin.stop(self.poll.registry(), &mut self.console);
        }
        // The handled signals stay blocked to the end: unblocked now, one
        // that came after the last read would kill us with its default
        // action and change the exit status. The mask dies with us.
        self.console.finish();
        // After the console: on a terminal fds 0 and 1 share one open file,
        // and stdin saw its flags before the console made them non-blocking.
        if let Some(stdin) = &mut self.shell.stdin {
            stdin.restore();
        }
    }
}
