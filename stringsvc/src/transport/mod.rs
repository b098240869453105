//! Transports: how stringsvc's endpoints are reached from outside.

pub mod grpc;
pub mod http;
pub mod nats;
