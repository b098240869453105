//! Step 16's challenge: the business error crosses gRPC as itself. The server
//! answers `FAILED_PRECONDITION` with the error's message; the client turns
//! that status back into the domain's `AddError`.

use kit_endpoint::{BoxEndpoint, Context, cause_ref};
use kit_grpc::{Client, Code, ErrorRef, Router, Server, Status};
use tonic::transport::Channel;

use crate::s01_service::AddError;
use crate::s02_endpoints::{Set, SumRequest, SumResponse};
use crate::s16_grpc::{SUM, pb};

/// Business errors as `FAILED_PRECONDITION` with their message; the rest as
/// kit-grpc does (one code per error class).
pub fn encode_error(ctx: &Context, err: ErrorRef<'_>) -> Status {
    match cause_ref::<AddError>(err) {
        Some(e) => Status::new(Code::FailedPrecondition, e.to_string()),
        None => kit_grpc::encode_error(ctx, err),
    }
}

/// Step 16's router, with [`encode_error`].
pub fn router(set: Set) -> Router {
    let sum = Server::new(
        set.sum,
        |m: pb::SumRequest| Ok(SumRequest { a: m.a, b: m.b }),
        |_: &Context, r: SumResponse| Ok(pb::SumResponse { v: r.v }),
    )
    .error_encoder(encode_error);
    Router::new().unary(SUM, sum)
}

/// Step 16's client, turning the status back into the business error.
pub fn sum_client(channel: Channel) -> BoxEndpoint<SumRequest, SumResponse> {
    BoxEndpoint::new(
        Client::new(
            channel,
            SUM,
            |r: SumRequest| Ok(pb::SumRequest { a: r.a, b: r.b }),
            |m: pb::SumResponse| Ok(SumResponse { v: m.v, err: None }),
        )
        .business(|status| {
            let overflow = status.code() == Code::FailedPrecondition
                && status.message() == AddError::Overflow.to_string();
            overflow.then_some(SumResponse {
                v: 0,
                err: Some(AddError::Overflow),
            })
        }),
    )
}
