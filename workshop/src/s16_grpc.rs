//! Step 16: gRPC. The same endpoint `Set` served over gRPC beside HTTP, with
//! kit-grpc on tonic: a method is a kit `Server` (decode, endpoint, encode)
//! at a path; messages are prost types.

use kit_endpoint::{BoxEndpoint, Context};
use kit_grpc::{Client, Router, Server};
use tonic::transport::Channel;

use crate::s02_endpoints::{Set, SumRequest, SumResponse};

/// The protobuf messages of `Sum`, written by hand with prost's derive (or
/// generated from a `.proto` by prost-build, as addsvc does).
pub mod pb {
    /// The request of `Sum`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SumRequest {
        /// The first term.
        #[prost(int64, tag = "1")]
        pub a: i64,
        /// The second term.
        #[prost(int64, tag = "2")]
        pub b: i64,
    }

    /// The response of `Sum`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SumResponse {
        /// The sum.
        #[prost(int64, tag = "1")]
        pub v: i64,
    }
}

/// The path of the `Sum` method.
pub const SUM: &str = "/workshop.Add/Sum";

/// The gRPC methods of `set`: serve them with `kit_grpc::serve`.
pub fn router(set: Set) -> Router {
    let sum = Server::new(
        set.sum,
        |m: pb::SumRequest| Ok(SumRequest { a: m.a, b: m.b }),
        |_: &Context, r: SumResponse| Ok(pb::SumResponse { v: r.v }),
    );
    Router::new().unary(SUM, sum)
}

/// The `sum` endpoint of the service behind `channel`.
pub fn sum_client(channel: Channel) -> BoxEndpoint<SumRequest, SumResponse> {
    BoxEndpoint::new(Client::new(
        channel,
        SUM,
        |r: SumRequest| Ok(pb::SumRequest { a: r.a, b: r.b }),
        |m: pb::SumResponse| Ok(SumResponse { v: m.v, err: None }),
    ))
}
