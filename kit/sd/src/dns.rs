//! The DNS SRV instancer: instances from SRV records, refreshed, with stale
//! instances kept while the DNS server is unreachable.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use tokio::sync::watch;

use crate::instancer::{Backoff, Instance, Instancer, Instances, publish as publish_if_changed};

/// Publishes the instances named by the SRV records of `name` (e.g.
/// `_http._tcp.stringsvc.example.`), looked up every `refresh`.
///
/// Each record becomes an instance `http://<target's IPv4>:<port>` with metadata
/// `priority`, `weight` and `target`. A lookup that finds no records publishes an
/// empty set; a lookup that fails (server unreachable, timeout) keeps the last
/// known set (stale but usable) and is retried with a doubling backoff, from
/// 100 ms up to `refresh`: never a hot loop.
///
/// The lookups go on while the instancer or any of its subscribers (an
/// [`Endpointer`](crate::Endpointer)) exists, and stop once all are gone.
#[derive(Debug)]
pub struct DnsSrvInstancer {
    tx: watch::Sender<Instances>,
    failures: Arc<AtomicU64>,
    /// Keeps the channel open while the instancer exists.
    _open: watch::Receiver<Instances>,
}

impl DnsSrvInstancer {
    /// Starts following `name` with `resolver`. Must be called within a tokio runtime.
    pub fn spawn(resolver: TokioResolver, name: impl Into<String>, refresh: Duration) -> Self {
        let name = name.into();
        let tx = watch::Sender::new(Instances::default());
        let failures = Arc::new(AtomicU64::new(0));
        let open = tx.subscribe();
        let (publish, failed) = (tx.clone(), failures.clone());
        tokio::spawn(async move {
            let mut backoff = Backoff::new(Duration::from_millis(100).min(refresh), refresh);
            // Stops when nobody listens any more.
            while !publish.is_closed() {
                match lookup(&resolver, &name).await {
                    Ok(instances) => {
                        publish_if_changed(&publish, instances);
                        backoff.reset();
                        tokio::time::sleep(refresh).await;
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(backoff.next_pause()).await;
                    }
                }
            }
        });
        DnsSrvInstancer {
            tx,
            failures,
            _open: open,
        }
    }

    /// A resolver that asks only `server` (UDP and TCP), giving up on a query
    /// after `timeout`.
    pub fn resolver(server: SocketAddr, timeout: Duration) -> TokioResolver {
        let servers = NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
        let mut builder = TokioResolver::builder_with_config(
            ResolverConfig::from_parts(None, vec![], servers),
            TokioConnectionProvider::default(),
        );
        let opts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        builder.build()
    }

    /// How many lookups have failed so far (the set was kept as it was).
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

impl Instancer for DnsSrvInstancer {
    fn subscribe(&self) -> watch::Receiver<Instances> {
        self.tx.subscribe()
    }
}

/// The instances `name`'s SRV records point at, sorted; `Err` if the lookup failed.
async fn lookup(resolver: &TokioResolver, name: &str) -> Result<Vec<Instance>, ()> {
    let records = match resolver.srv_lookup(name).await {
        Ok(records) => records,
        Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
        Err(_) => return Err(()),
    };
    let mut instances = Vec::new();
    for srv in records.iter() {
        let target = srv.target().to_utf8();
        let ip: IpAddr = match resolver.ipv4_lookup(srv.target().clone()).await {
            Ok(ips) => match ips.iter().next() {
                Some(a) => IpAddr::V4(a.0),
                None => continue,
            },
            Err(e) if e.is_no_records_found() => continue,
            Err(_) => return Err(()),
        };
        instances.push(
            Instance::new(format!("http://{ip}:{}", srv.port()))
                .with("priority", srv.priority().to_string())
                .with("weight", srv.weight().to_string())
                .with("target", target.trim_end_matches('.')),
        );
    }
    instances.sort();
    Ok(instances)
}
