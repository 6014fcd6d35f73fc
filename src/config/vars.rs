//! The keys of a task that take `${NAME}` expansion, checked after every
//! other key of the task (so `instances` is known) in the order the
//! variables need: `envFile` (its files read and parsed), `environment`
//! (each value seeing the files' variables and the keys above it), then
//! `command`, `stdout`, `stderr` and `workingDirectory` seeing them all. A
//! task without `workingDirectory` runs in the config file's directory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::expand::{self, Scope};
use super::validate::{Item, Validator, clean, quote, read_regular};
use super::yaml::{Id, Typed, Value};
use super::{PerProcess, TaskSpec, words};

/// The most bytes read from one env file.
const MAX_ENV_FILE: u64 = 1 << 20;

/// The expandable keys of one task, as found by the first pass.
#[derive(Default)]
pub(super) struct Expandable<'i> {
    pub env_file: Option<&'i Item>,
    pub environment: Option<&'i Item>,
    pub command: Option<&'i Item>,
    pub stdout: Option<&'i Item>,
    pub stderr: Option<&'i Item>,
    pub working_directory: Option<&'i Item>,
}

impl Validator<'_> {
    /// Fills the expandable fields of `spec`; false when any was invalid.
    pub(super) fn expandable(&mut self, spec: &mut TaskSpec, keys: &Expandable) -> bool {
        let mut ok = true;
        let mut vars = BTreeMap::new();
        let mut per_process = false;
        if let Some(it) = keys.env_file {
            ok &= self.env_files(it, spec, &mut vars).is_some();
        }
        if let Some(it) = keys.environment {
            ok &= self
                .environment(it, spec, &mut vars, &mut per_process)
                .is_some();
        }
        let mut command = None;
        if let Some(it) = keys.command {
            command = self.expanded(
                it,
                it.value,
                "a command line (a string)",
                spec,
                &vars,
                &mut per_process,
            );
            ok &= command.is_some();
        }
        let mut paths: [Option<String>; 3] = [None, None, None];
        for (i, key) in [keys.stdout, keys.stderr, keys.working_directory]
            .into_iter()
            .enumerate()
        {
            if let Some(it) = key {
                paths[i] = self.expanded(it, it.value, "a path", spec, &vars, &mut per_process);
                ok &= paths[i].is_some();
            }
        }
        // The fields hold the text of the first process; text that differs
        // per process is also kept whole for `TaskSpec::for_process`.
        let first = spec.process_names().into_iter().next().unwrap_or_default();
        let fin = |s: &str| expand::finish(s, &first, 1);
        spec.environment = vars.iter().map(|(k, v)| (k.clone(), fin(v))).collect();
        if let (Some(it), Some(text)) = (keys.command, &command) {
            match words::split(&fin(text)) {
                Err(e) => {
                    self.fail(it, e);
                    ok = false;
                }
                Ok(argv) if argv.is_empty() => {
                    self.fail(it, "empty command".to_string());
                    ok = false;
                }
                Ok(argv) if argv.iter().any(|w| w.contains('\0')) => {
                    self.fail(it, "command contains a NUL character".to_string());
                    ok = false;
                }
                Ok(argv) => (spec.command, spec.argv) = (fin(text), argv),
            }
        }
        let escaped_base = PathBuf::from(expand::escape(&self.base.to_string_lossy()));
        let mut templates: [Option<String>; 3] = [None, None, None];
        let keys3 = [keys.stdout, keys.stderr, keys.working_directory];
        for (i, (key, text)) in keys3.into_iter().zip(paths).enumerate() {
            let (Some(it), Some(text)) = (key, text) else {
                continue;
            };
            let Some(path) = self.path_text(it, &fin(&text)) else {
                ok = false;
                continue;
            };
            let path = self.base.join(path);
            let path = Some(std::path::absolute(&path).unwrap_or(path));
            templates[i] = Some(escaped_base.join(&text).to_string_lossy().into_owned());
            match i {
                0 => spec.stdout = path,
                1 => spec.stderr = path,
                _ => spec.working_directory = path,
            }
        }
        if per_process {
            let [stdout, stderr, working_directory] = templates;
            spec.per_process = Some(Box::new(PerProcess {
                command: command.unwrap_or_default(),
                environment: vars,
                stdout,
                stderr,
                working_directory,
            }));
        }
        if spec.working_directory.is_none() {
            spec.working_directory = Some(self.base.clone());
        }
        ok
    }

    /// The expanded text (intermediate form) of string node `id` of key `it`.
    fn expanded(
        &mut self,
        it: &Item,
        id: Id,
        what: &str,
        spec: &TaskSpec,
        vars: &BTreeMap<String, String>,
        per_process: &mut bool,
    ) -> Option<String> {
        let Some(Typed::Str(text)) = self.tree.typed(id) else {
            let found = self.found(id);
            self.fail(it, format!("expected {what}, found {found}"));
            return None;
        };
        let scope = Scope {
            vars,
            task: &spec.name,
            instances: spec.instances,
        };
        expand::expand(text, &scope, per_process)
            .map_err(|e| self.fail(it, e))
            .ok()
    }

    /// `envFile`: one path or a list, each read and parsed into `vars`.
    fn env_files(
        &mut self,
        it: &Item,
        spec: &mut TaskSpec,
        vars: &mut BTreeMap<String, String>,
    ) -> Option<()> {
        let node = self.tree.node(it.value);
        let ids = match &node.value {
            Value::Seq(items) if node.tag.is_none() => items.clone(),
            _ => vec![it.value],
        };
        if !self.visit(ids.len()) {
            return None;
        }
        let mut ok = true;
        for id in ids {
            let mut per_process = false;
            let Some(text) = self.expanded(it, id, "a path", spec, vars, &mut per_process) else {
                ok = false;
                continue;
            };
            if per_process {
                self.fail(it, "an envFile cannot differ per process".to_string());
                ok = false;
                continue;
            }
            let Some(path) = self.path_text(it, &expand::finish(&text, &spec.name, 1)) else {
                ok = false;
                continue;
            };
            let path = self.base.join(path);
            let path = std::path::absolute(&path).unwrap_or(path);
            let parsed = read_regular(&path, MAX_ENV_FILE)
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| "not valid UTF-8 text".to_string())
                })
                .map_err(|e| format!("cannot read {}: {e}", clean(&path.to_string_lossy())))
                .and_then(|text| {
                    expand::dotenv(&text).map_err(|(line, e)| {
                        format!("{}:{line}: {e}", clean(&path.to_string_lossy()))
                    })
                });
            match parsed {
                Ok(pairs) => {
                    for (k, v) in pairs {
                        vars.insert(k, expand::escape(&v));
                    }
                }
                Err(e) => {
                    self.fail(it, e);
                    ok = false;
                }
            }
            spec.env_files.push(path);
        }
        ok.then_some(())
    }

    /// `environment`: each value expanded in written order into `vars`.
    fn environment(
        &mut self,
        it: &Item,
        spec: &TaskSpec,
        vars: &mut BTreeMap<String, String>,
        per_process: &mut bool,
    ) -> Option<()> {
        let items = self.mapping(it, "a mapping of variable names to values")?;
        let mut seen = BTreeMap::new();
        let mut ok = true;
        for var in &items {
            let Some(name) = var.name.clone() else {
                self.unsupported_key(var);
                ok = false;
                continue;
            };
            let problem = if name.is_empty() {
                Some("empty variable name".to_string())
            } else if name.contains('=') {
                Some(format!(
                    "invalid variable name {} (contains '=')",
                    quote(&name)
                ))
            } else if name.contains('\0') {
                Some("variable name contains a NUL character".to_string())
            } else if seen.insert(name.clone(), ()).is_some() {
                Some(format!("duplicate variable {}", quote(&name)))
            } else {
                None
            };
            if let Some(problem) = problem {
                self.fail(var, problem);
                ok = false;
                continue;
            }
            let text = match (self.tree.typed(var.value), &self.tree.node(var.value).value) {
                (Some(Typed::Null), _) => Some(String::new()),
                (Some(_), Value::Scalar(s)) => Some(s.text.clone()),
                _ => None,
            };
            let Some(text) = text else {
                let found = self.found(var.value);
                self.fail(var, format!("expected a scalar value, found {found}"));
                ok = false;
                continue;
            };
            if text.contains('\0') {
                self.fail(var, "value contains a NUL character".to_string());
                ok = false;
                continue;
            }
            let scope = Scope {
                vars,
                task: &spec.name,
                instances: spec.instances,
            };
            match expand::expand(&text, &scope, per_process) {
                Ok(value) => {
                    vars.insert(name, value);
                }
                Err(e) => {
                    self.fail(var, e);
                    ok = false;
                }
            }
        }
        ok.then_some(())
    }
}
