//! `logs` and `logs -f`: the kept lines of one process or several merged in
//! arrival order, and followers that get new lines as they arrive. A
//! follower on the control socket streams through its connection's
//! `Outbox` (bounded: a reader that stalls loses lines, counted, never the
//! loop's time or memory); the shell's follower prints above the prompt
//! until Ctrl-C. A process without followers pays one `is_empty` per chunk.

use super::output::Stream as OutStream;
use super::{ReplyTo, Supervisor};
use crate::console::Stream;
use crate::fanout::Fanout;
use crate::logs::ring::{Line, local_time};
use crate::outbox::Flushed;
use crate::shell::command::Streams;

/// Where a follower's lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FollowTo {
    Shell,
    Conn(usize),
}

/// One `logs -f`.
#[derive(Debug)]
pub(super) struct Follower {
    to: FollowTo,
    streams: Streams,
    /// Several processes: lines carry `NAME | `.
    named: bool,
    /// The processes followed (their entries list this follower).
    keys: Vec<usize>,
}

/// The lines of the chunk of output being handled, kept only while its
/// process has followers, already as most followers get them: `[time]
/// line\n`, one after another in one buffer, made as the chunk is cut
/// into lines. The buffers are reused: no allocation per line.
#[derive(Debug, Default)]
pub(super) struct Fresh {
    /// `[time] ` of the lines kept, and the second it shows.
    stamp: Vec<u8>,
    stamp_at: Option<i64>,
    /// The lines as `[time] line\n`.
    plain: Vec<u8>,
    /// Where each line of `plain` ends (just past its newline).
    ends: Vec<usize>,
    /// The lines as `[time] NAME | line\n`, made once per chunk when a
    /// follower of several processes asks for them.
    named: Formatted,
}

/// Lines formatted for a follower: one buffer, each line's end.
#[derive(Debug, Default)]
struct Formatted {
    ready: bool,
    block: Vec<u8>,
    ends: Vec<usize>,
}

impl Fresh {
    /// Keeps one line received at `at` (the same for every line of a
    /// chunk).
    pub(super) fn push(&mut self, at: i64, line: &[u8]) {
        if self.stamp_at != Some(at) {
            self.stamp.clear();
            self.stamp.push(b'[');
            self.stamp.extend_from_slice(local_time(at).as_bytes());
            self.stamp.extend_from_slice(b"] ");
            self.stamp_at = Some(at);
        }
        self.plain.reserve(self.stamp.len() + line.len() + 1);
        self.plain.extend_from_slice(&self.stamp);
        self.plain.extend_from_slice(line);
        self.plain.push(b'\n');
        self.ends.push(self.plain.len());
    }

    /// Whether no line is kept.
    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The second the kept lines were received, if any line is kept.
    pub(super) fn stamped(&self) -> Option<i64> {
        self.stamp_at.filter(|_| !self.is_empty())
    }

    /// Each line's text, without stamp and newline.
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let skip = self.stamp.len();
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let l = &self.plain[start + skip..end - 1];
            start = end;
            l
        })
    }

    /// The lines as `[time] line` (or `[time] NAME | line` with `name`),
    /// each with its newline, in one buffer, and where each ends.
    fn formatted(&mut self, name: Option<&str>) -> (&[u8], &[usize]) {
        let Some(name) = name else {
            return (&self.plain, &self.ends);
        };
        let f = &mut self.named;
        if !f.ready {
            let skip = self.stamp.len();
            let mut start = 0;
            for &end in &self.ends {
                f.block.extend_from_slice(&self.stamp);
                f.block.extend_from_slice(name.as_bytes());
                f.block.extend_from_slice(b" | ");
                f.block.extend_from_slice(&self.plain[start + skip..end]);
                f.ends.push(f.block.len());
                start = end;
            }
            f.ready = true;
        }
        (&f.block, &f.ends)
    }

    fn clear(&mut self) {
        self.plain.clear();
        self.ends.clear();
        self.named.ready = false;
        self.named.block.clear();
        self.named.ends.clear();
        // A burst's buffers are not kept for ever.
        if self.plain.capacity() > 2 << 20 {
            *self = Fresh::default();
        }
    }
}

/// `[time] line` or `[time] NAME | line`; for a terminal (`escape`) with
/// control characters shown as text.
fn format(time: &str, name: Option<&str>, text: &[u8], escape: bool) -> String {
    let text = match escape {
        true => crate::escape::for_terminal(text),
        false => String::from_utf8_lossy(text),
    };
    match name {
        Some(n) => format!("[{time}] {n} | {text}"),
        None => format!("[{time}] {text}"),
    }
}

impl Supervisor {
    /// The last `n` lines of `keys` that `streams` shows, merged in arrival
    /// order; `named` puts each process's name in front; `escape` makes
    /// them safe for a terminal.
    pub(super) fn recent_lines(
        &self,
        keys: &[usize],
        n: usize,
        streams: Streams,
        named: bool,
        escape: bool,
    ) -> String {
        let mut lines: Vec<(&str, Line)> = Vec::new();
        for &k in keys {
            let e = &self.procs[k];
            let name = e.name.as_str();
            lines.extend(
                e.ring
                    .last_where(n, |stderr| streams.shows(stderr))
                    .into_iter()
                    .map(|l| (name, l)),
            );
        }
        lines.sort_by_key(|(_, l)| l.seq);
        let skip = lines.len().saturating_sub(n);
        let text: Vec<String> = lines[skip..]
            .iter()
            .map(|(name, l)| format(&local_time(l.at), named.then_some(*name), &l.text, escape))
            .collect();
        text.join("\n")
    }

    /// Sends `recent` (the reply of `logs`), then every new line of `keys`
    /// to `to` until the client goes away (socket) or Ctrl-C (shell).
    pub(super) fn follow(
        &mut self,
        keys: Vec<usize>,
        streams: Streams,
        named: bool,
        recent: &str,
        to: ReplyTo,
    ) {
        let to = match to {
            ReplyTo::Shell => {
                if !recent.is_empty() {
                    self.say(Stream::Out, recent);
                }
                // The shell stays busy (commands typed meanwhile wait)
                // until Ctrl-C ends the follow.
                FollowTo::Shell
            }
            ReplyTo::Conn(k) => {
                if !self.start_streaming(k) {
                    return;
                }
                let Some(c) = self.conns.get_mut(k) else {
                    return;
                };
                // Written at once as far as the pipe or socket takes it
                // (the queue beside a pipe is small); one line per
                // newline, so a line's own `\r` stays.
                let mut block = recent.as_bytes().to_vec();
                if !block.is_empty() {
                    block.push(b'\n');
                }
                let ends: Vec<usize> = memchr::memchr_iter(b'\n', &block).map(|i| i + 1).collect();
                if c.send_lines(&block, &ends, None) == Flushed::Gone {
                    self.drop_conn(k);
                    return;
                }
                FollowTo::Conn(k)
            }
            ReplyTo::Log | ReplyTo::Quiet => return,
        };
        let fid = self.followers.insert(Follower {
            to,
            streams,
            named,
            keys: keys.clone(),
        });
        for k in keys {
            self.procs[k].followers.push(fid);
        }
        if let FollowTo::Conn(k) = to {
            self.flush_stream(k);
        }
    }

    /// Hands the lines in `fresh` (from stream `s` of process `key`) to
    /// the process's followers.
    pub(super) fn deliver(&mut self, key: usize, s: OutStream) {
        let stderr = s == OutStream::Stderr;
        let escape = self.console.is_tty(Stream::Out);
        let Supervisor {
            procs,
            followers,
            conns,
            fresh,
            fanout,
            ..
        } = self;
        let Some(e) = procs.get(key) else {
            fresh.clear();
            return;
        };
        let Some(at) = fresh.stamped() else {
            return;
        };
        let mut shell = None;
        let mut gone = Vec::new();
        let mut dropped = Vec::new();
        // Followers that gave a pipe take a block through the fan-out pipe
        // when there are two or more (for one, a write is as cheap).
        let piped = e
            .followers
            .iter()
            .filter_map(|&fid| followers.get(fid))
            .filter(|f| f.streams.shows(stderr))
            .filter(|f| matches!(f.to, FollowTo::Conn(k) if conns.get(k).is_some_and(|c| c.pipe.is_some())))
            .count();
        if piped >= 2 && fanout.is_none() && fresh.plain.len() >= crate::fanout::MIN_BLOCK {
            *fanout = Fanout::new();
        }
        // Which block the fan-out pipe holds: named or not.
        let mut loaded = None;
        for &fid in &e.followers {
            let Some(f) = followers.get(fid) else {
                continue;
            };
            if !f.streams.shows(stderr) {
                continue;
            }
            match f.to {
                FollowTo::Conn(k) => {
                    let Some(c) = conns.get_mut(k) else { continue };
                    // Formatted once per chunk, given to each follower
                    // (queued only where its socket or pipe is full).
                    let (block, ends) = fresh.formatted(f.named.then_some(&e.name));
                    let mut teed = None;
                    if let Some(fan) = fanout.as_mut().filter(|_| piped >= 2 && c.pipe.is_some()) {
                        if loaded != Some(f.named) {
                            loaded = fan.load(block).then_some(f.named);
                        }
                        if loaded == Some(f.named) {
                            teed = Some(fan.source());
                        }
                    }
                    if c.send_lines(block, ends, teed) == Flushed::Gone {
                        gone.push(k);
                    } else {
                        let n = c.outbox.take_untold_drops(false);
                        if n > 0 {
                            dropped.push(n);
                        }
                    }
                }
                FollowTo::Shell => {
                    let named = f.named.then_some(e.name.as_str());
                    let time = local_time(at);
                    let text: Vec<String> = fresh
                        .lines()
                        .map(|l| format(&time, named, l, escape))
                        .collect();
                    shell = Some(text.join("\n"));
                }
            }
        }
        fresh.clear();
        if let (Some(fan), Some(_)) = (fanout.as_mut(), loaded)
            && !fan.clear()
        {
            *fanout = None;
        }
        for k in gone {
            self.drop_conn(k);
        }
        for n in dropped {
            let what = super::journal::stream_drops(n, false);
            self.record(crate::events::Record::supervisor(
                std::time::SystemTime::now(),
                what,
            ));
        }
        if let Some(text) = shell {
            self.say(Stream::Out, &text);
        }
    }

    /// Writes what streaming connection `k` takes; ends its follow when the
    /// client is gone.
    pub(super) fn flush_stream(&mut self, k: usize) {
        let Some(c) = self.conns.get_mut(k) else {
            return;
        };
        if c.write_stream() == Flushed::Gone {
            self.drop_conn(k);
        } else {
            self.log_stream_drops(k, false);
        }
    }

    /// A streaming connection became readable: input is ignored; the end of
    /// it means the client went away, unless it only closed its sending
    /// side (it may still read).
    pub(super) fn read_stream(&mut self, k: usize) {
        let Some(c) = self.conns.get_mut(k) else {
            return;
        };
        let mut buf = [0u8; 512];
        loop {
            match std::io::Read::read(&mut c.stream, &mut buf) {
                Ok(0) => {
                    if c.hung_up() {
                        return self.drop_conn(k);
                    }
                    return;
                }
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => return self.drop_conn(k),
            }
        }
    }

    /// Ends the follow that writes to `to`, if any.
    pub(super) fn unfollow(&mut self, to: FollowTo) {
        let Some(fid) = self
            .followers
            .iter()
            .find(|(_, f)| f.to == to)
            .map(|(fid, _)| fid)
        else {
            return;
        };
        let f = self.followers.remove(fid);
        for k in f.keys {
            if let Some(e) = self.procs.get_mut(k) {
                e.followers.retain(|&x| x != fid);
            }
        }
        if self.followers.len() < 2 {
            // Used by two followers or more; its descriptors are not held
            // for fewer.
            self.fanout = None;
        }
        if to == FollowTo::Shell {
            self.reply(ReplyTo::Shell, true, String::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_lines_are_kept_formatted_plain_and_named_on_demand() {
        let mut f = Fresh::default();
        assert!(f.is_empty());
        assert_eq!(f.stamped(), None);
        f.push(1_000_000, b"one");
        f.push(1_000_000, b"");
        f.push(1_000_000, b"three");
        let stamp = format!("[{}] ", local_time(1_000_000));
        assert_eq!(f.stamped(), Some(1_000_000));
        let lines: Vec<&[u8]> = f.lines().collect();
        assert_eq!(lines, [&b"one"[..], b"", b"three"]);
        let (block, ends) = f.formatted(None);
        let plain = format!("{stamp}one\n{stamp}\n{stamp}three\n");
        assert_eq!(block, plain.as_bytes());
        assert_eq!(ends.len(), 3);
        assert_eq!(ends[2], block.len());
        let (block, ends) = f.formatted(Some("web:1"));
        let named = format!("{stamp}web:1 | one\n{stamp}web:1 | \n{stamp}web:1 | three\n");
        assert_eq!(block, named.as_bytes());
        assert_eq!(ends[0], stamp.len() + "web:1 | one\n".len());
        f.clear();
        assert!(f.is_empty());
        assert_eq!(f.stamped(), None);
        // The next second gets its own stamp.
        f.push(1_000_001, b"x");
        let (block, _) = f.formatted(Some("web:1"));
        assert_eq!(
            block,
            format!("[{}] web:1 | x\n", local_time(1_000_001)).as_bytes()
        );
    }
}
