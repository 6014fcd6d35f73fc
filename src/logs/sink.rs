//! A log file that child output is appended to, byte for byte. Opened with
//! O_APPEND (several processes may share one file), reopened on SIGUSR1 for
//! logrotate. A write error is reported once, not per line, and writing is
//! tried again with the next output.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// An open log file.
#[derive(Debug)]
pub struct Sink {
    path: PathBuf,
    file: File,
    failing: bool,
}

/// Opens `path` for appending, creating it (mode 0644 less the umask).
pub fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

impl Sink {
    /// Opens the file; fails with the OS error.
    pub fn open(path: &Path) -> io::Result<Sink> {
        Ok(Sink {
            path: path.to_path_buf(),
            file: open_append(path)?,
            failing: false,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `bytes`. Returns the error only for the first failure of a
    /// run of failures, so the caller reports it once.
    pub fn write(&mut self, bytes: &[u8]) -> Option<io::Error> {
        match self.file.write_all(bytes) {
            Ok(()) => {
                self.failing = false;
                None
            }
            Err(e) if !self.failing => {
                self.failing = true;
                Some(e)
            }
            Err(_) => None,
        }
    }

    /// Opens the path again (after logrotate moved the file away). On
    /// failure the old file stays in use.
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = open_append(&self.path)?;
        self.failing = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_bytes_and_reopens() {
        let dir = std::env::temp_dir().join(format!("tm-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
        assert!(s.write(b"x").is_some());
        assert!(s.write(b"y").is_none(), "second failure is silent");
    }
}
