//! Overload protection for kit endpoints: refuse work early instead of
//! queueing it until every answer is late.
//!
//! - [`Limiter`] with [`OverloadLayer`]: a concurrency limit per endpoint,
//!   either **fixed** (a bulkhead that refuses instead of waiting, unlike
//!   tower's `ConcurrencyLimit`) or **adaptive**, found from latency
//!   ([`Gradient`], the recommended one; [`Aimd`], the simple one). Calls over
//!   it are refused at once ([`Refused`]: HTTP 503 with `Retry-After`, gRPC
//!   `UNAVAILABLE`), sheddable calls ([`Criticality`](kit_endpoint::Criticality))
//!   before critical ones, and calls whose deadline is nearer than the
//!   endpoint's recent latency before they do work. The limit, the calls in
//!   flight and the refusals are metrics.
//! - [`ThrottleLayer`]: client-side adaptive throttling (the Google SRE
//!   book's), so that an overloaded upstream gets fewer calls instead of more.
//!
//! ```
//! use kit_endpoint::{endpoint_fn, BoxError, Request};
//! use kit_overload::{Algorithm, Limiter, OverloadLayer};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // What `--concurrency-limit adaptive` builds for each endpoint.
//! let algorithm = Algorithm::parse("adaptive").unwrap().unwrap();
//! let limiter = Limiter::new(algorithm).unwrap();
//! let ep = OverloadLayer::new(limiter.clone())
//!     .layer(endpoint_fn(|req: Request<u32>| async move { Ok::<_, BoxError>(*req.msg() * 2) }));
//! assert_eq!(ep.oneshot(Request::from_msg(21)).await.unwrap(), 42);
//! assert_eq!(limiter.snapshot().in_flight, 0);
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod future;
mod layer;
mod limiter;
mod refused;
mod throttle;

pub use config::{Aimd, Algorithm, ConfigError, Gradient};
pub use future::ResponseFuture;
pub use layer::{Overload, OverloadLayer};
pub use limiter::{Limiter, Outcome, Permit, Snapshot};
pub use refused::Refused;
pub use throttle::{Throttle, ThrottleFuture, ThrottleLayer, ThrottleSnapshot, Throttled};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
