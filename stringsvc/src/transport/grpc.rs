//! stringsvc over gRPC, beside HTTP: the same endpoint `Set` as the methods of
//! service `stringsvc.Strings` (`proto/stringsvc.proto`).
//!
//! A business error answers `FAILED_PRECONDITION` with its message (HTTP's
//! 422); every other failure the status code of its class (kit-grpc). The
//! client [`client_set`] maps both back.

use kit_endpoint::{BoxEndpoint, Context, cause_ref};
use kit_grpc::{Client, Code, ErrorRef, Router, Server, Status};
use tonic::transport::Channel;

use crate::endpoint::{CountRequest, CountResponse, Set, UppercaseRequest, UppercaseResponse};
use crate::service::StringError;

/// The protobuf messages, generated from `proto/stringsvc.proto` by
/// prost-build (checked by `tests/tests/proto.rs`).
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub mod pb {
    include!("grpc/pb.rs");
}

/// The path of the `Uppercase` method.
pub const UPPERCASE: &str = "/stringsvc.Strings/Uppercase";
/// The path of the `Count` method.
pub const COUNT: &str = "/stringsvc.Strings/Count";

/// stringsvc's methods, for `kit_grpc::serve` (add the health service beside).
pub fn router(set: Set) -> Router {
    let uppercase = Server::new(
        set.uppercase,
        |m: pb::UppercaseRequest| Ok(UppercaseRequest { s: m.s }),
        |_: &Context, r: UppercaseResponse| Ok(pb::UppercaseResponse { v: r.v }),
    )
    .error_encoder(encode_error);
    let count = Server::new(
        set.count,
        |m: pb::CountRequest| Ok(CountRequest { s: m.s }),
        |_: &Context, r: CountResponse| Ok(pb::CountResponse { v: r.v }),
    )
    .error_encoder(encode_error);
    Router::new()
        .unary(UPPERCASE, uppercase)
        .unary(COUNT, count)
}

/// Business errors as `FAILED_PRECONDITION` with their message, the rest as
/// kit-grpc does.
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> Status {
    match cause_ref::<StringError>(err) {
        Some(e) => Status::new(Code::FailedPrecondition, e.to_string()),
        None => kit_grpc::encode_error(ctx, err),
    }
}

/// The business error of a status, if it is one.
fn business_error(status: &Status) -> Option<StringError> {
    (status.code() == Code::FailedPrecondition)
        .then(|| StringError::from_message(status.message()))
        .flatten()
}

/// A client [`Set`] calling the stringsvc instance behind `channel` (one
/// channel per instance: balance and retry over several with kit-sd).
pub fn client_set(channel: Channel) -> Set {
    Set {
        uppercase: BoxEndpoint::new(
            Client::new(
                channel.clone(),
                UPPERCASE,
                |r: UppercaseRequest| Ok(pb::UppercaseRequest { s: r.s }),
                |m: pb::UppercaseResponse| Ok(UppercaseResponse { v: m.v, err: None }),
            )
            .business(|status| {
                business_error(status).map(|err| UppercaseResponse {
                    v: String::new(),
                    err: Some(err),
                })
            }),
        ),
        count: BoxEndpoint::new(
            Client::new(
                channel,
                COUNT,
                |r: CountRequest| Ok(pb::CountRequest { s: r.s }),
                |m: pb::CountResponse| Ok(CountResponse { v: m.v, err: None }),
            )
            .business(|status| {
                business_error(status).map(|err| CountResponse {
                    v: 0,
                    err: Some(err),
                })
            }),
        ),
    }
}
