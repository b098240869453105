//! Package fault injects faults into kit endpoints, so that tails, failures
//! and overload can be made on purpose: added latency on a share of calls,
//! failures (class *unavailable*) on another, busy CPU work on a third (the
//! worker thread spins, as real computation would: overload on one machine),
//! drawn from a seeded generator so that a run can be repeated exactly.
//!
//! ```
//! use std::time::Duration;
//! use kit_endpoint::{endpoint_fn, BoxError, ErrorClass, Request};
//! use kit_fault::{FaultLayer, Faults};
//! use tower::{Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let faults = Faults::parse(Some("100%:50ms"), Some("0%")).unwrap();
//! let ep = FaultLayer::new(faults, 42).layer(endpoint_fn(|_: Request<()>| async {
//!     Ok::<_, BoxError>(())
//! }));
//! let started = tokio::time::Instant::now();
//! ep.oneshot(Request::from_msg(())).await.unwrap();
//! assert_eq!(started.elapsed(), Duration::from_millis(50));
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use kit_endpoint::{BoxError, Classified, ErrorClass, Request, SplitMix};
use tower::{Layer, Service};

/// What to inject: latency on a share of calls, failures on another, CPU
/// work on a third.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Faults {
    /// `(share, delay)`: this share of calls (0 to 1) waits `delay` first.
    pub latency: Option<(f64, Duration)>,
    /// This share of calls (0 to 1) fails with class unavailable, at once.
    pub errors: Option<f64>,
    /// `(share, work)`: this share of calls (0 to 1) keeps the CPU busy for
    /// `work` first: a spin, not a sleep, in slices of 50 us with the task
    /// yielding between them, as an async computation that awaits now and
    /// then does. Calls in flight share the CPU, so their latency grows with
    /// their number: overload produced on purpose, on one machine.
    pub cpu: Option<(f64, Duration)>,
}

impl Faults {
    /// Parses the flags' forms: latency `SHARE:DURATION` (`10%:100ms`,
    /// `0.1:2s`), errors `SHARE` (`5%`, `0.05`). Durations take `ms` or `s`.
    pub fn parse(latency: Option<&str>, errors: Option<&str>) -> Result<Faults, String> {
        let latency = latency.map(parse_share_of).transpose()?;
        let errors = errors.map(parse_share).transpose()?;
        Ok(Faults {
            latency,
            errors,
            cpu: None,
        })
    }

    /// Adds CPU work in the flag's form `SHARE:DURATION` (`100%:200us`: every
    /// call spins for 200 microseconds first), at most a second a call.
    ///
    /// ```
    /// use std::time::Duration;
    /// let f = kit_fault::Faults::default().with_cpu(Some("50%:200us")).unwrap();
    /// assert_eq!(f.cpu, Some((0.5, Duration::from_micros(200))));
    /// assert!(f.is_active());
    /// assert!(kit_fault::Faults::default().with_cpu(Some("100%:2s")).is_err());
    /// ```
    pub fn with_cpu(mut self, cpu: Option<&str>) -> Result<Faults, String> {
        self.cpu = cpu.map(parse_share_of).transpose()?;
        if let Some((_, work)) = self.cpu
            && work > Duration::from_secs(1)
        {
            return Err(format!(
                "{:?}: CPU work is at most 1s a call",
                cpu.unwrap_or_default()
            ));
        }
        Ok(self)
    }

    /// Whether anything is injected.
    pub fn is_active(&self) -> bool {
        self.latency.is_some_and(|(s, _)| s > 0.0)
            || self.errors.is_some_and(|s| s > 0.0)
            || self.cpu.is_some_and(|(s, _)| s > 0.0)
    }
}

/// `SHARE:DURATION`: `10%:100ms`, `0.1:2s`, `100%:200us`.
fn parse_share_of(spec: &str) -> Result<(f64, Duration), String> {
    let (share, d) = spec
        .split_once(':')
        .ok_or_else(|| format!("{spec:?}: expected SHARE:DURATION, e.g. 10%:100ms"))?;
    Ok((parse_share(share)?, parse_duration(d)?))
}

/// A share: `10%` or `0.1`, from 0 to 1.
pub fn parse_share(s: &str) -> Result<f64, String> {
    let v = match s.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a share (e.g. 10% or 0.1)"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?} is not a share from 0 to 100%"))
    }
}

/// A duration with its unit ([`kit_endpoint::parse_duration`]: `200us`,
/// `100ms`, `1.5s`, `1m 30s`); at most an hour.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = kit_endpoint::parse_duration(s)?;
    if d > Duration::from_secs(3600) {
        return Err(format!("{:?}: at most an hour", s.trim()));
    }
    Ok(d)
}

/// The error of an injected failure: class unavailable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Injected;

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("injected fault")
    }
}

impl std::error::Error for Injected {}

/// A tower layer injecting [`Faults`], drawing from a generator seeded with
/// `seed` (shared by the clones: the same seed and call order give the same
/// faults). Latency is a sleep before the call (dropped with the call, as any
/// wait); a failure returns at once without calling.
#[derive(Debug, Clone)]
pub struct FaultLayer {
    faults: Faults,
    rng: Arc<SplitMix>,
}

impl FaultLayer {
    /// Injects `faults`, deterministic under `seed`.
    pub fn new(faults: Faults, seed: u64) -> Self {
        FaultLayer {
            faults,
            rng: Arc::new(SplitMix::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)),
        }
    }

    /// A draw in [0, 1).
    fn draw(&self) -> f64 {
        self.rng.next_f64()
    }
}

impl<S> Layer<S> for FaultLayer {
    type Service = Fault<S>;

    fn layer(&self, inner: S) -> Fault<S> {
        Fault {
            inner,
            layer: self.clone(),
        }
    }
}

/// A service wrapped by [`FaultLayer`].
#[derive(Debug, Clone)]
pub struct Fault<S> {
    inner: S,
    layer: FaultLayer,
}

impl<S, Req> Service<Request<Req>> for Fault<S>
where
    S: Service<Request<Req>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Req>) -> Self::Future {
        let faults = self.layer.faults;
        let fail = faults.errors.is_some_and(|share| self.layer.draw() < share);
        let delay = faults
            .latency
            .filter(|(share, _)| self.layer.draw() < *share)
            .map(|(_, d)| d);
        let work = faults
            .cpu
            .filter(|(share, _)| self.layer.draw() < *share)
            .map(|(_, d)| d);
        // The inner service was made ready: it takes this call.
        let inner = self.inner.call(req);
        Box::pin(async move {
            if fail {
                drop(inner);
                let unavailable = ErrorClass::Unavailable { retry_after: None };
                return Err(Classified::public(unavailable, Injected).into());
            }
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            if let Some(work) = work {
                spin(work).await;
            }
            inner.await.map_err(Into::into)
        })
    }
}

/// Keeps the CPU busy for `work` of wall-clock time in slices of 50 us,
/// yielding to the runtime between slices (the other calls in flight run
/// meanwhile, as they would beside a real computation that awaits).
async fn spin(work: Duration) {
    const SLICE: Duration = Duration::from_micros(50);
    // Only the time spent in its own slices counts: the calls it yields to
    // meanwhile do not shorten its work.
    let mut spent = Duration::ZERO;
    while spent < work {
        let slice = std::time::Instant::now();
        let this = SLICE.min(work - spent);
        while slice.elapsed() < this {
            std::hint::spin_loop();
        }
        spent += slice.elapsed();
        if spent < work {
            tokio::task::yield_now().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit_endpoint::endpoint_fn;
    use std::sync::atomic::Ordering;
    use tower::ServiceExt;

    #[test]
    fn specs_parse_strictly() {
        let f = Faults::parse(Some("10%:100ms"), Some("0.05")).unwrap();
        assert_eq!(f.latency, Some((0.1, Duration::from_millis(100))));
        assert_eq!(f.errors, Some(0.05));
        for bad in [
            "10%",
            "x:1ms",
            "10%:1",
            "101%:1ms",
            "-1%:1ms",
            "10%:99999999s",
            "10%:2h",
        ] {
            assert!(Faults::parse(Some(bad), None).is_err(), "{bad}");
        }
        assert!(Faults::parse(None, Some("2")).is_err());
        assert!(!Faults::parse(None, None).unwrap().is_active());
        let f = Faults::parse(Some("10%:1m 30s"), None).unwrap();
        assert_eq!(f.latency, Some((0.1, Duration::from_secs(90))));
        let f = Faults::parse(Some("10%:1.5s"), None).unwrap();
        assert_eq!(f.latency, Some((0.1, Duration::from_millis(1500))));
        for bad in ["100%", "x:1ms", "100%:200", "100%:1500ms"] {
            assert!(Faults::default().with_cpu(Some(bad)).is_err(), "{bad}");
        }
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn cpu_work_is_spent_not_slept_and_shared_with_other_calls() {
        let faults = Faults::default().with_cpu(Some("100%:20ms")).unwrap();
        let ep = FaultLayer::new(faults, 1).layer(endpoint_fn(|_: Request<()>| async {
            Ok::<_, BoxError>(())
        }));
        // Paused time: a sleep would pass in no real time at all.
        let started = std::time::Instant::now();
        let virtual_start = tokio::time::Instant::now();
        // Another task on the same thread runs during the work (it yields).
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let other = tokio::spawn({
            let ran = ran.clone();
            async move { ran.store(true, Ordering::Relaxed) }
        });
        ep.oneshot(Request::from_msg(())).await.unwrap();
        assert!(
            started.elapsed() >= Duration::from_millis(20),
            "spent on the CPU"
        );
        assert_eq!(virtual_start.elapsed(), Duration::ZERO, "not a sleep");
        assert!(
            ran.load(Ordering::Relaxed),
            "the thread was shared meanwhile"
        );
        other.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn shares_are_close_and_runs_repeat_under_a_seed() {
        let faults = Faults::parse(Some("10%:100ms"), Some("5%")).unwrap();
        let run = |seed| async move {
            let ep = FaultLayer::new(faults, seed).layer(endpoint_fn(|_: Request<()>| async {
                Ok::<_, BoxError>(())
            }));
            let mut outcomes = Vec::new();
            for _ in 0..2000 {
                let started = tokio::time::Instant::now();
                let r = ep.clone().oneshot(Request::from_msg(())).await;
                outcomes.push((r.is_ok(), started.elapsed() >= Duration::from_millis(100)));
            }
            outcomes
        };
        let a = run(7).await;
        assert_eq!(a, run(7).await, "the same seed, the same faults");
        assert_ne!(a, run(8).await);
        let failed = a.iter().filter(|(ok, _)| !ok).count();
        let slow = a.iter().filter(|(ok, slow)| *ok && *slow).count();
        assert!((60..140).contains(&failed), "{failed} of 2000 failed");
        assert!((140..260).contains(&slow), "{slow} of 2000 slow");
    }
}

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
