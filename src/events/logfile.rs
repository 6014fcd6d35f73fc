//! The supervisor's own log file (`logfile:` / `--logfile`): one line per
//! event, gathered during a loop turn and written together at its end. It
//! is a `logs::sink::Sink`, so it opens like a task's log file (no symlink
//! followed, never blocking, parents made) and reopens on SIGUSR1/SIGUSR2;
//! with the top-level `logMaxSize` it rotates (`logs::rotate`) between
//! lines. A failed write loses that turn's lines and is reported once per
//! run of failures; supervision never waits for the disk. It never holds
//! process output.

use std::io;
use std::path::Path;

use super::record::Record;
use crate::console::Stream;
use crate::logs::rotate::Rotation;
use crate::logs::sink::{OpenError, Sink, WriteReport};

/// The log file and the lines waiting for the end of the loop turn.
#[derive(Debug)]
pub struct LogFile {
    sink: Sink,
    pending: Vec<u8>,
}

/// What `flush` has to tell.
#[derive(Debug)]
pub enum Flushed {
    /// Nothing to tell.
    Done,
    /// A write or a rotation failed, or writing works again.
    Report(WriteReport),
    /// The path is `/dev/stdout` or `/dev/stderr`: these lines go there.
    Forward(Stream, Vec<u8>),
}

impl LogFile {
    /// Opens (creates) `path` for appending; `rotation` from the top-level
    /// `logMaxSize`/`logBackups`. Fails with the reason.
    pub fn open(path: &Path, rotation: Option<Rotation>) -> Result<LogFile, OpenError> {
        let mut sink = Sink::open(path)?;
        sink.set_rotation(rotation);
        Ok(LogFile {
            sink,
            pending: Vec::with_capacity(4096),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.sink.path()
    }

    /// Queues the line of `record` for the next `flush`.
    pub fn push(&mut self, record: &Record) {
        record.write_log_line(&mut self.pending);
    }

    /// Whether lines wait for `flush`.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the queued lines with one write (two around a rotation,
    /// which the sink does between lines).
    pub fn flush(&mut self) -> Flushed {
        if self.pending.is_empty() {
            return Flushed::Done;
        }
        if let Some(stream) = self.sink.forwards_to() {
            return Flushed::Forward(stream, std::mem::take(&mut self.pending));
        }
        let told = self.sink.write(&self.pending);
        self.pending.clear();
        match told {
            Some(report) => Flushed::Report(report),
            None => Flushed::Done,
        }
    }

    /// Rotates per `rotation` from now on (a reload changed the top-level
    /// `logMaxSize` or `logBackups`).
    pub fn set_rotation(&mut self, rotation: Option<Rotation>) {
        self.sink.set_rotation(rotation);
    }

    /// Frees a slice of a file rotation took out (once per loop turn while
    /// `freeing`). Returns whether more is left.
    pub fn free_step(&mut self) -> bool {
        self.sink.free_step()
    }

    /// Whether a rotated-out file waits to be freed.
    pub fn freeing(&self) -> bool {
        self.sink.freeing()
    }

    /// Opens the path again (logrotate moved the file). On failure the old
    /// file stays in use.
    pub fn reopen(&mut self) -> Result<(), OpenError> {
        self.sink.reopen()
    }
}

/// The OS's words for `err` (`No space left on device`), without the
/// `(os error 28)` that `io::Error` adds.
pub fn reason(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::record::{Level, What};
    use std::time::SystemTime;

    fn msg(text: &str) -> Record {
        Record::supervisor(
            SystemTime::now(),
            What::Message {
                level: Level::Info,
                text: text.into(),
            },
        )
    }

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("tm-logfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn lines_wait_for_flush_and_go_out_together() {
        let d = dir("batch");
        let path = d.join("taskmaster.log");
        let mut f = LogFile::open(&path, None).unwrap();
        f.push(&msg("one"));
        f.push(&msg("two"));
        assert!(f.has_pending());
        assert_eq!(std::fs::read(&path).unwrap(), b"", "nothing before flush");
        assert!(matches!(f.flush(), Flushed::Done));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].ends_with(" INFO  one"), "{text}");
        assert!(lines[1].ends_with(" INFO  two"), "{text}");
        assert!(!f.has_pending());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rotates_between_lines_and_keeps_backups() {
        let d = dir("rotate");
        let path = d.join("sup.log");
        let rotation = Rotation {
            max: 200,
            backups: 2,
        };
        let mut f = LogFile::open(&path, Some(rotation)).unwrap();
        let backup = |n| {
            let mut p = path.clone().into_os_string();
            p.push(format!(".{n}"));
            std::path::PathBuf::from(p)
        };
        for i in 0..30 {
            f.push(&msg(&format!("event {i:02}")));
            if i % 4 == 0 {
                assert!(matches!(f.flush(), Flushed::Done));
            }
        }
        assert!(matches!(f.flush(), Flushed::Done));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let files = [backup(2), backup(1), path.clone()];
        let mut last = None;
        for p in &files {
            let text = read(p);
            assert!(
                text.len() <= 200,
                "{} has {} bytes",
                p.display(),
                text.len()
            );
            assert!(text.is_empty() || text.ends_with('\n'));
            for l in text.lines() {
                let n: u32 = l.rsplit(' ').next().unwrap().parse().unwrap();
                if let Some(prev) = last {
                    assert_eq!(n, prev + 1, "in order, none lost across files");
                }
                last = Some(n);
            }
        }
        assert_eq!(last, Some(29));
        assert!(!backup(3).exists());
        // The files that left the chain are held until freed.
        assert!(f.freeing());
        while f.free_step() {}
        assert!(!f.freeing());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_is_refused() {
        let d = dir("symlink");
        std::fs::write(d.join("target"), "").unwrap();
        std::os::unix::fs::symlink(d.join("target"), d.join("sup.log")).unwrap();
        let err = LogFile::open(&d.join("sup.log"), None).unwrap_err();
        assert!(err.reason.contains("symbolic link"), "{err:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
