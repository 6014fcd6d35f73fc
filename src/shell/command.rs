//! Parses one command line (from the shell or the control socket) into a
//! `Command`, and prints a `Command` back as a line that parses to the same
//! value. Pure: it knows no process, only the grammar.

use std::fmt;

use crate::config::words;
use crate::signame;
use crate::text::one_line;

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
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line).unwrap().unwrap()
    }

    #[test]
    fn parses_each_command() {
        assert_eq!(
            ok("status"),
            Command::Status {
                names: vec![],
                json: false
            }
        );
        assert_eq!(
            ok("  status --json web_1 "),
            Command::Status {
                names: vec!["web_1".into()],
                json: true
            }
        );
        assert_eq!(
            ok("start a b"),
            Command::Start(vec!["a".into(), "b".into()])
        );
        assert_eq!(ok("stop all"), Command::Stop(vec!["all".into()]));
        assert_eq!(ok("restart w"), Command::Restart(vec!["w".into()]));
        assert_eq!(
            ok("start --wait db web"),
            Command::StartWait(vec!["db".into(), "web".into()])
        );
        assert_eq!(
            ok("restart db --wait"),
            Command::RestartWait(vec!["db".into()])
        );
        assert!(parse("start --wait").is_err());
        assert_eq!(ok("reload"), Command::Reload { dry_run: false });
        assert_eq!(ok("reload --dry-run"), Command::Reload { dry_run: true });
        let logs = |name: &str, lines, follow, streams| Command::Logs {
            name: name.into(),
            lines,
            follow,
            streams,
        };
        assert_eq!(ok("logs w"), logs("w", 10, false, Streams::Both));
        assert_eq!(ok("logs w 5"), logs("w", 5, false, Streams::Both));
        assert_eq!(ok("logs -f w"), logs("w", 10, true, Streams::Both));
        assert_eq!(
            ok("logs --follow --stderr all 3"),
            logs("all", 3, true, Streams::Stderr)
        );
        assert_eq!(
            ok("logs w --stdout 0 -f"),
            logs("w", 0, true, Streams::Stdout)
        );
        assert_eq!(
            ok("clear a b"),
            Command::Clear(vec!["a".into(), "b".into()])
        );
        assert_eq!(ok("version"), Command::Version);
        assert_eq!(
            ok("signal HUP w"),
            Command::Signal {
                sig: libc::SIGHUP,
                names: vec!["w".into()]
            }
        );
        assert_eq!(
            ok("signal 9 w x"),
            Command::Signal {
                sig: 9,
                names: vec!["w".into(), "x".into()]
            }
        );
        assert_eq!(ok("pid"), Command::Pid(None));
        assert_eq!(ok("pid w"), Command::Pid(Some("w".into())));
        assert_eq!(ok("help"), Command::Help(None));
        assert_eq!(ok("help stop"), Command::Help(Some("stop".into())));
        for s in ["shutdown", "quit", "exit"] {
            assert_eq!(ok(s), Command::Shutdown);
        }
        assert_eq!(ok("metrics"), Command::Metrics);
        assert_eq!(ok("events"), Command::Events);
        assert_eq!(parse("   ").unwrap(), None);
        assert_eq!(parse("").unwrap(), None);
    }

    #[test]
    fn supervisorctl_words_mean_their_commands() {
        for (alias, same) in [
            ("tail w", "logs w"),
            ("tail -f w", "logs -f w"),
            ("tail -f --stderr web 20", "logs -f --stderr web 20"),
            ("update", "reload"),
            ("reread", "reload --dry-run"),
            ("avail", "status all"),
        ] {
            assert_eq!(ok(alias), ok(same), "{alias}");
        }
        assert_eq!(
            parse("avail x").unwrap_err(),
            "avail: unexpected argument 'x'"
        );
        assert_eq!(
            parse("update now").unwrap_err(),
            "update: unexpected argument 'now'"
        );
        assert_eq!(
            parse("version 2").unwrap_err(),
            "version: unexpected argument '2'"
        );
        assert_eq!(
            parse("clear").unwrap_err(),
            "clear: missing process name (usage: clear NAME...|all)"
        );
    }

    #[test]
    fn help_lists_the_aliases() {
        let all = help(None).unwrap();
        let last = all.lines().last().unwrap();
        for word in [
            "tail = logs",
            "update = reload",
            "avail = status",
            "quit = shutdown",
        ] {
            assert!(last.contains(word), "{last}");
        }
        assert_eq!(
            help(Some("tail")).unwrap(),
            format!(
                "{}  {} ('tail' is an alias of 'logs')",
                COMMANDS[5].1, COMMANDS[5].2
            )
        );
        assert!(help(Some("version")).is_ok());
        assert!(help(Some("clear")).is_ok());
    }

    #[test]
    fn rejects_bad_input_with_one_line() {
        for (line, want) in [
            ("frobnicate", "unknown command 'frobnicate' (try 'help')"),
            (
                "start",
                "start: missing process name (usage: start NAME...|all)",
            ),
            ("logs w x", "logs: 'x' is not a number of lines"),
            (
                "logs",
                "logs: missing process name (usage: logs [-f] [--stdout|--stderr] NAME|all [N])",
            ),
            (
                "logs --stdout --stderr w",
                "logs: give one of --stdout and --stderr (usage: logs [-f] [--stdout|--stderr] NAME|all [N])",
            ),
            ("logs -x w", "logs: unknown option '-x'"),
            ("logs w 1 2", "logs: unexpected argument '2'"),
            ("signal FOO w", "signal: unknown signal 'FOO'"),
            (
                "signal TERM",
                "signal: missing process name (usage: signal SIG NAME...|all)",
            ),
            ("status --yaml", "status: unknown option '--yaml'"),
            ("reload now", "reload: unexpected argument 'now'"),
            ("metrics x", "metrics: unexpected argument 'x'"),
            ("events all", "events: unexpected argument 'all'"),
            ("stop a/b", "stop: invalid process name 'a/b'"),
            ("start 'unterminated", "unterminated single quote"),
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err, want, "{line}");
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn display_parses_back() {
        for line in [
            "status",
            "status --json a b",
            "start a b",
            "stop all",
            "restart x",
            "start --wait a b",
            "restart --wait x",
            "reload",
            "logs w 3",
            "logs -f w",
            "logs --stderr -f all 7",
            "logs --stdout x",
            "tail -f w",
            "clear a b",
            "version",
            "update",
            "avail",
            "signal USR1 a",
            "pid",
            "pid w",
            "help",
            "help quit",
            "shutdown",
            "metrics",
            "events",
        ] {
            let c = ok(line);
            assert_eq!(ok(&c.to_string()), c, "{line}");
        }
    }

    #[test]
    fn fuzz_control_characters_in_errors_are_escaped() {
        // Found by fuzz/command: a quoted word may hold a line break, and
        // errors quoted it raw, over two lines.
        for (line, want) in [
            ("'\x10'", "unknown command '\\u{10}' (try 'help')"),
            ("'a\nb'", "unknown command 'a\\nb' (try 'help')"),
            ("status '-\r'", "status: unknown option '-\\r'"),
            ("logs w '1\n'", "logs: '1\\n' is not a number of lines"),
            ("signal 'TE\nRM' w", "signal: unknown signal 'TE\\nRM'"),
            ("reload '\t'", "reload: unexpected argument '\\t'"),
        ] {
            let err = parse(line).unwrap_err();
            assert_eq!(err, want, "{line:?}");
            assert!(!err.chars().any(char::is_control), "{err:?}");
        }
    }

    #[test]
    fn fuzz_help_topic_with_a_line_break_is_refused() {
        // Found by fuzz/command: `help 'a<newline>b'` parsed, and printed
        // back over two lines.
        assert_eq!(
            parse("help 'a\nb'").unwrap_err(),
            "unknown command 'a\\nb' (try 'help')"
        );
        assert_eq!(
            parse("help nope").unwrap_err(),
            "unknown command 'nope' (try 'help')"
        );
        assert_eq!(ok("help quit"), Command::Help(Some("quit".into())));
    }

    #[test]
    fn help_covers_every_command() {
        let all = help(None).unwrap();
        for (word, _, _) in COMMANDS {
            assert!(all.contains(word));
            assert!(help(Some(word)).is_ok());
        }
        assert!(help(Some("quit")).unwrap().starts_with("shutdown"));
        assert!(help(Some("nope")).is_err());
    }
}
