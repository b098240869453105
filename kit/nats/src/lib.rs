//! Package nats serves kit endpoints over NATS request-reply and calls remote
//! ones, on async-nats: go-kit's NATS transport, with kit's context and error
//! classes.
//!
//! A [`Server`] answers one subject (decode -> endpoint -> encode); [`serve`]
//! subscribes several in a queue group, so that the instances of a service
//! share its requests. A [`Client`] is an endpoint that sends a request and
//! awaits the reply within the request's deadline. The request
//! [`Context`](kit_endpoint::Context) travels in headers (`Kit-Request-Id`,
//! `Kit-Budget-Ms`, `Kit-Meta-*`); a failed call answers with its
//! [`ErrorClass`](kit_endpoint::ErrorClass) in `Kit-Error-Class`, and the client
//! maps it back, so retries, breakers and balancers behave as over HTTP. The
//! same endpoint `Set` can be served over HTTP and NATS at once.
//!
//! ```no_run
//! use std::sync::Arc;
//! use kit_endpoint::{endpoint_fn, BoxError, Failer, Request};
//! use kit_nats::{json, serve, Client, Server};
//! use tower::ServiceExt;
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Sum { a: i64, b: i64 }
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct V { v: i64 }
//! impl Failer for V {
//!     fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), BoxError> {
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let sum = endpoint_fn(|req: Request<Sum>| async move {
//!     Ok::<_, BoxError>(V { v: req.msg().a + req.msg().b })
//! });
//! let server = Server::new(sum, json::decode_request, json::encode_response);
//! tokio::spawn(serve(nats.clone(), "addsvc", vec![("addsvc.sum".into(), Arc::new(server) as _)], std::future::pending()));
//!
//! let client = Client::new(nats, "addsvc.sum", json::encode_request, json::decode_response::<V>);
//! let v = client.oneshot(Request::from_msg(Sum { a: 1, b: 2 })).await?;
//! assert_eq!(v.v, 3);
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `server`: [`Server`], [`Reply`], [`Handler`], [`serve`].
//! - `client`: [`Client`].
//! - `context`: the headers that carry the request context.
//! - `error`: [`encode_error`], [`UpstreamError`], [`BadRequest`], the class header.
//! - [`events`]: JetStream events: [`events::Publisher`] (stored once per ID),
//!   [`events::Consumer`] (acknowledged after success, redelivery with backoff,
//!   dead letters) and [`events::Journal`] (exactly-once effects).
//! - [`json`]: serde JSON decoders and encoders.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod context;
mod error;
pub mod events;
pub mod json;
mod server;
mod servers;

#[cfg(feature = "tls")]
pub use client::connect_tls;
pub use client::{Client, DEFAULT_TIMEOUT};
pub use context::{
    AUTHORIZATION, BUDGET_MS, CALL_ID, CRITICALITY, METADATA_PREFIX, REQUEST_ID, TRACEPARENT,
    TRACESTATE, cancel_subject, context_from_headers, context_to_headers,
};
pub use error::{
    BadRequest, ERROR_CLASS, ErrorRef, RETRY_AFTER_MS, UpstreamError, encode_error, reply_error,
};
pub use kit_endpoint::DEFAULT_BUDGET;
pub use server::{
    FINAL_FLUSH, Handler, MAX_IN_FLIGHT, NoReplySubject, Reply, Server, Subscribed, TRANSPORT,
    serve, subscribe,
};
pub use servers::{connect, servers};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
