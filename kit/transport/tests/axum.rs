//! kit's middlewares in a plain axum application (feature `axum`): the context
//! from `SetContextLayer`, kit's refusals answered by `AnswerErrorsLayer`, a
//! handler's `ErrorResponse`, 5xx answers counted as failures, observations by
//! matched route.

use std::sync::{Arc, Mutex};

use axum::routing::get;
use http_body_util::BodyExt;
use kit_endpoint::{
    BoxError, CallHook, Classified, Context, ErrorClass, HookLayer, Outcome, RequestId,
};
use kit_transport::{
    AnswerErrorsLayer, ClassifyResponseLayer, ErrorResponse, Observation, ObserveLayer,
    SetContextLayer,
};
use tower::{ServiceBuilder, ServiceExt};

/// Notes each call's request ID, outcome kind and status.
#[derive(Default)]
struct Journal(Mutex<Vec<String>>);

impl CallHook for Journal {
    type Start = Option<RequestId>;

    fn start(&self, ctx: &Context) -> Option<RequestId> {
        ctx.request_id().cloned()
    }

    fn finish(&self, id: Option<RequestId>, outcome: Outcome<'_>) {
        self.finish_with_status(id, outcome, None);
    }

    fn finish_with_status(
        &self,
        id: Option<RequestId>,
        outcome: Outcome<'_>,
        status: Option<http::StatusCode>,
    ) {
        let id = id.map_or("-".into(), |id| id.to_string());
        let kind = outcome.kind().unwrap_or("success");
        let status = status.map_or(0, |s| s.as_u16());
        self.0.lock().unwrap().push(format!("{id} {kind} {status}"));
    }
}

async fn body(resp: axum::response::Response) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn get_req(path: &str, id: &str) -> http::Request<axum::body::Body> {
    http::Request::get(path)
        .header("x-request-id", id)
        .body(axum::body::Body::empty())
        .unwrap()
}

/// Hooks on axum routes see the request ID from the headers, a 4xx as
/// business, a 5xx (a handler's `ErrorResponse`) as a failure with its status;
/// the 5xx body carries the request ID; observations name the matched route.
#[tokio::test]
async fn hooks_on_axum_routes_see_the_context_and_each_answer_by_status() {
    let journal = HookLayer::new(Journal::default());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    async fn missing() -> Result<String, ErrorResponse> {
        Err(Classified::public(ErrorClass::NotFound, "no such profile"))?
    }
    async fn broken() -> Result<String, ErrorResponse> {
        Err(BoxError::from("disk on fire"))?
    }
    let app = axum::Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/profiles/{id}", get(missing))
        .route("/broken", get(broken))
        .layer(
            ServiceBuilder::new()
                .layer(ObserveLayer::new(move |o: &Observation<'_>| {
                    let line = format!(
                        "{} {} {}",
                        o.route,
                        o.status.as_u16(),
                        o.request_id().unwrap()
                    );
                    note.lock().unwrap().push(line);
                }))
                .layer(SetContextLayer::new())
                .layer(AnswerErrorsLayer::new())
                .layer(journal.clone()),
        );

    let ok = app.clone().oneshot(get_req("/ok", "a")).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["x-request-id"], "a");
    let missing = app
        .clone()
        .oneshot(get_req("/profiles/7", "b"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(body(missing).await, r#"{"error":"no such profile"}"#);
    let broken = app.clone().oneshot(get_req("/broken", "c")).await.unwrap();
    assert_eq!(broken.status(), 500);
    assert_eq!(
        body(broken).await,
        r#"{"error":"internal error","request_id":"c"}"#
    );
    assert_eq!(
        *journal.hook().0.lock().unwrap(),
        ["a success 200", "b business 404", "c failure 500"]
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["/ok 200 a", "/profiles/{id} 404 b", "/broken 500 c"]
    );
}

/// A route's 503 classified as an error: the hooks outside count a failure,
/// and the client still gets the handler's own answer, unchanged.
#[tokio::test]
async fn a_classified_5xx_is_a_failure_and_still_the_handlers_answer() {
    let journal = HookLayer::new(Journal::default());
    let app = axum::Router::new()
        .route(
            "/busy",
            get(|| async { (http::StatusCode::SERVICE_UNAVAILABLE, "come back later") }),
        )
        .layer(
            ServiceBuilder::new()
                .layer(SetContextLayer::new())
                .layer(AnswerErrorsLayer::new())
                .layer(journal.clone())
                .layer(ClassifyResponseLayer::new()),
        );
    let resp = app.oneshot(get_req("/busy", "d")).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(body(resp).await, "come back later");
    assert_eq!(*journal.hook().0.lock().unwrap(), ["d failure 503"]);
}

/// A middleware that cannot get ready is answered call by call, with its
/// error, instead of failing the connection.
#[tokio::test]
async fn an_inner_service_that_cannot_get_ready_is_answered_with_its_error() {
    let never = tower::service_fn(|_req: http::Request<axum::body::Body>| async {
        Ok::<_, BoxError>(http::Response::new(axum::body::Body::empty()))
    });
    let broken = ServiceBuilder::new()
        .layer(AnswerErrorsLayer::new())
        .layer(tower::layer::layer_fn(Unready))
        .service(never);
    let resp = broken.oneshot(get_req("/", "e")).await.unwrap();
    assert_eq!(
        resp.status(),
        503,
        "unavailable: the class of Unready's error"
    );
}

/// A service whose `poll_ready` fails with an unavailable error.
#[derive(Clone)]
struct Unready<S>(S);

impl<S, R> tower::Service<R> for Unready<S>
where
    S: tower::Service<R, Error = BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        let err = Classified::public(ErrorClass::Unavailable { retry_after: None }, "closed");
        std::task::Poll::Ready(Err(err.into()))
    }

    fn call(&mut self, req: R) -> S::Future {
        self.0.call(req)
    }
}

/// A middleware's failure answered by `AnswerErrorsLayer` inside a
/// `SetContextLayer`: the 5xx body names the request's ID, which the layer
/// reads from the surrounding context only when it answers an error.
#[tokio::test]
async fn an_answered_failure_names_the_request_id() {
    let failing = tower::service_fn(|_req: http::Request<axum::body::Body>| async {
        Err::<http::Response<axum::body::Body>, BoxError>("disk on fire".into())
    });
    let app = ServiceBuilder::new()
        .layer(SetContextLayer::new())
        .layer(AnswerErrorsLayer::new())
        .service(failing);
    let resp = app.oneshot(get_req("/", "f")).await.unwrap();
    assert_eq!(resp.status(), 500);
    assert_eq!(
        body(resp).await,
        r#"{"error":"internal error","request_id":"f"}"#
    );
}
