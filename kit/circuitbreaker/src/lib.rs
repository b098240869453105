//! Package circuitbreaker implements the circuit breaker pattern for kit
//! endpoints, on [failsafe] (which has no tower layer of its own).
//!
//! Pick a failsafe [`failure_policy`] (consecutive failures or failure rate, with
//! a backoff for the open state) and wrap endpoints in a [`CircuitBreakerLayer`].
//! While the breaker is open, calls fail at once with [`Open`], of class
//! [`ErrorClass::Unavailable`](kit_endpoint::ErrorClass) (kit-transport answers
//! `503 Service Unavailable`). After the backoff the breaker is half-open and
//! **exactly one call probes** the endpoint: calls arriving while the probe is
//! in flight fail with [`Open`] too (failsafe alone would let them all through),
//! and the probe's outcome closes or reopens the breaker.
//!
//! **Only failures of the call count against the breaker**: a response carrying a
//! business error ([`Failer`](kit_endpoint::Failer)) is an `Ok` and counts as a
//! success. Which errors count is decided by their
//! [`ErrorClass`](kit_endpoint::ErrorClass): an upstream's 4xx answer (the
//! caller's fault), an invalid argument or a cancelled call do not
//! ([`ErrorClass::counts_as_failure`](kit_endpoint::ErrorClass::counts_as_failure));
//! [`CircuitBreakerLayer::classify`] decides otherwise. State changes are reported
//! to an [`Observer`] (log them, set a gauge).
//!
//! ```
//! use kit_circuitbreaker::{backoff, failure_policy, CircuitBreakerLayer, Open};
//! use kit_endpoint::{endpoint_fn, is_caused_by, BoxError, Request};
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let policy = failure_policy::consecutive_failures(3, backoff::constant(Duration::from_secs(10)));
//! let flaky = endpoint_fn(|_req: Request<()>| async { Err::<(), BoxError>("refused".into()) });
//! let ep = CircuitBreakerLayer::new(policy).layer(flaky);
//! for _ in 0..3 {
//!     assert_eq!(ep.clone().oneshot(Request::from_msg(())).await.unwrap_err().to_string(), "refused");
//! }
//! // Open: the endpoint is not called any more.
//! let err = ep.oneshot(Request::from_msg(())).await.unwrap_err();
//! assert!(is_caused_by::<Open>(&*err));
//! # }
//! ```
//!
//! # Layout
//! - `layer`: [`CircuitBreaker`], [`CircuitBreakerLayer`].
//! - `future`: [`CircuitBreakerFuture`].
//! - `error`: [`Open`].
//! - `gate` (private): one probe at a time while half-open ([`Gated`] wraps the instrument).
//! - `observer`: [`Observer`], [`Change`], [`State`].
//! - `exponential`: [`exponential_backoff`], for open states shorter than a second.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod exponential;
mod future;
mod gate;
mod layer;
mod observer;

pub use error::Open;
pub use exponential::{ExponentialBackoff, exponential_backoff};
pub use failsafe::{Instrument, backoff, failure_policy};
pub use future::CircuitBreakerFuture;
pub use gate::Gated;
pub use layer::{CircuitBreaker, CircuitBreakerLayer};
pub use observer::{Change, Observer, State};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
