//! The shell: `command.rs` parses a line into a `Command` (for the shell and
//! the control socket); `stdin.rs` reads stdin, as plain lines or, on a
//! terminal, through the line editor of `line.rs` with `history.rs`,
//! `complete.rs` and the raw mode of `term.rs`.

pub mod command;
pub mod complete;
pub mod history;
pub mod line;
pub mod select;
pub mod stdin;
pub mod term;
