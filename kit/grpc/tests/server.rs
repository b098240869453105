//! kit-grpc in process over a real HTTP/2 listener: the hooks run on every
//! call (before feeds the context, after sets response metadata, finalizers
//! see ok and errors), and error classes map to status codes and back.

use std::sync::{Arc, Mutex};

use kit_endpoint::{BoxError, Classified, ErrorClass, Failer, Request, endpoint_fn};
use kit_grpc::{Client, Code, Router, Server, class_code, code_class, serve};
use tower::{Service, ServiceExt};

#[derive(Clone, PartialEq, prost::Message)]
struct Num {
    #[prost(int64, tag = "1")]
    v: i64,
}

struct V(i64);

impl Failer for V {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// Serves `router` on a free loopback port: its address, and a channel to it.
async fn served(router: Router) -> (std::net::SocketAddr, tonic::transport::Channel) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, router, std::future::pending()));
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_lazy();
    (addr, channel)
}

#[tokio::test]
async fn hooks_run_on_every_call() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let finalized = seen.clone();
    let double = endpoint_fn(|req: Request<i64>| async move {
        let tenant = req
            .ctx()
            .metadata()
            .get("tenant")
            .unwrap_or("none")
            .to_owned();
        if *req.msg() < 0 {
            let refused = Classified::public(ErrorClass::InvalidArgument, "negative");
            return Err::<V, BoxError>(refused.into());
        }
        Ok(V(req.msg() * if tenant == "acme" { 2 } else { 1 }))
    });
    let server = Server::new(double, |m: Num| Ok(m.v), |_, v: V| Ok(Num { v: v.0 }))
        .before(|md, ctx| {
            if let Some(t) = md.get("x-tenant").and_then(|v| v.to_str().ok()) {
                let _ = ctx.metadata_mut().insert("tenant", t);
            }
        })
        .after(|_, md| {
            md.insert("x-served-by", "kit".parse().unwrap());
        })
        .finalizer(move |ctx, out| {
            let id = ctx.request_id().map(|i| i.to_string()).unwrap_or_default();
            finalized
                .lock()
                .unwrap()
                .push((id, out.err().map(|s| s.code())));
        });
    let (_, channel) = served(Router::new().unary("/t.T/Double", server)).await;

    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.unwrap();
    let mut req = tonic::Request::new(Num { v: 21 });
    req.metadata_mut()
        .insert("x-tenant", "acme".parse().unwrap());
    req.metadata_mut()
        .insert("x-request-id", "hook-1".parse().unwrap());
    let path = http::uri::PathAndQuery::from_static("/t.T/Double");
    let codec = tonic_prost::ProstCodec::<Num, Num>::default();
    let resp = grpc.unary(req, path, codec).await.unwrap();
    assert_eq!(resp.get_ref().v, 42, "the before hook fed the context");
    assert_eq!(resp.metadata().get("x-served-by").unwrap(), "kit");
    assert_eq!(resp.metadata().get("x-request-id").unwrap(), "hook-1");

    let client = Client::new(
        channel,
        "/t.T/Double",
        |v: i64| Ok(Num { v }),
        |m: Num| Ok(m.v),
    );
    let err = client.oneshot(Request::from_msg(-1)).await.unwrap_err();
    assert_eq!(
        ErrorClass::of(&*err),
        ErrorClass::Upstream { caller_fault: true },
        "the callee's invalid argument is the caller's upstream fault"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0], ("hook-1".to_owned(), None));
    assert_eq!(seen[1].1, Some(Code::InvalidArgument));
}

#[test]
fn every_class_has_one_code_and_comes_back_as_the_caller_sees_it() {
    let classes = [
        ErrorClass::InvalidArgument,
        ErrorClass::NotFound,
        ErrorClass::ResourceExhausted { retry_after: None },
        ErrorClass::Unavailable { retry_after: None },
        ErrorClass::DeadlineExceeded,
        ErrorClass::Cancelled,
        ErrorClass::Unimplemented,
        ErrorClass::Upstream { caller_fault: true },
        ErrorClass::Upstream {
            caller_fault: false,
        },
        ErrorClass::Internal,
    ];
    let codes: Vec<Code> = classes.iter().map(|c| class_code(*c)).collect();
    let mut distinct = codes.clone();
    distinct.sort_by_key(|c| *c as i32);
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        classes.len(),
        "one code per class: {codes:?}"
    );
    for class in classes {
        assert_eq!(
            code_class(class_code(class)),
            class.upstream(),
            "{class:?} round-trips as the caller sees it"
        );
    }
}

/// A request message of any size (field 1, bytes).
#[derive(Clone, PartialEq, prost::Message)]
struct Blob {
    #[prost(bytes = "vec", tag = "1")]
    b: Vec<u8>,
}

/// Calls that break gRPC's conventions get the conventional answers, and
/// the endpoint never runs for them: an unknown method `UNIMPLEMENTED`, a
/// message over the size limit `RESOURCE_EXHAUSTED`, a malformed
/// `grpc-timeout` `INVALID_ARGUMENT` (told to the error handler), a
/// `content-type` that is not gRPC's HTTP 415.
#[tokio::test]
async fn calls_that_break_the_conventions_get_the_conventional_codes() {
    let calls = Arc::new(Mutex::new(0));
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (count, errors) = (calls.clone(), handled.clone());
    let double = endpoint_fn(move |req: Request<i64>| {
        *count.lock().unwrap() += 1;
        async move { Ok::<_, BoxError>(V(req.msg() * 2)) }
    });
    let server = Server::new(double, |m: Num| Ok(m.v), |_, v: V| Ok(Num { v: v.0 }))
        .error_handler(move |_, err| errors.lock().unwrap().push(err.to_string()));
    let (addr, channel) = served(Router::new().unary("/t.T/Double", server)).await;
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    let call = |grpc: &mut tonic::client::Grpc<tonic::transport::Channel>,
                path: &'static str,
                req: tonic::Request<Blob>| {
        let path = http::uri::PathAndQuery::from_static(path);
        let codec = tonic_prost::ProstCodec::<Blob, Num>::default();
        let mut grpc = grpc.clone();
        async move {
            grpc.ready().await.unwrap();
            grpc.unary(req, path, codec).await.map(|r| r.into_inner().v)
        }
    };

    // The same call, well formed, works (field 1 as bytes is not an int64: use
    // an empty message, v = 0).
    let ok = call(
        &mut grpc,
        "/t.T/Double",
        tonic::Request::new(Blob::default()),
    )
    .await;
    assert_eq!(ok.unwrap(), 0);

    let unknown = call(&mut grpc, "/t.T/Nope", tonic::Request::new(Blob::default())).await;
    assert_eq!(unknown.unwrap_err().code(), Code::Unimplemented);
    let service = call(&mut grpc, "/u.U/Nope", tonic::Request::new(Blob::default())).await;
    assert_eq!(service.unwrap_err().code(), Code::Unimplemented);

    let huge = Blob {
        b: vec![7; 4 * 1024 * 1024 + 1],
    };
    let too_large = call(&mut grpc, "/t.T/Double", tonic::Request::new(huge)).await;
    assert_eq!(too_large.unwrap_err().code(), Code::ResourceExhausted);

    for bad in ["-1S", "abc", "123456789S", "5x"] {
        let mut req = tonic::Request::new(Blob::default());
        req.metadata_mut()
            .insert("grpc-timeout", bad.parse().unwrap());
        let refused = call(&mut grpc, "/t.T/Double", req).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{bad}");
        assert!(refused.message().contains("grpc-timeout"), "{refused:?}");
    }

    let mut raw = channel.clone();
    let req = http::Request::post(format!("http://{addr}/t.T/Double"))
        .header("content-type", "application/json")
        .header("te", "trailers")
        .body(tonic::body::Body::empty())
        .unwrap();
    let resp = raw.ready().await.unwrap().call(req).await.unwrap();
    assert_eq!(resp.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(*calls.lock().unwrap(), 1, "only the well-formed call ran");
    let handled = handled.lock().unwrap();
    assert_eq!(handled.len(), 4, "{handled:?}");
    assert!(handled.iter().all(|h| h.contains("grpc-timeout")));
}
