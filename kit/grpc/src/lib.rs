//! Package grpc serves kit endpoints as unary gRPC methods on tonic and calls
//! remote ones: go-kit's gRPC transport, with kit's context and error classes.
//!
//! - A [`Server`] is decode (protobuf message -> endpoint request) -> endpoint ->
//!   encode, with before / after / error encoder / finalizer hooks; a
//!   [`StreamingServer`] answers with a stream of messages (server streaming),
//!   dropped, with the work behind it, when the client goes away; a
//!   [`Router`] puts methods (and tonic services, such as [`Health`]'s) on one
//!   listener; [`serve`] drains the calls in flight on shutdown.
//! - The request [`Context`](kit_endpoint::Context) comes from the metadata:
//!   `x-request-id`, the deadline from `grpc-timeout`, `x-meta-*`,
//!   `traceparent` / `tracestate`; a [`Client`] writes them (the remaining
//!   budget as `grpc-timeout`).
//! - Each [`ErrorClass`](kit_endpoint::ErrorClass) maps to one status code
//!   ([`class_code`]) and back ([`code_class`]), so retries, breakers and
//!   balancers behave over gRPC as over HTTP.
//!
//! Messages are prost types: generate them from `.proto` files with
//! prost-build (on `protox`, without `protoc`), or write them with
//! `#[derive(prost::Message)]`. No service stubs are needed: a method is its
//! path.
//!
//! ```no_run
//! use kit_endpoint::{endpoint_fn, BoxError, Failer, Request};
//! use kit_grpc::{Client, Router, Server, serve};
//! use tower::ServiceExt;
//!
//! #[derive(Clone, PartialEq, prost::Message)]
//! struct SumRequest { #[prost(int64, tag = "1")] a: i64, #[prost(int64, tag = "2")] b: i64 }
//! #[derive(Clone, PartialEq, prost::Message)]
//! struct SumResponse { #[prost(int64, tag = "1")] v: i64 }
//! struct V(i64);
//! impl Failer for V {
//!     fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), BoxError> {
//! let sum = endpoint_fn(|req: Request<(i64, i64)>| async move {
//!     Ok::<_, BoxError>(V(req.msg().0 + req.msg().1))
//! });
//! let server = Server::new(sum, |m: SumRequest| Ok((m.a, m.b)), |_, v: V| Ok(SumResponse { v: v.0 }));
//! let router = Router::new().unary("/addsvc.Add/Sum", server);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8083").await?;
//! tokio::spawn(serve(listener, router, std::future::pending()));
//!
//! let channel = tonic::transport::Channel::from_static("http://127.0.0.1:8083").connect_lazy();
//! let client = Client::new(channel, "/addsvc.Add/Sum",
//!     |(a, b): (i64, i64)| Ok(SumRequest { a, b }), |m: SumResponse| Ok(m.v));
//! assert_eq!(client.oneshot(Request::from_msg((1, 2))).await?, 3);
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `hooks`: what both servers share: the context from the metadata, the
//!   hooks around kit-endpoint's call path.
//! - `server`: [`Server`], a unary method.
//! - `streaming`: [`StreamingServer`], a server-streaming method.
//! - `codec`: tonic's protobuf codec, a message that does not decode answered
//!   `INVALID_ARGUMENT`.
//! - `router`: [`Router`], [`Health`], [`serve`].
//! - `client`: [`Client`].
//! - `context`: the metadata that carries the request context.
//! - `error`: status codes and classes, [`encode_error`], [`BadRequest`], [`UpstreamError`].
//! - [`layers`]: kit's middlewares in a plain tonic server ([`SetContextLayer`],
//!   [`AnswerErrorsLayer`]) and around a generated client
//!   ([`ClassifyResponseLayer`]); raw `tonic::Status` errors classified by
//!   their code ([`classify_status`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod hooks;
mod client;
mod codec;
mod context;
mod error;
pub mod layers;
mod router;
mod server;
mod streaming;

pub use client::Client;
#[cfg(feature = "tls")]
pub use client::channel_tls;
pub use context::{
    CRITICALITY, GRPC_TIMEOUT, MAX_BUDGET, METADATA_PREFIX, REQUEST_ID, context_from_metadata,
    context_to_metadata, format_grpc_timeout, parse_grpc_timeout,
};
pub use error::{
    BadRequest, ErrorRef, RETRY_PUSHBACK_MS, UpstreamError, class_code, code_class, encode_error,
};
pub use hooks::TRANSPORT;
pub use kit_endpoint::DEFAULT_BUDGET;
pub use layers::{
    AnswerErrors, AnswerErrorsLayer, ClassifyResponse, ClassifyResponseLayer, IntoStatus,
    IntoStatusLayer, PeerAddr, SetContext, SetContextLayer, classify_status, client_ip,
};
#[cfg(feature = "tls")]
pub use router::serve_tls;
pub use router::{HANDSHAKE_TIMEOUT, Health, HealthService, Router, serve};
pub use server::Server;
pub use streaming::{ItemStream, StreamingServer};
pub use tonic::{Code, Status};
pub use tonic_health::ServingStatus;

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
