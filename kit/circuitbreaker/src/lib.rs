//! Package circuitbreaker implements the circuit breaker pattern for kit
//! endpoints, on [failsafe] (which has no tower layer of its own).
//!
//! Build a failsafe [`StateMachine`] with the policy you want (consecutive
//! failures or failure rate, with a backoff for the open state) and wrap
//! endpoints in a [`CircuitBreakerLayer`]. While the breaker is open, calls fail
//! at once with [`Open`] (kit-transport, with its `circuitbreaker` feature,
//! answers `503 Service Unavailable`); after the backoff one call probes the
//! endpoint (half-open) and its outcome closes or reopens the breaker.
//!
//! **Only failures of the call count against the breaker**: a response carrying a
//! business error ([`Failer`](kit_endpoint::Failer)) is an `Ok` and counts as a
//! success, and [`CircuitBreakerLayer::classify`] decides which errors count (for
//! example, not a 4xx answer from the remote service). State changes are
//! reported to an [`Observer`] (log them, set a gauge).
//!
//! ```
//! use kit_circuitbreaker::{backoff, failure_policy, CircuitBreakerLayer, Config, Open};
//! use kit_endpoint::{endpoint_fn, BoxError, Request};
//! use std::time::Duration;
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let breaker = Config::new()
//!     .failure_policy(failure_policy::consecutive_failures(
//!         3,
//!         backoff::constant(Duration::from_secs(10)),
//!     ))
//!     .build();
//! let flaky = endpoint_fn(|_req: Request<()>| async { Err::<(), BoxError>("refused".into()) });
//! let ep = CircuitBreakerLayer::new(breaker).layer(flaky);
//! for _ in 0..3 {
//!     assert_eq!(ep.clone().oneshot(Request::from_msg(())).await.unwrap_err().to_string(), "refused");
//! }
//! // Open: the endpoint is not called any more.
//! let err = ep.oneshot(Request::from_msg(())).await.unwrap_err();
//! assert!(err.is::<Open>());
//! # }
//! ```
//!
//! # Layout
//! - `layer`: [`CircuitBreaker`], [`CircuitBreakerLayer`], [`Open`].
//! - `observer`: [`Observer`], [`Change`], [`State`].
//! - `exponential`: [`exponential_backoff`], for open states shorter than a second.

mod exponential;
mod layer;
mod observer;

pub use exponential::{ExponentialBackoff, exponential_backoff};
pub use failsafe::{Config, StateMachine, backoff, failure_policy};
pub use layer::{CircuitBreaker, CircuitBreakerLayer, Open, ResponseFuture};
pub use observer::{Change, Observer, State};
