//! One `[program:x]` section as a task: each setting under its canonical
//! key, in the order the documentation gives them, expanded where
//! supervisord expands it (`%(process_num)` becomes the instance number at
//! run time); what has no equivalent is written as a comment under the
//! task, with why.

use std::fmt::Write;

use super::emit::{Block, Ctx, SUPERVISORD_BACKUPS, SUPERVISORD_MAXBYTES, not_imported};
use super::expand::{self, ProcessNum, Vars};
use super::ini::Entry;
use super::values::{boolean, byte_size, env_pairs, integer, key, one_line, quote, size_text};

/// `text`, unless it is empty: taskmaster takes no empty path or name.
pub(super) fn filled(text: String, what: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err(format!("empty {what}"));
    }
    Ok(text)
}

/// Where a stream's output goes in supervisord.
enum Log {
    Discard,
    Auto,
    Syslog,
    Path(String),
}

impl Log {
    /// A regular file that rotation applies to.
    fn is_file(&self) -> bool {
        matches!(self, Log::Path(p) if !p.starts_with("/dev/"))
    }
}

/// One `[program:x]` as a task.
pub(super) fn program(
    ctx: &Ctx,
    b: &Block,
    name: &str,
    group: Option<&str>,
    global_env: &[(usize, &Entry)],
    tasks: &mut String,
) -> Result<(), String> {
    let head = format!(
        "{}:{}: [{}]",
        ctx.sources[b.src].path.display(),
        b.line,
        one_line(b.name)
    );
    if name.is_empty() {
        return Err(format!("{head}: a program section without a program name"));
    }
    if name == crate::config::schema::RESERVED_TASK_NAME {
        return Err(format!(
            "{head}: '{name}' cannot be a task name (commands use it for every process)"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "{head}: '{}' cannot be a task name (letters, digits, '_', '.', '-')",
            one_line(name)
        ));
    }
    let task_key = key(name).map_err(|m| format!("{head}: {m}"))?;
    let at = |src: usize, e: &Entry, m: String| format!("{}: {m}", ctx.at(b, src, e));
    // Settings taskmaster reads as numbers, words or sizes: expanded now.
    let lit = |src: usize, e: &Entry| -> Result<String, String> {
        let vars = Vars {
            here: &ctx.sources[src].here,
            program_name: Some(name),
            group_name: Some(group.unwrap_or(name)),
            process_num: None,
            host_node_name: ctx.host,
            env: ctx.env,
        };
        expand::expand(&e.value, &vars, false)
            .map(|x| x.text.trim().to_string())
            .map_err(|m| at(src, e, m))
    };
    let instances = match b.get("numprocs") {
        Some((s, e)) => integer(&lit(s, e)?).map_err(|m| at(s, e, m))?,
        None => 1,
    };
    let start = match b.get("numprocs_start") {
        Some((s, e)) => integer(&lit(s, e)?).map_err(|m| at(s, e, m))?,
        None => 0,
    };
    let num = if instances == 1 {
        ProcessNum::Fixed(start)
    } else {
        ProcessNum::Instance
    };
    let mut num_used = false;
    let mut padding_lost = false;
    let mut expand_at = |src: usize, e: &Entry, runtime: bool| -> Result<String, String> {
        let vars = Vars {
            here: &ctx.sources[src].here,
            program_name: Some(name),
            group_name: Some(group.unwrap_or(name)),
            process_num: Some(if runtime {
                num
            } else {
                ProcessNum::Fixed(start)
            }),
            host_node_name: ctx.host,
            env: ctx.env,
        };
        let x = expand::expand(&e.value, &vars, runtime).map_err(|m| at(src, e, m))?;
        num_used |= x.process_num_used && runtime && instances > 1;
        padding_lost |= x.padding_lost;
        Ok(x.text)
    };
    // (rank, text): keys come out in the documentation's order.
    let mut lines: Vec<(u8, String)> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let note = |notes: &mut Vec<String>, e: &Entry, why: &str| {
        notes.push(not_imported("    ", None, e, why));
    };
    let redirect = match b.get("redirect_stderr") {
        Some((s, e)) => boolean(&lit(s, e)?).map_err(|m| at(s, e, m))?,
        None => false,
    };
    let mut log = |stream: &str| -> Result<(Log, bool), String> {
        let Some((s, e)) = b.get(&format!("{stream}_logfile")) else {
            return Ok((Log::Auto, false));
        };
        let v = e.value.trim();
        Ok((
            match v.to_ascii_uppercase().as_str() {
                "NONE" => Log::Discard,
                "AUTO" => Log::Auto,
                "SYSLOG" => Log::Syslog,
                _ => Log::Path(filled(expand_at(s, e, true)?, "path").map_err(|m| at(s, e, m))?),
            },
            true,
        ))
    };
    let (out_log, _) = log("stdout")?;
    let (err_log, _) = if redirect {
        (Log::Auto, false)
    } else {
        log("stderr")?
    };
    let mut env: Vec<(String, String)> = Vec::new();
    for &(s, e) in global_env.iter().chain(b.get("environment").as_ref()) {
        let value = expand_at(s, e, true)?;
        for (k, v) in env_pairs(&value).map_err(|m| at(s, e, m))? {
            // Kept as written in YAML; writing is one-to-one, so a later
            // value for a name still replaces the earlier one.
            let k = key(&k).map_err(|m| at(s, e, m))?;
            env.retain(|(old, _)| *old != k);
            env.push((k, v));
        }
    }
    let stream_of = |k: &str| -> Option<&'static str> {
        if k.starts_with("stdout_") {
            Some("stdout")
        } else if k.starts_with("stderr_") {
            Some("stderr")
        } else {
            None
        }
    };
    // The stream whose file the task's one logMaxSize/logBackups follow.
    let rotated = if out_log.is_file() {
        Some("stdout")
    } else if err_log.is_file() {
        Some("stderr")
    } else {
        None
    };
    for k in b.keys() {
        let (s, e) = b.get(k).expect("a listed key has a value");
        let fail = |m: String| at(s, e, m);
        let v = || lit(s, e);
        match k {
            "command" => {
                let command = expand_at(s, e, true)?;
                // taskmaster splits it as it is (supervisord too, with shlex).
                match crate::words::split(&command) {
                    Ok(words) if words.is_empty() => return Err(fail("empty command".into())),
                    Ok(_) => {}
                    Err(why) if e.cut => {
                        return Err(fail(format!(
                            "{why} (the line was cut at an inline comment: ' ;' or ' #' starts one, as in supervisord)"
                        )));
                    }
                    Err(why) => return Err(fail(why)),
                }
                lines.push((0, format!("command: {}", quote(&command))));
            }
            "numprocs" => lines.push((1, format!("instances: {instances}"))),
            "numprocs_start" => {}
            "process_name" => {
                let shown = expand_at(s, e, false)?;
                let names = if instances == 1 {
                    format!("the process is named {name}")
                } else {
                    format!("processes are named {name}_1 .. {name}_{instances}")
                };
                if !(instances == 1 && shown == name) {
                    note(&mut notes, e, &names);
                }
            }
            "autostart" => {
                lines.push((2, format!("autoLaunch: {}", boolean(&v()?).map_err(fail)?)))
            }
            "autorestart" => {
                let policy = match v()?.to_ascii_lowercase().as_str() {
                    "unexpected" => "on-failure",
                    v => match boolean(v) {
                        Ok(true) => "always",
                        Ok(false) => "never",
                        Err(_) => {
                            return Err(fail(format!(
                                "'{}' is not true, false or unexpected",
                                one_line(&e.value)
                            )));
                        }
                    },
                };
                lines.push((3, format!("restart: {policy}")));
            }
            "exitcodes" => {
                let codes: Result<Vec<String>, String> = e
                    .value
                    .split(',')
                    .map(|c| match c.trim().parse::<u8>() {
                        Ok(n) => Ok(n.to_string()),
                        Err(_) => Err(format!("'{}' is not an exit code", one_line(c.trim()))),
                    })
                    .collect();
                lines.push((
                    4,
                    format!("expectedExitCodes: [{}]", codes.map_err(fail)?.join(", ")),
                ));
            }
            "startsecs" => lines.push((
                5,
                format!("successfulStartTimeout: {}", integer(&v()?).map_err(fail)?),
            )),
            "startretries" => lines.push((
                6,
                format!("restartsAttempts: {}", integer(&v()?).map_err(fail)?),
            )),
            "stopsignal" => {
                let v = v()?;
                let n = crate::signame::parse(&v)
                    .ok_or_else(|| fail(format!("'{}' is not a signal", one_line(&v))))?;
                lines.push((7, format!("stopingSignal: {}", crate::signame::name(n))));
            }
            "stopwaitsecs" => lines.push((
                8,
                format!("gracefulStopTimeout: {}", integer(&v()?).map_err(fail)?),
            )),
            "stopasgroup" | "killasgroup" => {
                if !boolean(&v()?).map_err(fail)? {
                    note(
                        &mut notes,
                        e,
                        "taskmaster always signals the whole process group",
                    );
                }
            }
            "redirect_stderr" => {
                if redirect && matches!(out_log, Log::Auto) {
                    note(
                        &mut notes,
                        e,
                        "no file: both streams are kept together for 'logs'",
                    );
                }
            }
            "stdout_logfile" | "stderr_logfile" if redirect && k == "stderr_logfile" => {
                note(
                    &mut notes,
                    e,
                    "redirect_stderr sends stderr to the stdout log",
                );
            }
            "stdout_logfile" | "stderr_logfile" => {
                let log = if k == "stdout_logfile" {
                    &out_log
                } else {
                    &err_log
                };
                match log {
                    Log::Discard | Log::Path(_) => {}
                    Log::Auto => note(
                        &mut notes,
                        e,
                        "no file: taskmaster keeps the last lines for 'logs'",
                    ),
                    Log::Syslog => note(&mut notes, e, "no syslog output"),
                }
            }
            "stdout_logfile_maxbytes"
            | "stderr_logfile_maxbytes"
            | "stdout_logfile_backups"
            | "stderr_logfile_backups" => {
                let stream = stream_of(k);
                if redirect && stream == Some("stderr") {
                    note(
                        &mut notes,
                        e,
                        "redirect_stderr sends stderr to the stdout log",
                    );
                } else if rotated.is_none() {
                    note(&mut notes, e, "no log file");
                } else if stream != rotated {
                    let theirs = b
                        .get(&format!("{}{}", rotated.unwrap_or(""), &k[6..]))
                        .map(|(_, e)| e.value.trim().to_string());
                    if theirs.as_deref() != Some(e.value.trim()) {
                        note(
                            &mut notes,
                            e,
                            "one logMaxSize and logBackups per task: the other log's are used",
                        );
                    }
                }
            }
            "stdout_capture_maxbytes" | "stderr_capture_maxbytes" => {
                note(&mut notes, e, "no capture mode")
            }
            "stdout_events_enabled" | "stderr_events_enabled" => note(
                &mut notes,
                e,
                "no event listeners; 'taskmaster ctl events' streams state changes",
            ),
            "stdout_syslog" | "stderr_syslog" => note(&mut notes, e, "no syslog output"),
            "environment" => {}
            "directory" => {
                let dir = filled(expand_at(s, e, true)?, "path").map_err(fail)?;
                lines.push((14, format!("workingDirectory: {}", quote(&dir))));
            }
            "umask" => {
                let v = v()?;
                if v.is_empty() || !v.chars().all(|c| c.is_digit(8)) {
                    return Err(fail(format!("'{}' is not an octal umask", one_line(&v))));
                }
                if u32::from_str_radix(&v, 8).map_or(true, |n| n > 0o777) {
                    return Err(fail(format!("umask '{v}' is out of range (0 to 777)")));
                }
                lines.push((15, format!("umask: {}", quote(&v))));
            }
            "user" => {
                let user = filled(expand_at(s, e, false)?.trim().to_string(), "user name");
                lines.push((16, format!("user: {}", quote(&user.map_err(fail)?))));
            }
            "priority" => note(
                &mut notes,
                e,
                "tasks start together; order them with dependsOn",
            ),
            "serverurl" => note(&mut notes, e, "no XML-RPC server"),
            _ => note(&mut notes, e, "no equivalent in taskmaster"),
        }
    }
    if !lines.iter().any(|(r, _)| *r == 0) {
        return Err(format!("{head}: no 'command' setting"));
    }
    let path_line = |rank: u8, stream: &str, log: &Log| match log {
        Log::Discard => Some((rank, format!("{stream}: \"/dev/null\""))),
        Log::Path(p) => Some((rank, format!("{stream}: {}", quote(p)))),
        Log::Auto | Log::Syslog => None,
    };
    lines.extend(path_line(9, "stdout", &out_log));
    if redirect {
        lines.extend(path_line(10, "stderr", &out_log));
    } else {
        lines.extend(path_line(10, "stderr", &err_log));
    }
    if let Some(stream) = rotated {
        // supervisord rotates at 50MB, 10 backups unless told otherwise.
        let max = match b.get(&format!("{stream}_logfile_maxbytes")) {
            Some((s, e)) => byte_size(&lit(s, e)?).map_err(|m| at(s, e, m))?,
            None => byte_size(SUPERVISORD_MAXBYTES)?,
        };
        let backups = match b.get(&format!("{stream}_logfile_backups")) {
            Some((s, e)) => integer(&lit(s, e)?).map_err(|m| at(s, e, m))?,
            None => integer(SUPERVISORD_BACKUPS)?,
        };
        lines.push((11, format!("logMaxSize: {}", size_text(max))));
        lines.push((12, format!("logBackups: {backups}")));
    }
    if !env.is_empty() {
        let mut text = String::from("environment:");
        for (k, v) in &env {
            let _ = write!(text, "\n      {k}: {}", quote(v));
        }
        lines.push((13, text));
    }
    if num_used && (start != 1 || padding_lost) {
        let why = format!(
            "%(process_num) became ${{TASKMASTER_INSTANCE}}, which counts 1..{instances}{}",
            if padding_lost { ", unpadded" } else { "" }
        );
        let shown = Entry {
            key: "numprocs_start".to_string(),
            value: start.to_string(),
            line: 0,
            cut: false,
        };
        note(&mut notes, &shown, &why);
    }
    lines.sort_by_key(|(r, _)| *r);
    let _ = writeln!(tasks, "  {task_key}:");
    for (_, l) in lines {
        let _ = writeln!(tasks, "    {l}");
    }
    for n in notes {
        let _ = writeln!(tasks, "{n}");
    }
    Ok(())
}
