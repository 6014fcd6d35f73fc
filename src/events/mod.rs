//! The supervisor's events, one source for three views: `record.rs` holds
//! the event value and its renderings (log line, shell notice, `events`
//! JSON), `logfile.rs` the supervisor's own log file, written once per
//! loop turn.

pub mod logfile;
pub mod record;

pub use record::{Level, Next, Record, StopCause, Subject, What};
