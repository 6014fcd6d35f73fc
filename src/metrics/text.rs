//! The Prometheus text exposition format, version 0.0.4: one `# HELP` and
//! `# TYPE` per family, then its samples. Pure apart from `SelfStats::read`,
//! which reads the supervisor's own figures from /proc.

use std::fmt::Write as _;

/// Every state name a process can be in, as printed; each gets a
/// `taskmaster_process_state` sample (1 for the current one).
pub const STATES: &[&str] = &[
    "STOPPED", "WAITING", "STARTED", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL",
];

/// The figures of one process.
#[derive(Debug, Clone)]
pub struct ProcessSample<'a> {
    pub name: &'a str,
    pub task: &'a str,
    /// The state as printed.
    pub state: &'static str,
    /// A live leader exists.
    pub up: bool,
    pub restarts: u32,
    /// When the live leader was spawned, in seconds since the epoch.
    pub start_time: Option<f64>,
    /// `None` without a health check.
    pub healthy: Option<bool>,
    /// The last exit status (128+N after signal N).
    pub exit_code: Option<i32>,
}

/// The supervisor's own figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelfStats {
    pub resident_bytes: u64,
    pub open_fds: u64,
    pub cpu_seconds: f64,
}

impl SelfStats {
    /// Reads them for this process; a figure that cannot be read is 0.
    pub fn read() -> SelfStats {
        let page = rustix::param::page_size() as u64;
        let resident_bytes = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * page);
        let open_fds = open_fds();
        let cpu = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF);
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        SelfStats {
            resident_bytes,
            open_fds,
            cpu_seconds: cpu.map_or(0.0, |u| secs(u.user_time()) + secs(u.system_time())),
        }
    }
}

/// The supervisor's open file descriptors. Since Linux 6.2 the size of
/// /proc/self/fd is their number, one `stat`; listing the directory
/// instead (older kernels) takes milliseconds with 20 000 of them.
fn open_fds() -> u64 {
    match std::fs::metadata("/proc/self/fd") {
        Ok(m) if m.len() > 0 => m.len(),
        // The directory handle read_dir holds is one of them.
        _ => std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count().saturating_sub(1) as u64)
            .unwrap_or(0),
    }
}

/// Writes the whole exposition to `out`.
pub fn render(procs: &[ProcessSample], me: &SelfStats, log_bytes_dropped: u64, out: &mut String) {
    out.reserve(procs.len() * 800 + 1024);
    // Each process's labels, escaped once for its dozen samples.
    let mut labels = String::with_capacity(procs.len() * 48);
    let mut ends = Vec::with_capacity(procs.len());
    for p in procs {
        labels.push_str("name=\"");
        label_value(&mut labels, p.name);
        labels.push_str("\",task=\"");
        label_value(&mut labels, p.task);
        labels.push('"');
        ends.push(labels.len());
    }
    let each = || {
        procs.iter().zip(ends.iter().scan(0, |start, &end| {
            let l = &labels[*start..end];
            *start = end;
            Some(l)
        }))
    };
    family(
        out,
        "taskmaster_process_up",
        "gauge",
        "Whether the process has a live leader.",
    );
    for (p, l) in each() {
        flag(out, "taskmaster_process_up", l, None, p.up);
    }
    family(
        out,
        "taskmaster_process_state",
        "gauge",
        "The process state: 1 for the current one.",
    );
    for (p, l) in each() {
        let current = STATES.iter().position(|&s| s == p.state);
        for (i, &s) in STATES.iter().enumerate() {
            flag(
                out,
                "taskmaster_process_state",
                l,
                Some(s),
                current == Some(i),
            );
        }
        if current.is_none() {
            flag(out, "taskmaster_process_state", l, Some(p.state), true);
        }
    }
    family(
        out,
        "taskmaster_process_restarts_total",
        "counter",
        "Spawns the user did not ask for.",
    );
    for (p, l) in each() {
        sample(out, "taskmaster_process_restarts_total", l, p.restarts);
    }
    family(
        out,
        "taskmaster_process_start_time_seconds",
        "gauge",
        "When the live leader was spawned, in seconds since the epoch.",
    );
    for (p, l) in each() {
        if let Some(t) = p.start_time {
            sample(out, "taskmaster_process_start_time_seconds", l, t);
        }
    }
    family(
        out,
        "taskmaster_process_healthy",
        "gauge",
        "1 healthy, 0 not; only processes with a health check or notify.",
    );
    for (p, l) in each() {
        if let Some(h) = p.healthy {
            flag(out, "taskmaster_process_healthy", l, None, h);
        }
    }
    family(
        out,
        "taskmaster_process_exit_code",
        "gauge",
        "The last exit status (128+N after death by signal N).",
    );
    for (p, l) in each() {
        if let Some(c) = p.exit_code {
            sample(out, "taskmaster_process_exit_code", l, c);
        }
    }
    single(
        out,
        "taskmaster_processes",
        "gauge",
        "Supervised processes.",
        procs.len(),
    );
    single(
        out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory of the supervisor in bytes.",
        me.resident_bytes,
    );
    single(
        out,
        "process_open_fds",
        "gauge",
        "Open file descriptors of the supervisor.",
        me.open_fds,
    );
    single(
        out,
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time of the supervisor in seconds.",
        me.cpu_seconds,
    );
    single(
        out,
        "taskmaster_log_bytes_dropped_total",
        "counter",
        "Output bytes that could not be written to log files.",
        log_bytes_dropped,
    );
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, v: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {v}");
}

/// `metric{labels} v`.
fn sample(out: &mut String, metric: &str, labels: &str, v: impl std::fmt::Display) {
    out.push_str(metric);
    out.push('{');
    out.push_str(labels);
    let _ = writeln!(out, "}} {v}");
}

/// `metric{labels,state="S"} 0` or `1`: most samples, so without the
/// formatting machinery.
fn flag(out: &mut String, metric: &str, labels: &str, state: Option<&str>, v: bool) {
    out.push_str(metric);
    out.push('{');
    out.push_str(labels);
    if let Some(s) = state {
        out.push_str(",state=\"");
        label_value(out, s);
        out.push('"');
    }
    out.push_str(if v { "} 1\n" } else { "} 0\n" });
}

/// A label value with `\`, `"` and newline escaped as the format wants.
fn label_value(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_proc<'a>(name: &'a str, state: &'static str) -> ProcessSample<'a> {
        ProcessSample {
            name,
            task: "web",
            state,
            up: state == "RUNNING",
            restarts: 2,
            start_time: (state == "RUNNING").then_some(1_796_206_525.5),
            healthy: None,
            exit_code: Some(1),
        }
    }

    #[test]
    fn families_have_help_type_and_grouped_samples() {
        let procs = [
            sample_proc("web_1", "RUNNING"),
            sample_proc("web_2", "FATAL"),
        ];
        let mut out = String::new();
        render(&procs, &SelfStats::default(), 42, &mut out);
        assert!(out.contains("# TYPE taskmaster_process_up gauge\n"));
        assert!(out.contains("taskmaster_process_up{name=\"web_1\",task=\"web\"} 1\n"));
        assert!(out.contains("taskmaster_process_up{name=\"web_2\",task=\"web\"} 0\n"));
        assert!(
            out.contains(
                "taskmaster_process_state{name=\"web_2\",task=\"web\",state=\"FATAL\"} 1\n"
            )
        );
        assert!(out.contains(
            "taskmaster_process_state{name=\"web_2\",task=\"web\",state=\"RUNNING\"} 0\n"
        ));
        assert!(out.contains(
            "taskmaster_process_start_time_seconds{name=\"web_1\",task=\"web\"} 1796206525.5\n"
        ));
        assert!(!out.contains("taskmaster_process_start_time_seconds{name=\"web_2\""));
        assert!(out.contains("taskmaster_processes 2\n"));
        assert!(out.contains("taskmaster_log_bytes_dropped_total 42\n"));
        // Each family's samples follow its TYPE line without interruption.
        let mut current = "";
        let mut seen = std::collections::HashSet::new();
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
                assert!(seen.insert(current.to_string()), "{current} twice");
            } else if !line.starts_with('#') {
                assert!(line.starts_with(current), "{line} outside {current}");
            }
        }
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        label_value(&mut out, "a\\b\"c\nd");
        assert_eq!(out, "a\\\\b\\\"c\\nd");
    }

    #[test]
    fn self_stats_are_read() {
        let s = SelfStats::read();
        assert!(s.resident_bytes > 0);
        assert!(s.open_fds >= 3);
    }
}
