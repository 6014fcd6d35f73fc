//! Log files shared by processes. Every configured path has one `Sink`,
//! whoever writes to it (the instances of a task writing one file, two
//! tasks naming the same file): one open file, one size count, so a shared
//! file rotates once, not once per writer, and SIGUSR1 reopens it once.
//!
//! A writer (one stream of one process) holds a `Handle`. While a file has
//! one writer, bytes go to it as they arrive. While several share it, each
//! writer's unfinished last line waits in its handle until its newline
//! comes, so lines of different writers never mix within a line. A line
//! that cannot wait (longer than `MAX_TAIL`, or the last one of a stream
//! that ended without a newline) is written as it is, and the next line of
//! another writer then starts on a line of its own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use slab::Slab;

use super::rotate::Rotation;
use super::sink::{OpenError, Sink, WriteReport};
use crate::console::Stream;

/// The longest unfinished line held back for a shared file.
pub const MAX_TAIL: usize = 16 * 1024;

/// Who writes: one stream of one process, as a number unique among the
/// live writers (e.g. the process's key and the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer(pub u64);

/// One writer's use of a sink.
#[derive(Debug)]
pub struct Handle {
    key: usize,
    writer: Writer,
    /// The writer's unfinished line, while the file is shared.
    tail: Vec<u8>,
}

#[derive(Debug)]
struct Slot {
    sink: Sink,
    users: usize,
    /// The writer in the middle of whose line the file ends.
    open_by: Option<Writer>,
}

impl Slot {
    /// Writes `bytes` for `writer`, ending another writer's unfinished line
    /// first.
    fn write(&mut self, writer: Writer, bytes: &[u8]) -> Option<WriteReport> {
        if bytes.is_empty() {
            return None;
        }
        let mut report = None;
        if self.open_by.is_some_and(|w| w != writer) {
            report = self.sink.write(b"\n");
        }
        self.open_by = (bytes.last() != Some(&b'\n')).then_some(writer);
        let r = self.sink.write(bytes);
        report.or(r)
    }
}

/// Every open log file, by path.
#[derive(Debug, Default)]
pub struct Sinks {
    slots: Slab<Slot>,
    by_path: HashMap<PathBuf, usize>,
}

impl Sinks {
    /// A handle on the log at `path` for `writer`, opening it if nobody
    /// has it open yet. Fails like `Sink::open`.
    pub fn acquire(&mut self, path: &Path, writer: Writer) -> Result<Handle, OpenError> {
        let key = match self.by_path.get(path) {
            Some(&k) => k,
            None => {
                let sink = Sink::open(path)?;
                let k = self.slots.insert(Slot {
                    sink,
                    users: 0,
                    open_by: None,
                });
                self.by_path.insert(path.to_path_buf(), k);
                k
            }
        };
        self.slots[key].users += 1;
        Ok(Handle {
            key,
            writer,
            tail: Vec::new(),
        })
    }

    /// Gives a handle back: its unfinished line is written, and the file
    /// is closed once nobody holds it.
    pub fn release(&mut self, mut h: Handle) -> Option<WriteReport> {
        let report = self.finish(&mut h);
        let slot = &mut self.slots[h.key];
        slot.users -= 1;
        if slot.users == 0 {
            let slot = self.slots.remove(h.key);
            self.by_path.remove(slot.sink.path());
        }
        report
    }

    /// The path of `h`'s log.
    pub fn path(&self, h: &Handle) -> &Path {
        self.slots[h.key].sink.path()
    }

    /// The supervisor stream `h`'s log forwards to, if it is one.
    pub fn forwards_to(&self, h: &Handle) -> Option<Stream> {
        self.slots[h.key].sink.forwards_to()
    }

    /// Sets the rotation of `h`'s log (shared by every writer of it).
    pub fn set_rotation(&mut self, h: &Handle, rotation: Option<Rotation>) {
        let sink = &mut self.slots[h.key].sink;
        if sink.rotation() != rotation {
            sink.set_rotation(rotation);
        }
    }

    /// Appends `data` from `h`'s writer (see the module doc).
    pub fn write(&mut self, h: &mut Handle, data: &[u8]) -> Option<WriteReport> {
        let slot = &mut self.slots[h.key];
        if slot.users == 1 && h.tail.is_empty() {
            return slot.write(h.writer, data);
        }
        let Some(i) = data.iter().rposition(|&b| b == b'\n') else {
            h.tail.extend_from_slice(data);
            if h.tail.len() < MAX_TAIL {
                return None;
            }
            let report = slot.write(h.writer, &h.tail);
            h.tail = Vec::new();
            return report;
        };
        let (lines, rest) = data.split_at(i + 1);
        let report = if h.tail.is_empty() {
            slot.write(h.writer, lines)
        } else {
            h.tail.extend_from_slice(lines);
            let r = slot.write(h.writer, &h.tail);
            h.tail.clear();
            r
        };
        h.tail.extend_from_slice(rest);
        if h.tail.is_empty() && h.tail.capacity() > 0 {
            h.tail = Vec::new();
        }
        report
    }

    /// The writer's stream ended: its unfinished line is written as it is.
    pub fn finish(&mut self, h: &mut Handle) -> Option<WriteReport> {
        let tail = std::mem::take(&mut h.tail);
        self.slots[h.key].write(h.writer, &tail)
    }

    /// Reopens every file (SIGUSR1, SIGUSR2); the failures, by path.
    pub fn reopen_all(&mut self) -> Vec<(PathBuf, OpenError)> {
        let mut failed = Vec::new();
        for (_, slot) in self.slots.iter_mut() {
            if let Err(e) = slot.sink.reopen() {
                failed.push((slot.sink.path().to_path_buf(), e));
            }
            slot.open_by = None;
        }
        failed
    }

    /// Frees a slice of every file rotation took out; returns whether more
    /// is left (then the loop comes back without sleeping).
    pub fn free_step(&mut self) -> bool {
        let mut more = false;
        for (_, slot) in self.slots.iter_mut() {
            if slot.sink.freeing() {
                more |= slot.sink.free_step();
            }
        }
        more
    }

    /// How many files are open.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no file is open.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::rotate;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tm-shared-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn one_sink_per_path_closed_with_its_last_user() {
        let d = dir("users");
        let p = d.join("x.log");
        let mut t = Sinks::default();
        let a = t.acquire(&p, Writer(1)).unwrap();
        let b = t.acquire(&p, Writer(2)).unwrap();
        let c = t.acquire(&d.join("y.log"), Writer(3)).unwrap();
        assert_eq!(t.len(), 2);
        t.release(a);
        assert_eq!(t.len(), 2);
        t.release(b);
        t.release(c);
        assert!(t.is_empty());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_sole_writer_writes_as_bytes_arrive() {
        let d = dir("sole");
        let p = d.join("x.log");
        let mut t = Sinks::default();
        let mut a = t.acquire(&p, Writer(1)).unwrap();
        t.write(&mut a, b"prompt: ");
        assert_eq!(std::fs::read(&p).unwrap(), b"prompt: ");
        t.write(&mut a, b"yes\n");
        t.release(a);
        assert_eq!(std::fs::read(&p).unwrap(), b"prompt: yes\n");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn shared_writers_never_mix_within_a_line() {
        let d = dir("mix");
        let p = d.join("x.log");
        let mut t = Sinks::default();
        let mut a = t.acquire(&p, Writer(1)).unwrap();
        let mut b = t.acquire(&p, Writer(2)).unwrap();
        t.write(&mut a, b"a1\na2-he");
        t.write(&mut b, b"b1-he");
        t.write(&mut a, b"ad\n");
        t.write(&mut b, b"ad\nb2\n");
        t.write(&mut a, b"no newline");
        t.release(a);
        t.write(&mut b, b"b3\n");
        t.release(b);
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "a1\na2-head\nb1-head\nb2\nno newline\nb3\n"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_shared_file_rotates_once() {
        let d = dir("rotate");
        let p = d.join("x.log");
        let mut t = Sinks::default();
        let r = Some(Rotation {
            max: 100,
            backups: 3,
        });
        let mut hs: Vec<Handle> = (0..4).map(|i| t.acquire(&p, Writer(i)).unwrap()).collect();
        for h in &hs {
            t.set_rotation(h, r);
        }
        // Each writer writes 10-byte lines; 4 x 6 lines = 240 bytes.
        for n in 0..6 {
            for (i, h) in hs.iter_mut().enumerate() {
                t.write(h, format!("w{i} line{n}\n").as_bytes());
            }
        }
        for h in hs {
            t.release(h);
        }
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let files = [
            read(rotate::backup_path(&p, 2)),
            read(rotate::backup_path(&p, 1)),
            read(p.clone()),
        ];
        assert!(
            read(rotate::backup_path(&p, 3)).is_empty(),
            "only 2 rotations"
        );
        for f in &files {
            assert!(f.len() <= 100 && f.ends_with('\n'), "{f:?}");
        }
        assert_eq!(files.concat().lines().count(), 24, "{files:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
