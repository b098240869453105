//! addsvc over gRPC, beside HTTP: the same endpoint `Set` as the methods of
//! service `addsvc.Add` (`proto/addsvc.proto`).
//!
//! A business error answers `FAILED_PRECONDITION` with its message (HTTP's
//! 422); every other failure the status code of its class (kit-grpc). The
//! client [`client_set`] maps both back.

use kit_endpoint::{BoxEndpoint, Context, cause_ref};
use kit_grpc::{Client, Code, ErrorRef, Router, Server, Status};
use tonic::transport::Channel;

use crate::endpoint::{ConcatRequest, ConcatResponse, Set, SumRequest, SumResponse};
use crate::idempotency::{IDEMPOTENCY_KEY, KeyHeader, KeyInFlight};
use crate::service::AddError;

/// The protobuf messages, generated from `proto/addsvc.proto` by prost-build
/// (checked by `tests/tests/proto.rs`).
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub mod pb {
    include!("grpc/pb.rs");
}

/// The path of the `Sum` method.
pub const SUM: &str = "/addsvc.Add/Sum";
/// The path of the `Concat` method.
pub const CONCAT: &str = "/addsvc.Add/Concat";
/// The service's name, for the health protocol.
pub const SERVICE: &str = "addsvc.Add";

/// addsvc's methods, for `kit_grpc::serve` (add the health service beside).
pub fn router(set: Set) -> Router {
    let sum = Server::new(
        set.sum,
        |m: pb::SumRequest| Ok(SumRequest { a: m.a, b: m.b }),
        |_: &Context, r: SumResponse| Ok(pb::SumResponse { v: r.v }),
    )
    // A retried sum is served once per `idempotency-key`.
    .before(|md, ctx| {
        let key = md.get(IDEMPOTENCY_KEY).map(|v| v.as_bytes());
        KeyHeader::insert(ctx, key);
    })
    .error_encoder(encode_error);
    let concat = Server::new(
        set.concat,
        |m: pb::ConcatRequest| Ok(ConcatRequest { a: m.a, b: m.b }),
        |_: &Context, r: ConcatResponse| Ok(pb::ConcatResponse { v: r.v }),
    )
    .error_encoder(encode_error);
    Router::new().unary(SUM, sum).unary(CONCAT, concat)
}

/// Business errors as `FAILED_PRECONDITION` with their message, an
/// idempotency key in use as `ABORTED` (retry later), the rest as kit-grpc
/// does (a key used for another request: `INVALID_ARGUMENT`).
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> Status {
    if let Some(e) = cause_ref::<AddError>(err) {
        return Status::new(Code::FailedPrecondition, e.to_string());
    }
    if let Some(e) = cause_ref::<KeyInFlight>(err) {
        return Status::new(Code::Aborted, e.to_string());
    }
    kit_grpc::encode_error(ctx, err)
}

fn business_error(status: &Status) -> Option<AddError> {
    (status.code() == Code::FailedPrecondition)
        .then(|| AddError::from_message(status.message()))
        .flatten()
}

/// A client [`Set`] calling the addsvc instance behind `channel`.
pub fn client_set(channel: Channel) -> Set {
    Set {
        sum: BoxEndpoint::new(
            Client::new(
                channel.clone(),
                SUM,
                |r: SumRequest| Ok(pb::SumRequest { a: r.a, b: r.b }),
                |m: pb::SumResponse| Ok(SumResponse { v: m.v, err: None }),
            )
            .business(|s| {
                business_error(s).map(|err| SumResponse {
                    v: 0,
                    err: Some(err),
                })
            }),
        ),
        concat: BoxEndpoint::new(
            Client::new(
                channel,
                CONCAT,
                |r: ConcatRequest| Ok(pb::ConcatRequest { a: r.a, b: r.b }),
                |m: pb::ConcatResponse| Ok(ConcatResponse { v: m.v, err: None }),
            )
            .business(|s| {
                business_error(s).map(|err| ConcatResponse {
                    v: String::new(),
                    err: Some(err),
                })
            }),
        ),
    }
}
