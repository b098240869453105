//! Package ratelimit limits the rate of calls to kit endpoints, on [governor].
//!
//! Three middlewares, each a `tower::Layer`:
//! - [`ErroringLayer`] refuses calls over the limit at once with [`Limited`];
//! - [`DelayingLayer`] makes them wait for capacity, never past the request's
//!   deadline (then it fails at once with [`Limited`] instead of waiting in vain);
//! - [`KeyedLayer`] keeps a limit per key (client IP, API key...), with bounded
//!   memory ([`KeyedLimiter`]).
//!
//! The layers use two small traits the crate owns, [`Allower`] and [`Waiter`]
//! (go-kit's shapes), implemented for governor's limiter on [`TokioClock`] (so
//! that paused time in tests drives the limits too). [`Limited`] errors carry the
//! class [`ErrorClass::ResourceExhausted`](kit_endpoint::ErrorClass) with their
//! retry-after hint, so every transport answers them without knowing this crate
//! (kit-transport: `429 Too Many Requests` with a `Retry-After` header).
//!
//! ```
//! use kit_endpoint::{endpoint_fn, BoxError, Request};
//! use kit_ratelimit::{direct, ErroringLayer, Limited, Quota};
//! use std::num::NonZeroU32;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let quota = Quota::per_second(NonZeroU32::new(2).unwrap());
//! let ep = ServiceBuilder::new()
//!     .layer(ErroringLayer::new(direct(quota)))
//!     .service(endpoint_fn(|_req: Request<()>| async { Ok::<_, BoxError>(()) }));
//! assert!(ep.clone().oneshot(Request::from_msg(())).await.is_ok());
//! assert!(ep.clone().oneshot(Request::from_msg(())).await.is_ok());
//! let err = ep.oneshot(Request::from_msg(())).await.unwrap_err();
//! assert!(kit_endpoint::is_caused_by::<Limited>(&*err));
//! # }
//! ```
//!
//! # Layout
//! - `limiter`: [`Limited`], [`Allower`], [`Waiter`], [`direct`], [`KeyedLimiter`].
//! - `erroring`: [`Erroring`], [`ErroringLayer`].
//! - `delaying`: [`Delaying`], [`DelayingLayer`], [`DelayingFuture`].
//! - `keyed`: [`Keyed`], [`KeyedLayer`].
//! - `future`: [`ErroringFuture`] (alias [`KeyedFuture`]), the future of the erroring and keyed limiters.
//!
//! Futures are named after their service, as in every kit crate: `Foo`'s is `FooFuture`.
//! - `clock`: [`TokioClock`].
#![cfg_attr(docsrs, feature(doc_cfg))]

mod clock;
mod delaying;
mod erroring;
mod future;
mod keyed;
mod limiter;

pub use clock::{TokioClock, TokioInstant};
pub use delaying::{Delaying, DelayingFuture, DelayingLayer};
pub use erroring::{Erroring, ErroringLayer};
pub use future::ErroringFuture;
pub use governor::Quota;
pub use keyed::{Keyed, KeyedFuture, KeyedLayer};
pub use limiter::{Allower, DirectLimiter, KeyedLimiter, Limited, Waiter, direct};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
