//! Package sd is service discovery for kit, as go-kit's pipeline of small nouns:
//! an [`Instancer`] publishes the instances of a service, a [`Factory`] makes an
//! endpoint per instance, an [`Endpointer`] keeps those endpoints cached while
//! their instances live, and a [`Balanced`] endpoint picks one per call
//! ([`Strategy`]: round robin, random, least pending, peak EWMA) and retries failures on
//! other instances within the request's deadline.
//!
//! ```
//! use std::sync::Arc;
//! use kit_endpoint::{endpoint_fn, BoxEndpoint, BoxError, Request};
//! use kit_sd::{Balanced, Endpointer, Factory, Instance, StaticInstancer, Strategy};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let instancer = StaticInstancer::new(vec![Instance::new("a"), Instance::new("b")]);
//! // In a service, the factory builds an HTTP client endpoint for the address.
//! let factory: Factory<(), String> = Arc::new(|instance: &Instance| {
//!     let addr = instance.addr.clone();
//!     Ok(BoxEndpoint::new(endpoint_fn(move |_req: Request<()>| {
//!         let addr = addr.clone();
//!         async move { Ok::<_, BoxError>(addr) }
//!     })))
//! });
//! let ep = Balanced::new(Endpointer::new(&instancer, factory, None), Strategy::RoundRobin, 3);
//! let first = ep.clone().oneshot(Request::from_msg(())).await.unwrap();
//! let second = ep.oneshot(Request::from_msg(())).await.unwrap();
//! assert_ne!(first, second);
//! # }
//! ```
//!
//! Backends: [`StaticInstancer`] (a fixed list), [`DnsSrvInstancer`] (SRV
//! records, tested against a real dnsmasq) and, with feature `etcd`,
//! `EtcdInstancer` and `Registrar` (etcd v3 with TTL leases, tested against a
//! real etcd). [`DampedInstancer`] holds back flapping instances. [`Builder::ejecting`] takes failing instances out
//! of the pool for a while.
//!
//! # kit's `Balanced` or tower's `Balance`?
//! [`Balanced`] is kit's balanced endpoint: it retries a failed call on a
//! *different* instance within the request's deadline, ejects outliers, and is
//! `Clone` (shared by every request without a `Buffer`). tower's
//! `tower::balance::p2c::Balance` picks a ready service in `poll_ready`, so it
//! cannot steer a retry away from the instance that just failed; when you want
//! it anyway (with tower's `PeakEwmaDiscover` or `PendingRequestsDiscover`, and
//! your own retry policy), [`Discovered`] feeds it from any [`Instancer`].
//! Measured (`cargo bench -p kit-sd --bench sd -- call`): a whole call through
//! `Balanced` costs about 1.9x the bare endpoint call, through tower's `Balance`
//! about 2.6x.
//!
//! # Layout
//! - `instancer`: [`Instance`], [`Instancer`], [`StaticInstancer`].
//! - `endpointer`: [`Factory`], [`Endpointer`], [`Filter`].
//! - `cache`: [`InstanceCache`], per-instance values shared by several factories.
//! - `balancer`: [`Strategy`], and the picker behind it.
//! - `balanced`: [`Balanced`] and its [`Builder`], [`NoInstances`], [`RetriesExhausted`].
//! - `dns`: [`DnsSrvInstancer`].
//! - `etcd` (feature `etcd`): `Etcd`, `EtcdInstancer`, `Registrar`, `Registration`.
//! - `eject`: [`Ejection`]: outlier ejection.
//! - `canary`: [`version_is`], [`metadata_is`], [`not`] (filters), [`Canary`] (a share of calls to a new version).
//! - `damping`: [`DampedInstancer`], [`Damping`]: flap damping.
//! - `discover`: [`Discovered`], an instancer as a tower `Discover` stream for tower's balancers.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod balanced;
mod balancer;
mod cache;
mod canary;
mod damping;
mod discover;
mod dns;
mod eject;
mod endpointer;
#[cfg(feature = "etcd")]
mod etcd;
mod hedge;
mod instancer;

pub use balanced::{Balanced, BalancedStats, Builder, NoInstances, RetriesExhausted};
pub use balancer::Strategy;
pub use cache::InstanceCache;
pub use canary::{Canary, metadata_is, not, version_is};
pub use damping::{DampedInstancer, Damping};
pub use discover::Discovered;
pub use dns::DnsSrvInstancer;
pub use eject::Ejection;
pub use endpointer::{Endpointer, Factory, Filter};
#[cfg(feature = "etcd")]
pub use etcd::{Etcd, EtcdInstancer, Link, Registrar, Registration, RegistrationState};
pub use hedge::{HedgeDelay, Hedging, RetryBudget};
pub use instancer::{Instance, Instancer, Instances, StaticInstancer};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
