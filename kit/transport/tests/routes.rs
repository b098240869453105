//! The router's path parameters (`/profiles/{id}`, matched by matchit) and
//! per-route layers that change the answer's body type or shed load.

use std::sync::{Arc, Mutex};

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use kit_endpoint::{BoxError, Failer, Request, endpoint_fn};
use kit_transport::{Body, Observation, PathParams, Router, Server, json};
use tower::{Layer, ServiceExt};

/// A profile, by the ID in its path.
#[derive(serde::Serialize)]
struct Profile {
    id: u64,
}

impl Failer for Profile {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// The `{id}` of the path, as a number (400 otherwise).
fn decode_id(parts: &http::request::Parts, _body: bytes::Bytes) -> Result<u64, BoxError> {
    let id = parts
        .extensions
        .get::<PathParams>()
        .and_then(|p| p.get("id"));
    let id = id.ok_or_else(|| kit_endpoint::BadRequest::new("no id"))?;
    id.parse()
        .map_err(|_| kit_endpoint::BadRequest::new(format!("id {id:?} is not a number")).into())
}

fn profiles() -> Server<impl kit_endpoint::SharedEndpoint<u64, Response = Profile>, u64, Profile> {
    let get =
        endpoint_fn(
            |req: Request<u64>| async move { Ok::<_, BoxError>(Profile { id: *req.msg() }) },
        );
    Server::new(get, decode_id, json::encode_response)
}

async fn call(router: &Router, method: Method, path: &str) -> (StatusCode, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .body(Body::default())
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

/// A parameter in the pattern reaches the decoder; observations name the
/// pattern, never the raw path; paths the pattern does not match are 404, a
/// wrong method 405; an exact path beside the pattern wins.
#[tokio::test]
async fn path_parameters_reach_the_decoder_and_label_the_pattern() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let me = endpoint_fn(|_req: Request<u64>| async { Ok::<_, BoxError>(Profile { id: 0 }) });
    let router = Router::new()
        .route(Method::GET, "/profiles/{id}", profiles())
        .route(
            Method::GET,
            "/profiles/me",
            Server::new(me, |_, _| Ok(0), json::encode_response),
        )
        .observe(move |o: &Observation<'_>| {
            note.lock()
                .unwrap()
                .push(format!("{} {}", o.route, o.status.as_u16()));
        });

    assert_eq!(
        call(&router, Method::GET, "/profiles/7").await,
        (StatusCode::OK, r#"{"id":7}"#.into())
    );
    assert_eq!(
        call(&router, Method::GET, "/profiles/me").await,
        (StatusCode::OK, r#"{"id":0}"#.into())
    );
    let (status, body) = call(&router, Method::GET, "/profiles/x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains(r#"id \"x\" is not a number"#), "{body}");
    assert_eq!(
        call(&router, Method::GET, "/profiles/7/more").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&router, Method::GET, "/profiles").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&router, Method::DELETE, "/profiles/7").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "/profiles/{id} 200",
            "/profiles/me 200",
            "/profiles/{id} 400",
            "unmatched 404",
            "unmatched 404",
            "/profiles/{id} 405",
        ]
    );
}

/// Two patterns that matchit cannot tell apart are a bug in the routes: the
/// router refuses them as it is built, naming the route.
#[test]
#[should_panic(expected = "/profiles/{name}")]
fn conflicting_patterns_are_refused_at_start_up() {
    let _ = Router::new()
        .route(Method::GET, "/profiles/{id}", profiles())
        .route(Method::POST, "/profiles/{name}", profiles());
}

/// A per-route layer that changes the answer's body type (tower-http's
/// trace layer) serves the same answer.
#[tokio::test]
async fn a_route_layer_may_change_the_body_type() {
    let router = Router::new().route_layered(
        Method::GET,
        "/profiles/{id}",
        profiles(),
        tower_http::trace::TraceLayer::new_for_http(),
    );
    assert_eq!(
        call(&router, Method::GET, "/profiles/42").await,
        (StatusCode::OK, r#"{"id":42}"#.into())
    );
}

/// A router of one's own that names the matched pattern (`MatchedRoute` in
/// the request's extensions) labels `ObserveLayer`'s observations with it.
#[tokio::test]
async fn observations_name_a_matched_route_of_ones_own() {
    use kit_transport::{MatchedRoute, ObserveLayer};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let note = seen.clone();
    let svc = ObserveLayer::new(move |o: &Observation<'_>| {
        note.lock().unwrap().push(o.route.to_owned());
    })
    .layer(tower::service_fn(|_req: http::Request<Body>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Body::default()))
    }));
    let mut req = http::Request::new(Body::default());
    req.extensions_mut()
        .insert(MatchedRoute(Arc::from("/profiles/{id}")));
    svc.clone().oneshot(req).await.unwrap();
    svc.oneshot(http::Request::new(Body::default()))
        .await
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), ["/profiles/{id}", "unmatched"]);
}
