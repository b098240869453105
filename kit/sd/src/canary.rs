//! Routing by version: filters that pin calls to instances with some metadata,
//! and a canary split that sends a chosen share of calls to a new version.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxEndpoint, BoxError, BoxFuture, Request};
use tower::{Service, ServiceExt};

use crate::balanced::NoInstances;
use crate::endpointer::Filter;
use crate::instancer::Instance;

/// Only instances whose metadata `key` is `value`.
///
/// ```
/// use kit_sd::{Instance, metadata_is};
/// let zone_a = metadata_is("zone", "a");
/// assert!(zone_a(&Instance::new("x").with("zone", "a")));
/// assert!(!zone_a(&Instance::new("y")));
/// ```
pub fn metadata_is(key: impl Into<String>, value: impl Into<String>) -> Filter {
    let (key, value) = (key.into(), value.into());
    Arc::new(move |i: &Instance| i.metadata.get(&key) == Some(&value))
}

/// Only instances announcing `version` (metadata `version`): pins calls to it.
pub fn version_is(version: impl Into<String>) -> Filter {
    metadata_is("version", version)
}

/// The instances `filter` refuses.
pub fn not(filter: Filter) -> Filter {
    Arc::new(move |i: &Instance| !filter(i))
}

/// A canary split: `percent` of the calls go to `canary` (say, balanced over
/// the instances of a new version), the rest to `stable`.
///
/// The split is exact and evenly spread, not random: of every 100 calls,
/// `percent` go to the canary, one every `100 / percent` calls. While the canary
/// has no instances ([`NoInstances`]), its calls go to `stable`, so a canary
/// that is not deployed yet (or was withdrawn) costs nothing.
///
/// ```
/// use kit_endpoint::{endpoint_fn, BoxEndpoint, BoxError, Request};
/// use kit_sd::Canary;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let answer = |v: &'static str| BoxEndpoint::new(endpoint_fn(move |_: Request<()>| async move { Ok::<_, BoxError>(v) }));
/// let split = Canary::new(answer("v1"), answer("v2"), 10);
/// let mut to_v2 = 0;
/// for _ in 0..100 {
///     if split.clone().oneshot(Request::from_msg(())).await.unwrap() == "v2" { to_v2 += 1 }
/// }
/// assert_eq!(to_v2, 10);
/// # }
/// ```
pub struct Canary<Req, Resp> {
    stable: BoxEndpoint<Req, Resp>,
    canary: BoxEndpoint<Req, Resp>,
    percent: u64,
    calls: Arc<AtomicU64>,
}

impl<Req, Resp> Clone for Canary<Req, Resp> {
    fn clone(&self) -> Self {
        Canary {
            stable: self.stable.clone(),
            canary: self.canary.clone(),
            percent: self.percent,
            calls: self.calls.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for Canary<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canary")
            .field("percent", &self.percent)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Canary<Req, Resp> {
    /// Sends `percent` (0 to 100, capped) of the calls to `canary`.
    pub fn new(
        stable: BoxEndpoint<Req, Resp>,
        canary: BoxEndpoint<Req, Resp>,
        percent: u8,
    ) -> Self {
        Canary {
            stable,
            canary,
            percent: u64::from(percent.min(100)),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Whether call number `n` goes to the canary: when `n * percent / 100`
    /// steps up, which spreads the canary's calls evenly.
    fn to_canary(&self, n: u64) -> bool {
        (n + 1) * self.percent / 100 > n * self.percent / 100
    }
}

impl<Req, Resp> Service<Request<Req>> for Canary<Req, Resp>
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
        let n = self.calls.fetch_add(1, Ordering::Relaxed) % 100;
        let stable = self.stable.clone();
        if !self.to_canary(n) {
            return Box::pin(stable.oneshot(req));
        }
        let canary = self.canary.clone();
        let fallback = req.clone();
        Box::pin(async move {
            match canary.oneshot(req).await {
                Err(e) if kit_endpoint::is_caused_by::<NoInstances>(&*e) => {
                    stable.oneshot(fallback).await
                }
                other => other,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kit_endpoint::endpoint_fn;

    fn answer(result: fn() -> Result<&'static str, BoxError>) -> BoxEndpoint<(), &'static str> {
        BoxEndpoint::new(endpoint_fn(move |_: Request<()>| async move { result() }))
    }

    #[tokio::test]
    async fn a_canary_without_instances_leaves_its_calls_to_stable() {
        let split = Canary::new(
            answer(|| Ok("stable")),
            answer(|| Err(NoInstances.into())),
            100,
        );
        for _ in 0..3 {
            let out = split.clone().oneshot(Request::from_msg(())).await.unwrap();
            assert_eq!(out, "stable");
        }
        // Any other canary error is the call's: it is not hidden by a retry.
        let split = Canary::new(answer(|| Ok("stable")), answer(|| Err("boom".into())), 100);
        let err = split.oneshot(Request::from_msg(())).await.unwrap_err();
        assert_eq!(err.to_string(), "boom");
    }

    #[test]
    fn the_split_is_exact_and_spread() {
        let ep = || BoxEndpoint::<(), ()>::new(kit_endpoint::Nop::<()>::default());
        for percent in [0u8, 1, 10, 33, 50, 99, 100, 200] {
            let c = Canary::new(ep(), ep(), percent);
            let picks: Vec<bool> = (0..100).map(|n| c.to_canary(n)).collect();
            let want = usize::from(percent.min(100));
            assert_eq!(picks.iter().filter(|p| **p).count(), want, "{percent}%");
            if want == 10 {
                let at: Vec<usize> = (0..100).filter(|n| picks[*n]).collect();
                assert_eq!(at, [9, 19, 29, 39, 49, 59, 69, 79, 89, 99]);
            }
        }
    }
}
