//! The command line: `taskmaster [OPTIONS] [CONFIG]` runs the supervisor,
//! `taskmaster ctl ...` talks to one. Parses arguments, loads the config,
//! prepares the process (limits, subreaper) and returns the exit status.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::config;
use crate::error::Error;
use crate::supervisor::{Options, Supervisor};

use crate::shell::stdin::Stdin;

/// The config file used when none is named.
pub const DEFAULT_CONFIG: &str = "taskmaster.yaml";

const USAGE: &str = "\
usage: taskmaster [OPTIONS] [CONFIG]
       taskmaster ctl [--socket PATH] [--config FILE] COMMAND [ARGS...]
       taskmaster import SUPERVISORD.CONF

Supervises the tasks of CONFIG (default: ./taskmaster.yaml, written from a
built-in example when missing).

options:
  --no-shell      do not read commands from stdin (implied as PID 1)
  --socket PATH   control socket path
  --no-socket     run without a control socket
  --logfile PATH  the supervisor's own event log (overrides 'logfile:')
  --check         validate CONFIG, list its processes, exit 0 (valid) or 2
  -h, --help      show this help
  -V, --version   show the version

import prints the taskmaster YAML equivalent of a supervisord config.

ctl sends one command (see 'help' in the shell) to a running supervisor;
exit status 0 success, 1 command failed, 2 usage error, 3 no supervisor.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    Run {
        config: Option<PathBuf>,
        no_shell: bool,
        socket: Option<PathBuf>,
        no_socket: bool,
        check: bool,
        /// `--logfile PATH`.
        logfile: Option<PathBuf>,
    },
    Ctl {
        socket: Option<PathBuf>,
        config: Option<PathBuf>,
        words: Vec<String>,
    },
    /// `import FILE`: print the YAML for a supervisord config.
    Import {
        path: PathBuf,
    },
    Help,
    Version,
}

fn text(arg: OsString) -> Result<String, Error> {
    arg.into_string().map_err(|a| {
        Error::Usage(format!(
            "argument is not valid UTF-8: {}",
            a.to_string_lossy()
        ))
    })
}

/// Parses the arguments (without the program name).
pub fn parse(args: Vec<OsString>) -> Result<Invocation, Error> {
    let mut it = args.into_iter();
    let mut first = true;
    let mut config = None;
    let mut no_shell = false;
    let mut socket = None;
    let mut no_socket = false;
    let mut check = false;
    let mut logfile = None;
    while let Some(arg) = it.next() {
        let was_first = std::mem::replace(&mut first, false);
        if was_first && arg == "ctl" {
            return parse_ctl(it);
        }
        if was_first && arg == "import" {
            return parse_import(it);
        }
        match arg.to_str() {
            Some("-h" | "--help") => return Ok(Invocation::Help),
            Some("-V" | "--version") => return Ok(Invocation::Version),
            Some("--no-shell") => no_shell = true,
            Some("--check") => check = true,
            Some("--no-socket") => no_socket = true,
            Some("--socket") => {
                let v = it
                    .next()
                    .ok_or_else(|| Error::Usage("--socket needs a PATH".into()))?;
                socket = Some(PathBuf::from(v));
            }
            Some(s) if s.starts_with("--socket=") => {
                socket = Some(PathBuf::from(&s["--socket=".len()..]))
            }
            Some("--logfile") => {
                let v = it
                    .next()
                    .ok_or_else(|| Error::Usage("--logfile needs a PATH".into()))?;
                logfile = Some(PathBuf::from(v));
            }
            Some(s) if s.starts_with("--logfile=") => {
                logfile = Some(PathBuf::from(&s["--logfile=".len()..]))
            }
            Some(s) if s.starts_with('-') && s != "-" => {
                return Err(Error::Usage(format!("unknown option '{s}'")));
            }
            _ => {
                if config.is_some() {
                    return Err(Error::Usage(format!(
                        "unexpected argument '{}'",
                        arg.to_string_lossy()
                    )));
                }
                config = Some(PathBuf::from(arg));
            }
        }
    }
    if no_socket && socket.is_some() {
        return Err(Error::Usage(
            "--socket and --no-socket cannot be given together".into(),
        ));
    }
    Ok(Invocation::Run {
        config,
        no_shell,
        socket,
        no_socket,
        check,
        logfile,
    })
}

fn parse_import(mut it: impl Iterator<Item = OsString>) -> Result<Invocation, Error> {
    let path = match (it.next(), it.next()) {
        (Some(p), None) if p == "-h" || p == "--help" => return Ok(Invocation::Help),
        (Some(p), None) => PathBuf::from(p),
        (None, _) => return Err(Error::Usage("import: missing SUPERVISORD.CONF".into())),
        (Some(_), Some(extra)) => {
            return Err(Error::Usage(format!(
                "import: unexpected argument '{}'",
                extra.to_string_lossy()
            )));
        }
    };
    Ok(Invocation::Import { path })
}

fn parse_ctl(mut it: impl Iterator<Item = OsString>) -> Result<Invocation, Error> {
    let mut socket = None;
    let mut config = None;
    let mut words = Vec::new();
    while let Some(arg) = it.next() {
        let s = text(arg)?;
        if words.is_empty() {
            match s.as_str() {
                "--socket" => {
                    let v = it
                        .next()
                        .ok_or_else(|| Error::Usage("ctl: --socket needs a PATH".into()))?;
                    socket = Some(PathBuf::from(v));
                    continue;
                }
                "--config" => {
                    let v = it
                        .next()
                        .ok_or_else(|| Error::Usage("ctl: --config needs a FILE".into()))?;
                    config = Some(PathBuf::from(v));
                    continue;
                }
                "-h" | "--help" => return Ok(Invocation::Help),
                o if o.starts_with('-') => {
                    return Err(Error::Usage(format!("ctl: unknown option '{o}'")));
                }
                _ => {}
            }
        }
        words.push(s);
    }
    if words.is_empty() {
        return Err(Error::Usage(
            "ctl: missing COMMAND (try 'taskmaster ctl help')".into(),
        ));
    }
    Ok(Invocation::Ctl {
        socket,
        config,
        words,
    })
}

/// Runs the whole program; returns the exit status.
pub fn run(args: Vec<OsString>) -> u8 {
    let inv = match parse(args) {
        Ok(inv) => inv,
        Err(e) => {
            crate::text::stderr_line(&format!("taskmaster: {e}\n(try 'taskmaster --help')"));
            return e.exit_code();
        }
    };
    match inv {
        Invocation::Help => print_out(&format!("{USAGE}\n"), 0),
        Invocation::Version => print_out(&format!("taskmaster {}\n", env!("CARGO_PKG_VERSION")), 0),
        Invocation::Ctl {
            socket,
            config,
            words,
        } => ctl(socket, config, &words),
        Invocation::Import { path } => match crate::import::run(&path) {
            Ok(yaml) => print_out(&yaml, 0),
            Err(e) => {
                crate::text::stderr_line(&format!("taskmaster import: {e}"));
                e.exit_code()
            }
        },
        Invocation::Run {
            config,
            no_shell,
            socket,
            no_socket,
            check,
            logfile,
        } => match supervise(config, no_shell, socket, no_socket, check, logfile) {
            Ok(code) => code,
            Err(e) => {
                crate::text::stderr_line(&prefixed(&e));
                e.exit_code()
            }
        },
    }
}

/// Writes `text` to stdout and returns `code`. A reader that went away
/// (`--check | head -1`) ends the output quietly; any other write error is
/// reported and makes the status 1.
fn print_out(text: &str, code: u8) -> u8 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            crate::text::stderr_line(&format!(
                "taskmaster: cannot write to stdout: {}",
                crate::text::os_reason(e)
            ));
            1
        }
    }
}

/// Error text with each line prefixed, except config errors that already
/// name their file.
fn prefixed(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        other => format!("taskmaster: {other}"),
    }
}

fn ctl(socket: Option<PathBuf>, config: Option<PathBuf>, words: &[String]) -> u8 {
    let from_config = match (&socket, config) {
        (None, Some(path)) => match config::load(&path, nix::unistd::geteuid().is_root()) {
            Ok(c) => c.socket,
            Err(e) => {
                crate::text::stderr_line(&e.to_string());
                return 2;
            }
        },
        _ => None,
    };
    let path = crate::control::resolve_path(socket.as_deref(), from_config.as_deref());
    crate::ctl::client(&path, words)
}

fn load_or_create(path: Option<PathBuf>) -> Result<config::Config, Error> {
    let root = nix::unistd::geteuid().is_root();
    let path = match path {
        Some(p) => {
            if !p.exists() {
                return Err(Error::Config(format!(
                    "{}: no such config file",
                    p.display()
                )));
            }
            p
        }
        None => {
            let p = PathBuf::from(DEFAULT_CONFIG);
            if !p.exists() {
                std::fs::write(&p, config::EXAMPLE).map_err(|e| {
                    Error::Config(format!(
                        "{}: cannot write example config: {}",
                        p.display(),
                        crate::text::os_reason(e)
                    ))
                })?;
                crate::text::stderr_line(&format!(
                    "taskmaster: wrote an example config to {}",
                    p.display()
                ));
            }
            p
        }
    };
    config::load(&path, root).map_err(|e| Error::Config(e.to_string()))
}

/// `--check`: one line per process.
fn check_lines(c: &config::Config) -> Vec<String> {
    let mut lines = Vec::new();
    for task in c.tasks.values() {
        for name in task.process_names() {
            let note = if task.auto_launch {
                ""
            } else {
                "  (autoLaunch: false)"
            };
            let command = crate::text::one_line(&task.command_of(&name));
            lines.push(format!("{name}: {command}{note}"));
        }
    }
    lines
}

/// `--check`: what is certain to fail at spawn, one line per problem.
fn check_warnings(c: &config::Config) -> Vec<String> {
    let mut warnings = Vec::new();
    for task in c.tasks.values() {
        let name = &task.name;
        if let Some(dir) = &task.working_directory
            && !dir.is_dir()
        {
            warnings.push(format!(
                "task '{name}': working directory {} does not exist",
                dir.display()
            ));
        } else if let Some(p) = crate::spawn::program_problem(task) {
            warnings.push(format!("task '{name}': {p}"));
        }
        for (stream, path) in [("stdout", &task.stdout), ("stderr", &task.stderr)] {
            if let Some(path) = path
                && let Some(why) = crate::logs::sink::problem(path)
            {
                warnings.push(format!(
                    "task '{name}': {stream} log {} cannot be created: {why}",
                    path.display()
                ));
            }
        }
    }
    warnings
}

fn supervise(
    config: Option<PathBuf>,
    no_shell: bool,
    socket: Option<PathBuf>,
    no_socket: bool,
    check: bool,
    logfile: Option<PathBuf>,
) -> Result<u8, Error> {
    if check {
        let path = config.unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
        let c = config::load(&path, nix::unistd::geteuid().is_root())
            .map_err(|e| Error::Config(e.to_string()))?;
        let lines: String = check_lines(&c).iter().map(|l| format!("{l}\n")).collect();
        let code = print_out(&lines, 0);
        for w in check_warnings(&c) {
            crate::text::stderr_line(&format!("taskmaster: warning: {w}"));
        }
        return Ok(code);
    }
    let c = load_or_create(config)?;
    // Descriptors inherited from whoever started us must not reach the
    // children either.
    // Raw: neither nix nor rustix wraps close_range(2).
    // SAFETY: plain syscall on a range of fds; it only sets their
    // close-on-exec flag; nothing else runs yet.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    let pid1 = std::process::id() == 1;
    let shell = !no_shell && !pid1;
    if !pid1 {
        // Orphans of our children come to us to be reaped.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|e| Error::io("cannot become child subreaper", e))?;
    }
    let limits = crate::limits::raise(&c);
    for w in &limits.warnings {
        crate::text::stderr_line(&format!("taskmaster: {w}"));
    }
    // Raw: neither nix, rustix nor the libc crate declares tzset(3); it
    // loads the zone `localtime_r` (logs, events) then uses.
    unsafe extern "C" {
        fn tzset();
    }
    // SAFETY: tzset takes no arguments and only reads TZ and /etc/localtime;
    // no other thread exists yet to read the zone concurrently.
    unsafe { tzset() };
    let named =
        socket.is_some() || std::env::var_os("TASKMASTER_SOCKET").is_some_and(|v| !v.is_empty());
    // `socket: false` in the file, unless a path is named above it.
    let no_socket = no_socket || (!c.socket_enabled && !named);
    let socket_forced = no_socket || named;
    let path = crate::control::resolve_path(socket.as_deref(), c.socket.as_deref());
    let opts = Options {
        forward: !shell,
        socket: (!no_socket).then_some(path),
        socket_forced,
        socket_explicit: socket_forced || c.socket.is_some(),
        pid1,
        child_nofile: limits.child_nofile,
        // Only to measure what the state file costs (BENCHMARKS.md).
        state_file: std::env::var_os("TASKMASTER_NO_STATE_FILE").is_none_or(|v| v.is_empty()),
        logfile_forced: logfile.is_some(),
        logfile: logfile.or_else(|| c.logfile.clone()),
        metrics: c.metrics,
    };
    let stdin = shell.then(Stdin::new);
    let sup = Supervisor::new(c, opts, stdin)?;
    let code = sup.run()?;
    Ok(code.clamp(0, 255) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_run_options() {
        assert_eq!(
            parse(args(&["--no-shell", "--socket", "/s", "c.yaml"])).unwrap(),
            Invocation::Run {
                config: Some("c.yaml".into()),
                no_shell: true,
                socket: Some("/s".into()),
                no_socket: false,
                check: false,
                logfile: None,
            }
        );
        assert_eq!(
            parse(args(&["--check"])).unwrap(),
            Invocation::Run {
                config: None,
                no_shell: false,
                socket: None,
                no_socket: false,
                check: true,
                logfile: None,
            }
        );
        assert!(matches!(
            parse(args(&["--logfile", "sup.log"])).unwrap(),
            Invocation::Run { logfile: Some(p), .. } if p == std::path::Path::new("sup.log")
        ));
        assert!(matches!(parse(args(&["--logfile"])), Err(Error::Usage(_))));
        assert_eq!(parse(args(&["-V"])).unwrap(), Invocation::Version);
        assert!(matches!(parse(args(&["--bogus"])), Err(Error::Usage(_))));
        assert!(matches!(parse(args(&["a", "b"])), Err(Error::Usage(_))));
        assert!(matches!(parse(args(&["--socket"])), Err(Error::Usage(_))));
    }

    #[test]
    fn parses_ctl() {
        assert_eq!(
            parse(args(&["ctl", "--socket", "/s", "status", "--json"])).unwrap(),
            Invocation::Ctl {
                socket: Some("/s".into()),
                config: None,
                words: vec!["status".into(), "--json".into()]
            }
        );
        assert!(matches!(parse(args(&["ctl"])), Err(Error::Usage(_))));
        assert!(matches!(
            parse(args(&["ctl", "--nope", "x"])),
            Err(Error::Usage(_))
        ));
    }
}
