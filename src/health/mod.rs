//! Health of a process as its checks report it: `Tracker` turns a run of
//! check results into `starting` / `healthy` / `unhealthy` by the task's
//! rules (`retries` consecutive failures, failures inside `startPeriod` not
//! counted, the first pass makes it healthy). `probe.rs` runs `tcp` and
//! `http` checks as non-blocking sockets the event loop drives;
//! `LastLine` keeps the last output line of a `command` check for its
//! failure reason. Nothing here reads the clock or blocks: the supervisor
//! passes `now` and owns every fd and deadline.

pub mod probe;

use std::time::{Duration, Instant};

/// Health of a process that has a check or `notify`, as `status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No pass yet (and not unhealthy).
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// The word `status` prints.
    pub fn name(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// The counting rules of a task's `healthCheck`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Consecutive failures that make a process unhealthy (at least 1).
    pub retries: u32,
    /// Failures this soon after the spawn do not count.
    pub start_period: Duration,
}

/// What a check result changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Health is as it was.
    Same,
    /// The process became healthy.
    Healthy,
    /// The process became unhealthy; the reason names the last failure.
    Unhealthy(String),
}

/// The health of one live process, fed with check results.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracker {
    health: Health,
    /// Consecutive failures that counted.
    failures: u32,
    /// When the process was spawned (start of `startPeriod`).
    since: Instant,
    last_failure: Option<String>,
}

impl Tracker {
    /// A process spawned at `since`, not yet checked.
    pub fn new(since: Instant) -> Tracker {
        Tracker {
            health: Health::Starting,
            failures: 0,
            since,
            last_failure: None,
        }
    }

    /// The current health.
    pub fn health(&self) -> Health {
        self.health
    }

    /// The last failure, kept until a pass.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }

    /// Records one check result at `now`.
    pub fn record(&mut self, rules: Rules, result: Result<(), String>, now: Instant) -> Change {
        match result {
            Ok(()) => {
                self.failures = 0;
                self.last_failure = None;
                if self.health == Health::Healthy {
                    Change::Same
                } else {
                    self.health = Health::Healthy;
                    Change::Healthy
                }
            }
            Err(reason) => {
                let counts = now.saturating_duration_since(self.since) >= rules.start_period;
                self.last_failure = Some(reason.clone());
                if !counts {
                    return Change::Same;
                }
                self.failures = self.failures.saturating_add(1);
                if self.failures >= rules.retries.max(1) && self.health != Health::Unhealthy {
                    self.health = Health::Unhealthy;
                    Change::Unhealthy(reason)
                } else {
                    Change::Same
                }
            }
        }
    }
}

/// The longest line `LastLine` keeps, in bytes.
pub const LAST_LINE_MAX: usize = 200;

/// The last non-empty line of a stream, fed in pieces, at most
/// [`LAST_LINE_MAX`] bytes of it (its end).
#[derive(Debug, Clone, Default)]
pub struct LastLine {
    current: Vec<u8>,
    last: Vec<u8>,
}

impl LastLine {
    /// Adds bytes read from the stream.
    pub fn feed(&mut self, data: &[u8]) {
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let (text, ends) = match piece.strip_suffix(b"\n") {
                Some(t) => (t, true),
                None => (piece, false),
            };
            self.current.extend_from_slice(text);
            if self.current.len() > LAST_LINE_MAX {
                let cut = self.current.len() - LAST_LINE_MAX;
                self.current.drain(..cut);
            }
            if ends {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.current);
        if line.iter().any(|b| !b.is_ascii_whitespace()) {
            self.last = line;
        }
    }

    /// The last non-empty line (an unfinished one counts), trimmed.
    pub fn get(&mut self) -> Option<String> {
        self.end_line();
        let text = String::from_utf8_lossy(&self.last);
        let text = text.trim();
        (!text.is_empty()).then(|| text.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(retries: u32, start_period: u64) -> Rules {
        Rules {
            retries,
            start_period: Duration::from_secs(start_period),
        }
    }

    #[test]
    fn first_pass_makes_healthy() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        assert_eq!(t.health(), Health::Starting);
        assert_eq!(t.record(rules(3, 0), Ok(()), t0), Change::Healthy);
        assert_eq!(t.health(), Health::Healthy);
        assert_eq!(t.record(rules(3, 0), Ok(()), t0), Change::Same);
    }

    #[test]
    fn retries_consecutive_failures_make_unhealthy_once() {
        let t0 = Instant::now();
        let r = rules(3, 0);
        let mut t = Tracker::new(t0);
        t.record(r, Ok(()), t0);
        assert_eq!(t.record(r, Err("a".into()), t0), Change::Same);
        assert_eq!(t.record(r, Err("b".into()), t0), Change::Same);
        assert_eq!(t.health(), Health::Healthy);
        assert_eq!(
            t.record(r, Err("c".into()), t0),
            Change::Unhealthy("c".into())
        );
        assert_eq!(t.health(), Health::Unhealthy);
        assert_eq!(t.record(r, Err("d".into()), t0), Change::Same);
        assert_eq!(t.last_failure(), Some("d"));
        assert_eq!(t.record(r, Ok(()), t0), Change::Healthy);
        assert_eq!(t.last_failure(), None);
    }

    #[test]
    fn a_pass_resets_the_count() {
        let t0 = Instant::now();
        let r = rules(2, 0);
        let mut t = Tracker::new(t0);
        t.record(r, Err("x".into()), t0);
        t.record(r, Ok(()), t0);
        assert_eq!(t.record(r, Err("y".into()), t0), Change::Same);
        assert_eq!(t.health(), Health::Healthy);
    }

    #[test]
    fn failures_inside_start_period_do_not_count() {
        let t0 = Instant::now();
        let r = rules(1, 30);
        let mut t = Tracker::new(t0);
        for s in [0, 10, 29] {
            assert_eq!(
                t.record(r, Err("refused".into()), t0 + Duration::from_secs(s)),
                Change::Same
            );
        }
        assert_eq!(t.health(), Health::Starting);
        assert_eq!(t.last_failure(), Some("refused"));
        assert_eq!(
            t.record(r, Err("refused".into()), t0 + Duration::from_secs(30)),
            Change::Unhealthy("refused".into())
        );
    }

    #[test]
    fn starting_can_become_unhealthy() {
        let t0 = Instant::now();
        let mut t = Tracker::new(t0);
        let r = rules(0, 0);
        assert_eq!(
            t.record(r, Err("no".into()), t0),
            Change::Unhealthy("no".into()),
            "retries 0 acts as 1"
        );
    }

    #[test]
    fn last_line_keeps_the_last_non_empty_line() {
        let mut l = LastLine::default();
        assert_eq!(l.get(), None);
        l.feed(b"first\nsec");
        l.feed(b"ond\n\n  \n");
        assert_eq!(l.get().as_deref(), Some("second"));
        l.feed(b"no newline at end");
        assert_eq!(l.get().as_deref(), Some("no newline at end"));
        let long = vec![b'x'; 10_000];
        l.feed(&long);
        l.feed(b"END\n");
        let got = l.get().unwrap();
        assert_eq!(got.len(), LAST_LINE_MAX);
        assert!(got.ends_with("xEND"));
    }
}
