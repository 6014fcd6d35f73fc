//! One supervised process as a pure state machine: `state.rs` holds the
//! states, events, actions and the transition function; `policy.rs` the
//! restart and backoff rules; `notice.rs` what the user is told. Nothing
//! here calls the OS or reads the clock: the time of each event is passed
//! in.

pub mod notice;
pub mod policy;
pub mod proc;
pub mod state;

pub use notice::Notice;
pub use policy::Policy;
pub use state::{Action, Event, ExitStatus, Proc, State, Want, step};
