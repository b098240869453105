//! Step 6's checkpoint: one request ID in the response and in every log line
//! about the request. And the challenge: the request ID taken by hand.

use kit_endpoint::Context;
use kit_log::Memory;
use kit_tests::raw;
use kit_transport::serve_loopback;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s03_http::router;
use kit_workshop::s05_logging::{logged, logger};
use kit_workshop::s06_challenge::request_id_from_header;
use kit_workshop::s06_context::Logging;

#[tokio::test]
async fn the_request_id_is_in_the_answer_and_every_line() {
    let sink = Memory::new();
    let log = logger(sink.clone());
    let set = logged(Set::new(Logging::new(log.clone(), BasicService)), &log);
    let (addr, _server) = serve_loopback(router(set)).await.unwrap();

    let req = raw::post_json("/sum", &["x-request-id: req-42"], r#"{"a":1,"b":2}"#);
    let resp = raw::send(addr, &req).await.unwrap();
    assert_eq!(resp.header("x-request-id"), Some("req-42"));
    // Without one, the server makes one up, and uses it the same way.
    let resp = raw::send(addr, &raw::post_json("/sum", &[], r#"{"a":1,"b":2}"#))
        .await
        .unwrap();
    let generated = resp.header("x-request-id").expect("an ID").to_owned();

    let lines = sink.lines();
    assert_eq!(
        lines.len(),
        4,
        "a domain line and an endpoint line each: {lines:?}"
    );
    assert!(
        lines[..2].iter().all(|l| l.contains("request_id=req-42")),
        "{lines:?}"
    );
    let id = format!("request_id={generated}");
    assert!(lines[2..].iter().all(|l| l.contains(&id)), "{lines:?}");
}

fn parts(header: Option<&str>) -> http::request::Parts {
    let mut req = http::Request::builder().uri("/sum");
    if let Some(h) = header {
        req = req.header("x-request-id", h);
    }
    req.body(()).unwrap().into_parts().0
}

#[test]
fn challenge_request_id_from_the_header_or_a_new_one() {
    let mut ctx = Context::new();
    request_id_from_header(&parts(Some("abc-1")), &mut ctx);
    assert_eq!(ctx.request_id().unwrap().as_str(), "abc-1");
    for bad in [None, Some("has space"), Some("")] {
        let mut ctx = Context::new();
        request_id_from_header(&parts(bad), &mut ctx);
        let id = ctx.request_id().expect("always an ID").as_str().to_owned();
        assert!(!id.is_empty() && !id.contains(' '), "{bad:?} -> {id:?}");
    }
}
