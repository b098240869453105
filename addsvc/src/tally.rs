//! addtally's domain: a running total of the sums addsvc computed, applied
//! once per event however often an event is delivered, and durable across
//! restarts (a [`Journal`] of applied events).
//!
//! The `addtally` binary feeds it from addsvc's event stream (see
//! [`transport::events`](crate::transport::events)) and serves
//! `GET /total` (`{"total": N, "events": M}`) with [`router`].

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use std::convert::Infallible;

use http::Method;
use kit_endpoint::{Request, SharedEndpoint, endpoint_fn};
use kit_nats::events::{Delivery, Journal};
use kit_transport::{Body, Router};
use serde::Serialize;

use crate::service::Summed;

/// What the tally has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// The sum of every applied event's `v` (wrapping on overflow).
    pub total: i64,
    /// How many events were applied.
    pub events: u64,
}

/// The running total, applied once per event ID.
#[derive(Debug)]
pub struct Tally {
    journal: Mutex<Journal<i64>>,
    totals: Mutex<Totals>,
}

impl Tally {
    /// Opens the tally journaled at `path` (created if missing), with the
    /// totals of the events it already applied.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Tally> {
        let (journal, entries) = Journal::open(path)?;
        let totals = entries.iter().fold(Totals::default(), |t, (_, v)| Totals {
            total: t.total.wrapping_add(*v),
            events: t.events + 1,
        });
        Ok(Tally {
            journal: Mutex::new(journal),
            totals: Mutex::new(totals),
        })
    }

    /// Adds `v` for event `id` unless that event was applied already: `true`
    /// if it was new. On disk before it counts.
    pub fn apply(&self, id: &str, v: i64) -> io::Result<bool> {
        let mut journal = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let new = journal.record(id, &v)?;
        if new {
            let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
            totals.total = totals.total.wrapping_add(v);
            totals.events += 1;
        }
        Ok(new)
    }

    /// The totals so far.
    pub fn totals(&self) -> Totals {
        *self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The endpoint the consumer drives: applies each [`Summed`] event once. The
/// journal write (an fsync) runs off the async threads.
pub fn endpoint(tally: Arc<Tally>) -> impl SharedEndpoint<Delivery<Summed>, Response = ()> {
    endpoint_fn(move |req: Request<Delivery<Summed>>| {
        let tally = tally.clone();
        async move {
            let (_, delivery) = req.into_parts();
            let (id, v) = (delivery.id, delivery.payload.v);
            tokio::task::spawn_blocking(move || tally.apply(&id, v)).await??;
            Ok(())
        }
    })
}

/// `GET /total`: `{"total": N, "events": M}`.
pub fn router(tally: Arc<Tally>) -> Router {
    let total = tower::service_fn(move |_: http::Request<kit_transport::BoxBody>| {
        let body = serde_json::to_vec(&tally.totals()).unwrap_or_default();
        let mut resp = http::Response::new(Body::from(Bytes::from(body)));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        std::future::ready(Ok::<_, Infallible>(resp))
    });
    Router::new().route_service(Method::GET, "/total", total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_count_once_and_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("addtally-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal");
        let tally = Tally::open(&path).unwrap();
        assert!(tally.apply("a", 3).unwrap());
        assert!(tally.apply("b", -1).unwrap());
        assert!(!tally.apply("a", 3).unwrap());
        assert_eq!(
            tally.totals(),
            Totals {
                total: 2,
                events: 2
            }
        );
        drop(tally);
        let tally = Tally::open(&path).unwrap();
        assert_eq!(
            tally.totals(),
            Totals {
                total: 2,
                events: 2
            }
        );
        assert!(!tally.apply("b", -1).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
