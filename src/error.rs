//! The errors that end the program, and the exit status each one maps to:
//! 2 for usage and configuration errors, 1 for anything else.

use std::fmt;

/// An error that ends `taskmaster`.
#[derive(Debug)]
pub enum Error {
    /// Bad command line.
    Usage(String),
    /// The configuration file is unreadable or invalid; one message per line.
    Config(String),
    /// Anything else: the loop's own fds, the control socket, ...
    Fatal(String),
}

impl Error {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config(_) => 2,
            Error::Fatal(_) => 1,
        }
    }

    /// A fatal error from an I/O failure of `what`.
    pub fn io(what: &str, err: impl fmt::Display) -> Error {
        let err = err.to_string();
        Error::Fatal(format!("{what}: {}", crate::text::without_os_error(&err)))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::Config(m) | Error::Fatal(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}
