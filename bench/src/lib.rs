//! The load benchmark's baseline handler: addsvc's `POST /sum` JSON work (read
//! the body, decode `{"a","b"}`, encode `{"v"}`) with nothing else, shared by
//! the `bare-hyper` and `serve-only` binaries so both do exactly the same work;
//! bare hyper serving it ([`serve_bare`]), for the `bare-hyper` binary and the
//! allocation count; and addsvc's API router as its binary builds it by default
//! ([`addsvc_api`]), for the allocation count and the in-process stack benchmark.

pub mod padding;

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct SumRequest {
    a: i64,
    b: i64,
}

#[derive(Serialize)]
struct SumResponse {
    v: i64,
}

/// Answers `{"v": a + b}` for a `{"a", "b"}` body; `400` if it does not decode.
pub async fn sum<B: Body>(req: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    let Ok(SumRequest { a, b }) = serde_json::from_slice(&body) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let Ok(out) = serde_json::to_vec(&SumResponse {
        v: a.wrapping_add(b),
    }) else {
        return Ok(status(StatusCode::INTERNAL_SERVER_ERROR));
    };
    let mut resp = Response::new(Full::new(Bytes::from(out)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// A listener on `addr` (default `127.0.0.1:0`), announced on stdout as
/// `NAME http=http://ADDR`, the line `bench/load.sh` waits for; from then on
/// SIGTERM ends the process through `exit` (so that a profiling build writes
/// its profile, see `bench/pgo.sh`).
pub async fn listen(name: &str, addr: Option<String>) -> std::io::Result<tokio::net::TcpListener> {
    let addr = addr.unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    // SIGTERM ends the process through `exit` rather than the signal's default
    // action: a build made to collect a profile (bench/pgo.sh) writes it then.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        term.recv().await;
        std::process::exit(0);
    });
    println!("{name} http=http://{}", listener.local_addr()?);
    Ok(listener)
}

/// Serves [`sum`] on bare hyper (HTTP/1.1, `TCP_NODELAY`) to every connection
/// `listener` accepts: the load benchmark's baseline server.
pub async fn serve_bare(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_handler(listener, std::convert::identity, sum).await
}

/// [`serve_bare`] over TLS: tokio-rustls with rustls' defaults (ring, TLS 1.2
/// and 1.3), the certificate chain of `cert` and the key of `key` (PEM),
/// ALPN `http/1.1`. The TLS benchmark's baseline (`bin/bare-tls.rs`).
pub async fn serve_bare_tls(
    listener: tokio::net::TcpListener,
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use rustls_pki_types::pem::PemObject;
    let chain =
        rustls_pki_types::CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(key)?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    hyper_util::rt::TokioIo::new(tls),
                    hyper::service::service_fn(sum),
                )
                .await;
        });
    }
}

/// [`serve_bare`] with each connection in kit's
/// [`BatchedIo`](kit_transport::BatchedIo): the `bare-batched` binary, a
/// calibration (what batched answers give bare hyper).
pub async fn serve_bare_batched(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_handler(listener, |s| kit_transport::BatchedIo::new(s, true), sum).await
}

/// [`serve_bare`] with [`padding::pad`] run before each request: the `padded`
/// binary, a calibration of the host (see its docs).
pub async fn serve_padded(
    listener: tokio::net::TcpListener,
    shape: padding::Shape,
) -> std::io::Result<()> {
    serve_handler(listener, std::convert::identity, move |req| {
        std::hint::black_box(padding::pad(shape));
        sum(req)
    })
    .await
}

/// Serves `handler` on bare hyper (HTTP/1.1, `TCP_NODELAY`) to every connection
/// `listener` accepts, each connection's stream wrapped by `wrap` (bare hyper:
/// [`std::convert::identity`]).
async fn serve_handler<W, I, H, F>(
    listener: tokio::net::TcpListener,
    wrap: W,
    handler: H,
) -> std::io::Result<()>
where
    W: Fn(tokio::net::TcpStream) -> I,
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<hyper::body::Incoming>) -> F + Copy + Send + 'static,
    F: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let io = wrap(stream);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    hyper_util::rt::TokioIo::new(io),
                    hyper::service::service_fn(handler),
                )
                .await;
        });
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = code;
    resp
}

/// addsvc's API as its binary builds it by default (embedded stringsvc): the
/// logfmt line per call through an async sink writing to `io::sink()`, RED, USE
/// and HTTP metrics on a Prometheus exporter, request ID, deadline. The
/// exporter is returned so that the caller can render the metrics.
pub fn addsvc_api() -> (
    kit_transport::Router,
    std::sync::Arc<kit_metrics::prometheus::Exporter>,
) {
    use addsvc::endpoint::Set;
    use addsvc::service::{BasicService, LoggingMiddleware};
    use service_stack::Middlewares;
    use std::sync::Arc;
    let sink = Arc::new(kit_log::AsyncSink::new(std::io::sink()));
    let logger = kit_log::logger(kit_log::Format::Logfmt, slog::Level::Info, sink)
        .new(slog::o!("svc" => "addsvc"));
    let exporter = Arc::new(kit_metrics::prometheus::Exporter::new());
    let strings = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
    let service = LoggingMiddleware::new(logger.clone(), BasicService::new(strings));
    let endpoints = Set::instrumented(
        service,
        // The call's line says transport=HTTP from its context.
        &Middlewares::new(logger.clone(), exporter.recorder()),
    );
    let api = service_stack::observed(
        addsvc::transport::http::router_with(endpoints, &service_stack::Limits::default()),
        logger.new(slog::o!("transport" => "HTTP")),
        kit_metrics::HttpMetrics::new(exporter.shared_recorder()),
    );
    (api, exporter)
}
