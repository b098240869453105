//! addsvc's whole stack, and stringsvc's behind it, without sockets: both hops go
//! through kit's in-memory transport, so every layer runs as in production.

use addsvc::endpoint::Set;
use addsvc::service::{AddError, AddService, BasicService};
use addsvc::transport::http::{client_set, router};
use http::Uri;
use http_body_util::BodyExt;
use kit_endpoint::{Context, cause_ref};
use kit_transport::memory;
use tower::ServiceExt;

/// addsvc's production onion over a remote stringsvc, as `src/bin/addsvc/main.rs`
/// builds it with `--stringsvc`; the remote is stringsvc's own production onion.
fn stack() -> kit_transport::Router {
    let stringsvc_router = stringsvc::transport::http::router(stringsvc::endpoint::Set::new(
        stringsvc::service::Validating::new(stringsvc::service::BasicService),
    ));
    let base: Uri = "http://stringsvc".parse().unwrap();
    let strings =
        stringsvc::transport::http::client_set(memory::client(stringsvc_router), &base).unwrap();
    router(Set::new(BasicService::new(strings)))
}

fn client() -> Set {
    let base: Uri = "http://addsvc".parse().unwrap();
    client_set(memory::client(stack()), &base).unwrap()
}

/// Results and business errors cross both hops and come back as domain values.
#[tokio::test]
async fn sum_and_concat_through_both_services() {
    let svc = client();
    let ctx = Context::new();
    assert_eq!(svc.sum(&ctx, 40, 2).await.unwrap(), 42);
    assert_eq!(svc.sum(&ctx, i64::MIN, 0).await.unwrap(), i64::MIN);
    let err = svc.sum(&ctx, i64::MAX, 1).await.unwrap_err();
    assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::Overflow));

    assert_eq!(
        svc.concat(&ctx, "go".into(), "kit".into()).await.unwrap(),
        "GOKIT"
    );
    assert_eq!(svc.concat(&ctx, "".into(), "é".into()).await.unwrap(), "É");
    // stringsvc's business errors become addsvc's.
    let err = svc
        .concat(&ctx, String::new(), String::new())
        .await
        .unwrap_err();
    assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::EmptyConcat));
    let err = svc
        .concat(&ctx, "x".repeat(6000), "y".repeat(6000))
        .await
        .unwrap_err();
    assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::TooLong));
}

/// On the wire, business errors are 422 with the error's message.
#[tokio::test]
async fn business_errors_are_422_on_the_wire() {
    for (path, body, message) in [
        (
            "/sum",
            r#"{"a": 9223372036854775807, "b": 1}"#,
            "integer overflow",
        ),
        ("/concat", r#"{"a": "", "b": ""}"#, "empty concatenation"),
    ] {
        let req = http::Request::post(path)
            .header("content-type", "application/json")
            .body(kit_transport::Body::from(body))
            .unwrap();
        let resp = stack().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 422);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, format!(r#"{{"error":"{message}"}}"#).as_bytes());
    }
}
