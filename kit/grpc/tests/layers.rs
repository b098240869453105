//! kit-grpc's layers for plain tonic services, in process: refusals answered
//! as statuses with their retry hint, error statuses made errors that keep
//! the status, client errors made `Status`, and raw statuses classified.

use std::time::Duration;

use kit_endpoint::{BoxError, Classified, Context, ErrorClass, RequestId};
use kit_grpc::{AnswerErrorsLayer, ClassifyResponseLayer, IntoStatusLayer, SetContextLayer};
use tonic::{Code, Status};
use tower::{Layer, ServiceExt};

type Body = tonic::body::Body;

/// A service that refuses every call as a rate limit would, with a hint.
fn refusing() -> impl tower::Service<
    http::Request<Body>,
    Response = http::Response<Body>,
    Error = BoxError,
    Future: Send,
> + Clone {
    tower::service_fn(|_req: http::Request<Body>| async {
        let class = ErrorClass::ResourceExhausted {
            retry_after: Some(Duration::from_millis(1500)),
        };
        Err::<http::Response<Body>, BoxError>(Classified::public(class, "rate limited").into())
    })
}

/// A middleware's refusal is a trailers-only answer: its code, its message,
/// `grpc-retry-pushback-ms`, and the request ID the context has.
#[tokio::test]
async fn a_refusal_is_answered_as_a_status_with_its_retry_hint() {
    let svc = SetContextLayer::new().layer(AnswerErrorsLayer::new().layer(refusing()));
    let req = http::Request::builder()
        .header("x-request-id", "req-7")
        .body(Body::default())
        .unwrap();
    let resp = svc.oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 200, "gRPC answers errors in its own status");
    let status = Status::from_header_map(resp.headers()).expect("a grpc-status");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "rate limited");
    assert_eq!(resp.headers()["grpc-retry-pushback-ms"], "1500");
    assert_eq!(resp.headers()["x-request-id"], "req-7");
}

/// Around a channel: an answer whose head carries an error status is an
/// error that a breaker counts by its code, and that is the same `Status`
/// once made the stack's error; a refusal of kit's own is a status of its
/// class; OK answers pass.
#[tokio::test]
async fn error_answers_are_errors_that_keep_their_status() {
    let channel = tower::service_fn(|req: http::Request<Body>| async move {
        let status = match req.uri().path() {
            "/unavailable" => Status::unavailable("draining"),
            "/bad" => Status::invalid_argument("no name"),
            _ => return Ok::<_, BoxError>(http::Response::new(Body::default())),
        };
        Ok(status.into_http())
    });
    let call = |path: &str| http::Request::get(path).body(Body::default()).unwrap();

    let classified = ClassifyResponseLayer::new().layer(channel);
    let err = classified
        .clone()
        .oneshot(call("/unavailable"))
        .await
        .unwrap_err();
    assert_eq!(
        ErrorClass::of(&*err),
        ErrorClass::Unavailable { retry_after: None }
    );
    let err = classified.clone().oneshot(call("/bad")).await.unwrap_err();
    assert!(
        !ErrorClass::of(&*err).counts_as_failure(),
        "the caller's fault"
    );
    assert!(classified.clone().oneshot(call("/ok")).await.is_ok());

    let client = IntoStatusLayer::new().layer(classified);
    let status = client
        .clone()
        .oneshot(call("/unavailable"))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unavailable, "draining")
    );
    let refused = IntoStatusLayer::new().layer(refusing());
    let status = refused.oneshot(call("/")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(
        status.metadata().get("grpc-retry-pushback-ms").unwrap(),
        "1500"
    );
}

/// The context a plain tonic service's layers read: the caller's request ID
/// and deadline from the metadata, a new ID written back into the metadata
/// when the caller sent none (so that a kit `Server` inside reads the same).
#[tokio::test]
async fn the_context_comes_from_the_metadata() {
    let svc =
        SetContextLayer::new().layer(tower::service_fn(|req: http::Request<Body>| async move {
            let ctx = req
                .extensions()
                .get::<Context>()
                .cloned()
                .expect("a context");
            let header = req.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(
                ctx.request_id().map(RequestId::as_str),
                Some(header.as_str())
            );
            assert_eq!(ctx.transport(), Some("gRPC"));
            if req.headers().contains_key("grpc-timeout") {
                let left = ctx.remaining().expect("the caller's deadline");
                assert!(left <= Duration::from_millis(250), "{left:?}");
            }
            Ok::<_, BoxError>(http::Response::new(Body::default()))
        }));
    let with_timeout = http::Request::builder()
        .header("x-request-id", "req-9")
        .header("grpc-timeout", "250m")
        .body(Body::default())
        .unwrap();
    let resp = svc.clone().oneshot(with_timeout).await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-9");
    let resp = svc
        .oneshot(http::Request::new(Body::default()))
        .await
        .unwrap();
    assert!(!resp.headers()["x-request-id"].is_empty(), "a new ID");
}
