//! Prometheus metrics: `text.rs` renders the text exposition format (0.0.4)
//! from a snapshot of the processes and the supervisor; `http.rs` serves it
//! at `GET /metrics` from the event loop (`metrics: ADDRESS:PORT`).

pub mod http;
pub mod text;
