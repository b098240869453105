//! The request context across the real addsvc -> stringsvc hop, over sockets:
//! request ID and deadline budget reach stringsvc, the budget shrinks on the way,
//! and a spent budget stops the work on both sides.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit_endpoint::{BoxError, Context};
use kit_tests::raw;
use stringsvc::service::{BasicService, StringService};
use tokio::sync::{Notify, oneshot};

/// What stringsvc saw of each call.
#[derive(Debug, Clone)]
struct Seen {
    request_id: Option<String>,
    remaining: Option<Duration>,
}

/// A service middleware, defined by the test, that records the context of each
/// call and can hold calls until released.
#[derive(Clone, Default)]
struct Recording {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// When set, calls wait for `release` (and report if they are cancelled).
    hold: Option<Arc<Hold>>,
}

#[derive(Default)]
struct Hold {
    release: Notify,
    cancelled: Mutex<Option<oneshot::Sender<()>>>,
}

/// Reports through `hold.cancelled` if dropped before `done` is set.
struct CancelGuard {
    hold: Arc<Hold>,
    done: bool,
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.done
            && let Some(tx) = self.hold.cancelled.lock().unwrap().take()
        {
            let _ = tx.send(());
        }
    }
}

impl StringService for Recording {
    async fn uppercase(&self, ctx: &Context, s: String) -> Result<String, BoxError> {
        self.seen.lock().unwrap().push(Seen {
            request_id: ctx.request_id().map(|id| id.to_string()),
            remaining: ctx.remaining(),
        });
        if let Some(hold) = &self.hold {
            let mut guard = CancelGuard {
                hold: hold.clone(),
                done: false,
            };
            hold.release.notified().await;
            guard.done = true;
        }
        BasicService.uppercase(ctx, s).await
    }

    async fn count(&self, ctx: &Context, s: String) -> Result<u64, BoxError> {
        BasicService.count(ctx, s).await
    }
}

/// Serves `strings` and the addsvc that `addsvc` builds over a client `Set` of
/// it, each on its own loopback port; returns addsvc's address. Both stop with
/// the runtime.
async fn serve_pair(
    strings: kit_transport::Router,
    addsvc: impl FnOnce(stringsvc::endpoint::Set) -> kit_transport::Router,
) -> std::net::SocketAddr {
    let (strings_addr, _) = kit_transport::serve_loopback(strings).await.unwrap();
    let url: http::Uri = format!("http://{strings_addr}").parse().unwrap();
    let client = stringsvc::transport::http::client_set(kit_transport::pooled(), &url).unwrap();
    kit_transport::serve_loopback(addsvc(client))
        .await
        .unwrap()
        .0
}

/// stringsvc (with `recording` as its service) and addsvc calling it.
async fn start_pair(recording: Recording) -> std::net::SocketAddr {
    serve_pair(
        stringsvc::transport::http::router(stringsvc::endpoint::Set::new(recording)),
        |strings| {
            addsvc::transport::http::router(addsvc::endpoint::Set::new(
                addsvc::service::BasicService::new(strings),
            ))
        },
    )
    .await
}

/// `POST /concat {"a": "a", "b": "b"}` to `addr` with `headers`.
async fn concat_ab(addr: std::net::SocketAddr, headers: &[&str]) -> raw::Response {
    raw::send(
        addr,
        &raw::post_json("/concat", headers, r#"{"a": "a", "b": "b"}"#),
    )
    .await
    .unwrap()
}

/// The request ID given to addsvc reaches stringsvc, and stringsvc's budget is
/// smaller than the one addsvc received.
#[tokio::test]
async fn request_id_and_a_shrinking_budget_cross_the_hop() {
    let recording = Recording::default();
    let addsvc = start_pair(recording.clone()).await;
    let resp = concat_ab(
        addsvc,
        &["x-request-id: hop-test-1", "x-request-budget-ms: 3000"],
    )
    .await;
    assert_eq!((resp.status, resp.body.as_str()), (200, r#"{"v":"AB"}"#));
    assert_eq!(resp.header("x-request-id"), Some("hop-test-1"));

    let seen = recording.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_id.as_deref(), Some("hop-test-1"));
    let remaining = seen[0].remaining.expect("stringsvc has a deadline");
    assert!(remaining < Duration::from_millis(3000), "{remaining:?}");
    assert!(remaining > Duration::from_millis(1000), "{remaining:?}");
}

/// Without a request ID, addsvc makes one and stringsvc gets the same one.
#[tokio::test]
async fn a_generated_request_id_crosses_the_hop() {
    let recording = Recording::default();
    let addsvc = start_pair(recording.clone()).await;
    let resp = concat_ab(addsvc, &[]).await;
    let id = resp
        .header("x-request-id")
        .expect("a generated request id")
        .to_owned();
    assert_eq!(
        recording.seen.lock().unwrap()[0].request_id.as_deref(),
        Some(id.as_str())
    );
}

/// A budget that runs out while stringsvc works: addsvc answers 504 and
/// stringsvc's work is cancelled, not finished for nobody.
#[tokio::test]
async fn a_budget_that_runs_out_stops_work_on_both_sides() {
    let (cancelled_tx, cancelled_rx) = oneshot::channel();
    let hold = Arc::new(Hold {
        release: Notify::new(),
        cancelled: Mutex::new(Some(cancelled_tx)),
    });
    let recording = Recording {
        seen: Default::default(),
        hold: Some(hold.clone()),
    };
    let addsvc = start_pair(recording.clone()).await;
    let resp = concat_ab(addsvc, &["x-request-budget-ms: 200"]).await;
    assert_eq!(resp.status, 504, "{resp:?}");
    assert_eq!(recording.seen.lock().unwrap().len(), 1);
    // stringsvc's own deadline (under 200 ms from when it got the call) cancels the held call.
    tokio::time::timeout(Duration::from_secs(10), cancelled_rx)
        .await
        .expect("stringsvc's work was not cancelled")
        .unwrap();
}

/// A budget already spent when addsvc gets the request: stringsvc is never called.
#[tokio::test]
async fn a_spent_budget_never_reaches_stringsvc() {
    let recording = Recording::default();
    let addsvc = start_pair(recording.clone()).await;
    let resp = concat_ab(addsvc, &["x-request-budget-ms: 0"]).await;
    assert_eq!(resp.status, 504, "{resp:?}");
    let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
    assert_eq!(body["error"], "deadline exceeded");
    assert_eq!(body["request_id"].as_str(), resp.header("x-request-id"));
    assert!(recording.seen.lock().unwrap().is_empty());
}

/// Both services fully instrumented, logging at debug level into memory.
async fn start_logged_pair(
    add_log: &kit_log::Memory,
    str_log: &kit_log::Memory,
) -> std::net::SocketAddr {
    use slog::o;
    let logger = |sink: &kit_log::Memory, svc: &'static str| {
        kit_log::logger(kit_log::Format::Logfmt, slog::Level::Debug, sink.clone())
            .new(o!("svc" => svc))
    };
    let exporter = kit_metrics::prometheus::Exporter::new();

    let strings_log = logger(str_log, "stringsvc");
    let strings_set = stringsvc::endpoint::Set::instrumented(
        stringsvc::service::LoggingMiddleware::new(strings_log.clone(), BasicService),
        &service_stack::Middlewares {
            max_in_flight: Some(16),
            ..service_stack::Middlewares::new(strings_log, exporter.recorder())
        },
    );
    let add_log = logger(add_log, "addsvc");
    let add_middlewares = service_stack::Middlewares {
        max_in_flight: Some(16),
        ..service_stack::Middlewares::new(add_log.clone(), exporter.recorder())
    };
    serve_pair(stringsvc::transport::http::router(strings_set), |strings| {
        addsvc::transport::http::router(addsvc::endpoint::Set::instrumented(
            addsvc::service::LoggingMiddleware::new(
                add_log,
                addsvc::service::BasicService::new(strings),
            ),
            &add_middlewares,
        ))
    })
    .await
}

/// One request ID follows a request from addsvc into stringsvc: it is in every
/// log line of both services about that request (endpoint and domain level), and
/// in the response; every line is valid logfmt.
#[tokio::test]
async fn one_request_id_is_in_every_log_line_of_both_services() {
    let (add_log, str_log) = (kit_log::Memory::new(), kit_log::Memory::new());
    let addsvc = start_logged_pair(&add_log, &str_log).await;
    let resp = concat_ab(addsvc, &["x-request-id: trace-me-1"]).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("x-request-id"), Some("trace-me-1"));

    let (add_lines, str_lines) = (add_log.lines(), str_log.lines());
    // addsvc: the domain line and the endpoint line; stringsvc: the same two.
    assert_eq!(add_lines.len(), 2, "{add_lines:#?}");
    assert_eq!(str_lines.len(), 2, "{str_lines:#?}");
    for line in add_lines.iter().chain(&str_lines) {
        assert!(line.contains(" request_id=trace-me-1 "), "{line}");
    }
    assert!(
        add_lines
            .iter()
            .any(|l| l.contains("method=concat") && l.contains("level=debug"))
    );
    assert!(
        add_lines
            .iter()
            .any(|l| l.contains("method=concat") && l.contains(" a=a b=b v=AB ")),
        "the domain line has the inputs and the output: {add_lines:#?}"
    );
    assert!(
        str_lines
            .iter()
            .any(|l| l.contains("method=uppercase") && l.contains("v=AB"))
    );
    let all: Vec<String> = add_lines.into_iter().chain(str_lines).collect();
    if let Some(parsed) = kit_tests::external::parse_logfmt(&all) {
        assert!(parsed.iter().all(|f| f["request_id"] == "trace-me-1"));
    }
}
