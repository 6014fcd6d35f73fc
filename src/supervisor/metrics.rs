//! The `metrics` command and the HTTP endpoint's side in the loop: a
//! snapshot of every process and of the supervisor, rendered by
//! `metrics::text`; the endpoint's listener and connections are sources of
//! the one `mio::Poll`, their deadlines entries of the one timer heap.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use mio::{Interest, Registry};

use super::{Source, Supervisor};
use crate::error::Error;
use crate::metrics::http::HttpServer;
use crate::metrics::text::{self, ProcessSample, SelfStats};
use crate::timers::Due;

/// Binds and registers the metrics endpoint at `addr`, if any.
pub(super) fn open_http(
    addr: Option<SocketAddr>,
    reg: &Registry,
) -> Result<Option<HttpServer>, Error> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let mut h = HttpServer::bind(addr).map_err(|e| Error::io(&format!("metrics {addr}"), e))?;
    reg.register(
        h.listener(),
        Source::HttpListener.token(),
        Interest::READABLE,
    )
    .map_err(|e| Error::io(&format!("metrics {addr}"), e))?;
    Ok(Some(h))
}

impl Supervisor {
    /// The whole exposition, as of `now`.
    pub(super) fn metrics_text(&self, now: Instant) -> String {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let samples: Vec<ProcessSample> = self
            .by_name
            .values()
            .map(|&k| {
                let e = &self.procs[k];
                let p = &e.proc;
                let pid = p.state().pid();
                ProcessSample {
                    name: &e.name,
                    task: &e.task,
                    state: p.state().name(),
                    up: pid.is_some(),
                    restarts: p.restarts(),
                    start_time: pid
                        .and(p.since())
                        .map(|s| wall - now.saturating_duration_since(s).as_secs_f64()),
                    healthy: self.health(k).map(|h| h == crate::health::Health::Healthy),
                    exit_code: p.last_exit().map(|s| s.code),
                }
            })
            .collect();
        let mut out = String::new();
        text::render(
            &samples,
            &SelfStats::read(),
            self.logs.bytes_dropped,
            &mut out,
        );
        out
    }

    /// The HTTP listener has connections to accept.
    pub(super) fn accept_http(&mut self, now: Instant) {
        let Some(http) = &mut self.http else { return };
        let armed = http.accept(self.poll.registry(), |k| Source::Http(k).token(), now);
        for (key, at) in armed {
            self.timers.push(at, Due::Http(key));
        }
    }

    /// HTTP connection `key` is readable or writable.
    pub(super) fn on_http(&mut self, key: usize, now: Instant) {
        let Some(mut http) = self.http.take() else {
            return;
        };
        http.ready(key, self.poll.registry(), &mut || self.metrics_text(now));
        self.http = Some(http);
    }

    /// The deadline of HTTP connection `key` passed: it is closed.
    pub(super) fn expire_http(&mut self, key: usize) {
        if let Some(http) = &mut self.http {
            http.close(key, self.poll.registry());
        }
    }
}
