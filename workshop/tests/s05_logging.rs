//! Step 5's checkpoint: one logfmt line per endpoint call. And the challenge:
//! the logger threaded through to the transport (an access log).

use kit_endpoint::Request;
use kit_log::Memory;
use kit_tests::raw;
use kit_transport::serve_loopback;
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::{Set, SumRequest};
use kit_workshop::s05_logging::{logged, logger};
use tower::ServiceExt;

#[tokio::test]
async fn one_line_per_call() {
    let sink = Memory::new();
    let set = logged(Set::new(BasicService), &logger(sink.clone()));
    for (a, b) in [(1, 2), (i64::MAX, 1)] {
        let req = Request::from_msg(SumRequest { a, b });
        set.sum.clone().oneshot(req).await.unwrap();
    }
    let lines = sink.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains(" method=sum "), "{}", lines[0]);
    assert!(lines[0].contains(" err=null "), "{}", lines[0]);
    assert!(lines[0].contains("svc=addsvc"), "{}", lines[0]);
    assert!(
        lines[1].contains(r#"err="integer overflow" err_kind=business"#),
        "{}",
        lines[1]
    );
}

#[tokio::test]
async fn challenge_access_log_from_the_transport() {
    let sink = Memory::new();
    let log = logger(sink.clone());
    let router = kit_workshop::s05_challenge::router(Set::new(BasicService), &log);
    let (addr, _server) = serve_loopback(router).await.unwrap();
    let ok = raw::post_json("/sum", &["x-request-id: req-1"], r#"{"a":1,"b":2}"#);
    assert_eq!(raw::send(addr, &ok).await.unwrap().status, 200);
    // A request refused by the decoder never reaches an endpoint, and is logged all the same.
    let bad = raw::post_json("/sum", &["x-request-id: req-2"], "{");
    assert_eq!(raw::send(addr, &bad).await.unwrap().status, 400);
    let lines = sink.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].contains("route=/sum status=200 request_id=req-1 transport=HTTP"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("route=/sum status=400 request_id=req-2 transport=HTTP"),
        "{}",
        lines[1]
    );
}
