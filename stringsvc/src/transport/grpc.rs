//! stringsvc over gRPC, beside HTTP: the same endpoint `Set` as the methods of
//! service `stringsvc.Strings` (`proto/stringsvc.proto`).
//!
//! A business error answers `FAILED_PRECONDITION` with its message (HTTP's
//! 422); every other failure the status code of its class (kit-grpc). The
//! client [`client_set`] maps both back.

use std::time::Duration;

use kit_endpoint::{
    BoxEndpoint, BoxError, Context, Request, RequestId, SharedEndpoint, cause_ref, endpoint_fn,
};
use kit_grpc::{Client, Code, ErrorRef, ItemStream, Router, Server, Status, StreamingServer};
use slog::{Logger, info};
use tonic::transport::Channel;
use tower::ServiceExt;

use crate::endpoint::{CountRequest, CountResponse, Set, UppercaseRequest, UppercaseResponse};
use crate::service::StringError;

/// The protobuf messages, generated from `proto/stringsvc.proto` by
/// prost-build (checked by `tests/tests/proto.rs`).
#[allow(missing_docs, clippy::all, unreachable_pub)]
pub mod pb {
    include!("grpc/pb.rs");
}

/// The gRPC service, as the health protocol names it.
pub const SERVICE: &str = "stringsvc.Strings";

/// The path of the `Uppercase` method.
pub const UPPERCASE: &str = "/stringsvc.Strings/Uppercase";
/// The path of the `Count` method.
pub const COUNT: &str = "/stringsvc.Strings/Count";
/// The path of the `Spell` method (server streaming).
pub const SPELL: &str = "/stringsvc.Strings/Spell";
/// The pause between two characters of `Spell`.
pub const SPELL_INTERVAL: Duration = Duration::from_millis(10);

/// stringsvc's methods, for `kit_grpc::serve` (add the health service beside);
/// `Spell`'s early ends are logged to `logger`.
pub fn router(set: Set, logger: Logger) -> Router {
    let spell = StreamingServer::new(
        spell(set.uppercase.clone(), logger),
        |m: pb::UppercaseRequest| Ok(UppercaseRequest { s: m.s }),
        |(index, c): (u64, char)| {
            Ok(pb::SpellResponse {
                index,
                c: c.to_string(),
            })
        },
    )
    .error_encoder(encode_error);
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
        .server_streaming(SPELL, spell)
}

/// `Spell`: the `uppercase` endpoint's answer (its middlewares and business
/// errors included), streamed one character every [`SPELL_INTERVAL`]. A stream
/// dropped before its end (the client went away, the deadline passed) says so
/// in the log, with how far it got: the characters after that were never made.
pub fn spell(
    uppercase: BoxEndpoint<UppercaseRequest, UppercaseResponse>,
    logger: Logger,
) -> impl SharedEndpoint<UppercaseRequest, Response = ItemStream<(u64, char)>> {
    endpoint_fn(move |req: Request<UppercaseRequest>| {
        let (uppercase, logger) = (uppercase.clone(), logger.clone());
        async move {
            let request_id = req.ctx().request_id().cloned();
            let resp = uppercase.oneshot(req).await?;
            if let Some(err) = resp.err {
                return Err(err.into());
            }
            let chars: Vec<char> = resp.v.chars().collect();
            let progress = Progress {
                logger,
                request_id,
                total: chars.len(),
                sent: 0,
            };
            let tick = tokio::time::interval(SPELL_INTERVAL);
            let stream = futures_util::stream::unfold(
                (chars.into_iter().enumerate(), progress, tick),
                |(mut chars, mut progress, mut tick)| async move {
                    tick.tick().await;
                    let (i, c) = chars.next()?;
                    progress.sent = i + 1;
                    Some((Ok((i as u64, c)), (chars, progress, tick)))
                },
            );
            Ok::<ItemStream<(u64, char)>, BoxError>(Box::pin(stream))
        }
    })
}

/// How far a `Spell` stream got; logs an early end when dropped.
struct Progress {
    logger: Logger,
    request_id: Option<RequestId>,
    total: usize,
    sent: usize,
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.sent < self.total {
            info!(self.logger, "stream ended early";
                "method" => "spell",
                "request_id" => self.request_id.as_ref().map(RequestId::as_str),
                "sent" => self.sent,
                "of" => self.total);
        }
    }
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
