//! The [`Tracer`]: the sampling decision for new traces, and the bounded queue
//! that takes finished spans off the request path to an exporter thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kit_endpoint::BoxError;
use opentelemetry::InstrumentationScope;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tokio::sync::{mpsc, oneshot};

/// Spans waiting for export, at most; more are dropped (and counted).
pub const DEFAULT_QUEUE: usize = 4096;
/// Spans sent per export request, at most.
pub const MAX_BATCH: usize = 512;
/// How long a span waits for its batch to fill before it is sent anyway.
pub const BATCH_DELAY: Duration = Duration::from_millis(500);
/// How long one export request may take before it is given up (its spans
/// counted as failed).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// What became of the spans so far: see [`Tracer::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Spans the exporter accepted.
    pub exported: u64,
    /// Spans dropped because the queue was full (the collector slow or down).
    pub dropped: u64,
    /// Spans lost in failed export requests (the collector refused or did not
    /// answer in time).
    pub failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    exported: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug)]
struct Shared {
    /// `ratio * 2^64`: a new trace is sampled when a random u64 is below it.
    threshold: u64,
    always: bool,
    queue: mpsc::Sender<SpanData>,
    flush: mpsc::UnboundedSender<oneshot::Sender<()>>,
    counters: Counters,
    scope: InstrumentationScope,
    service: Arc<str>,
}

/// Records spans and exports them off the request path. Cheap to clone: the
/// clones share the queue and the counters. Give it to the layers
/// ([`TracingLayer`](crate::TracingLayer)); call [`shutdown`](Self::shutdown)
/// when the service stops, so that the last spans reach the collector.
///
/// Sampling is parent-based: a request that arrives with a trace context is
/// recorded if its caller's was; a new trace is recorded with probability
/// `sample_ratio`. An unsampled call still propagates its trace context.
///
/// Finished spans go into a bounded queue (a `try_send`, never a wait); an
/// exporter thread of its own sends them in batches. A collector that is down,
/// slow or refusing never slows a request: spans beyond the queue are dropped
/// and counted ([`stats`](Self::stats)).
#[derive(Debug, Clone)]
pub struct Tracer {
    shared: Arc<Shared>,
}

impl Tracer {
    /// A tracer exporting over OTLP/HTTP (protobuf) to the collector at
    /// `endpoint` (its base URL, e.g. `http://127.0.0.1:4318`; `/v1/traces` is
    /// added unless the URL has a path), naming the service `service`.
    pub fn otlp(endpoint: &str, service: &str, sample_ratio: f64) -> Result<Tracer, BoxError> {
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|e| format!("OTLP endpoint {endpoint:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!("OTLP endpoint {endpoint:?}: expected http(s)://HOST:PORT").into());
        }
        let url = match uri.path() {
            "" | "/" => format!("{}/v1/traces", endpoint.trim_end_matches('/')),
            _ => endpoint.to_owned(),
        };
        Tracer::with_exporter(
            move || {
                opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_protocol(Protocol::HttpBinary)
                    .with_endpoint(url)
                    .with_timeout(EXPORT_TIMEOUT)
                    .build()
                    .map_err(Into::into)
            },
            service,
            sample_ratio,
            DEFAULT_QUEUE,
        )
    }

    /// A tracer exporting with the exporter `make` builds (on the exporter
    /// thread, inside its tokio runtime), with a queue of `queue` spans. For
    /// tests: any OpenTelemetry `SpanExporter`, e.g. an in-memory one.
    pub fn with_exporter<X, F>(
        make: F,
        service: &str,
        sample_ratio: f64,
        queue: usize,
    ) -> Result<Tracer, BoxError>
    where
        X: SpanExporter + 'static,
        F: FnOnce() -> Result<X, BoxError> + Send + 'static,
    {
        let ratio = if sample_ratio.is_nan() {
            0.0
        } else {
            sample_ratio.clamp(0.0, 1.0)
        };
        let (tx, rx) = mpsc::channel(queue.max(1));
        let (flush_tx, flush_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            threshold: (ratio * u64::MAX as f64) as u64,
            always: ratio >= 1.0,
            queue: tx,
            flush: flush_tx,
            counters: Counters::default(),
            scope: InstrumentationScope::builder("kit-tracing")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            service: Arc::from(service),
        });
        let resource = Resource::builder_empty()
            .with_attribute(KeyValue::new("service.name", service.to_owned()))
            .build();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("kit-tracing-export".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return drop(ready_tx.send(Err(BoxError::from(e)))),
                };
                runtime.block_on(async move {
                    let mut exporter = match make() {
                        Ok(x) => x,
                        Err(e) => return drop(ready_tx.send(Err(e))),
                    };
                    exporter.set_resource(&resource);
                    let _ = ready_tx.send(Ok(()));
                    export_loop(exporter, rx, flush_rx, weak).await;
                });
            })?;
        ready_rx
            .recv()
            .map_err(|_| BoxError::from("the tracing exporter thread died"))??;
        Ok(Tracer { shared })
    }

    /// What became of the spans so far.
    pub fn stats(&self) -> ExportStats {
        let c = &self.shared.counters;
        ExportStats {
            exported: c.exported.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    /// The service name spans are recorded under.
    pub fn service(&self) -> &str {
        &self.shared.service
    }

    /// Sends every span queued so far, waiting at most `timeout`: call it on
    /// graceful shutdown (after the last request was answered).
    pub async fn shutdown(&self, timeout: Duration) {
        let (tx, rx) = oneshot::channel();
        if self.shared.flush.send(tx).is_ok() {
            let _ = tokio::time::timeout(timeout, rx).await;
        }
    }

    /// Whether a new trace is sampled.
    pub(crate) fn sample_root(&self) -> bool {
        self.shared.always || crate::ids::next_u64() < self.shared.threshold
    }

    pub(crate) fn scope(&self) -> &InstrumentationScope {
        &self.shared.scope
    }

    /// Queues a finished span, or drops it (counted) if the queue is full.
    pub(crate) fn submit(&self, span: SpanData) {
        if self.shared.queue.try_send(span).is_err() {
            self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn export_loop<X: SpanExporter>(
    exporter: X,
    mut rx: mpsc::Receiver<SpanData>,
    mut flush_rx: mpsc::UnboundedReceiver<oneshot::Sender<()>>,
    shared: std::sync::Weak<Shared>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let mut flushed = None;
        tokio::select! {
            span = rx.recv() => match span {
                Some(span) => batch.push(span),
                None => return, // every Tracer is gone
            },
            done = flush_rx.recv() => flushed = done,
        }
        // Fill the batch: whatever is queued now, then up to the delay.
        let deadline = tokio::time::Instant::now() + BATCH_DELAY;
        while flushed.is_none() && batch.len() < MAX_BATCH {
            tokio::select! {
                span = rx.recv() => match span {
                    Some(span) => batch.push(span),
                    None => break,
                },
                done = flush_rx.recv() => flushed = done,
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        if flushed.is_some() {
            while let Ok(span) = rx.try_recv() {
                batch.push(span);
            }
        }
        while !batch.is_empty() {
            let rest = batch.split_off(batch.len().min(MAX_BATCH));
            let chunk = std::mem::replace(&mut batch, rest);
            let n = chunk.len() as u64;
            let sent = tokio::time::timeout(EXPORT_TIMEOUT, exporter.export(chunk)).await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let counter = match sent {
                Ok(Ok(())) => &shared.counters.exported,
                _ => &shared.counters.failed,
            };
            counter.fetch_add(n, Ordering::Relaxed);
        }
        if let Some(done) = flushed {
            let _ = done.send(());
        }
    }
}
