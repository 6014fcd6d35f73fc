//! The typed schema of the configuration file: for the top level, a task
//! and a health check, a table of keys, each with its spellings (the first
//! is its name, the others aliases) and what its value sets, and the walk
//! that applies a mapping through such a table (unknown keys with the
//! nearest spelling, two spellings of one key, keys that are not text).
//! Then the limits, and seconds and sizes as written turned into typed
//! values: raw seconds live only here. `values.rs` checks single values.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::deps::{self, Dep};
use super::values::{Item, Validator};
use super::vars::Expandable;
use super::yaml::{START, Typed};
use super::{Condition, Config, HealthCheck, OnUnhealthy, Probe, RestartPolicy, TaskSpec};
use crate::text::quoted;

/// One key: its spellings, and what its value does to the `T` being built
/// (`None` when the value is invalid, which it has reported).
pub(super) struct Key<T: 'static> {
    pub names: &'static [&'static str],
    pub apply: fn(&mut Validator, &Item, &mut T) -> Option<()>,
}

const fn key<T>(
    names: &'static [&'static str],
    apply: fn(&mut Validator, &Item, &mut T) -> Option<()>,
) -> Key<T> {
    Key { names, apply }
}

/// Stores `value` in `slot` when valid.
fn set<T, V: Into<T>>(slot: &mut T, value: Option<V>) -> Option<()> {
    *slot = value?.into();
    Some(())
}

/// A key whose value one check of [`Validator`] (given any further
/// arguments) stores in one field of what is built:
/// `field!(spec.umask: umask, "umask")`. The check `later` keeps the key
/// for the pass over expandable keys.
macro_rules! field {
    ($($f:ident).+ : later, $($name:literal),+) => {
        key(&[$($name),+], |_, it, t| {
            t.$($f).+ = Some(it.clone());
            Some(())
        })
    };
    ($($f:ident).+ : $check:ident $(($($arg:expr),*))?, $($name:literal),+) => {
        key(&[$($name),+], |v, it, t| set(&mut t.$($f).+, v.$check(it $($(, $arg)*)?)))
    };
}

/// The top-level keys; `tasks` is second.
pub(super) const TOP_KEYS: &[Key<Config>] = &[
    // A path, or `false` for no socket.
    key(&["socket"], |v, it, t| {
        t.socket_enabled = v.tree.typed(it.value) != Some(Typed::Bool(false));
        if t.socket_enabled {
            t.socket = Some(v.path(it)?);
        }
        Some(())
    }),
    field!(tasks: tasks, "tasks", "programs"),
    field!(metrics: address, "metrics"),
    field!(logfile: path, "logfile"),
    field!(log_max_size: size, "logMaxSize"),
    field!(log_backups: count_in(0, u32::MAX), "logBackups"),
];

/// What the keys of one task build.
pub(super) struct Draft {
    pub spec: TaskSpec,
    /// The keys that take `${NAME}` expansion, checked once all are known.
    pub expandable: Expandable,
    pub depends: Vec<Dep>,
    /// False when `instances` was given but invalid.
    pub instances_known: bool,
}

/// The keys of a task, in the order the documentation lists them.
pub(super) const TASK_KEYS: &[Key<Draft>] = &[
    field!(expandable.command: later, "command", "cmd"),
    key(&["instances", "numprocs"], |v, it, t| {
        let n = v.count_in(it, 0, MAX_INSTANCES);
        t.instances_known = n.is_some();
        t.spec.instances = n?;
        Some(())
    }),
    field!(spec.auto_launch: boolean, "autoLaunch", "autostart"),
    // supervisord's `autorestart` takes `true`, `false` or `unexpected`.
    key(&["restart", "autorestart"], |v, it, t| {
        let values = match it.name.as_deref() {
            Some("restart") => RESTART_VALUES,
            _ => AUTORESTART_VALUES,
        };
        t.spec.restart = v.choice(it, values)?;
        Some(())
    }),
    field!(spec.expected_exit_codes: exit_codes, "expectedExitCodes", "exitcodes"),
    field!(spec.start_timeout: seconds, "successfulStartTimeout", "starttime", "startsecs"),
    field!(spec.restart_attempts: count_in(0, u32::MAX), "restartsAttempts", "startretries"),
    field!(spec.stop_signal: signal, "stopingSignal", "stopSignal", "stopsignal"),
    field!(spec.stop_timeout: seconds, "gracefulStopTimeout", "stoptime", "stopwaitsecs"),
    field!(expandable.stdout: later, "stdout"),
    field!(expandable.stderr: later, "stderr"),
    field!(expandable.environment: later, "environment", "env"),
    field!(expandable.working_directory: later, "workingDirectory", "workingdir", "directory"),
    field!(spec.umask: umask, "umask"),
    field!(spec.user: user, "user"),
    field!(spec.essential: boolean, "essential"),
    field!(expandable.env_file: later, "envFile", "env_file"),
    field!(spec.restart_delay: seconds, "restartDelay"),
    field!(spec.log_max_size: size, "logMaxSize"),
    field!(spec.log_backups: count_in(0, u32::MAX), "logBackups"),
    field!(depends: depends_on, "dependsOn"),
    field!(spec.health_check: health, "healthCheck"),
    field!(spec.notify: boolean, "notify"),
    field!(spec.watchdog_timeout: seconds, "watchdogTimeout"),
];

/// The keys of a `healthCheck`; its three probes are spellings of one key
/// (the first), so giving two is the error two spellings are.
pub(super) const HEALTH_KEYS: &[Key<HealthCheck>] = &[
    key(&["command", "tcp", "http"], |v, it, t| {
        t.probe = match it.name.as_deref() {
            Some("command") => {
                let (command, argv) = v.command(it)?;
                Probe::Command { command, argv }
            }
            Some("tcp") => Probe::Tcp(v.address(it)?),
            _ => v.url(it)?,
        };
        Some(())
    }),
    field!(interval: seconds, "interval"),
    field!(timeout: seconds, "timeout"),
    field!(retries: count_in(1, u32::MAX), "retries"),
    field!(start_period: seconds, "startPeriod"),
    field!(on_unhealthy: choice(ON_UNHEALTHY_VALUES), "onUnhealthy"),
];

/// Whether one of `items` is a spelling of `key`.
fn given<T>(items: &[Item], key: &Key<T>) -> bool {
    items
        .iter()
        .any(|it| it.name.as_deref().is_some_and(|n| key.names.contains(&n)))
}

/// Every spelling of every key of `table`, in order.
pub(super) fn spellings<T>(table: &[Key<T>]) -> impl Iterator<Item = &'static str> + '_ {
    table.iter().flat_map(|k| k.names.iter().copied())
}

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

/// The conditions of `dependsOn`; a list of names stands for `healthy`.
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

/// The most `instances` one task may ask for (Linux allows at most 4 194 304
/// pids in all).
pub const MAX_INSTANCES: u32 = 1 << 22;

/// Largest configuration file read.
pub const MAX_FILE_BYTES: u64 = 16 << 20;

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

/// `unknown WHAT 'NAME'`, with the nearest of `candidates` when `name`
/// looks like its misspelling.
pub(super) fn unknown<'a>(
    what: &str,
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    match suggest(name, candidates) {
        Some(s) => format!("unknown {what} {} (did you mean '{s}'?)", quoted(name)),
        None => format!("unknown {what} {}", quoted(name)),
    }
}

impl Validator<'_> {
    /// Applies `items` through `table` to `target`, reporting keys that are
    /// not text, unknown keys (with the nearest spelling) and a second
    /// spelling of a key already given; false when any was invalid.
    fn apply<T>(&mut self, items: &[Item], table: &[Key<T>], target: &mut T) -> bool {
        let mut ok = true;
        let mut given: Vec<(usize, &str)> = Vec::new();
        for it in items {
            let Some(name) = it.name.as_deref() else {
                self.unsupported_key(it);
                ok = false;
                continue;
            };
            let Some(k) = table.iter().position(|k| k.names.contains(&name)) else {
                self.fail(it, unknown("key", name, spellings(table)));
                ok = false;
                continue;
            };
            if let Some(&(_, first)) = given.iter().find(|&&(g, _)| g == k) {
                // A merged default under another spelling yields to the key
                // written here (or merged earlier), as merged keys do.
                if it.merged {
                    continue;
                }
                self.fail(it, format!("both '{first}' and '{name}' given (keep one)"));
                ok = false;
                continue;
            }
            given.push((k, name));
            ok &= (table[k].apply)(self, it, target).is_some();
        }
        ok
    }

    /// The whole file, when valid.
    pub(super) fn config(&mut self, path: &Path) -> Option<Config> {
        let empty = "empty configuration (expected a mapping with key 'tasks')";
        let root = match self.tree.root {
            Some(root) if self.is_map(root) => root,
            root => {
                let message = match root.map(|r| self.found(r)).as_deref() {
                    None | Some("nothing") => empty.to_string(),
                    Some(found) => format!("expected a mapping with key 'tasks', found {found}"),
                };
                self.error(START, "", message);
                return None;
            }
        };
        let mut items = self.entries(root, "");
        items.retain(|it| {
            !it.name
                .as_ref()
                .is_some_and(|n| n.starts_with(IGNORED_PREFIX))
        });
        let mut config = Config::empty(path);
        let ok = self.apply(&items, TOP_KEYS, &mut config);
        if !given(&items, &TOP_KEYS[1]) {
            self.error(START, "", "missing key 'tasks'".to_string());
            return None;
        }
        ok.then_some(config)
    }

    fn tasks(&mut self, it: &Item) -> Option<BTreeMap<String, TaskSpec>> {
        let items = self.mapping(it, "a mapping of task names to tasks")?;
        let mut tasks = BTreeMap::new();
        let mut graph = deps::Graph::default();
        let mut ok = true;
        for task in &items {
            let spec = self.task(task, &mut graph);
            ok &= spec.is_some();
            if let Some(spec) = spec {
                tasks.insert(spec.name.clone(), spec);
            }
        }
        ok &= graph.check(self);
        ok.then_some(tasks)
    }

    /// One task, when valid; its name, instance count and dependencies go
    /// into `graph` whenever they are known.
    fn task(&mut self, it: &Item, graph: &mut deps::Graph) -> Option<TaskSpec> {
        let Some(name) = it.name.clone() else {
            self.unsupported_key(it);
            return None;
        };
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid_name {
            let message = format!(
                "invalid task name {} (use letters, digits, '_', '.' and '-')",
                quoted(&name)
            );
            self.fail(it, message);
        } else if name == RESERVED_TASK_NAME {
            self.fail(it, format!("the task name '{name}' is reserved"));
        }
        let mut ok = valid_name && name != RESERVED_TASK_NAME;
        let items = self.mapping(it, "a mapping of task keys")?;
        let mut t = Draft {
            spec: TaskSpec::new(&name, "", Vec::new()),
            expandable: Expandable::default(),
            depends: Vec::new(),
            instances_known: true,
        };
        ok &= self.apply(&items, TASK_KEYS, &mut t);
        if t.expandable.command.is_none() {
            self.fail(it, "missing key 'command'".to_string());
            ok = false;
        }
        ok &= self.expandable(&mut t.spec, &t.expandable);
        for d in &t.depends {
            t.spec.depends_on.insert(d.task.clone(), d.condition);
        }
        if valid_name {
            let instances = t.instances_known.then_some(t.spec.instances);
            graph.add(&name, instances, it, t.depends);
        }
        ok.then_some(t.spec)
    }

    pub(super) fn health(&mut self, it: &Item) -> Option<HealthCheck> {
        let items = self.mapping(it, "a mapping with one of 'command', 'tcp', 'http'")?;
        let mut check = HealthCheck {
            probe: Probe::Tcp(([127, 0, 0, 1], 0).into()),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
            on_unhealthy: OnUnhealthy::Restart,
        };
        let ok = self.apply(&items, HEALTH_KEYS, &mut check);
        if !given(&items, &HEALTH_KEYS[0]) && ok {
            self.fail(it, "missing one of 'command', 'tcp', 'http'".to_string());
            return None;
        }
        ok.then_some(check)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_is_listed_once() {
        let all: Vec<&str> = spellings(TASK_KEYS).collect();
        for (i, k) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(k), "{k}");
        }
        assert!(!all.contains(&"Command"));
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
        let task = || spellings(TASK_KEYS);
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
        assert_eq!(suggest("task", spellings(TOP_KEYS)), Some("tasks"));
        assert_eq!(suggest("sock", spellings(TOP_KEYS)), Some("socket"));
        assert_eq!(suggest("commands", spellings(TOP_KEYS)), None);
        assert_eq!(
            suggest("intervall", spellings(HEALTH_KEYS)),
            Some("interval")
        );
        assert_eq!(suggest(&"x".repeat(10_000), task()), None);
    }
}
