//! The terminal shell's history: the entered lines in memory (bounded,
//! consecutive repeats collapsed, lines starting with a space never kept)
//! and the file they persist in. The file is a regular file, appended one
//! line per entered command and trimmed to the bound at start and exit;
//! it is never read or written while the user types, and a failure to write
//! it never stops the shell.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The most entries kept, in memory and in the file.
pub const MAX_ENTRIES: usize = 1000;

/// Entered lines, oldest first.
#[derive(Debug, Clone, Default)]
pub struct History {
    entries: VecDeque<String>,
    max: usize,
}

impl History {
    /// An empty history keeping at most `max` entries.
    pub fn new(max: usize) -> History {
        History {
            entries: VecDeque::new(),
            max,
        }
    }

    /// A history from a file's text, one entry per line; the last `max`
    /// lines are kept.
    pub fn parse(text: &str, max: usize) -> History {
        let mut h = History::new(max);
        for line in text.lines() {
            // The editor never enters control characters; a line with one
            // was not written by us and would garble the screen.
            if !line.chars().any(char::is_control) {
                h.add(line);
            }
        }
        h
    }

    /// Remembers an entered line. Blank lines, lines starting with a space
    /// (kept out on purpose, e.g. with a secret) and a repeat of the last
    /// entry are not kept. Returns whether the line was kept.
    pub fn add(&mut self, line: &str) -> bool {
        if line.trim().is_empty()
            || line.starts_with(' ')
            || self.entries.back().is_some_and(|l| l == line)
            || self.max == 0
        {
            return false;
        }
        if self.entries.len() == self.max {
            self.entries.pop_front();
        }
        self.entries.push_back(line.to_string());
        true
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `i` (0 is the oldest).
    pub fn get(&self, i: usize) -> Option<&str> {
        self.entries.get(i).map(String::as_str)
    }

    /// The newest entry at index `from` or older that contains `query`:
    /// its index and the character position of the match.
    pub fn search(&self, query: &str, from: usize) -> Option<(usize, usize)> {
        let from = from.min(self.entries.len().checked_sub(1)?);
        (0..=from).rev().find_map(|i| {
            let e = &self.entries[i];
            e.find(query).map(|b| (i, e[..b].chars().count()))
        })
    }
}

/// Where the history file is: `$TASKMASTER_HISTORY` when set (set but
/// empty: no file), else `$XDG_STATE_HOME/taskmaster/history`, else
/// `$HOME/.local/state/taskmaster/history`. `None` when none applies.
/// `env` reads a variable, so tests need not touch the process environment.
pub fn default_path(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if let Some(p) = env("TASKMASTER_HISTORY") {
        return (!p.is_empty()).then(|| PathBuf::from(p));
    }
    // The XDG spec ignores relative paths in these variables.
    let absolute = |v: OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(state) = env("XDG_STATE_HOME").and_then(absolute) {
        return Some(state.join("taskmaster/history"));
    }
    let home = env("HOME").and_then(absolute)?;
    Some(home.join(".local/state/taskmaster/history"))
}

/// The history file of this session.
#[derive(Debug)]
pub struct HistoryFile {
    path: PathBuf,
    max: usize,
    /// Lines appended by this session: trim at exit only when some were.
    appended: usize,
    /// A write failed: later ones are tried but not reported again.
    failed: bool,
}

impl HistoryFile {
    /// Reads the history at `path` (a missing file is an empty history)
    /// and trims the file to `max` entries. Fails when the file exists but
    /// cannot be read or trimmed; the history is then empty but new lines
    /// are still appended.
    pub fn load(path: PathBuf, max: usize) -> (HistoryFile, History, Option<String>) {
        let (history, error) = match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let h = History::parse(&text, max);
                let error = (text.lines().count() > max)
                    .then(|| trim(&path, max).err())
                    .flatten();
                (h, error)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (History::new(max), None),
            Err(e) => (History::new(max), Some(e)),
        };
        let error = error.map(|e| format!("cannot read history file {}: {e}", path.display()));
        let file = HistoryFile {
            path,
            max,
            appended: 0,
            failed: false,
        };
        (file, history, error)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one entered line, creating the file (mode 0600) and its
    /// directory (0700) when missing. Returns a message for the first
    /// failure only.
    pub fn append(&mut self, line: &str) -> Option<String> {
        match append_line(&self.path, line) {
            Ok(()) => {
                self.appended += 1;
                None
            }
            Err(e) if !std::mem::replace(&mut self.failed, true) => Some(format!(
                "cannot write history file {}: {e}",
                self.path.display()
            )),
            Err(_) => None,
        }
    }

    /// At exit: trims the file to the bound again if this session added to
    /// it (other sessions may have appended too, and are kept).
    pub fn finish(&mut self) {
        if std::mem::take(&mut self.appended) > 0 {
            let _ = trim(&self.path, self.max);
        }
    }
}

fn append_line(path: &Path, line: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    // One write: concurrent sessions append whole lines.
    f.write_all(format!("{line}\n").as_bytes())
}

/// Keeps the last `max` lines of the file at `path`; replaces it at once
/// (write aside, then rename) so a crash never leaves half a file.
fn trim(path: &Path, max: usize) -> io::Result<()> {
    let bytes = std::fs::read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() <= max {
        return Ok(());
    }
    let mut keep = lines[lines.len() - max..].join("\n");
    keep.push('\n');
    let mut aside = path.as_os_str().to_owned();
    aside.push(".tmp");
    let aside = PathBuf::from(aside);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&aside)?;
    f.write_all(keep.as_bytes())?;
    std::fs::rename(&aside, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_was_entered_once_and_bounded() {
        let mut h = History::new(3);
        assert!(h.add("status"));
        assert!(!h.add("status"), "a repeat collapses");
        assert!(!h.add(" start secret"), "a leading space keeps it out");
        assert!(!h.add("   "));
        assert!(h.add("stop a"));
        assert!(h.add("status"), "only consecutive repeats collapse");
        assert!(h.add("logs a"));
        assert_eq!(h.len(), 3);
        assert_eq!(
            (0..3).map(|i| h.get(i).unwrap()).collect::<Vec<_>>(),
            ["stop a", "status", "logs a"]
        );
    }

    #[test]
    fn searches_newest_first() {
        let mut h = History::new(10);
        for l in ["stop web", "status", "start web_1", "logs db"] {
            h.add(l);
        }
        assert_eq!(h.search("web", 3), Some((2, 6)));
        assert_eq!(h.search("web", 1), Some((0, 5)));
        assert_eq!(h.search("zzz", 3), None);
        assert_eq!(h.search("st", 99), Some((2, 0)));
        assert_eq!(History::new(5).search("a", 0), None);
        let mut u = History::new(5);
        u.add("é web");
        assert_eq!(u.search("web", 0), Some((0, 2)));
    }

    #[test]
    fn path_follows_the_environment() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            default_path(env(&[("TASKMASTER_HISTORY", "/h"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/h"))
        );
        assert_eq!(default_path(env(&[("TASKMASTER_HISTORY", "")])), None);
        assert_eq!(
            default_path(env(&[("XDG_STATE_HOME", "/st"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/st/taskmaster/history"))
        );
        assert_eq!(
            default_path(env(&[("XDG_STATE_HOME", "rel"), ("HOME", "/home/u")])),
            Some(PathBuf::from("/home/u/.local/state/taskmaster/history"))
        );
        assert_eq!(default_path(env(&[])), None);
    }

    #[test]
    fn file_appends_and_trims() {
        let dir = std::env::temp_dir().join(format!("tm-hist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/history");
        let (mut f, h, err) = HistoryFile::load(path.clone(), 3);
        assert!(h.is_empty() && err.is_none());
        for l in ["a", "b", "c", "d"] {
            assert_eq!(f.append(l), None);
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\nc\nd\n");
        f.finish();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b\nc\nd\n");
        std::fs::write(&path, "1\n2\n3\n4\n5\n").unwrap();
        let (_, h, err) = HistoryFile::load(path.clone(), 2);
        assert!(err.is_none());
        assert_eq!((h.get(0), h.get(1)), (Some("4"), Some("5")));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4\n5\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
