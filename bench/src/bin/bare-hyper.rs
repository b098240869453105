//! Run with: cargo run --release -p kit-bench --bin bare-hyper -- 127.0.0.1:0
//!
//! The baseline of the load benchmark: addsvc's `POST /sum` JSON work
//! ([`kit_bench::sum`]) on bare hyper, with nothing else: no routing table, no
//! context, no limits, no middleware.

use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("bare-hyper http=http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    hyper::service::service_fn(kit_bench::sum),
                )
                .await;
        });
    }
}
