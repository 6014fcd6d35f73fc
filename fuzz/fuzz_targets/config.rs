//! Fuzzes configuration parsing and validation: `config::parse` never
//! panics, every error is one line, and every accepted config, written
//! back as YAML (every key spelled out, every string double-quoted) and
//! parsed again from another directory, means the same: the same `Config`
//! apart from `path`.

#![no_main]

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use taskmaster::config::{Config, RestartPolicy, parse};

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
        writeln!(
            y,
            "socket: {}",
            quoted(s.to_str().expect("paths come from text"))
        )
        .unwrap();
    }
    if config.tasks.is_empty() {
        y.push_str("tasks: {}\n");
        return y;
    }
    y.push_str("tasks:\n");
    for (name, t) in &config.tasks {
        assert_eq!(name, &t.name);
        writeln!(y, "  {}:", quoted(name)).unwrap();
        writeln!(y, "    command: {}", quoted(&t.command)).unwrap();
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
        for (key, path) in [
            ("stdout", &t.stdout),
            ("stderr", &t.stderr),
            ("workingDirectory", &t.working_directory),
        ] {
            if let Some(p) = path {
                let p = p.to_str().expect("paths come from text");
                writeln!(y, "    {key}: {}", quoted(p)).unwrap();
            }
        }
        if t.environment.is_empty() {
            y.push_str("    environment: {}\n");
        } else {
            y.push_str("    environment:\n");
            for (k, v) in &t.environment {
                writeln!(y, "      {}: {}", quoted(k), quoted(v)).unwrap();
            }
        }
        if let Some(u) = t.umask {
            writeln!(y, "    umask: \"{u:03o}\"").unwrap();
        }
        if let Some(u) = &t.user {
            writeln!(y, "    user: {}", quoted(u)).unwrap();
        }
        writeln!(y, "    essential: {}", t.essential).unwrap();
    }
    y
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
