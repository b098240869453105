//! Run with: cargo run --release -p kit-bench --bin bare-batched -- 127.0.0.1:0
//!
//! A calibration for the load benchmark (`BATCHED=1 bash bench/load.sh`): the
//! `bare-hyper` baseline with each connection in kit's `BatchedIo`, what kit's
//! batched answers (`ServeConfig::batch_answers`) would give bare hyper. A
//! binary of its own, so that bare hyper's stays as it was.

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("bare-batched http=http://{}", listener.local_addr()?);
    kit_bench::serve_bare_batched(listener).await
}
