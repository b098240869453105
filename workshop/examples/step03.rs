//! The service as it stands after step 3, on 127.0.0.1:8081:
//!
//! ```sh
//! cargo run -p kit-workshop --example step03
//! curl -s -XPOST -H 'content-type: application/json' -d '{"a":1,"b":2}' localhost:8081/sum
//! ```

use kit_transport::{serve, shutdown_signal};
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s03_http::router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, router(Set::new(BasicService)), shutdown_signal()).await
}
