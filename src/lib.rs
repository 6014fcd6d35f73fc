//! taskmaster: a process supervisor with one thread and one `mio` event
//! loop. The binary (`main.rs`) only parses arguments and calls `cli::run`;
//! everything else lives here so tests, benchmarks and fuzz targets reach the
//! pure parts.

pub mod cli;
pub mod config;
pub mod console;
pub mod control;
pub mod error;
pub mod escape;
pub mod limits;
pub mod logs;
pub mod outbox;
pub mod process;
pub mod shell;
pub mod signals;
pub mod signame;
pub mod spawn;
pub mod strays;
pub mod supervisor;
pub mod text;
pub mod timers;
