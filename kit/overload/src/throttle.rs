//! Client-side adaptive throttling (Google SRE book, "Handling Overload"):
//! a client whose upstream refuses calls sends it fewer, refusing the rest
//! locally without sending them.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use kit_endpoint::{BoxError, Classified, ErrorClass, RefusableFuture, Request, SplitMix};
use pin_project_lite::pin_project;
use tokio::time::Instant;
use tower::{Layer, Service};

use crate::config::ConfigError;
use crate::future::outcome_of;
use crate::limiter::Outcome;

/// How many buckets the window is counted in.
const BUCKETS: u32 = 10;

/// Client-side adaptive throttling, as the Google SRE book describes it:
/// over the last `window`, the client counts the calls it *requested* and
/// the ones the upstream *accepted*, and refuses each new call locally with
/// probability `max(0, (requests - k * accepts) / (requests + 1))`.
///
/// While the upstream accepts everything, nothing is refused. When it
/// refuses (answers `Unavailable` or `ResourceExhausted`, or the call runs
/// out of time), the client sends about `k` times what it accepts and fails
/// the rest at once with [`Throttled`], class `Unavailable`: an overloaded
/// upstream gets fewer calls instead of retries on top of them. Calls
/// refused locally count as requests, so the throttle lets traffic back as
/// the upstream accepts again.
///
/// Put it *outside* retries and the circuit breaker of the same upstream:
/// a throttled call is never sent, so it is not retried and no breaker
/// counts it against an instance; the throttle sees each logical call's
/// final outcome. `k` = 2 (the book's advice) wastes at most half of what
/// the upstream refuses; a lower `k` throttles sooner.
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxError, Classified, ErrorClass, Request};
/// use kit_overload::{Throttled, ThrottleLayer};
/// use std::time::Duration;
/// use tower::{Layer, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// // An upstream that refuses everything.
/// let upstream = endpoint_fn(|_: Request<()>| async {
///     let overloaded = ErrorClass::Unavailable { retry_after: None };
///     Err::<(), BoxError>(Classified::new(overloaded, "overloaded").into())
/// });
/// let throttle = ThrottleLayer::new(2.0, Duration::from_secs(60)).unwrap().seed(7);
/// let client = throttle.layer(upstream);
/// let mut local = 0;
/// for _ in 0..1000 {
///     let err = client.clone().oneshot(Request::from_msg(())).await.unwrap_err();
///     if kit_endpoint::is_caused_by::<Throttled>(&*err) { local += 1; }
/// }
/// assert!(local > 950, "{local} of 1000 refused without being sent");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ThrottleLayer {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    k: f64,
    bucket: Duration,
    counts: Mutex<Counts>,
    rng: SplitMix,
    metrics: Option<ThrottleMetrics>,
}

/// Where the throttle reports, if anywhere ([`ThrottleLayer::with_metrics`]).
struct ThrottleMetrics {
    throttled: metrics::Counter,
    probability: metrics::Gauge,
}

impl std::fmt::Debug for ThrottleMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThrottleMetrics")
    }
}

#[derive(Debug)]
struct Counts {
    /// (requests, accepts) per bucket, `head` the current one.
    buckets: [(u64, u64); BUCKETS as usize],
    head: usize,
    head_start: Instant,
}

impl Counts {
    /// Moves the window on to `now`, forgetting buckets that left it.
    fn advance(&mut self, now: Instant, bucket: Duration) {
        let mut moved = 0;
        while now.saturating_duration_since(self.head_start) >= bucket {
            if moved >= BUCKETS {
                // Idle for a whole window or more: start afresh.
                self.buckets = Default::default();
                self.head_start = now;
                break;
            }
            self.head = (self.head + 1) % BUCKETS as usize;
            self.buckets[self.head] = (0, 0);
            self.head_start += bucket;
            moved += 1;
        }
    }

    fn totals(&self) -> (u64, u64) {
        self.buckets
            .iter()
            .fold((0, 0), |(r, a), (br, ba)| (r + br, a + ba))
    }
}

const THROTTLED: &str = "kit_overload_throttled_total";
const PROBABILITY: &str = "kit_overload_throttle_probability";
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// What the throttle stands at: [`ThrottleLayer::snapshot`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleSnapshot {
    /// Calls requested over the window (sent or refused locally).
    pub requests: u64,
    /// Calls the upstream accepted over the window.
    pub accepts: u64,
    /// The probability with which the next call is refused locally.
    pub reject_probability: f64,
}

impl ThrottleLayer {
    /// A throttle with multiplier `k` (at least 1; the SRE book's 2 is a good
    /// start) over the last `window` (1 s to 1 h; the book's 2 minutes).
    pub fn new(k: f64, window: Duration) -> Result<ThrottleLayer, ConfigError> {
        if !(k >= 1.0 && k.is_finite()) {
            return Err(ConfigError::new(format!(
                "the throttle's k ({k}) must be at least 1 (2 is the usual; off is no throttle)"
            )));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&window) {
            return Err(ConfigError::new(format!(
                "the throttle's window ({}) must be between 1s and 1h",
                humantime::format_duration(window)
            )));
        }
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Ok(ThrottleLayer {
            shared: Arc::new(Shared {
                k,
                bucket: window / BUCKETS,
                counts: Mutex::new(Counts {
                    buckets: Default::default(),
                    head: 0,
                    head_start: Instant::now(),
                }),
                rng: SplitMix::new(seed),
                metrics: None,
            }),
        })
    }

    /// Reports the calls refused locally (`kit_overload_throttled_total`)
    /// and the probability of refusing the next
    /// (`kit_overload_throttle_probability`) to `recorder`, labelled
    /// `upstream="<name>"`.
    ///
    /// # Panics
    /// If the layer was cloned or used already (configure it first).
    pub fn with_metrics(mut self, recorder: &dyn metrics::Recorder, upstream: &str) -> Self {
        use metrics::{Key, KeyName, Label};
        recorder.describe_counter(
            KeyName::from(THROTTLED),
            None,
            "Calls refused by the client's adaptive throttle, never sent (kit-overload).".into(),
        );
        recorder.describe_gauge(
            KeyName::from(PROBABILITY),
            None,
            "The probability with which the client's throttle refuses its next call.".into(),
        );
        let key = |name: &'static str| {
            Key::from_parts(name, vec![Label::new("upstream", upstream.to_owned())])
        };
        let metrics = ThrottleMetrics {
            throttled: recorder.register_counter(&key(THROTTLED), &METADATA),
            probability: recorder.register_gauge(&key(PROBABILITY), &METADATA),
        };
        Arc::get_mut(&mut self.shared)
            .expect("a throttle is configured before it is cloned or used")
            .metrics = Some(metrics);
        self
    }

    /// Draws from a generator seeded with `seed` (tests that repeat).
    pub fn seed(self, seed: u64) -> Self {
        self.shared.rng.reseed(seed);
        self
    }

    /// Where the throttle stands.
    pub fn snapshot(&self) -> ThrottleSnapshot {
        let mut counts = self.shared.lock();
        counts.advance(Instant::now(), self.shared.bucket);
        let (requests, accepts) = counts.totals();
        ThrottleSnapshot {
            requests,
            accepts,
            reject_probability: self.shared.probability(requests, accepts),
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn probability(&self, requests: u64, accepts: u64) -> f64 {
        ((requests as f64 - self.k * accepts as f64) / (requests as f64 + 1.0)).max(0.0)
    }

    /// Counts a request; whether to refuse it locally.
    fn admit(&self) -> bool {
        let p = {
            let mut counts = self.lock();
            counts.advance(Instant::now(), self.bucket);
            let (requests, accepts) = counts.totals();
            let head = counts.head;
            counts.buckets[head].0 += 1;
            self.probability(requests, accepts)
        };
        if let Some(m) = &self.metrics {
            m.probability.set(p);
        }
        let admitted = p == 0.0 || self.draw() >= p;
        if !admitted && let Some(m) = &self.metrics {
            m.throttled.increment(1);
        }
        admitted
    }

    fn accepted(&self) {
        let mut counts = self.lock();
        counts.advance(Instant::now(), self.bucket);
        let head = counts.head;
        counts.buckets[head].1 += 1;
    }

    /// A draw in [0, 1).
    fn draw(&self) -> f64 {
        self.rng.next_f64()
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttle<S>;

    fn layer(&self, inner: S) -> Throttle<S> {
        Throttle {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// A client behind client-side adaptive throttling: made by
/// [`ThrottleLayer`].
#[derive(Debug, Clone)]
pub struct Throttle<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// A call refused by the client's own throttle, never sent: class
/// `Unavailable` (the upstream has been refusing calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled;

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("throttled by the client: the upstream has been refusing calls")
    }
}

impl std::error::Error for Throttled {}

impl<S, T> Service<Request<T>> for Throttle<S>
where
    S: Service<Request<T>>,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ThrottleFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<T>) -> Self::Future {
        if self.shared.admit() {
            ThrottleFuture {
                call: RefusableFuture::called(self.inner.call(req)),
                shared: Some(self.shared.clone()),
            }
        } else {
            let class = ErrorClass::Unavailable { retry_after: None };
            ThrottleFuture {
                call: RefusableFuture::refused(Classified::public(class, Throttled)),
                shared: None,
            }
        }
    }
}

pin_project! {
    /// The future of [`Throttle`]: the call's, its outcome counted, or the
    /// refusal of a throttled call (never sent, not counted).
    pub struct ThrottleFuture<F> {
        #[pin]
        call: RefusableFuture<F>,
        shared: Option<Arc<Shared>>,
    }
}

impl<F, R, E> Future for ThrottleFuture<F>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.call.poll(cx));
        if let Some(shared) = this.shared.take() {
            // An answer that is not a refusal counts as accepted.
            let refused = result
                .as_ref()
                .is_err_and(|e| outcome_of(e) == Outcome::Overloaded);
            if !refused {
                shared.accepted();
            }
        }
        Poll::Ready(result)
    }
}
