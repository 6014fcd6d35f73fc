//! Reads a configuration file and turns it into a [`Config`], reporting every
//! problem at once as `file:line:column: key.path: message`. The YAML tree
//! (`yaml.rs`) gives each key its position and each scalar its text; this
//! file walks the top level, the tasks and their keys, dispatching on the
//! typed key tables of `schema.rs`; `values.rs` checks single values and
//! `deps.rs` the `dependsOn` graph. Nothing here starts a process or touches
//! any file but the one read by [`load`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::schema::{self, HEALTH_KEYS, HealthKey, TASK_KEYS, TOP_KEYS, TaskKey, TopKey};
use super::yaml::{self, Id, Pos, START, Tree, Value};
use super::{Config, HealthCheck, Probe, TaskSpec, base_dir, deps, vars};

/// Every problem found in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One full line per problem, in file order, e.g.
    /// `taskmaster.yaml:12:5: tasks.web.restart: unknown value 'sometimes'
    /// (expected always, on-failure, never)`.
    pub errors: Vec<String>,
}

impl ConfigError {
    fn one(message: String) -> Self {
        ConfigError {
            errors: vec![message],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.errors.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// The most problems reported for one file; a last line counts the rest.
const MAX_ERRORS: usize = 100;

/// The most mapping entries and list items one validation looks at, so
/// aliases of aliases cannot make it slow.
const MAX_VISITS: usize = 2_000_000;

/// Reads and validates the configuration file at `path`; see [`parse`].
///
/// Fails when the file cannot be read (`cannot read PATH: REASON`), is not
/// a regular file, is over 16 MiB, is not UTF-8, or is not a valid
/// configuration.
pub fn load(path: &Path, is_root: bool) -> Result<Config, ConfigError> {
    let bytes = read_regular(path, schema::MAX_FILE_BYTES).map_err(|e| {
        if e == TOO_LARGE {
            too_large(path)
        } else {
            ConfigError::one(format!("cannot read {}: {e}", path.display()))
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let line = valid.split('\n').count();
        let col = valid.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ConfigError::one(format!(
            "{}:{line}:{col}: not valid UTF-8 text",
            path.display()
        ))
    })?;
    parse(&text, path, is_root)
}

const TOO_LARGE: &str = "too large";

/// The bytes of the regular file at `path`, at most `limit` of them.
///
/// Fails with a reason: the OS error, `not a regular file`, or `too large`.
pub(super) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    // O_NONBLOCK: a FIFO at the path must not block the loop at reload.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| os_message(&e))?;
    if !file.metadata().map_err(|e| os_message(&e))?.is_file() {
        return Err("not a regular file".to_string());
    }
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| os_message(&e))?;
    if bytes.len() as u64 > limit {
        return Err(TOO_LARGE.to_string());
    }
    Ok(bytes)
}

fn too_large(path: &Path) -> ConfigError {
    ConfigError::one(format!(
        "{}: file is larger than {} MiB",
        path.display(),
        schema::MAX_FILE_BYTES >> 20
    ))
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
        ConfigError::one(format!(
            "{file}:{}:{}: {}",
            at.line,
            at.col,
            crate::text::one_line(&message)
        ))
    })?;
    let base = std::path::absolute(base_dir(path)).unwrap_or_else(|_| base_dir(path));
    let mut v = Validator {
        tree: &tree,
        is_root,
        base,
        problems: Vec::new(),
        visits: 0,
    };
    for (at, message) in &tree.problems {
        v.error(*at, "", message.clone());
    }
    let config = v.config(path);
    match config {
        Some(config) if v.problems.is_empty() => Ok(config),
        _ => {
            if v.problems.is_empty() {
                v.error(START, "", "invalid configuration".to_string());
            }
            // Stable: problems at one place keep the order they were found in.
            v.problems.sort_by_key(|p| p.at);
            // One value reached through many aliases is one problem.
            v.problems
                .dedup_by(|a, b| (a.at, &a.path, &a.message) == (b.at, &b.path, &b.message));
            let more = v.problems.len().saturating_sub(MAX_ERRORS);
            let mut errors: Vec<String> = v
                .problems
                .into_iter()
                .take(MAX_ERRORS)
                .map(|p| {
                    let Pos { line, col } = p.at;
                    if p.path.is_empty() {
                        format!("{file}:{line}:{col}: {}", p.message)
                    } else {
                        format!("{file}:{line}:{col}: {}: {}", p.path, p.message)
                    }
                })
                .collect();
            if more > 0 {
                errors.push(format!("{file}: {more} more errors not shown"));
            }
            Err(ConfigError { errors })
        }
    }
}

/// An I/O error's text without the ` (os error N)` suffix.
pub(super) fn os_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// User text made safe for a one-line message: control characters escaped,
/// long text cut.
pub(super) fn clean(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", crate::text::one_line(&s[..cut])),
        None => crate::text::one_line(s),
    }
}

pub(super) fn quote(s: &str) -> String {
    format!("'{}'", clean(s))
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        clean(name)
    } else {
        format!("{path}.{}", clean(name))
    }
}

/// One problem, before formatting.
pub(super) struct Problem {
    pub at: Pos,
    pub path: String,
    pub message: String,
}

/// One entry of a mapping being validated, with where its key was written.
pub(super) struct Item {
    /// The key as written; `None` for a key that is not a scalar.
    pub name: Option<String>,
    pub value: Id,
    pub at: Pos,
    pub path: String,
}

/// Checks one parsed file against the key table, collecting every problem.
pub(super) struct Validator<'t> {
    pub tree: &'t Tree,
    pub is_root: bool,
    /// The config's directory, absolute.
    pub base: PathBuf,
    pub problems: Vec<Problem>,
    visits: usize,
}

impl Validator<'_> {
    pub fn error(&mut self, at: Pos, path: &str, message: String) {
        self.problems.push(Problem {
            at,
            path: path.to_string(),
            message,
        });
    }

    pub fn fail(&mut self, it: &Item, message: String) {
        self.error(it.at, &it.path, message);
    }

    /// The entries of mapping `map` (whose own path is `path`); reports its
    /// duplicate keys. Empty once the visit budget is spent.
    pub fn entries(&mut self, map: Id, path: &str) -> Vec<Item> {
        let tree = self.tree;
        let Value::Map(m) = &tree.node(map).value else {
            return Vec::new();
        };
        for &k in &m.duplicates {
            let key = self.key_text(k).unwrap_or_default();
            let message = format!("duplicate entry with key \"{}\"", clean(&key));
            self.error(tree.node(k).at, path, message);
        }
        if !self.visit(m.entries.len()) {
            return Vec::new();
        }
        m.entries
            .iter()
            .map(|&(k, value)| {
                let name = self.key_text(k);
                Item {
                    path: join(path, name.as_deref().unwrap_or("?")),
                    name,
                    value,
                    at: tree.node(k).at,
                }
            })
            .collect()
    }

    /// Counts `n` more values looked at; false (once reported) past the budget.
    pub fn visit(&mut self, n: usize) -> bool {
        let before = self.visits;
        self.visits = self.visits.saturating_add(n);
        if self.visits > MAX_VISITS {
            if before <= MAX_VISITS {
                let message = format!(
                    "more than {MAX_VISITS} values once aliases and merge keys are expanded"
                );
                self.error(START, "", message);
            }
            return false;
        }
        true
    }

    /// A scalar key's text as written; `None` for tagged or collection keys.
    fn key_text(&self, k: Id) -> Option<String> {
        match &self.tree.node(k) {
            yaml::Node {
                tag: None,
                value: Value::Scalar(s),
                ..
            } => Some(s.text.clone()),
            _ => None,
        }
    }

    /// How to name a wrong value in a message.
    pub fn found(&self, id: Id) -> String {
        let node = self.tree.node(id);
        if let Some(tag) = &node.tag {
            return format!("a value tagged {}", clean(tag));
        }
        match &node.value {
            Value::Seq(_) => "a list".to_string(),
            Value::Map(_) => "a mapping".to_string(),
            Value::Scalar(_) if self.tree.typed(id) == Some(yaml::Typed::Null) => {
                "nothing".to_string()
            }
            Value::Scalar(s) => quote(&s.text),
        }
    }

    pub fn unsupported_key(&mut self, it: &Item) {
        self.fail(it, "unsupported key (keys must be plain text)".to_string());
    }

    pub fn unknown_key<K>(&mut self, it: &Item, name: &str, table: &[(&'static str, K)]) {
        let message = match schema::suggest(name, table.iter().map(|&(n, _)| n)) {
            Some(s) => format!("unknown key {} (did you mean '{s}'?)", quote(name)),
            None => format!("unknown key {}", quote(name)),
        };
        self.fail(it, message);
    }

    /// Whether `key` (spelled `name`) sets a setting no earlier spelling
    /// set; reports the conflict otherwise.
    fn first_spelling<K: Copy + PartialEq>(
        &mut self,
        seen: &mut Vec<(K, &'static str)>,
        it: &Item,
        setting: K,
        name: &'static str,
    ) -> bool {
        if let Some(&(_, first)) = seen.iter().find(|(s, _)| *s == setting) {
            self.fail(it, format!("both '{first}' and '{name}' given (keep one)"));
            return false;
        }
        seen.push((setting, name));
        true
    }

    fn config(&mut self, path: &Path) -> Option<Config> {
        let Some(root) = self.tree.root else {
            let message = "empty configuration (expected a mapping with key 'tasks')";
            self.error(START, "", message.to_string());
            return None;
        };
        if self.tree.typed(root) == Some(yaml::Typed::Null) || !self.is_map(root) {
            let message = match self.found(root).as_str() {
                "nothing" => "empty configuration (expected a mapping with key 'tasks')".into(),
                found => format!("expected a mapping with key 'tasks', found {found}"),
            };
            self.error(START, "", message);
            return None;
        }
        let mut c = Config::empty(path);
        let mut tasks = None;
        let mut ok = true;
        let mut seen = Vec::new();
        for it in self.entries(root, "") {
            let Some(name) = it.name.as_deref() else {
                self.unsupported_key(&it);
                ok = false;
                continue;
            };
            if name.starts_with(schema::IGNORED_PREFIX) {
                continue;
            }
            let Some((spelling, key)) = TOP_KEYS.iter().find(|(n, _)| *n == name).copied() else {
                self.unknown_key(&it, name, TOP_KEYS);
                ok = false;
                continue;
            };
            if !self.first_spelling(&mut seen, &it, key, spelling) {
                ok = false;
                continue;
            }
            let good = match key {
                TopKey::Socket => self.socket(&it).map(|s| match s {
                    Some(p) => c.socket = Some(p),
                    None => c.socket_enabled = false,
                }),
                TopKey::Tasks => {
                    tasks = Some(self.tasks(&it));
                    Some(())
                }
                TopKey::Metrics => self.address(&it).map(|a| c.metrics = Some(a)),
                TopKey::Logfile => self.path(&it).map(|p| c.logfile = Some(p)),
                TopKey::LogMaxSize => self.size(&it).map(|n| c.log_max_size = n),
                TopKey::LogBackups => self.count(&it).map(|n| c.log_backups = n),
            };
            ok &= good.is_some();
        }
        let Some(tasks) = tasks else {
            self.error(START, "", "missing key 'tasks'".to_string());
            return None;
        };
        c.tasks = tasks?;
        ok.then_some(c)
    }

    pub fn is_map(&self, id: Id) -> bool {
        matches!(self.tree.node(id).value, Value::Map(_)) && self.tree.node(id).tag.is_none()
    }

    /// The entries of the mapping `it` holds, with nothing standing for an
    /// empty mapping; `None` (reported as `expected`) for anything else.
    pub fn mapping(&mut self, it: &Item, expected: &str) -> Option<Vec<Item>> {
        if self.tree.typed(it.value) == Some(yaml::Typed::Null) {
            return Some(Vec::new());
        }
        if !self.is_map(it.value) {
            let found = self.found(it.value);
            self.fail(it, format!("expected {expected}, found {found}"));
            return None;
        }
        Some(self.entries(it.value, &it.path))
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
        let mut ok = true;
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid_name {
            let message = format!(
                "invalid task name {} (use letters, digits, '_', '.' and '-')",
                quote(&name)
            );
            self.fail(it, message);
            ok = false;
        } else if name == schema::RESERVED_TASK_NAME {
            self.fail(it, format!("the task name '{name}' is reserved"));
            ok = false;
        }
        let items = self.mapping(it, "a mapping of task keys")?;
        let mut spec = TaskSpec::new(&name, "", Vec::new());
        let mut expandable = vars::Expandable::default();
        let mut instances_known = true;
        let mut seen = Vec::new();
        let mut depends = Vec::new();
        for key in &items {
            let Some(key_name) = key.name.as_deref() else {
                self.unsupported_key(key);
                ok = false;
                continue;
            };
            let Some((spelling, known)) = TASK_KEYS.iter().find(|(n, _)| *n == key_name).copied()
            else {
                self.unknown_key(key, key_name, TASK_KEYS);
                ok = false;
                continue;
            };
            if !self.first_spelling(&mut seen, key, known.setting(), spelling) {
                ok = false;
                continue;
            }
            let good = match known {
                TaskKey::Command => later(&mut expandable.command, key),
                TaskKey::Instances => {
                    let v = self
                        .count(key)
                        .and_then(|n| self.at_most(key, n, schema::MAX_INSTANCES));
                    instances_known = v.is_some();
                    v.map(|v| spec.instances = v)
                }
                TaskKey::AutoLaunch => self.boolean(key).map(|v| spec.auto_launch = v),
                TaskKey::Restart => self
                    .choice(key, schema::RESTART_VALUES)
                    .map(|v| spec.restart = v),
                TaskKey::AutoRestart => self
                    .choice(key, schema::AUTORESTART_VALUES)
                    .map(|v| spec.restart = v),
                TaskKey::ExpectedExitCodes => {
                    self.exit_codes(key).map(|v| spec.expected_exit_codes = v)
                }
                TaskKey::StartTimeout => self.seconds(key).map(|v| spec.start_timeout = v),
                TaskKey::RestartAttempts => self.count(key).map(|v| spec.restart_attempts = v),
                TaskKey::StopSignal => self.signal(key).map(|v| spec.stop_signal = v),
                TaskKey::StopTimeout => self.seconds(key).map(|v| spec.stop_timeout = v),
                TaskKey::Stdout => later(&mut expandable.stdout, key),
                TaskKey::Stderr => later(&mut expandable.stderr, key),
                TaskKey::Environment => later(&mut expandable.environment, key),
                TaskKey::WorkingDirectory => later(&mut expandable.working_directory, key),
                TaskKey::Umask => self.umask(key).map(|v| spec.umask = Some(v)),
                TaskKey::User => self.user(key).map(|v| spec.user = Some(v)),
                TaskKey::Essential => self.boolean(key).map(|v| spec.essential = v),
                TaskKey::EnvFile => later(&mut expandable.env_file, key),
                TaskKey::RestartDelay => self.seconds(key).map(|v| spec.restart_delay = v),
                TaskKey::LogMaxSize => self.size(key).map(|v| spec.log_max_size = v),
                TaskKey::LogBackups => self.count(key).map(|v| spec.log_backups = v),
                TaskKey::DependsOn => self.depends_on(key).map(|v| depends = v),
                TaskKey::HealthCheck => self.health(key).map(|v| spec.health_check = Some(v)),
                TaskKey::Notify => self.boolean(key).map(|v| spec.notify = v),
                TaskKey::WatchdogTimeout => self.seconds(key).map(|v| spec.watchdog_timeout = v),
            };
            ok &= good.is_some();
        }
        if expandable.command.is_none() {
            self.fail(it, "missing key 'command'".to_string());
            ok = false;
        }
        ok &= self.expandable(&mut spec, &expandable);
        for d in &depends {
            spec.depends_on.insert(d.task.clone(), d.condition);
        }
        if valid_name {
            graph.add(
                &name,
                instances_known.then_some(spec.instances),
                it,
                depends,
            );
        }
        ok.then_some(spec)
    }

    fn health(&mut self, it: &Item) -> Option<HealthCheck> {
        let items = self.mapping(it, "a mapping with one of 'command', 'tcp', 'http'")?;
        let mut check = HealthCheck {
            probe: Probe::Tcp(([127, 0, 0, 1], 0).into()),
            interval: schema::DEFAULT_HEALTH_INTERVAL,
            timeout: schema::DEFAULT_HEALTH_TIMEOUT,
            retries: schema::DEFAULT_HEALTH_RETRIES,
            start_period: std::time::Duration::ZERO,
            on_unhealthy: super::OnUnhealthy::Restart,
        };
        let mut ok = true;
        let mut probe: Option<&'static str> = None;
        let mut seen = Vec::new();
        for key in &items {
            let Some(name) = key.name.as_deref() else {
                self.unsupported_key(key);
                ok = false;
                continue;
            };
            let Some((spelling, known)) = HEALTH_KEYS.iter().find(|(n, _)| *n == name).copied()
            else {
                self.unknown_key(key, name, HEALTH_KEYS);
                ok = false;
                continue;
            };
            if !self.first_spelling(&mut seen, key, known, spelling) {
                ok = false;
                continue;
            }
            if matches!(known, HealthKey::Command | HealthKey::Tcp | HealthKey::Http) {
                if let Some(first) = probe {
                    self.fail(
                        key,
                        format!("both '{first}' and '{spelling}' given (keep one)"),
                    );
                    ok = false;
                    continue;
                }
                probe = Some(spelling);
            }
            let good = match known {
                HealthKey::Command => self
                    .command(key)
                    .map(|(command, argv)| check.probe = Probe::Command { command, argv }),
                HealthKey::Tcp => self.address(key).map(|a| check.probe = Probe::Tcp(a)),
                HealthKey::Http => self.url(key).map(|p| check.probe = p),
                HealthKey::Interval => self.seconds(key).map(|d| check.interval = d),
                HealthKey::Timeout => self.seconds(key).map(|d| check.timeout = d),
                HealthKey::Retries => self
                    .count(key)
                    .and_then(|n| self.at_least_one(key, n))
                    .map(|n| check.retries = n),
                HealthKey::StartPeriod => self.seconds(key).map(|d| check.start_period = d),
                HealthKey::OnUnhealthy => self
                    .choice(key, schema::ON_UNHEALTHY_VALUES)
                    .map(|v| check.on_unhealthy = v),
            };
            ok &= good.is_some();
        }
        if probe.is_none() && ok {
            self.fail(it, "missing one of 'command', 'tcp', 'http'".to_string());
            ok = false;
        }
        ok.then_some(check)
    }
}

/// Keeps `key` for the pass over expandable keys.
fn later<'i>(slot: &mut Option<&'i Item>, key: &'i Item) -> Option<()> {
    *slot = Some(key);
    Some(())
}
