//! [`ObserveLayer`]: every answer of a plain HTTP service, as an [`Observation`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use http::Method;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::router::{Observation, clock};

type ObserveFn = dyn Fn(&Observation<'_>) + Send + Sync;

/// The route pattern a request matched, put in its extensions by a router so
/// that [`ObserveLayer`] can label answers by it (axum's `MatchedPath` is read
/// as well, with the `axum` feature). Without either, the route is
/// [`Observation::UNMATCHED`]: a label made from a raw path would let clients
/// mint label values.
#[derive(Debug, Clone)]
pub struct MatchedRoute(pub Arc<str>);

/// Tells `observer` of every answer of the service it wraps, as kit's
/// [`Router::observe`](crate::Router::observe) does for kit's own routes: the
/// method, the route pattern that matched ([`MatchedRoute`], or axum's
/// `MatchedPath`), the status, the time to the answer's head, the request ID.
/// An HTTP server metric (kit-metrics' `HttpMetrics`) and an access log line
/// are one closure each. Put it outside
/// [`SetContextLayer`](crate::SetContextLayer), whose answers carry the
/// request ID.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use kit_transport::{Body, ObserveLayer, Observation};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let note = seen.clone();
/// let app = ServiceBuilder::new()
///     .layer(ObserveLayer::new(move |o: &Observation<'_>| {
///         note.lock().unwrap().push(format!("{} {} {}", o.method, o.route, o.status.as_u16()));
///     }))
///     .service_fn(|_req: http::Request<Body>| async {
///         Ok::<_, std::convert::Infallible>(http::Response::new(Body::from("ok")))
///     });
/// app.oneshot(http::Request::new(Body::default())).await.unwrap();
/// assert_eq!(*seen.lock().unwrap(), ["GET unmatched 200"]);
/// # }
/// ```
#[derive(Clone)]
pub struct ObserveLayer {
    observer: Arc<ObserveFn>,
}

impl std::fmt::Debug for ObserveLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveLayer").finish_non_exhaustive()
    }
}

impl ObserveLayer {
    /// Tells `observer` of every answer.
    pub fn new(observer: impl Fn(&Observation<'_>) + Send + Sync + 'static) -> Self {
        ObserveLayer {
            observer: Arc::new(observer),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            observer: self.observer.clone(),
        }
    }
}

/// A service whose answers are observed: made by [`ObserveLayer`].
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    observer: Arc<ObserveFn>,
}

kit_endpoint::inner_accessors!(impl<S> Observe<S>);

impl<S: std::fmt::Debug> std::fmt::Debug for Observe<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observe")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// The route of a request, kept until its answer (a shared pattern: no copy).
#[derive(Debug)]
enum Route {
    Unmatched,
    Kit(Arc<str>),
    #[cfg(feature = "axum")]
    Axum(axum::extract::MatchedPath),
}

impl Route {
    fn of(extensions: &http::Extensions) -> Route {
        if let Some(MatchedRoute(route)) = extensions.get::<MatchedRoute>() {
            return Route::Kit(route.clone());
        }
        #[cfg(feature = "axum")]
        if let Some(path) = extensions.get::<axum::extract::MatchedPath>() {
            return Route::Axum(path.clone());
        }
        Route::Unmatched
    }

    fn as_str(&self) -> &str {
        match self {
            Route::Unmatched => Observation::UNMATCHED,
            Route::Kit(route) => route,
            #[cfg(feature = "axum")]
            Route::Axum(path) => path.as_str(),
        }
    }
}

impl<S, B, RB> Service<http::Request<B>> for Observe<S>
where
    S: Service<http::Request<B>, Response = http::Response<RB>>,
{
    type Response = http::Response<RB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let started = clock().raw();
        let method = req.method().clone();
        let route = Route::of(req.extensions());
        ResponseFuture {
            inner: self.inner.call(req),
            watch: Some(Watch {
                started,
                method,
                route,
                observer: self.observer.clone(),
            }),
        }
    }
}

/// What the observer is told besides the answer.
struct Watch {
    started: u64,
    method: Method,
    route: Route,
    observer: Arc<ObserveFn>,
}

pin_project! {
    /// The future of [`Observe`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        watch: Option<Watch>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, RB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<RB>, E>>,
{
    type Output = Result<http::Response<RB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.inner.poll(cx));
        if let (Ok(resp), Some(watch)) = (&out, this.watch.take()) {
            let clock = clock();
            (watch.observer)(&Observation {
                method: &watch.method,
                route: watch.route.as_str(),
                status: resp.status(),
                duration: clock.delta(watch.started, clock.raw()),
                early: None,
                headers: resp.headers(),
            });
        }
        Poll::Ready(out)
    }
}
