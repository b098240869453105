//! The etcd registrar: keeps an instance's key alive on a TTL lease.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use etcd_client::PutOptions;
use kit_endpoint::BoxError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Etcd, FIRST_BACKOFF, encode};
use crate::instancer::{Backoff, Instance};

/// Registers an instance in etcd under `prefix + id` on a TTL lease
/// (go-kit's `Registrar`).
///
/// [`Registrar::register`] starts a task that grants a lease, writes the key,
/// and keeps the lease alive (a keep-alive every third of the TTL). If the
/// connection is lost (an etcd member gone, a leader election), the task
/// reconnects, with a doubling backoff, and keeps *the same lease* alive
/// through whichever member answers, so that the registration survives the
/// loss of a member of a cluster unchanged. If the lease itself is lost
/// (etcd restarted without it, a partition longer than the TTL, someone
/// revoked it), it registers again with a fresh lease. [`Registration::deregister`] removes the key
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
            // The lease being kept alive, kept across failures: after a lost
            // connection (an etcd member gone, a leader election) the same
            // lease is kept alive again through another member while it has
            // not expired, and the registration never changes.
            let mut lease = None;
            loop {
                // `keep` returns only when something failed: say what.
                let err = match registrar
                    .keep(&state_tx, &leases, &mut backoff, &mut lease)
                    .await
                {
                    Err(e) => e.to_string(),
                    Ok(()) => "the keep-alive loop ended".to_owned(),
                };
                state_tx.send_modify(|s| {
                    s.registered = false;
                    s.failures += 1;
                    s.last_error = Some(err);
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

    /// Registers (or, with `lease` still set, writes the key again on that
    /// lease), then keeps the lease alive until something fails. `lease` is
    /// cleared once etcd says it expired (or does not know it): the next
    /// registration takes a new one.
    async fn keep(
        &self,
        state: &watch::Sender<RegistrationState>,
        granted: &Mutex<Vec<i64>>,
        backoff: &mut Backoff,
        lease: &mut Option<i64>,
    ) -> Result<(), BoxError> {
        let mut client = self.etcd.connect().await?;
        let etcd = &self.etcd;
        let (id, new) = match *lease {
            Some(id) => (id, false),
            None => {
                let granted_lease = etcd
                    .within(client.lease_grant(self.ttl.as_secs() as i64, None))
                    .await?;
                let id = granted_lease.id();
                let mut granted = granted.lock().unwrap_or_else(PoisonError::into_inner);
                if granted.len() == 8 {
                    granted.remove(0);
                }
                granted.push(id);
                (id, true)
            }
        };
        // The key written on the lease: a resumed lease's key is written again
        // (the same value) in case it was removed meanwhile. A lease that
        // expired is refused: a new one next time.
        let options = PutOptions::new().with_lease(id);
        if let Err(e) = etcd
            .within(client.put(self.key.as_str(), self.value.as_str(), Some(options)))
            .await
        {
            if e.to_string().contains("lease not found") {
                *lease = None;
            }
            return Err(e);
        }
        *lease = Some(id);
        state.send_modify(|s| {
            s.registered = true;
            s.lease = Some(id);
            if new {
                s.registrations += 1;
            }
        });
        backoff.reset();
        let (mut keeper, mut responses) = etcd.within(client.lease_keep_alive(id)).await?;
        let every = self.ttl / 3;
        loop {
            keeper.keep_alive().await?;
            match tokio::time::timeout(every, responses.message()).await {
                Ok(Ok(Some(r))) if r.ttl() > 0 => {}
                Ok(Ok(Some(_))) => {
                    *lease = None;
                    return Err("the lease expired".into());
                }
                Ok(Ok(None)) => return Err("the keep-alive stream ended".into()),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => return Err("no keep-alive answer in time".into()),
            }
            tokio::time::sleep(every).await;
        }
    }
}

/// What a registration has done so far; watch it with
/// [`Registration::state`] to log each failure (as stringsvc does).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistrationState {
    /// Whether the key is written and its lease kept alive.
    pub registered: bool,
    /// The current (or last) lease.
    pub lease: Option<i64>,
    /// How many times the key was written (more than 1: re-registered).
    pub registrations: u64,
    /// Failures so far (etcd unreachable, lease lost...), each followed by a
    /// new registration after a backoff.
    pub failures: u64,
    /// What went wrong last.
    pub last_error: Option<String>,
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
