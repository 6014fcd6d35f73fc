//! The state file `<socket>.state` and the recovery of strays it allows.
//!
//! A supervisor that is SIGKILLed cannot stop its processes: the children
//! get their parent-death signal, but a grandchild (`sh -c 'sleep 1005;
//! ...'`) lives on, re-parented, and a new supervisor would start a second
//! copy beside it. So the supervisor keeps a record of the process groups
//! it started, beside its control socket, and a supervisor started later on
//! the same socket path first stops (stop signal, deadline, SIGKILL) every
//! recorded group that still lives.
//!
//! A group is recorded with its leader's start time, as a range of clock
//! ticks since boot (the unit of field 22 of /proc/PID/stat) read around the
//! spawn, so no /proc read is needed on the hot path. A group whose leader
//! still lives is stopped only when the leader's start time falls in that
//! range: a reused PID is never hit. A group whose leader is gone is known
//! by its number, which the kernel does not hand out again while any member
//! of the group lives.
//!
//! The file is rewritten whole, atomically (written to `<path>.tmp`, then
//! renamed over), at most once per `WRITE_INTERVAL` while groups come and
//! go (less often when a write takes long: never more than about 0.5 % of
//! the time), never on the spawn path itself: at 10 000 processes a write
//! is 350 KB and takes about a millisecond (BENCHMARKS.md). It is trusted only when it is a regular
//! file owned by our uid and writable by nobody else; it is removed at a
//! clean exit. Without a control socket there is no file and no recovery.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

/// The shortest time between two writes of the file.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(100);
/// The longest: a write that takes long (thousands of groups) spaces the
/// next ones out, up to this, so writing never takes more than about 0.5 %
/// of the time.
const WRITE_INTERVAL_MAX: Duration = Duration::from_secs(1);
/// How long SIGKILLed strays get to disappear before recovery gives up.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// The first line of the file.
const HEADER: &str = "taskmaster-state 1";

/// Clock ticks since boot (the unit of /proc/PID/stat's start time):
/// rounded down, or up.
pub fn boot_ticks(round_up: bool) -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let hz = u128::from(rustix::param::clock_ticks_per_second().max(1));
    let ns = ts.tv_sec as u128 * 1_000_000_000 + ts.tv_nsec as u128;
    let ticks = ns * hz / 1_000_000_000;
    let exact = ticks * 1_000_000_000 == ns * hz;
    (ticks + u128::from(round_up && !exact)) as u64
}

/// One recorded process group.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    /// The leader's start time lies in `born.0 ..= born.1` (ticks).
    born: (u64, u64),
    sig: i32,
    grace: Duration,
    name: String,
    /// The leader was reaped while members lived on.
    leader_gone: bool,
}

/// The state file of a running supervisor.
pub struct StateFile {
    path: PathBuf,
    groups: HashMap<i32, Group>,
    dirty: bool,
    /// A write is due at this instant (a timer is armed for it).
    scheduled: Option<Instant>,
    last_write: Option<Instant>,
    /// The time until the next write may be due.
    gap: Duration,
    /// The last write failed (reported once per run of failures).
    failing: bool,
    text: String,
}

/// `<socket>.state`.
pub fn path_for(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".state");
    PathBuf::from(p)
}

impl StateFile {
    /// An empty record at `path`, written at once so that what a dead
    /// supervisor left there is gone.
    pub fn create(path: PathBuf) -> (StateFile, Option<String>) {
        let mut s = StateFile {
            path,
            groups: HashMap::new(),
            dirty: true,
            scheduled: None,
            last_write: None,
            gap: WRITE_INTERVAL,
            failing: false,
            text: String::new(),
        };
        let err = s.flush(Instant::now());
        (s, err)
    }

    /// Records a process group just started (hot path: no I/O).
    pub fn started(&mut self, pgid: i32, born: (u64, u64), sig: i32, grace: Duration, name: &str) {
        self.groups.insert(
            pgid,
            Group {
                born,
                sig,
                grace,
                name: name.to_string(),
                leader_gone: false,
            },
        );
        self.dirty = true;
    }

    /// The leader of `pgid` was reaped; members may live on.
    pub fn leader_exited(&mut self, pgid: i32, group_alive: bool) {
        if group_alive {
            if let Some(g) = self.groups.get_mut(&pgid) {
                g.leader_gone = true;
            }
        } else if self.groups.remove(&pgid).is_some() {
            self.dirty = true;
        }
    }

    /// When a write should happen, if one is needed and not yet planned:
    /// the caller arms a timer for it.
    pub fn schedule(&mut self, now: Instant) -> Option<Instant> {
        if !self.dirty || self.scheduled.is_some() {
            return None;
        }
        let at = self.last_write.map_or(now, |t| (t + self.gap).max(now));
        self.scheduled = Some(at);
        Some(at)
    }

    /// Whether a timer for `at` still stands.
    pub fn is_scheduled(&self, at: Instant) -> bool {
        self.scheduled == Some(at)
    }

    /// Writes the file if anything changed. Returns a notice for the first
    /// failure of a run of failures.
    pub fn flush(&mut self, now: Instant) -> Option<String> {
        self.scheduled = None;
        if !self.dirty {
            return None;
        }
        let t = Instant::now();
        // Groups whose leader is gone leave once their last member has.
        self.groups
            .retain(|&pgid, g| !g.leader_gone || crate::signals::group_alive(pgid));
        self.text.clear();
        self.text.push_str(HEADER);
        self.text.push('\n');
        for (pgid, g) in &self.groups {
            let _ = writeln!(
                self.text,
                "{pgid} {} {} {} {} {}",
                g.born.0,
                g.born.1,
                g.sig,
                g.grace.as_millis(),
                g.name
            );
        }
        self.dirty = false;
        self.last_write = Some(now);
        let written = write_atomically(&self.path, self.text.as_bytes());
        self.gap = (t.elapsed() * 200).clamp(WRITE_INTERVAL, WRITE_INTERVAL_MAX);
        match written {
            Ok(()) => {
                self.failing = false;
                None
            }
            Err(e) => {
                // Tried again with the next change.
                self.dirty = true;
                (!std::mem::replace(&mut self.failing, true))
                    .then(|| format!("cannot write state file {}: {e}", self.path.display()))
            }
        }
    }

    /// At exit: with every group down the file goes; otherwise it is
    /// brought up to date for the next supervisor.
    pub fn finish(mut self, all_down: bool) {
        if all_down {
            let _ = std::fs::remove_file(&self.path);
        } else {
            self.dirty = true;
            let _ = self.flush(Instant::now());
        }
    }
}

/// Writes `bytes` to `<path>.tmp` (mode 0600, never through a symlink),
/// then renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
    };
    let mut f = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&tmp)?;
            open()?
        }
        other => other?,
    };
    f.write_all(bytes)?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// A group read back from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recorded {
    pgid: i32,
    group: Group,
}

/// Parses the file; lines that do not parse are skipped.
fn parse(text: &str) -> Vec<Recorded> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Vec::new();
    }
    lines
        .filter_map(|l| {
            let mut f = l.splitn(6, ' ');
            let pgid: i32 = f.next()?.parse().ok()?;
            let lo: u64 = f.next()?.parse().ok()?;
            let hi: u64 = f.next()?.parse().ok()?;
            let sig: i32 = f.next()?.parse().ok()?;
            let grace: u64 = f.next()?.parse().ok()?;
            let name = f.next().unwrap_or("").to_string();
            (pgid > 1 && (1..=64).contains(&sig)).then_some(Recorded {
                pgid,
                group: Group {
                    born: (lo, hi),
                    sig,
                    grace: Duration::from_millis(grace),
                    name,
                    leader_gone: false,
                },
            })
        })
        .collect()
}

/// Reads the file at `path` if it can be trusted: a regular file (not a
/// symlink) owned by our uid and writable by nobody else.
fn read_trusted(path: &Path) -> Result<Option<String>, String> {
    let shown = path.display();
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("state file {shown} not used: {e}")),
    };
    let m = file
        .metadata()
        .map_err(|e| format!("state file {shown}: {e}"))?;
    let me = nix::unistd::geteuid().as_raw();
    if !m.is_file() || m.uid() != me || m.mode() & 0o022 != 0 {
        return Err(format!(
            "state file {shown} not used: it must be a regular file owned by uid {me}, writable by it alone"
        ));
    }
    let mut text = String::new();
    (&file)
        .take(64 * 1024 * 1024)
        .read_to_string(&mut text)
        .map_err(|e| format!("state file {shown}: {e}"))?;
    Ok(Some(text))
}

/// Start time (field 22) and process group (field 5) of a process, and
/// whether it is a zombie.
fn stat(pid: i32) -> Option<(u64, i32, bool)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields from 3 (state) on: state is f[0], pgrp f[2], starttime f[19].
    let zombie = matches!(f.first(), Some(&"Z" | &"X"));
    Some((f.get(19)?.parse().ok()?, f.get(2)?.parse().ok()?, zombie))
}

/// Live (not zombie) members of each of `pgids`, found in /proc.
fn members(pgids: &[i32]) -> HashMap<i32, Vec<i32>> {
    let mut out: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Some((_, pgid, false)) = stat(pid)
            && pgids.contains(&pgid)
        {
            out.entry(pgid).or_default().push(pid);
        }
    }
    out
}

/// A stray group being stopped.
struct Stray {
    pgid: i32,
    sig: i32,
    kill_at: Instant,
    killed: bool,
}

/// Before anything starts: stops every group recorded at `path` by a
/// supervisor that is gone and still alive, and waits (on pidfds, with
/// the recorded deadlines) until they are. Returns notices for the user.
pub fn recover(path: &Path) -> Vec<String> {
    let mut notices = Vec::new();
    let text = match read_trusted(path) {
        Ok(Some(t)) => t,
        Ok(None) => return notices,
        Err(e) => {
            notices.push(e);
            return notices;
        }
    };
    let recorded = parse(&text);
    let pgids: Vec<i32> = recorded.iter().map(|r| r.pgid).collect();
    let found = members(&pgids);
    let now = Instant::now();
    let mut strays = Vec::new();
    for r in &recorded {
        let Some(pids) = found.get(&r.pgid) else {
            continue;
        };
        // A leader still there must be the one recorded, not a reused PID.
        if pids.contains(&r.pgid) {
            let Some((start, _, _)) = stat(r.pgid) else {
                continue;
            };
            if start < r.group.born.0 || start > r.group.born.1 {
                continue;
            }
        }
        notices.push(format!(
            "stopping {} stray process{} of '{}' (process group {}) left by a supervisor that died",
            pids.len(),
            if pids.len() == 1 { "" } else { "es" },
            r.group.name,
            r.pgid
        ));
        let _ = crate::signals::signal_group(r.pgid, r.group.sig);
        let _ = crate::signals::signal_group(r.pgid, libc::SIGCONT);
        strays.push(Stray {
            pgid: r.pgid,
            sig: r.group.sig,
            kill_at: now + r.group.grace,
            killed: false,
        });
    }
    if !strays.is_empty() {
        wait_for(&mut strays, &mut notices);
    }
    notices
}

/// Waits until every stray group is empty: SIGKILL at each group's
/// deadline, then at most `KILL_WAIT` more.
fn wait_for(strays: &mut Vec<Stray>, notices: &mut Vec<String>) {
    loop {
        let pgids: Vec<i32> = strays.iter().map(|s| s.pgid).collect();
        let found = members(&pgids);
        strays.retain(|s| found.contains_key(&s.pgid));
        if strays.is_empty() {
            return;
        }
        let now = Instant::now();
        for s in strays.iter_mut() {
            if !s.killed && now >= s.kill_at {
                notices.push(format!(
                    "stray process group {} outlived {}: SIGKILL",
                    s.pgid,
                    crate::signame::name(s.sig)
                ));
                let _ = crate::signals::signal_group(s.pgid, libc::SIGKILL);
                s.killed = true;
                s.kill_at = now + KILL_WAIT;
            } else if s.killed && now >= s.kill_at {
                notices.push(format!(
                    "stray process group {} survives SIGKILL; going on without it",
                    s.pgid
                ));
                s.pgid = 0;
            }
        }
        strays.retain(|s| s.pgid != 0);
        let Some(until) = strays.iter().map(|s| s.kill_at).min() else {
            return;
        };
        // Wake up when one of the members exits, or at the next deadline.
        let fds: Vec<OwnedFd> = strays
            .iter()
            .filter_map(|s| found.get(&s.pgid))
            .flatten()
            .filter_map(|&pid| pidfd(pid))
            .collect();
        let mut pfds: Vec<PollFd> = fds
            .iter()
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        let left = until.saturating_duration_since(Instant::now());
        // Whole milliseconds, at least one, as poll(2) would take them.
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as u64;
        let timeout = rustix::event::Timespec {
            tv_sec: (ms / 1000) as i64,
            tv_nsec: (ms % 1000 * 1_000_000) as i64,
        };
        let _ = rustix::event::poll(&mut pfds, Some(&timeout));
    }
}

/// A pidfd for `pid` (readable once it exits), if the kernel gives one.
fn pidfd(pid: i32) -> Option<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid)?;
    rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_junk_is_skipped() {
        let text = format!(
            "{HEADER}\n1234 10 12 15 10000 web_1\n7 1 2 9 0 a name\nnot a line\n1 1 1 9 0 init\n"
        );
        let r = parse(&text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].pgid, 1234);
        assert_eq!(r[0].group.born, (10, 12));
        assert_eq!(r[0].group.grace, Duration::from_secs(10));
        assert_eq!(r[1].group.name, "a name");
        assert!(parse("other 1\n1234 1 1 15 0 x\n").is_empty());
    }

    #[test]
    fn writes_are_coalesced() {
        let dir = std::env::temp_dir().join(format!("tm-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.state");
        let (mut s, err) = StateFile::create(path.clone());
        assert!(err.is_none());
        let t0 = Instant::now();
        assert_eq!(s.schedule(t0), None, "nothing changed");
        s.started(4242, (1, 2), 15, Duration::from_secs(1), "w");
        let at = s.schedule(t0).expect("a write is due");
        assert!(at >= t0);
        s.started(4243, (1, 2), 15, Duration::from_secs(1), "w");
        assert_eq!(s.schedule(t0), None, "one write for both");
        assert!(s.flush(at).is_none());
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(parse(&text).len(), 2);
        s.leader_exited(4242, false);
        assert!(s.schedule(at).unwrap() >= at + WRITE_INTERVAL);
        s.finish(true);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
