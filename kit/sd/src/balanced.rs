//! The balanced endpoint: pick an instance, call it, retry on another.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use kit_endpoint::{BoxError, BoxFuture, Classified, DeadlineExceeded, ErrorClass, Request};
use tower::{Service, ServiceExt};

use crate::balancer::{Picker, Strategy};
use crate::eject::Ejection;
use crate::endpointer::{Endpointer, Entry};
use crate::hedge::{Budget, HedgeDelay, Hedging, Latencies, RetryBudget, RetryTokens};

/// There was no instance to call. Its class is [`ErrorClass::Unavailable`]
/// (the balanced endpoint returns it wrapped in [`Classified`]): HTTP answers 503.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoInstances;

impl fmt::Display for NoInstances {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no instances available")
    }
}

impl Error for NoInstances {}

impl NoInstances {
    /// Its class: unavailable.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Unavailable { retry_after: None }
    }

    /// The error the balanced endpoint returns: `self` with its class.
    pub fn into_error(self) -> BoxError {
        Classified::public(self.class(), self).into()
    }
}

/// Every attempt failed, and there were several. Keeps each attempt's error,
/// with the instance it happened on; its `source()` is the last one, so its
/// [`ErrorClass`] (and so the transport's status) is the last attempt's. A call
/// that failed after one attempt returns that attempt's error as it is.
#[derive(Debug)]
pub struct RetriesExhausted {
    /// `(instance address, error)` for each attempt, in order.
    pub attempts: Vec<(String, BoxError)>,
}

impl fmt::Display for RetriesExhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} attempt(s) failed", self.attempts.len())?;
        for (i, (addr, err)) in self.attempts.iter().enumerate() {
            write!(f, "{} {addr}: {err}", if i == 0 { ":" } else { ";" })?;
        }
        Ok(())
    }
}

impl Error for RetriesExhausted {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.attempts.last().map(|(_, e)| &**e as _)
    }
}

type Retryable = dyn Fn(&BoxError) -> bool + Send + Sync;

/// An endpoint over all the instances of an [`Endpointer`]: each call goes to
/// the instance the [`Strategy`] picks; if it fails, it is retried on a
/// *different* instance while one remains, up to `max_attempts` in all, and
/// never past the request's deadline (go-kit's `Retry` over a `Balancer`).
pub struct Balanced<Req, Resp> {
    shared: Arc<Shared<Req, Resp>>,
}

struct Shared<Req, Resp> {
    endpointer: Endpointer<Req, Resp>,
    picker: Picker,
    max_attempts: usize,
    retryable: Box<Retryable>,
    ejection: Option<Ejection>,
    hedging: Option<HedgeState>,
    retry_budget: Option<RetryTokens>,
    stats: Counters,
}

/// Hedging at work: its settings, budget and live latencies.
struct HedgeState {
    delay: HedgeDelay,
    budget: Budget,
    latencies: Option<Latencies>,
}

impl HedgeState {
    fn delay(&self) -> Option<Duration> {
        match self.delay {
            HedgeDelay::Fixed(d) => Some(d),
            HedgeDelay::Percentile(_) => self.latencies.as_ref()?.percentile(),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    retries: AtomicU64,
    retries_denied: AtomicU64,
    hedges: AtomicU64,
    hedges_denied: AtomicU64,
    hedges_unsent: AtomicU64,
    hedges_won: AtomicU64,
}

/// What a [`Balanced`] endpoint did so far: see [`Balanced::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BalancedStats {
    /// Calls made to it.
    pub calls: u64,
    /// Retries sent (attempts after a failure).
    pub retries: u64,
    /// Retries the retry budget refused.
    pub retries_denied: u64,
    /// Hedges sent.
    pub hedges: u64,
    /// Hedges the hedge budget refused (the delay had passed).
    pub hedges_denied: u64,
    /// Hedges not sent because every instance was already tried for the call
    /// (one instance left): no budget token is taken for them.
    pub hedges_unsent: u64,
    /// Calls whose hedge answered first.
    pub hedges_won: u64,
}

impl<Req, Resp> Clone for Balanced<Req, Resp> {
    fn clone(&self) -> Self {
        Balanced {
            shared: self.shared.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for Balanced<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balanced")
            .field("max_attempts", &self.shared.max_attempts)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Balanced<Req, Resp> {
    /// What it did so far: calls, retries and hedges sent or refused by their
    /// budgets.
    pub fn stats(&self) -> BalancedStats {
        let c = &self.shared.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BalancedStats {
            calls: get(&c.calls),
            retries: get(&c.retries),
            retries_denied: get(&c.retries_denied),
            hedges: get(&c.hedges),
            hedges_denied: get(&c.hedges_denied),
            hedges_unsent: get(&c.hedges_unsent),
            hedges_won: get(&c.hedges_won),
        }
    }

    /// Balances over `endpointer` with `strategy`, trying up to `max_attempts`
    /// instances per call (at least one), retrying the errors whose
    /// [`ErrorClass`] says another instance may succeed
    /// ([`ErrorClass::is_retryable`]: not an upstream's 4xx answer, an invalid
    /// argument, a spent deadline or a cancelled call). For more settings, see
    /// [`Balanced::builder`].
    pub fn new(endpointer: Endpointer<Req, Resp>, strategy: Strategy, max_attempts: usize) -> Self {
        Self::builder(endpointer)
            .strategy(strategy)
            .max_attempts(max_attempts)
            .build()
    }

    /// A balanced endpoint to configure: least pending, 3 attempts, retries by
    /// class and no ejection until told otherwise.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use kit_endpoint::{endpoint_fn, BoxEndpoint, BoxError, Request};
    /// use kit_sd::{Balanced, Ejection, Endpointer, Factory, Instance, StaticInstancer, Strategy};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let factory: Factory<(), ()> = Arc::new(|_: &Instance| {
    /// #     Ok(BoxEndpoint::new(endpoint_fn(|_req: Request<()>| async { Ok::<_, BoxError>(()) })))
    /// # });
    /// let instancer = StaticInstancer::new(vec![Instance::new("a"), Instance::new("b")]);
    /// let ep = Balanced::builder(Endpointer::new(&instancer, factory, None))
    ///     .strategy(Strategy::PeakEwma)
    ///     .max_attempts(2)
    ///     .ejecting(Ejection::default())
    ///     .build();
    /// # let _ = ep;
    /// # }
    /// ```
    pub fn builder(endpointer: Endpointer<Req, Resp>) -> Builder<Req, Resp> {
        Builder {
            endpointer,
            strategy: Strategy::LeastPending,
            max_attempts: 3,
            retryable: Box::new(|err: &BoxError| ErrorClass::of(&**err).is_retryable()),
            ejection: None,
            hedging: None,
            retry_budget: None,
            epsilon: 0.1,
        }
    }
}

/// Configures a [`Balanced`] endpoint before it is built (and shared), so that
/// every clone has the same settings: from [`Balanced::builder`].
pub struct Builder<Req, Resp> {
    endpointer: Endpointer<Req, Resp>,
    strategy: Strategy,
    max_attempts: usize,
    retryable: Box<Retryable>,
    ejection: Option<Ejection>,
    hedging: Option<Hedging>,
    retry_budget: Option<RetryBudget>,
    epsilon: f64,
}

impl<Req, Resp> fmt::Debug for Builder<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("strategy", &self.strategy)
            .field("max_attempts", &self.max_attempts)
            .field("ejection", &self.ejection)
            .field("hedging", &self.hedging)
            .field("retry_budget", &self.retry_budget)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Builder<Req, Resp> {
    /// How each call picks its instance (default: least pending of two random).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// At most this many instances per call (at least one; default 3).
    pub fn max_attempts(mut self, max_attempts: usize) -> Self {
        self.max_attempts = max_attempts.max(1);
        self
    }

    /// Retries only the errors for which `retryable` is true, instead of
    /// deciding by class.
    pub fn retry_if(
        mut self,
        retryable: impl Fn(&BoxError) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.retryable = Box::new(retryable);
        self
    }

    /// Ejects outliers (see [`Ejection`]): an instance whose calls keep failing
    /// is left out of the picks for a cooldown.
    pub fn ejecting(mut self, ejection: Ejection) -> Self {
        self.ejection = Some(ejection);
        self
    }

    /// Hedges calls (see [`Hedging`]): only for endpoints that are safe to
    /// call twice. Without it, no call is ever sent twice at once.
    pub fn hedging(mut self, hedging: Hedging) -> Self {
        self.hedging = Some(hedging);
        self
    }

    /// Draws retries from a [`RetryBudget`]: past it, a failed attempt is not
    /// retried (counted in [`BalancedStats::retries_denied`]).
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.retry_budget = Some(budget);
        self
    }

    /// For [`Strategy::EpsilonGreedy`]: the share of picks that explore a
    /// random instance (default 0.1).
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon.clamp(0.0, 1.0);
        self
    }

    /// The balanced endpoint.
    pub fn build(self) -> Balanced<Req, Resp> {
        let hedging = self.hedging.map(|h| HedgeState {
            delay: h.delay,
            budget: Budget::new(h.budget_percent.clamp(0.0, 100.0) / 100.0, 10.0, 1.0),
            latencies: match h.delay {
                HedgeDelay::Percentile(q) => Some(Latencies::new(q)),
                HedgeDelay::Fixed(_) => None,
            },
        });
        Balanced {
            shared: Arc::new(Shared {
                endpointer: self.endpointer,
                picker: Picker::with_epsilon(self.strategy, self.epsilon),
                max_attempts: self.max_attempts,
                retryable: self.retryable,
                ejection: self.ejection,
                hedging,
                retry_budget: self.retry_budget.map(RetryTokens::new),
                stats: Counters::default(),
            }),
        }
    }
}

/// Takes a call out of an instance's pending count when it ends.
struct Pending(Arc<AtomicUsize>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<Req, Resp> Service<Request<Req>> for Balanced<Req, Resp>
where
    Req: Clone + Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<Resp>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Req>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            let (ctx, msg) = req.into_parts();
            let entries = shared.endpointer.entries();
            if entries.is_empty() {
                return Err(NoInstances.into_error());
            }
            let stats = &shared.stats;
            stats.calls.fetch_add(1, Ordering::Relaxed);
            if let Some(budget) = &shared.retry_budget {
                budget.deposit();
            }
            if let Some(hedging) = &shared.hedging {
                hedging.budget.deposit();
            }
            let observe = shared.picker.observes_latency() || shared.hedging.is_some();
            let mut tried = Vec::with_capacity(shared.max_attempts);
            let mut attempts: Vec<(String, BoxError)> = Vec::new();
            let mut in_flight = FuturesUnordered::new();
            // The instance for the next attempt: an untried one while any is
            // left, one already tried only if `distinct` is not asked.
            let pick = |tried: &[usize], distinct: bool| {
                let i = shared.picker.pick(&entries, tried)?;
                (!distinct || !tried.contains(&i)).then_some(i)
            };
            // Starts an attempt on instance `i`.
            let launch = {
                let (entries, ctx) = (entries.clone(), ctx.clone());
                move |i: usize, tried: &mut Vec<usize>, in_flight: &mut FuturesUnordered<_>| {
                    tried.push(i);
                    let entry = entries[i].clone();
                    let req = Request::new(ctx.clone(), msg.clone());
                    entry.pending.fetch_add(1, Ordering::Relaxed);
                    in_flight.push(async move {
                        let _pending = Pending(entry.pending.clone());
                        let started = tokio::time::Instant::now();
                        let result = entry.endpoint.clone().oneshot(req).await;
                        (i, started.elapsed(), result)
                    });
                }
            };
            if ctx.is_expired() {
                return Err(DeadlineExceeded::new().into());
            }
            if let Some(i) = pick(&tried, false) {
                launch(i, &mut tried, &mut in_flight);
            }
            let first = tried.first().copied();
            let mut hedge_at = shared
                .hedging
                .as_ref()
                .and_then(HedgeState::delay)
                .map(|d| tokio::time::Instant::now() + d)
                .filter(|at| ctx.deadline().is_none_or(|deadline| *at < deadline));
            while !in_flight.is_empty() {
                let next = match hedge_at {
                    Some(at) => tokio::select! {
                        next = in_flight.next() => next,
                        _ = tokio::time::sleep_until(at) => {
                            hedge_at = None;
                            let hedging = shared.hedging.as_ref().map(|h| &h.budget);
                            // A token is taken only for a hedge that can be
                            // sent: to an instance not tried yet.
                            match pick(&tried, true) {
                                None => {
                                    stats.hedges_unsent.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(i) if hedging.is_some_and(Budget::withdraw) => {
                                    launch(i, &mut tried, &mut in_flight);
                                    stats.hedges.fetch_add(1, Ordering::Relaxed);
                                }
                                Some(_) => {
                                    stats.hedges_denied.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            continue;
                        }
                    },
                    None => in_flight.next().await,
                };
                let Some((i, took, result)) = next else {
                    break;
                };
                let entry = &entries[i];
                if observe {
                    let sample = match &result {
                        Err(err) if ErrorClass::of(&**err).counts_as_failure() => {
                            failure_sample(&entries, took)
                        }
                        _ => took,
                    };
                    entry.health.observe(sample);
                    shared.picker.observed(&entries, i);
                }
                match result {
                    Ok(resp) => {
                        entry.health.succeeded();
                        if let Some(latencies) =
                            shared.hedging.as_ref().and_then(|h| h.latencies.as_ref())
                        {
                            latencies.observe(took);
                        }
                        if Some(i) != first && tried.len() > 1 && attempts.is_empty() {
                            stats.hedges_won.fetch_add(1, Ordering::Relaxed);
                        }
                        // The other attempt in flight, if any, is dropped here: cancelled.
                        return Ok(resp);
                    }
                    Err(err) => {
                        // The streak is kept with or without ejection:
                        // least-pending passes over an instance that just failed.
                        let threshold = shared
                            .ejection
                            .as_ref()
                            .map_or(u32::MAX, |e| e.consecutive_failures);
                        let streak = entry.health.failed(threshold);
                        if let Some(ejection) = &shared.ejection
                            && streak
                        {
                            let ejected = entries.iter().filter(|e| e.health.is_ejected()).count();
                            let allowed = (ejection.max_ejected_share * entries.len() as f64)
                                .floor() as usize;
                            if ejected < allowed {
                                entry.health.eject(ejection.cooldown);
                            }
                        }
                        let retry = (shared.retryable)(&err);
                        attempts.push((entry.instance.addr.clone(), err));
                        if !retry || tried.len() >= shared.max_attempts || !in_flight.is_empty() {
                            // Not worth retrying, no attempts left, or a hedge
                            // still running: wait for what is in flight.
                            continue;
                        }
                        if ctx.is_expired() {
                            attempts.push(("(none)".into(), DeadlineExceeded::new().into()));
                            break;
                        }
                        if shared.retry_budget.as_ref().is_some_and(|b| !b.withdraw()) {
                            stats.retries_denied.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        if let Some(i) = pick(&tried, false) {
                            launch(i, &mut tried, &mut in_flight);
                            stats.retries.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            // A lone failure is returned as itself, not wrapped.
            if attempts.len() == 1 {
                return Err(attempts
                    .pop()
                    .map(|(_, e)| e)
                    .unwrap_or_else(|| NoInstances.into_error()));
            }
            if attempts.is_empty() {
                return Err(NoInstances.into_error());
            }
            Err(RetriesExhausted { attempts }.into())
        })
    }
}

/// The least a failed attempt counts as in an instance's latency estimate.
const FAILURE_PENALTY_FLOOR: Duration = Duration::from_millis(100);

/// What a failed attempt that took `took` counts as in its instance's latency
/// estimate: at least twice the slowest estimate among `entries`, and at
/// least [`FAILURE_PENALTY_FLOOR`]. An instance that fails *fast* would
/// otherwise look fastest to peak EWMA and epsilon-greedy and draw the
/// traffic (with ejection off, the library's default); this way it looks
/// slowest, and its estimate decays (over about 10 s) until it is tried again.
fn failure_sample<Req, Resp>(entries: &[Entry<Req, Resp>], took: Duration) -> Duration {
    let slowest = entries
        .iter()
        .map(|e| e.health.raw_estimate())
        .fold(0.0, f64::max);
    let doubled = Duration::from_nanos((2.0 * slowest).min(u64::MAX as f64) as u64);
    took.max(doubled).max(FAILURE_PENALTY_FLOOR)
}
