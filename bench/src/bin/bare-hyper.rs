//! Run with: cargo run --release -p kit-bench --bin bare-hyper -- 127.0.0.1:0
//!
//! The baseline of the load benchmark: addsvc's `POST /sum` JSON work
//! ([`kit_bench::sum`]) on bare hyper, with nothing else: no routing table, no
//! context, no limits, no middleware.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("bare-hyper http=http://{}", listener.local_addr()?);
    kit_bench::serve_bare(listener).await
}
