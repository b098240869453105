//! The one call path every transport's server runs: what happens between
//! decoding a request and encoding its answer, and the server hooks around it.
//!
//! A transport server (kit-transport's HTTP `Server`, kit-grpc's, kit-nats's)
//! does three things of its own: it builds the request [`Context`] from its
//! metadata (headers, gRPC metadata, NATS headers), it decodes the message, and
//! it encodes the answer. Everything else is here, written once:
//!
//! 1. [`ServerHooks::run_before`]: every **before** hook adds to the context;
//! 2. [`serve_call`]: decode, refuse a request whose deadline has passed,
//!    call the endpoint inside the deadline race, tell a business error
//!    ([`Failer`]) from a success, encode; a panic anywhere in it is an
//!    [`Answer::Failed`] with [`Panicked`], never a lost connection;
//! 3. [`ServerHooks::reply`]: every **error handler** is told of every error
//!    answered (refusals, failures, business errors), then the **error
//!    encoder** answers it;
//! 4. [`ServerHooks::finish`]: every **after** hook sets response metadata,
//!    then every **finalizer** sees the final answer.
//!
//! These are go-kit's `ServerBefore`, `ServerErrorHandler`,
//! `ServerErrorEncoder`, `ServerAfter` and `ServerFinalizer`, in go-kit's
//! order, under the same names on every kit transport.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tower::{Service, ServiceExt};

use crate::{BoxError, Context, DeadlineExceeded, Failer, Request, WithDeadline};

/// The budget of requests that arrive without one (no `x-request-budget-ms`,
/// no `grpc-timeout`, no `Kit-Budget-Ms`): 30 s. Every kit transport's server
/// gives it unless told otherwise.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(30);

/// An error as error encoders and error handlers see it: borrowed, and
/// possibly a business error inside a successful response.
pub type ErrorRef<'a> = &'a (dyn Error + Send + Sync + 'static);

/// The decoder, the endpoint or the encoder panicked while serving a request.
/// Its class is internal (HTTP 500, gRPC `INTERNAL`); the server goes on
/// serving other requests, and the panic's message is never shown to callers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Panicked;

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("internal error")
    }
}

impl Error for Panicked {}

/// Stands in for a business error that a response said it had when the call
/// path looked ([`Failer::failed`] was `Some`), and no longer has when the
/// error is answered: a `Failer` that is not deterministic. Its class is
/// internal: every transport answers it the same way (HTTP 500, gRPC
/// `INTERNAL`, NATS `internal`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LostBusinessError;

impl fmt::Display for LostBusinessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("internal error")
    }
}

impl Error for LostBusinessError {}

/// How a request went through the call path ([`serve_call`]).
#[derive(Debug)]
pub enum Answer<Resp, Out> {
    /// The endpoint answered and the answer was encoded.
    Encoded(Out),
    /// The endpoint answered with a business error ([`Failer`]): the service
    /// said no. The error encoder answers it.
    Business(Resp),
    /// Refused before the endpoint ran: the request did not decode, or its
    /// deadline had already passed.
    Refused(BoxError),
    /// The endpoint failed (its deadline passed while it ran, among others),
    /// the encoder failed, or something panicked ([`Panicked`]).
    Failed(BoxError),
}

impl<Resp: Failer, Out> Answer<Resp, Out> {
    /// The error this answer carries, if it is not [`Answer::Encoded`]: what
    /// error handlers and the error encoder are given.
    pub fn error(&self) -> Option<ErrorRef<'_>> {
        match self {
            Answer::Encoded(_) => None,
            Answer::Business(resp) => Some(resp.failed().unwrap_or(&LostBusinessError)),
            Answer::Refused(err) | Answer::Failed(err) => Some(&**err),
        }
    }
}

/// The call path: `decode`s the request, calls `endpoint` with it under `ctx`
/// unless the deadline has passed, races the call against the deadline, tells
/// a business error from a success, and `encode`s a success. Every kit
/// transport's server runs it, between [`ServerHooks::run_before`] and
/// [`ServerHooks::reply`] / [`ServerHooks::finish`] (see [`ServerHooks`]).
///
/// `decode` runs first, synchronously: a transport that must wait for the
/// message (an HTTP body) reads it before, and hands the decoder what it read
/// (a read that failed is a decode error: refused). A panic in `decode`, the
/// endpoint or `encode` is answered as [`Answer::Failed`] with [`Panicked`].
///
/// (The decoder is a closure rather than a future so that what a transport
/// awaits before the call is not stored again inside the call's future: the
/// future of an `async fn` keeps its arguments for its whole life.)
pub async fn serve_call<E, Req, D, En, Out>(
    endpoint: E,
    ctx: &Context,
    decode: D,
    encode: En,
) -> Answer<E::Response, Out>
where
    E: Service<Request<Req>, Error = BoxError>,
    E::Response: Failer,
    D: FnOnce() -> Result<Req, BoxError>,
    En: FnOnce(&Context, E::Response) -> Result<Out, BoxError>,
{
    let req = match catch_unwind(AssertUnwindSafe(decode)) {
        Ok(Ok(req)) => req,
        Ok(Err(err)) => return Answer::Refused(err),
        Err(_) => return Answer::Failed(Panicked.into()),
    };
    if ctx.is_expired() {
        // An endpoint whose budget is spent is not called.
        return Answer::Refused(DeadlineExceeded::new().into());
    }
    let resp = match run_unexpired(endpoint, ctx, req).await {
        Ok(resp) => resp,
        Err(err) => return Answer::Failed(err),
    };
    if resp.failed().is_some() {
        return Answer::Business(resp);
    }
    match catch_unwind(AssertUnwindSafe(|| encode(ctx, resp))) {
        Ok(Ok(out)) => Answer::Encoded(out),
        Ok(Err(err)) => Answer::Failed(err),
        Err(_) => Answer::Failed(Panicked.into()),
    }
}

/// The endpoint part of the call path alone, for transports whose answer is
/// not one message (kit-grpc's streaming server): fails with
/// [`DeadlineExceeded`] without calling `endpoint` if the deadline has passed,
/// races the call against the deadline, and fails with [`Panicked`] if the
/// endpoint panics.
pub async fn run_endpoint<E, Req>(
    endpoint: E,
    ctx: &Context,
    req: Req,
) -> Result<E::Response, BoxError>
where
    E: Service<Request<Req>, Error = BoxError>,
{
    if ctx.is_expired() {
        return Err(DeadlineExceeded::new().into());
    }
    run_unexpired(endpoint, ctx, req).await
}

/// [`run_endpoint`] once the deadline is known not to have passed.
async fn run_unexpired<E, Req>(
    endpoint: E,
    ctx: &Context,
    req: Req,
) -> Result<E::Response, BoxError>
where
    E: Service<Request<Req>, Error = BoxError>,
{
    // Just checked: the race need not read the clock again before its first poll.
    let call = WithDeadline::unexpired(
        endpoint.oneshot(Request::new(ctx.clone(), req)),
        ctx.deadline(),
    );
    match Guarded::new(call).await {
        Ok(out) => out,
        Err(Panicked) => Err(Panicked.into()),
    }
}

pin_project! {
    /// A future whose panics are caught: `Err(Panicked)` instead of unwinding
    /// through the server (what `futures::FutureExt::catch_unwind` does).
    struct Guarded<F> {
        #[pin]
        inner: F,
    }
}

impl<F> Guarded<F> {
    fn new(inner: F) -> Self {
        Guarded { inner }
    }
}

impl<F: Future> Future for Guarded<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    }
}

type BeforeFn<In> = dyn Fn(&In, &mut Context) + Send + Sync;
type AfterFn<Head> = dyn Fn(&Context, &mut Head) + Send + Sync;
type ErrorEncoderFn<Out> = dyn Fn(&Context, ErrorRef<'_>) -> Out + Send + Sync;
type ErrorHandlerFn = dyn Fn(&Context, ErrorRef<'_>) + Send + Sync;
type FinalizerFn<Out> = dyn Fn(&Context, &Out) + Send + Sync;

/// A server's hooks, go-kit's server options, for a transport whose incoming
/// request is an `In` (HTTP: the request's parts; gRPC: its metadata; NATS:
/// the message), whose answers carry metadata `Head` (headers) and whose
/// answer is an `Out`. A transport's `Server` holds one and offers its
/// methods under the same names. Per request:
///
/// 1. [`run_before`](Self::run_before): every **before** hook adds to the context;
/// 2. [`serve_call`]: decode, refuse a spent deadline, call the endpoint in
///    the deadline race, tell a business error from a success, encode (a
///    panic anywhere is [`Answer::Failed`] with [`Panicked`]);
/// 3. [`reply`](Self::reply): every **error handler** is told of every error
///    answered, then the **error encoder** answers it;
/// 4. [`finish`](Self::finish): every **after** hook sets the answer's
///    metadata, then every **finalizer** sees the final answer.
///
/// These are go-kit's `ServerBefore`, `ServerErrorHandler`,
/// `ServerErrorEncoder`, `ServerAfter` and `ServerFinalizer`, in go-kit's
/// order. A toy transport, end to end:
///
/// ```
/// use kit_endpoint::{endpoint_fn, Answer, BoxError, Context, Failer, Request, ServerHooks, serve_call};
/// use std::sync::{Arc, Mutex};
///
/// /// A toy transport: requests are text, answers a body beside headers.
/// type Head = Vec<(String, String)>;
/// struct Reply { head: Head, body: String }
///
/// /// The endpoint's response: it never carries a business error.
/// struct Doubled(i64);
/// impl Failer for Doubled {
///     fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> { None }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let mut hooks: ServerHooks<str, Head, Reply> = ServerHooks::new(|_ctx, err| Reply {
///     head: vec![("error".into(), "1".into())],
///     body: err.to_string(),
/// });
/// let handled = seen.clone();
/// hooks.error_handler(move |_ctx, err| handled.lock().unwrap().push(err.to_string()));
/// hooks.after(|_ctx, head| head.push(("served-by".into(), "toy".into())));
///
/// let double = endpoint_fn(|req: Request<i64>| async move { Ok::<_, BoxError>(Doubled(*req.msg() * 2)) });
/// for incoming in ["21", "twenty-one"] {
///     let mut ctx = Context::new();
///     hooks.run_before(incoming, &mut ctx);
///     let decode = || incoming.parse::<i64>().map_err(BoxError::from);
///     let answer = serve_call(double, &ctx, decode, |_ctx, d: Doubled| {
///         Ok(Reply { head: Vec::new(), body: d.0.to_string() })
///     })
///     .await;
///     let refused = matches!(answer, Answer::Refused(_));
///     let mut reply = hooks.reply(&ctx, answer);
///     hooks.finish(&ctx, &mut reply, |r| &mut r.head);
///     assert_eq!(refused, incoming != "21");
///     assert_eq!(reply.head.last().unwrap().0, "served-by");
///     if !refused {
///         assert_eq!(reply.body, "42");
///     }
/// }
/// assert_eq!(*seen.lock().unwrap(), ["invalid digit found in string"]);
/// # }
/// ```
pub struct ServerHooks<In: ?Sized, Head: ?Sized, Out> {
    before: Vec<Arc<BeforeFn<In>>>,
    after: Vec<Arc<AfterFn<Head>>>,
    error_encoder: Arc<ErrorEncoderFn<Out>>,
    error_handlers: Vec<Arc<ErrorHandlerFn>>,
    finalizers: Vec<Arc<FinalizerFn<Out>>>,
}

impl<In: ?Sized, Head: ?Sized, Out> Clone for ServerHooks<In, Head, Out> {
    fn clone(&self) -> Self {
        ServerHooks {
            before: self.before.clone(),
            after: self.after.clone(),
            error_encoder: self.error_encoder.clone(),
            error_handlers: self.error_handlers.clone(),
            finalizers: self.finalizers.clone(),
        }
    }
}

impl<In: ?Sized, Head: ?Sized, Out> fmt::Debug for ServerHooks<In, Head, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerHooks")
            .field("before", &self.before.len())
            .field("after", &self.after.len())
            .field("error_handlers", &self.error_handlers.len())
            .field("finalizers", &self.finalizers.len())
            .finish_non_exhaustive()
    }
}

impl<In: ?Sized, Head: ?Sized, Out> ServerHooks<In, Head, Out> {
    /// No hooks, and `error_encoder` to answer errors (the transport's default).
    pub fn new(
        error_encoder: impl Fn(&Context, ErrorRef<'_>) -> Out + Send + Sync + 'static,
    ) -> Self {
        ServerHooks {
            before: Vec::new(),
            after: Vec::new(),
            error_encoder: Arc::new(error_encoder),
            error_handlers: Vec::new(),
            finalizers: Vec::new(),
        }
    }

    /// Adds a hook run on every request before decoding, to add to the
    /// context from the incoming request (go-kit's `ServerBefore`).
    pub fn before(&mut self, f: impl Fn(&In, &mut Context) + Send + Sync + 'static) {
        self.before.push(Arc::new(f));
    }

    /// Adds a hook run on every answer, errors included, to set its metadata
    /// from the context (go-kit's `ServerAfter`).
    pub fn after(&mut self, f: impl Fn(&Context, &mut Head) + Send + Sync + 'static) {
        self.after.push(Arc::new(f));
    }

    /// Replaces the error encoder, which answers every refusal, failure and
    /// business error (go-kit's `ServerErrorEncoder`).
    pub fn error_encoder(
        &mut self,
        f: impl Fn(&Context, ErrorRef<'_>) -> Out + Send + Sync + 'static,
    ) {
        self.error_encoder = Arc::new(f);
    }

    /// Adds a hook told of every error answered, with the request's context:
    /// a request that did not decode or came with its budget spent, a failed
    /// endpoint or encoder, a panic, a business error (go-kit's
    /// `ServerErrorHandler`). It runs before the error encoder.
    pub fn error_handler(&mut self, f: impl Fn(&Context, ErrorRef<'_>) + Send + Sync + 'static) {
        self.error_handlers.push(Arc::new(f));
    }

    /// Adds a hook told of every answer once it is final, after the after
    /// hooks (go-kit's `ServerFinalizer`): the place for access logs.
    pub fn finalizer(&mut self, f: impl Fn(&Context, &Out) + Send + Sync + 'static) {
        self.finalizers.push(Arc::new(f));
    }

    /// Runs every before hook on `incoming`, in the order they were added.
    pub fn run_before(&self, incoming: &In, ctx: &mut Context) {
        for before in &self.before {
            before(incoming, ctx);
        }
    }

    /// The answer to send: the encoded one, or, for an error, what the error
    /// encoder makes of it once every error handler has been told.
    pub fn reply<Resp: Failer>(&self, ctx: &Context, answer: Answer<Resp, Out>) -> Out {
        match answer {
            Answer::Encoded(out) => out,
            // Every other answer carries an error.
            other => self.reply_error(ctx, other.error().unwrap_or(&LostBusinessError)),
        }
    }

    /// Encodes an error the call path never saw (a transport's own refusal,
    /// such as an unreadable body), telling every error handler first.
    pub fn reply_error(&self, ctx: &Context, err: ErrorRef<'_>) -> Out {
        self.tell_error_handlers(ctx, err);
        (self.error_encoder)(ctx, err)
    }

    /// Tells every error handler of `err`, for an error nobody is answered
    /// about (kit-nats: a request without a reply subject): nothing is
    /// encoded.
    pub fn tell_error_handlers(&self, ctx: &Context, err: ErrorRef<'_>) {
        for handle in &self.error_handlers {
            handle(ctx, err);
        }
    }

    /// Runs every after hook on the answer's metadata (`head` finds it in
    /// `out`), then every finalizer on the answer.
    pub fn finish(&self, ctx: &Context, out: &mut Out, head: impl FnOnce(&mut Out) -> &mut Head) {
        if !self.after.is_empty() {
            let head = head(out);
            for after in &self.after {
                after(ctx, head);
            }
        }
        for finalizer in &self.finalizers {
            finalizer(ctx, out);
        }
    }
}

/// The hook methods of a transport's `Server`, the same names, order and
/// documentation on every transport: `before`, `after`, `error_encoder`,
/// `error_handler`, `finalizer`, each handing its closure to the server's
/// [`ServerHooks`] (found by `hooks`, given the server as `$this`), each
/// returning the server for chaining. kit-transport and kit-nats write theirs
/// with it, kit-grpc the first three (`@context`: its error encoder and
/// finalizer speak `Status`); a new transport's server can too.
///
/// ```
/// use kit_endpoint::{server_hook_methods, Context, ErrorRef, ServerHooks};
///
/// /// A toy transport's server: text in, text out.
/// struct ToyServer {
///     hooks: ServerHooks<str, Vec<String>, String>,
/// }
///
/// impl ToyServer {
///     server_hook_methods!(hooks: |this| this.hooks, in: str, head: Vec<String>, out: String);
/// }
///
/// let server = ToyServer { hooks: ServerHooks::new(|_, err| err.to_string()) }
///     .before(|_incoming, _ctx| {})
///     .error_handler(|_ctx, _err| {});
/// assert!(format!("{:?}", server.hooks).contains("before: 1"));
/// ```
#[macro_export]
macro_rules! server_hook_methods {
    (hooks: |$this:ident| $hooks:expr, in: $in:ty, head: $head:ty, out: $out:ty) => {
        $crate::server_hook_methods!(@context hooks: |$this| $hooks, in: $in, head: $head);

        /// Replaces the error encoder, which answers every refusal, failure
        /// and business error (go-kit's `ServerErrorEncoder`): map your own
        /// errors there, and fall back on the transport's `encode_error`.
        pub fn error_encoder(
            mut self,
            f: impl Fn(&$crate::Context, $crate::ErrorRef<'_>) -> $out + Send + Sync + 'static,
        ) -> Self {
            let $this = &mut self;
            $hooks.error_encoder(f);
            self
        }

        /// Adds a hook told of every answer once it is final, errors included:
        /// the place for access logs and metrics (go-kit's `ServerFinalizer`).
        pub fn finalizer(
            mut self,
            f: impl Fn(&$crate::Context, &$out) + Send + Sync + 'static,
        ) -> Self {
            let $this = &mut self;
            $hooks.finalizer(f);
            self
        }
    };
    // The hooks whose signatures do not depend on how the transport answers
    // (`before`, `after`, `error_handler`): for a transport whose error
    // encoder and finalizer a user sees in terms of its own types (kit-grpc's,
    // a `Status`), which writes those two itself.
    (@context hooks: |$this:ident| $hooks:expr, in: $in:ty, head: $head:ty) => {
        /// Adds a hook run on every request before decoding, to add to the
        /// request's context from what came in (go-kit's `ServerBefore`).
        pub fn before(
            mut self,
            f: impl Fn(&$in, &mut $crate::Context) + Send + Sync + 'static,
        ) -> Self {
            let $this = &mut self;
            $hooks.before(f);
            self
        }

        /// Adds a hook run on every answer, errors included, to set its
        /// metadata (headers) from the context (go-kit's `ServerAfter`).
        pub fn after(
            mut self,
            f: impl Fn(&$crate::Context, &mut $head) + Send + Sync + 'static,
        ) -> Self {
            let $this = &mut self;
            $hooks.after(f);
            self
        }

        /// Adds a hook told of every error answered, with the request's
        /// context (and so its request ID): a request that does not decode or
        /// whose budget is spent, a failed endpoint or encoder, a panic, a
        /// business error (go-kit's `ServerErrorHandler`). It runs before the
        /// error encoder.
        pub fn error_handler(
            mut self,
            f: impl Fn(&$crate::Context, $crate::ErrorRef<'_>) + Send + Sync + 'static,
        ) -> Self {
            let $this = &mut self;
            $hooks.error_handler(f);
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::time::Instant;

    use super::*;
    use crate::{ErrorClass, endpoint_fn, is_caused_by};

    /// A response whose business error shows only at the first look: a
    /// `Failer` that is not deterministic.
    struct Flaky(std::sync::atomic::AtomicBool);

    impl Failer for Flaky {
        fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
            static NO: Panicked = Panicked;
            let first = !self.0.swap(true, std::sync::atomic::Ordering::Relaxed);
            first.then_some(&NO as _)
        }
    }

    /// A number as a response with no business error.
    #[derive(Debug, PartialEq)]
    struct N(i64);

    impl Failer for N {
        fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
            None
        }
    }

    /// A decoder that has `v` ready.
    fn ready<T>(v: T) -> impl FnOnce() -> T {
        move || v
    }

    #[tokio::test]
    async fn a_request_goes_through_decode_endpoint_encode() {
        let double =
            endpoint_fn(|req: Request<i64>| async move { Ok::<_, BoxError>(N(*req.msg() * 2)) });
        let answer = serve_call(
            double,
            &Context::new(),
            ready(Ok(21)),
            |_, v: N| Ok(v.0 + 1),
        )
        .await;
        assert!(matches!(answer, Answer::Encoded(43)));
    }

    #[tokio::test]
    async fn a_request_that_does_not_decode_is_refused_and_the_endpoint_not_called() {
        let called = Arc::new(Mutex::new(0));
        let count = called.clone();
        let ep = endpoint_fn(move |_req: Request<i64>| {
            *count.lock().unwrap() += 1;
            async { Ok::<_, BoxError>(N(0)) }
        });
        let answer: Answer<N, i64> = serve_call(
            ep,
            &Context::new(),
            ready(Err("bad".into())),
            |_, v| Ok(v.0),
        )
        .await;
        assert!(matches!(&answer, Answer::Refused(e) if e.to_string() == "bad"));
        assert_eq!(*called.lock().unwrap(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_is_refused_and_a_slow_endpoint_cut_at_the_deadline() {
        let slow = endpoint_fn(|_req: Request<()>| async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, BoxError>(())
        });
        let mut spent = Context::new();
        spent.set_deadline(Instant::now());
        let answer = serve_call(slow, &spent, ready(Ok(())), |_, v| Ok(v)).await;
        assert!(matches!(&answer, Answer::Refused(e) if is_caused_by::<DeadlineExceeded>(&**e)));

        let ctx = Context::new().with_timeout(Duration::from_secs(1));
        let started = Instant::now();
        let answer = serve_call(slow, &ctx, ready(Ok(())), |_, v| Ok(v)).await;
        assert!(matches!(&answer, Answer::Failed(e) if is_caused_by::<DeadlineExceeded>(&**e)));
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test]
    async fn panics_in_decode_endpoint_and_encode_are_failures_of_class_internal() {
        let ok = endpoint_fn(|_req: Request<()>| async { Ok::<_, BoxError>(()) });
        let panics = endpoint_fn(|_req: Request<()>| async {
            panic!("endpoint");
            #[allow(unreachable_code)]
            Ok::<_, BoxError>(())
        });
        let decode_panics = || -> Result<(), BoxError> { panic!("decode") };
        let answers: [Answer<(), ()>; 3] = [
            serve_call(ok, &Context::new(), decode_panics, |_, v| Ok(v)).await,
            serve_call(panics, &Context::new(), ready(Ok(())), |_, v| Ok(v)).await,
            serve_call(
                ok,
                &Context::new(),
                ready(Ok(())),
                |_, _| -> Result<(), BoxError> { panic!("encode") },
            )
            .await,
        ];
        for answer in &answers {
            let err = answer.error().unwrap();
            assert!(matches!(answer, Answer::Failed(_)));
            assert!(err.is::<Panicked>());
            assert_eq!(ErrorClass::of(err), ErrorClass::Internal);
        }
    }

    #[tokio::test]
    async fn every_error_reaches_every_error_handler_then_the_encoder_and_a_lost_business_error_is_internal()
     {
        let handled = Arc::new(Mutex::new(Vec::new()));
        let mut hooks: ServerHooks<(), Vec<String>, (u16, Vec<String>)> =
            ServerHooks::new(|_, err| (500, vec![err.to_string()]));
        for name in ["a", "b"] {
            let handled = handled.clone();
            hooks.error_handler(move |_, err| {
                handled.lock().unwrap().push(format!("{name}: {err}"))
            });
        }
        let finals = Arc::new(Mutex::new(Vec::new()));
        let seen = finals.clone();
        hooks.after(|_, head| head.push("after".into()));
        hooks.finalizer(move |_, out| seen.lock().unwrap().push(out.clone()));

        let ctx = Context::new();
        let flaky =
            endpoint_fn(|_req: Request<()>| async { Ok::<_, BoxError>(Flaky(Default::default())) });
        let lost = serve_call(flaky, &ctx, ready(Ok(())), |_, _| Ok((200, Vec::new()))).await;
        assert!(matches!(lost, Answer::Business(_)));
        let mut out = hooks.reply(&ctx, lost);
        hooks.finish(&ctx, &mut out, |o| &mut o.1);
        assert_eq!(
            out,
            (500, vec!["internal error".to_owned(), "after".to_owned()])
        );
        assert_eq!(
            *handled.lock().unwrap(),
            ["a: internal error", "b: internal error"]
        );
        assert_eq!(ErrorClass::of(&LostBusinessError), ErrorClass::Internal);

        let ok: Answer<(), _> = Answer::Encoded((200, Vec::new()));
        let mut out = hooks.reply(&ctx, ok);
        hooks.finish(&ctx, &mut out, |o| &mut o.1);
        assert_eq!(out, (200, vec!["after".to_owned()]));
        assert_eq!(handled.lock().unwrap().len(), 2, "a success is no error");
        assert_eq!(finals.lock().unwrap().len(), 2);
    }
}
