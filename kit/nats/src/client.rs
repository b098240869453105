//! The NATS client endpoint: encode -> request on a subject -> decode.

use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::{HeaderMap, RequestErrorKind};
use bytes::Bytes;
use kit_endpoint::{BoxError, BoxFuture, Classified, ErrorClass, Request, WithDeadline};
use tower::Service;

use crate::context::context_to_headers;
use crate::error::{UpstreamError, reply_error};

type EncodeFn<Req> = dyn Fn(Req) -> Result<Bytes, BoxError> + Send + Sync;
type DecodeFn<Resp> = dyn Fn(Option<&HeaderMap>, Bytes) -> Result<Resp, BoxError> + Send + Sync;

/// How long a call without a deadline waits for its reply: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An endpoint that calls a NATS endpoint (go-kit's `transport/nats.Publisher`):
/// the request is encoded, sent on the subject with the context in its headers,
/// and the reply decoded. The reply is awaited within the request's deadline.
/// Failures come back classified: nobody listening is *unavailable* (at once,
/// NATS says so), no reply in time *deadline exceeded*, a remote error its
/// class (see [`UpstreamError`]), so retries and breakers work as over HTTP.
pub struct Client<Req, Resp> {
    nats: async_nats::Client,
    subject: Arc<str>,
    encode: Arc<EncodeFn<Req>>,
    decode: Arc<DecodeFn<Resp>>,
}

impl<Req, Resp> Clone for Client<Req, Resp> {
    fn clone(&self) -> Self {
        Client {
            nats: self.nats.clone(),
            subject: self.subject.clone(),
            encode: self.encode.clone(),
            decode: self.decode.clone(),
        }
    }
}

impl<Req, Resp> std::fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl<Req, Resp> Client<Req, Resp> {
    /// Calls the endpoint served on `subject` through `nats`.
    pub fn new<En, De>(nats: async_nats::Client, subject: &str, encode: En, decode: De) -> Self
    where
        En: Fn(Req) -> Result<Bytes, BoxError> + Send + Sync + 'static,
        De: Fn(Option<&HeaderMap>, Bytes) -> Result<Resp, BoxError> + Send + Sync + 'static,
    {
        Client {
            nats,
            subject: Arc::from(subject),
            encode: Arc::new(encode),
            decode: Arc::new(decode),
        }
    }
}

impl<Req, Resp> Service<Request<Req>> for Client<Req, Resp>
where
    Req: Send + 'static,
    Resp: Send + 'static,
{
    type Response = Resp;
    type Error = BoxError;
    type Future = BoxFuture<Resp>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Req>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let (ctx, msg) = req.into_parts();
            let exchange = async {
                let payload = (this.encode)(msg)?;
                let mut headers = HeaderMap::new();
                context_to_headers(&ctx, &mut headers);
                let timeout = ctx.remaining().unwrap_or(DEFAULT_TIMEOUT);
                let request = async_nats::Request::new()
                    .headers(headers)
                    .payload(payload)
                    .timeout(Some(timeout));
                let reply = match this
                    .nats
                    .send_request(this.subject.to_string(), request)
                    .await
                {
                    Ok(reply) => reply,
                    Err(e) => {
                        let class = match e.kind() {
                            RequestErrorKind::NoResponders => {
                                ErrorClass::Unavailable { retry_after: None }
                            }
                            RequestErrorKind::TimedOut => ErrorClass::DeadlineExceeded,
                            _ => ErrorClass::Upstream {
                                caller_fault: false,
                            },
                        };
                        let err = UpstreamError {
                            remote: None,
                            message: format!("{} on {}", e, this.subject),
                        };
                        return Err(Classified::new(class, err).into());
                    }
                };
                if let Some(err) = reply_error(reply.headers.as_ref(), &reply.payload) {
                    return Err(err);
                }
                (this.decode)(reply.headers.as_ref(), reply.payload)
            };
            // Nothing is sent once the deadline has passed.
            WithDeadline::new(exchange, ctx.deadline()).await
        })
    }
}
