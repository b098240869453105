//! addsvc is kit's main example service: it sums integers and concatenates
//! strings, uppercasing the result through stringsvc.
//!
//! It is laid out as a hexagon, dependencies pointing inwards:
//!
//! ```text
//! transport::http  ->  endpoint (Set, request/response types)  ->  service (trait + impl)
//!   decode/encode        one endpoint per method, with layers       pure domain, no HTTP
//! ```
//!
//! The domain depends on stringsvc only through its domain trait,
//! [`StringService`](stringsvc::service::StringService): the binary passes either an
//! in-process stringsvc (the embedded default) or a client `Set` that calls a remote
//! one over HTTP.
//!
//! Run it with `cargo run -p addsvc`, then:
//!
//! ```text
//! curl -s -XPOST -H 'content-type: application/json' -d '{"a":1,"b":2}' localhost:8081/sum
//! {"v":3}
//! ```
//!
//! # Layout
//! - [`service`]: the [`AddService`](service::AddService) trait, its basic
//!   implementation and business errors.
//! - [`endpoint`]: request/response types and the endpoint [`Set`](endpoint::Set),
//!   which is also an `AddService`.
//! - [`transport::http`]: the HTTP router (server side) and client `Set`.
//! - [`transport::events`]: the NATS JetStream adapter of the domain's
//!   [`SumEvents`](service::SumEvents) port (`--events`), and the consumer that
//!   feeds addtally.
//! - [`idempotency`]: `Idempotency-Key` for sums: a retried sum is served, and
//!   its event published, once per key.
//! - [`tally`]: addtally's domain: a running total applied once per event,
//!   journaled, and its `GET /total`.
//! - [`pact_states`]: the provider-state route for Pact verifiers run against the
//!   binary (its `--pact-provider-states` flag exists only with feature `pact-states`).
//! - `src/bin/addsvc/main.rs`: builds the onion and serves it.
//! - `src/bin/addcli.rs`: a command-line client built on the client `Set`.
//! - `src/bin/addtally.rs`: the consumer of addsvc's events, counting its sums.

pub mod endpoint;
pub mod idempotency;
pub mod pact_states;
pub mod service;
pub mod tally;
pub mod transport;
