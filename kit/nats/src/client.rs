//! The NATS client endpoint: encode -> request on a subject -> decode.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_nats::{HeaderMap, RequestErrorKind};
use bytes::Bytes;
use kit_endpoint::{BoxError, BoxFuture, Classified, ErrorClass, Request, RequestId, WithDeadline};
use tower::Service;

use crate::context::{CALL_ID, cancel_subject, context_to_headers};
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
    /// Made once: a clone is a reference count, not a copy.
    subject: async_nats::Subject,
    encode: Arc<EncodeFn<Req>>,
    decode: Arc<DecodeFn<Resp>>,
    attempts: u32,
    attempt_timeout: Option<Duration>,
}

impl<Req, Resp> Clone for Client<Req, Resp> {
    fn clone(&self) -> Self {
        Client {
            nats: self.nats.clone(),
            subject: self.subject.clone(),
            encode: self.encode.clone(),
            decode: self.decode.clone(),
            attempts: self.attempts,
            attempt_timeout: self.attempt_timeout,
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
            subject: async_nats::Subject::from(subject.to_owned()),
            encode: Arc::new(encode),
            decode: Arc::new(decode),
            attempts: 1,
            attempt_timeout: None,
        }
    }

    /// Sends a request up to `n` times (default 1) while the failure is worth
    /// retrying ([`ErrorClass::is_retryable`]: nobody listening, an instance
    /// that did not answer within [`attempt_timeout`](Self::attempt_timeout),
    /// a remote failure that is not the caller's fault), within the request's
    /// deadline. The queue group picks an instance per attempt, so a retry
    /// moves on from an instance that died with the request. Only for
    /// endpoints that are safe to call twice.
    pub fn attempts(mut self, n: u32) -> Self {
        self.attempts = n.max(1);
        self
    }

    /// How long one attempt waits for its reply (default: the whole budget).
    /// An attempt that times out before the request's deadline fails as
    /// *unavailable*, so that [`attempts`](Self::attempts) tries again; at the
    /// deadline the call fails as *deadline exceeded*.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout.max(Duration::from_millis(1)));
        self
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
                let mut backoff = Duration::from_millis(10);
                let mut attempt = 1;
                loop {
                    // Each attempt carries the budget left.
                    let mut headers = HeaderMap::new();
                    context_to_headers(&ctx, &mut headers);
                    let err = match this.attempt(&ctx, headers, payload.clone()).await {
                        Ok(resp) => return Ok(resp),
                        Err(err) => err,
                    };
                    let left = ctx.remaining().unwrap_or(Duration::MAX);
                    if attempt >= this.attempts
                        || !ErrorClass::of(&*err).is_retryable()
                        || left <= backoff
                    {
                        return Err(err);
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                    attempt += 1;
                }
            };
            // Nothing is sent once the deadline has passed.
            WithDeadline::new(exchange, ctx.deadline()).await
        })
    }
}

impl<Req, Resp> Client<Req, Resp> {
    /// Sends the request and waits up to `timeout` for its reply. If the
    /// connection is lost and made again meanwhile (its server died: the
    /// client reconnected to another member of the cluster), the request is
    /// sent again on the new connection, within the same time: the first may
    /// never have reached a server, or its reply may have gone with the
    /// connection. And "no responders" is asked again after a pause (10 ms,
    /// doubling to 200 ms) while the time lasts: the subscribers of a node
    /// that died are reconnecting to the others. Without this, every call in
    /// flight when a node dies would fail together, enough to open a breaker.
    async fn send(
        &self,
        headers: HeaderMap,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<async_nats::Message, async_nats::RequestError> {
        let until = tokio::time::Instant::now() + timeout;
        let stats = self.nats.statistics();
        let mut pause = Duration::from_millis(10);
        for _ in 0..MAX_RESENDS {
            let connects = stats.connects.load(Ordering::Relaxed);
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            let request = async_nats::Request::new()
                .headers(headers.clone())
                .payload(payload.clone())
                .timeout(Some(left));
            let reconnected = async {
                while stats.connects.load(Ordering::Relaxed) == connects {
                    tokio::time::sleep(RECONNECT_CHECK).await;
                }
            };
            tokio::select! {
                sent = self.nats.send_request(self.subject.clone(), request) => match sent {
                    // Nobody subscribed right now: while a node of a cluster
                    // dies, its subscribers are reconnecting to the others.
                    // Asked again after a pause, within the attempt's time.
                    Err(e) if e.kind() == RequestErrorKind::NoResponders
                        && tokio::time::Instant::now() + pause < until =>
                    {
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_millis(200));
                    }
                    sent => return sent,
                },
                _ = reconnected => {}
            }
        }
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        let request = async_nats::Request::new()
            .headers(headers)
            .payload(payload)
            .timeout(Some(left));
        self.nats.send_request(self.subject.clone(), request).await
    }

    /// One request and its reply, decoded.
    async fn attempt(
        &self,
        ctx: &kit_endpoint::Context,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<Resp, BoxError> {
        let budget = ctx.remaining().unwrap_or(DEFAULT_TIMEOUT);
        let (timeout, cut_short) = match self.attempt_timeout {
            Some(t) if t < budget => (t, true),
            _ => (budget, false),
        };
        // The attempt's own ID: if it is given up (its future dropped, its
        // attempt timeout passed), the server is told to drop the call.
        let mut headers = headers;
        let call_id = RequestId::generate();
        headers.insert(CALL_ID, call_id.as_str());
        let mut abandoned = Abandoned {
            nats: self.nats.clone(),
            subject: &self.subject,
            call_id: Some(call_id),
        };
        let sent = self.send(headers, payload, timeout).await;
        if !matches!(&sent, Err(e) if e.kind() == RequestErrorKind::TimedOut) {
            // Answered (or never delivered): nothing to cancel.
            abandoned.call_id = None;
        }
        let reply = match sent {
            Ok(reply) => reply,
            Err(e) => {
                let class = match e.kind() {
                    RequestErrorKind::NoResponders => ErrorClass::Unavailable { retry_after: None },
                    RequestErrorKind::TimedOut if cut_short => {
                        ErrorClass::Unavailable { retry_after: None }
                    }
                    RequestErrorKind::TimedOut => ErrorClass::DeadlineExceeded,
                    _ => ErrorClass::Upstream {
                        caller_fault: false,
                    },
                };
                let err = UpstreamError {
                    remote: None,
                    message: format!("{} on {}", e, self.subject),
                };
                return Err(Classified::new(class, err).into());
            }
        };
        if let Some(err) = reply_error(reply.headers.as_ref(), &reply.payload) {
            return Err(err);
        }
        (self.decode)(reply.headers.as_ref(), reply.payload)
    }
}

/// How many times one attempt is sent, at most: again after a reconnection,
/// or after "no responders" while subscribers reconnect.
const MAX_RESENDS: usize = 8;

/// How often an attempt waiting for its reply looks for a reconnection.
const RECONNECT_CHECK: Duration = Duration::from_millis(20);

/// Tells the server to drop an attempt's call when the attempt is given up:
/// dropped before its reply, or timed out. Sent from `Drop`, so on a task of
/// its own (when there is a runtime to run it).
struct Abandoned<'a> {
    nats: async_nats::Client,
    subject: &'a async_nats::Subject,
    /// The attempt's ID while it may still be running on a server.
    call_id: Option<RequestId>,
}

impl Drop for Abandoned<'_> {
    fn drop(&mut self) {
        let Some(id) = self.call_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (nats, subject) = (self.nats.clone(), cancel_subject(self.subject.as_str()));
        runtime.spawn(async move {
            let mut headers = HeaderMap::new();
            headers.insert(CALL_ID, id.as_str());
            let _ = nats
                .publish_with_headers(subject, headers, Bytes::new())
                .await;
        });
    }
}

/// Connects to the NATS server at `url` (`tls://HOST:PORT` or
/// `nats://HOST:PORT`) over TLS, required (feature `tls`): the server is
/// trusted as `tls` says, and `tls`'s client certificate is presented if the
/// server asks for one (nats-server's `verify`). TLS 1.2 and 1.3 only, as
/// everywhere in kit ([`kit_endpoint::tls`]).
///
/// ```no_run
/// use kit_endpoint::tls::{ClientTls, Trust};
///
/// # #[tokio::main] async fn main() -> Result<(), kit_endpoint::BoxError> {
/// let tls = ClientTls::new(Trust::CaFile("tls/ca.pem".into()), None)?;
/// let nats = kit_nats::connect_tls("tls://nats.example:4222", &tls).await?;
/// # let _ = nats;
/// # Ok(()) }
/// ```
#[cfg(feature = "tls")]
pub async fn connect_tls(
    url: &str,
    tls: &kit_endpoint::tls::ClientTls,
) -> Result<async_nats::Client, BoxError> {
    let config = (*tls.rustls_config_with_alpn(&[])).clone();
    Ok(async_nats::ConnectOptions::new()
        .require_tls(true)
        .tls_client_config(config)
        .connect(crate::servers(url)?)
        .await?)
}
