//! Throughput under load, in the same run: the same `sum` endpoint served by
//! kit-grpc, by a bare tonic method (the same codec, no kit: what generated
//! code does), and by kit's HTTP transport; each server on a tokio runtime of
//! one thread (one core), called by 32 concurrent callers for 5 s (gRPC over
//! one HTTP/2 connection, HTTP over pooled keep-alive connections).
//!
//! Run with: cargo bench -p kit-grpc --bench load   (`KIT_LOAD_SECS` changes the 5 s)

#![allow(missing_docs)]

use std::convert::Infallible;
use std::future::Future;

use http::Method;
use kit_endpoint::{BoxError, Context, Failer, Request, endpoint_fn};
use kit_tests::load::measure;
use tower::ServiceExt;

#[derive(Clone, PartialEq, prost::Message)]
struct SumRequest {
    #[prost(int64, tag = "1")]
    a: i64,
    #[prost(int64, tag = "2")]
    b: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SumResponse {
    #[prost(int64, tag = "1")]
    v: i64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Sum {
    a: i64,
    b: i64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct V {
    v: i64,
}

impl Failer for V {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

const CALLERS: usize = 32;
const PATH: &str = "/bench.Add/Sum";

/// The bare tonic method: the sum, straight from the message.
#[derive(Clone)]
struct BareSum;

impl tower::Service<tonic::Request<SumRequest>> for BareSum {
    type Response = tonic::Response<SumResponse>;
    type Error = tonic::Status;
    type Future = std::future::Ready<Result<Self::Response, tonic::Status>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), tonic::Status>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: tonic::Request<SumRequest>) -> Self::Future {
        let m = req.into_inner();
        std::future::ready(Ok(tonic::Response::new(SumResponse { v: m.a + m.b })))
    }
}

async fn grpc_server(router: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("an address");
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(tonic::service::Routes::from(router))
            .serve_with_incoming(incoming),
    );
    addr
}

fn grpc_caller(
    addr: std::net::SocketAddr,
) -> impl Fn(u64) -> std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>> + Clone {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a URL")
        .connect_lazy();
    let client = kit_grpc::Client::new(
        channel,
        PATH,
        |(a, b): (i64, i64)| Ok(SumRequest { a, b }),
        |m: SumResponse| Ok(m.v),
    );
    move |i: u64| {
        let (client, i) = (client.clone(), i as i64);
        Box::pin(async move {
            let v = client.oneshot(Request::from_msg((i, 1))).await?;
            assert_eq!(v, i + 1);
            Ok(())
        })
    }
}

fn main() {
    let secs = kit_tests::load::secs();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let server_rt = kit_tests::load::one_core_runtime();

    clients.block_on(async {
        println!("{CALLERS} concurrent callers, {secs} s each; servers on one thread");
        // Bare tonic.
        let bare = server_rt
            .spawn(async {
                let method = tower::service_fn(|req: http::Request<axum::body::Body>| async move {
                    let codec = tonic_prost::ProstCodec::<SumResponse, SumRequest>::default();
                    let mut grpc = tonic::server::Grpc::new(codec);
                    Ok::<_, Infallible>(grpc.unary(BareSum, req).await)
                });
                grpc_server(axum::Router::new().route_service(PATH, method)).await
            })
            .await
            .expect("bare tonic starts");
        let bare_rate = measure("bare tonic method", CALLERS, secs, grpc_caller(bare)).await;

        // kit-grpc around a kit endpoint.
        let kit = server_rt
            .spawn(async {
                let sum = endpoint_fn(|req: Request<(i64, i64)>| async move {
                    Ok::<_, BoxError>(V {
                        v: req.msg().0 + req.msg().1,
                    })
                });
                let server = kit_grpc::Server::new(
                    sum,
                    |m: SumRequest| Ok((m.a, m.b)),
                    |_: &Context, r: V| Ok(SumResponse { v: r.v }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("binds");
                let addr = listener.local_addr().expect("an address");
                let router = kit_grpc::Router::new().unary(PATH, server);
                tokio::spawn(kit_grpc::serve(listener, router, std::future::pending()));
                addr
            })
            .await
            .expect("kit-grpc starts");
        let kit_rate = measure(
            "kit-grpc (Server around an endpoint)",
            CALLERS,
            secs,
            grpc_caller(kit),
        )
        .await;

        // kit's HTTP transport, for scale.
        let http_addr = server_rt
            .spawn(async {
                let sum = endpoint_fn(|req: Request<Sum>| async move {
                    Ok::<_, BoxError>(V {
                        v: req.msg().a + req.msg().b,
                    })
                });
                let router = kit_transport::Router::new().route(
                    Method::POST,
                    "/sum",
                    kit_transport::Server::new(
                        sum,
                        kit_transport::json::decode_request,
                        kit_transport::json::encode_response,
                    ),
                );
                let (addr, task) = kit_transport::serve_loopback(router).await.expect("serves");
                std::mem::forget(task);
                addr
            })
            .await
            .expect("HTTP starts");
        let uri: http::Uri = format!("http://{http_addr}/sum").parse().expect("a URI");
        let http = kit_transport::Client::new(
            kit_transport::pooled(),
            Method::POST,
            uri,
            kit_transport::json::encode_request::<Sum>,
            kit_transport::json::decode_response::<V>,
        );
        let http_rate = measure(
            "kit HTTP (same endpoint, JSON)",
            CALLERS,
            secs,
            move |i: u64| {
                let i = i as i64;
                let http = http.clone();
                async move {
                    let v = http.oneshot(Request::from_msg(Sum { a: i, b: 1 })).await?;
                    assert_eq!(v.v, i + 1);
                    Ok(())
                }
            },
        )
        .await;
        println!("kit-grpc / bare tonic: {:.2}x", kit_rate / bare_rate);
        println!("kit-grpc / kit HTTP:   {:.2}x", kit_rate / http_rate);
    });
}
