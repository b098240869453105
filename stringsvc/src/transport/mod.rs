//! Transports: how stringsvc's endpoints are reached from outside.

pub mod http;
pub mod nats;
