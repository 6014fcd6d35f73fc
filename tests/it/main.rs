//! One integration binary: each module runs the real `taskmaster` against
//! real child processes and checks what a user sees.

mod harness;
mod peers;

mod cli;
mod config;
mod container;
mod control;
mod eventlog;
mod events;
mod fanout;
mod faults;
mod follow;
mod hardening;
mod health;
mod import;
mod lifecycle;
mod metrics;
mod output;
mod reload;
mod rotation;
mod runc;
mod shell;
mod shutdown;
mod spawn;
mod stacks;
mod terminal;
