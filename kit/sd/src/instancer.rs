//! Instances and instancers: who can serve, and every change to that.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

/// One instance of a service: where it listens, and what it says about itself
/// (version, zone...).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instance {
    /// The instance's address, e.g. `http://10.0.0.7:8082`.
    pub addr: String,
    /// Free-form metadata (`version`, `zone`...), used by filters.
    pub metadata: BTreeMap<String, String>,
}

impl Instance {
    /// An instance at `addr` without metadata.
    pub fn new(addr: impl Into<String>) -> Self {
        Instance {
            addr: addr.into(),
            metadata: BTreeMap::new(),
        }
    }

    /// Adds a metadata pair.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}

impl fmt::Display for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.addr)
    }
}

/// A set of instances, shared cheaply.
pub type Instances = Arc<Vec<Instance>>;

/// Publishes the current instances of a service and every change to them
/// (go-kit's `Instancer`). Backends (static, etcd, DNS SRV...) implement it.
pub trait Instancer: Send + Sync + 'static {
    /// A receiver that always holds the latest set and wakes on every change.
    fn subscribe(&self) -> watch::Receiver<Instances>;
}

/// An instancer with a fixed set, changed only by [`StaticInstancer::set`]: for the
/// embedded default, configuration-driven lists and tests.
#[derive(Debug)]
pub struct StaticInstancer {
    tx: watch::Sender<Instances>,
}

impl StaticInstancer {
    /// An instancer publishing `instances`.
    pub fn new(instances: Vec<Instance>) -> Self {
        StaticInstancer {
            tx: watch::Sender::new(Arc::new(instances)),
        }
    }

    /// Replaces the set; every subscriber sees the change.
    pub fn set(&self, instances: Vec<Instance>) {
        self.tx.send_replace(Arc::new(instances));
    }
}

impl Instancer for StaticInstancer {
    fn subscribe(&self) -> watch::Receiver<Instances> {
        self.tx.subscribe()
    }
}
