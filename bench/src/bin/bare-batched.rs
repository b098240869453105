//! Run with: cargo run --release -p kit-bench --bin bare-batched -- 127.0.0.1:0
//!
//! A calibration for the load benchmark (`BATCHED=1 bash bench/load.sh`): the
//! `bare-hyper` baseline with each connection in kit's `BatchedIo`, what kit's
//! batched answers (`ServeConfig::batch_answers`) would give bare hyper. A
//! binary of its own, so that bare hyper's stays as it was.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = kit_bench::listen("bare-batched", std::env::args().nth(1)).await?;
    kit_bench::serve_bare_batched(listener).await
}
