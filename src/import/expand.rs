//! supervisord's `%(name)s` expansions turned into what taskmaster means by
//! them. `%(ENV_X)s` becomes `${X}` where taskmaster expands at start
//! (command, environment, log paths, directory) and the variable's value
//! now everywhere else; `%(here)s`, `%(program_name)s`, `%(group_name)s`
//! and `%(host_node_name)s` become their text; `%(process_num)s` becomes
//! its number for a single process and `${TASKMASTER_INSTANCE}` for
//! several. Pure: the environment and host name come from the caller.

/// What one value is expanded with.
pub struct Vars<'a> {
    /// The directory of the file the value was read from.
    pub here: &'a str,
    pub program_name: Option<&'a str>,
    pub group_name: Option<&'a str>,
    pub process_num: Option<ProcessNum>,
    pub host_node_name: &'a str,
    /// The importing environment, for `%(ENV_X)s` outside runtime keys.
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// `%(process_num)s` of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessNum {
    /// One process: supervisord's `numprocs_start`.
    Fixed(u32),
    /// Several: each process's `TASKMASTER_INSTANCE` (1..N).
    Instance,
}

/// An expanded value, and whether `%(process_num)` lost its padding or
/// offset on the way (the caller notes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    pub process_num_used: bool,
    pub padding_lost: bool,
}

/// Expands `value`. `runtime`: the key is one taskmaster expands `${...}`
/// in, so `${` already in the text is escaped as `$${` and environment
/// variables are left for start time.
///
/// Fails (one line) on a `%` that starts no expansion, an unterminated
/// `%(`, an unknown name, an unset `ENV_` variable outside runtime keys,
/// and a number format (`%(x)d`) of a non-number.
pub fn expand(value: &str, vars: &Vars, runtime: bool) -> Result<Expanded, String> {
    let mut out = Expanded {
        text: String::with_capacity(value.len()),
        process_num_used: false,
        padding_lost: false,
    };
    let mut rest = value;
    while let Some(i) = rest.find('%') {
        literal(&mut out.text, &rest[..i], runtime);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix("%%") {
            literal(&mut out.text, "%", runtime);
            rest = after;
            continue;
        }
        let Some(after) = tail.strip_prefix("%(") else {
            return Err(
                "a '%' that starts no %(name)s expansion (write %% for a percent sign)".to_string(),
            );
        };
        let Some(close) = after.find(')') else {
            return Err("an unterminated %( expansion".to_string());
        };
        let name = &after[..close];
        // Python's format spec: flags, width, precision, then the type.
        let spec_len = after[close + 1..]
            .find(|c: char| !matches!(c, '-' | '+' | ' ' | '#' | '0'..='9' | '.'))
            .ok_or_else(|| format!("%({name}) without a type such as s or d"))?;
        let spec = &after[close + 1..close + 1 + spec_len];
        let kind = after[close + 1 + spec_len..].chars().next().unwrap_or('s');
        if !matches!(kind, 's' | 'd' | 'i' | 'r') {
            return Err(format!(
                "%({name}){spec}{kind}: unknown format type '{kind}'"
            ));
        }
        rest = &after[close + 1 + spec_len + kind.len_utf8()..];
        let text = match (name, vars.process_num) {
            ("process_num", Some(ProcessNum::Instance)) => {
                out.process_num_used = true;
                out.padding_lost |= !spec.is_empty();
                if runtime {
                    variable(&mut out.text, "TASKMASTER_INSTANCE", name)?;
                } else {
                    out.text.push('1');
                }
                continue;
            }
            ("process_num", Some(ProcessNum::Fixed(n))) => {
                out.process_num_used = true;
                n.to_string()
            }
            ("here", _) => vars.here.to_string(),
            ("program_name", _) if vars.program_name.is_some() => {
                vars.program_name.unwrap_or_default().to_string()
            }
            ("group_name", _) if vars.group_name.is_some() => {
                vars.group_name.unwrap_or_default().to_string()
            }
            ("host_node_name", _) => vars.host_node_name.to_string(),
            (n, _) if n.starts_with("ENV_") && !n[4..].is_empty() => {
                let var = &n[4..];
                if runtime && is_plain_name(var) {
                    variable(&mut out.text, var, name)?;
                    continue;
                }
                (vars.env)(var).ok_or_else(|| format!("%({n})s: {var} is not set"))?
            }
            (n, _) => return Err(format!("unknown expansion %({n})s")),
        };
        let text =
            format_spec(&text, spec, kind).map_err(|why| format!("%({name}){spec}{kind} {why}"))?;
        literal(&mut out.text, &text, runtime);
    }
    literal(&mut out.text, rest, runtime);
    Ok(out)
}

/// Appends `text` as it is; where taskmaster expands `${`, every `${`
/// (also one made by joining `$` to `{`) is written `$${` so it stays.
fn literal(out: &mut String, text: &str, runtime: bool) {
    if !runtime {
        out.push_str(text);
        return;
    }
    // A `$` at the end of `out` is literal: escapes and variables end in
    // `{` and `}`.
    let mut dollar = out.ends_with('$');
    for c in text.chars() {
        if c == '{' && dollar {
            out.push('$');
        }
        out.push(c);
        dollar = c == '$';
    }
}

/// Appends `${name}`, taskmaster's expansion of `name` at start. Fails
/// after a literal `$`, which taskmaster would read with it as `$${`.
fn variable(out: &mut String, name: &str, written: &str) -> Result<(), String> {
    if out.ends_with('$') {
        return Err(format!(
            "a '$' right before %({written}): taskmaster would read '$${{' as a literal '${{'"
        ));
    }
    out.push_str(&format!("${{{name}}}"));
    Ok(())
}

/// A name taskmaster's `${NAME}` can spell.
fn is_plain_name(s: &str) -> bool {
    !s.starts_with(|c: char| c.is_ascii_digit())
        && !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The widest field `%(name)Ns` may ask for.
const MAX_WIDTH: usize = 4096;

/// Python's `%` formatting of `text` with flags and width `spec`. Fails
/// (the end of a message) on a non-number for `d` and a width over
/// [`MAX_WIDTH`].
fn format_spec(text: &str, spec: &str, kind: char) -> Result<String, String> {
    let (flags, rest) = spec.split_at(
        spec.find(|c: char| c.is_ascii_digit() && c != '0')
            .unwrap_or(spec.len()),
    );
    let width = rest.split('.').next().unwrap_or("");
    let width: usize = match width.parse() {
        Ok(w) if w <= MAX_WIDTH => w,
        Err(_) if width.is_empty() => 0,
        _ => return Err(format!("asks for a width over {MAX_WIDTH}")),
    };
    let left = flags.contains('-');
    let zero = flags.contains('0') && !left;
    let body = if matches!(kind, 'd' | 'i') {
        let n: i64 = text
            .trim()
            .parse()
            .map_err(|_| format!("needs a number, got '{text}'"))?;
        if zero {
            let digits = n.unsigned_abs().to_string();
            let sign = if n < 0 { "-" } else { "" };
            let pad = width.saturating_sub(digits.len() + sign.len());
            return Ok(format!("{sign}{}{digits}", "0".repeat(pad)));
        }
        n.to_string()
    } else {
        text.to_string()
    };
    let pad = " ".repeat(width.saturating_sub(body.chars().count()));
    Ok(if left {
        format!("{body}{pad}")
    } else {
        format!("{pad}{body}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(num: Option<ProcessNum>) -> Vars<'static> {
        Vars {
            here: "/etc/sv",
            program_name: Some("web"),
            group_name: Some("front"),
            process_num: num,
            host_node_name: "box",
            env: &|k| (k == "HOME").then(|| "/root".to_string()),
        }
    }

    fn x(v: &str, num: Option<ProcessNum>, runtime: bool) -> Result<String, String> {
        expand(v, &vars(num), runtime).map(|e| e.text)
    }

    #[test]
    fn names_become_text_or_runtime_variables() {
        let one = Some(ProcessNum::Fixed(0));
        let many = Some(ProcessNum::Instance);
        let cases = [
            ("%(here)s/run.sh", one, true, "/etc/sv/run.sh"),
            (
                "%(program_name)s-%(group_name)s@%(host_node_name)s",
                one,
                true,
                "web-front@box",
            ),
            ("log-%(process_num)02d.txt", one, true, "log-00.txt"),
            (
                "log-%(process_num)s.txt",
                many,
                true,
                "log-${TASKMASTER_INSTANCE}.txt",
            ),
            ("%(ENV_HOME)s/x", one, true, "${HOME}/x"),
            ("%(ENV_HOME)s/x", one, false, "/root/x"),
            ("100%% ${USER} $5", one, true, "100% $${USER} $5"),
            ("${USER}", one, false, "${USER}"),
            ("[%(program_name)-5s]", one, true, "[web  ]"),
            ("$%(here)s", one, true, "$/etc/sv"),
        ];
        for (v, num, runtime, want) in cases {
            assert_eq!(x(v, num, runtime).as_deref(), Ok(want), "{v}");
        }
    }

    #[test]
    fn bad_expansions_are_one_line_errors() {
        let one = Some(ProcessNum::Fixed(0));
        let cases = [
            (
                "50%",
                "a '%' that starts no %(name)s expansion (write %% for a percent sign)",
            ),
            ("%(here", "an unterminated %( expansion"),
            ("%(nope)s", "unknown expansion %(nope)s"),
            ("%(ENV_UNSET)s", "%(ENV_UNSET)s: UNSET is not set"),
            (
                "%(program_name)d",
                "%(program_name)d needs a number, got 'web'",
            ),
            ("%(here)q", "%(here)q: unknown format type 'q'"),
            ("%(here)", "%(here) without a type such as s or d"),
        ];
        for (v, want) in cases {
            assert_eq!(x(v, one, false), Err(want.to_string()), "{v}");
        }
    }

    #[test]
    fn fuzz_a_value_put_in_stays_literal_where_taskmaster_expands() {
        let vars = Vars {
            here: "/srv/${x}/a$",
            env: &|_| Some("v${".to_string()),
            ..vars(Some(ProcessNum::Instance))
        };
        let x = |v: &str| expand(v, &vars, true).map(|e| e.text);
        assert_eq!(
            x("%(here)s{y} %(ENV_A-B)s"),
            Ok("/srv/$${x}/a$${y} v$${".into())
        );
        assert_eq!(x("$%%{"), Ok("$%{".into()));
        assert_eq!(x("a$%(here)s"), Ok("a$/srv/$${x}/a$".into()));
        assert_eq!(
            x("%(here)s%(here)s"),
            Ok("/srv/$${x}/a$/srv/$${x}/a$".into())
        );
        // `${0X}` is no variable for taskmaster: its value is put in now.
        assert_eq!(x("%(ENV_0X)s"), Ok("v$${".into()));
        for v in ["$%(ENV_HOME)s", "%(here)s%(process_num)s"] {
            assert!(
                x(v).unwrap_err().starts_with("a '$' right before %("),
                "{v}"
            );
        }
    }

    #[test]
    fn fuzz_a_huge_width_is_an_error_not_an_allocation() {
        let one = Some(ProcessNum::Fixed(0));
        for spec in ["777777777777777777", "99999999999999999999999", "4097"] {
            let v = format!("%(process_num){spec}d");
            assert_eq!(
                x(&v, one, true),
                Err(format!("{v} asks for a width over 4096"))
            );
        }
        assert_eq!(
            x("%(process_num)04096d", one, true).map(|s| s.len()),
            Ok(4096)
        );
    }

    #[test]
    fn a_padded_instance_number_is_reported() {
        let e = expand(
            "w-%(process_num)02d",
            &vars(Some(ProcessNum::Instance)),
            true,
        )
        .unwrap();
        assert!(e.process_num_used && e.padding_lost);
    }
}
