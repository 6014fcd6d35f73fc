//! The configuration file as the validator sees it: every accepted form of
//! every key, every error message with its file, line, column and key
//! path. Pure: `config::parse` on text, no process started (`envFile`s and
//! `load` read files written to a temporary directory).

mod expansion;
mod files;
mod keys;
mod new_keys;
mod surroundings;
mod yaml;

use std::path::{Path, PathBuf};

use crate::config::{Config, ConfigError, RestartPolicy, TaskSpec, load, parse};

const FILE: &str = "/etc/tm/taskmaster.yaml";

fn try_parse(text: &str, is_root: bool) -> Result<Config, ConfigError> {
    parse(text, Path::new("t.yaml"), is_root)
}

fn ok(text: &str) -> Config {
    parse(text, Path::new(FILE), false).unwrap_or_else(|e| panic!("{text}\n{e}"))
}

fn errs(text: &str) -> Vec<String> {
    match try_parse(text, false) {
        Ok(c) => panic!("accepted:\n{text}\n{c:?}"),
        Err(e) => e.errors,
    }
}

/// The task `t` of a file with one task, `command: run` and `extra`
/// (lines at task-key indentation).
fn task_with(extra: &str, is_root: bool) -> Result<TaskSpec, Vec<String>> {
    let mut text = "tasks:\n  t:\n    command: run\n".to_string();
    for line in extra.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    parse(&text, Path::new(FILE), is_root)
        .map(|mut c| c.tasks.remove("t").expect("task t"))
        .map_err(|e| e.errors)
}

fn task(extra: &str) -> TaskSpec {
    task_with(extra, false).unwrap_or_else(|e| panic!("{extra}: {e:?}"))
}

/// The one error for a single task key line `line` (written at 4:5).
fn key_error(line: &str) -> String {
    let errors = task_with(line, false).expect_err(line);
    assert_eq!(errors.len(), 1, "{line}: {errors:?}");
    let key = line.split(':').next().unwrap();
    let prefix = format!("{FILE}:4:5: tasks.t.{key}: ");
    errors[0]
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{line}: {}", errors[0]))
        .to_string()
}

/// A directory holding `files` (name, content), removed by the caller.
fn env_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tm-parse-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (f, text) in files {
        let path = dir.join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}
