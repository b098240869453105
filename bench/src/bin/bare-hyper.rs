//! Run with: cargo run --release -p kit-bench --bin bare-hyper -- 127.0.0.1:0 [batched]
//!
//! The baseline of the load benchmark: addsvc's `POST /sum` JSON work
//! ([`kit_bench::sum`]) on bare hyper, with nothing else: no routing table, no
//! context, no limits, no middleware. With `batched`, a calibration: the same
//! with each connection in kit's `BatchedIo` (what kit's batched answers would
//! give bare hyper; `BATCHED=1 bash bench/load.sh`).

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("bare-hyper http=http://{}", listener.local_addr()?);
    match std::env::args().nth(2).as_deref() {
        None => kit_bench::serve_bare(listener).await,
        Some("batched") => kit_bench::serve_bare_batched(listener).await,
        Some(other) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("unknown mode {other:?}: expected `batched` or nothing"),
        )),
    }
}
