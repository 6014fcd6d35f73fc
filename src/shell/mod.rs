//! The shell: `command.rs` parses a line into a `Command` (for the shell and
//! the control socket); `stdin.rs` reads stdin, as plain lines or, on a
//! terminal, through the line editor of `line.rs` with the key decoder of
//! `keys.rs`, `history.rs`, `complete.rs` and the raw mode of `term.rs`.

pub mod command;
pub mod complete;
pub mod history;
mod keys;
pub mod line;
pub mod select;
pub mod stdin;
pub mod term;
