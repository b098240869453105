//! Run with: `cargo run --release -p kit-bench --bin bare-tls -- CERT.pem KEY.pem [ADDR]`
//!
//! The baseline of the TLS benchmark (`bench/tls.sh`): bare hyper's handler
//! ([`kit_bench::sum`]) over tokio-rustls with rustls' defaults on ring, TLS
//! 1.2 and 1.3, HTTP/1.1: no handshake timeout, no connection cap, no
//! rotation, no context, no middleware.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (cert, key) = (
        args.next().expect("CERT.pem"),
        args.next().expect("KEY.pem"),
    );
    let listener = kit_bench::listen("bare-tls", args.next()).await?;
    kit_bench::serve_bare_tls(listener, cert.as_ref(), key.as_ref()).await?;
    Ok(())
}
