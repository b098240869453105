//! Step 11: service discovery and client-side load balancing. Each stringsvc
//! instance registers itself in etcd on a TTL lease; addsvc follows the
//! registrations and spreads its calls over the live instances, retrying a
//! failed call on another one.

use std::sync::Arc;
use std::time::Duration;

use kit_endpoint::BoxEndpoint;
use kit_sd::{
    Balanced, Ejection, Endpointer, Etcd, Factory, Instance, Instancer, Registrar, Registration,
    Strategy,
};

/// Where stringsvc instances register.
pub const PREFIX: &str = "/kit/services/stringsvc/";

/// Registers the stringsvc instance reachable at `url` (e.g.
/// `http://127.0.0.1:8082`). Keep the registration while serving; call
/// `deregister()` on graceful shutdown. If the process dies instead, the key
/// goes when the lease (`ttl`) expires.
pub fn register(etcd: Etcd, url: &str, ttl: Duration) -> Registration {
    let id = url.trim_start_matches("http://");
    Registrar::new(etcd, PREFIX, id, &Instance::new(url), ttl).register()
}

/// A stringsvc `Set` over every instance `instancer` publishes: each call goes
/// to the next instance (round robin); a failed call is tried on other
/// instances, `attempts` in all, within the request's deadline. With
/// `ejection`, an instance that keeps failing sits out for a while.
pub fn discovered_stringsvc(
    instancer: &dyn Instancer,
    attempts: usize,
    ejection: Option<Ejection>,
) -> stringsvc::endpoint::Set {
    stringsvc::endpoint::Set {
        uppercase: balanced(instancer, attempts, ejection, |set| set.uppercase),
        count: balanced(instancer, attempts, ejection, |set| set.count),
    }
}

/// One stringsvc endpoint, balanced over the instances.
fn balanced<Req, Resp>(
    instancer: &dyn Instancer,
    attempts: usize,
    ejection: Option<Ejection>,
    pick: fn(stringsvc::endpoint::Set) -> BoxEndpoint<Req, Resp>,
) -> BoxEndpoint<Req, Resp>
where
    Req: Clone + Send + 'static,
    Resp: Send + 'static,
{
    let http = kit_transport::pooled();
    // The factory: instance -> endpoint. The endpointer calls it once per new
    // instance and keeps the endpoint while the instance is registered.
    let factory: Factory<Req, Resp> = Arc::new(move |instance: &Instance| {
        let set = stringsvc::transport::http::client_set(http.clone(), &instance.addr.parse()?)?;
        Ok(pick(set))
    });
    let endpointer = Endpointer::new(instancer, factory, None);
    let balanced = Balanced::builder(endpointer)
        .strategy(Strategy::RoundRobin)
        .max_attempts(attempts);
    BoxEndpoint::new(match ejection {
        Some(ejection) => balanced.ejecting(ejection).build(),
        None => balanced.build(),
    })
}
