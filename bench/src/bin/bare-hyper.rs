//! Run with: cargo run --release -p kit-bench --bin bare-hyper -- 127.0.0.1:0
//!
//! The baseline of the load benchmark: addsvc's `POST /sum` JSON work
//! ([`kit_bench::sum`]) on bare hyper, with nothing else: no routing table, no
//! context, no limits, no middleware.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = kit_bench::listen("bare-hyper", std::env::args().nth(1)).await?;
    kit_bench::serve_bare(listener).await
}
