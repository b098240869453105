//! Package tracing records distributed traces of kit endpoints: W3C trace
//! context across every hop, a span per endpoint call and per outgoing call,
//! exported over OTLP to an OpenTelemetry collector, off the request path.
//!
//! - The trace context lives in the request's
//!   [`Context`](kit_endpoint::Context) ([`TraceContext`](kit_endpoint::TraceContext),
//!   in kit-endpoint): kit's transports read it from incoming `traceparent` /
//!   `tracestate` headers (HTTP and NATS alike; an invalid header starts a new
//!   trace) and write it into outgoing calls. Nothing here knows a transport.
//! - [`TracingLayer::server`] records a span per endpoint call, child of the
//!   caller's context; [`TracingLayer::client`] a span per outgoing call
//!   (put it around each instance's endpoint, inside retries and balancing:
//!   each attempt is a span naming its instance). Each puts its span's context
//!   in the request, so log lines (kit-log writes `trace_id` and `span_id`)
//!   and outgoing calls carry it.
//! - [`Tracer`]: parent-based sampling with a ratio for new traces; finished
//!   spans go into a bounded queue, exported in batches by a thread of its own
//!   (OTLP over HTTP/protobuf, [`Tracer::otlp`]). A collector that is down,
//!   slow or refusing never slows a request: spans beyond the queue are
//!   dropped and counted ([`Tracer::stats`]). [`Tracer::shutdown`] sends the
//!   last spans on graceful shutdown.
//!
//! An unsampled call costs a span ID and a context update, no allocation.
//!
//! # Layout
//! - `tracer`: [`Tracer`], [`ExportStats`], the export thread.
//! - `layer`: [`TracingLayer`], [`Tracing`], [`TracingFuture`].
//! - `memory`: [`MemoryExporter`], for unit tests.
//! - `ids`: random trace and span IDs.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod ids;
mod layer;
mod memory;
mod tracer;

pub use layer::{Tracing, TracingFuture, TracingLayer};
pub use memory::MemoryExporter;
pub use tracer::{BATCH_DELAY, DEFAULT_QUEUE, EXPORT_TIMEOUT, ExportStats, MAX_BATCH, Tracer};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
