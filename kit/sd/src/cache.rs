//! Per-instance values shared by several factories, dropped with the instance.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use kit_endpoint::BoxError;

use crate::endpointer::TaskGuard;
use crate::instancer::{Instance, Instancer};

type Make<T> = dyn Fn(&Instance) -> Result<T, BoxError> + Send + Sync;

/// Values made once per instance and shared by every [`Factory`](crate::Factory)
/// that asks for them: say one circuit breaker guarding all of an instance's
/// endpoints, each followed by its own [`Endpointer`](crate::Endpointer). A
/// value is made when its instance is first asked for, and dropped once the
/// instancer no longer lists the instance, so the cache never outgrows the set
/// of live instances (and an instance that comes back starts afresh).
///
/// ```
/// use kit_sd::{Instance, InstanceCache, StaticInstancer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let instancer = StaticInstancer::new(vec![Instance::new("a")]);
/// let cache = InstanceCache::new(&instancer, |i: &Instance| Ok(format!("pool for {}", i.addr)));
/// assert_eq!(cache.get(&Instance::new("a")).unwrap(), "pool for a");
/// assert_eq!(cache.len(), 1);
/// # }
/// ```
pub struct InstanceCache<T> {
    values: Arc<Mutex<HashMap<Instance, T>>>,
    make: Arc<Make<T>>,
    _prune: Arc<TaskGuard>,
}

impl<T> Clone for InstanceCache<T> {
    fn clone(&self) -> Self {
        InstanceCache {
            values: self.values.clone(),
            make: self.make.clone(),
            _prune: self._prune.clone(),
        }
    }
}

impl<T> fmt::Debug for InstanceCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceCache")
            .field("instances", &self.len())
            .finish()
    }
}

impl<T> InstanceCache<T> {
    /// How many instances have a value now.
    pub fn len(&self) -> usize {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no instance has a value now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Clone + Send + 'static> InstanceCache<T> {
    /// A cache making values with `make` for the instances `instancer`
    /// publishes. Must be called within a tokio runtime (a task drops the values
    /// of instances that go away, while any clone of the cache lives).
    pub fn new(
        instancer: &dyn Instancer,
        make: impl Fn(&Instance) -> Result<T, BoxError> + Send + Sync + 'static,
    ) -> Self {
        let values: Arc<Mutex<HashMap<Instance, T>>> = Arc::default();
        let mut listed = instancer.subscribe();
        let held = Arc::downgrade(&values);
        let prune = tokio::spawn(async move {
            while listed.changed().await.is_ok() {
                let Some(values) = held.upgrade() else { return };
                let current = listed.borrow_and_update().clone();
                let current: HashSet<&Instance> = current.iter().collect();
                values
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .retain(|instance, _| current.contains(instance));
            }
        });
        InstanceCache {
            values,
            make: Arc::new(make),
            _prune: Arc::new(TaskGuard(prune)),
        }
    }

    /// The value of `instance`, made now if it has none.
    pub fn get(&self, instance: &Instance) -> Result<T, BoxError> {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = values.get(instance) {
            return Ok(value.clone());
        }
        let value = (self.make)(instance)?;
        values.insert(instance.clone(), value.clone());
        Ok(value)
    }
}
