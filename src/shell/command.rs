//! Parses one command line (from the shell or the control socket) into a
//! `Command`, and prints a `Command` back as a line that parses to the same
//! value. Pure: it knows no process, only the grammar.

use std::fmt;

use crate::signame;
use crate::text::one_line;
use crate::words;

/// The default number of lines `logs` shows.
pub const DEFAULT_LOG_LINES: usize = 10;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status {
        names: Vec<String>,
        json: bool,
    },
    Start(Vec<String>),
    /// `start --wait`: reply once each is ready, EXITED or FATAL.
    StartWait(Vec<String>),
    Stop(Vec<String>),
    Restart(Vec<String>),
    /// `restart --wait`.
    RestartWait(Vec<String>),
    /// With `dry_run`, only say what a reload would do.
    Reload {
        dry_run: bool,
    },
    Logs {
        name: String,
        lines: usize,
        /// Go on printing new lines as they arrive (`-f`).
        follow: bool,
        streams: Streams,
    },
    /// Empties the kept output lines of processes.
    Clear(Vec<String>),
    Signal {
        sig: i32,
        names: Vec<String>,
    },
    Pid(Option<String>),
    Help(Option<String>),
    Version,
    Shutdown,
    /// The Prometheus text exposition.
    Metrics,
    /// Streams every state change as JSON lines (control socket only).
    Events,
}

/// Which output streams `logs` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streams {
    Both,
    Stdout,
    Stderr,
}

impl Streams {
    /// Whether a line of stderr (`true`) or stdout passes.
    pub fn shows(self, stderr: bool) -> bool {
        match self {
            Streams::Both => true,
            Streams::Stdout => !stderr,
            Streams::Stderr => stderr,
        }
    }
}

/// Every command word, for `help` and completion.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "status",
        "status [--json] [NAME...]",
        "show processes: state, PID, uptime, restarts",
    ),
    (
        "start",
        "start [--wait] NAME...|all",
        "start processes (--wait: reply once ready, EXITED or FATAL)",
    ),
    (
        "stop",
        "stop NAME...|all",
        "stop processes gracefully; replies when they are down",
    ),
    (
        "restart",
        "restart [--wait] NAME...|all",
        "stop, then start processes (--wait: reply once ready)",
    ),
    (
        "reload",
        "reload [--dry-run]",
        "re-read the config file and apply what changed; --dry-run only says what",
    ),
    (
        "logs",
        "logs [-f] [--stdout|--stderr] NAME|all [N]",
        "show the last N (default 10) output lines; -f follows new ones",
    ),
    ("clear", "clear NAME...|all", "forget the kept output lines"),
    (
        "signal",
        "signal SIG NAME...|all",
        "send a signal to process groups",
    ),
    (
        "pid",
        "pid [NAME]",
        "show the supervisor's PID, or a process's",
    ),
    (
        "metrics",
        "metrics",
        "show the Prometheus metrics of processes and supervisor",
    ),
    (
        "events",
        "events",
        "stream state changes as JSON lines (taskmaster ctl events)",
    ),
    ("help", "help [COMMAND]", "show this help, or one command's"),
    ("version", "version", "show the supervisor's version"),
    (
        "shutdown",
        "shutdown",
        "stop everything and exit (also: quit, exit)",
    ),
];

/// Other words for commands, as supervisorctl users type them: (alias,
/// the command word it stands for, what it means in full).
pub const ALIASES: &[(&str, &str, &str)] = &[
    ("tail", "logs", "logs"),
    ("update", "reload", "reload"),
    ("reread", "reload", "reload --dry-run"),
    ("avail", "status", "status all"),
    ("quit", "shutdown", "shutdown"),
    ("exit", "shutdown", "shutdown"),
];

/// The `help` text: every command and alias, or one.
pub fn help(topic: Option<&str>) -> Result<String, String> {
    match topic {
        None => {
            let width = COMMANDS.iter().map(|c| c.1.len()).max().unwrap_or(0);
            let mut rows: Vec<String> = COMMANDS
                .iter()
                .map(|(_, usage, what)| format!("{usage:width$}  {what}"))
                .collect();
            let aliases: Vec<String> = ALIASES
                .iter()
                .map(|(alias, _, means)| format!("{alias} = {means}"))
                .collect();
            rows.push(format!("aliases: {}", aliases.join(", ")));
            Ok(rows.join("\n"))
        }
        Some(t) => {
            let word = canonical(t);
            COMMANDS
                .iter()
                .find(|c| c.0 == word)
                .map(|(_, usage, what)| match ALIASES.iter().find(|a| a.0 == t) {
                    None => format!("{usage}  {what}"),
                    Some((_, _, means)) => {
                        format!("{usage}  {what} ('{t}' is an alias of '{means}')")
                    }
                })
                .ok_or_else(|| format!("unknown command '{}' (try 'help')", one_line(t)))
        }
    }
}

/// The command word an alias stands for.
fn canonical(word: &str) -> &str {
    ALIASES.iter().find(|a| a.0 == word).map_or(word, |a| a.1)
}

/// Parses a line. `Ok(None)` for a blank line.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let words = words::split(line)?;
    let Some((first, args)) = words.split_first() else {
        return Ok(None);
    };
    // `start` and `restart` take `--wait` anywhere among the names.
    let wait =
        matches!(canonical(first), "start" | "restart") && args.iter().any(|a| a == "--wait");
    let kept: Vec<String>;
    let args = if wait {
        kept = args.iter().filter(|a| *a != "--wait").cloned().collect();
        &kept[..]
    } else {
        args
    };
    let names = |cmd: &str| -> Result<Vec<String>, String> {
        if args.is_empty() {
            return Err(format!(
                "{cmd}: missing process name (usage: {cmd} NAME...|all)"
            ));
        }
        check_names(cmd, args)?;
        Ok(args.to_vec())
    };
    let no_args = |cmd: &str| -> Result<(), String> {
        match args.first() {
            None => Ok(()),
            Some(a) => Err(format!("{cmd}: unexpected argument '{}'", one_line(a))),
        }
    };
    let cmd = match canonical(first) {
        "status" if *first == "avail" => {
            no_args(first)?;
            Command::Status {
                names: vec!["all".into()],
                json: false,
            }
        }
        "status" => {
            let mut json = false;
            let mut list = Vec::new();
            for a in args {
                match a.as_str() {
                    "--json" => json = true,
                    o if o.starts_with('-') => {
                        return Err(format!("status: unknown option '{}'", one_line(o)));
                    }
                    n => list.push(n.to_string()),
                }
            }
            check_names("status", &list)?;
            Command::Status { names: list, json }
        }
        "start" if wait => Command::StartWait(names("start")?),
        "start" => Command::Start(names("start")?),
        "stop" => Command::Stop(names("stop")?),
        "restart" if wait => Command::RestartWait(names("restart")?),
        "restart" => Command::Restart(names("restart")?),
        "reload" if *first == "reread" => {
            no_args(first)?;
            Command::Reload { dry_run: true }
        }
        "reload" => match args {
            [] => Command::Reload { dry_run: false },
            [flag] if flag == "--dry-run" => Command::Reload { dry_run: true },
            [a, ..] => return Err(format!("{first}: unexpected argument '{}'", one_line(a))),
        },
        "logs" => logs(args)?,
        "clear" => Command::Clear(names("clear")?),
        "version" => {
            no_args(first)?;
            Command::Version
        }
        "signal" => {
            let Some((sig, rest)) = args.split_first() else {
                return Err("signal: missing signal (usage: signal SIG NAME...|all)".into());
            };
            let sig = signame::parse(sig)
                .ok_or_else(|| format!("signal: unknown signal '{}'", one_line(sig)))?;
            if rest.is_empty() {
                return Err("signal: missing process name (usage: signal SIG NAME...|all)".into());
            }
            check_names("signal", rest)?;
            Command::Signal {
                sig,
                names: rest.to_vec(),
            }
        }
        "pid" => match args {
            [] => Command::Pid(None),
            [name] => {
                check_names("pid", std::slice::from_ref(name))?;
                Command::Pid(Some(name.clone()))
            }
            [_, extra, ..] => {
                return Err(format!("pid: unexpected argument '{}'", one_line(extra)));
            }
        },
        "help" => match args {
            [] => Command::Help(None),
            [topic] => {
                // Checked now, so a `Help` always names a command and prints
                // back on one line.
                help(Some(topic))?;
                Command::Help(Some(topic.clone()))
            }
            [_, extra, ..] => {
                return Err(format!("help: unexpected argument '{}'", one_line(extra)));
            }
        },
        "shutdown" => {
            no_args(first)?;
            Command::Shutdown
        }
        "metrics" => {
            no_args("metrics")?;
            Command::Metrics
        }
        "events" => {
            no_args("events")?;
            Command::Events
        }
        _ => {
            return Err(format!(
                "unknown command '{}' (try 'help')",
                one_line(first)
            ));
        }
    };
    Ok(Some(cmd))
}

/// `logs [-f|--follow] [--stdout|--stderr] NAME [N]`, options anywhere.
fn logs(args: &[String]) -> Result<Command, String> {
    const USAGE: &str = "usage: logs [-f] [--stdout|--stderr] NAME|all [N]";
    let mut follow = false;
    let mut streams = Streams::Both;
    let mut words = Vec::new();
    for a in args {
        match a.as_str() {
            "-f" | "--follow" => follow = true,
            "--stdout" | "--stderr" if streams != Streams::Both => {
                return Err(format!("logs: give one of --stdout and --stderr ({USAGE})"));
            }
            "--stdout" => streams = Streams::Stdout,
            "--stderr" => streams = Streams::Stderr,
            o if o.starts_with('-') => {
                return Err(format!("logs: unknown option '{}'", one_line(o)));
            }
            w => words.push(w),
        }
    }
    let (name, lines) = match words[..] {
        [name] => (name, DEFAULT_LOG_LINES),
        [name, n] => {
            let n = n
                .parse::<usize>()
                .map_err(|_| format!("logs: '{}' is not a number of lines", one_line(n)))?;
            (name, n)
        }
        [] => return Err(format!("logs: missing process name ({USAGE})")),
        [_, _, extra, ..] => {
            return Err(format!("logs: unexpected argument '{}'", one_line(extra)));
        }
    };
    let name = name.to_string();
    check_names("logs", std::slice::from_ref(&name))?;
    Ok(Command::Logs {
        name,
        lines,
        follow,
        streams,
    })
}

/// Names are task and process names, or selectors over them: globs
/// (`*`, `?`, `[...]`) and `task:N`.
fn check_names(cmd: &str, names: &[String]) -> Result<(), String> {
    for n in names {
        let ok = !n.is_empty()
            && n.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'_' | b'.' | b'-' | b'*' | b'?' | b'[' | b']' | b'!' | b':'
                    )
            });
        if !ok {
            return Err(format!(
                "{cmd}: invalid process name '{}'",
                n.escape_debug()
            ));
        }
    }
    Ok(())
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, word: &str, names: &[String]| {
            write!(f, "{word}")?;
            names.iter().try_for_each(|n| write!(f, " {n}"))
        };
        match self {
            Command::Status { names, json } => {
                list(f, "status", &[])?;
                if *json {
                    write!(f, " --json")?;
                }
                names.iter().try_for_each(|n| write!(f, " {n}"))
            }
            Command::Start(n) => list(f, "start", n),
            Command::StartWait(n) => list(f, "start --wait", n),
            Command::Stop(n) => list(f, "stop", n),
            Command::Restart(n) => list(f, "restart", n),
            Command::RestartWait(n) => list(f, "restart --wait", n),
            Command::Reload { dry_run: false } => write!(f, "reload"),
            Command::Reload { dry_run: true } => write!(f, "reload --dry-run"),
            Command::Logs {
                name,
                lines,
                follow,
                streams,
            } => {
                write!(f, "logs")?;
                if *follow {
                    write!(f, " -f")?;
                }
                match streams {
                    Streams::Both => {}
                    Streams::Stdout => write!(f, " --stdout")?,
                    Streams::Stderr => write!(f, " --stderr")?,
                }
                write!(f, " {name} {lines}")
            }
            Command::Clear(n) => list(f, "clear", n),
            Command::Version => write!(f, "version"),
            Command::Signal { sig, names } => list(f, &format!("signal {sig}"), names),
            Command::Pid(None) => write!(f, "pid"),
            Command::Pid(Some(n)) => write!(f, "pid {n}"),
            Command::Help(None) => write!(f, "help"),
            Command::Help(Some(t)) => write!(f, "help {}", words::quote(t)),
            Command::Shutdown => write!(f, "shutdown"),
            Command::Metrics => write!(f, "metrics"),
            Command::Events => write!(f, "events"),
        }
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
