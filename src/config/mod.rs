//! The configuration as the supervisor uses it: typed, validated, with every
//! relative path resolved against the config file's directory. `yaml.rs`
//! turns the text into a tree of nodes that know their line and column;
//! `schema.rs` holds a table of the keys of each mapping (every spelling,
//! and what its value sets) and walks the tree through it into a
//! [`Config`], with `values.rs` checking single values, `vars.rs` the keys
//! that take `${NAME}` expansion and `deps.rs` the `dependsOn` graph;
//! `diff.rs` compares two configs for a reload. Every problem of the file
//! is reported at once, as `file:line:column: key.path: message`. Nothing
//! here starts a process or reads the clock; only [`load`] and `envFile`
//! read files.
//!
//! The YAML parser is `saphyr-parser`, the event parser of the saphyr
//! project, used directly rather than through a deserializer:
//! - every event carries its span, so positions come from the parser and
//!   never from an error's text;
//! - every scalar comes as written together with its style, so `007`,
//!   `1.50` and `True` keep their text where the text is what matters
//!   (environment values, umask) and plain scalars are resolved by the YAML
//!   1.2 core schema where a type is wanted;
//! - it is a pull parser, so the tree builder can stop at the 65th level of
//!   nesting after reading a few hundred bytes, whatever follows; aliases
//!   become shared node ids (no copy, so no alias bomb) and merge keys are
//!   resolved with a budget.
//!
//! serde-saphyr was the other candidate: it gives spans and budgets too, but
//! serde stops at the first error where the validator reports them all, the
//! text of a plain scalar is gone once serde has typed it, and it brings its
//! own fork of the same parser plus a handful of crates for reporting.

pub mod deps;
pub mod diff;
pub mod expand;
pub mod schema;
mod values;
mod vars;
pub mod yaml;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::text::os_reason;
use values::Validator;

/// Every problem found in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One full line per problem, in file order, e.g.
    /// `taskmaster.yaml:12:5: tasks.web.restart: unknown value 'sometimes'
    /// (expected always, on-failure, never)`.
    pub errors: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.errors.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

fn one_error(message: String) -> ConfigError {
    ConfigError {
        errors: vec![message],
    }
}

/// Reads and validates the configuration file at `path`; see [`parse`].
///
/// Fails when the file cannot be read (`cannot read PATH: REASON`), is not
/// a regular file, is over 16 MiB, is not UTF-8, or is not a valid
/// configuration.
pub fn load(path: &Path, is_root: bool) -> Result<Config, ConfigError> {
    let bytes = read_regular(path, schema::MAX_FILE_BYTES).map_err(|e| match e {
        e if e == TOO_LARGE => too_large(path),
        e => one_error(format!("cannot read {}: {e}", path.display())),
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let line = valid.split('\n').count();
        let col = valid.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        let file = path.display();
        one_error(format!("{file}:{line}:{col}: not valid UTF-8 text"))
    })?;
    parse(&text, path, is_root)
}

const TOO_LARGE: &str = "too large";

/// The bytes of the regular file at `path`, at most `limit` of them.
///
/// Fails with a reason: the OS error, `not a regular file`, or `too large`.
fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    // O_NONBLOCK: a FIFO at the path must not block the loop at reload.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(os_reason)?;
    if !file.metadata().map_err(os_reason)?.is_file() {
        return Err("not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(os_reason)?;
    if bytes.len() as u64 > limit {
        return Err(TOO_LARGE.to_string());
    }
    Ok(bytes)
}

fn too_large(path: &Path) -> ConfigError {
    let mib = schema::MAX_FILE_BYTES >> 20;
    one_error(format!("{}: file is larger than {mib} MiB", path.display()))
}

/// Validates configuration `text` read from `path` (used in messages as
/// given, and to resolve relative paths against its directory). `is_root`
/// says whether the supervisor runs as root, which `user` requires.
///
/// Fails with every problem of the file: YAML syntax (the first one),
/// nesting deeper than 64 levels, unknown keys (with the nearest valid key
/// when it looks like a misspelling), two spellings of one key, wrong
/// types, out-of-range values, unknown signals, invalid or duplicate names,
/// unknown or cyclic dependencies.
pub fn parse(text: &str, path: &Path, is_root: bool) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    if text.len() as u64 > schema::MAX_FILE_BYTES {
        return Err(too_large(path));
    }
    let tree = yaml::parse(text).map_err(|(at, message)| {
        let message = crate::text::one_line(&message);
        one_error(format!("{file}:{}:{}: {message}", at.line, at.col))
    })?;
    // Relative paths are resolved against the config file's directory.
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let base = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mut v = Validator::new(&tree, is_root, base);
    match v.config(path) {
        Some(config) if v.problems.is_empty() => Ok(config),
        _ => Err(v.finish(&file)),
    }
}

/// The example configuration written when the default file is missing.
pub const EXAMPLE: &str = include_str!("example.yaml");

/// A whole, valid configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from, as the user named it.
    pub path: PathBuf,
    /// `socket`, resolved against the config's directory.
    pub socket: Option<PathBuf>,
    /// False when the file says `socket: false`: run without a socket.
    pub socket_enabled: bool,
    /// `metrics`: where to serve `GET /metrics`.
    pub metrics: Option<SocketAddr>,
    /// `logfile`: the supervisor's own event log, resolved.
    pub logfile: Option<PathBuf>,
    /// Top-level `logMaxSize` in bytes (for `logfile`); 0 = never rotate.
    pub log_max_size: u64,
    /// Top-level `logBackups` (for `logfile`).
    pub log_backups: u32,
    /// Tasks by name, in name order.
    pub tasks: BTreeMap<String, TaskSpec>,
}

impl Config {
    /// A configuration read from `path` with no task and every top-level
    /// key at its default.
    pub fn empty(path: &Path) -> Config {
        Config {
            path: path.to_path_buf(),
            socket: None,
            socket_enabled: true,
            metrics: None,
            logfile: None,
            log_max_size: 0,
            log_backups: 5,
            tasks: BTreeMap::new(),
        }
    }
}

/// When a process that reached RUNNING is started again after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// What a task waits for in a task it depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Condition {
    /// Spawned.
    Started,
    /// RUNNING.
    Running,
    /// Ready: RUNNING, healthy where it has a check, READY=1 with `notify`.
    Healthy,
    /// EXITED with an expected exit code.
    Completed,
}

/// What a health check does to decide pass or fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Run like a task command; exit 0 passes.
    Command {
        /// As written.
        command: String,
        /// Split with shell word rules; never empty.
        argv: Vec<String>,
    },
    /// A connection accepted passes.
    Tcp(SocketAddr),
    /// `GET path` answered 2xx or 3xx passes.
    Http {
        addr: SocketAddr,
        /// The `Host` header: the URL's authority as written.
        host: String,
        /// Path and query, at least `/`.
        path: String,
    },
}

/// What happens to a process its health check finds unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnhealthy {
    /// Stopped gracefully and started again.
    Restart,
    /// Only shown.
    None,
}

/// A task's `healthCheck`, with defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before unhealthy; at least 1.
    pub retries: u32,
    /// Failures during this time after the start do not count.
    pub start_period: Duration,
    pub on_unhealthy: OnUnhealthy,
}

/// One task of the file, with defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub name: String,
    /// `command` as written.
    pub command: String,
    /// `command` split with POSIX shell word rules; never empty.
    pub argv: Vec<String>,
    pub instances: u32,
    pub auto_launch: bool,
    pub restart: RestartPolicy,
    /// Exit codes 0..=255 that count as success, in the order given.
    pub expected_exit_codes: Vec<i32>,
    pub start_timeout: Duration,
    pub restart_attempts: u32,
    /// Signal number sent to the process group to stop it.
    pub stop_signal: i32,
    pub stop_timeout: Duration,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    /// Added to the inherited environment, in key order.
    pub environment: BTreeMap<String, String>,
    pub working_directory: Option<PathBuf>,
    pub umask: Option<u32>,
    pub user: Option<String>,
    pub essential: bool,
    /// `envFile`, resolved, in the order given.
    pub env_files: Vec<PathBuf>,
    /// Fixed wait before every policy restart.
    pub restart_delay: Duration,
    /// Rotate a log file at this size in bytes; 0 = never.
    pub log_max_size: u64,
    /// Rotated log files kept.
    pub log_backups: u32,
    /// Tasks this one waits for, by name.
    pub depends_on: BTreeMap<String, Condition>,
    pub health_check: Option<HealthCheck>,
    /// Ready only once READY=1 arrives over `NOTIFY_SOCKET`.
    pub notify: bool,
    /// Restart when no WATCHDOG=1 came for this long; zero = off.
    pub watchdog_timeout: Duration,
    /// Set when `command`, `environment` values, `stdout`, `stderr` or
    /// `workingDirectory` name `TASKMASTER_PROCESS` or `TASKMASTER_INSTANCE`
    /// (of a task with several instances): the fields above then hold the
    /// first process's text, and [`TaskSpec::for_process`] makes each
    /// process's from this.
    pub per_process: Option<Box<PerProcess>>,
}

/// The text of a task that differs per process, in `expand`'s intermediate
/// form (`$$` a literal `$`, `${TASKMASTER_PROCESS}` still to fill in).
#[derive(Debug, Clone, PartialEq)]
pub struct PerProcess {
    pub command: String,
    pub environment: BTreeMap<String, String>,
    /// Absolute paths.
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub working_directory: Option<String>,
}

impl TaskSpec {
    /// A task named `name` running `argv`, every other key at its default
    /// (DESIGN's defaults).
    pub fn new(name: &str, command: &str, argv: Vec<String>) -> TaskSpec {
        TaskSpec {
            name: name.to_string(),
            command: command.to_string(),
            argv,
            instances: 1,
            auto_launch: true,
            restart: RestartPolicy::OnFailure,
            expected_exit_codes: vec![0],
            start_timeout: Duration::from_secs(1),
            restart_attempts: 3,
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            stdout: None,
            stderr: None,
            environment: BTreeMap::new(),
            working_directory: None,
            umask: None,
            user: None,
            essential: false,
            env_files: Vec::new(),
            restart_delay: Duration::ZERO,
            log_max_size: 0,
            log_backups: 5,
            depends_on: BTreeMap::new(),
            health_check: None,
            notify: false,
            watchdog_timeout: Duration::ZERO,
            per_process: None,
        }
    }

    /// The task as process `process` runs it: `TASKMASTER_TASK`,
    /// `TASKMASTER_PROCESS` and `TASKMASTER_INSTANCE` in its environment,
    /// and its per-process text finished.
    pub fn for_process(&self, process: &str) -> TaskSpec {
        let instance = self.instance_of(process);
        let mut t = self.clone();
        if let Some(pp) = t.per_process.take() {
            let fin = |s: &str| expand::finish(s, process, instance);
            if !pp.command.is_empty() {
                t.command = fin(&pp.command);
                t.argv = crate::words::split(&t.command).unwrap_or(t.argv);
            }
            t.environment = pp
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), fin(v)))
                .collect();
            for (field, text) in [
                (&mut t.stdout, &pp.stdout),
                (&mut t.stderr, &pp.stderr),
                (&mut t.working_directory, &pp.working_directory),
            ] {
                if let Some(text) = text {
                    *field = Some(PathBuf::from(fin(text)));
                }
            }
        }
        for (k, v) in [
            (expand::TASK_VAR, self.name.clone()),
            (expand::PROCESS_VAR, process.to_string()),
            (expand::INSTANCE_VAR, instance.to_string()),
        ] {
            t.environment.insert(k.to_string(), v);
        }
        t
    }

    /// The instance number (1-based) of process `process` of this task.
    fn instance_of(&self, process: &str) -> u32 {
        let n = process
            .strip_prefix(&self.name)
            .and_then(|r| r.strip_prefix('_'));
        match n {
            Some(n) if self.instances != 1 => n.parse().unwrap_or(1),
            _ => 1,
        }
    }

    /// The command process `process` runs, as `status` and `--check` show
    /// it; the same text as `for_process(process).command`, without the copy.
    pub fn command_of(&self, process: &str) -> Cow<'_, str> {
        match &self.per_process {
            Some(pp) if !pp.command.is_empty() => Cow::Owned(expand::finish(
                &pp.command,
                process,
                self.instance_of(process),
            )),
            _ => Cow::Borrowed(&self.command),
        }
    }

    /// Names of this task's processes: `NAME` for one instance, else
    /// `NAME_1` .. `NAME_N`.
    pub fn process_names(&self) -> Vec<String> {
        match self.instances {
            1 => vec![self.name.clone()],
            n => (1..=n).map(|i| format!("{}_{i}", self.name)).collect(),
        }
    }

    /// Whether `other` would run the very same processes: the keys DESIGN
    /// calls process-defining are equal. Every other key (policy keys and
    /// `instances`) applies in place.
    pub fn same_process(&self, other: &TaskSpec) -> bool {
        self.argv == other.argv
            && self.command == other.command
            && self.environment == other.environment
            && self.env_files == other.env_files
            && self.working_directory == other.working_directory
            && self.umask == other.umask
            && self.user == other.user
            && self.stdout == other.stdout
            && self.stderr == other.stderr
            && self.notify == other.notify
            && self.per_process == other.per_process
    }
}

#[cfg(test)]
mod tests;
