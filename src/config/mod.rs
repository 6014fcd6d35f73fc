//! The configuration as the supervisor uses it: typed, validated, with every
//! relative path resolved against the config file's directory. Parsing and
//! validation live in `schema.rs` and `validate.rs`; comparing two configs for
//! a reload lives in `diff.rs`. Nothing here starts a process or reads the
//! clock.

pub mod diff;
pub mod schema;
pub mod validate;
pub mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use validate::{load, parse};

/// The example configuration written when the default file is missing.
pub const EXAMPLE: &str = include_str!("example.yaml");

/// A whole, valid configuration file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was read from, as the user named it.
    pub path: PathBuf,
    /// `socket`, resolved against the config's directory.
    pub socket: Option<PathBuf>,
    /// Tasks by name, in name order.
    pub tasks: BTreeMap<String, TaskSpec>,
}

/// When a process that reached RUNNING is started again after it exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
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
}

impl TaskSpec {
    /// Names of this task's processes: `NAME` for one instance, else
    /// `NAME_1` .. `NAME_N`.
    pub fn process_names(&self) -> Vec<String> {
        process_names(&self.name, self.instances)
    }

    /// Whether `other` would run the very same processes (the keys whose
    /// change needs a restart are equal).
    pub fn same_process(&self, other: &TaskSpec) -> bool {
        self.argv == other.argv
            && self.command == other.command
            && self.environment == other.environment
            && self.working_directory == other.working_directory
            && self.umask == other.umask
            && self.user == other.user
            && self.stdout == other.stdout
            && self.stderr == other.stderr
    }
}

/// Names of the processes of task `name` with `instances` instances.
pub fn process_names(name: &str, instances: u32) -> Vec<String> {
    match instances {
        1 => vec![name.to_string()],
        n => (1..=n).map(|i| format!("{name}_{i}")).collect(),
    }
}

/// The directory relative paths of `config_path` are resolved against.
pub fn base_dir(config_path: &Path) -> PathBuf {
    match config_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
