//! stringsvc's whole stack, without sockets: the client `Set` calls the server's
//! router through kit's in-memory transport, so every layer (client encode, HTTP
//! request, routing, decode, endpoint middlewares, service middleware, domain,
//! encode, client decode) runs as in production.

use http::Uri;
use http_body_util::BodyExt;
use kit_endpoint::{Context, cause_ref};
use kit_transport::memory;
use stringsvc::endpoint::Set;
use stringsvc::service::{BasicService, StringError, StringService, Validating};
use stringsvc::transport::http::{client_set, router};
use tower::ServiceExt;

/// The production onion, as `src/bin/stringsvc/main.rs` builds it.
fn stack() -> kit_transport::Router {
    router(Set::new(Validating::new(BasicService)))
}

fn client() -> Set {
    let base: Uri = "http://stringsvc".parse().unwrap();
    client_set(memory::client(stack()), &base).unwrap()
}

/// Results and business errors cross the transport and come back as domain values.
#[tokio::test]
async fn the_client_set_behaves_like_the_service() {
    let remote = client();
    let local = Validating::new(BasicService);
    let ctx = Context::new();
    for s in ["hello", "straße", "日本語", "a b\nc"] {
        assert_eq!(
            remote.uppercase(&ctx, s.into()).await.unwrap(),
            local.uppercase(&ctx, s.into()).await.unwrap()
        );
        assert_eq!(
            remote.count(&ctx, s.into()).await.unwrap(),
            local.count(&ctx, s.into()).await.unwrap()
        );
    }
    let err = remote.uppercase(&ctx, String::new()).await.unwrap_err();
    assert_eq!(cause_ref::<StringError>(&*err), Some(&StringError::Empty));
    let err = remote.count(&ctx, "x".repeat(10_001)).await.unwrap_err();
    assert_eq!(cause_ref::<StringError>(&*err), Some(&StringError::TooLong));
}

/// Business errors are 422 with the error's message.
#[tokio::test]
async fn business_errors_are_422_with_a_json_message() {
    let req = http::Request::post("/uppercase")
        .header("content-type", "application/json")
        .body(kit_transport::Body::from(r#"{"s": ""}"#))
        .unwrap();
    let resp = stack().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 422);
    let body = body_text(resp).await;
    assert_eq!(body, r#"{"error":"empty string"}"#);
}

async fn body_text(resp: http::Response<kit_transport::Body>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}
