//! Child output: `lines.rs` cuts a byte stream into lines, `ring.rs` keeps
//! the recent lines of a process in a bounded buffer, `sink.rs` appends the
//! raw bytes to the configured files and rotates them by size with
//! `rotate.rs`, `shared.rs` gives every path one sink however many
//! processes write to it.

pub mod lines;
pub mod ring;
pub mod rotate;
pub mod shared;
pub mod sink;
