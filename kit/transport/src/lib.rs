//! Package transport serves kit endpoints over HTTP and calls remote ones, on
//! hyper 1.
//!
//! Start with [`Server`] (one endpoint: decode -> endpoint -> encode), put servers
//! in a [`Router`] (method + path), and [`serve`] the router with graceful shutdown.
//! On the calling side, a [`Client`] is an endpoint that encodes a request, sends
//! it over a [`pooled`] connection client and decodes the answer. The [`json`]
//! module has ready-made decoders and encoders.
//!
//! ```no_run
//! use kit_endpoint::{endpoint_fn, BoxError, Failer, Request};
//! use kit_transport::{json, serve, shutdown_signal, Router, Server};
//!
//! #[derive(serde::Deserialize)]
//! struct UppercaseRequest { s: String }
//! #[derive(serde::Serialize)]
//! struct UppercaseResponse { v: String }
//! impl Failer for UppercaseResponse {
//!     fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let uppercase = endpoint_fn(|req: Request<UppercaseRequest>| async move {
//!         Ok::<_, BoxError>(UppercaseResponse { v: req.msg().s.to_uppercase() })
//!     });
//!     let router = Router::new().route(
//!         http::Method::POST,
//!         "/uppercase",
//!         Server::new(uppercase, json::decode_request, json::encode_response),
//!     );
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8082").await?;
//!     serve(listener, router, shutdown_signal()).await
//! }
//! ```
//!
//! # Mounting in axum
//!
//! A [`Server`] (or a whole [`Router`]) is a `tower::Service<http::Request<B>>` for
//! any body type, so it mounts in an axum application as it is:
//!
//! ```
//! # use kit_endpoint::{endpoint_fn, BoxError, Failer, Request};
//! # use kit_transport::{json, Server};
//! # #[derive(serde::Deserialize)] struct UppercaseRequest { s: String }
//! # #[derive(serde::Serialize)] struct UppercaseResponse { v: String }
//! # impl Failer for UppercaseResponse {
//! #     fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None }
//! # }
//! # let uppercase = endpoint_fn(|req: Request<UppercaseRequest>| async move {
//! #     Ok::<_, BoxError>(UppercaseResponse { v: req.msg().s.to_uppercase() })
//! # });
//! let server = Server::new(uppercase, json::decode_request, json::encode_response);
//! let app: axum::Router = axum::Router::new().route_service("/uppercase", server);
//! ```
//!
//! # The request context on the wire
//!
//! The server builds each request's [`Context`](kit_endpoint::Context) from the
//! headers `x-request-id`, `x-request-budget-ms` (the caller's remaining time
//! budget) and `x-meta-*` (caller metadata); the client writes the same headers
//! from its context. Budgets shrink along a call chain by the time spent at each
//! hop, and an endpoint whose budget is spent is not called (`504`).
//!
//! # Bad input
//!
//! Nothing a client sends can panic the server or make it allocate without bound:
//! bodies over the limit (1 MiB by default) get `413` without being read further,
//! a missing or wrong `content-type` gets `415`, a body that does not decode
//! `400`, an unknown path `404`, a wrong method `405`, headers that are too large
//! `431`, a panic in an endpoint `500` (the server keeps serving), and a client
//! that never finishes sending its headers is disconnected after the header read
//! timeout. Every error answer has a JSON body `{"error": "..."}`; statuses are
//! chosen in one place, [`error_status`].
//!
//! # Layout
//! - `server`: [`Server`], the decode -> endpoint -> encode pipeline and its hooks.
//! - `router`: [`Router`], method + path routing with 404 and 405;
//!   [`Observation`]s of every answered request for access logs and metrics.
//! - `serve`: [`serve`], [`serve_with`], [`ServeConfig`], [`shutdown_signal`],
//!   [`serve_loopback`] for tests.
//! - `header_timer` (private): the header read timeout, one tick per connection
//!   rather than a timer per request.
//! - `client`: [`Client`], [`HttpClient`], [`pooled`].
//! - `health`: [`Health`] (liveness) and [`Readiness`] (turns 503 when a shutdown starts) for debug listeners.
//! - [`memory`]: the in-memory transport for unit tests.
//! - [`json`]: serde JSON decoders and encoders.
//! - `context`: the headers that carry the request context.
//! - `error`: the transport's errors, [`error_status`], [`encode_error`].
//! - `body`: [`Body`], [`BoxBody`], bounded body reading.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
mod axum_interop;
mod batch;
mod body;
mod client;
mod context;
mod drain;
mod error;
mod header_timer;
mod health;
pub mod json;
pub mod layers;
pub mod memory;
mod router;
mod serve;
mod server;

#[cfg(feature = "axum")]
pub use axum_interop::ErrorResponse;
pub use batch::BatchedIo;
pub use body::{Body, BoxBody, box_body, read_limited};
#[cfg(feature = "tls")]
pub use client::pooled_tls;
pub use client::{Client, DEFAULT_RESPONSE_LIMIT, HttpClient, pooled, with_path};
pub use context::{
    BUDGET_MS, CRITICALITY, METADATA_PREFIX, REQUEST_ID, TRACEPARENT, TRACESTATE,
    context_from_headers, context_to_headers,
};
pub use error::{
    BadRequest, ErrorRef, MethodNotAllowed, NotFound, Panicked, PayloadTooLarge, RequestTimeout,
    StatusError, UnsupportedMediaType, UpstreamError, class_status, encode_error, error_status,
    json_error,
};
pub use health::{Health, Readiness};
pub use kit_endpoint::DEFAULT_BUDGET;
/// TLS configuration (feature `tls`): kit-endpoint's, shared by every transport.
#[cfg(feature = "tls")]
pub use kit_endpoint::tls;
pub use layers::{
    AnswerErrors, AnswerErrorsLayer, ClassifyResponse, ClassifyResponseLayer, FailedResponse,
    MatchedRoute, Observe, ObserveLayer, SetContext, SetContextLayer, client_ip, current_context,
};
pub use router::{Observation, PathParams, Router, RouterFuture};
pub use serve::{
    PeerAddr, ServeConfig, StopSignal, serve, serve_loopback, serve_with, shutdown_signal,
    stop_signal,
};
pub use server::{DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, Server, TRANSPORT};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
