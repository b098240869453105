//! Run with: cargo run -p addsvc
//!
//! Flags (and env vars): `--http-addr` (ADDSVC_HTTP_ADDR, default 127.0.0.1:8081),
//! `--debug-addr` (ADDSVC_DEBUG_ADDR, default 127.0.0.1:9081), `--stringsvc`
//! (ADDSVC_STRINGSVC, e.g. http://127.0.0.1:8082; without it stringsvc runs in-process).

use std::net::SocketAddr;

use addsvc::endpoint::Set;
use addsvc::service::BasicService;
use addsvc::transport;
use clap::Parser;
use http::{Method, Uri};
use kit_transport::{Health, Router, pooled, serve, shutdown_signal};
use tokio::net::TcpListener;

/// addsvc: sums and concatenations over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "ADDSVC_HTTP_ADDR", default_value = "127.0.0.1:8081")]
    http_addr: SocketAddr,
    /// Address of the debug listener (/health).
    #[arg(long, env = "ADDSVC_DEBUG_ADDR", default_value = "127.0.0.1:9081")]
    debug_addr: SocketAddr,
    /// Base URL of a stringsvc to call; without it, stringsvc runs in-process.
    #[arg(long, env = "ADDSVC_STRINGSVC")]
    stringsvc: Option<Uri>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();

    // The dependency: a stringsvc, remote or embedded. Both are a stringsvc `Set`,
    // and addsvc's domain sees only the `StringService` trait.
    let strings = match &args.stringsvc {
        Some(url) => stringsvc::transport::http::client_set(pooled(), url)?,
        None => stringsvc::endpoint::Set::new(stringsvc::service::BasicService),
    };

    // The onion, from the inside out. Requests meet these layers in reverse order.
    let service = BasicService::new(strings); // 1. the domain
    let endpoints = Set::new(service); // 2. endpoints, with their middlewares (deadline)
    let api = transport::http::router(endpoints); // 3. the HTTP transport
    let debug = Router::new().route_service(Method::GET, "/health", Health);

    let api_listener = TcpListener::bind(args.http_addr).await?;
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    match &args.stringsvc {
        Some(url) => println!("addsvc stringsvc={url}"),
        None => println!("addsvc stringsvc=embedded"),
    }
    // Tests and scripts read these lines to find the ports (useful with port 0).
    println!("addsvc http=http://{}", api_listener.local_addr()?);
    println!("addsvc debug=http://{}", debug_listener.local_addr()?);

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));
    serve(api_listener, api, shutdown_signal()).await?;
    println!("addsvc stopped");
    Ok(())
}
