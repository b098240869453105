//! Package metrics instruments kit endpoints and resources on the [`metrics`]
//! crate, with Prometheus exposition.
//!
//! Two views, as in the SRE books:
//! - **RED** for endpoints (requests, errors, duration): [`RedLayer`] with
//!   [`RedMetrics`]. Business errors and failures are counted apart.
//! - **USE** for resources (utilization, saturation, errors): [`UseLayer`] with
//!   [`UseMetrics`], around a dependency or a concurrency limit.
//!
//! Handles are registered once, with a recorder passed in, and handed to the
//! layers: no global lookup on the request path. [`prometheus::Exporter`] makes a
//! recorder that is not installed globally, and [`prometheus::MetricsPage`]
//! serves `/metrics`.
//!
//! ```
//! use kit_endpoint::{endpoint_fn, BoxError, Request};
//! use kit_metrics::prometheus::Exporter;
//! use kit_metrics::{RedLayer, RedMetrics, UseLayer, UseMetrics};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let exporter = Exporter::new();
//! let sum = ServiceBuilder::new()
//!     .layer(RedLayer::new(RedMetrics::new(exporter.recorder(), "sum")))
//!     .layer(UseLayer::new(UseMetrics::new(exporter.recorder(), "sum-workers")))
//!     .concurrency_limit(64)
//!     .service(endpoint_fn(|req: Request<(i64, i64)>| async move {
//!         let (a, b) = *req.msg();
//!         Ok::<_, BoxError>(kit_metrics::Plain(a + b))
//!     }));
//! assert_eq!(sum.oneshot(Request::from_msg((1, 2))).await.unwrap().0, 3);
//! let page = exporter.render();
//! assert!(page.contains(r#"kit_endpoint_duration_seconds_bucket{endpoint="sum",le="0.0001"}"#));
//! assert!(page.contains(r#"kit_resource_in_flight{resource="sum-workers"} 0"#));
//! # }
//! ```
//!
//! # Layout
//! - `http`: [`HttpMetrics`], the duration of every HTTP response (OpenTelemetry's names).
//! - `red`: [`RedMetrics`], [`RedLayer`], [`Red`].
//! - `use_`: [`UseMetrics`], [`UseLayer`], [`Use`].
//! - [`prometheus`]: [`prometheus::Exporter`], [`prometheus::MetricsPage`].
#![cfg_attr(docsrs, feature(doc_cfg))]

mod http;
pub mod prometheus;
mod red;
mod use_;

use kit_endpoint::Failer;

pub use http::{HTTP_SERVER_DURATION, HttpMetrics};
pub use red::{DURATION, ERRORS, REQUESTS, Red, RedFuture, RedLayer, RedMetrics};
pub use use_::{IN_FLIGHT, RESOURCE_ERRORS, Use, UseFuture, UseLayer, UseMetrics, WAITING};

/// The metadata kit's metrics are registered with.
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new("kit", metrics::Level::INFO, Some(module_path!()));

/// A response without business errors, for endpoints whose values are plain
/// data: it is a [`Failer`] that never fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Plain<T>(pub T);

impl<T> Failer for Plain<T> {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
