//! The balanced endpoint: pick an instance, call it, retry on another.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll};

use kit_endpoint::{BoxError, BoxFuture, Classified, DeadlineExceeded, ErrorClass, Request};
use tower::{Service, ServiceExt};

use crate::balancer::{Picker, Strategy};
use crate::eject::Ejection;
use crate::endpointer::Endpointer;

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
}

impl<Req, Resp> fmt::Debug for Builder<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("strategy", &self.strategy)
            .field("max_attempts", &self.max_attempts)
            .field("ejection", &self.ejection)
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

    /// The balanced endpoint.
    pub fn build(self) -> Balanced<Req, Resp> {
        Balanced {
            shared: Arc::new(Shared {
                endpointer: self.endpointer,
                picker: Picker::new(self.strategy),
                max_attempts: self.max_attempts,
                retryable: self.retryable,
                ejection: self.ejection,
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
