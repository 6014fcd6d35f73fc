//! The key table of the configuration file: every accepted top-level and task
//! key with the kind of value it takes, the defaults, and the conversion of
//! seconds as written into `Duration`s. Raw seconds live only here. It never
//! reads a file or a YAML value; `validate.rs` checks values against it.

use std::time::Duration;

use super::RestartPolicy;

/// The kind of value a key takes, which decides how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A mapping of task names to tasks.
    Tasks,
    /// A command line, split with shell word rules.
    Command,
    /// A whole number >= 0 that fits a `u32`.
    Count,
    /// `true` or `false`.
    Bool,
    /// One of [`RESTART_VALUES`].
    Restart,
    /// One exit code 0..=255 or a list of them.
    ExitCodes,
    /// A number of seconds, fractions allowed, 0..=[`MAX_SECONDS`].
    Seconds,
    /// A signal name or number.
    Signal,
    /// A file or directory path, relative to the config's directory.
    Path,
    /// A mapping of variable names to scalars, used as written.
    Environment,
    /// An octal file mode mask, at most 0o777.
    Umask,
    /// A user name or a numeric uid.
    User,
}

/// One accepted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The key as written in the file.
    pub name: &'static str,
    /// What its value must be.
    pub kind: Kind,
}

const fn key(name: &'static str, kind: Kind) -> Key {
    Key { name, kind }
}

/// Keys accepted at the top of the file.
pub const TOP_KEYS: &[Key] = &[key("socket", Kind::Path), key("tasks", Kind::Tasks)];

/// Keys accepted in a task, in the order the documentation lists them.
pub const TASK_KEYS: &[Key] = &[
    key("command", Kind::Command),
    key("instances", Kind::Count),
    key("autoLaunch", Kind::Bool),
    key("restart", Kind::Restart),
    key("expectedExitCodes", Kind::ExitCodes),
    key("successfulStartTimeout", Kind::Seconds),
    key("restartsAttempts", Kind::Count),
    key("stopingSignal", Kind::Signal),
    key(STOP_SIGNAL_ALIAS, Kind::Signal),
    key("gracefulStopTimeout", Kind::Seconds),
    key("stdout", Kind::Path),
    key("stderr", Kind::Path),
    key("environment", Kind::Environment),
    key("workingDirectory", Kind::Path),
    key("umask", Kind::Umask),
    key("user", Kind::User),
    key("essential", Kind::Bool),
];

/// The one required task key.
pub const COMMAND: &str = "command";

/// The correctly spelled alias of `stopingSignal`; giving both is an error.
pub const STOP_SIGNAL_ALIAS: &str = "stopSignal";

/// The key `stopSignal` stands for.
pub const STOP_SIGNAL: &str = "stopingSignal";

/// A task name the commands reserve for "every process".
pub const RESERVED_TASK_NAME: &str = "all";

/// The values of `restart`, as written and as typed.
pub const RESTART_VALUES: &[(&str, RestartPolicy)] = &[
    ("always", RestartPolicy::Always),
    ("on-failure", RestartPolicy::OnFailure),
    ("never", RestartPolicy::Never),
];

/// The most `instances` one task may ask for (Linux allows at most 4 194 304
/// pids in all).
pub const MAX_INSTANCES: u32 = 1 << 22;

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
/// Default `essential`.
pub const DEFAULT_ESSENTIAL: bool = false;

/// The largest accepted number of seconds (365 days): far beyond any real
/// timeout, and small enough that adding it to an `Instant` never overflows.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// The largest accepted `umask`.
pub const MAX_UMASK: u32 = 0o777;

/// The largest accepted exit code in `expectedExitCodes`.
pub const MAX_EXIT_CODE: i64 = 255;

/// Converts seconds as written into a `Duration`. `None` when `secs` is
/// negative, not finite or above [`MAX_SECONDS`].
pub fn seconds(secs: f64) -> Option<Duration> {
    if !(0.0..=MAX_SECONDS).contains(&secs) {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// The key named exactly `name` in `keys`.
pub fn find(keys: &'static [Key], name: &str) -> Option<&'static Key> {
    keys.iter().find(|k| k.name == name)
}

/// The key of `keys` nearest to the unknown `name`, when it is close enough
/// to be a misspelling: equal ignoring case, or at most two edits
/// (insertions, deletions, substitutions, swaps of neighbours) away, and
/// fewer edits than half the name.
pub fn suggest(name: &str, keys: &'static [Key]) -> Option<&'static str> {
    let lower = name.to_lowercase();
    if let Some(k) = keys.iter().find(|k| k.name.to_lowercase() == lower) {
        return Some(k.name);
    }
    // Long inputs can never be within two edits of a short key; skip the work.
    if lower.chars().count() > 40 {
        return None;
    }
    keys.iter()
        .map(|k| (edit_distance(&lower, &k.name.to_lowercase()), k.name))
        .filter(|&(d, name)| d <= 2 && d * 2 < name.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, name)| name)
}

/// Optimal string alignment distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between a[..i] and b[..j]; three rows suffice.
    let mut before = vec![0usize; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_key_is_listed_once() {
        for (i, k) in TASK_KEYS.iter().enumerate() {
            assert!(
                TASK_KEYS[i + 1..].iter().all(|o| o.name != k.name),
                "{}",
                k.name
            );
        }
        assert_eq!(
            find(TASK_KEYS, COMMAND).map(|k| k.kind),
            Some(Kind::Command)
        );
        assert_eq!(
            find(TASK_KEYS, STOP_SIGNAL).map(|k| k.kind),
            Some(Kind::Signal)
        );
        assert_eq!(
            find(TASK_KEYS, STOP_SIGNAL_ALIAS).map(|k| k.kind),
            Some(Kind::Signal)
        );
        assert_eq!(find(TOP_KEYS, "tasks").map(|k| k.kind), Some(Kind::Tasks));
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
    fn distance() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("comand", "command"), 1);
        assert_eq!(edit_distance("restart", "retsart"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("comand", TASK_KEYS), Some("command"));
        assert_eq!(suggest("autolaunch", TASK_KEYS), Some("autoLaunch"));
        assert_eq!(suggest("AUTOLAUNCH", TASK_KEYS), Some("autoLaunch"));
        assert_eq!(suggest("stoppingSignal", TASK_KEYS), Some("stopingSignal"));
        assert_eq!(suggest("stopsignal", TASK_KEYS), Some("stopSignal"));
        assert_eq!(
            suggest("restartAttempts", TASK_KEYS),
            Some("restartsAttempts")
        );
        assert_eq!(suggest("instance", TASK_KEYS), Some("instances"));
        assert_eq!(
            suggest("expectedExitCode", TASK_KEYS),
            Some("expectedExitCodes")
        );
        assert_eq!(suggest("workingDir", TASK_KEYS), None);
        assert_eq!(suggest("env", TASK_KEYS), None);
        assert_eq!(suggest("foo", TASK_KEYS), None);
        assert_eq!(suggest("task", TOP_KEYS), Some("tasks"));
        assert_eq!(suggest("sock", TOP_KEYS), Some("socket"));
        assert_eq!(suggest("commands", TOP_KEYS), None);
        assert_eq!(suggest(&"x".repeat(10_000), TASK_KEYS), None);
    }
}
