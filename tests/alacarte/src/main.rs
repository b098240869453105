//! A circuit breaker around an endpoint, with kit-circuitbreaker alone.
//!
//! Run with: cargo run --manifest-path tests/alacarte/Cargo.toml

use std::time::Duration;

use kit_circuitbreaker::{CircuitBreakerLayer, Open, backoff, failure_policy};
use kit_endpoint::{BoxError, Request, endpoint_fn, is_caused_by};
use tower::{Layer, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let policy =
        failure_policy::consecutive_failures(3, backoff::constant(Duration::from_secs(10)));
    let flaky = endpoint_fn(|_req: Request<()>| async { Err::<(), BoxError>("refused".into()) });
    let ep = CircuitBreakerLayer::new(policy).layer(flaky);
    for _ in 0..3 {
        let err = ep.clone().oneshot(Request::from_msg(())).await.unwrap_err();
        assert_eq!(err.to_string(), "refused");
    }
    let err = ep.oneshot(Request::from_msg(())).await.unwrap_err();
    assert!(is_caused_by::<Open>(&*err));
    println!("open after 3 failures: {err}");
}
