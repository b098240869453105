//! The balanced endpoint: pick an instance, call it, retry on another.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, BoxFuture, DeadlineExceeded, Request};
use tower::{Service, ServiceExt};

use crate::balancer::{Picker, Strategy};
use crate::eject::Ejection;
use crate::endpointer::Endpointer;

/// There was no instance to call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoInstances;

impl fmt::Display for NoInstances {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no instances available")
    }
}

impl Error for NoInstances {}

/// Every attempt failed. Keeps each attempt's error, with the instance it
/// happened on; its `source()` is the last one, so transports map the status
/// from it.
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
    /// Balances over `endpointer` with `strategy`, trying up to `max_attempts`
    /// instances per call (at least one), retrying every error.
    pub fn new(endpointer: Endpointer<Req, Resp>, strategy: Strategy, max_attempts: usize) -> Self {
        Self::retrying(endpointer, strategy, max_attempts, |_| true)
    }

    /// Like [`Balanced::new`], retrying only the errors for which `retryable` is
    /// true (not, say, a 4xx answer, which another instance would give too).
    pub fn retrying(
        endpointer: Endpointer<Req, Resp>,
        strategy: Strategy,
        max_attempts: usize,
        retryable: impl Fn(&BoxError) -> bool + Send + Sync + 'static,
    ) -> Self {
        Balanced {
            shared: Arc::new(Shared {
                endpointer,
                picker: Picker::new(strategy),
                max_attempts: max_attempts.max(1),
                retryable: Box::new(retryable),
                ejection: None,
            }),
        }
    }

    /// Ejects outliers (see [`Ejection`]): an instance whose calls keep failing is
    /// left out of the picks for a cooldown. Call it before cloning the endpoint.
    pub fn ejecting(mut self, ejection: Ejection) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.ejection = Some(ejection);
        }
        self
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
                return Err(NoInstances.into());
            }
            let mut tried = Vec::with_capacity(shared.max_attempts);
            let mut attempts: Vec<(String, BoxError)> = Vec::new();
            for _ in 0..shared.max_attempts {
                if ctx.is_expired() {
                    attempts.push(("(none)".into(), DeadlineExceeded::new().into()));
                    break;
                }
                let Some(i) = shared.picker.pick(&entries, &tried) else {
                    break;
                };
                tried.push(i);
                let entry = &entries[i];
                entry.pending.fetch_add(1, Ordering::Relaxed);
                let _pending = Pending(entry.pending.clone());
                let call = entry
                    .endpoint
                    .clone()
                    .oneshot(Request::new(ctx.clone(), msg.clone()));
                let result = if shared.picker.strategy() == Strategy::PeakEwma {
                    let started = tokio::time::Instant::now();
                    let result = call.await;
                    entry.health.observe(started.elapsed());
                    result
                } else {
                    call.await
                };
                match result {
                    Ok(resp) => {
                        entry.health.succeeded();
                        return Ok(resp);
                    }
                    Err(err) => {
                        if let Some(ejection) = &shared.ejection {
                            if entry.health.failed(ejection.consecutive_failures) {
                                let ejected =
                                    entries.iter().filter(|e| e.health.is_ejected()).count();
                                let allowed = (ejection.max_ejected_share * entries.len() as f64)
                                    .floor() as usize;
                                if ejected < allowed {
                                    entry.health.eject(ejection.cooldown);
                                }
                            }
                        }
                        let retry = (shared.retryable)(&err);
                        attempts.push((entry.instance.addr.clone(), err));
                        if !retry {
                            break;
                        }
                    }
                }
            }
            Err(RetriesExhausted { attempts }.into())
        })
    }
}
