//! The endpointer: one cached endpoint per live instance.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use kit_endpoint::{BoxEndpoint, BoxError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::eject::InstanceHealth;
use crate::instancer::{Instance, Instancer};

/// Makes the endpoint that calls one instance (go-kit's `Factory`).
pub type Factory<Req, Resp> =
    Arc<dyn Fn(&Instance) -> Result<BoxEndpoint<Req, Resp>, BoxError> + Send + Sync>;

/// Decides which instances may be used (by version, zone...).
pub type Filter = Arc<dyn Fn(&Instance) -> bool + Send + Sync>;

/// One usable instance: its endpoint, and the calls it has in flight (for
/// least-pending balancing).
pub(crate) struct Entry<Req, Resp> {
    /// The instance.
    pub(crate) instance: Instance,
    /// The endpoint made for it by the factory, kept while the instance lives.
    pub(crate) endpoint: BoxEndpoint<Req, Resp>,
    /// Calls in flight on this instance.
    pub(crate) pending: Arc<AtomicUsize>,
    /// Its recent failures and latency, for ejection and peak EWMA.
    pub(crate) health: Arc<InstanceHealth>,
}

impl<Req, Resp> Clone for Entry<Req, Resp> {
    fn clone(&self) -> Self {
        Entry {
            instance: self.instance.clone(),
            endpoint: self.endpoint.clone(),
            pending: self.pending.clone(),
            health: self.health.clone(),
        }
    }
}

/// The current entries, shared cheaply.
pub(crate) type Entries<Req, Resp> = Arc<Vec<Entry<Req, Resp>>>;

/// Keeps one endpoint per live instance of an [`Instancer`], made by a
/// [`Factory`] and cached: an instance that stays keeps its endpoint (and its
/// connections, breaker state...), one that goes away has its endpoint dropped,
/// one that the factory cannot serve is left out. Instances refused by the
/// filter are ignored.
///
/// The endpointer follows the instancer on a background task, so requests only
/// read the latest set.
pub struct Endpointer<Req, Resp> {
    entries: watch::Receiver<Entries<Req, Resp>>,
    task: Arc<TaskGuard>,
}

pub(crate) struct TaskGuard(pub(crate) JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<Req, Resp> Clone for Endpointer<Req, Resp> {
    fn clone(&self) -> Self {
        Endpointer {
            entries: self.entries.clone(),
            task: self.task.clone(),
        }
    }
}

impl<Req, Resp> fmt::Debug for Endpointer<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpointer")
            .field("instances", &self.entries.borrow().len())
            .finish()
    }
}

impl<Req: Send + 'static, Resp: Send + 'static> Endpointer<Req, Resp> {
    /// Follows `instancer`, making endpoints with `factory` for the instances
    /// `filter` accepts. Must be called within a tokio runtime.
    pub fn new(
        instancer: &dyn Instancer,
        factory: Factory<Req, Resp>,
        filter: Option<Filter>,
    ) -> Self {
        let mut instances = instancer.subscribe();
        let first = instances.borrow_and_update().clone();
        let initial = rebuild(&first, &HashMap::new(), &factory, filter.as_ref());
        let (tx, rx) = watch::channel(initial);
        let task = tokio::spawn(async move {
            while instances.changed().await.is_ok() {
                let current = instances.borrow_and_update().clone();
                let cache: HashMap<Instance, Entry<Req, Resp>> = tx
                    .borrow()
                    .iter()
                    .map(|e| (e.instance.clone(), e.clone()))
                    .collect();
                let next = rebuild(&current, &cache, &factory, filter.as_ref());
                if tx.send(next).is_err() {
                    return;
                }
            }
        });
        Endpointer {
            entries: rx,
            task: Arc::new(TaskGuard(task)),
        }
    }
}

impl<Req, Resp> Endpointer<Req, Resp> {
    /// The current entries.
    pub(crate) fn entries(&self) -> Entries<Req, Resp> {
        self.entries.borrow().clone()
    }

    /// The instances that have an endpoint now (listed, let through by the
    /// filter, and served by the factory).
    pub fn instances(&self) -> Vec<Instance> {
        self.entries
            .borrow()
            .iter()
            .map(|e| e.instance.clone())
            .collect()
    }
}

/// The entries for `instances`, reusing cached endpoints.
pub(crate) fn rebuild<Req, Resp>(
    instances: &[Instance],
    cache: &HashMap<Instance, Entry<Req, Resp>>,
    factory: &Factory<Req, Resp>,
    filter: Option<&Filter>,
) -> Entries<Req, Resp> {
    let mut entries = Vec::with_capacity(instances.len());
    for instance in instances {
        if filter.is_some_and(|f| !f(instance)) {
            continue;
        }
        match cache.get(instance) {
            Some(entry) => entries.push(entry.clone()),
            None => {
                // An instance the factory cannot serve (a bad address) is left out.
                if let Ok(endpoint) = factory(instance) {
                    entries.push(Entry {
                        instance: instance.clone(),
                        endpoint,
                        pending: Arc::new(AtomicUsize::new(0)),
                        health: Arc::default(),
                    });
                }
            }
        }
    }
    Arc::new(entries)
}
