//! Every deadline of the supervisor behind one timerfd: a min-heap of
//! `(Instant, Due)` and the fd armed to its earliest entry. Entries are never
//! removed early; the owner checks on expiry whether an entry still stands
//! (its state still waits for that instant) and skips stale ones.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Due {
    /// The deadline of the process with this slab key.
    Proc(usize),
    /// SIGKILL for the released process group with this id.
    Group(i32),
    /// The idle deadline of the control connection with this slab key.
    Conn(usize),
    /// SIGKILL for the orphans left in the namespace at shutdown (PID 1).
    Sweep,
    /// A write of the state file (`strays.rs`).
    StateFile,
    /// The health check of the process with this slab key: the next one
    /// is due, or the one running times out.
    Check(usize),
    /// The `watchdogTimeout` of the process with this slab key.
    Watchdog(usize),
    /// The close deadline of the metrics connection with this slab key.
    Http(usize),
}

/// The grid periodic deadlines are rounded up to, so those due within
/// the same window share one wake-up.
pub const COALESCE: Duration = Duration::from_millis(1);

/// A min-heap of deadlines behind one non-blocking timerfd.
pub struct Timers {
    fd: OwnedFd,
    heap: BinaryHeap<Reverse<(Instant, Due)>>,
    armed: Option<Instant>,
    /// The origin of the [`COALESCE`] grid.
    epoch: Instant,
}

impl Timers {
    /// Creates the timerfd (monotonic clock, like `Instant`).
    pub fn new() -> io::Result<Timers> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        Ok(Timers {
            fd,
            heap: BinaryHeap::new(),
            armed: None,
            epoch: Instant::now(),
        })
    }

    /// `at` rounded up to the [`COALESCE`] grid: periodic deadlines (health
    /// checks) due in the same millisecond fire in one wake-up.
    pub fn coalesce(&self, at: Instant) -> Instant {
        let since = at.saturating_duration_since(self.epoch).as_nanos();
        let step = COALESCE.as_nanos();
        let up = since.div_ceil(step) * step;
        self.epoch + Duration::from_nanos(up as u64)
    }

    /// Adds a deadline.
    pub fn push(&mut self, at: Instant, due: Due) {
        self.heap.push(Reverse((at, due)));
    }

    /// Removes and returns the earliest deadline if it is at or before `now`.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, Due)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// The earliest deadline, expired or not.
    pub fn peek(&self) -> Option<(Instant, Due)> {
        self.heap.peek().map(|Reverse(e)| *e)
    }

    /// Drops the earliest deadline (a stale one, found by `peek`).
    pub fn pop(&mut self) {
        self.heap.pop();
    }

    /// Number of entries, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no deadline is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Consumes the expiry count after the fd became readable. A stale
    /// wake-up (nothing to read) is fine.
    pub fn clear(&self) -> io::Result<()> {
        let mut buf = [0u8; 8];
        loop {
            match rustix::io::read(&self.fd, &mut buf) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Arms the fd to the earliest deadline (at least 1 ns away, as a zero
    /// one-shot would disarm it), or disarms it when none is left. Does
    /// nothing when it is already armed so.
    pub fn arm_earliest(&mut self, now: Instant) -> io::Result<()> {
        let next = self.heap.peek().map(|Reverse((at, _))| *at);
        if next == self.armed {
            return Ok(());
        }
        let value = match next {
            Some(at) => at
                .saturating_duration_since(now)
                .max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: value.as_secs() as i64,
                tv_nsec: value.subsec_nanos() as i64,
            },
        };
        rustix::time::timerfd_settime(&self.fd, TimerfdTimerFlags::empty(), &spec)?;
        self.armed = next;
        Ok(())
    }

    /// The instant the fd is armed to, if any.
    pub fn armed(&self) -> Option<Instant> {
        self.armed
    }
}

impl AsFd for Timers {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Timers {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_order_and_only_when_due() {
        let mut t = Timers::new().unwrap();
        let t0 = Instant::now();
        let s = Duration::from_secs;
        t.push(t0 + s(3), Due::Proc(3));
        t.push(t0 + s(1), Due::Proc(1));
        t.push(t0 + s(2), Due::Group(2));
        assert_eq!(t.pop_expired(t0), None);
        assert_eq!(t.pop_expired(t0 + s(2)), Some((t0 + s(1), Due::Proc(1))));
        assert_eq!(t.pop_expired(t0 + s(2)), Some((t0 + s(2), Due::Group(2))));
        assert_eq!(t.pop_expired(t0 + s(2)), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn arms_once_per_new_earliest_and_disarms_when_empty() {
        let mut t = Timers::new().unwrap();
        let t0 = Instant::now();
        t.arm_earliest(t0).unwrap();
        assert_eq!(t.armed(), None);
        t.push(t0 + Duration::from_secs(5), Due::Conn(0));
        t.arm_earliest(t0).unwrap();
        assert_eq!(t.armed(), Some(t0 + Duration::from_secs(5)));
        let spec = rustix::time::timerfd_gettime(&t.fd).unwrap();
        assert!(spec.it_value.tv_sec >= 4, "armed relative to now");
        t.pop_expired(t0 + Duration::from_secs(6)).unwrap();
        t.arm_earliest(t0).unwrap();
        assert_eq!(t.armed(), None);
        let spec = rustix::time::timerfd_gettime(&t.fd).unwrap();
        assert_eq!((spec.it_value.tv_sec, spec.it_value.tv_nsec), (0, 0));
    }

    #[test]
    fn coalesced_deadlines_share_a_millisecond() {
        let t = Timers::new().unwrap();
        let base = t.coalesce(Instant::now() + Duration::from_secs(1));
        let a = t.coalesce(base + Duration::from_micros(10));
        let b = t.coalesce(base + Duration::from_micros(990));
        assert_eq!(a, b);
        assert_eq!(a, base + COALESCE);
        assert_eq!(t.coalesce(base), base, "on the grid stays");
        assert!(t.coalesce(base + Duration::from_micros(1)) >= base);
    }

    #[test]
    fn a_past_deadline_fires_at_once() {
        let mut t = Timers::new().unwrap();
        let t0 = Instant::now();
        t.push(t0, Due::Proc(0));
        t.arm_earliest(t0 + Duration::from_secs(1)).unwrap();
        let mut fds = [rustix::event::PollFd::new(
            &t.fd,
            rustix::event::PollFlags::IN,
        )];
        let timeout = rustix::time::Timespec {
            tv_sec: 2,
            tv_nsec: 0,
        };
        let n = rustix::event::poll(&mut fds, Some(&timeout)).unwrap();
        assert_eq!(n, 1);
        t.clear().unwrap();
        t.clear().unwrap();
    }
}
