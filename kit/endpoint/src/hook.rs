//! Call hooks: one value told when each call of an endpoint starts and how it
//! ended. kit's logging and RED middlewares are hooks.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use pin_project_lite::pin_project;
use tower::{Layer, Service};

#[cfg(doc)]
use crate::Request;
use crate::{BoxError, Context, ErrorStatus, Failer, HasContext, Outcome};

/// Told about every call of an endpoint: [`start`](CallHook::start) as the call
/// begins, [`finish`](CallHook::finish) with its [`Outcome`] when it ends. What
/// `start` returns (a start time, the request ID...) is handed to `finish`, so a
/// hook keeps no per-call state of its own. [`HookLayer`] runs a hook around an
/// endpoint, with no allocation per call.
///
/// A call whose future is dropped before it ends (the caller gave up, an outer
/// deadline cut it off) is finished with [`Outcome::Cancelled`] as the future
/// is dropped, so every call that starts also finishes exactly once.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use kit_endpoint::{endpoint_fn, BoxError, CallHook, Context, HookLayer, Outcome, Request};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// /// Counts failed calls.
/// #[derive(Default)]
/// struct Failures(AtomicUsize);
///
/// impl CallHook for Failures {
///     type Start = ();
///     fn start(&self, _ctx: &Context) {}
///     fn finish(&self, _start: (), outcome: Outcome<'_>) {
///         if let Outcome::Failure(_) = outcome {
///             self.0.fetch_add(1, Ordering::Relaxed);
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let layer = HookLayer::new(Failures::default());
/// let ep = ServiceBuilder::new()
///     .layer(layer.clone())
///     .service(endpoint_fn(|_req: Request<()>| async { Err::<(), BoxError>("down".into()) }));
/// assert!(ep.oneshot(Request::from_msg(())).await.is_err());
/// assert_eq!(layer.hook().0.load(Ordering::Relaxed), 1);
/// # }
/// ```
pub trait CallHook: Send + Sync + 'static {
    /// What `start` notes for `finish`.
    type Start;

    /// A call starts, with the request's context.
    fn start(&self, ctx: &Context) -> Self::Start;

    /// The call that `start` saw begin has ended with `outcome`.
    fn finish(&self, start: Self::Start, outcome: Outcome<'_>);

    /// [`finish`](CallHook::finish), for a call whose answer was an HTTP
    /// response with `status` (a plain HTTP service's: [`Failer::http_status`],
    /// the [`ErrorStatus`] down a failure's chain, or the status an
    /// [`ErrorStatusOf`] in the context says the failure will be answered
    /// with). A
    /// hook that reports statuses (kit-log's `status=`) overrides it; by
    /// default it is `finish`.
    fn finish_with_status(
        &self,
        start: Self::Start,
        outcome: Outcome<'_>,
        status: Option<http::StatusCode>,
    ) {
        let _ = status;
        self.finish(start, outcome);
    }
}

/// Several hooks as one: a tuple of hooks is a hook that starts them in order
/// and finishes them in reverse, as the same hooks in one layer each, the first
/// outermost, would. One [`HookLayer`] of `(A, B, C)` instead of three layers
/// saves each call two futures wrapped around its own (their moves, polls and
/// drops); kit's example services run logging, RED and USE this way.
///
/// ```
/// use std::sync::Mutex;
/// use kit_endpoint::{endpoint_fn, BoxError, CallHook, Context, HookLayer, Outcome, Request};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// /// Writes what it is told to a shared journal, under its name.
/// struct Note(&'static str, &'static Mutex<Vec<String>>);
///
/// impl CallHook for Note {
///     type Start = ();
///     fn start(&self, _ctx: &Context) {
///         self.1.lock().unwrap().push(format!("{} start", self.0));
///     }
///     fn finish(&self, _start: (), outcome: Outcome<'_>) {
///         let kind = outcome.kind().unwrap_or("success");
///         self.1.lock().unwrap().push(format!("{} {kind}", self.0));
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// static JOURNAL: Mutex<Vec<String>> = Mutex::new(Vec::new());
/// let ep = ServiceBuilder::new()
///     .layer(HookLayer::new((Note("outer", &JOURNAL), Note("inner", &JOURNAL))))
///     .service(endpoint_fn(|_req: Request<()>| async { Ok::<(), BoxError>(()) }));
/// ep.oneshot(Request::from_msg(())).await.unwrap();
/// assert_eq!(
///     *JOURNAL.lock().unwrap(),
///     ["outer start", "inner start", "inner success", "outer success"]
/// );
/// # }
/// ```
impl<A: CallHook, B: CallHook> CallHook for (A, B) {
    type Start = (A::Start, B::Start);

    fn start(&self, ctx: &Context) -> Self::Start {
        (self.0.start(ctx), self.1.start(ctx))
    }

    fn finish(&self, (a, b): Self::Start, outcome: Outcome<'_>) {
        self.1.finish(b, outcome);
        self.0.finish(a, outcome);
    }

    fn finish_with_status(
        &self,
        (a, b): Self::Start,
        outcome: Outcome<'_>,
        status: Option<http::StatusCode>,
    ) {
        self.1.finish_with_status(b, outcome, status);
        self.0.finish_with_status(a, outcome, status);
    }
}

/// Three hooks as one: see the impl for two.
impl<A: CallHook, B: CallHook, C: CallHook> CallHook for (A, B, C) {
    type Start = (A::Start, B::Start, C::Start);

    fn start(&self, ctx: &Context) -> Self::Start {
        (self.0.start(ctx), self.1.start(ctx), self.2.start(ctx))
    }

    fn finish(&self, (a, b, c): Self::Start, outcome: Outcome<'_>) {
        self.2.finish(c, outcome);
        self.1.finish(b, outcome);
        self.0.finish(a, outcome);
    }

    fn finish_with_status(
        &self,
        (a, b, c): Self::Start,
        outcome: Outcome<'_>,
        status: Option<http::StatusCode>,
    ) {
        self.2.finish_with_status(c, outcome, status);
        self.1.finish_with_status(b, outcome, status);
        self.0.finish_with_status(a, outcome, status);
    }
}

/// How an HTTP transport will answer a failed call: put in a request's
/// context by the transport ([`Context::set_error_status`]: kit-transport's
/// `SetContextLayer` does), so that the
/// hooks of calls whose errors it answers can say the status
/// ([`CallHook::finish_with_status`]: kit-log's `status=`).
#[derive(Clone, Copy)]
pub struct ErrorStatusOf(pub fn(&(dyn std::error::Error + 'static)) -> http::StatusCode);

impl fmt::Debug for ErrorStatusOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorStatusOf")
    }
}

/// Runs a [`CallHook`] around an endpoint: applies [`Hook`]. Clones share the
/// hook.
pub struct HookLayer<H> {
    hook: Arc<H>,
}

impl<H> HookLayer<H> {
    /// A layer running `hook` around every call.
    pub fn new(hook: H) -> Self {
        HookLayer {
            hook: Arc::new(hook),
        }
    }

    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }
}

impl<H> Clone for HookLayer<H> {
    fn clone(&self) -> Self {
        HookLayer {
            hook: self.hook.clone(),
        }
    }
}

impl<H: fmt::Debug> fmt::Debug for HookLayer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookLayer")
            .field("hook", &self.hook)
            .finish()
    }
}

impl<S, H> Layer<S> for HookLayer<H> {
    type Service = Hook<S, H>;

    fn layer(&self, inner: S) -> Hook<S, H> {
        Hook {
            inner,
            hook: self.hook.clone(),
        }
    }
}

/// An endpoint with a [`CallHook`] told about each of its calls (made by
/// [`HookLayer`]). The endpoint's response must be a [`Failer`], so that the
/// hook can tell business errors from failures.
pub struct Hook<S, H> {
    inner: S,
    hook: Arc<H>,
}

crate::inner_accessors!(impl<S, H> Hook<S, H>);

impl<S: Clone, H> Clone for Hook<S, H> {
    fn clone(&self) -> Self {
        Hook {
            inner: self.inner.clone(),
            hook: self.hook.clone(),
        }
    }
}

impl<S: fmt::Debug, H: fmt::Debug> fmt::Debug for Hook<S, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hook")
            .field("inner", &self.inner)
            .field("hook", &self.hook)
            .finish()
    }
}

impl<S, H> Hook<S, H> {
    /// The hook.
    pub fn hook(&self) -> &H {
        &self.hook
    }
}

/// Any request that carries a [`Context`] ([`HasContext`]): kit's
/// [`Request`], or an `http::Request` (an axum route, a tower-http stack), whose
/// response is then an `http::Response` ([`Failer`] by its status).
impl<S, H, R> Service<R> for Hook<S, H>
where
    R: HasContext,
    S: Service<R>,
    S::Error: Into<BoxError>,
    S::Response: Failer,
    H: CallHook,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = HookFuture<S::Future, H>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let ctx = req.context();
        let start = self.hook.start(ctx);
        let status_of = ctx.error_status();
        HookFuture {
            inner: self.inner.call(req),
            hook: self.hook.clone(),
            start: Some(start),
            status_of,
        }
    }
}

pin_project! {
    /// The future returned by [`Hook`]: the call's, then the hook's `finish`
    /// (with [`Outcome::Cancelled`] if it is dropped before the call ends).
    pub struct HookFuture<F, H: CallHook> {
        #[pin]
        inner: F,
        hook: Arc<H>,
        start: Option<H::Start>,
        // How the transport answers a failure, if it said (an HTTP one).
        status_of: Option<ErrorStatusOf>,
    }

    impl<F, H: CallHook> PinnedDrop for HookFuture<F, H> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(start) = this.start.take() {
                this.hook.finish(start, Outcome::Cancelled);
            }
        }
    }
}

impl<F, H: CallHook> fmt::Debug for HookFuture<F, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookFuture")
            .field("finished", &self.start.is_none())
            .finish_non_exhaustive()
    }
}

impl<F, H, R, E> Future for HookFuture<F, H>
where
    F: Future<Output = Result<R, E>>,
    E: Into<BoxError>,
    H: CallHook,
    R: Failer,
{
    type Output = Result<R, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx)).map_err(Into::into);
        if let Some(start) = this.start.take() {
            let status = match &out {
                Ok(resp) => resp.http_status(),
                // Only where an HTTP status can be known: a plain HTTP
                // service's failure.
                Err(e) => this.status_of.map(|of| failure_status(of, &**e)),
            };
            match status {
                // An endpoint's answer (no HTTP status): the plain path.
                None => this.hook.finish(start, Outcome::of(&out)),
                Some(_) => this
                    .hook
                    .finish_with_status(start, Outcome::of(&out), status),
            }
        }
        Poll::Ready(out)
    }
}

/// The HTTP status a failure is answered with: an [`ErrorStatus`] down its
/// chain (an HTTP answer classified as an error), or what the transport says.
#[cold]
#[inline(never)]
fn failure_status(of: ErrorStatusOf, err: &(dyn std::error::Error + 'static)) -> http::StatusCode {
    crate::sources(err)
        .find_map(|e| e.downcast_ref::<ErrorStatus>())
        .map_or_else(|| (of.0)(err), ErrorStatus::status)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tower::ServiceExt;

    use super::*;
    use crate::{Request, RequestId, endpoint_fn};

    /// Notes each call's request ID at start, and its outcome's kind at finish.
    #[derive(Default)]
    struct Journal(Mutex<Vec<String>>);

    impl CallHook for Journal {
        type Start = Option<RequestId>;

        fn start(&self, ctx: &Context) -> Option<RequestId> {
            self.0.lock().unwrap().push("start".into());
            ctx.request_id().cloned()
        }

        fn finish(&self, id: Option<RequestId>, outcome: Outcome<'_>) {
            let id = id.map_or("-".into(), |id| id.to_string());
            let kind = outcome.kind().unwrap_or("success");
            self.0.lock().unwrap().push(format!("{id} {kind}"));
        }
    }

    /// The business error of [`Signed`].
    #[derive(Debug)]
    struct Negative;

    impl fmt::Display for Negative {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("negative")
        }
    }

    impl std::error::Error for Negative {}

    /// A response that is a business error when its value is negative.
    struct Signed(i64);

    impl Failer for Signed {
        fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
            (self.0 < 0).then_some(&Negative as _)
        }
    }

    #[tokio::test]
    async fn the_hook_sees_each_call_start_and_finish_with_its_outcome() {
        let layer = HookLayer::new(Journal::default());
        let ep = layer.layer(endpoint_fn(|req: Request<i64>| async move {
            match *req.msg() {
                0 => Err::<Signed, BoxError>("boom".into()),
                n => Ok(Signed(n)),
            }
        }));
        for (id, n) in [("a", 1), ("b", -1), ("c", 0)] {
            let ctx = Context::new().with_request_id(RequestId::parse(id).unwrap());
            let _ = ep.clone().oneshot(Request::new(ctx, n)).await;
        }
        assert_eq!(
            *layer.hook().0.lock().unwrap(),
            [
                "start",
                "a success",
                "start",
                "b business",
                "start",
                "c failure"
            ]
        );
    }

    /// A [`Journal`] entry under a name, for hooks that share one journal.
    struct Named(&'static str, Arc<Journal>);

    impl CallHook for Named {
        type Start = Option<RequestId>;

        fn start(&self, ctx: &Context) -> Option<RequestId> {
            self.1.0.lock().unwrap().push(format!("{} start", self.0));
            ctx.request_id().cloned()
        }

        fn finish(&self, id: Option<RequestId>, outcome: Outcome<'_>) {
            let id = id.map_or("-".into(), |id| id.to_string());
            let kind = outcome.kind().unwrap_or("success");
            self.1
                .0
                .lock()
                .unwrap()
                .push(format!("{} {id} {kind}", self.0));
        }
    }

    #[tokio::test]
    async fn hooks_in_a_tuple_run_as_their_layers_would_one_inside_the_other() {
        let journal = Arc::new(Journal::default());
        let named = |name| Named(name, journal.clone());
        let ep = endpoint_fn(|req: Request<i64>| async move {
            match *req.msg() {
                0 => Err::<Signed, BoxError>("boom".into()),
                n => Ok(Signed(n)),
            }
        });
        let layered = HookLayer::new(named("a"))
            .layer(HookLayer::new(named("b")).layer(HookLayer::new(named("c")).layer(ep)));
        let tupled = HookLayer::new((named("a"), named("b"), named("c"))).layer(ep);
        let paired = HookLayer::new((named("a"), (named("b"), named("c")))).layer(ep);
        let mut seen = Vec::new();
        for n in [1, -1, 0] {
            let ctx = Context::new().with_request_id(RequestId::parse("id").unwrap());
            let _ = layered.clone().oneshot(Request::new(ctx.clone(), n)).await;
            let layered_saw = std::mem::take(&mut *journal.0.lock().unwrap());
            let _ = tupled.clone().oneshot(Request::new(ctx.clone(), n)).await;
            assert_eq!(*journal.0.lock().unwrap(), layered_saw);
            journal.0.lock().unwrap().clear();
            let _ = paired.clone().oneshot(Request::new(ctx, n)).await;
            assert_eq!(*journal.0.lock().unwrap(), layered_saw);
            journal.0.lock().unwrap().clear();
            seen.extend(layered_saw);
        }
        let expect = |kind| {
            ["a start", "b start", "c start"]
                .map(String::from)
                .into_iter()
                .chain(["c", "b", "a"].map(|n| format!("{n} id {kind}")))
        };
        let want: Vec<String> = ["success", "business", "failure"]
            .into_iter()
            .flat_map(expect)
            .collect();
        assert_eq!(seen, want);

        // Dropped before it ends: each is finished as cancelled, innermost first.
        let pending =
            HookLayer::new((named("a"), named("b"))).layer(endpoint_fn(|_req: Request<()>| {
                std::future::pending::<Result<Signed, BoxError>>()
            }));
        dropped_unfinished(pending.oneshot(Request::from_msg(()))).await;
        assert_eq!(
            *journal.0.lock().unwrap(),
            ["a start", "b start", "b - cancelled", "a - cancelled"]
        );
    }

    #[tokio::test]
    async fn a_call_dropped_before_it_ends_is_finished_as_cancelled() {
        let layer = HookLayer::new(Journal::default());
        let ep = layer.layer(endpoint_fn(|_req: Request<()>| {
            std::future::pending::<Result<Signed, BoxError>>()
        }));
        dropped_unfinished(ep.oneshot(Request::from_msg(()))).await;
        assert_eq!(*layer.hook().0.lock().unwrap(), ["start", "- cancelled"]);
    }

    /// Polls `call` once and drops it unfinished (it must not be ready).
    async fn dropped_unfinished(call: impl Future) {
        assert!(
            tokio::time::timeout(std::time::Duration::ZERO, call)
                .await
                .is_err()
        );
    }
}
