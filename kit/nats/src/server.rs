//! Serving endpoints on NATS subjects: decode -> endpoint -> encode, replies on
//! the message's reply subject.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_nats::{HeaderMap, Message};
use bytes::Bytes;
use futures_util::StreamExt;
use kit_endpoint::{
    BoxError, Context, DEFAULT_BUDGET, Failer, ServerHooks, SharedEndpoint, serve_call,
};
use tokio::sync::Semaphore;

use crate::context::{CALL_ID, REQUEST_ID, cancel_subject, context_from_headers};
use crate::error::encode_error;

/// An answer: headers and payload, published on the request's reply subject.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    /// The reply's headers (the request ID, an error class...).
    pub headers: HeaderMap,
    /// The reply's payload.
    pub payload: Bytes,
}

/// What the NATS server names itself in the request context (and so on log
/// lines): `NATS`.
pub const TRANSPORT: &str = "NATS";

type DecodeFn<Req> = dyn Fn(Option<&HeaderMap>, &[u8]) -> Result<Req, BoxError> + Send + Sync;
type EncodeFn<Resp> = dyn Fn(&Context, Resp) -> Result<Bytes, BoxError> + Send + Sync;

/// The hooks of a NATS server: before hooks see the request message, after
/// hooks the reply's headers, finalizers the reply.
type Hooks = ServerHooks<Message, HeaderMap, Reply>;

/// Serves one endpoint on a subject, the way kit's HTTP `Server` serves it on
/// a route (go-kit's `transport/nats.Subscriber`): the context comes from the
/// headers and every **before** hook, the payload is decoded, the endpoint
/// called within the budget (not at all if it is spent), the response encoded;
/// failures and business errors go to every **error handler**, then to the
/// **error encoder**, which answers with the error's class. **After** hooks set
/// reply headers from the context, and **finalizers** are told of every reply.
/// All of it is kit-endpoint's call path ([`serve_call`](kit_endpoint::serve_call),
/// [`ServerHooks`]), the one kit's HTTP and gRPC servers run.
pub struct Server<E, Req, Resp> {
    endpoint: E,
    decode: Arc<DecodeFn<Req>>,
    encode: Arc<EncodeFn<Resp>>,
    hooks: Hooks,
}

impl<E: Clone, Req, Resp> Clone for Server<E, Req, Resp> {
    fn clone(&self) -> Self {
        Server {
            endpoint: self.endpoint.clone(),
            decode: self.decode.clone(),
            encode: self.encode.clone(),
            hooks: self.hooks.clone(),
        }
    }
}

impl<E, Req, Resp> std::fmt::Debug for Server<E, Req, Resp> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl<E, Req, Resp> Server<E, Req, Resp>
where
    E: SharedEndpoint<Req, Response = Resp>,
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
{
    /// A server for `endpoint` with the given decoder and encoder, and kit's
    /// default error encoder ([`encode_error`]).
    pub fn new<D, En>(endpoint: E, decode: D, encode: En) -> Self
    where
        D: Fn(Option<&HeaderMap>, &[u8]) -> Result<Req, BoxError> + Send + Sync + 'static,
        En: Fn(&Context, Resp) -> Result<Bytes, BoxError> + Send + Sync + 'static,
    {
        Server {
            endpoint,
            decode: Arc::new(decode),
            encode: Arc::new(encode),
            hooks: ServerHooks::new(encode_error),
        }
    }

    kit_endpoint::server_hook_methods!(
        hooks: |this| this.hooks,
        in: Message,
        head: HeaderMap,
        out: Reply
    );

    /// The reply to one request message.
    pub async fn serve(&self, msg: &Message) -> Reply {
        let mut ctx = context_from_headers(msg.headers.as_ref(), Some(DEFAULT_BUDGET));
        ctx.set_transport(TRANSPORT);
        self.hooks.run_before(msg, &mut ctx);
        let decode = || (self.decode)(msg.headers.as_ref(), &msg.payload);
        let answer = serve_call(self.endpoint.clone(), &ctx, decode, |ctx, resp| {
            let payload = (self.encode)(ctx, resp)?;
            Ok(Reply {
                headers: HeaderMap::new(),
                payload,
            })
        })
        .await;
        let mut reply = self.hooks.reply(&ctx, answer);
        if let Some(id) = ctx.request_id() {
            reply.headers.insert(REQUEST_ID, id.as_str());
        }
        self.hooks.finish(&ctx, &mut reply, |r| &mut r.headers);
        reply
    }
}

/// Something that answers request messages: a [`Server`], type-erased so that
/// several endpoints are served on one connection.
pub trait Handler: Send + Sync + 'static {
    /// The reply to `msg`.
    fn handle<'a>(&'a self, msg: &'a Message) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

    /// `msg` came without a reply subject: nobody can be answered, and it is
    /// not served. A [`Server`] tells its error handlers ([`NoReplySubject`]).
    fn unanswerable(&self, msg: &Message) {
        let _ = msg;
    }
}

/// A request message came without a reply subject (a publish on a request
/// subject): it is not served, since nobody could be answered. Class invalid
/// argument; told to the server's error handlers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoReplySubject;

impl std::fmt::Display for NoReplySubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request without a reply subject")
    }
}

impl std::error::Error for NoReplySubject {}

impl<E, Req, Resp> Handler for Server<E, Req, Resp>
where
    E: SharedEndpoint<Req, Response = Resp>,
    Req: Send + 'static,
    Resp: Failer + Send + 'static,
{
    fn handle<'a>(&'a self, msg: &'a Message) -> Pin<Box<dyn Future<Output = Reply> + Send + 'a>> {
        Box::pin(self.serve(msg))
    }

    fn unanswerable(&self, msg: &Message) {
        let mut ctx = context_from_headers(msg.headers.as_ref(), Some(DEFAULT_BUDGET));
        ctx.set_transport(TRANSPORT);
        self.hooks.run_before(msg, &mut ctx);
        let refused = kit_endpoint::Classified::new(
            kit_endpoint::ErrorClass::InvalidArgument,
            NoReplySubject,
        );
        // Nobody could read a reply: the error handlers are told, nothing is
        // encoded.
        self.hooks.tell_error_handlers(&ctx, &refused);
    }
}

/// How long a stopping server waits for its last answers to reach the NATS
/// server: with the server gone, not for the reconnection.
pub const FINAL_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// The most requests served at once by one [`serve`]; more wait in NATS's
/// buffers (bounded memory, whatever the request rate).
pub const MAX_IN_FLIGHT: usize = 1024;

/// Serves each `(subject, handler)` of `routes` on `client`, in queue group
/// `group` (so that instances share the requests), until `shutdown` completes;
/// then stops taking requests and waits for those in flight to be answered.
///
/// The subscriptions are made when the future first runs: to know they are
/// in place before sending requests (in tests, or before saying "listening"),
/// use [`subscribe`] and then [`Subscribed::serve`].
pub async fn serve(
    client: async_nats::Client,
    group: &str,
    routes: Vec<(String, Arc<dyn Handler>)>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    subscribe(client, group, routes)
        .await?
        .serve(shutdown)
        .await
}

/// Subscribes each `(subject, handler)` of `routes` in queue group `group`
/// (and to the subject's cancellations, [`cancel_subject`]), and returns once
/// the server has the subscriptions: requests sent from then on reach them.
/// Serve them with [`Subscribed::serve`].
pub async fn subscribe(
    client: async_nats::Client,
    group: &str,
    routes: Vec<(String, Arc<dyn Handler>)>,
) -> Result<Subscribed, BoxError> {
    let mut subscriptions = Vec::new();
    for (subject, handler) in routes {
        let cancels = client.subscribe(cancel_subject(&subject)).await?;
        let sub = client.queue_subscribe(subject, group.to_owned()).await?;
        subscriptions.push((sub, cancels, handler));
    }
    // The subscriptions have reached the server once a ping round trip has.
    client.flush().await?;
    Ok(Subscribed {
        client,
        subscriptions,
    })
}

/// Subscriptions in place, not yet served: from [`subscribe`].
pub struct Subscribed {
    client: async_nats::Client,
    subscriptions: Vec<(
        async_nats::Subscriber,
        async_nats::Subscriber,
        Arc<dyn Handler>,
    )>,
}

impl std::fmt::Debug for Subscribed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscribed")
            .field("subscriptions", &self.subscriptions.len())
            .finish_non_exhaustive()
    }
}

/// The calls in flight that a caller may cancel, by call ID (each call's task,
/// to abort: its endpoint's future is dropped), and the IDs cancelled before
/// their call was seen (a cancellation and its request arrive on two
/// subscriptions, in either order). Both are bounded: the first by the
/// in-flight limit, the second to [`MAX_EARLY_CANCELS`].
#[derive(Debug, Default)]
struct Cancels {
    calls: std::collections::HashMap<u128, tokio::task::AbortHandle>,
    early: std::collections::HashSet<u128>,
    /// `early` in the order it was filled, to forget the oldest first.
    early_order: std::collections::VecDeque<u128>,
}

/// Cancellations remembered before their request arrives, at most (every
/// member of a queue group hears every cancellation, and most never see the
/// request it names).
const MAX_EARLY_CANCELS: usize = 1024;

impl Cancels {
    /// Whether the call `id` was cancelled before it arrived (forgotten then).
    fn cancelled_early(&mut self, id: u128) -> bool {
        self.early.remove(&id)
    }

    /// The call `id` runs as `task`.
    fn register(&mut self, id: u128, task: tokio::task::AbortHandle) {
        self.calls.insert(id, task);
    }

    /// The call `id`, run by the task `task`, has ended.
    fn ended(&mut self, id: u128, task: tokio::task::Id) {
        if self.calls.get(&id).is_some_and(|t| t.id() == task) {
            self.calls.remove(&id);
        }
    }

    /// The caller of `id` gave up: its task is aborted, or, if it has not
    /// arrived, it is refused when it does.
    fn cancel(&mut self, id: u128) {
        if let Some(task) = self.calls.remove(&id) {
            task.abort();
            return;
        }
        if self.early_order.len() >= MAX_EARLY_CANCELS
            && let Some(old) = self.early_order.pop_front()
        {
            self.early.remove(&old);
        }
        if self.early.insert(id) {
            self.early_order.push_back(id);
        }
    }
}

type SharedCancels = Arc<std::sync::Mutex<Cancels>>;

fn lock(cancels: &SharedCancels) -> std::sync::MutexGuard<'_, Cancels> {
    cancels
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The call ID of `msg` as a number, if it carries one: 32 hex digits, as
/// kit's client sends (a key that costs no allocation per request); any other
/// value makes the call one that cannot be cancelled.
fn call_id(msg: &Message) -> Option<u128> {
    let id = msg.headers.as_ref()?.get(CALL_ID)?.as_str();
    (id.len() == 32)
        .then(|| u128::from_str_radix(id, 16).ok())
        .flatten()
}

impl Subscribed {
    /// Serves the subscriptions until `shutdown` completes; then stops taking
    /// requests and waits for those in flight to be answered (each within its
    /// deadline), and for the answers to leave, at most [`FINAL_FLUSH`] (with
    /// the NATS server gone, they cannot). A call whose
    /// caller gave up ([`cancel_subject`]) is dropped, endpoint and all, and
    /// not answered.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), BoxError> {
        let Subscribed {
            client,
            subscriptions,
        } = self;
        let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for (mut sub, mut cancel_sub, handler) in subscriptions {
            let (client, permits) = (client.clone(), permits.clone());
            let mut stopped = stopped.clone();
            let cancels = SharedCancels::default();
            tasks.spawn(async move {
                let mut calls = tokio::task::JoinSet::new();
                loop {
                    let msg = tokio::select! {
                        msg = sub.next() => msg,
                        Some(cancel) = cancel_sub.next() => {
                            if let Some(id) = call_id(&cancel) {
                                lock(&cancels).cancel(id);
                            }
                            continue;
                        }
                        _ = stopped.wait_for(|s| *s) => None,
                    };
                    let Some(msg) = msg else { break };
                    let Some(reply_to) = msg.reply.clone() else {
                        // A publish, not a request: nobody waits for an answer.
                        handler.unanswerable(&msg);
                        continue;
                    };
                    let Ok(permit) = permits.clone().acquire_owned().await else {
                        break;
                    };
                    let id = call_id(&msg);
                    // Locked from the check to the registration, so that the
                    // call cannot end (and unregister) before it is registered.
                    let mut registry = lock(&cancels);
                    if id.is_some_and(|id| registry.cancelled_early(id)) {
                        continue; // given up before it arrived
                    }
                    let (client, handler, shared) =
                        (client.clone(), handler.clone(), cancels.clone());
                    let task = calls.spawn(async move {
                        let reply = handler.handle(&msg).await;
                        let _ = client
                            .publish_with_headers(reply_to, reply.headers, reply.payload)
                            .await;
                        if let Some(id) = id {
                            lock(&shared).ended(id, tokio::task::id());
                        }
                        drop(permit);
                    });
                    // A caller that gives up aborts the task: the endpoint's
                    // future is dropped there, and nobody is answered.
                    if let Some(id) = id {
                        registry.register(id, task);
                    }
                    drop(registry);
                    while calls.try_join_next().is_some() {}
                }
                // No more requests from this subscription; those in flight are
                // still answered.
                let _ = sub.unsubscribe().await;
                let _ = cancel_sub.unsubscribe().await;
                while calls.join_next().await.is_some() {}
            });
        }
        shutdown.await;
        let _ = stop.send(true);
        while tasks.join_next().await.is_some() {}
        // The last answers out; with the server gone a flush would wait for a
        // reconnection: bounded, so that a service stops within its grace.
        let _ = tokio::time::timeout(FINAL_FLUSH, client.flush()).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that runs until aborted.
    fn pending_task(set: &mut tokio::task::JoinSet<()>) -> tokio::task::AbortHandle {
        set.spawn(std::future::pending())
    }

    #[tokio::test]
    async fn a_cancellation_aborts_its_call_or_waits_for_it_bounded() {
        let mut cancels = Cancels::default();
        let mut set = tokio::task::JoinSet::new();

        // A call in flight is aborted by its cancellation.
        let task = pending_task(&mut set);
        cancels.register(1, task);
        cancels.cancel(1);
        assert!(set.join_next().await.unwrap().unwrap_err().is_cancelled());
        assert!(cancels.calls.is_empty());

        // A cancellation before its call: the call is refused once, when it comes.
        cancels.cancel(2);
        assert!(cancels.cancelled_early(2));
        assert!(!cancels.cancelled_early(2));

        // An ended call leaves nothing behind; a later call under the same ID
        // is not unregistered by the earlier one's end.
        let first = pending_task(&mut set);
        let first_id = first.id();
        cancels.register(3, first);
        let second = pending_task(&mut set);
        cancels.register(3, second);
        cancels.ended(3, first_id);
        assert_eq!(cancels.calls.len(), 1);

        // Cancellations of calls never seen are remembered, at most 1024.
        for id in 100..100 + 5 * MAX_EARLY_CANCELS as u128 {
            cancels.cancel(id);
        }
        assert_eq!(cancels.early.len(), MAX_EARLY_CANCELS);
        assert_eq!(cancels.early_order.len(), MAX_EARLY_CANCELS);
        assert!(cancels.cancelled_early(100 + 5 * MAX_EARLY_CANCELS as u128 - 1));
        assert!(!cancels.cancelled_early(100));
        set.abort_all();
    }
}
