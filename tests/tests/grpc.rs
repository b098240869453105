//! addsvc and stringsvc over gRPC, as real processes: a gRPC client nobody
//! here wrote (Python's grpcio, from the tools venv) checks answers, status
//! codes, metadata and the health service; kit's own client checks the
//! request ID and deadline across the addsvc -> stringsvc hop over gRPC,
//! retries moving on from a dead instance, and the graceful drain.

use std::time::Duration;

use addsvc::service::{AddError, AddService};
use kit_endpoint::{Context, ErrorClass, RequestId, cause_ref};
use kit_tests::external::venv_tool;
use kit_tests::process::{Service, free_addr};
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Sends one gRPC call over a plain HTTP/2 connection (no gRPC library: no
/// client-side deadline racing the server's) with `grpc-timeout: timeout`;
/// returns its `grpc-status` and `grpc-message`.
async fn raw_grpc(
    addr: std::net::SocketAddr,
    path: &str,
    timeout: &str,
    message: &[u8],
) -> (i32, String) {
    use http_body_util::BodyExt;
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let mut body = vec![0u8];
    body.extend_from_slice(&(message.len() as u32).to_be_bytes());
    body.extend_from_slice(message);
    let req = http::Request::post(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(http_body_util::Full::new(bytes::Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    // A trailers-only answer carries the status in its headers.
    let get = |name: &str| {
        trailers
            .get(name)
            .or_else(|| parts.headers.get(name))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    (
        get("grpc-status").parse().unwrap_or(-1),
        get("grpc-message"),
    )
}

async fn start_pair(extra_add: &[&str]) -> (Service, Service) {
    start_pair_with(&[], extra_add).await
}

/// A stringsvc serving gRPC (with `extra_strings`) and an addsvc serving gRPC
/// and calling it over gRPC (with `extra_add`), on free loopback ports.
async fn start_pair_with(extra_strings: &[&str], extra_add: &[&str]) -> (Service, Service) {
    let strings = Service::start_with_grpc("stringsvc", extra_strings).await;
    let target = format!("grpc://{}", strings.addr("grpc"));
    let add_args = [&["--stringsvc", target.as_str()][..], extra_add].concat();
    let add = Service::start_with_grpc("addsvc", &add_args).await;
    (strings, add)
}

fn channel(svc: &Service) -> Channel {
    Channel::from_shared(format!("http://{}", svc.addr("grpc")))
        .unwrap()
        .connect_lazy()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_calls_addsvc_over_grpc() {
    let Some(python) = venv_tool("python") else {
        return;
    };
    let (_strings, add) = start_pair(&[]).await;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let stdout = kit_tests::process::stdout_of(
        tokio::process::Command::new(python)
            .arg(root.join("tests/grpc_client.py"))
            .arg(add.addr("grpc").to_string())
            .arg(root.join("addsvc/proto")),
    )
    .await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "sum=3 request_id=py-1",
            "overflow=FAILED_PRECONDITION:integer overflow",
            "concat=GOKIT",
            "empty=FAILED_PRECONDITION:empty concatenation",
            "garbage=INVALID_ARGUMENT",
            "unknown_method=UNIMPLEMENTED",
            "concurrent=ok",
            "health[]=SERVING",
            "health[addsvc.Add]=SERVING",
            "health[nope]=NOT_FOUND",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_context_crosses_the_grpc_hop_and_errors_keep_their_class() {
    let (mut strings, add) = start_pair(&[]).await;
    let svc = addsvc::transport::grpc::client_set(channel(&add));
    let ctx = Context::new()
        .with_request_id(RequestId::parse("grpc-hop-1").unwrap())
        .with_timeout(Duration::from_secs(5));
    assert_eq!(
        svc.concat(&ctx, "a".into(), "b".into()).await.unwrap(),
        "AB"
    );
    // A business error comes back as the domain's own.
    let err = svc.sum(&ctx, i64::MAX, 1).await.unwrap_err();
    assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::Overflow));
    let err = svc
        .concat(&ctx, "x".repeat(6000), "y".repeat(6000))
        .await
        .unwrap_err();
    assert_eq!(cause_ref::<AddError>(&*err), Some(&AddError::TooLong));
    // A spent budget: refused before anything is sent.
    let spent = Context::new().with_timeout(Duration::ZERO);
    let err = svc.sum(&spent, 1, 1).await.unwrap_err();
    assert_eq!(ErrorClass::of(&*err), ErrorClass::DeadlineExceeded);

    // A budget spent on arrival (`grpc-timeout: 0m`, sent over plain HTTP/2): refused as
    // deadline exceeded, the endpoint never called.
    let calls_before = kit_tests::process::metric(
        add.addr("debug"),
        r#"kit_endpoint_requests_total{endpoint="sum"}"#,
    )
    .await;
    let message =
        prost::Message::encode_to_vec(&addsvc::transport::grpc::pb::SumRequest { a: 1, b: 1 });
    let (code, text) = raw_grpc(add.addr("grpc"), "/addsvc.Add/Sum", "0m", &message).await;
    assert_eq!(code, tonic::Code::DeadlineExceeded as i32, "{text}");
    let calls_after = kit_tests::process::metric(
        add.addr("debug"),
        r#"kit_endpoint_requests_total{endpoint="sum"}"#,
    )
    .await;
    assert_eq!(calls_after, calls_before, "the endpoint was not called");

    // Many at once.
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let svc = svc.clone();
            tokio::spawn(async move { svc.sum(&Context::new(), i, i).await.unwrap() == 2 * i })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap());
    }

    strings.terminate().await.unwrap();
    assert!(strings.wait().await.unwrap().success());
    let line = strings
        .output()
        .into_iter()
        .find(|l| l.contains("method=uppercase request_id=grpc-hop-1 "))
        .expect("the request ID crossed to stringsvc over gRPC");
    assert!(line.contains("err=null"), "{line}");
    // stringsvc is gone: addsvc's call fails as unavailable, fast.
    let started = std::time::Instant::now();
    let err = svc.concat(&ctx, "a".into(), "b".into()).await.unwrap_err();
    assert!(
        matches!(ErrorClass::of(&*err), ErrorClass::Unavailable { .. }),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_move_on_from_a_dead_grpc_instance() {
    let live = Service::start_with_grpc("stringsvc", &[]).await;
    let target = format!("grpc://{},{}", free_addr(), live.addr("grpc"));
    let add = Service::start_on_loopback("addsvc", &["--stringsvc", &target]).await;
    for i in 0..20 {
        let body = format!(r#"{{"a": "k{i}", "b": "x"}}"#);
        let resp = kit_tests::raw::send(
            add.addr("http"),
            &kit_tests::raw::post_json("/concat", &[], &body),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 200, "{}", resp.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_the_health_service_not_serving_and_drains() {
    let (_strings, mut add) = start_pair(&["--shutdown-delay-ms", "1500"]).await;
    let mut health = HealthClient::new(channel(&add));
    let check = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let status = health.check(check("")).await.unwrap().into_inner().status;
    assert_eq!(status, ServingStatus::Serving as i32);

    add.terminate().await.unwrap();
    let svc = addsvc::transport::grpc::client_set(channel(&add));
    let not_serving = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let status = health
                .check(check("addsvc.Add"))
                .await
                .unwrap()
                .into_inner()
                .status;
            if status == ServingStatus::NotServing as i32 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(not_serving.is_ok(), "health says NOT_SERVING after SIGTERM");
    // Still answering during the delay.
    assert_eq!(svc.sum(&Context::new(), 2, 3).await.unwrap(), 5);
    assert!(add.wait().await.unwrap().success());
}

/// Server streaming: `Spell` streams the uppercased string one character per
/// message; a client that goes away after three messages stops the stream at
/// once (stringsvc logs how far it got, far from the end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stream_answers_and_stops_when_the_client_goes_away() {
    use stringsvc::transport::grpc::pb;
    let (strings, _add) = start_pair(&[]).await;
    let spell = |s: &str, id: &str| {
        let mut req = tonic::Request::new(pb::UppercaseRequest { s: s.to_owned() });
        req.metadata_mut()
            .insert("x-request-id", id.parse().unwrap());
        req
    };
    let path = || http::uri::PathAndQuery::from_static(stringsvc::transport::grpc::SPELL);
    let codec = || tonic_prost::ProstCodec::<pb::UppercaseRequest, pb::SpellResponse>::default();

    let mut grpc = tonic::client::Grpc::new(channel(&strings));
    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(spell("abc", "spell-1"), path(), codec())
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(msg) = stream.message().await.unwrap() {
        got.push((msg.index, msg.c));
    }
    assert_eq!(
        got,
        [
            (0, "A".to_owned()),
            (1, "B".to_owned()),
            (2, "C".to_owned())
        ]
    );

    // A business error ends the stream before it starts.
    grpc.ready().await.unwrap();
    let status = grpc
        .server_streaming(spell("", "spell-2"), path(), codec())
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (tonic::Code::FailedPrecondition, "empty string")
    );

    // 500 characters would take 5 s; the client leaves after 3.
    grpc.ready().await.unwrap();
    let mut stream = grpc
        .server_streaming(spell(&"x".repeat(500), "spell-3"), path(), codec())
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        stream.message().await.unwrap().unwrap();
    }
    drop(stream);
    drop(grpc);
    let line = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(line) = strings.output().into_iter().find(|l| {
                l.contains("msg=\"stream ended early\"") && l.contains("request_id=spell-3")
            }) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("stringsvc saw the client go");
    let sent: usize = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sent="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((3..50).contains(&sent), "stopped promptly: {line}");
    assert!(line.contains("of=500"), "{line}");
}

/// A stringsvc (debug log, gRPC, `extra`) and an addsvc calling it over gRPC.
async fn debug_pair(extra_strings: &[&str]) -> (Service, Service) {
    let strings = [&["--log-level", "debug"][..], extra_strings].concat();
    start_pair_with(&strings, &[]).await
}

/// Across addsvc -> stringsvc over gRPC: the caller's `grpc-timeout` reaches
/// stringsvc as what is left of it (stringsvc's domain line says its budget,
/// not the 30 s default), and one trace spans both services (the caller's
/// sampled `traceparent`: both call lines carry its `trace_id`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_and_the_trace_cross_the_grpc_hop() {
    let (strings, add) = debug_pair(&[]).await;
    let svc = addsvc::transport::grpc::client_set(channel(&add));
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let trace =
        kit_endpoint::TraceContext::parse(&format!("00-{trace_id}-00f067aa0ba902b7-01"), None)
            .unwrap();
    let ctx = Context::new()
        .with_request_id(RequestId::parse("grpc-deadline-1").unwrap())
        .with_timeout(Duration::from_millis(3000))
        .with_trace(trace);
    assert_eq!(
        svc.concat(&ctx, "a".into(), "b".into()).await.unwrap(),
        "AB"
    );

    let domain = strings
        .line_with(&["level=debug", "request_id=grpc-deadline-1"])
        .await;
    let budget: u64 = domain
        .split(" budget_ms=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no budget in {domain}"));
    assert!((1..=3000).contains(&budget), "stringsvc's budget: {domain}");

    let id = format!("trace_id={trace_id}");
    let strings_line = strings
        .line_with(&[
            "level=info",
            "method=uppercase",
            "request_id=grpc-deadline-1",
        ])
        .await;
    let add_line = add
        .line_with(&["method=concat", "request_id=grpc-deadline-1"])
        .await;
    assert!(strings_line.contains(&id), "{strings_line}");
    assert!(add_line.contains(&id), "{add_line}");
    assert!(add_line.contains(" transport=gRPC"), "{add_line}");
    assert!(strings_line.contains(" transport=gRPC"), "{strings_line}");
}

/// A gRPC caller that gives up on addsvc stops stringsvc's work two hops
/// down (both hops over gRPC): stringsvc's call line says `err=cancelled`
/// long before its 2 s of injected latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_caller_giving_up_cancels_the_work_two_hops_down() {
    let (strings, add) = debug_pair(&["--inject-latency", "100%:2000ms"]).await;
    let svc = addsvc::transport::grpc::client_set(channel(&add));
    let call = tokio::spawn(async move {
        let ctx = Context::new().with_request_id(RequestId::parse("grpc-gone-1").unwrap());
        svc.concat(&ctx, "a".into(), "b".into()).await
    });
    let series = r#"kit_resource_in_flight{resource="uppercase"}"#;
    kit_tests::process::metric_reaches(strings.addr("debug"), series, 1.0).await;
    let gave_up = std::time::Instant::now();
    call.abort();
    let line = strings
        .line_with(&[
            "method=uppercase",
            "request_id=grpc-gone-1",
            "err=cancelled",
        ])
        .await;
    assert!(
        gave_up.elapsed() < Duration::from_millis(1500),
        "stringsvc dropped the work well before its 2 s: {line}"
    );
    add.line_with(&["method=concat", "request_id=grpc-gone-1", "err=cancelled"])
        .await;
}

/// `--inject-errors 100%`: every call fails as unavailable (HTTP 503 with
/// `Retry-After`, gRPC `UNAVAILABLE`), and the endpoint's line says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_errors_fail_calls_as_unavailable() {
    let (strings, _add) = debug_pair(&["--inject-errors", "100%"]).await;
    let resp = kit_tests::raw::send(
        strings.addr("http"),
        &kit_tests::raw::post_json("/uppercase", &["x-request-id: injected-1"], r#"{"s": "a"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 503, "{resp:?}");
    assert!(resp.header("retry-after").is_some(), "{resp:?}");
    let svc = stringsvc::transport::grpc::client_set(
        Channel::from_shared(format!("http://{}", strings.addr("grpc")))
            .unwrap()
            .connect_lazy(),
    );
    use stringsvc::service::StringService;
    let err = svc
        .uppercase(&Context::new(), "a".into())
        .await
        .unwrap_err();
    assert!(
        matches!(ErrorClass::of(&*err), ErrorClass::Unavailable { .. }),
        "{err}"
    );
    strings
        .line_with(&[
            "method=uppercase",
            "request_id=injected-1",
            "err_kind=failure",
        ])
        .await;
}
