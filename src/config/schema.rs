//! The key table of the configuration file: every accepted top-level, task
//! and health-check key with each of its spellings, the defaults, and the
//! conversion of seconds as written into `Duration`s. Raw seconds live only
//! here. It never reads a file or a YAML node; `validate.rs` dispatches on
//! these enums.

use std::time::Duration;

use super::{Condition, OnUnhealthy, RestartPolicy};

/// A key at the top of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKey {
    Socket,
    Tasks,
    Metrics,
    Logfile,
    LogMaxSize,
    LogBackups,
}

/// A key of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKey {
    Command,
    Instances,
    AutoLaunch,
    Restart,
    /// supervisord's `autorestart`: `true`, `false` or `unexpected`.
    AutoRestart,
    ExpectedExitCodes,
    StartTimeout,
    RestartAttempts,
    StopSignal,
    StopTimeout,
    Stdout,
    Stderr,
    Environment,
    WorkingDirectory,
    Umask,
    User,
    Essential,
    EnvFile,
    RestartDelay,
    LogMaxSize,
    LogBackups,
    DependsOn,
    HealthCheck,
    Notify,
    WatchdogTimeout,
}

impl TaskKey {
    /// The setting this key writes: spellings of one setting conflict.
    pub fn setting(self) -> TaskKey {
        match self {
            TaskKey::AutoRestart => TaskKey::Restart,
            k => k,
        }
    }
}

/// A key of a `healthCheck`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthKey {
    Command,
    Tcp,
    Http,
    Interval,
    Timeout,
    Retries,
    StartPeriod,
    OnUnhealthy,
}

/// Top-level keys as written; the first spelling of each is its name.
pub const TOP_KEYS: &[(&str, TopKey)] = &[
    ("socket", TopKey::Socket),
    ("tasks", TopKey::Tasks),
    ("programs", TopKey::Tasks),
    ("metrics", TopKey::Metrics),
    ("logfile", TopKey::Logfile),
    ("logMaxSize", TopKey::LogMaxSize),
    ("logBackups", TopKey::LogBackups),
];

/// Task keys as written, in the order the documentation lists them; the
/// first spelling of each setting is its name, the others are aliases.
pub const TASK_KEYS: &[(&str, TaskKey)] = &[
    ("command", TaskKey::Command),
    ("cmd", TaskKey::Command),
    ("instances", TaskKey::Instances),
    ("numprocs", TaskKey::Instances),
    ("autoLaunch", TaskKey::AutoLaunch),
    ("autostart", TaskKey::AutoLaunch),
    ("restart", TaskKey::Restart),
    ("autorestart", TaskKey::AutoRestart),
    ("expectedExitCodes", TaskKey::ExpectedExitCodes),
    ("exitcodes", TaskKey::ExpectedExitCodes),
    ("successfulStartTimeout", TaskKey::StartTimeout),
    ("starttime", TaskKey::StartTimeout),
    ("startsecs", TaskKey::StartTimeout),
    ("restartsAttempts", TaskKey::RestartAttempts),
    ("startretries", TaskKey::RestartAttempts),
    ("stopingSignal", TaskKey::StopSignal),
    ("stopSignal", TaskKey::StopSignal),
    ("stopsignal", TaskKey::StopSignal),
    ("gracefulStopTimeout", TaskKey::StopTimeout),
    ("stoptime", TaskKey::StopTimeout),
    ("stopwaitsecs", TaskKey::StopTimeout),
    ("stdout", TaskKey::Stdout),
    ("stderr", TaskKey::Stderr),
    ("environment", TaskKey::Environment),
    ("env", TaskKey::Environment),
    ("workingDirectory", TaskKey::WorkingDirectory),
    ("workingdir", TaskKey::WorkingDirectory),
    ("directory", TaskKey::WorkingDirectory),
    ("umask", TaskKey::Umask),
    ("user", TaskKey::User),
    ("essential", TaskKey::Essential),
    ("envFile", TaskKey::EnvFile),
    ("env_file", TaskKey::EnvFile),
    ("restartDelay", TaskKey::RestartDelay),
    ("logMaxSize", TaskKey::LogMaxSize),
    ("logBackups", TaskKey::LogBackups),
    ("dependsOn", TaskKey::DependsOn),
    ("healthCheck", TaskKey::HealthCheck),
    ("notify", TaskKey::Notify),
    ("watchdogTimeout", TaskKey::WatchdogTimeout),
];

/// `healthCheck` keys as written.
pub const HEALTH_KEYS: &[(&str, HealthKey)] = &[
    ("command", HealthKey::Command),
    ("tcp", HealthKey::Tcp),
    ("http", HealthKey::Http),
    ("interval", HealthKey::Interval),
    ("timeout", HealthKey::Timeout),
    ("retries", HealthKey::Retries),
    ("startPeriod", HealthKey::StartPeriod),
    ("onUnhealthy", HealthKey::OnUnhealthy),
];

/// Top-level keys starting with this are ignored (a place for anchors).
pub const IGNORED_PREFIX: &str = "x-";

/// A task name the commands reserve for "every process".
pub const RESERVED_TASK_NAME: &str = "all";

/// The values of `restart`, as written and as typed.
pub const RESTART_VALUES: &[(&str, RestartPolicy)] = &[
    ("always", RestartPolicy::Always),
    ("on-failure", RestartPolicy::OnFailure),
    ("never", RestartPolicy::Never),
];

/// The values of `autorestart` (supervisord's spelling of `restart`).
pub const AUTORESTART_VALUES: &[(&str, RestartPolicy)] = &[
    ("true", RestartPolicy::Always),
    ("false", RestartPolicy::Never),
    ("unexpected", RestartPolicy::OnFailure),
];

/// The conditions of `dependsOn`.
pub const CONDITIONS: &[(&str, Condition)] = &[
    ("started", Condition::Started),
    ("running", Condition::Running),
    ("healthy", Condition::Healthy),
    ("completed", Condition::Completed),
];

/// The values of `onUnhealthy`.
pub const ON_UNHEALTHY_VALUES: &[(&str, OnUnhealthy)] = &[
    ("restart", OnUnhealthy::Restart),
    ("none", OnUnhealthy::None),
];

/// The condition a `dependsOn` list stands for.
pub const LIST_CONDITION: Condition = Condition::Healthy;

/// The most `instances` one task may ask for (Linux allows at most 4 194 304
/// pids in all).
pub const MAX_INSTANCES: u32 = 1 << 22;

/// Largest configuration file read.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

/// Default `instances`.
pub const DEFAULT_INSTANCES: u32 = 1;
/// Default `autoLaunch`.
pub const DEFAULT_AUTO_LAUNCH: bool = true;
/// Default `restart`.
pub const DEFAULT_RESTART: RestartPolicy = RestartPolicy::OnFailure;
/// Default `expectedExitCodes`.
pub const DEFAULT_EXIT_CODES: &[i32] = &[0];
/// Default `successfulStartTimeout`: one second.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(1);
/// Default `restartsAttempts`.
pub const DEFAULT_RESTART_ATTEMPTS: u32 = 3;
/// Default `stopingSignal`.
pub const DEFAULT_STOP_SIGNAL: i32 = libc::SIGTERM;
/// Default `gracefulStopTimeout`: ten seconds.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `logBackups` (task and top level).
pub const DEFAULT_LOG_BACKUPS: u32 = 5;
/// Default health check `interval`.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// Default health check `timeout`.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default health check `retries`.
pub const DEFAULT_HEALTH_RETRIES: u32 = 3;

/// The largest accepted number of seconds (365 days): far beyond any real
/// timeout, and small enough that adding it to an `Instant` never overflows.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// The largest accepted `umask`.
pub const MAX_UMASK: u32 = 0o777;

/// The largest accepted exit code in `expectedExitCodes`.
pub const MAX_EXIT_CODE: i128 = 255;

/// Converts seconds as written into a `Duration`. `None` when `secs` is
/// negative, not finite or above [`MAX_SECONDS`].
pub fn seconds(secs: f64) -> Option<Duration> {
    if !(0.0..=MAX_SECONDS).contains(&secs) {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// A size as written: bytes, or a number with `K`, `M` or `G` (powers of
/// 1024, an optional `B`, any case). `None` when malformed or too large.
pub fn size(text: &str) -> Option<u64> {
    let t = text.trim();
    let t = t
        .strip_suffix(['B', 'b'])
        .filter(|r| r.ends_with(['K', 'k', 'M', 'm', 'G', 'g']))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last()? {
        (i, 'K' | 'k') => (&t[..i], 10),
        (i, 'M' | 'm') => (&t[..i], 20),
        (i, 'G' | 'g') => (&t[..i], 30),
        _ => (t, 0),
    };
    let digits = digits.trim_end();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The first entry of `table` spelled exactly `name`.
pub fn find<K: Copy>(table: &[(&'static str, K)], name: &str) -> Option<K> {
    table.iter().find(|(n, _)| *n == name).map(|&(_, k)| k)
}

/// The first spelling of `key` in `table`: its name in messages.
pub fn name_of<K: Copy + PartialEq>(table: &[(&'static str, K)], key: K) -> &'static str {
    table
        .iter()
        .find(|(_, k)| *k == key)
        .map_or("?", |&(n, _)| n)
}

/// The candidate nearest to the unknown `name`, when it is close enough to
/// be a misspelling: equal ignoring case, or at most two edits
/// (insertions, deletions, substitutions, swaps of neighbours) away, and
/// fewer edits than half the name.
pub fn suggest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let candidates: Vec<&str> = candidates.into_iter().collect();
    if let Some(k) = candidates.iter().find(|k| k.to_lowercase() == lower) {
        return Some(k);
    }
    // Long inputs can never be within two edits of a short key; skip the work.
    if lower.chars().count() > 40 {
        return None;
    }
    candidates
        .into_iter()
        .map(|k| (strsim::osa_distance(&lower, &k.to_lowercase()), k))
        .filter(|&(d, k)| d <= 2 && d * 2 < k.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<K>(table: &[(&'static str, K)]) -> impl Iterator<Item = &'static str> {
        table.iter().map(|&(n, _)| n)
    }

    #[test]
    fn every_spelling_is_listed_once() {
        let all: Vec<&str> = names(TASK_KEYS).collect();
        for (i, k) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(k), "{k}");
        }
        assert_eq!(find(TASK_KEYS, "stopSignal"), Some(TaskKey::StopSignal));
        assert_eq!(name_of(TASK_KEYS, TaskKey::StopSignal), "stopingSignal");
        assert_eq!(name_of(TASK_KEYS, TaskKey::AutoRestart), "autorestart");
        assert_eq!(find(TOP_KEYS, "programs"), Some(TopKey::Tasks));
        assert!(find(TASK_KEYS, "Command").is_none());
    }

    #[test]
    fn seconds_convert_and_reject() {
        assert_eq!(seconds(1.0), Some(Duration::from_secs(1)));
        assert_eq!(seconds(0.25), Some(Duration::from_millis(250)));
        assert_eq!(seconds(0.0), Some(Duration::ZERO));
        assert_eq!(seconds(MAX_SECONDS), Some(Duration::from_secs(31_536_000)));
        for bad in [-1.0, -0.001, f64::NAN, f64::INFINITY, MAX_SECONDS + 1.0] {
            assert_eq!(seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes() {
        for (text, n) in [
            ("0", 0),
            ("512", 512),
            ("10K", 10 << 10),
            ("10kb", 10 << 10),
            ("10M", 10 << 20),
            ("10 MB", 10 << 20),
            ("1G", 1 << 30),
        ] {
            assert_eq!(size(text), Some(n), "{text}");
        }
        for bad in ["", "K", "10X", "-1", "1.5M", "10B", "99999999999G"] {
            assert_eq!(size(bad), None, "{bad}");
        }
    }

    #[test]
    fn suggestions() {
        let task = || names(TASK_KEYS);
        assert_eq!(suggest("comand", task()), Some("command"));
        // A swap of neighbours is one edit.
        assert_eq!(suggest("retsart", task()), Some("restart"));
        assert_eq!(suggest("cmomand", task()), Some("command"));
        assert_eq!(suggest("autolaunch", task()), Some("autoLaunch"));
        assert_eq!(suggest("AUTOLAUNCH", task()), Some("autoLaunch"));
        assert_eq!(suggest("stoppingSignal", task()), Some("stopingSignal"));
        assert_eq!(suggest("restartAttempts", task()), Some("restartsAttempts"));
        assert_eq!(suggest("instance", task()), Some("instances"));
        assert_eq!(
            suggest("expectedExitCode", task()),
            Some("expectedExitCodes")
        );
        assert_eq!(suggest("workingDir", task()), Some("workingdir"));
        assert_eq!(suggest("dependOn", task()), Some("dependsOn"));
        assert_eq!(suggest("healthcheck", task()), Some("healthCheck"));
        assert_eq!(suggest("foo", task()), None);
        assert_eq!(suggest("task", names(TOP_KEYS)), Some("tasks"));
        assert_eq!(suggest("sock", names(TOP_KEYS)), Some("socket"));
        assert_eq!(suggest("commands", names(TOP_KEYS)), None);
        assert_eq!(suggest("intervall", names(HEALTH_KEYS)), Some("interval"));
        assert_eq!(suggest(&"x".repeat(10_000), task()), None);
    }
}
