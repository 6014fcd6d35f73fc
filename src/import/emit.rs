//! supervisord sections to taskmaster YAML: each `[program:x]` becomes a
//! task under its canonical key names (`program.rs`), `[supervisord]` gives the
//! supervisor's own log file and the environment every task inherits, and
//! every setting with no equivalent is written as `# not imported: key =
//! value (why)`, next to its task or, for other sections, at the top.
//! Strings are always double-quoted, so the output reads back as written.

use std::fmt::Write;

use super::Source;
use super::expand::{self, Vars};
use super::ini::Entry;
use super::program::program;
use super::values::{byte_size, env_pairs, integer, one_line, quote, size_text};

/// supervisord's defaults for log rotation, which taskmaster's differ from
/// (it rotates only when told): written out so the files behave the same.
pub(super) const SUPERVISORD_MAXBYTES: &str = "50MB";
pub(super) const SUPERVISORD_BACKUPS: &str = "10";

/// A section gathered over every file that names it.
pub(super) struct Block<'a> {
    pub(super) name: &'a str,
    /// File index and header line where it first appears.
    pub(super) src: usize,
    pub(super) line: usize,
    /// Each setting with the index of the file it came from.
    pub(super) entries: Vec<(usize, &'a Entry)>,
}

impl<'a> Block<'a> {
    /// The last value given for `key`.
    pub(super) fn get(&self, key: &str) -> Option<(usize, &'a Entry)> {
        self.entries
            .iter()
            .rev()
            .find(|(_, e)| e.key == key)
            .map(|&(s, e)| (s, e))
    }

    /// Keys in order of first appearance, each once.
    pub(super) fn keys(&self) -> Vec<&str> {
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
pub(super) struct Ctx<'a> {
    pub(super) sources: &'a [Source],
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
    pub(super) host: &'a str,
}

impl Ctx<'_> {
    /// `FILE:LINE: [SECTION] KEY: ` for an error.
    pub(super) fn at(&self, b: &Block, src: usize, e: &Entry) -> String {
        format!(
            "{}:{}: [{}] {}",
            self.sources[src].path.display(),
            e.line,
            b.name,
            e.key
        )
    }
}

/// A setting written as a comment, with why it has no equivalent.
pub(super) fn not_imported(indent: &str, section: Option<&str>, e: &Entry, why: &str) -> String {
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
                let path = super::program::filled(text()?, "path").map_err(at)?;
                let _ = writeln!(top, "logfile: {}", quote(&path));
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
