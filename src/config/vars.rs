//! The keys of a task that take `${NAME}` expansion, checked after every
//! other key of the task (so `instances` is known) in the order the
//! variables need: `envFile` (its files read and parsed), `environment`
//! (each value seeing the files' variables and the keys above it), then
//! `command`, `stdout`, `stderr` and `workingDirectory` seeing them all. A
//! task without `workingDirectory` runs in the config file's directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::expand::{self, Scope};
use super::values::{Item, Validator};
use super::yaml::{Id, Typed};
use super::{PerProcess, TaskSpec, read_regular};
use crate::text::{clip, quoted};

/// The most bytes read from one env file.
const MAX_ENV_FILE: u64 = 1 << 20;

/// The expandable keys of one task, as found by the first pass.
#[derive(Default)]
pub(super) struct Expandable {
    pub env_file: Option<Item>,
    pub environment: Option<Item>,
    pub command: Option<Item>,
    pub stdout: Option<Item>,
    pub stderr: Option<Item>,
    pub working_directory: Option<Item>,
}

impl Validator<'_> {
    /// Fills the expandable fields of `spec`; false when any was invalid.
    pub(super) fn expandable(&mut self, spec: &mut TaskSpec, keys: &Expandable) -> bool {
        let mut ok = true;
        let mut t = Scope {
            vars: BTreeMap::new(),
            task: spec.name.clone(),
            instances: spec.instances,
            per_process: false,
        };
        if let Some(it) = &keys.env_file {
            ok &= self.env_files(it, &mut t, &mut spec.env_files).is_some();
        }
        if let Some(it) = &keys.environment {
            ok &= self.environment(it, &mut t).is_some();
        }
        // The fields hold the text of the first process; text that differs
        // per process is also kept whole for `TaskSpec::for_process`.
        let first = spec.process_names().into_iter().next().unwrap_or_default();
        let fin = |s: &str| expand::finish(s, &first, 1);
        let mut command = None;
        if let Some(it) = &keys.command {
            let what = "a command line (a string)";
            command = self.expanded(it, it.value, what, &mut t);
            let text = command.as_deref().map(fin);
            match text.and_then(|t| Some((self.argv(it, &t)?, t))) {
                Some((argv, text)) => (spec.command, spec.argv) = (text, argv),
                None => ok = false,
            }
        }
        spec.environment = t.vars.iter().map(|(k, v)| (k.clone(), fin(v))).collect();
        let escaped_base = PathBuf::from(expand::escape(&self.base.to_string_lossy()));
        let mut templates: [Option<String>; 3] = [None, None, None];
        let fields = [
            (&keys.stdout, &mut spec.stdout),
            (&keys.stderr, &mut spec.stderr),
            (&keys.working_directory, &mut spec.working_directory),
        ];
        for ((key, field), template) in fields.into_iter().zip(&mut templates) {
            let Some(it) = key else { continue };
            let text = self.expanded(it, it.value, "a path", &mut t);
            let path = text.as_deref().and_then(|t| self.resolve(it, &fin(t)));
            ok &= path.is_some();
            *field = path;
            *template = text.map(|t| escaped_base.join(t).to_string_lossy().into_owned());
        }
        if t.per_process {
            let [stdout, stderr, working_directory] = templates;
            spec.per_process = Some(Box::new(PerProcess {
                command: command.unwrap_or_default(),
                environment: t.vars,
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
    fn expanded(&mut self, it: &Item, id: Id, what: &str, t: &mut Scope) -> Option<String> {
        let Some(Typed::Str(text)) = self.tree.typed(id) else {
            let found = self.found(id);
            self.fail(it, format!("expected {what}, found {found}"));
            return None;
        };
        expand::expand(text, t).map_err(|e| self.fail(it, e)).ok()
    }

    /// `envFile`: one path or a list, each read and parsed into the task's
    /// variables, and kept in `files`.
    fn env_files(&mut self, it: &Item, t: &mut Scope, files: &mut Vec<PathBuf>) -> Option<()> {
        let ids = self.list(it.value).unwrap_or_else(|| vec![it.value]);
        if !self.visit(ids.len()) {
            return None;
        }
        let mut ok = true;
        for id in ids {
            // Taken back at once, so the flag speaks of this file alone.
            let text = self.expanded(it, id, "a path", t);
            let per_process = std::mem::take(&mut t.per_process);
            let Some(text) = text else {
                ok = false;
                continue;
            };
            if per_process {
                self.fail(it, "an envFile cannot differ per process".to_string());
                ok = false;
                continue;
            }
            let Some(path) = self.resolve(it, &expand::finish(&text, &t.task, 1)) else {
                ok = false;
                continue;
            };
            let shown = clip(&path.to_string_lossy());
            let parsed = read_regular(&path, MAX_ENV_FILE)
                .and_then(|b| String::from_utf8(b).map_err(|_| "not valid UTF-8 text".into()))
                .map_err(|e| format!("cannot read {shown}: {e}"))
                .and_then(|text| {
                    expand::dotenv(&text).map_err(|(line, e)| format!("{shown}:{line}: {e}"))
                });
            match parsed {
                Ok(pairs) => t
                    .vars
                    .extend(pairs.into_iter().map(|(k, v)| (k, expand::escape(&v)))),
                Err(e) => {
                    self.fail(it, e);
                    ok = false;
                }
            }
            files.push(path);
        }
        ok.then_some(())
    }

    /// `environment`: each value expanded in written order into the task's
    /// variables.
    fn environment(&mut self, it: &Item, t: &mut Scope) -> Option<()> {
        let tree = self.tree;
        let items = self.mapping(it, "a mapping of variable names to values")?;
        let mut seen = BTreeSet::new();
        let mut ok = true;
        for var in &items {
            let Some(name) = var.name.clone() else {
                self.unsupported_key(var);
                ok = false;
                continue;
            };
            let text = match (tree.typed(var.value), self.text(var.value)) {
                (Some(Typed::Null), _) => Ok(""),
                (_, Some(text)) => Ok(text),
                _ => Err(format!(
                    "expected a scalar value, found {}",
                    self.found(var.value)
                )),
            };
            let checked = if name.is_empty() {
                Err("empty variable name".to_string())
            } else if name.contains('=') {
                Err(format!(
                    "invalid variable name {} (contains '=')",
                    quoted(&name)
                ))
            } else if name.contains('\0') {
                Err("variable name contains a NUL character".to_string())
            } else if !seen.insert(name.clone()) {
                Err(format!("duplicate variable {}", quoted(&name)))
            } else {
                text.and_then(|text| match text.contains('\0') {
                    true => Err("value contains a NUL character".to_string()),
                    false => expand::expand(text, t),
                })
            };
            match checked {
                Ok(value) => {
                    t.vars.insert(name, value);
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
