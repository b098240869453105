//! kit-nats against a real nats-server (Debian's, started on a free loopback
//! port): request-reply with the context carried across, errors by class, a
//! spent budget, no responders, a queue group sharing calls, many concurrent
//! calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit_endpoint::{
    BoxError, Classified, Context, ErrorClass, Failer, Request, RequestId, endpoint_fn,
};
use kit_nats::{Client, Handler, Server, json, subscribe};
use kit_tests::nats::Nats;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

/// The sum, and what the endpoint saw of the context.
#[derive(Debug, Serialize, Deserialize)]
struct Answer {
    v: i64,
    request_id: String,
    budget_ms: u64,
    tenant: Option<String>,
}

impl Failer for Answer {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// Serves `sum` on `subject` in queue group `group`; counts its calls in `calls`.
fn sum_server(calls: Arc<AtomicUsize>) -> Arc<dyn Handler> {
    let sum = endpoint_fn(move |req: Request<Sum>| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            let ctx = req.ctx();
            let v = req.msg().a.checked_add(req.msg().b).ok_or_else(|| {
                Classified::public(ErrorClass::InvalidArgument, "integer overflow")
            })?;
            Ok::<_, BoxError>(Answer {
                v,
                request_id: ctx.request_id().map(|i| i.to_string()).unwrap_or_default(),
                budget_ms: ctx.remaining().map_or(0, |d| d.as_millis() as u64),
                tenant: ctx.metadata().get("tenant").map(str::to_owned),
            })
        }
    });
    Arc::new(Server::new(
        sum,
        json::decode_request,
        json::encode_response,
    ))
}

async fn start(
    nats: &Nats,
    subject: &str,
    calls: Arc<AtomicUsize>,
) -> tokio::sync::oneshot::Sender<()> {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let routes = vec![(subject.to_owned(), sum_server(calls))];
    // Subscribed (the server has the subscription) before any request is sent.
    let subscribed = subscribe(client, "sums", routes).await.unwrap();
    tokio::spawn(subscribed.serve(async {
        let _ = stopped.await;
    }));
    stop
}

fn client(nats: &async_nats::Client, subject: &str) -> Client<Sum, Answer> {
    Client::new(
        nats.clone(),
        subject,
        json::encode_request,
        json::decode_response,
    )
}

/// A call crosses with its request ID, a shrunk budget and its metadata; a
/// refusal comes back as the caller's fault; a payload that does not decode is
/// refused as invalid.
#[tokio::test]
async fn request_reply_carries_the_context_and_the_error_class() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let _stop = start(&nats, "t.sum", Arc::default()).await;
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let sum = client(&conn, "t.sum");

    let mut ctx = Context::new()
        .with_request_id(RequestId::parse("req-42").unwrap())
        .with_timeout(Duration::from_secs(2));
    ctx.metadata_mut().insert("tenant", "acme").unwrap();
    let answer = sum
        .clone()
        .oneshot(Request::new(ctx, Sum { a: 1, b: 2 }))
        .await
        .unwrap();
    assert_eq!(answer.v, 3);
    assert_eq!(answer.request_id, "req-42");
    assert!(
        answer.budget_ms > 0 && answer.budget_ms <= 2000,
        "{answer:?}"
    );
    assert_eq!(answer.tenant.as_deref(), Some("acme"));

    let err = sum
        .clone()
        .oneshot(Request::from_msg(Sum { a: i64::MAX, b: 1 }))
        .await
        .unwrap_err();
    assert_eq!(
        ErrorClass::of(&*err),
        ErrorClass::Upstream { caller_fault: true }
    );
    assert!(err.to_string().contains("integer overflow"), "{err}");

    let raw = conn.request("t.sum", "{not json".into()).await.unwrap();
    let headers = raw.headers.as_ref().expect("error headers");
    assert_eq!(
        headers.get(kit_nats::ERROR_CLASS).unwrap().as_str(),
        "invalid_argument"
    );
    assert!(String::from_utf8_lossy(&raw.payload).contains("invalid JSON payload"));
}

/// A spent budget: the client sends nothing; a request that arrives with a
/// spent budget is not served.
#[tokio::test]
async fn a_spent_budget_reaches_no_endpoint() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let _stop = start(&nats, "t.sum", calls.clone()).await;
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let spent = Context::new().with_timeout(Duration::ZERO);
    let err = client(&conn, "t.sum")
        .oneshot(Request::new(spent, Sum { a: 1, b: 2 }))
        .await
        .unwrap_err();
    assert_eq!(ErrorClass::of(&*err), ErrorClass::DeadlineExceeded);

    let mut headers = async_nats::HeaderMap::new();
    headers.insert(kit_nats::BUDGET_MS, "0");
    let raw = conn
        .request_with_headers("t.sum", headers, r#"{"a":1,"b":2}"#.into())
        .await
        .unwrap();
    assert_eq!(
        raw.headers
            .unwrap()
            .get(kit_nats::ERROR_CLASS)
            .unwrap()
            .as_str(),
        "deadline_exceeded"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

/// Nobody serving the subject: the call fails with the unavailable class (NATS
/// says so at once), so a balancer retries elsewhere and a breaker counts it.
#[tokio::test]
async fn no_responders_is_unavailable() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let ctx = Context::new().with_timeout(Duration::from_secs(10));
    let err = client(&conn, "t.nobody")
        .oneshot(Request::new(ctx, Sum { a: 1, b: 2 }))
        .await
        .unwrap_err();
    assert_eq!(
        ErrorClass::of(&*err),
        ErrorClass::Unavailable { retry_after: None }
    );
    assert!(ErrorClass::of(&*err).is_retryable());
}

/// Three instances in one queue group share 60 calls; 200 concurrent calls all
/// get their own answers; a stopped instance's share moves to the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_group_shares_the_calls() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let counts: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
    let mut stops = Vec::new();
    for calls in &counts {
        stops.push(start(&nats, "t.sum", calls.clone()).await);
    }
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let sum = client(&conn, "t.sum");
    for i in 0..60 {
        let answer = sum
            .clone()
            .oneshot(Request::from_msg(Sum { a: i, b: 1 }))
            .await
            .unwrap();
        assert_eq!(answer.v, i + 1);
    }
    let shares: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(shares.iter().sum::<usize>(), 60);
    assert!(
        shares.iter().all(|n| *n > 0),
        "every instance served some: {shares:?}"
    );

    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let (sum, seen) = (sum.clone(), seen.clone());
            tokio::spawn(async move {
                let answer = sum
                    .oneshot(Request::from_msg(Sum { a: i, b: i }))
                    .await
                    .unwrap();
                seen.lock().unwrap().push((i, answer.v));
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(seen.len(), 200);
    assert!(seen.iter().all(|(i, v)| *v == 2 * i));

    // One instance stops: the others take its share.
    drop(stops.remove(0));
    let before: usize = counts[0].load(Ordering::SeqCst);
    // Its unsubscription reaches the server asynchronously: bounded retries.
    let mut moved = 0;
    for i in 0..200 {
        let ctx = Context::new().with_timeout(Duration::from_secs(5));
        if sum
            .clone()
            .oneshot(Request::new(ctx, Sum { a: i, b: 0 }))
            .await
            .is_ok()
            && counts[0].load(Ordering::SeqCst) == before
        {
            moved += 1;
        }
    }
    assert!(
        moved >= 150,
        "{moved} of 200 calls after the stop went to the others"
    );
}

/// The hooks: a before hook adds to the context from the message, an after
/// hook sets reply headers, a finalizer sees every reply, failures included;
/// the error handler is told of every error, a payload that does not decode
/// and a request without a reply subject (never served) among them.
#[tokio::test]
async fn before_after_and_finalizer_hooks_run_on_every_request() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let endpoint = endpoint_fn(|req: Request<Sum>| async move {
        if req.msg().a < 0 {
            return Err::<Answer, BoxError>(
                Classified::public(ErrorClass::InvalidArgument, "negative").into(),
            );
        }
        Ok(Answer {
            v: req.msg().a + req.msg().b,
            request_id: String::new(),
            budget_ms: 0,
            tenant: req.ctx().metadata().get("tenant").map(str::to_owned),
        })
    });
    let finalized = Arc::new(Mutex::new(Vec::new()));
    let seen = finalized.clone();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let errors = handled.clone();
    let server = Server::new(endpoint, json::decode_request, json::encode_response)
        .error_handler(move |ctx, err| {
            let id = ctx.request_id().map(|i| i.to_string()).unwrap_or_default();
            let class = ErrorClass::of(err).as_str();
            errors.lock().unwrap().push(format!("{id} {class}"));
        })
        .before(|msg, ctx| {
            let tenant = msg.headers.as_ref().and_then(|h| h.get("X-Tenant"));
            if let Some(tenant) = tenant {
                let _ = ctx.metadata_mut().insert("tenant", tenant.as_str());
            }
        })
        .after(|ctx, headers| {
            let tenant = ctx.metadata().get("tenant").unwrap_or("none").to_owned();
            headers.insert("Served-For", tenant.as_str());
        })
        .finalizer(move |ctx, reply| {
            let class = reply
                .headers
                .get(kit_nats::ERROR_CLASS)
                .map(|v| v.to_string());
            let id = ctx.request_id().map(|i| i.to_string()).unwrap_or_default();
            seen.lock().unwrap().push((id, class));
        });
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let routes: Vec<(String, Arc<dyn Handler>)> = vec![("t.hooks".into(), Arc::new(server))];
    let subscribed = subscribe(conn.clone(), "hooks", routes).await.unwrap();
    tokio::spawn(subscribed.serve(std::future::pending()));

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("X-Tenant", "acme");
    headers.insert("Kit-Request-Id", "hooks-1");
    let reply = conn
        .request_with_headers("t.hooks", headers, r#"{"a":1,"b":2}"#.into())
        .await
        .unwrap();
    let answer: Answer = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!((answer.v, answer.tenant.as_deref()), (3, Some("acme")));
    assert_eq!(
        reply
            .headers
            .as_ref()
            .unwrap()
            .get("Served-For")
            .unwrap()
            .as_str(),
        "acme"
    );

    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Kit-Request-Id", "hooks-2");
    let reply = conn
        .request_with_headers("t.hooks", headers, r#"{"a":-1,"b":2}"#.into())
        .await
        .unwrap();
    let headers = reply.headers.as_ref().unwrap();
    assert_eq!(headers.get("Served-For").unwrap().as_str(), "none");
    assert_eq!(
        *finalized.lock().unwrap(),
        [
            ("hooks-1".to_owned(), None),
            ("hooks-2".to_owned(), Some("invalid_argument".to_owned()))
        ]
    );

    // A publish (no reply subject), then a payload that does not decode: the
    // subscription handles its messages in order, so once the second is
    // answered the first has been seen.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Kit-Request-Id", "hooks-3");
    conn.publish_with_headers("t.hooks", headers, r#"{"a":1,"b":2}"#.into())
        .await
        .unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Kit-Request-Id", "hooks-4");
    let reply = conn
        .request_with_headers("t.hooks", headers, "{".into())
        .await
        .unwrap();
    let class = reply.headers.as_ref().unwrap().get(kit_nats::ERROR_CLASS);
    assert_eq!(class.unwrap().as_str(), "invalid_argument");
    assert_eq!(
        *handled.lock().unwrap(),
        [
            "hooks-2 invalid_argument",
            "hooks-3 invalid_argument",
            "hooks-4 invalid_argument"
        ]
    );
    assert_eq!(
        finalized.lock().unwrap().len(),
        3,
        "the publish got no reply"
    );
}

/// A member of the queue group that takes requests, never answers and leaves
/// (an instance dying with the calls it holds): with attempts and an attempt
/// timeout, every call moves on to a live instance and succeeds; without them,
/// the calls a silent member takes fail at their deadline.
#[tokio::test]
async fn retries_move_on_from_an_instance_that_never_answers() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let _live = start(&nats, "t.sum", calls.clone()).await;
    let black_hole = async_nats::connect(nats.url()).await.unwrap();
    let mut swallowed = black_hole
        .queue_subscribe("t.sum", "sums".to_owned())
        .await
        .unwrap();
    black_hole.flush().await.unwrap();
    let taken = Arc::new(AtomicUsize::new(0));
    let counter = taken.clone();
    // It dies (its subscription gone) once it holds a few calls.
    tokio::spawn(async move {
        while futures_util::StreamExt::next(&mut swallowed)
            .await
            .is_some()
        {
            if counter.fetch_add(1, Ordering::SeqCst) == 4 {
                let _ = swallowed.unsubscribe().await;
                let _ = black_hole.flush().await;
                break;
            }
        }
    });

    let conn = async_nats::connect(nats.url()).await.unwrap();
    let retrying = client(&conn, "t.sum")
        .attempts(3)
        .attempt_timeout(Duration::from_millis(100));
    let calls_made: Vec<_> = (0..40)
        .map(|i| {
            let sum = retrying.clone();
            tokio::spawn(async move {
                let ctx = Context::new().with_timeout(Duration::from_secs(5));
                sum.oneshot(Request::new(ctx, Sum { a: i, b: 1 })).await
            })
        })
        .collect();
    for (i, call) in calls_made.into_iter().enumerate() {
        let answer = call.await.unwrap().expect("every call succeeds");
        assert_eq!(answer.v, i as i64 + 1);
    }
    assert!(
        taken.load(Ordering::SeqCst) > 0,
        "the black hole took some calls"
    );

    // Another silent member, for calls without retries.
    let silent = async_nats::connect(nats.url()).await.unwrap();
    let _held = silent
        .queue_subscribe("t.sum", "sums".to_owned())
        .await
        .unwrap();
    silent.flush().await.unwrap();
    let plain = client(&conn, "t.sum");
    let mut failed = 0;
    for i in 0..20 {
        let ctx = Context::new().with_timeout(Duration::from_millis(150));
        if let Err(e) = plain
            .clone()
            .oneshot(Request::new(ctx, Sum { a: i, b: 1 }))
            .await
        {
            assert_eq!(ErrorClass::of(&*e), ErrorClass::DeadlineExceeded, "{e}");
            failed += 1;
        }
    }
    assert!(failed > 0, "without retries, the calls it takes are lost");
}

/// Shutdown stops taking requests but answers the one in flight: a call held in
/// the endpoint when `serve`'s shutdown fires still gets its reply, and `serve`
/// returns once it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_the_requests_in_flight() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let started = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let (s, r) = (started.clone(), release.clone());
    let held = endpoint_fn(move |req: Request<Sum>| {
        let (s, r) = (s.clone(), r.clone());
        async move {
            s.notify_one();
            r.notified().await;
            Ok::<_, BoxError>(Answer {
                v: req.msg().a + req.msg().b,
                request_id: String::new(),
                budget_ms: 0,
                tenant: None,
            })
        }
    });
    let routes: Vec<(String, Arc<dyn Handler>)> = vec![(
        "t.held".to_owned(),
        Arc::new(Server::new(
            held,
            json::decode_request,
            json::encode_response,
        )),
    )];
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Subscribed before the call: a request sent earlier would find no responder.
    let subscribed = subscribe(conn.clone(), "held", routes).await.unwrap();
    let served = tokio::spawn(subscribed.serve(async {
        let _ = stopped.await;
    }));
    let call = tokio::spawn(client_held(conn.clone()));
    tokio::time::timeout(Duration::from_secs(10), started.notified())
        .await
        .expect("the call reached the endpoint");
    stop.send(()).unwrap();
    release.notify_one();
    assert_eq!(call.await.unwrap().unwrap().v, 3);
    served.await.unwrap().unwrap();
}

async fn client_held(conn: async_nats::Client) -> Result<Answer, BoxError> {
    let held: Client<Sum, Answer> =
        Client::new(conn, "t.held", json::encode_request, json::decode_response);
    let ctx = Context::new().with_timeout(Duration::from_secs(10));
    held.oneshot(Request::new(ctx, Sum { a: 1, b: 2 })).await
}

/// Tells its channel when it is dropped: the endpoint's work went away.
struct DroppedGuard(Option<tokio::sync::oneshot::Sender<()>>);

impl Drop for DroppedGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// A caller that gives up (its call's future dropped) stops the server's
/// work: the client sends a cancellation on `kit.cancel.<subject>`, and the
/// server drops the endpoint's future at once, instead of at the end of the
/// call's 30 s budget. A call that does not give up is answered as before.
#[tokio::test]
async fn a_caller_giving_up_drops_the_servers_work() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let (dropped_tx, dropped) = tokio::sync::oneshot::channel();
    let dropped_tx = Arc::new(Mutex::new(Some(dropped_tx)));
    let held = endpoint_fn(move |req: Request<Sum>| {
        let (started, dropped) = (started_tx.clone(), dropped_tx.clone());
        async move {
            if req.msg().a == 0 {
                // Held until dropped.
                let _guard = DroppedGuard(dropped.lock().unwrap().take());
                let _ = started.send(());
                std::future::pending::<()>().await;
            }
            Ok::<_, BoxError>(Answer {
                v: req.msg().a + req.msg().b,
                request_id: String::new(),
                budget_ms: 0,
                tenant: None,
            })
        }
    });
    let server = Server::new(held, json::decode_request, json::encode_response);
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let routes: Vec<(String, Arc<dyn Handler>)> = vec![("t.held".into(), Arc::new(server))];
    let subscribed = subscribe(conn.clone(), "held", routes).await.unwrap();
    tokio::spawn(subscribed.serve(std::future::pending()));

    let call = client(&conn, "t.held").oneshot(Request::new(
        Context::new().with_timeout(Duration::from_secs(30)),
        Sum { a: 0, b: 0 },
    ));
    let caller = tokio::spawn(call);
    started.recv().await.unwrap();
    caller.abort(); // the caller gives up
    tokio::time::timeout(Duration::from_secs(10), dropped)
        .await
        .expect("the server dropped the endpoint's work")
        .unwrap();

    let answer = client(&conn, "t.held")
        .oneshot(Request::from_msg(Sum { a: 1, b: 2 }))
        .await
        .unwrap();
    assert_eq!(answer.v, 3, "the next call is served");
}

/// Over nats-server's own TLS, with client certificates required: kit's
/// endpoints answer through a TLS connection; a client without a certificate,
/// or trusting another CA, cannot connect; plain text is refused.
#[cfg(feature = "tls")]
#[tokio::test]
async fn calls_cross_a_nats_server_that_requires_mutual_tls() {
    use kit_endpoint::tls::{ClientTls, Trust};

    let pki = kit_tests::pki::Pki::new();
    let (cert, key) = pki.server("localhost");
    let ca = pki.ca();
    let Some(nats) = Nats::start_tls(&cert, &key, Some(&ca)).await else {
        return;
    };
    assert!(nats.url().starts_with("tls://"));
    let (client_cert, client_key) = pki.client("spiffe://kit.test/addsvc");
    let tls = ClientTls::new(Trust::CaFile(ca.clone()), Some((&client_cert, &client_key))).unwrap();

    let server_conn = kit_nats::connect_tls(&nats.url(), &tls).await.unwrap();
    let routes = vec![("tls.sum".to_owned(), sum_server(Arc::default()))];
    let subscribed = subscribe(server_conn, "sums", routes).await.unwrap();
    tokio::spawn(subscribed.serve(std::future::pending()));

    let conn = kit_nats::connect_tls(&nats.url(), &tls).await.unwrap();
    let ctx = Context::new().with_timeout(Duration::from_secs(5));
    let answer = client(&conn, "tls.sum")
        .oneshot(Request::new(ctx, Sum { a: 20, b: 22 }))
        .await
        .unwrap();
    assert_eq!(answer.v, 42);

    let no_cert = ClientTls::new(Trust::CaFile(ca.clone()), None).unwrap();
    assert!(kit_nats::connect_tls(&nats.url(), &no_cert).await.is_err());
    let wrong_ca = ClientTls::new(
        Trust::CaFile(pki.other_ca()),
        Some((&client_cert, &client_key)),
    )
    .unwrap();
    assert!(kit_nats::connect_tls(&nats.url(), &wrong_ca).await.is_err());
    let plain = nats.url().replace("tls://", "nats://");
    assert!(async_nats::connect(plain).await.is_err());
}

/// A call's own credentials cross as the `Authorization` header and reach the
/// server's context as the caller's credentials (kit-auth verifies them
/// there); the caller's incoming credentials are never sent on.
#[tokio::test]
async fn call_credentials_cross_as_the_authorization_header() {
    let Some(nats) = Nats::start().await else {
        return;
    };
    let seen = endpoint_fn(|req: Request<Sum>| async move {
        // What arrived, sent back in the answer's `request_id` field.
        let credentials = req.ctx().credentials().map(|c| c.as_str().to_owned());
        Ok::<_, BoxError>(Answer {
            v: 0,
            request_id: credentials.unwrap_or_else(|| "none".into()),
            budget_ms: 0,
            tenant: None,
        })
    });
    let server: Arc<dyn Handler> = Arc::new(Server::new(
        seen,
        json::decode_request,
        json::encode_response,
    ));
    let conn = async_nats::connect(nats.url()).await.unwrap();
    let subscribed = subscribe(
        conn.clone(),
        "creds",
        vec![("creds.echo".to_owned(), server)],
    )
    .await
    .unwrap();
    tokio::spawn(subscribed.serve(std::future::pending()));
    let call =
        |ctx: Context| client(&conn, "creds.echo").oneshot(Request::new(ctx, Sum { a: 1, b: 2 }));

    let mut ctx = Context::new().with_timeout(Duration::from_secs(5));
    ctx.set_call_credentials(kit_endpoint::Credentials::bearer_token("abc"));
    assert_eq!(call(ctx).await.unwrap().request_id, "Bearer abc");
    // Incoming credentials of this caller are not call credentials.
    let mut ctx = Context::new().with_timeout(Duration::from_secs(5));
    ctx.set_credentials(kit_endpoint::Credentials::bearer_token("callers-own"));
    assert_eq!(call(ctx).await.unwrap().request_id, "none");
}
