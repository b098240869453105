//! Transports: how addsvc's endpoints are reached from outside.

pub mod http;
