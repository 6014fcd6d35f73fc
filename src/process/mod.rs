//! One supervised process as a pure state machine: `state.rs` holds the
//! states, events and actions, `step.rs` the transition function (tested on
//! a fake clock), `proc.rs` what a process carries from one step to the
//! next, `policy.rs` the restart and backoff rules, `notice.rs` what the
//! user is told. Nothing here calls the OS or reads the clock: the time of
//! each event is passed in.

pub mod notice;
pub mod policy;
pub mod proc;
pub mod state;
pub mod step;

pub use notice::Notice;
pub use policy::Policy;
pub use proc::{ExitStatus, Proc, Want};
pub use state::{Action, Event, State};
pub use step::{continues_after, step};
