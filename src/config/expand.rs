//! `${NAME}` expansion and `envFile` (dotenv) syntax.
//!
//! Expansion runs in two steps. [`expand`] turns the text as written into an
//! intermediate form where `$$` is a literal `$` and `${NAME}` is left only
//! for the two names that differ per process (`TASKMASTER_PROCESS` and
//! `TASKMASTER_INSTANCE` of a task with several instances); [`finish`] turns
//! that form into the final text for one process. A task whose text names
//! neither is finished once, at validation. Pure but for reading the
//! supervisor's environment; it never reads a file.

use std::collections::BTreeMap;

/// The variables set for (and exported to) every process.
pub const TASK_VAR: &str = "TASKMASTER_TASK";
pub const PROCESS_VAR: &str = "TASKMASTER_PROCESS";
pub const INSTANCE_VAR: &str = "TASKMASTER_INSTANCE";

/// Where names are looked up, in DESIGN's order: the task's own variables,
/// then the supervisor's environment, then the three `TASKMASTER_` ones.
pub struct Scope {
    /// The task's variables so far, in the intermediate form.
    pub vars: BTreeMap<String, String>,
    pub task: String,
    pub instances: u32,
    /// Set by [`expand`] once it keeps a per-process name.
    pub per_process: bool,
}

/// What a name stands for.
enum Found {
    /// Text in the intermediate form.
    Value(String),
    /// Known only per process: kept as `${NAME}`.
    PerProcess,
    Unset,
}

impl Scope {
    fn lookup(&self, name: &str) -> Found {
        if let Some(v) = self.vars.get(name) {
            return Found::Value(v.clone());
        }
        if let Some(v) = std::env::var_os(name) {
            return Found::Value(escape(&v.to_string_lossy()));
        }
        match (name, self.instances) {
            (TASK_VAR, _) | (PROCESS_VAR, 1) => Found::Value(escape(&self.task)),
            (INSTANCE_VAR, 1) => Found::Value("1".to_string()),
            (PROCESS_VAR | INSTANCE_VAR, _) => Found::PerProcess,
            _ => Found::Unset,
        }
    }
}

/// `text` with every `$` doubled: literal text in the intermediate form.
pub fn escape(text: &str) -> String {
    text.replace('$', "$$")
}

/// Expands the text as written into the intermediate form; sets
/// `scope.per_process` when a per-process name was kept.
///
/// Fails with a one-line message for `${` without `}`, a name that is not
/// `[A-Za-z_][A-Za-z0-9_]*`, or an unset name without a default.
pub fn expand(text: &str, scope: &mut Scope) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(more) = after.strip_prefix("${") {
            // `$${` is a literal `${`.
            out.push_str("$${");
            rest = more;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push_str("$$");
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err("unterminated '${' (write '$${' for a literal '${')".to_string());
        };
        let (name, default) = match body[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&body[..end], None),
        };
        if !is_name(name, false) {
            let shown = crate::text::quoted(&body[..end]);
            return Err(format!("invalid variable name {shown} in '${{...}}'"));
        }
        match (scope.lookup(name), default) {
            (Found::Value(v), Some(d)) if v.is_empty() => out.push_str(&escape(d)),
            (Found::Value(v), _) => out.push_str(&v),
            (Found::PerProcess, _) => {
                scope.per_process = true;
                out.push_str(&format!("${{{name}}}"));
            }
            (Found::Unset, Some(d)) => out.push_str(&escape(d)),
            (Found::Unset, None) => {
                return Err(format!(
                    "variable '{name}' is not set (write '${{{name}:-default}}' for a default)"
                ));
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `s` is `[A-Za-z_][A-Za-z0-9_]*`, with `.` allowed after the
/// first character when `dots`.
fn is_name(s: &str, dots: bool) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || (dots && c == '.'))
}

/// The final text of intermediate `text` for process `process`, instance
/// `instance` (1-based).
pub fn finish(text: &str, process: &str, instance: u32) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(more) = after.strip_prefix('$') {
            out.push('$');
            rest = more;
        } else if let Some(more) = after.strip_prefix(&format!("{{{PROCESS_VAR}}}")) {
            out.push_str(process);
            rest = more;
        } else if let Some(more) = after.strip_prefix(&format!("{{{INSTANCE_VAR}}}")) {
            out.push_str(&instance.to_string());
            rest = more;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The variables of an env file, in order, later ones replacing earlier
/// ones: `KEY=VALUE` lines, an optional `export `, `#` comments, blank
/// lines, values in single quotes (literal) or double quotes (`\n`, `\"`,
/// `\\` escapes); an unquoted value ends at ` #`.
///
/// Fails with the 1-based line number and a message.
pub fn dotenv(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut vars = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err((n + 1, "line without '='".to_string()));
        };
        let key = key.trim_end();
        if !is_name(key, true) {
            let shown = crate::text::quoted(key);
            return Err((n + 1, format!("invalid variable name {shown}")));
        }
        let value = value.trim_start();
        let value = match value.chars().next() {
            Some(q @ ('\'' | '"')) => {
                quoted(&value[1..], q).ok_or((n + 1, format!("unterminated {q} quote")))?
            }
            _ => match value.find(" #") {
                Some(i) => value[..i].trim_end().to_string(),
                None => value.to_string(),
            },
        };
        vars.push((key.to_string(), value));
    }
    Ok(vars)
}

/// The body of a quoted value up to its closing quote `q` (anything after
/// it must be blank or a comment).
fn quoted(body: &str, q: char) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c == q => {
                let tail = chars.as_str().trim();
                return (tail.is_empty() || tail.starts_with('#')).then_some(out);
            }
            '\\' if q == '"' => match chars.next()? {
                'n' => out.push('\n'),
                e @ ('"' | '\\') => out.push(e),
                e => {
                    out.push('\\');
                    out.push(e);
                }
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, vars: &[(&str, &str)], instances: u32) -> Result<(String, bool), String> {
        let vars: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut scope = Scope {
            vars,
            task: "w".to_string(),
            instances,
            per_process: false,
        };
        expand(text, &mut scope).map(|s| (s, scope.per_process))
    }

    fn final_text(text: &str, vars: &[(&str, &str)]) -> String {
        let (s, per) = run(text, vars, 1).unwrap();
        assert!(!per);
        finish(&s, "w", 1)
    }

    #[test]
    fn expansion_rules() {
        let v = [("A", "x"), ("E", "")];
        assert_eq!(final_text("${A}/${A:-d}", &v), "x/x");
        assert_eq!(final_text("${E:-d}|${UNSET_VAR_Q:-d e}|${E}", &v), "d|d e|");
        assert_eq!(final_text("$${A} $A $ $$ a$", &v), "${A} $A $ $$ a$");
        assert_eq!(
            final_text(
                "${TASKMASTER_TASK}-${TASKMASTER_PROCESS}-${TASKMASTER_INSTANCE}",
                &v
            ),
            "w-w-1"
        );
        // A value holding `$` or `${` stays literal.
        assert_eq!(final_text("${A}", &[("A", "$${B}")]), "${B}");
        assert_eq!(final_text("${D:-$x}", &v), "$x");
        assert_eq!(
            run("${NOPE_UNSET_Q}", &v, 1).unwrap_err(),
            "variable 'NOPE_UNSET_Q' is not set (write '${NOPE_UNSET_Q:-default}' for a default)"
        );
        assert_eq!(
            run("a ${A", &v, 1).unwrap_err(),
            "unterminated '${' (write '$${' for a literal '${')"
        );
        assert_eq!(
            run("${1x}", &v, 1).unwrap_err(),
            "invalid variable name '1x' in '${...}'"
        );
        assert_eq!(
            run("${}", &v, 1).unwrap_err(),
            "invalid variable name '' in '${...}'"
        );
    }

    #[test]
    fn per_process_names_wait_for_the_process() {
        let (s, per) = run(
            "logs/${TASKMASTER_PROCESS}.$${x}.${TASKMASTER_INSTANCE}",
            &[],
            3,
        )
        .unwrap();
        assert!(per);
        assert_eq!(finish(&s, "w_2", 2), "logs/w_2.${x}.2");
        assert_eq!(finish(&s, "w_3", 3), "logs/w_3.${x}.3");
    }

    #[test]
    fn dotenv_syntax() {
        let text = "# c\n\nA=1\nexport B = two words # note\nC='lit ${X} \\n'\nD=\"a\\nb \\\"q\\\" \\\\\"\nE=\nA=again\n";
        let vars = dotenv(text).unwrap();
        let got: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            got,
            [
                ("A", "1"),
                ("B", "two words"),
                ("C", "lit ${X} \\n"),
                ("D", "a\nb \"q\" \\"),
                ("E", ""),
                ("A", "again")
            ]
        );
        assert_eq!(
            dotenv("A=1\nnope\n").unwrap_err(),
            (2, "line without '='".to_string())
        );
        assert_eq!(
            dotenv("A='x\n").unwrap_err(),
            (1, "unterminated ' quote".to_string())
        );
        assert_eq!(
            dotenv("A B=1").unwrap_err(),
            (1, "invalid variable name 'A B'".to_string())
        );
        assert_eq!(
            dotenv("A=\"x\" y").unwrap_err(),
            (1, "unterminated \" quote".to_string())
        );
    }
}
