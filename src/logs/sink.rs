//! Where a process's configured `stdout`/`stderr` goes: a log file that
//! output is appended to byte for byte, `/dev/null` (discarded), or
//! `/dev/stdout` / `/dev/stderr` (forwarded by the supervisor as
//! `NAME | line`, once).
//!
//! A log file is opened with `O_APPEND|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY|
//! O_CLOEXEC` after its missing parent directories are made (0755): a
//! symlink planted at the path is refused, never followed, and no open ever
//! waits (a FIFO without reader, a device). Anything but a regular file is
//! refused with what it is. The same rules hold when the file is reopened
//! (SIGUSR1/SIGUSR2, for logrotate).
//!
//! Writes keep line boundaries: when a write fails (disk full) the rest of
//! that line and of the chunk is dropped, later output is dropped up to the
//! next line start, and once writing works again the next line starts on a
//! line of its own. The caller is told once when a run of failures starts
//! (why) and once when it ends (how many bytes were lost).
//!
//! With a `Rotation` (`logMaxSize`, `logBackups`) the sink rotates its file
//! itself, at a line boundary (see `rotate.rs`): the size is counted, not
//! asked of the filesystem, so a write costs one comparison more and the
//! renames happen once per `max` bytes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::rotate::{self, Cut, Rotation};
use crate::console::Stream;

/// What a configured output path means.
#[derive(Debug)]
enum Target {
    /// A regular file, appended to.
    File(File),
    /// `/dev/null`: nothing is written.
    Discard,
    /// `/dev/stdout` or `/dev/stderr`: the supervisor's own stream.
    Forward(Stream),
}

/// An open output destination.
#[derive(Debug)]
pub struct Sink {
    path: PathBuf,
    target: Target,
    /// A write failed: what failed, and the bytes lost since.
    failing: Option<(io::Error, u64)>,
    /// Drop bytes up to and including the next newline (the rest of a line
    /// whose head was written or lost).
    skip_line: bool,
    /// The file does not end with a newline because a line was cut: the
    /// next line written starts with one.
    torn: bool,
    /// Rotate the file past a size.
    rotation: Option<Rotation>,
    /// Bytes in the current file, counted since it was opened.
    size: u64,
    /// The file's last byte is not a newline: a line is under way.
    line_open: bool,
    /// After a failed rotation, the next try waits until the file is this
    /// big (one more `max`), so a failure costs nothing per write.
    retry_at: u64,
    /// Rotated-out files still to be freed (`free_step`).
    doomed: rotate::Doomed,
}

/// What a write has to report.
#[derive(Debug)]
pub enum WriteReport {
    /// The first failure of a run: why.
    Failed(io::Error),
    /// Writing works again after a run of failures.
    Resumed {
        /// Bytes of output that did not reach the file.
        lost: u64,
        /// The error that started the run.
        why: io::Error,
    },
    /// The file could not be rotated; it grows on, and rotation is tried
    /// again after another `max` bytes.
    RotateFailed(String),
}

/// Why a path cannot be used as a log: one line, without the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenError {
    pub reason: String,
    /// Trying again later may work (out of files or memory).
    pub transient: bool,
}

fn os_error(err: &io::Error) -> OpenError {
    let errno = err.raw_os_error().unwrap_or(0);
    OpenError {
        reason: if errno != 0 {
            nix::errno::Errno::from_raw(errno).desc().to_string()
        } else {
            err.to_string()
        },
        transient: matches!(errno, libc::EMFILE | libc::ENFILE | libc::ENOMEM),
    }
}

fn refused(reason: &str) -> OpenError {
    OpenError {
        reason: reason.to_string(),
        transient: false,
    }
}

/// What a file type is called in a refusal.
fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "is a symbolic link (not followed)"
    } else if ft.is_dir() {
        "is a directory"
    } else if ft.is_fifo() {
        "is a FIFO (named pipe), not a regular file"
    } else if ft.is_socket() {
        "is a socket, not a regular file"
    } else if ft.is_char_device() || ft.is_block_device() {
        "is a device, not a regular file"
    } else {
        "is not a regular file"
    }
}

/// The special meaning of `path`, if it has one.
fn special(path: &Path) -> Option<Target> {
    match path.as_os_str().as_encoded_bytes() {
        b"/dev/null" => Some(Target::Discard),
        b"/dev/stdout" | b"/dev/fd/1" | b"/proc/self/fd/1" => Some(Target::Forward(Stream::Out)),
        b"/dev/stderr" | b"/dev/fd/2" | b"/proc/self/fd/2" => Some(Target::Forward(Stream::Err)),
        _ => None,
    }
}

/// Opens `path` for appending as a log file: missing parent directories
/// are made (0755), the file is created (0644 less the umask) if missing,
/// and anything but a regular file (a symlink, FIFO, socket, device or
/// directory) is refused. Never blocks.
pub fn open_append(path: &Path) -> Result<File, OpenError> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| os_error(&e))?;
    }
    // Looked at first, so a FIFO or device is never even opened.
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => return Err(refused(kind_of(m.file_type()))),
        _ => {}
    }
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // Swapped in since the look: say what is there now.
            Some(libc::ELOOP | libc::ENXIO | libc::EISDIR | libc::EWOULDBLOCK) => {
                match std::fs::symlink_metadata(path) {
                    Ok(m) if !m.file_type().is_file() => refused(kind_of(m.file_type())),
                    _ => os_error(&e),
                }
            }
            _ => os_error(&e),
        })?;
    // The path may have been swapped between the look and the open.
    let m = file.metadata().map_err(|e| os_error(&e))?;
    if !m.file_type().is_file() {
        return Err(refused(kind_of(m.file_type())));
    }
    Ok(file)
}

/// Why `path` certainly cannot be opened as a log, without creating
/// anything: it is not a regular file, or the nearest existing directory
/// above it is not a directory or cannot be written to. For `--check`.
pub fn problem(path: &Path) -> Option<String> {
    if special(path).is_some() {
        return None;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => {
            return writable(path).err();
        }
        Ok(m) => return Some(kind_of(m.file_type()).to_string()),
        Err(_) => {}
    }
    let mut dir = path.parent();
    while let Some(d) = dir {
        let d = if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        };
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => {
                return writable(d).err().map(|e| format!("{}: {e}", d.display()));
            }
            Ok(_) => return Some(format!("{} is not a directory", d.display())),
            Err(_) => dir = d.parent(),
        }
    }
    None
}

/// Whether we may write to `path` (access(2) with W_OK: it also knows a
/// read-only filesystem).
fn writable(path: &Path) -> Result<(), String> {
    rustix::fs::access(path, rustix::fs::Access::WRITE_OK).map_err(|e| match e {
        rustix::io::Errno::INVAL => "the path contains a NUL byte".to_string(),
        e => nix::errno::Errno::from_raw(e.raw_os_error())
            .desc()
            .to_string(),
    })
}

fn open_target(path: &Path) -> Result<Target, OpenError> {
    match special(path) {
        Some(t) => Ok(t),
        None => open_append(path).map(Target::File),
    }
}

impl Sink {
    /// Opens the destination; fails with a reason naming what is wrong.
    pub fn open(path: &Path) -> Result<Sink, OpenError> {
        let target = open_target(path)?;
        Ok(Sink {
            path: path.to_path_buf(),
            size: file_size(&target),
            target,
            failing: None,
            skip_line: false,
            torn: false,
            rotation: None,
            line_open: false,
            retry_at: 0,
            doomed: rotate::Doomed::default(),
        })
    }

    /// Rotates the file past `rotation.max` from now on (`None`: never).
    pub fn set_rotation(&mut self, rotation: Option<Rotation>) {
        self.rotation = rotation.filter(|r| r.max > 0);
        self.retry_at = 0;
    }

    /// Frees a slice of a file rotation took out (the loop calls this once
    /// per turn while `freeing`). Returns whether more is left.
    pub fn free_step(&mut self) -> bool {
        self.doomed.step()
    }

    /// Whether a rotated-out file waits to be freed.
    pub fn freeing(&self) -> bool {
        !self.doomed.is_empty()
    }

    /// The rotation in force.
    pub fn rotation(&self) -> Option<Rotation> {
        self.rotation
    }

    /// The configured path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The supervisor stream this destination forwards to
    /// (`/dev/stdout`, `/dev/stderr`), if it is one.
    pub fn forwards_to(&self) -> Option<Stream> {
        match self.target {
            Target::Forward(s) => Some(s),
            Target::File(_) | Target::Discard => None,
        }
    }

    /// Appends `bytes`, keeping line boundaries (see the module doc), and
    /// rotates the file at a line boundary when it would grow past its
    /// limit. Reports the start and the end of a run of failures, once
    /// each, and a failed rotation.
    pub fn write(&mut self, mut bytes: &[u8]) -> Option<WriteReport> {
        let Some(r) = self.rotation else {
            return self.append(bytes);
        };
        let mut report = None;
        while !bytes.is_empty() {
            let max = r.max.max(self.retry_at);
            match rotate::cut(self.size, max, !self.line_open, bytes) {
                Cut::Write(n) => {
                    let rep = self.append(&bytes[..n]);
                    report = report.or(rep);
                    bytes = &bytes[n..];
                }
                Cut::Rotate => {
                    if let Err(e) = self.rotate(r) {
                        self.retry_at = self.size + r.max;
                        report = report.or(Some(WriteReport::RotateFailed(e)));
                    }
                }
            }
        }
        report
    }

    /// Moves the file to `path.1` (and so on) and starts a new one. On
    /// failure the current file stays in use.
    fn rotate(&mut self, r: Rotation) -> Result<(), String> {
        let doomed = rotate::shift(&self.path, r.backups).map_err(|e| os_error(&e).reason)?;
        if let Some(f) = doomed {
            self.doomed.push(f);
        }
        // The old file is gone from the path: whatever happens, the next
        // bytes must not go to it.
        let file = open_append(&self.path).map_err(|e| e.reason)?;
        self.target = Target::File(file);
        self.size = 0;
        self.line_open = false;
        self.torn = false;
        self.retry_at = 0;
        Ok(())
    }

    /// `write` without rotation.
    fn append(&mut self, mut bytes: &[u8]) -> Option<WriteReport> {
        if !matches!(self.target, Target::File(_)) {
            return None;
        }
        if self.skip_line {
            match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.skip_line = false;
                    self.lost(i as u64 + 1);
                    bytes = &bytes[i + 1..];
                }
                None => {
                    self.lost(bytes.len() as u64);
                    return None;
                }
            }
        }
        if bytes.is_empty() {
            return None;
        }
        let newline: &[u8] = if self.torn { b"\n" } else { b"" };
        let mut parts = [newline, bytes];
        let Target::File(file) = &mut self.target else {
            return None;
        };
        match write_parts(file, &mut parts) {
            Ok(()) => {
                self.size += (newline.len() + bytes.len()) as u64;
                self.line_open = bytes.last() != Some(&b'\n');
                self.torn = false;
                let (why, lost) = self.failing.take()?;
                Some(WriteReport::Resumed { lost, why })
            }
            Err((e, done)) => {
                self.size += done as u64;
                // `done` counts the newline too; what of `bytes` got out.
                let written = done.saturating_sub(newline.len());
                let rest = &bytes[written..];
                if written > 0 {
                    self.torn = bytes[written - 1] != b'\n';
                } else if done > 0 {
                    self.torn = false;
                }
                self.line_open = self.torn;
                // Whole lines of this chunk are dropped, and the rest of
                // its last line when it comes.
                self.skip_line = rest.last() != Some(&b'\n');
                let lost = rest.len() as u64;
                match &mut self.failing {
                    Some((_, n)) => {
                        *n += lost;
                        None
                    }
                    None => {
                        let why = match e.raw_os_error() {
                            Some(n) => io::Error::from_raw_os_error(n),
                            None => io::Error::from(e.kind()),
                        };
                        self.failing = Some((why, lost));
                        Some(WriteReport::Failed(e))
                    }
                }
            }
        }
    }

    /// Counts bytes dropped during a run of failures.
    fn lost(&mut self, n: u64) {
        if let Some((_, lost)) = &mut self.failing {
            *lost += n;
        }
    }

    /// Opens the path again (after logrotate moved the file away), with
    /// the same rules as the first open. On failure the old file stays in
    /// use.
    pub fn reopen(&mut self) -> Result<(), OpenError> {
        if let Target::File(_) = self.target {
            self.target = Target::File(open_append(&self.path)?);
            // A new file starts clean; an old torn line stays in the old one.
            self.torn = false;
            self.line_open = false;
            self.size = file_size(&self.target);
        }
        Ok(())
    }
}

/// The notice for a write report of process `name`'s output to `path`.
pub fn describe(name: &str, path: &Path, report: &WriteReport) -> String {
    let why = |e: &io::Error| match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    };
    match report {
        WriteReport::Failed(e) => format!(
            "cannot write output of '{name}' to {}: {}; its lines are dropped until writing works again",
            path.display(),
            why(e)
        ),
        WriteReport::Resumed { lost, why: e } => format!(
            "output of '{name}' reaches {} again; {lost} bytes were lost ({}), whole lines from the one that failed",
            path.display(),
            why(e)
        ),
        WriteReport::RotateFailed(why) => format!(
            "cannot rotate {} (output of '{name}'): {why}; it grows on",
            path.display()
        ),
    }
}

/// The size of an open log file (0 for what is not a file).
fn file_size(target: &Target) -> u64 {
    match target {
        Target::File(f) => f.metadata().map_or(0, |m| m.len()),
        Target::Discard | Target::Forward(_) => 0,
    }
}

/// Writes every part in turn; on failure, the error and how many bytes of
/// all the parts were written.
fn write_parts(file: &mut File, parts: &mut [&[u8]]) -> Result<(), (io::Error, usize)> {
    let mut done = 0;
    for part in parts.iter_mut() {
        while !part.is_empty() {
            match file.write(part) {
                Ok(0) => return Err((io::Error::from(io::ErrorKind::WriteZero), done)),
                Ok(n) => {
                    done += n;
                    *part = &part[n..];
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err((e, done)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tm-sink-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn appends_bytes_and_reopens() {
        let dir = dir("append");
        let path = dir.join("out.log");
        std::fs::write(&path, b"old\n").unwrap();
        let mut s = Sink::open(&path).unwrap();
        assert!(s.write(b"a\nno newline").is_none());
        assert_eq!(std::fs::read(&path).unwrap(), b"old\na\nno newline");
        std::fs::rename(&path, dir.join("out.log.1")).unwrap();
        s.reopen().unwrap();
        assert!(s.write(b"fresh").is_none());
        assert_eq!(std::fs::read(&path).unwrap(), b"fresh");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reports_a_failure_once() {
        let Ok(mut s) = Sink::open(Path::new("/dev/full")) else {
            return;
        };
        assert!(matches!(s.write(b"x"), Some(WriteReport::Failed(_))));
        assert!(s.write(b"y").is_none(), "second failure is silent");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file_and_makes_parents() {
        let dir = dir("kinds");
        std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
        let e = Sink::open(&dir.join("link")).unwrap_err();
        assert!(e.reason.contains("symbolic link"), "{e:?}");
        let e = Sink::open(&dir).unwrap_err();
        assert!(e.reason.contains("directory"), "{e:?}");
        nix::unistd::mkfifo(&dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = Sink::open(&dir.join("fifo")).unwrap_err();
        assert!(e.reason.contains("FIFO"), "{e:?}");
        let deep = dir.join("a/b/c.log");
        Sink::open(&deep).unwrap();
        assert!(deep.is_file());
        assert!(Sink::open(Path::new("/dev/null")).is_ok());
        assert_eq!(
            Sink::open(Path::new("/dev/stderr")).unwrap().forwards_to(),
            Some(Stream::Err)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
