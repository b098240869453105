//! Run with: cargo run --release -p kit-bench --bin padded -- compact|spread 127.0.0.1:0
//!
//! A calibration of the host for the load benchmark: bare-hyper's handler
//! ([`kit_bench::sum`]) with a fixed amount of extra work per request
//! ([`kit_bench::padding`]), either compact or spread over ~30 KiB of code.
//! Beside bare hyper (`PADDED=1 bash bench/load.sh`), the two tell what extra
//! instructions cost on this host, and what extra code costs on top of them.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let shape: kit_bench::padding::Shape = match args.next().as_deref().map(str::parse) {
        Some(Ok(shape)) => shape,
        Some(Err(e)) => {
            eprintln!("padded: {e}");
            std::process::exit(2);
        }
        None => {
            eprintln!("usage: padded compact|spread [ADDR]");
            std::process::exit(2);
        }
    };
    let listener = kit_bench::listen("padded", args.next()).await?;
    kit_bench::serve_padded(listener, shape).await
}
