//! stringsvc is kit's second example service: it uppercases and counts strings.
//! addsvc calls it to uppercase concatenations.
//!
//! It is laid out as a hexagon, dependencies pointing inwards:
//!
//! ```text
//! transport::http  ->  endpoint (Set, request/response types)  ->  service (trait + impl)
//!   decode/encode        one endpoint per method, with layers       pure domain, no HTTP
//! ```
//!
//! Run it with `cargo run -p stringsvc`, then:
//!
//! ```text
//! curl -s -XPOST -H 'content-type: application/json' -d '{"s":"hello"}' localhost:8082/uppercase
//! {"v":"HELLO"}
//! ```
//!
//! # Layout
//! - [`pact_states`]: Pact provider states for verifiers run against the binary
//!   (its `--pact-provider-states` flag exists only with feature `pact-states`).
//! - [`service`]: the [`StringService`](service::StringService) trait, its basic
//!   implementation, business errors and a service middleware.
//! - [`endpoint`]: request/response types and the endpoint [`Set`](endpoint::Set),
//!   which is also a `StringService`.
//! - [`transport::http`]: the HTTP router (server side) and client `Set`.
//! - [`transport::nats`], [`transport::grpc`]: the same endpoints over NATS
//!   request-reply and gRPC.
//! - [`client`]: the client over discovered instances (URLs, etcd, DNS SRV,
//!   gRPC, NATS), balanced, retried, broken and measured: what addsvc uses.
//!
//! The middlewares, limits and listeners both example services share are in
//! the `service-stack` crate, not here: addsvc depends on stringsvc only for
//! its domain and its client.
//! - [`registration`]: the instance's registration in etcd (`--sd`; feature `etcd`).
//! - `src/bin/stringsvc/main.rs`: builds the onion and serves it.

pub mod client;
pub mod endpoint;
pub mod pact_states;
pub mod registration;
pub mod service;
pub mod transport;
