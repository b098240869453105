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

/// Publishes `instances` unless subscribers already have exactly that set, so
/// that a refresh finding nothing new wakes nobody. Returns whether it published.
pub(crate) fn publish(tx: &watch::Sender<Instances>, instances: Vec<Instance>) -> bool {
    tx.send_if_modified(|current| {
        let changed = **current != instances;
        if changed {
            *current = Arc::new(instances);
        }
        changed
    })
}

/// The pauses of a background task between failed attempts: `first`, doubling
/// up to `max`, back to `first` after a success. Never a hot loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    first: std::time::Duration,
    max: std::time::Duration,
    next: std::time::Duration,
}

impl Backoff {
    pub(crate) fn new(first: std::time::Duration, max: std::time::Duration) -> Self {
        Backoff {
            first,
            max: max.max(first),
            next: first,
        }
    }

    /// The pause before the next attempt; the one after is twice as long.
    pub(crate) fn next_pause(&mut self) -> std::time::Duration {
        let pause = self.next;
        self.next = (pause * 2).min(self.max);
        pause
    }

    /// After a success: the next failure pauses `first` again.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_max_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(500));
        let pauses: Vec<_> = (0..5).map(|_| b.next_pause()).collect();
        assert_eq!(pauses, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        b.reset();
        assert_eq!(b.next_pause(), ms(100));
        // A max under the first pause is raised to it.
        let mut b = Backoff::new(ms(100), ms(10));
        assert_eq!((b.next_pause(), b.next_pause()), (ms(100), ms(100)));
    }

    #[test]
    fn publishing_the_same_set_wakes_nobody() {
        let tx = watch::Sender::new(Instances::default());
        let mut rx = tx.subscribe();
        assert!(publish(&tx, vec![Instance::new("a")]));
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        assert!(!publish(&tx, vec![Instance::new("a")]));
        assert!(!rx.has_changed().unwrap());
    }
}
