//! What kit's request-reading middlewares need from a request: its [`Context`].

use std::sync::LazyLock;

use crate::{Context, Request};

/// A request that carries a call [`Context`]: what kit's middlewares that read
/// request data (logging, RED, the keyed limiter, tracing, overload protection)
/// take from it, so that they wrap plain HTTP services (axum routes, tower-http
/// stacks, a tonic server) as well as kit's endpoints.
///
/// - kit's own [`Request<T>`] carries its context beside the message.
/// - An `http::Request<B>` carries it in its extensions, put there once at the
///   top of the stack by kit-transport's `ContextLayer` (request ID, deadline,
///   trace, criticality and client address from the headers and the
///   connection). Without one, the middlewares see an empty context: no
///   request ID, no deadline, no client address (a keyed limit then lets the
///   request through; tracing starts a new trace).
///
/// ```
/// use kit_endpoint::{Context, HasContext, RequestId};
///
/// let mut req = http::Request::new(());
/// assert!(req.context().request_id().is_none());
/// req.extensions_mut()
///     .insert(Context::new().with_request_id(RequestId::parse("abc").unwrap()));
/// assert_eq!(req.context().request_id().unwrap().as_str(), "abc");
/// ```
pub trait HasContext {
    /// The request's context.
    fn context(&self) -> &Context;

    /// The request's context, to change (an `http::Request` without one gets
    /// an empty one).
    fn context_mut(&mut self) -> &mut Context;
}

impl<T> HasContext for Request<T> {
    fn context(&self) -> &Context {
        self.ctx()
    }

    fn context_mut(&mut self) -> &mut Context {
        self.ctx_mut()
    }
}

/// The context of an `http::Request` that carries none.
static EMPTY: LazyLock<Context> = LazyLock::new(Context::new);

impl<B> HasContext for http::Request<B> {
    fn context(&self) -> &Context {
        self.extensions().get::<Context>().unwrap_or(&EMPTY)
    }

    fn context_mut(&mut self) -> &mut Context {
        self.extensions_mut().get_or_insert_default::<Context>()
    }
}
