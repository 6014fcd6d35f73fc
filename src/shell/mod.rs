//! The command language of the shell and the control socket: `command.rs`
//! parses a line into a `Command`.

pub mod command;
pub mod stdin;
