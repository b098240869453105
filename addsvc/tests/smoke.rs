//! The real addsvc and addcli binaries on free loopback ports.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use kit_tests::process::Service;
use kit_tests::raw;
use tokio::net::TcpListener;

async fn start_addsvc(extra: &[&str]) -> Service {
    Service::start_on_loopback(env!("CARGO_BIN_EXE_addsvc"), extra).await
}

async fn addcli(addr: std::net::SocketAddr, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_addcli"))
        .arg("--addr")
        .arg(format!("http://{addr}"))
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    )
}

/// On its embedded defaults addsvc serves both routes, and stops on SIGTERM.
#[tokio::test]
async fn addsvc_runs_alone_on_its_embedded_defaults() {
    let mut svc = start_addsvc(&[]).await;
    assert!(
        svc.output()
            .iter()
            .any(|l| l.contains(" stringsvc=embedded "))
    );
    let http = svc.addr("http");
    let resp = raw::send(http, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":3}"#));
    let resp = raw::send(
        http,
        &raw::post_json("/concat", &[], r#"{"a": "a", "b": "b"}"#),
    )
    .await
    .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"AB"}"#));
    let resp = raw::send(svc.addr("debug"), &raw::get("/health"))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);

    svc.terminate().await.unwrap();
    assert!(svc.wait().await.unwrap().success());
    assert!(svc.output().iter().any(|l| l.contains(" msg=stopped ")));
}

/// addcli prints results, says why the service refused, and exits accordingly.
#[tokio::test]
async fn addcli_calls_addsvc_through_the_client_set() {
    let svc = start_addsvc(&[]).await;
    let http = svc.addr("http");
    assert_eq!(
        addcli(http, &["sum", "1", "2"]).await,
        (0, "3".into(), String::new())
    );
    assert_eq!(addcli(http, &["sum", "-5", "2"]).await.1, "-3");
    assert_eq!(addcli(http, &["concat", "go", "kit"]).await.1, "GOKIT");
    let (code, _, err) = addcli(http, &["sum", "9223372036854775807", "1"]).await;
    assert_eq!(
        (code, err.as_str()),
        (1, "addcli: refused: integer overflow")
    );

    // Nobody listens there: a failed call, not a refusal.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (code, _, err) = addcli(closed, &["sum", "1", "2"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("addcli: call failed: upstream unreachable"),
        "{err}"
    );
}

/// With `--stringsvc`, addsvc calls a stringsvc in another process over HTTP; when
/// that stringsvc is gone, `/concat` fails with 502 and `/sum` still works.
#[tokio::test]
async fn addsvc_calls_a_remote_stringsvc() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let strings_addr = listener.local_addr().unwrap();
    let (stop, strings) = serve_stringsvc(listener);

    let url = format!("http://{strings_addr}");
    let mut svc = start_addsvc(&["--stringsvc", &url]).await;
    let http = svc.addr("http");
    let resp = raw::send(
        http,
        &raw::post_json("/concat", &[], r#"{"a": "x", "b": "y"}"#),
    )
    .await
    .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"XY"}"#));
    let resp = raw::send(
        http,
        &raw::post_json("/concat", &[], r#"{"a": "", "b": ""}"#),
    )
    .await
    .unwrap();
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (422, r#"{"error":"empty concatenation"}"#)
    );
    // The USE metrics of the stringsvc calls carry the resource names the
    // README gives, and the instance's breaker its gauge.
    let metrics = raw::send(svc.addr("debug"), &raw::get("/metrics"))
        .await
        .unwrap();
    for series in [
        r#"kit_resource_in_flight{resource="stringsvc.uppercase"} 0"#.to_owned(),
        r#"kit_resource_in_flight{resource="stringsvc.count"} 0"#.to_owned(),
        format!(r#"kit_circuitbreaker_state{{breaker="{url}"}} 0"#),
    ] {
        assert!(metrics.body.contains(&series), "{series}\n{}", metrics.body);
    }
    // A request no route serves is answered 404 and logged with its request ID.
    let resp = raw::send(
        http,
        &raw::post_json("/nope", &["x-request-id: lost-1"], "{}"),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("x-request-id"), Some("lost-1"));

    stop.send(()).unwrap();
    strings.await.unwrap().unwrap();
    let resp = raw::send(
        http,
        &raw::post_json("/concat", &[], r#"{"a": "x", "b": "y"}"#),
    )
    .await
    .unwrap();
    assert_eq!(resp.status, 502, "{resp:?}");
    assert!(
        resp.body.contains(r#""error":"upstream failure""#),
        "{}",
        resp.body
    );
    assert!(
        !resp.body.contains(&strings_addr.to_string()),
        "{}",
        resp.body
    );
    let resp = raw::send(http, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 1}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    // Every line accepted is written out by the time addsvc has stopped.
    svc.terminate().await.unwrap();
    assert!(svc.wait().await.unwrap().success());
    let refused = svc
        .output()
        .into_iter()
        .find(|l| l.contains(" msg=refused "))
        .expect("the 404 is logged");
    assert!(
        refused.contains(" route=unmatched status=404 request_id=lost-1 "),
        "{refused}"
    );
}

/// SIGTERM while a `/concat` is waiting on stringsvc: addsvc stops accepting,
/// finishes that request with a 200, then exits cleanly.
#[tokio::test]
async fn sigterm_loses_no_request_in_flight() {
    use std::sync::Arc;
    use stringsvc::service::StringService;
    use tokio::sync::Notify;

    /// A stringsvc that holds each call until released.
    #[derive(Clone)]
    struct Held {
        started: Arc<Notify>,
        release: Arc<Notify>,
    }
    impl StringService for Held {
        async fn uppercase(
            &self,
            ctx: &kit_endpoint::Context,
            s: String,
        ) -> Result<String, kit_endpoint::BoxError> {
            self.started.notify_one();
            self.release.notified().await;
            stringsvc::service::BasicService.uppercase(ctx, s).await
        }
        async fn count(
            &self,
            ctx: &kit_endpoint::Context,
            s: String,
        ) -> Result<u64, kit_endpoint::BoxError> {
            stringsvc::service::BasicService.count(ctx, s).await
        }
    }
    let held = Held {
        started: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(kit_transport::serve(
        listener,
        stringsvc::transport::http::router(stringsvc::endpoint::Set::new(held.clone())),
        std::future::pending(),
    ));

    let mut svc = start_addsvc(&["--stringsvc", &url]).await;
    let http = svc.addr("http");
    let in_flight = tokio::spawn(async move {
        raw::send(
            http,
            &raw::post_json("/concat", &[], r#"{"a": "in", "b": "flight"}"#),
        )
        .await
    });
    held.started.notified().await;

    svc.terminate().await.unwrap();
    // Poll (bounded) until the listener is closed: no signal exists for that moment.
    let mut refused = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(http).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(refused, "addsvc still accepts connections after SIGTERM");

    held.release.notify_one();
    let resp = in_flight.await.unwrap().unwrap();
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (200, r#"{"v":"INFLIGHT"}"#)
    );
    assert!(svc.wait().await.unwrap().success());
    assert!(svc.output().iter().any(|l| l.contains(" msg=stopped ")));
}

/// A stringsvc served in this process on `listener`, until `stop` fires.
fn serve_stringsvc(
    listener: TcpListener,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(kit_transport::serve(
        listener,
        stringsvc::transport::http::router(stringsvc::endpoint::Set::new(
            stringsvc::service::BasicService,
        )),
        async {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

/// stringsvc dies under load: addsvc's `/concat` fails (502) until the breaker
/// opens after 3 failures, then fails fast with 503 and a clear message; when
/// stringsvc comes back, the breaker probes it and `/concat` recovers by itself.
#[tokio::test]
async fn the_breaker_fails_fast_while_stringsvc_is_down_and_recovers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let strings_addr = listener.local_addr().unwrap();
    let (stop, task) = serve_stringsvc(listener);
    let url = format!("http://{strings_addr}");
    let mut svc = start_addsvc(&[
        "--stringsvc",
        &url,
        "--breaker-failures",
        "3",
        "--breaker-backoff-ms",
        "300",
    ])
    .await;
    let http = svc.addr("http");
    let concat = move || async move {
        let started = std::time::Instant::now();
        let resp = raw::send(
            http,
            &raw::post_json("/concat", &[], r#"{"a": "a", "b": "b"}"#),
        )
        .await
        .unwrap();
        (resp, started.elapsed())
    };
    assert_eq!(concat().await.0.status, 200);

    // Load in the background for the whole scenario: no answer may hang.
    let load = tokio::spawn(async move {
        let mut slowest = std::time::Duration::ZERO;
        for _ in 0..200 {
            let (resp, took) = concat().await;
            assert!([200, 502, 503].contains(&resp.status), "{resp:?}");
            slowest = slowest.max(took);
            tokio::task::yield_now().await;
        }
        slowest
    });

    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    // Failures until the breaker opens, then 503s.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let (resp, _) = concat().await;
        if resp.status == 503 {
            assert!(
                resp.body.contains(r#""error":"circuit breaker is open""#),
                "{}",
                resp.body
            );
            // "Try later" says when.
            assert_eq!(resp.header("retry-after"), Some("1"), "{resp:?}");
        }
        if resp.status == 502 {
            // The class of failure and the request ID; the upstream's address
            // and error text stay in the log.
            assert!(
                resp.body
                    .starts_with(r#"{"error":"upstream failure","request_id":""#),
                "{}",
                resp.body
            );
            assert!(!resp.body.contains("127.0.0.1"), "{}", resp.body);
        }
        statuses.push(resp.status);
    }
    assert_eq!(statuses.last(), Some(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| [502, 503].contains(s)),
        "{statuses:?}"
    );

    // stringsvc comes back on the same address; the breaker probes and closes.
    let listener = TcpListener::bind(strings_addr).await.unwrap();
    let (_stop, _task) = serve_stringsvc(listener);
    let mut recovered = false;
    for _ in 0..100 {
        // Waiting for the breaker's backoff (a timer in another process): poll, bounded.
        if concat().await.0.status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        recovered,
        "addsvc did not recover after stringsvc came back"
    );
    let slowest = load.await.unwrap();
    assert!(
        slowest < std::time::Duration::from_secs(2),
        "an answer took {slowest:?}"
    );

    let metrics = raw::send(svc.addr("debug"), &raw::get("/metrics"))
        .await
        .unwrap();
    assert!(
        metrics
            .body
            .contains(&format!(r#"kit_circuitbreaker_state{{breaker="{url}"}} 0"#)),
        "{}",
        metrics.body
    );
    // The log tells each change, and only changes: open first (the breaker
    // starting closed is not one), closed last. A graceful stop writes out
    // every line.
    svc.terminate().await.unwrap();
    assert!(svc.wait().await.unwrap().success());
    let output = svc.output();
    let states: Vec<&str> = output
        .iter()
        .filter(|l| l.contains("circuit breaker state changed"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("state=")))
        .collect();
    assert_eq!(states.first(), Some(&"open"), "{output:#?}");
    assert_eq!(states.last(), Some(&"closed"), "{output:#?}");
}

/// With `--rate-limit-per-ip 1`, a client's second request within a second gets
/// 429 with `Retry-After` and a JSON error.
#[tokio::test]
async fn a_per_ip_rate_limit_answers_429_with_retry_after() {
    let svc = start_addsvc(&["--rate-limit-per-ip", "1"]).await;
    let http = svc.addr("http");
    let sum = raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#);
    assert_eq!(raw::send(http, &sum).await.unwrap().status, 200);
    let resp = raw::send(http, &sum).await.unwrap();
    assert_eq!(resp.status, 429, "{resp:?}");
    assert_eq!(resp.header("retry-after"), Some("1"));
    assert_eq!(resp.body, r#"{"error":"rate limited"}"#);
}

/// A stringsvc whose calls are counted, served in this process on a free port
/// until its task is aborted (like a SIGKILL: connections just drop).
async fn counted_stringsvc() -> (
    String,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    #[derive(Clone)]
    struct Counted(Arc<AtomicUsize>);
    impl stringsvc::service::StringService for Counted {
        async fn uppercase(
            &self,
            ctx: &kit_endpoint::Context,
            s: String,
        ) -> Result<String, kit_endpoint::BoxError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            stringsvc::service::BasicService.uppercase(ctx, s).await
        }
        async fn count(
            &self,
            ctx: &kit_endpoint::Context,
            s: String,
        ) -> Result<u64, kit_endpoint::BoxError> {
            stringsvc::service::BasicService.count(ctx, s).await
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let router =
        stringsvc::transport::http::router(stringsvc::endpoint::Set::new(Counted(calls.clone())));
    let (addr, task) = kit_transport::serve_loopback(router).await.unwrap();
    (format!("http://{addr}"), calls, task)
}

/// Three stringsvc instances: addsvc spreads `/concat` over all of them; one is
/// killed under steady load and no client sees a failure (its calls are retried
/// on the live instances).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concat_is_balanced_over_instances_and_survives_one_dying() {
    let mut instances = Vec::new();
    for _ in 0..3 {
        instances.push(counted_stringsvc().await);
    }
    let urls: Vec<&str> = instances.iter().map(|(u, _, _)| u.as_str()).collect();
    let svc = start_addsvc(&["--stringsvc", &urls.join(",")]).await;
    let http = svc.addr("http");
    let concat = move || async move {
        raw::send(
            http,
            &raw::post_json("/concat", &[], r#"{"a": "a", "b": "b"}"#),
        )
        .await
        .unwrap()
    };
    for _ in 0..30 {
        assert_eq!(concat().await.status, 200);
    }
    for (url, calls, _) in &instances {
        assert!(calls.load(Ordering::SeqCst) > 0, "{url} got no calls");
    }

    // Steady load from 4 clients; one instance dies in the middle of it.
    let load: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..50 {
                    statuses.push(concat().await.status);
                }
                statuses
            })
        })
        .collect();
    let (_, killed_calls, victim) = &instances[1];
    let before = killed_calls.load(Ordering::SeqCst);
    while killed_calls.load(Ordering::SeqCst) < before + 5 {
        tokio::task::yield_now().await;
    }
    victim.abort();
    for client in load {
        let statuses = client.await.unwrap();
        assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    }
}

/// addsvc finds its stringsvc instances in DNS SRV records (served by a real
/// dnsmasq) and spreads `/concat` over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stringsvc_instances_come_from_dns_srv_records() {
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(counted_stringsvc().await);
    }
    let name = "_http._tcp.stringsvc.kit.test";
    let records: Vec<kit_tests::dns::Srv> = instances
        .iter()
        .enumerate()
        .map(|(i, (url, _, _))| kit_tests::dns::Srv {
            name: name.into(),
            target: format!("s{i}.kit.test"),
            port: url.rsplit(':').next().unwrap().parse().unwrap(),
        })
        .collect();
    let hosts = [("s0.kit.test", "127.0.0.1"), ("s1.kit.test", "127.0.0.1")];
    let Some(dns) = kit_tests::dns::Dnsmasq::start(&records, &hosts, None) else {
        return;
    };
    let server = dns.addr().to_string();
    let svc = start_addsvc(&["--stringsvc-srv", name, "--dns-server", &server]).await;
    let http = svc.addr("http");
    // The first lookup may still be on its way: give it a bounded moment.
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let resp = raw::send(
            http,
            &raw::post_json("/concat", &[], r#"{"a": "d", "b": "ns"}"#),
        )
        .await
        .unwrap();
        statuses.push(resp.status);
        if statuses.iter().filter(|s| **s == 200).count() >= 20 {
            break;
        }
        if resp.status != 200 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    assert!(
        statuses.iter().filter(|s| **s == 200).count() >= 20,
        "{statuses:?}"
    );
    for (url, calls, _) in &instances {
        assert!(calls.load(Ordering::SeqCst) > 0, "{url} got no calls");
    }
}

/// A client's mistakes in framing are 4xx, never 5xx: a request without `Host`,
/// a struct sent as a JSON array, a bad chunk size, a truncated chunked body.
/// Each answer names the problem; the service goes on serving.
#[tokio::test]
async fn malformed_requests_are_client_errors() {
    let mut svc = start_addsvc(&[]).await;
    let http = svc.addr("http");
    let head = "POST /sum HTTP/1.1\r\ncontent-type: application/json\r\nconnection: close\r\n";
    let cases: Vec<(String, u16, &str)> = vec![
        (
            format!("{head}content-length: 13\r\n\r\n{{\"a\":1,\"b\":2}}"),
            400,
            "missing Host header",
        ),
        (
            String::from_utf8(raw::post_json("/sum", &[], "[1,2]")).unwrap(),
            400,
            "expected struct SumRequest",
        ),
        (
            format!("{head}host: t\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"),
            400,
            "malformed request body",
        ),
    ];
    for (req, status, needle) in cases {
        let resp = raw::send(http, req.as_bytes()).await.unwrap();
        assert_eq!(resp.status, status, "{req:?} -> {resp:?}");
        assert!(resp.body.contains(needle), "{needle:?} not in {resp:?}");
    }
    // A chunked body cut off mid-chunk: the client closes its side.
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let truncated = format!("{head}host: t\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{{\"a\":");
    stream.write_all(truncated.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let resp = raw::parse(&buf);
    assert_eq!(resp.status, 400, "{resp:?}");

    let resp = raw::send(http, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
        .await
        .unwrap();
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":3}"#));
    svc.terminate().await.unwrap();
    assert!(svc.wait().await.unwrap().success());
}

/// 50 clients announce a 1000-byte body, send 10 bytes and stall: each gets
/// `408` once the body timeout (500 ms here) has passed, and its connection is
/// closed; an ordinary request meanwhile is answered at once.
#[tokio::test]
async fn stalled_uploads_get_408_and_their_connections_close() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let svc = start_addsvc(&["--body-timeout-ms", "500"]).await;
    let http = svc.addr("http");
    let mut stalled = Vec::new();
    for _ in 0..50 {
        let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
        let req = "POST /sum HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"a\": 1, ";
        stream.write_all(req.as_bytes()).await.unwrap();
        stalled.push(stream);
    }
    let started = std::time::Instant::now();
    let resp = raw::send(http, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    let read_all = async {
        let mut answers = Vec::new();
        for mut stream in stalled {
            let mut buf = Vec::new();
            // read_to_end returns only once the server has closed the connection.
            stream.read_to_end(&mut buf).await.unwrap();
            answers.push(raw::parse(&buf));
        }
        answers
    };
    // Bounded: the test fails instead of hanging if a connection is never cut.
    let answers = tokio::time::timeout(std::time::Duration::from_secs(20), read_all)
        .await
        .expect("every stalled upload is cut");
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    for resp in answers {
        assert_eq!(resp.status, 408, "{resp:?}");
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(
            resp.body
                .contains("request body not received within 500 ms"),
            "{resp:?}"
        );
    }
}

/// What one keep-alive client saw while addsvc shut down.
#[derive(Debug, Default)]
struct Seen {
    /// Responses received.
    answered: usize,
    /// Of those, how many said `connection: close`.
    closed: usize,
    /// Requests written on an open connection that got no answer (the server
    /// read or dropped them): what must never happen.
    lost: usize,
}

/// Sends `POST /sum` on keep-alive connections to `addr` until it cannot
/// connect any more; a response with `connection: close` ends its connection
/// and a new one is opened.
async fn keep_alive_client(addr: std::net::SocketAddr) -> Seen {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let mut seen = Seen::default();
    let body = r#"{"a":1,"b":2}"#;
    let req = format!(
        "POST /sum HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    'connections: loop {
        let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
            return seen; // the listener is closed: expected
        };
        let mut stream = BufReader::new(stream);
        loop {
            if stream.get_mut().write_all(req.as_bytes()).await.is_err() {
                seen.lost += 1;
                continue 'connections;
            }
            // Status line and headers, then the body by its length.
            let (mut length, mut close, mut got_head) = (0usize, false, false);
            loop {
                let mut line = String::new();
                match stream.read_line(&mut line).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                got_head = true;
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("connection:") && lower.contains("close") {
                    close = true;
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut buf = vec![0; length];
            if !got_head || stream.read_exact(&mut buf).await.is_err() {
                seen.lost += 1;
                continue 'connections;
            }
            seen.answered += 1;
            if close {
                seen.closed += 1;
                continue 'connections;
            }
        }
    }
}

/// SIGTERM under load from 32 keep-alive clients: `/ready` turns 503 at once
/// while the API goes on answering for the shutdown delay; then addsvc stops
/// accepting, answers every request it received with `connection: close`, and
/// exits. No request sent on an open connection goes unanswered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_request_and_turns_unready_first() {
    let mut svc = start_addsvc(&["--shutdown-delay-ms", "300"]).await;
    let (http, debug) = (svc.addr("http"), svc.addr("debug"));
    assert_eq!(
        raw::send(debug, &raw::get("/ready")).await.unwrap().status,
        200
    );
    let clients: Vec<_> = (0..32)
        .map(|_| tokio::spawn(keep_alive_client(http)))
        .collect();
    // Load is flowing: a request from outside the clients is answered.
    let resp = raw::send(http, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);

    svc.terminate().await.unwrap();
    // Unready while still serving (bounded poll: the readiness flip has no signal
    // outside the process).
    let mut unready = false;
    for _ in 0..100 {
        let resp = raw::send(debug, &raw::get("/ready")).await.unwrap();
        if resp.status == 503 {
            assert_eq!(resp.header("retry-after"), Some("1"));
            unready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert!(unready, "/ready never turned 503");
    let resp = raw::send(http, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 200, "the API serves on during the delay");
    assert_eq!(
        raw::send(debug, &raw::get("/health")).await.unwrap().status,
        200
    );

    let mut total = Seen::default();
    for client in clients {
        let seen = tokio::time::timeout(std::time::Duration::from_secs(30), client)
            .await
            .expect("every client ends once addsvc has stopped accepting")
            .unwrap();
        total.answered += seen.answered;
        total.closed += seen.closed;
        total.lost += seen.lost;
    }
    assert!(svc.wait().await.unwrap().success());
    assert_eq!(total.lost, 0, "requests lost at shutdown: {total:?}");
    assert!(total.answered > 32, "{total:?}");
    assert!(
        total.closed >= 1,
        "the last answers said connection: close: {total:?}"
    );
    assert!(svc.output().iter().any(|l| l.contains(" msg=draining ")));
}

/// With `--max-connections 20`: 20 idle connections fill addsvc, and a 21st
/// closes the oldest idle one to make room (a flood of idle connections cannot
/// lock new clients out); the others go on. (A new connection when all are
/// busy is refused: kit-transport's `a_full_server_refuses_new_connections...`.)
#[tokio::test]
async fn at_the_connection_cap_the_oldest_idle_one_makes_room() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let svc = start_addsvc(&["--max-connections", "20"]).await;
    let http = svc.addr("http");
    let sum = |close: bool| {
        format!(
            "POST /sum HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: 13\r\n{}\r\n{{\"a\":1,\"b\":2}}",
            if close { "connection: close\r\n" } else { "" }
        )
    };
    // 20 idle keep-alive connections, each served once (so surely accepted).
    let mut idle = Vec::new();
    for _ in 0..20 {
        let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
        stream.write_all(sum(false).as_bytes()).await.unwrap();
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        idle.push(stream);
    }
    let resp = raw::send(http, sum(true).as_bytes()).await.unwrap();
    assert_eq!(
        resp.status, 200,
        "a new client is served at the cap: {resp:?}"
    );
    // The oldest idle connection was closed for it.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(std::time::Duration::from_secs(10), idle[0].read(&mut buf))
        .await
        .expect("the oldest idle connection is closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    // The others are still served.
    let last = idle.last_mut().unwrap();
    last.write_all(sum(true).as_bytes()).await.unwrap();
    let mut out = Vec::new();
    last.read_to_end(&mut out).await.unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
}

/// An outage cannot flood the log: 60 `/concat` calls to a stringsvc that is
/// not there all fail, but the failure's warning is written a few times a
/// second, not 60 times (the request log at `info` is whole).
#[tokio::test]
async fn an_outage_does_not_flood_the_log() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}");
    // A breaker that never opens, so every call reaches the dead upstream.
    let mut svc = start_addsvc(&["--stringsvc", &url, "--breaker-failures", "1000000"]).await;
    let http = svc.addr("http");
    for _ in 0..60 {
        let resp = raw::send(
            http,
            &raw::post_json("/concat", &[], r#"{"a": "x", "b": "y"}"#),
        )
        .await
        .unwrap();
        assert_eq!(resp.status, 502, "{resp:?}");
    }
    svc.terminate().await.unwrap();
    assert!(svc.wait().await.unwrap().success());
    let output = svc.output();
    let failures = output
        .iter()
        .filter(|l| l.contains(" method=concat ") && l.contains(" err_kind=failure"))
        .count();
    // 5 a second: the 60 calls take well under a few seconds.
    assert!(
        (1..=20).contains(&failures),
        "{failures} failure lines for 60 failed calls"
    );
}

/// `--body-limit-bytes` sets the limit: a 200-byte body against a 100-byte
/// limit is refused with 413, a small one served.
#[tokio::test]
async fn the_body_limit_flag_sets_the_limit() {
    let svc = start_addsvc(&["--body-limit-bytes", "100"]).await;
    let http = svc.addr("http");
    let big = format!(r#"{{"a": "{}", "b": "x"}}"#, "y".repeat(200));
    let resp = raw::send(http, &raw::post_json("/concat", &[], &big))
        .await
        .unwrap();
    assert_eq!(resp.status, 413, "{resp:?}");
    assert!(resp.body.contains("limit of 100 bytes"), "{resp:?}");
    let resp = raw::send(http, &raw::post_json("/sum", &[], r#"{"a": 1, "b": 2}"#))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
}

/// A flag that cannot apply is refused at start-up with an error naming it,
/// never accepted to do nothing: over NATS the queue group picks the member,
/// so there is no instance to balance, hedge to or pin; a hedge budget below
/// the share of calls that outlast the hedge's percentile could never pay for
/// the hedges. (No NATS server is needed: addsvc refuses before connecting.)
#[tokio::test]
async fn flags_that_cannot_apply_are_refused_at_start_up() {
    let nats = "nats://127.0.0.1:9";
    let cases: [(&[&str], &str); 5] = [
        (
            &["--stringsvc", nats, "--hedge", "10ms"],
            "--hedge cannot apply",
        ),
        (
            &["--stringsvc", nats, "--balancer", "rr"],
            "--balancer cannot apply",
        ),
        (
            &["--stringsvc", nats, "--stringsvc-version", "2"],
            "--stringsvc-version cannot apply",
        ),
        (
            &[
                "--stringsvc",
                "http://127.0.0.1:9",
                "--hedge",
                "p95",
                "--hedge-budget-percent",
                "2",
            ],
            "--hedge-budget-percent: 5% of calls outlast p95",
        ),
        (&["--hedge-budget-percent", "10"], "--hedge"),
    ];
    for (args, needle) in cases {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_addsvc"))
            .args(["--http-addr", "127.0.0.1:0", "--debug-addr", "127.0.0.1:0"])
            .args(args)
            .output()
            .await
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "{args:?} was accepted: {said}");
        assert!(said.contains(needle), "{args:?}: {needle:?} not in {said}");
        assert!(!said.contains("listening"), "{args:?}: {said}");
    }
}
