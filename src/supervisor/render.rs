//! How processes are shown: the `status` table, `status --json`, uptimes
//! and durations. Pure: rows in, text out.

use std::borrow::Cow;
use std::fmt::Write;
use std::time::Duration;

use serde::{Serialize, Serializer};
use unicode_width::UnicodeWidthStr;

/// One process as `status` shows it; `status --json` gives its fields in
/// this order, the uptime as `uptime_secs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row<'a> {
    pub name: &'a str,
    pub task: &'a str,
    pub state: &'static str,
    pub pid: Option<i32>,
    #[serde(rename = "uptime_secs", serialize_with = "whole_seconds")]
    pub uptime: Option<Duration>,
    pub restarts: u32,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub command: Cow<'a, str>,
    /// `starting`, `healthy` or `unhealthy` for a task with a check or
    /// `notify`; `None` for the rest.
    pub health: Option<&'static str>,
    /// RUNNING, and healthy where it has a check or `notify`.
    pub ready: bool,
}

fn whole_seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(|d| d.as_secs()).serialize(s)
}

/// `2m15s`-style uptime: `45s`, `2m15s`, `1h2m3s`, `3d4h5m`.
pub fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match () {
        _ if days > 0 => format!("{days}d{h}h{m}m"),
        _ if s >= 3600 => format!("{h}h{m}m{sec}s"),
        _ if s >= 60 => format!("{m}m{sec}s"),
        _ => format!("{sec}s"),
    }
}

/// The status table: a header `Task Status PID Uptime Restarts Command` and
/// one row per process, columns padded; a FATAL or BACKOFF reason follows
/// the command in parentheses.
pub fn table(rows: &[Row]) -> String {
    table_styled(rows, false)
}

/// The SGR colour of a state on a terminal: RUNNING green;
/// STARTED, BACKOFF, STOPPING yellow; FATAL red; STOPPED, EXITED dim.
pub fn state_colour(state: &str) -> Option<&'static str> {
    match state {
        "RUNNING" | "RUNNING (healthy)" => Some("32"),
        "STARTED" | "BACKOFF" | "STOPPING" | "WAITING" | "RUNNING (starting)" => Some("33"),
        "RUNNING (unhealthy)" => Some("31"),
        "FATAL" => Some("31"),
        "STOPPED" | "EXITED" => Some("2"),
        _ => None,
    }
}

/// Columns `s` takes on a terminal: its length when it is all printable
/// ASCII (every PID, uptime and count, most names), else its display width.
fn columns(s: &str) -> usize {
    if s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        s.len()
    } else {
        s.width()
    }
}

/// `table`, with the states coloured when `colour` (for a terminal): the
/// state is padded first, so escape codes never shift a column.
pub fn table_styled(rows: &[Row], colour: bool) -> String {
    let header = ["Task", "Status", "PID", "Uptime", "Restarts", "Command"];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            let mut command = crate::text::one_line(&r.command);
            if let Some(reason) = &r.reason {
                let _ = write!(command, "  ({reason})");
            }
            let state = match r.health {
                Some(h) if r.state == "RUNNING" => format!("{} ({h})", r.state),
                _ => r.state.to_string(),
            };
            [
                r.name.to_string(),
                state,
                r.pid.map_or("-".into(), |p| p.to_string()),
                r.uptime.map_or("-".into(), uptime),
                r.restarts.to_string(),
                command,
            ]
        })
        .collect();
    // Each padded cell is measured once; the last column (the command) is
    // not padded, so not measured.
    let measured: Vec<[usize; 5]> = cells
        .iter()
        .map(|row| std::array::from_fn(|i| columns(&row[i])))
        .collect();
    let mut width: [usize; 5] = std::array::from_fn(|i| header[i].len());
    for m in &measured {
        for (w, &c) in width.iter_mut().zip(m) {
            *w = (*w).max(c);
        }
    }
    let mut out = String::new();
    let mut line = |cols: [&str; 6], measured: [usize; 5], colour: bool| {
        let mut l = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i == 5 {
                l.push_str(c);
                continue;
            }
            // Padded by display width: `{:<w$}` counts characters, and a
            // wide character takes two columns.
            let pad = width[i] - measured[i];
            if i == 1
                && colour
                && let Some(sgr) = state_colour(c)
            {
                let _ = write!(l, "\x1b[{sgr}m{c}\x1b[0m{:pad$}  ", "");
            } else {
                let _ = write!(l, "{c}{:pad$}  ", "");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header, std::array::from_fn(|i| header[i].len()), false);
    for (row, m) in cells.iter().zip(&measured) {
        line(
            [&row[0], &row[1], &row[2], &row[3], &row[4], &row[5]],
            *m,
            colour,
        );
    }
    out.pop();
    out
}

/// `status --json`: one array, an object per process.
pub fn json(rows: &[Row]) -> String {
    serde_json::to_string(rows).expect("rows serialize: strings and numbers only")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &'static str, state: &'static str, pid: Option<i32>) -> Row<'static> {
        Row {
            name,
            task: "t",
            state,
            pid,
            uptime: pid.map(|_| Duration::from_secs(135)),
            restarts: 2,
            exit_code: None,
            reason: None,
            command: "sleep 100".into(),
            health: None,
            ready: pid.is_some(),
        }
    }

    #[test]
    fn control_characters_stay_on_one_line() {
        assert_eq!(crate::text::one_line("sleep 1"), "sleep 1");
        assert_eq!(
            crate::text::one_line("sh -c 'a\nb\tc'"),
            "sh -c 'a\\nb\\tc'"
        );
        let mut r = row("a", "RUNNING", Some(1));
        r.command = "echo 1\necho 2\n".into();
        assert_eq!(table(&[r]).lines().count(), 2);
    }

    #[test]
    fn uptimes() {
        let s = Duration::from_secs;
        assert_eq!(uptime(s(0)), "0s");
        assert_eq!(uptime(s(45)), "45s");
        assert_eq!(uptime(s(135)), "2m15s");
        assert_eq!(uptime(s(3723)), "1h2m3s");
        assert_eq!(uptime(s(3 * 86_400 + 4 * 3600 + 5 * 60 + 6)), "3d4h5m");
    }

    #[test]
    fn table_has_header_and_aligned_rows() {
        let mut fatal = row("web_server", "FATAL", None);
        fatal.reason = Some("cannot spawn x: No such file or directory".into());
        let t = table(&[row("a", "RUNNING", Some(1240)), fatal]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        let cols: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(
            cols,
            ["Task", "Status", "PID", "Uptime", "Restarts", "Command"]
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["a", "RUNNING", "1240", "2m15s", "2", "sleep", "100"]
        );
        let status_col = lines[0].find("Status").unwrap();
        assert_eq!(lines[2].find("FATAL"), Some(status_col));
        assert!(lines[2].ends_with("sleep 100  (cannot spawn x: No such file or directory)"));
        assert!(lines[2].contains(" -  "));
    }

    #[test]
    fn colour_keeps_columns_aligned() {
        let rows = [
            row("a", "RUNNING", Some(1240)),
            row("bb", "FATAL", None),
            row("c", "STOPPING", Some(7)),
            row("d", "EXITED", None),
        ];
        let plain = table(&rows);
        let coloured = table_styled(&rows, true);
        assert!(!plain.contains('\x1b'));
        assert_eq!(table_styled(&rows, false), plain);
        let strip = |s: &str| {
            let mut out = String::new();
            let mut esc = false;
            for ch in s.chars() {
                match (esc, ch) {
                    (false, '\x1b') => esc = true,
                    (true, 'm') => esc = false,
                    (true, _) => {}
                    (false, c) => out.push(c),
                }
            }
            out
        };
        assert_eq!(strip(&coloured), plain, "same text and columns");
        let lines: Vec<&str> = coloured.lines().collect();
        assert!(!lines[0].contains('\x1b'), "header plain");
        assert!(lines[1].contains("\x1b[32mRUNNING\x1b[0m"));
        assert!(lines[2].contains("\x1b[31mFATAL\x1b[0m"));
        assert!(lines[3].contains("\x1b[33mSTOPPING\x1b[0m"));
        assert!(lines[4].contains("\x1b[2mEXITED\x1b[0m"));
        assert_eq!(state_colour("STARTED"), Some("33"));
        assert_eq!(state_colour("BACKOFF"), Some("33"));
        assert_eq!(state_colour("STOPPED"), Some("2"));
    }

    #[test]
    fn health_shows_with_running_only() {
        let mut r = row("db", "RUNNING", Some(7));
        r.health = Some("healthy");
        let mut s = row("db2", "STARTED", Some(8));
        s.health = Some("starting");
        let t = table(&[r, s, row("plain", "RUNNING", Some(9))]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("RUNNING (healthy)"), "{t}");
        assert!(
            lines[2].contains("STARTED ") && !lines[2].contains("("),
            "{t}"
        );
        assert!(
            lines[3].contains("RUNNING ") && !lines[3].contains("RUNNING ("),
            "{t}"
        );
    }

    #[test]
    fn json_rows() {
        let mut r = row("w\"1", "EXITED", None);
        r.exit_code = Some(143);
        let j = json(&[row("a", "RUNNING", Some(7)), r]);
        assert_eq!(
            j,
            "[{\"name\":\"a\",\"task\":\"t\",\"state\":\"RUNNING\",\"pid\":7,\"uptime_secs\":135,\"restarts\":2,\"exit_code\":null,\"reason\":null,\"command\":\"sleep 100\",\"health\":null,\"ready\":true},\
             {\"name\":\"w\\\"1\",\"task\":\"t\",\"state\":\"EXITED\",\"pid\":null,\"uptime_secs\":null,\"restarts\":2,\"exit_code\":143,\"reason\":null,\"command\":\"sleep 100\",\"health\":null,\"ready\":false}]"
        );
        assert_eq!(json(&[]), "[]");
        let mut r = row("a\u{1}\n", "RUNNING", Some(7));
        r.reason = Some("é".into());
        assert!(json(&[r]).contains("\"name\":\"a\\u0001\\n\""));
    }

    #[test]
    fn columns_is_the_display_width() {
        for s in [
            "web_1",
            "RUNNING (starting)",
            "1h2m3s",
            "-",
            "",
            "網站",
            "e\u{301}",
            "a\tb",
            "\u{7f}",
        ] {
            assert_eq!(columns(s), s.width(), "{s:?}");
        }
    }

    #[test]
    fn wide_characters_keep_columns_aligned() {
        // Each CJK character takes two columns on a terminal.
        let rows = [
            row("網站", "RUNNING", Some(1)),
            row("web", "RUNNING", Some(2)),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        let at = |l: &str, word: &str| l[..l.find(word).unwrap()].width();
        let status = at(lines[0], "Status");
        assert_eq!(at(lines[1], "RUNNING"), status, "{t}");
        assert_eq!(at(lines[2], "RUNNING"), status, "{t}");
        let coloured = table_styled(&rows, true);
        assert_eq!(coloured.lines().nth(1).map(|l| at(l, "\x1b")), Some(status));
    }
}
