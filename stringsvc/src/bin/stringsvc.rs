//! Run with: cargo run -p stringsvc -- --http-addr 127.0.0.1:8082 --debug-addr 127.0.0.1:9082

use std::net::SocketAddr;

use clap::Parser;
use http::Method;
use kit_transport::{Health, Router, serve, shutdown_signal};
use stringsvc::endpoint::Set;
use stringsvc::service::{BasicService, Validating};
use stringsvc::transport;
use tokio::net::TcpListener;

/// stringsvc: uppercases and counts strings over HTTP.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the HTTP API.
    #[arg(long, env = "STRINGSVC_HTTP_ADDR", default_value = "127.0.0.1:8082")]
    http_addr: SocketAddr,
    /// Address of the debug listener (/health).
    #[arg(long, env = "STRINGSVC_DEBUG_ADDR", default_value = "127.0.0.1:9082")]
    debug_addr: SocketAddr,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();

    // The onion, from the inside out. Requests meet these layers in reverse order.
    let service = BasicService; // 1. the domain
    let service = Validating::new(service); // 2. service middleware: input limits
    let endpoints = Set::new(service); // 3. endpoints, with their middlewares (deadline)
    let api = transport::http::router(endpoints); // 4. the HTTP transport
    let debug = Router::new().route_service(Method::GET, "/health", Health);

    let api_listener = TcpListener::bind(args.http_addr).await?;
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    // Tests and scripts read these lines to find the ports (useful with port 0).
    println!("stringsvc http=http://{}", api_listener.local_addr()?);
    println!("stringsvc debug=http://{}", debug_listener.local_addr()?);

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));
    serve(api_listener, api, shutdown_signal()).await?;
    println!("stringsvc stopped");
    Ok(())
}
