//! Package endpoint defines the abstraction at the centre of kit: one RPC-shaped
//! operation, a request in and a response or an error out.
//!
//! Start with [`Endpoint`] and [`endpoint_fn`]; wrap endpoints in middlewares, which
//! are plain [`tower::Layer`]s; carry request-scoped data in a [`Context`].
//!
//! ```
//! use kit_endpoint::{endpoint_fn, BoxError, Context, DeadlineLayer, Request, RequestId};
//! use std::time::Duration;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), BoxError> {
//! // An endpoint: request in, response or error out.
//! let sum = endpoint_fn(|req: Request<(i64, i64)>| async move {
//!     let (a, b) = *req.msg();
//!     a.checked_add(b).ok_or_else(|| BoxError::from("overflow"))
//! });
//!
//! // Middlewares are tower layers. The first one added is the outermost: requests
//! // meet the layers in the order they are written, responses in reverse.
//! let sum = ServiceBuilder::new()
//!     .layer(DeadlineLayer::with_default_timeout(Duration::from_secs(1)))
//!     .service(sum);
//!
//! let ctx = Context::new().with_request_id(RequestId::generate());
//! assert_eq!(sum.oneshot(Request::new(ctx, (1, 2))).await?, 3);
//! # Ok(()) }
//! ```
//!
//! # Middleware order
//!
//! kit has no `Chain` function of its own because [`tower::ServiceBuilder`] already
//! is one, with go-kit's rule: **the first layer added is the outermost**. In
//! `ServiceBuilder::new().layer(a).layer(b).service(e)`, a request goes through `a`,
//! then `b`, then reaches `e`.
//!
//! # The request context, and why it is an explicit part of the request
//!
//! go-kit's endpoint is `func(ctx, request) (response, error)`: the context is an
//! explicit argument. kit keeps that: an endpoint is a `Service<Request<T>>`, and
//! [`Request<T>`] is a [`Context`] beside the message `T` (the shape tonic uses for
//! gRPC metadata). The transport server builds the context from headers, every
//! middleware can read and change it without knowing `T`, the endpoint passes it to
//! the domain service (every service method takes `&Context`, as in go-kit), and
//! kit's transport client writes it into the headers of outgoing calls.
//!
//! It carries a [`RequestId`], a deadline (a `tokio::time::Instant`, so tests can
//! pause time; [`Context::remaining`] is the budget left), caller [`Metadata`], and
//! typed `http::Extensions` for whatever a middleware wants to hand to later ones.
//!
//! The alternatives, and why they lost:
//! - **Task-locals** (how `tracing` spans travel) cost no signature changes, but the
//!   dependency is invisible: a function reads a context nobody can see it needs,
//!   and the value silently disappears across a `tokio::spawn` or a channel.
//!   Tests must also remember to set it up.
//! - **`http::Request` extensions** would tie every endpoint to HTTP; kit's
//!   endpoints are transport-agnostic (the in-memory transport and future ones
//!   share them).
//!
//! What it costs: every endpoint and service method mentions the context, and a
//! middleware that changes the message type must carry the context across
//! ([`Request::map`] does). Cloning a context is a few reference-count bumps; the
//! metadata is copied only when a clone changes it.
//!
//! # Errors
//!
//! Every endpoint fails with a [`BoxError`]. Middlewares fail with small named types
//! ([`DeadlineExceeded`] here; `Limited`, `Open`... in other kit crates), found again
//! with [`cause_ref`] / [`is_caused_by`] however deeply they were wrapped.
//!
//! Each failure also says what *kind* of failure it is with an [`ErrorClass`]
//! (invalid argument, not found, resource exhausted, unavailable, deadline
//! exceeded, cancelled, upstream failure, internal), carried by a [`Classified`]
//! wrapper and found with [`ErrorClass::of`]. Transports map classes to their
//! statuses (kit-transport: HTTP status and `Retry-After`), and retries and circuit
//! breakers decide from them, so no kit crate needs another's error types. A business
//! error is not a failure of the call: it travels inside a successful response
//! that implements [`Failer`] ([`take_cause`] tells it from a failure).
//!
//! # Layout
//! Futures are named after their service in every kit crate: `Foo`'s future is
//! `FooFuture`, exported at the crate root (here [`DeadlineFuture`], [`HookFuture`]).
//! - `endpoint`: the [`Endpoint`] bound, [`endpoint_fn`], [`BoxEndpoint`], [`Nop`].
//! - `context`: [`Context`], [`Request`], budgets ([`parse_budget`]).
//! - `request_id`: [`RequestId`], taken from callers with limits, or generated.
//! - `metadata`: [`Metadata`], caller pairs that travel across hops.
//! - `hex`: the lower-case hex table request IDs and trace IDs share.
//! - `deadline`: [`Deadline`] (and its [`DeadlineFuture`]), the middleware that enforces the context's deadline; [`WithDeadline`], kit's one deadline race.
//! - `failer`: [`Failer`], business errors inside responses; [`Outcome`].
//! - `refusable`: [`RefusableFuture`], the future of a middleware that calls its service or refuses the call.
//! - `hook`: [`CallHook`], [`HookLayer`]: something told when each call starts and how it ended (kit's logging and RED middlewares).
//! - `server`: the one call path every transport's server runs ([`serve_call`]) and the server hooks around it ([`ServerHooks`]: before, error handler, error encoder, after, finalizer), [`DEFAULT_BUDGET`], [`Panicked`].
//! - `class`: [`ErrorClass`], [`Classified`], [`Cancelled`]: transport-neutral error classes.
//! - `error`: [`BoxError`], [`cause_ref`], [`is_caused_by`], [`take_cause`], [`DeadlineExceeded`].
#![cfg_attr(docsrs, feature(doc_cfg))]

/// Writes tower's three accessors of a middleware's wrapped service,
/// `get_ref`, `get_mut` and `into_inner`, for a type whose first type
/// parameter is the wrapped service and whose field `inner` holds it: the same
/// twelve lines every kit middleware would otherwise repeat.
///
/// ```
/// /// A middleware that only forwards.
/// pub struct Forward<S> {
///     inner: S,
/// }
/// kit_endpoint::inner_accessors!(impl<S> Forward<S>);
///
/// let mut f = Forward { inner: 1 };
/// *f.get_mut() += 1;
/// assert_eq!(*f.get_ref(), 2);
/// assert_eq!(f.into_inner(), 2);
/// ```
#[macro_export]
macro_rules! inner_accessors {
    (impl<$inner:ident $(, $param:ident)*> $ty:ty) => {
        impl<$inner $(, $param)*> $ty {
            /// The wrapped service.
            pub fn get_ref(&self) -> &$inner {
                &self.inner
            }

            /// The wrapped service, to change.
            pub fn get_mut(&mut self) -> &mut $inner {
                &mut self.inner
            }

            /// Unwraps the service.
            pub fn into_inner(self) -> $inner {
                self.inner
            }
        }
    };
}

mod answer_id;
mod class;
mod context;
mod credentials;
mod criticality;
mod deadline;
mod duration;
mod endpoint;
mod error;
mod failer;
mod file_stamp;
mod has_context;
mod hex;
mod hook;
mod identity;
mod metadata;
mod refusable;
mod request_id;
mod rng;
mod server;
#[cfg(feature = "tls")]
pub mod tls;
mod trace;

pub use answer_id::{REQUEST_ID_HEADER, WithRequestId};
pub use class::{BadRequest, Cancelled, Classified, Classifier, ErrorClass, public_message};
pub use context::{Context, MAX_BUDGET, Request, parse_budget};
pub use credentials::{Claims, Credentials};
pub use criticality::Criticality;
pub use deadline::{Deadline, DeadlineFuture, DeadlineLayer, WithDeadline};
pub use duration::parse_duration;
pub use endpoint::{
    BoxEndpoint, BoxFuture, Endpoint, EndpointFn, Nop, SharedEndpoint, endpoint_fn,
};
pub use error::{BoxError, DeadlineExceeded, cause_ref, is_caused_by, sources, take_cause};
pub use failer::{AnsweredError, ErrorStatus, Failer, Outcome};
pub use file_stamp::{FileStamp, watch_files};
pub use has_context::HasContext;
pub use hook::{CallHook, ErrorStatusOf, Hook, HookFuture, HookLayer};
pub use identity::PeerIdentity;
pub use metadata::{InvalidMetadata, Metadata};
pub use refusable::RefusableFuture;
pub use request_id::RequestId;
pub use rng::SplitMix;
pub use server::{
    Answer, DEFAULT_BUDGET, ErrorRef, LostBusinessError, Panicked, ServerHooks, run_endpoint,
    serve_call,
};
pub use trace::{MAX_TRACESTATE, TraceContext};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
