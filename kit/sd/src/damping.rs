//! Flap damping: an instance that keeps appearing and disappearing is held back
//! until it has been stable for a while, as BGP route flap damping does.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::instancer::{Instance, Instancer, Instances, publish as publish_if_changed};

/// How flapping is penalised.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Damping {
    /// Penalty added each time an instance disappears.
    pub penalty_per_flap: f64,
    /// Above this penalty an instance is suppressed (left out of the set).
    pub suppress_above: f64,
    /// A suppressed instance is reused once its penalty decays below this.
    pub reuse_below: f64,
    /// The penalty halves every `half_life`.
    pub half_life: Duration,
}

impl Default for Damping {
    /// BGP's classic figures, scaled to services: 1000 per flap, suppressed above
    /// 2000 (a third flap in quick succession), reused below 750, half-life 60 s.
    fn default() -> Self {
        Damping {
            penalty_per_flap: 1000.0,
            suppress_above: 2000.0,
            reuse_below: 750.0,
            half_life: Duration::from_secs(60),
        }
    }
}

/// Wraps an [`Instancer`], publishing its set minus the instances suppressed for
/// flapping, so that churn in the registry does not storm every client.
///
/// Each disappearance of an instance adds to its penalty, which halves every
/// half-life; above the suppress mark the instance is left out until the penalty
/// decays below the reuse mark. Changes are seen through the inner instancer's
/// `watch`, so a disappearance and reappearance between two of its updates being
/// read count as no flap.
#[derive(Debug)]
pub struct DampedInstancer {
    tx: watch::Sender<Instances>,
    _open: watch::Receiver<Instances>,
}

/// One instance's decaying penalty.
#[derive(Debug, Clone, Copy)]
struct Penalty {
    value: f64,
    at: Instant,
    suppressed: bool,
}

impl Penalty {
    fn decayed(&self, damping: &Damping, now: Instant) -> f64 {
        let halves = now.saturating_duration_since(self.at).as_secs_f64()
            / damping.half_life.as_secs_f64().max(f64::MIN_POSITIVE);
        self.value * 0.5f64.powf(halves)
    }
}

impl DampedInstancer {
    /// Damps `inner` with `damping`. Must be called within a tokio runtime.
    pub fn new(inner: &dyn Instancer, damping: Damping) -> Self {
        let mut source = inner.subscribe();
        // The starting set is read here, not in the task, so that no change made
        // before the task first runs goes unseen.
        let mut previous: Instances = source.borrow_and_update().clone();
        let tx = watch::Sender::new(previous.clone());
        let open = tx.subscribe();
        let publish = tx.clone();
        tokio::spawn(async move {
            let mut penalties: HashMap<Instance, Penalty> = HashMap::new();
            loop {
                // Wake on a change, or when the next suppressed instance may be reused.
                let next_reuse = penalties
                    .values()
                    .filter(|p| p.suppressed)
                    .map(|p| {
                        let ratio = (p.value / damping.reuse_below).max(1.0);
                        p.at + damping.half_life.mul_f64(ratio.log2())
                    })
                    .min();
                tokio::select! {
                    changed = source.changed() => {
                        if changed.is_err() || publish.is_closed() {
                            return;
                        }
                    }
                    () = async {
                        match next_reuse {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    } => {}
                }
                let current = source.borrow_and_update().clone();
                let now = Instant::now();
                // Every instance that went away flapped once more.
                for gone in previous.iter().filter(|i| !current.contains(i)) {
                    let p = penalties.entry(gone.clone()).or_insert(Penalty {
                        value: 0.0,
                        at: now,
                        suppressed: false,
                    });
                    p.value = p.decayed(&damping, now) + damping.penalty_per_flap;
                    p.at = now;
                    if p.value > damping.suppress_above {
                        p.suppressed = true;
                    }
                }
                // Penalties decay; suppressed instances come back below the reuse mark.
                penalties.retain(|_, p| {
                    let value = p.decayed(&damping, now);
                    if p.suppressed && value < damping.reuse_below {
                        p.suppressed = false;
                    }
                    p.suppressed || value >= 1.0
                });
                previous = current.clone();
                let visible: Vec<Instance> = current
                    .iter()
                    .filter(|i| !penalties.get(*i).is_some_and(|p| p.suppressed))
                    .cloned()
                    .collect();
                publish_if_changed(&publish, visible);
            }
        });
        DampedInstancer { tx, _open: open }
    }
}

impl Instancer for DampedInstancer {
    fn subscribe(&self) -> watch::Receiver<Instances> {
        self.tx.subscribe()
    }
}
