//! Run with: cargo run --release -p kit-bench --bin serve-only
//!
//! The second baseline of the load benchmark: bare-hyper's handler
//! ([`kit_bench::sum`]) served by kit's `serve` and `Router` instead of a bare
//! hyper connection loop. Against bare-hyper it measures what kit's serving
//! layer costs (connection handling, header read timeout, drain, routing, a boxed
//! request body); against addsvc, what kit's server and endpoint stack cost.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = kit_bench::listen("serve-only", None).await?;
    let router = kit_transport::Router::new().route_service(
        http::Method::POST,
        "/sum",
        tower::service_fn(kit_bench::sum::<kit_transport::BoxBody>),
    );
    kit_transport::serve(listener, router, std::future::pending()).await
}
