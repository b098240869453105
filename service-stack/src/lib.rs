//! The service stack kit's example services share: what every service built
//! with kit puts around its endpoints and at its edges, kept apart from any
//! one service so that each depends on another only for its domain and its
//! client (go-kit's examples never import each other either).
//!
//! Start with [`ServiceFlags`] (the flags every service shares, read with
//! [`parse_flags`]), [`Middlewares`] (the endpoint stack) and
//! [`serve_until_stopped`] (the listener and drain half of a `main`); a
//! service's `main` then reads flags -> builds the onion -> hands it to them.
//!
//! # Layout
//! - `flags`: [`ServiceFlags`] (TLS, JWT, log, limits, shutdown, tracing),
//!   [`LogFlags`], and [`parse_flags`], which gives each flag its environment
//!   variable ([`env_prefix`]).
//! - `middlewares`: [`Middlewares`] (authentication, tracing, logging, RED
//!   and USE metrics, rate limits, a concurrency limit, injected faults, in
//!   that order)
//!   and [`client_limit`], the per-client rate limit keyed by [`client_key`].
//! - `limits`: [`Limits`], the per-request limits of the HTTP servers.
//! - `observe`: [`observed`], what the HTTP router reports of every answer.
//! - `telemetry`: [`tracer`], the tracer of `--otlp-endpoint`, and
//!   [`parse_ratio`].
//! - `listeners`: [`Listeners`] and [`serve_until_stopped`]: bind, serve HTTP,
//!   debug, gRPC and NATS, drain on SIGTERM.
//! - `process`: [`run_service`], a `main`'s logger and exit code.
//! - `tls`: [`server_tls`] and [`client_tls`], TLS from the flags.
//! - `auth`: [`bearer_auth`], JWT authentication from the flags.

mod auth;
mod flags;
mod limits;
mod listeners;
mod middlewares;
mod observe;
mod process;
mod telemetry;
mod tls;

pub use auth::bearer_auth;
pub use flags::{LogFlags, ServiceFlags, env_prefix, parse_flags};
pub use limits::{ConcurrencyLimit, Limits, parse_concurrency_limit};
pub use listeners::{Listeners, OnDrain, Serving, serve_until_stopped};
pub use middlewares::{ClientLimit, Middlewares, client_key, client_limit};
pub use observe::observed;
pub use process::run_service;
pub use telemetry::{parse_ratio, tracer};
pub use tls::{client_tls, server_tls};
