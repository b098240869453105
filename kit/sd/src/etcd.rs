//! etcd v3: an instancer that follows a key prefix, and a registrar that keeps
//! an instance's key alive on a TTL lease (feature `etcd`).
//!
//! Layout in etcd, one key per instance under a service prefix:
//!
//! ```text
//! /kit/services/stringsvc/127.0.0.1:8082 -> {"addr":"http://127.0.0.1:8082","metadata":{"version":"2"}}
//! ```
//!
//! A value that is not a JSON object is read as a bare address (go-kit's
//! layout), so services registered by other tools are found too.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use etcd_client::{
    Client, ConnectOptions, EventType, GetOptions, PutOptions, WatchOptions, WatchResponse,
};
use kit_endpoint::BoxError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::instancer::{Backoff, Instance, Instancer, Instances, publish as publish_if_changed};

/// The first pause after a failure; it doubles up to [`Etcd::max_backoff`] (the
/// instancer) or half the lease (the registrar).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Where etcd is, and how patient to be with it: the connection settings the
/// instancer and the registrar share.
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    timeout: Duration,
    max_backoff: Duration,
}

impl Etcd {
    /// etcd at `endpoints` (`http://127.0.0.1:2379`, or `127.0.0.1:2379`), with a
    /// 2 s timeout per request and connection, and backoff up to 5 s.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Etcd {
            endpoints: endpoints
                .into_iter()
                .map(|e| {
                    let e = e.into();
                    if e.contains("://") {
                        e
                    } else {
                        format!("http://{e}")
                    }
                })
                .collect(),
            timeout: Duration::from_secs(2),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Reads an sd spec `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]` into the
    /// endpoints and the key prefix (`None` when the spec names none).
    ///
    /// ```
    /// let (etcd, prefix) = kit_sd::Etcd::parse("etcd://10.0.0.1:2379,10.0.0.2:2379/kit/services/stringsvc/").unwrap();
    /// assert_eq!(etcd.endpoints(), ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]);
    /// assert_eq!(prefix.as_deref(), Some("/kit/services/stringsvc/"));
    /// assert!(kit_sd::Etcd::parse("http://10.0.0.1:2379").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<(Etcd, Option<String>), BoxError> {
        let rest = spec
            .strip_prefix("etcd://")
            .ok_or_else(|| format!("{spec:?} is not an etcd spec (etcd://HOST:PORT[/PREFIX])"))?;
        let (hosts, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(rest[i..].to_owned())),
            None => (rest, None),
        };
        let hosts: Vec<&str> = hosts.split(',').filter(|h| !h.is_empty()).collect();
        if hosts.is_empty() {
            return Err(format!("{spec:?} names no etcd endpoint").into());
        }
        for host in &hosts {
            let (_, port) = host
                .rsplit_once(':')
                .ok_or_else(|| format!("etcd endpoint {host:?} has no port"))?;
            port.parse::<u16>()
                .map_err(|_| format!("etcd endpoint {host:?} has no valid port"))?;
        }
        Ok((Etcd::new(hosts), prefix.filter(|p| p != "/")))
    }

    /// Sets the timeout of each request and connection attempt.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the longest pause between reconnection attempts.
    pub fn max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// The endpoints, as URLs.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// A client for these endpoints. HTTP/2 pings every 10 s (etcd refuses
    /// pings more often than every 5 s) notice a silent etcd (a partition) on
    /// long-lived watches.
    ///
    /// The client puts no deadline on requests (one would cut long-lived
    /// watches); wrap single requests in [`Etcd::within`].
    pub async fn connect(&self) -> Result<Client, BoxError> {
        let options = ConnectOptions::new()
            .with_connect_timeout(self.timeout)
            .with_keep_alive(
                Duration::from_secs(10),
                self.timeout.max(Duration::from_secs(1)),
            )
            .with_keep_alive_while_idle(true);
        self.within(Client::connect(&self.endpoints, Some(options)))
            .await
    }

    /// Runs one etcd request, failing if it takes longer than the timeout.
    pub async fn within<T>(
        &self,
        request: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, BoxError> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(result) => result.map_err(BoxError::from),
            Err(_) => Err(format!("etcd did not answer within {:?}", self.timeout).into()),
        }
    }
}

/// How a background task's link to etcd is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// Whether the task is currently connected and up to date.
    pub connected: bool,
    /// Failures so far (connection lost, request failed...), each followed by
    /// a reconnection after a backoff.
    pub failures: u64,
    /// What went wrong last.
    pub last_error: Option<String>,
}

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

/// An instance from a key's value: `{"addr": ..., "metadata": {...}}`, or a bare
/// address. `None` for anything else (empty, not UTF-8, JSON without `addr`).
fn decode(value: &[u8]) -> Option<Instance> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if text.is_empty() {
        return None;
    }
    if !text.starts_with('{') {
        return Some(Instance::new(text));
    }
    let json: serde_json::Value = serde_json::from_slice(value).ok()?;
    let mut instance = Instance::new(json.get("addr")?.as_str()?);
    if let Some(metadata) = json.get("metadata").and_then(|m| m.as_object()) {
        for (k, v) in metadata {
            if let Some(v) = v.as_str() {
                instance = instance.with(k.as_str(), v);
            }
        }
    }
    Some(instance)
}

/// The value the registrar writes for `instance`.
fn encode(instance: &Instance) -> String {
    serde_json::json!({ "addr": instance.addr, "metadata": instance.metadata }).to_string()
}

/// Registers an instance in etcd under `prefix + id` on a TTL lease
/// (go-kit's `Registrar`).
///
/// [`Registrar::register`] starts a task that grants a lease, writes the key,
/// and keeps the lease alive (a keep-alive every third of the TTL). If the lease
/// is lost (etcd restarted without it, a partition longer than the TTL, someone
/// revoked it) or etcd is unreachable, the task registers again with a fresh
/// lease, with a doubling backoff. [`Registration::deregister`] removes the key
/// at once (graceful shutdown); a process that dies without deregistering
/// disappears when its lease expires.
#[derive(Debug, Clone)]
pub struct Registrar {
    etcd: Etcd,
    key: String,
    value: String,
    ttl: Duration,
}

impl Registrar {
    /// A registrar for `instance` at key `prefix + id` with a lease of `ttl`
    /// (whole seconds, at least 2: etcd's shortest lease).
    pub fn new(
        etcd: Etcd,
        prefix: &str,
        id: &str,
        instance: &Instance,
        ttl: Duration,
    ) -> Registrar {
        Registrar {
            etcd,
            key: format!("{prefix}{id}"),
            value: encode(instance),
            ttl: ttl.max(Duration::from_secs(2)),
        }
    }

    /// The key it writes.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Starts registering and keeping the registration alive. Must be called
    /// within a tokio runtime.
    pub fn register(self) -> Registration {
        let (state_tx, state) = watch::channel(RegistrationState::default());
        let granted = Arc::new(Mutex::new(Vec::new()));
        let (registrar, leases) = (self.clone(), granted.clone());
        let task = tokio::spawn(async move {
            let mut backoff = Backoff::new(FIRST_BACKOFF, registrar.ttl / 2);
            loop {
                let _ = registrar.keep(&state_tx, &leases, &mut backoff).await;
                state_tx.send_modify(|s| {
                    s.registered = false;
                    s.failures += 1;
                });
                tokio::time::sleep(backoff.next_pause()).await;
            }
        });
        Registration {
            registrar: self,
            state,
            granted,
            task,
        }
    }

    /// Registers once, then keeps the lease alive until something fails.
    async fn keep(
        &self,
        state: &watch::Sender<RegistrationState>,
        granted: &Mutex<Vec<i64>>,
        backoff: &mut Backoff,
    ) -> Result<(), BoxError> {
        let mut client = self.etcd.connect().await?;
        let etcd = &self.etcd;
        let lease = etcd
            .within(client.lease_grant(self.ttl.as_secs() as i64, None))
            .await?;
        let id = lease.id();
        {
            let mut granted = granted.lock().unwrap_or_else(PoisonError::into_inner);
            if granted.len() == 8 {
                granted.remove(0);
            }
            granted.push(id);
        }
        let options = PutOptions::new().with_lease(id);
        etcd.within(client.put(self.key.as_str(), self.value.as_str(), Some(options)))
            .await?;
        state.send_modify(|s| {
            s.registered = true;
            s.lease = Some(id);
            s.registrations += 1;
        });
        backoff.reset();
        let (mut keeper, mut responses) = etcd.within(client.lease_keep_alive(id)).await?;
        let every = self.ttl / 3;
        loop {
            keeper.keep_alive().await?;
            match tokio::time::timeout(every, responses.message()).await {
                Ok(Ok(Some(r))) if r.ttl() > 0 => {}
                Ok(Ok(Some(_))) => return Err("the lease expired".into()),
                Ok(Ok(None)) => return Err("the keep-alive stream ended".into()),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err("no keep-alive answer in time".into()),
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// What a registration has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistrationState {
    /// Whether the key is written and its lease kept alive.
    pub registered: bool,
    /// The current (or last) lease.
    pub lease: Option<i64>,
    /// How many times the key was written (more than 1: re-registered).
    pub registrations: u64,
    /// Failures so far (etcd unreachable, lease lost...).
    pub failures: u64,
}

/// A running registration: the key is kept alive until
/// [`deregister`](Registration::deregister). Dropping it stops the keep-alives
/// without removing the key, as a crash would: the key goes when its lease
/// expires.
pub struct Registration {
    registrar: Registrar,
    state: watch::Receiver<RegistrationState>,
    /// The leases granted so far (the last few), to revoke on deregistration.
    granted: Arc<Mutex<Vec<i64>>>,
    task: JoinHandle<()>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("key", &self.registrar.key)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

impl Registration {
    /// The registration's state, updated on every change.
    pub fn state(&self) -> watch::Receiver<RegistrationState> {
        self.state.clone()
    }

    /// Waits until the key is written (the first time, or again after a loss).
    pub async fn registered(&self) {
        let mut state = self.state.clone();
        // The sender lives in the task, which only ends when this is dropped.
        let _ = state.wait_for(|s| s.registered).await;
    }

    /// Stops keeping the key alive and revokes its lease, which deletes the key
    /// at once. If etcd cannot be reached (within the [`Etcd`] timeout), the
    /// error is returned and the key goes when its lease expires.
    pub async fn deregister(mut self) -> Result<(), BoxError> {
        self.task.abort();
        // Once the task has ended it sends nothing more: no registration can
        // land after the revocation below.
        let _ = (&mut self.task).await;
        let leases =
            std::mem::take(&mut *self.granted.lock().unwrap_or_else(PoisonError::into_inner));
        let etcd = &self.registrar.etcd;
        if leases.is_empty() {
            return Ok(());
        }
        let mut client = etcd.connect().await?;
        // Every lease granted still alive may hold the key (a re-registration
        // whose write was in flight when the task stopped): revoke them all,
        // newest first. A write that reaches etcd after its lease is revoked fails.
        for lease in leases.into_iter().rev() {
            match tokio::time::timeout(etcd.timeout, client.lease_revoke(lease)).await {
                Ok(Ok(_)) => {}
                // Already gone (expired, revoked): nothing left to remove.
                Ok(Err(etcd_client::Error::GRpcStatus(s))) if s.message().contains("not found") => {
                }
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err("etcd did not answer the lease revocation in time".into()),
            }
        }
        Ok(())
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_decode_as_json_or_bare_addresses() {
        let i = decode(br#"{"addr":"http://a:1","metadata":{"version":"2","n":3}}"#).unwrap();
        assert_eq!(i.addr, "http://a:1");
        assert_eq!(i.metadata.get("version").map(String::as_str), Some("2"));
        assert!(
            !i.metadata.contains_key("n"),
            "non-string metadata is ignored"
        );
        assert_eq!(
            decode(b"http://b:2\n").unwrap(),
            Instance::new("http://b:2")
        );
        assert_eq!(decode(b""), None);
        assert_eq!(decode(b"{\"metadata\":{}}"), None);
        assert_eq!(decode(b"{not json"), None);
        assert_eq!(decode(&[0xff, 0xfe]), None);
        let back = decode(encode(&Instance::new("http://c:3").with("zone", "x")).as_bytes());
        assert_eq!(back, Some(Instance::new("http://c:3").with("zone", "x")));
    }

    #[test]
    fn specs_parse_or_say_what_is_wrong() {
        let (etcd, prefix) = Etcd::parse("etcd://127.0.0.1:2379").unwrap();
        assert_eq!(etcd.endpoints(), ["http://127.0.0.1:2379"]);
        assert_eq!(prefix, None);
        for bad in ["etcd://", "etcd://host", "etcd://host:port/x", "dns://a:1"] {
            assert!(Etcd::parse(bad).is_err(), "{bad}");
        }
    }
}
