//! The reference code of kit's workshop (`workshop/README.md`): one module per
//! step, as the learner writes it, and one per challenge solution. Each step
//! builds on the earlier ones; `workshop/tests/` holds every checkpoint test and
//! every solution's test, and `workshop/tests/snippets.rs` checks that the code
//! shown in the steps is the code here.

// The workshop's code is what the steps print: it stays as short as the
// steps, without the Debug impls the kit crates have.
#![allow(missing_debug_implementations)]

pub mod s01_challenge;
pub mod s01_service;
pub mod s02_challenge;
pub mod s02_endpoints;
pub mod s03_challenge;
pub mod s03_http;
pub mod s04_challenge;
pub mod s04_metrics;
pub mod s05_challenge;
pub mod s05_logging;
pub mod s06_challenge;
pub mod s06_context;
pub mod s07_challenge;
pub mod s07_errors;
pub mod s08_challenge;
pub mod s08_stringsvc;
pub mod s10_challenge;
pub mod s10_resilience;
pub mod s11_sd;
pub mod s14_challenge;
pub mod s14_messaging;
pub mod s15_challenge;
pub mod s15_tracing;
pub mod s16_challenge;
pub mod s16_grpc;
pub mod s17_challenge;
pub mod s17_speed;
pub mod s18_challenge;
pub mod s18_tls;
pub mod s19_auth;
pub mod s19_challenge;
pub mod s20_challenge;
pub mod s20_overload;
pub mod s21_axum;
pub mod s21_challenge;
pub mod s22_challenge;
pub mod s22_notes;
