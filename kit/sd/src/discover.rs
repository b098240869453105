//! An instancer as a tower `Discover` stream, for tower's own balancers.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use kit_endpoint::{BoxEndpoint, BoxError};
use tokio::sync::watch;
use tower::discover::Change;

use crate::endpointer::{Factory, Filter};
use crate::instancer::{Instance, Instancer, Instances};

type Changed = Pin<Box<dyn Future<Output = Option<watch::Receiver<Instances>>> + Send>>;

/// The instances of an [`Instancer`] as a tower
/// [`Discover`](tower::discover::Discover) stream: `Insert(instance, endpoint)`
/// for each instance that appears (its endpoint made by the [`Factory`]),
/// `Remove(instance)` for each that goes. Feed it to tower's balancers, e.g.
/// `tower::balance::p2c::Balance` over `tower::load::PeakEwmaDiscover`, when
/// you want tower's load measures and compose retries yourself.
///
/// [`Balanced`](crate::Balanced) is kit's own balanced endpoint over an
/// [`Endpointer`](crate::Endpointer): prefer it when a failed call must be
/// retried on a *different* instance within the request's deadline, with
/// outlier ejection, from a handle that is `Clone` without a `Buffer` (tower's
/// `Balance` picks a ready service in `poll_ready`, so it cannot steer a retry
/// away from the instance that just failed, and it needs `&mut self`).
///
/// Changes are read from the instancer when the stream is polled (tower's
/// balancers poll it on every `poll_ready`), so a change published before a
/// call is seen by that call. Instances the filter refuses, or the factory
/// cannot serve, are left out. The stream ends when the instancer is dropped.
///
/// ```
/// use std::sync::Arc;
/// use kit_endpoint::{endpoint_fn, BoxEndpoint, BoxError, Request};
/// use kit_sd::{Discovered, Factory, Instance, StaticInstancer};
/// use tower::{Service, ServiceExt};
/// use tower::balance::p2c::Balance;
/// use tower::load::{CompleteOnResponse, PeakEwmaDiscover};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let instancer = StaticInstancer::new(vec![Instance::new("a"), Instance::new("b")]);
/// let factory: Factory<(), String> = Arc::new(|instance: &Instance| {
///     let addr = instance.addr.clone();
///     Ok(BoxEndpoint::new(endpoint_fn(move |_req: Request<()>| {
///         let addr = addr.clone();
///         async move { Ok::<_, BoxError>(addr) }
///     })))
/// });
/// let discover = PeakEwmaDiscover::new(
///     Discovered::new(&instancer, factory, None),
///     std::time::Duration::from_millis(1),
///     std::time::Duration::from_secs(10),
///     CompleteOnResponse::default(),
/// );
/// let mut balance = Balance::new(discover);
/// let who = balance.ready().await.unwrap().call(Request::from_msg(())).await.unwrap();
/// assert!(who == "a" || who == "b");
/// # }
/// ```
pub struct Discovered<Req, Resp> {
    /// The next change of the instance set (owns the receiver while waiting).
    changed: Option<Changed>,
    /// The instances inserted and not removed since.
    live: HashSet<Instance>,
    /// Changes found and not yet yielded.
    pending: VecDeque<Change<Instance, BoxEndpoint<Req, Resp>>>,
    factory: Factory<Req, Resp>,
    filter: Option<Filter>,
}

impl<Req, Resp> fmt::Debug for Discovered<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discovered")
            .field("live", &self.live.len())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Discovered<Req, Resp> {
    /// Follows `instancer`, making an endpoint with `factory` for each instance
    /// `filter` accepts. The first polls yield the current instances.
    pub fn new(
        instancer: &dyn Instancer,
        factory: Factory<Req, Resp>,
        filter: Option<Filter>,
    ) -> Self {
        let mut rx = instancer.subscribe();
        let current = rx.borrow_and_update().clone();
        let mut discovered = Discovered {
            changed: Some(wait_for_change(rx)),
            live: HashSet::new(),
            pending: VecDeque::new(),
            factory,
            filter,
        };
        discovered.apply(&current);
        discovered
    }

    /// Queues the changes that turn the live set into `instances`: removals
    /// first, so a balancer never holds both the old and the new entry.
    fn apply(&mut self, instances: &[Instance]) {
        let wanted: HashSet<&Instance> = instances
            .iter()
            .filter(|i| self.filter.as_ref().is_none_or(|f| f(i)))
            .collect();
        let gone: Vec<Instance> = self
            .live
            .iter()
            .filter(|i| !wanted.contains(i))
            .cloned()
            .collect();
        for instance in gone {
            self.live.remove(&instance);
            self.pending.push_back(Change::Remove(instance));
        }
        for instance in wanted {
            if self.live.contains(instance) {
                continue;
            }
            // An instance the factory cannot serve (a bad address) is left out.
            if let Ok(endpoint) = (self.factory)(instance) {
                self.live.insert(instance.clone());
                self.pending
                    .push_back(Change::Insert(instance.clone(), endpoint));
            }
        }
    }
}

/// A future that resolves with `rx` once its value changes, or `None` when the
/// instancer is gone.
fn wait_for_change(mut rx: watch::Receiver<Instances>) -> Changed {
    Box::pin(async move { rx.changed().await.ok().map(|()| rx) })
}

impl<Req, Resp> Unpin for Discovered<Req, Resp> {}

impl<Req, Resp> Stream for Discovered<Req, Resp> {
    type Item = Result<Change<Instance, BoxEndpoint<Req, Resp>>, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(change) = self.pending.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            let Some(changed) = self.changed.as_mut() else {
                return Poll::Ready(None);
            };
            match changed.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    self.changed = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(mut rx)) => {
                    let current = rx.borrow_and_update().clone();
                    self.changed = Some(wait_for_change(rx));
                    self.apply(&current);
                }
            }
        }
    }
}
