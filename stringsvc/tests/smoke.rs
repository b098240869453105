//! The real stringsvc binary on free loopback ports.

use kit_tests::process::Service;
use kit_tests::raw;

async fn start() -> Service {
    Service::start_on_loopback(env!("CARGO_BIN_EXE_stringsvc"), &[]).await
}

/// The binary serves its API and health check, and stops cleanly on SIGTERM.
#[tokio::test]
async fn the_binary_serves_and_stops_on_sigterm() {
    let mut svc = start().await;
    let http = svc.addr("http");

    let resp = raw::send(
        http,
        &raw::post_json("/uppercase", &[], r#"{"s": "hello"}"#),
    )
    .await
    .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"HELLO"}"#));
    let resp = raw::send(http, &raw::post_json("/count", &[], r#"{"s": "héllo"}"#))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":5}"#));
    let resp = raw::send(http, &raw::post_json("/uppercase", &[], r#"{"s": ""}"#))
        .await
        .unwrap();
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (422, r#"{"error":"empty string"}"#)
    );
    let resp = raw::send(http, &raw::post_json("/uppercase", &[], r#"{"s": 1}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 400);

    let resp = raw::send(svc.addr("debug"), &raw::get("/health"))
        .await
        .unwrap();
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );

    // /metrics: RED for the endpoints, in an exposition promtool accepts. The
    // undecodable request never reached an endpoint.
    let resp = raw::send(svc.addr("debug"), &raw::get("/metrics"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    assert!(
        resp.body
            .contains(r#"kit_endpoint_requests_total{endpoint="uppercase"} 2"#),
        "{}",
        resp.body
    );
    assert!(
        resp.body
            .contains(r#"kit_endpoint_errors_total{endpoint="uppercase",kind="business"} 1"#)
    );
    // Every response is in the HTTP histogram, the 400 answered before any
    // endpoint ran included.
    for status in [200, 422, 400] {
        let series = format!(
            r#"http_server_request_duration_seconds_count{{http_request_method="POST",http_route="/uppercase",http_response_status_code="{status}"}} 1"#
        );
        assert!(resp.body.contains(&series), "{series}\n{}", resp.body);
    }
    if let Some(check) = kit_tests::external::promtool_check(&resp.body) {
        check.unwrap_or_else(|report| panic!("promtool: {report}\n{}", resp.body));
    }

    svc.terminate().await.unwrap();
    let status = svc.wait().await.unwrap();
    assert!(status.success(), "{status}");
    let output = svc.output();
    assert!(output.iter().any(|l| l.contains(" msg=stopped ")));
    // One line per endpoint call, and one for the request refused before its
    // endpoint ran (with its request ID and why), each a valid logfmt line.
    let calls: Vec<String> = output
        .iter()
        .filter(|l| l.contains(" method=") && !l.contains(" msg=refused "))
        .cloned()
        .collect();
    assert_eq!(calls.len(), 3, "{output:#?}");
    let refused: Vec<&String> = output
        .iter()
        .filter(|l| l.contains(" msg=refused "))
        .collect();
    assert_eq!(refused.len(), 1, "{output:#?}");
    assert!(
        refused[0].contains(" status=400 request_id=")
            && refused[0].contains(" err=\"invalid JSON body"),
        "{}",
        refused[0]
    );
    if let Some(parsed) = kit_tests::external::parse_logfmt(&output) {
        assert!(
            parsed
                .iter()
                .all(|f| f["svc"] == "stringsvc" && f["level"].is_string())
        );
    }
}
