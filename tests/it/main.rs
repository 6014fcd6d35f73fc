//! One integration binary: each module runs the real `taskmaster` against
//! real child processes and checks what a user sees.

mod harness;

mod cli;
mod lifecycle;
mod output;
mod shell;
mod shutdown;
