//! Serving an endpoint that answers a stream as a server-streaming gRPC
//! method.

use std::pin::Pin;
use std::sync::Arc;

use kit_endpoint::{
    BoxError, Context, DeadlineExceeded, ErrorRef, ServerHooks, SharedEndpoint, run_endpoint,
};
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

use crate::error::encode_error;
use crate::hooks::{Hooks, context_of, finish};
use crate::server::DecodeFn;

/// The stream of items a streaming endpoint answers with.
pub type ItemStream<T> =
    Pin<Box<dyn futures_util::Stream<Item = Result<T, BoxError>> + Send + 'static>>;

type ItemEncodeFn<Item, P> = dyn Fn(Item) -> Result<P, BoxError> + Send + Sync;

/// Serves an endpoint answering a stream as a server-streaming gRPC method
/// (what go-kit never did): the context and deadline come from the metadata as
/// for [`Server`](crate::Server), with the same hooks; the endpoint's stream is sent message
/// by message, each item encoded; an item that is an error ends the stream with
/// that error's status (told to every error handler first); the deadline ends
/// it with `DEADLINE_EXCEEDED`. When the client goes away, the stream is
/// dropped at once: the work behind it stops. Finalizers are told how the call
/// began (the stream, or the status it was refused with).
pub struct StreamingServer<E, PReq, Req, Item, PItem> {
    endpoint: E,
    decode: Arc<DecodeFn<PReq, Req>>,
    encode: Arc<ItemEncodeFn<Item, PItem>>,
    hooks: Hooks<ReplyStream<PItem>>,
}

impl<E, PReq, Req, Item, PItem> std::fmt::Debug for StreamingServer<E, PReq, Req, Item, PItem> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingServer").finish_non_exhaustive()
    }
}

impl<E, PReq, Req, Item, PItem> StreamingServer<E, PReq, Req, Item, PItem>
where
    E: SharedEndpoint<Req, Response = ItemStream<Item>>,
    PReq: Send + 'static,
    Req: Send + 'static,
    Item: Send + 'static,
    PItem: Send + 'static,
{
    /// A server for `endpoint` with the given decoder and item encoder, and
    /// kit's default error encoder.
    pub fn new(
        endpoint: E,
        decode: impl Fn(PReq) -> Result<Req, BoxError> + Send + Sync + 'static,
        encode: impl Fn(Item) -> Result<PItem, BoxError> + Send + Sync + 'static,
    ) -> Self {
        crate::classify_status();
        StreamingServer {
            endpoint,
            decode: Arc::new(decode),
            encode: Arc::new(encode),
            hooks: ServerHooks::new(|ctx, err| Err(encode_error(ctx, err))),
        }
    }

    hook_methods!(Result<Response<ReplyStream<PItem>>, Status>);

    /// The answer to one call: the stream of messages, or the status the call
    /// was refused with.
    pub async fn serve(
        self: Arc<Self>,
        req: tonic::Request<PReq>,
    ) -> Result<Response<ReplyStream<PItem>>, Status> {
        let (metadata, extensions, msg) = req.into_parts();
        let (mut ctx, timeout) = context_of(&metadata, &extensions);
        self.hooks.run_before(&metadata, &mut ctx);
        let started = match timeout.and_then(|()| (self.decode)(msg)) {
            Ok(req) => run_endpoint(self.endpoint.clone(), &ctx, req).await,
            Err(err) => Err(err),
        };
        let mut out = match started {
            Ok(items) => Ok(Response::new(self.clone().encoded(items, ctx.clone()))),
            Err(err) => self.hooks.reply_error(&ctx, &*err),
        };
        finish(&self.hooks, &ctx, &mut out);
        out
    }

    /// `items` encoded, an error item or the deadline ending the stream with
    /// its status.
    fn encoded(self: Arc<Self>, items: ItemStream<Item>, ctx: Context) -> ReplyStream<PItem> {
        use futures_util::StreamExt;

        let deadline = ctx.deadline();
        let stream = futures_util::stream::unfold((items, Some(ctx)), move |(mut items, ctx)| {
            let this = self.clone();
            async move {
                let ctx = ctx?;
                let next = match deadline {
                    Some(at) => tokio::select! {
                        next = items.next() => next,
                        _ = tokio::time::sleep_until(at) => Some(Err(DeadlineExceeded::new().into())),
                    },
                    None => items.next().await,
                };
                let out = match next? {
                    Ok(item) => (this.encode)(item),
                    Err(e) => Err(e),
                };
                match out {
                    Ok(p) => Some((Ok(p), (items, Some(ctx)))),
                    Err(e) => match this.hooks.reply_error(&ctx, &*e) {
                        Err(status) => Some((Err(status), (items, None))),
                        // An error encoder answers errors with a status.
                        Ok(_) => None,
                    },
                }
            }
        });
        Box::pin(stream)
    }
}

/// The message stream of a server-streaming answer.
pub(crate) type ReplyStream<P> =
    Pin<Box<dyn futures_util::Stream<Item = Result<P, Status>> + Send + 'static>>;
