//! Package auth authenticates and authorizes calls to kit endpoints, as
//! go-kit's `auth/jwt` does: a middleware verifies the caller's bearer token
//! and puts its verified claims in the request's context; a client-side
//! middleware attaches a token to every outgoing call; scopes and mTLS
//! identities decide what a caller may do.
//!
//! - [`Verifier`]: JWT verification through `jsonwebtoken` (no hand-written
//!   cryptography): RS256/384/512, PS256/384/512, ES256/384, EdDSA and HS256,
//!   keys from a JWKS file (read again when it changes) or a shared secret,
//!   **each key pinned to its algorithm** (a token must use exactly its key's;
//!   `alg: none` is never accepted, an HMAC token never checked against an RSA
//!   key), `iss`, `aud`, `exp` and `nbf` checked with a 30 s leeway, tokens
//!   over 8 KiB refused unread.
//! - [`AuthLayer`]: the server-side middleware: [`AuthLayer::bearer`],
//!   [`AuthLayer::require_scopes`], [`AuthLayer::allow_peers`] (mutual TLS
//!   identities, `spiffe://...`), or any check of the context.
//! - [`BasicLayer`]: basic authentication against argon2 password hashes
//!   ([`Users`]), checked off the async threads, a bounded number at once, an
//!   unknown user costing what a wrong password does.
//! - [`TokenLayer`]: the client side, a fixed token or one read from a file
//!   (Kubernetes' projected service-account tokens rotate so).
//!
//! The credentials come from the transports: kit-transport, kit-grpc and
//! kit-nats put what the caller sent (HTTP `Authorization`, gRPC
//! `authorization`, a NATS `Authorization` header) in the context
//! ([`Context::credentials`](kit_endpoint::Context::credentials)), and send
//! the context's [call credentials](kit_endpoint::Context::call_credentials)
//! the same ways: never the caller's own. A refusal is
//! [`ErrorClass::Unauthenticated`](kit_endpoint::ErrorClass::Unauthenticated)
//! (HTTP 401 with `WWW-Authenticate: Bearer`, gRPC `UNAUTHENTICATED`) or
//! [`ErrorClass::PermissionDenied`](kit_endpoint::ErrorClass::PermissionDenied)
//! (403, `PERMISSION_DENIED`): never retried, never counted by a breaker,
//! never a detail of why a token failed, never the token in a log line.
//!
//! # Layout
//! - `jwt`: [`Verifier`].
//! - `layer`: [`AuthLayer`] -> [`Auth`] -> [`AuthFuture`].
//! - `client`: [`TokenLayer`] -> [`Token`].
//! - `basic`: [`BasicLayer`] -> [`Basic`], [`Users`].
//! - `error`: [`AuthError`], [`ConfigError`].
#![cfg_attr(docsrs, feature(doc_cfg))]

mod basic;
mod client;
mod error;
mod jwt;
mod layer;

pub use basic::{Basic, BasicLayer, DEFAULT_CONCURRENT_CHECKS, Users};
pub use client::{TOKEN_FILE_CHECK, Token, TokenLayer};
pub use error::{AuthError, ConfigError};
pub use jwt::{CACHED_TOKENS, DEFAULT_LEEWAY, MAX_KEYS, MAX_TOKEN_BYTES, RELOAD_CHECK, Verifier};
pub use layer::{Auth, AuthFuture, AuthLayer};

// The README's example, run as a doctest: what a crates.io reader copies works.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
