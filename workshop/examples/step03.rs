//! The service as it stands after step 3, on 127.0.0.1:8081 (or the address
//! given as its argument); ctrl-c stops it:
//!
//! ```sh
//! cargo run -p kit-workshop --example step03            # or: -- 127.0.0.1:9000
//! curl -s -XPOST -H 'content-type: application/json' -d '{"a":1,"b":2}' localhost:8081/sum
//! ```

use kit_transport::{serve, shutdown_signal};
use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s03_http::router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1);
    let addr = addr.as_deref().unwrap_or("127.0.0.1:8081");
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    serve(listener, router(Set::new(BasicService)), shutdown_signal()).await
}
