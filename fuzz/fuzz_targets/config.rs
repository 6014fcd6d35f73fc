//! Fuzzes configuration parsing and validation: `config::parse` never
//! panics, every error is one line, and every accepted config, written
//! back as YAML (every key spelled out, every string double-quoted, `${`
//! escaped) and parsed again from another directory, means the same: the
//! same `Config` apart from `path`. Tasks whose text differs per process
//! are finished for each of their first processes instead (no panic).

#![no_main]

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use taskmaster::config::{Condition, Config, OnUnhealthy, Probe, RestartPolicy, parse};

const FIRST: &str = "/etc/tm/taskmaster.yaml";
const SECOND: &str = "/srv/elsewhere/again.yaml";

fuzz_target!(|data: &[u8]| {
    // `load` rejects invalid UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `user` is accepted only as root: try both ways, cheaply.
    let is_root = data.len().is_multiple_of(2);
    let config = match parse(text, Path::new(FIRST), is_root) {
        Ok(c) => c,
        Err(e) => {
            assert!(!e.errors.is_empty());
            for line in &e.errors {
                assert!(
                    !line.contains(['\n', '\r']),
                    "error over two lines: {line:?}"
                );
                assert!(line.starts_with(FIRST), "error names no file: {line:?}");
            }
            return;
        }
    };
    if config.tasks.values().any(|t| t.per_process.is_some()) {
        for t in config.tasks.values() {
            for name in t.process_names().iter().take(3) {
                let p = t.for_process(name);
                assert!(!p.argv.is_empty());
            }
        }
        return;
    }
    let yaml = to_yaml(&config);
    let again = parse(&yaml, Path::new(SECOND), is_root)
        .unwrap_or_else(|e| panic!("re-serialised config rejected:\n{yaml}\n{e}"));
    let mut again = again;
    again.path = config.path.clone();
    assert_eq!(again, config, "re-serialised as:\n{yaml}");
});

/// `config` as YAML that parses back to it, from any directory: paths are
/// absolute already, strings are double-quoted with every character that
/// is not printable ASCII escaped.
fn to_yaml(config: &Config) -> String {
    let mut y = String::new();
    if let Some(s) = &config.socket {
        writeln!(y, "socket: {}", quoted(s.to_str().expect("paths come from text"))).unwrap();
    }
    if !config.socket_enabled {
        y.push_str("socket: false\n");
    }
    if let Some(m) = &config.metrics {
        writeln!(y, "metrics: {}", quoted(&m.to_string())).unwrap();
    }
    if let Some(l) = &config.logfile {
        writeln!(y, "logfile: {}", quoted(l.to_str().expect("paths come from text"))).unwrap();
    }
    writeln!(y, "logMaxSize: {}", config.log_max_size).unwrap();
    writeln!(y, "logBackups: {}", config.log_backups).unwrap();
    if config.tasks.is_empty() {
        y.push_str("tasks: {}\n");
        return y;
    }
    y.push_str("tasks:\n");
    for (name, t) in &config.tasks {
        assert_eq!(name, &t.name);
        writeln!(y, "  {}:", quoted(name)).unwrap();
        writeln!(y, "    command: {}", expandable(&t.command)).unwrap();
        writeln!(y, "    instances: {}", t.instances).unwrap();
        writeln!(y, "    autoLaunch: {}", t.auto_launch).unwrap();
        let restart = match t.restart {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        };
        writeln!(y, "    restart: {restart}").unwrap();
        let codes: Vec<String> = t.expected_exit_codes.iter().map(i32::to_string).collect();
        writeln!(y, "    expectedExitCodes: [{}]", codes.join(", ")).unwrap();
        writeln!(
            y,
            "    successfulStartTimeout: {}",
            seconds(t.start_timeout)
        )
        .unwrap();
        writeln!(y, "    restartsAttempts: {}", t.restart_attempts).unwrap();
        writeln!(y, "    stopingSignal: {}", t.stop_signal).unwrap();
        writeln!(y, "    gracefulStopTimeout: {}", seconds(t.stop_timeout)).unwrap();
        for (key, p) in [
            ("stdout", &t.stdout),
            ("stderr", &t.stderr),
            ("workingDirectory", &t.working_directory),
        ] {
            if let Some(p) = p {
                writeln!(y, "    {key}: {}", path(p)).unwrap();
            }
        }
        let files: Vec<String> = t.env_files.iter().map(|p| path(p)).collect();
        writeln!(y, "    envFile: [{}]", files.join(", ")).unwrap();
        if t.environment.is_empty() {
            y.push_str("    environment: {}\n");
        } else {
            y.push_str("    environment:\n");
            for (k, v) in &t.environment {
                writeln!(y, "      {}: {}", quoted(k), expandable(v)).unwrap();
            }
        }
        if let Some(u) = t.umask {
            writeln!(y, "    umask: \"{u:03o}\"").unwrap();
        }
        if let Some(u) = &t.user {
            writeln!(y, "    user: {}", quoted(u)).unwrap();
        }
        writeln!(y, "    essential: {}", t.essential).unwrap();
        writeln!(y, "    restartDelay: {}", seconds(t.restart_delay)).unwrap();
        writeln!(y, "    logMaxSize: {}", t.log_max_size).unwrap();
        writeln!(y, "    logBackups: {}", t.log_backups).unwrap();
        writeln!(y, "    notify: {}", t.notify).unwrap();
        writeln!(y, "    watchdogTimeout: {}", seconds(t.watchdog_timeout)).unwrap();
        let deps: Vec<String> = t
            .depends_on
            .iter()
            .map(|(k, c)| {
                let c = match c {
                    Condition::Started => "started",
                    Condition::Running => "running",
                    Condition::Healthy => "healthy",
                    Condition::Completed => "completed",
                };
                format!("{}: {c}", quoted(k))
            })
            .collect();
        writeln!(y, "    dependsOn: {{{}}}", deps.join(", ")).unwrap();
        if let Some(h) = &t.health_check {
            let probe = match &h.probe {
                Probe::Command { command, .. } => format!("command: {}", quoted(command)),
                Probe::Tcp(a) => format!("tcp: {}", quoted(&a.to_string())),
                Probe::Http { host, path, .. } => {
                    format!("http: {}", quoted(&format!("http://{host}{path}")))
                }
            };
            let on = match h.on_unhealthy {
                OnUnhealthy::Restart => "restart",
                OnUnhealthy::None => "none",
            };
            writeln!(
                y,
                "    healthCheck: {{{probe}, interval: {}, timeout: {}, retries: {}, startPeriod: {}, onUnhealthy: {on}}}",
                seconds(h.interval),
                seconds(h.timeout),
                h.retries,
                seconds(h.start_period)
            )
            .unwrap();
        }
    }
    y
}

/// A path, quoted and with `${` escaped.
fn path(p: &std::path::Path) -> String {
    expandable(p.to_str().expect("paths come from text"))
}

/// Text of a key that takes `${NAME}` expansion, so that it expands to
/// itself.
fn expandable(s: &str) -> String {
    quoted(&s.replace("${", "$${"))
}

/// A YAML double-quoted scalar holding exactly `s`.
fn quoted(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            ' '..='~' => q.push(c),
            c if u32::from(c) <= 0xffff => write!(q, "\\u{:04x}", u32::from(c)).unwrap(),
            c => write!(q, "\\U{:08x}", u32::from(c)).unwrap(),
        }
    }
    q.push('"');
    q
}

/// Seconds with every nanosecond, as a plain YAML float.
fn seconds(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}
