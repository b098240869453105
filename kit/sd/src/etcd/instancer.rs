//! The etcd instancer: follows a key prefix.

use std::collections::BTreeMap;

use etcd_client::{EventType, GetOptions, WatchOptions, WatchResponse};
use kit_endpoint::BoxError;
use tokio::sync::watch;

use super::{Etcd, FIRST_BACKOFF, Link, decode};
use crate::instancer::{Backoff, Instance, Instancer, Instances, publish as publish_if_changed};

/// Publishes the instances registered under a key prefix in etcd.
///
/// It reads the prefix, then watches it; every put or delete (including keys
/// deleted by an expired lease) is published at once. When etcd becomes
/// unreachable, the last known set stays published (stale but usable) and the
/// instancer reconnects with a doubling backoff (100 ms up to
/// [`Etcd::max_backoff`]); on reconnection it reads the prefix again, so changes
/// made meanwhile are picked up, then watches again.
///
/// It runs while the instancer or any subscriber exists.
#[derive(Debug)]
pub struct EtcdInstancer {
    tx: watch::Sender<Instances>,
    link: watch::Receiver<Link>,
    /// Keeps the channel open while the instancer exists.
    _open: watch::Receiver<Instances>,
}

impl EtcdInstancer {
    /// Starts following `prefix` (e.g. `/kit/services/stringsvc/`). Must be
    /// called within a tokio runtime.
    pub fn spawn(etcd: Etcd, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let tx = watch::Sender::new(Instances::default());
        let (link_tx, link) = watch::channel(Link::default());
        let open = tx.subscribe();
        let publish = tx.clone();
        tokio::spawn(async move {
            let mut backoff = Backoff::new(FIRST_BACKOFF, etcd.max_backoff);
            loop {
                let followed = tokio::select! {
                    _ = publish.closed() => return,
                    followed = follow(&etcd, &prefix, &publish, &link_tx, &mut backoff) => followed,
                };
                let Err(error) = followed;
                link_tx.send_modify(|l| {
                    l.connected = false;
                    l.failures += 1;
                    l.last_error = Some(error.to_string());
                });
                tokio::select! {
                    _ = publish.closed() => return,
                    _ = tokio::time::sleep(backoff.next_pause()) => {}
                }
            }
        });
        EtcdInstancer {
            tx,
            link,
            _open: open,
        }
    }

    /// The state of the link to etcd, updated on every change.
    pub fn link(&self) -> watch::Receiver<Link> {
        self.link.clone()
    }
}

impl Instancer for EtcdInstancer {
    fn subscribe(&self) -> watch::Receiver<Instances> {
        self.tx.subscribe()
    }
}

/// Reads and then watches `prefix`; returns only when something fails.
async fn follow(
    etcd: &Etcd,
    prefix: &str,
    publish: &watch::Sender<Instances>,
    link: &watch::Sender<Link>,
    backoff: &mut Backoff,
) -> Result<std::convert::Infallible, BoxError> {
    let mut client = etcd.connect().await?;
    let snapshot = etcd
        .within(client.get(prefix, Some(GetOptions::new().with_prefix())))
        .await?;
    let revision = snapshot.header().map_or(0, |h| h.revision());
    let mut known: BTreeMap<Vec<u8>, Instance> = snapshot
        .kvs()
        .iter()
        .filter_map(|kv| Some((kv.key().to_vec(), decode(kv.value())?)))
        .collect();
    publish_set(publish, &known);
    let options = WatchOptions::new()
        .with_prefix()
        .with_start_revision(revision + 1);
    let mut stream = etcd.within(client.watch(prefix, Some(options))).await?;
    link.send_modify(|l| l.connected = true);
    backoff.reset();
    loop {
        let Some(response) = stream.message().await? else {
            return Err("the etcd watch stream ended".into());
        };
        if response.canceled() {
            return Err(format!("etcd cancelled the watch: {}", response.cancel_reason()).into());
        }
        if apply(&mut known, &response) {
            publish_set(publish, &known);
        }
    }
}

/// Applies a watch response's events; whether the set changed.
fn apply(known: &mut BTreeMap<Vec<u8>, Instance>, response: &WatchResponse) -> bool {
    let mut changed = false;
    for event in response.events() {
        let Some(kv) = event.kv() else { continue };
        match event.event_type() {
            EventType::Put => match decode(kv.value()) {
                Some(instance) => {
                    changed |= known.insert(kv.key().to_vec(), instance.clone()) != Some(instance);
                }
                None => changed |= known.remove(kv.key()).is_some(),
            },
            EventType::Delete => changed |= known.remove(kv.key()).is_some(),
        }
    }
    changed
}

fn publish_set(publish: &watch::Sender<Instances>, known: &BTreeMap<Vec<u8>, Instance>) {
    let mut instances: Vec<Instance> = known.values().cloned().collect();
    instances.sort();
    instances.dedup();
    publish_if_changed(publish, instances);
}
