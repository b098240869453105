//! In-process load for the transport benchmarks: concurrent callers for a
//! while, their rate and latency percentiles, and a one-thread server runtime.

use std::future::Future;
use std::time::{Duration, Instant};

/// The seconds each measurement lasts: `KIT_LOAD_SECS`, 5 by default.
pub fn secs() -> f64 {
    std::env::var("KIT_LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0)
}

/// Runs `call(i)` from `callers` concurrent tasks (`i` unique per call) for
/// `secs`; prints `name`, calls/s, p50 and p99, and returns calls/s. Panics
/// if a call fails: a benchmark of failures measures nothing.
pub async fn measure<F, Fut>(name: &str, callers: usize, secs: f64, call: F) -> f64
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>> + Send,
{
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut n = 0u64;
                while Instant::now() < end {
                    let start = Instant::now();
                    call(c as u64 * 1_000_000_000 + n)
                        .await
                        .expect("the call succeeds");
                    lat.push(start.elapsed());
                    n += 1;
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await.expect("caller"));
    }
    lat.sort();
    let rate = lat.len() as f64 / secs;
    let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))];
    println!(
        "{name:<58} {rate:>9.0}/s   p50 {:>8.1?}   p99 {:>8.1?}",
        q(0.50),
        q(0.99)
    );
    rate
}

/// A tokio runtime of one thread on a thread of its own ("one core" for a
/// server under test); it lives as long as the process.
pub fn one_core_runtime() -> tokio::runtime::Handle {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        tx.send(rt.handle().clone()).expect("handle");
        rt.block_on(std::future::pending::<()>());
    });
    rx.recv().expect("the server runtime")
}
