//! Size-based rotation of a log file, done by the supervisor itself:
//! `x.log` -> `x.log.1` -> ... -> `x.log.N`, the oldest deleted, then a new
//! `x.log`. `cut` decides where a chunk of output may go into the current
//! file so that a rotation only ever happens at a line boundary; it is pure.
//! `shift` renames the files. The write path itself only compares two
//! counters: the renames happen once per `max` bytes, never per write, and
//! nothing is ever `stat`ed to find the size (it is counted). The oldest
//! file, whose deletion would free its pages inside the loop's turn, is
//! freed a slice per turn instead (`Doomed`).

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// When and how a log file is rotated (`logMaxSize`, `logBackups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the file would grow past this many bytes; never 0.
    pub max: u64,
    /// Rotated files kept: `x.1` (newest) .. `x.N`. With 0 the file is
    /// simply started afresh.
    pub backups: u32,
}

/// What to do with the front of a chunk of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Append the first `n` bytes to the current file.
    Write(usize),
    /// Rotate first: the file is at a line boundary and the next line
    /// would take it past the limit.
    Rotate,
}

/// Where `data` may be cut for a file of `size` bytes that rotates past
/// `max`. `at_line_start` says whether the file ends at a line boundary
/// (empty, or its last byte a newline). The cut keeps whole lines in one
/// file: a line that started in a file ends there, even past `max` (bytes
/// are written as they arrive, before the line's length is known); a line
/// longer than `max` goes whole into a fresh file. `data` must not be empty.
pub fn cut(size: u64, max: u64, at_line_start: bool, data: &[u8]) -> Cut {
    let room = max.saturating_sub(size);
    if data.len() as u64 <= room {
        return Cut::Write(data.len());
    }
    // Whole lines that still fit.
    let fits = &data[..room as usize];
    if let Some(i) = fits.iter().rposition(|&b| b == b'\n') {
        return Cut::Write(i + 1);
    }
    if at_line_start && size > 0 {
        return Cut::Rotate;
    }
    // A line under way ends here; a line longer than the limit takes a
    // file of its own.
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => Cut::Write(i + 1),
        None => Cut::Write(data.len()),
    }
}

/// `path` with `.n` appended.
pub fn backup_path(path: &Path, n: u32) -> PathBuf {
    let mut p = path.as_os_str().to_os_string();
    p.push(format!(".{n}"));
    PathBuf::from(p)
}

/// Moves `path` to `path.1`, `path.1` to `path.2`, and so on, taking
/// `path.N` out of the chain; with no backups, takes `path` out. The caller
/// then opens a new `path`. Missing files in the chain are fine. Fails
/// when the current file cannot be moved away (then nothing should be
/// reopened); the oldest backup, unlinked first, is gone even then.
///
/// The file taken out is returned open, already unlinked, when it could
/// be opened: freeing a big file's pages costs milliseconds (about 1 ms per
/// MiB here, more on a filesystem mounted with `discard`), so the caller
/// has it freed elsewhere (`Doomed`) instead of inside this call.
pub fn shift(path: &Path, backups: u32) -> io::Result<Option<File>> {
    let oldest = match backups {
        0 => path.to_path_buf(),
        n => backup_path(path, n),
    };
    let doomed = open_doomed(&oldest);
    if backups == 0 {
        std::fs::remove_file(path).or_else(|e| match e.kind() {
            io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })?;
        return Ok(doomed);
    }
    // The oldest leaves the chain when the one below it moves up. It is
    // unlinked first rather than replaced by that rename: ext4 writes out
    // the file renamed over another one (auto_da_alloc), which inside the
    // loop meant waiting for 10 MiB of writeback at each rotation.
    let below = match backups {
        1 => path.to_path_buf(),
        n => backup_path(path, n - 1),
    };
    let leaves = std::fs::symlink_metadata(&below).is_ok();
    if leaves {
        std::fs::remove_file(&oldest).or_else(|e| match e.kind() {
            io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        })?;
    }
    for n in (1..backups).rev() {
        match std::fs::rename(backup_path(path, n), backup_path(path, n + 1)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    std::fs::rename(path, backup_path(path, 1))?;
    // Only a file that left the chain may be freed: one that stayed (a gap
    // below it) is still a kept backup.
    Ok(doomed.filter(|_| leaves))
}

/// `path` opened for truncation, if it is a regular file (a symlink is
/// never followed; it is then just unlinked by the rename).
fn open_doomed(path: &Path) -> Option<File> {
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()))
}

/// Files taken out of a chain: handed to a child process to free, or, when
/// none can be started, freed by the loop a slice at a time.
#[derive(Debug, Default)]
pub struct Doomed {
    files: Vec<(File, u64)>,
}

/// How much of a doomed file is freed per step.
pub const FREE_STEP: u64 = 1 << 20;
/// Doomed files kept waiting at most; past this the oldest is freed at
/// once (a flood rotating faster than the loop turns).
const MAX_DOOMED: usize = 4;

/// Gives the last reference to `file` to a short-lived child process: the
/// kernel frees the file's blocks when the child exits, in the child (on a
/// filesystem mounted with `discard` that means waiting for the device, a
/// few milliseconds per 10 MiB), not in the loop. The child is this
/// program asked for its version, with the file as its stdin; the loop
/// reaps it like any child it does not know. Returns the child's pid, or
/// gives the file back when no child could be started.
fn hand_off(file: File) -> Result<u32, File> {
    let Ok(theirs) = file.try_clone() else {
        return Err(file);
    };
    let spawned = std::process::Command::new("/proc/self/exe")
        .arg("--version")
        .stdin(theirs)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        // Ours and the Command's copies close here: the child's is the
        // last (unless it exited already, and then this close frees it).
        Ok(child) => Ok(child.id()),
        Err(_) => Err(file),
    }
}

impl Doomed {
    /// Takes `file` to free: a child process frees it (`hand_off`) when it
    /// is bigger than one slice, else (a slice costs about what starting a
    /// child does, and a small `logMaxSize` under a flood would start
    /// hundreds a second) or when no child can be started, the loop does,
    /// a slice per `step`.
    pub fn push(&mut self, file: File) {
        if file.metadata().is_ok_and(|m| m.len() > FREE_STEP) {
            if let Err(file) = hand_off(file) {
                self.keep(file);
            }
        } else {
            self.keep(file);
        }
    }

    /// Keeps `file` to be freed a slice per `step`.
    fn keep(&mut self, file: File) {
        let len = file.metadata().map_or(0, |m| m.len());
        if self.files.len() >= MAX_DOOMED {
            self.files.remove(0);
        }
        self.files.push((file, len));
    }

    /// Frees up to `FREE_STEP` bytes of the oldest file; closes it once
    /// empty. Returns whether more is left to free.
    pub fn step(&mut self) -> bool {
        if let Some((file, len)) = self.files.first_mut() {
            *len = len.saturating_sub(FREE_STEP);
            if *len == 0 || file.set_len(*len).is_err() {
                self.files.remove(0);
            }
        }
        !self.files.is_empty()
    }

    /// Whether a file waits to be freed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` through `cut` the way a sink does and returns the
    /// files written, oldest first.
    fn simulate(max: u64, chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut files = vec![Vec::new()];
        for chunk in chunks {
            let mut data: &[u8] = chunk;
            while !data.is_empty() {
                let cur = files.last().unwrap();
                let at_start = cur.last().is_none_or(|&b| b == b'\n');
                match cut(cur.len() as u64, max, at_start, data) {
                    Cut::Write(n) => {
                        assert!(n > 0);
                        files.last_mut().unwrap().extend(&data[..n]);
                        data = &data[n..];
                    }
                    Cut::Rotate => files.push(Vec::new()),
                }
            }
        }
        files
    }

    #[test]
    fn rotates_only_at_line_boundaries() {
        let mut all = Vec::new();
        for i in 0..2000 {
            all.extend(format!("line {i:05} {}\n", "x".repeat(i % 40)).as_bytes());
        }
        for chunk in [1usize, 7, 64, 4096, 100_000] {
            let chunks: Vec<&[u8]> = all.chunks(chunk).collect();
            let files = simulate(1000, &chunks);
            assert!(files.len() > 50, "{}", files.len());
            for f in &files {
                // A line that had started below the limit when its first
                // bytes arrived is finished in its file.
                assert!(f.len() <= 1000 + 60, "file of {} bytes", f.len());
                assert_eq!(f.last(), Some(&b'\n'), "ends in a newline");
            }
            assert_eq!(files.concat(), all, "nothing lost or reordered");
        }
    }

    #[test]
    fn a_line_longer_than_max_takes_a_file_of_its_own() {
        let long = [b'z'; 300];
        let mut data = b"short\n".to_vec();
        data.extend(long);
        data.extend(b"\nafter\n");
        let files = simulate(100, &[&data]);
        assert_eq!(files.len(), 3);
        assert_eq!(files[0], b"short\n");
        assert_eq!(files[1].len(), 301);
        assert_eq!(files[2], b"after\n");
    }

    #[test]
    fn a_line_under_way_is_finished_in_its_file() {
        let files = simulate(10, &[b"abcdefgh", b"ijklmn\nop\n"]);
        assert_eq!(files, vec![b"abcdefghijklmn\n".to_vec(), b"op\n".to_vec()]);
    }

    #[test]
    fn last_line_without_newline_stays_as_written() {
        let files = simulate(10, &[b"0123456\n", b"abc"]);
        assert_eq!(files, vec![b"0123456\n".to_vec(), b"abc".to_vec()]);
    }

    #[test]
    fn shifts_the_chain_and_drops_the_oldest() {
        let dir = std::env::temp_dir().join(format!("tm-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.log");
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        let mut doomed = 0;
        for g in 0..5 {
            std::fs::write(&path, format!("gen {g}\n")).unwrap();
            doomed += usize::from(shift(&path, 3).unwrap().is_some());
        }
        assert_eq!(doomed, 2, "gen 0 and gen 1 were taken out, open");
        assert_eq!(read(path.clone()), None);
        assert_eq!(read(backup_path(&path, 1)).as_deref(), Some("gen 4\n"));
        assert_eq!(read(backup_path(&path, 2)).as_deref(), Some("gen 3\n"));
        assert_eq!(read(backup_path(&path, 3)).as_deref(), Some("gen 2\n"));
        assert_eq!(read(backup_path(&path, 4)), None);
        std::fs::write(&path, "only\n").unwrap();
        shift(&path, 0).unwrap();
        assert_eq!(read(path.clone()), None);
        assert!(
            shift(&path, 0).unwrap().is_none(),
            "nothing to remove is fine"
        );
        assert!(shift(&path, 2).is_err(), "no current file to move");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sink_rotates_its_file_at_line_boundaries() {
        use crate::logs::sink::Sink;
        let dir = std::env::temp_dir().join(format!("tm-rotsink-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.log");
        std::fs::write(&path, "from before\n").unwrap();
        let mut sink = Sink::open(&path).unwrap();
        sink.set_rotation(Some(Rotation {
            max: 500,
            backups: 100,
        }));
        let mut all = b"from before\n".to_vec();
        for i in 0..1000 {
            all.extend(format!("{i} {}\n", "-".repeat(i % 30)).as_bytes());
        }
        for chunk in all[12..].chunks(37) {
            assert!(sink.write(chunk).is_none());
        }
        let mut joined = Vec::new();
        let mut n = 100;
        while n > 0 {
            if let Ok(b) = std::fs::read(backup_path(&path, n)) {
                assert!(b.len() <= 500 + 40 && b.ends_with(b"\n"));
                joined.extend(b);
            }
            n -= 1;
        }
        joined.extend(std::fs::read(&path).unwrap());
        assert_eq!(joined, all, "every byte once, in order");
        assert!(backup_path(&path, 20).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A fresh directory with `x.log` and a `x.log.1` of `size` bytes,
    /// then one shift with one backup: the old `.1`, taken out, open.
    fn backup_taken_out(name: &str, size: usize) -> (PathBuf, PathBuf, File) {
        let dir = std::env::temp_dir().join(format!("tm-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.log");
        std::fs::write(backup_path(&path, 1), vec![b'x'; size]).unwrap();
        std::fs::write(&path, b"new\n").unwrap();
        let file = shift(&path, 1).unwrap().expect("the old .1, open");
        (dir, path, file)
    }

    #[test]
    fn doomed_files_are_freed_a_slice_at_a_time() {
        let (dir, path, file) = backup_taken_out("doomed", 3 << 20);
        assert_eq!(std::fs::read(backup_path(&path, 1)).unwrap(), b"new\n");
        let probe = file.try_clone().unwrap();
        let mut d = Doomed::default();
        d.keep(file);
        assert!(d.step());
        assert_eq!(probe.metadata().unwrap().len(), 2 << 20);
        assert!(d.step());
        assert!(!d.step(), "3 MiB in three steps");
        assert!(d.is_empty());
        // A backup below a gap in the chain stays: it is not freed.
        std::fs::write(backup_path(&path, 3), b"kept\n").unwrap();
        std::fs::remove_file(backup_path(&path, 1)).unwrap();
        std::fs::write(&path, b"newer\n").unwrap();
        assert!(shift(&path, 3).unwrap().is_none());
        assert_eq!(std::fs::read(backup_path(&path, 3)).unwrap(), b"kept\n");
        assert_eq!(std::fs::read(backup_path(&path, 1)).unwrap(), b"newer\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The inode numbers of deleted files this process has open.
    fn deleted_open() -> Vec<String> {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|l| l.display().to_string())
            .filter(|l| l.ends_with(" (deleted)"))
            .collect()
    }

    #[test]
    fn a_doomed_file_is_handed_to_a_child_that_frees_it() {
        let (dir, path, file) = backup_taken_out("handoff", 1 << 20);
        let name = format!("{} (deleted)", backup_path(&path, 1).display());
        assert!(deleted_open().contains(&name));
        // A file of one slice or less stays with the loop: one step frees it.
        std::fs::write(dir.join("small"), b"small\n").unwrap();
        let small = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("small"))
            .unwrap();
        std::fs::remove_file(dir.join("small")).unwrap();
        let mut d = Doomed::default();
        d.push(small);
        assert!(!d.is_empty());
        assert!(!d.step(), "freed in one step");
        let pid = hand_off(file).expect("a child started");
        assert!(!deleted_open().contains(&name), "not held here any more");
        // The child exits at once, and with it the last reference.
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        assert!(status.is_ok(), "{status:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
