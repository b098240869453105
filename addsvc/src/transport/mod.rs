//! Transports: how addsvc's endpoints are reached from outside, and where its
//! events go.

pub mod events;
pub mod grpc;
pub mod http;
