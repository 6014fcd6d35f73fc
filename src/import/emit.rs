//! supervisord sections to taskmaster YAML: each `[program:x]` becomes a
//! task under its canonical key names, `[supervisord]` gives the
//! supervisor's own log file and the environment every task inherits, and
//! every setting with no equivalent is written as `# not imported: key =
//! value (why)`, next to its task or, for other sections, at the top.
//! Strings are always double-quoted, so the output reads back as written.

use std::fmt::Write;

use super::Source;
use super::expand::{self, ProcessNum, Vars};
use super::ini::Entry;
use super::values::{boolean, byte_size, env_pairs, integer, key, one_line, quote, size_text};

/// supervisord's defaults for log rotation, which taskmaster's differ from
/// (it rotates only when told): written out so the files behave the same.
const SUPERVISORD_MAXBYTES: &str = "50MB";
const SUPERVISORD_BACKUPS: &str = "10";

/// A section gathered over every file that names it.
struct Block<'a> {
    name: &'a str,
    /// File index and header line where it first appears.
    src: usize,
    line: usize,
    /// Each setting with the index of the file it came from.
    entries: Vec<(usize, &'a Entry)>,
}

impl<'a> Block<'a> {
    /// The last value given for `key`.
    fn get(&self, key: &str) -> Option<(usize, &'a Entry)> {
        self.entries
            .iter()
            .rev()
            .find(|(_, e)| e.key == key)
            .map(|&(s, e)| (s, e))
    }

    /// Keys in order of first appearance, each once.
    fn keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for (_, e) in &self.entries {
            if !keys.contains(&e.key.as_str()) {
                keys.push(&e.key);
            }
        }
        keys
    }
}

/// The expansion context shared by every value.
struct Ctx<'a> {
    sources: &'a [Source],
    env: &'a dyn Fn(&str) -> Option<String>,
    host: &'a str,
}

impl Ctx<'_> {
    /// `FILE:LINE: [SECTION] KEY: ` for an error.
    fn at(&self, b: &Block, src: usize, e: &Entry) -> String {
        format!(
            "{}:{}: [{}] {}",
            self.sources[src].path.display(),
            e.line,
            b.name,
            e.key
        )
    }
}

fn not_imported(indent: &str, section: Option<&str>, e: &Entry, why: &str) -> String {
    let value = if e.key.contains("password") {
        "(hidden)".to_string()
    } else {
        one_line(&e.value)
    };
    let section = section
        .map(|s| format!("[{}] ", one_line(s)))
        .unwrap_or_default();
    format!(
        "{indent}# not imported: {section}{} = {value} ({why})",
        one_line(&e.key)
    )
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

/// Writes the YAML for all `sources` (the main file first).
pub fn emit(
    sources: &[Source],
    missed: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    host: &str,
) -> Result<String, String> {
    let ctx = Ctx { sources, env, host };
    let mut blocks: Vec<Block> = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        for s in &src.sections {
            let entries = s.entries.iter().map(|e| (i, e));
            match blocks.iter_mut().find(|b| b.name == s.name) {
                Some(b) => b.entries.extend(entries),
                None => blocks.push(Block {
                    name: &s.name,
                    src: i,
                    line: s.line,
                    entries: entries.collect(),
                }),
            }
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# taskmaster config imported from {}",
        one_line(&sources[0].path.display().to_string())
    );
    for s in &sources[1..] {
        let _ = writeln!(
            out,
            "# included: {}",
            one_line(&s.path.display().to_string())
        );
    }
    for m in missed {
        let _ = writeln!(
            out,
            "# not imported: [include] no file matches {}",
            one_line(m)
        );
    }
    // Program name -> group name, from [group:x] programs=.
    let mut groups: Vec<(String, String)> = Vec::new();
    for b in &blocks {
        if let Some(g) = b.name.strip_prefix("group:")
            && let Some((_, e)) = b.get("programs")
        {
            for p in e.value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                groups.push((p.to_string(), g.to_string()));
            }
        }
    }
    let mut top = String::new();
    let mut global_env: Vec<(usize, &Entry)> = Vec::new();
    for b in &blocks {
        if b.name.starts_with("program:") {
            continue;
        }
        if b.name == "supervisord" {
            supervisord(&ctx, b, &mut out, &mut top, &mut global_env)?;
            continue;
        }
        let why = match b.name.split(':').next().unwrap_or("") {
            "include" => "includes are followed from the main file only, as supervisord does",
            "group" => "no groups: commands take task names and globs, e.g. 'start web api'",
            "unix_http_server" => {
                "taskmaster has its own control socket: set 'socket:' to choose its path"
            }
            "inet_http_server" => "no HTTP interface; 'metrics:' serves Prometheus metrics",
            "supervisorctl" => "taskmaster ctl finds the control socket itself",
            "rpcinterface" => "no XML-RPC interface",
            "eventlistener" => "no event listeners; 'taskmaster ctl events' streams state changes",
            "fcgi-program" => "no FastCGI sockets",
            _ => "not a supervisord section taskmaster knows",
        };
        if b.entries.is_empty() {
            let _ = writeln!(out, "# not imported: [{}] ({why})", one_line(b.name));
        }
        for &(src, e) in &b.entries {
            // The main file's include list was followed; the rest is noted.
            let followed = b.name == "include" && src == 0 && e.key == "files";
            if !followed {
                let _ = writeln!(out, "{}", not_imported("", Some(b.name), e, why));
            }
        }
    }
    out.push_str(&top);
    let mut tasks = String::new();
    for b in &blocks {
        if let Some(name) = b.name.strip_prefix("program:") {
            let group = groups
                .iter()
                .find(|(p, _)| p == name)
                .map(|(_, g)| g.as_str());
            program(&ctx, b, name, group, &global_env, &mut tasks)?;
        }
    }
    if tasks.is_empty() {
        out.push_str("tasks: {}\n");
    } else {
        out.push_str("tasks:\n");
        out.push_str(&tasks);
    }
    Ok(out)
}

/// `[supervisord]`: the supervisor's own log file and rotation, the
/// environment all tasks get; the rest as comments.
fn supervisord<'a>(
    ctx: &Ctx,
    b: &Block<'a>,
    comments: &mut String,
    top: &mut String,
    global_env: &mut Vec<(usize, &'a Entry)>,
) -> Result<(), String> {
    let vars = |src: usize| Vars {
        here: &ctx.sources[src].here,
        program_name: None,
        group_name: None,
        process_num: None,
        host_node_name: ctx.host,
        env: ctx.env,
    };
    let logfile = b.get("logfile");
    for k in b.keys() {
        let (src, e) = b.get(k).expect("a listed key has a value");
        let at = |m: String| format!("{}: {m}", ctx.at(b, src, e));
        let text = || {
            expand::expand(&e.value, &vars(src), false)
                .map(|x| x.text)
                .map_err(at)
        };
        match k {
            "logfile" if !e.value.eq_ignore_ascii_case("syslog") => {
                let _ = writeln!(top, "logfile: {}", quote(&text()?));
            }
            "logfile_maxbytes" | "logfile_backups" if logfile.is_some() => {}
            "environment" => {
                env_pairs(&e.value).map_err(at)?;
                global_env.push((src, e));
            }
            _ => {
                let why = match k {
                    "logfile" => "no syslog output",
                    "logfile_maxbytes" | "logfile_backups" => "no logfile is set",
                    "pidfile" => "taskmaster writes no pid file",
                    "nodaemon" => "taskmaster always runs in the foreground",
                    "minfds" => "taskmaster raises its open-file limit to what the config needs",
                    "minprocs" => "no process-count floor",
                    "loglevel" => "the event log has no level filter",
                    "user" => "run taskmaster itself as that user",
                    "childlogdir" => {
                        "no AUTO log files: taskmaster keeps the last lines for 'logs'"
                    }
                    _ => "no equivalent in taskmaster",
                };
                let _ = writeln!(comments, "{}", not_imported("", Some(b.name), e, why));
            }
        }
    }
    if logfile.is_some() && top.starts_with("logfile:") {
        // supervisord rotates its log by default; taskmaster only when told.
        let value = |key: &str, default: &'static str| match b.get(key) {
            Some((s, e)) => (
                expand::expand(&e.value, &vars(s), false)
                    .map(|x| x.text)
                    .unwrap_or_else(|_| e.value.clone()),
                ctx.at(b, s, e),
            ),
            None => (default.to_string(), String::new()),
        };
        let (max, at) = value("logfile_maxbytes", SUPERVISORD_MAXBYTES);
        let max = byte_size(&max).map_err(|m| format!("{at}: {m}"))?;
        let (backups, at) = value("logfile_backups", SUPERVISORD_BACKUPS);
        let backups = integer(&backups).map_err(|m| format!("{at}: {m}"))?;
        let _ = writeln!(top, "logMaxSize: {}", size_text(max));
        let _ = writeln!(top, "logBackups: {backups}");
    }
    Ok(())
}

/// One `[program:x]` as a task.
fn program(
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
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "{head}: '{}' cannot be a task name (letters, digits, '_', '.', '-')",
            one_line(name)
        ));
    }
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
                _ => Log::Path(expand_at(s, e, true)?),
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
            "command" => lines.push((0, format!("command: {}", quote(&expand_at(s, e, true)?)))),
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
            "directory" => lines.push((
                14,
                format!("workingDirectory: {}", quote(&expand_at(s, e, true)?)),
            )),
            "umask" => {
                let v = v()?;
                if v.is_empty() || !v.chars().all(|c| c.is_digit(8)) {
                    return Err(fail(format!("'{}' is not an octal umask", one_line(&v))));
                }
                lines.push((15, format!("umask: {}", quote(&v))));
            }
            "user" => lines.push((
                16,
                format!("user: {}", quote(expand_at(s, e, false)?.trim())),
            )),
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
            let _ = write!(text, "\n      {}: {}", key(k), quote(v));
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
        };
        note(&mut notes, &shown, &why);
    }
    lines.sort_by_key(|(r, _)| *r);
    let _ = writeln!(tasks, "  {}:", key(name));
    for (_, l) in lines {
        let _ = writeln!(tasks, "    {l}");
    }
    for n in notes {
        let _ = writeln!(tasks, "{n}");
    }
    Ok(())
}
