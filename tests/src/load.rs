//! In-process load: for the transport benchmarks, concurrent callers for a
//! while, their rate and latency percentiles, and a one-thread server runtime;
//! for the fault tests, a fixed number of numbered calls shared among
//! callers, whose progress a test waits for before each fault ([`Calls`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

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

/// `total` numbered calls (`0..total`) shared among concurrent callers, each
/// taking the next number when its last call ended: the load of the fault
/// tests, which wait for a share of the calls ([`Calls::reached`]) before each
/// fault, then check every call's outcome ([`Calls::outcomes`]).
#[derive(Debug)]
pub struct Calls<T> {
    callers: Vec<JoinHandle<Vec<Call<T>>>>,
    progress: watch::Receiver<usize>,
}

/// One call's outcome: its number, what it answered (or its error's text) and
/// how long it took.
#[derive(Debug)]
pub struct Call<T> {
    /// The call's number, from 0.
    pub i: usize,
    /// Its answer, or its error as text.
    pub result: Result<T, String>,
    /// How long it took.
    pub took: Duration,
}

impl<T: Send + 'static> Calls<T> {
    /// Starts `callers` tasks making the `total` calls `call(i)` between them.
    pub fn start<F, Fut, E>(total: usize, callers: usize, call: F) -> Calls<T>
    where
        F: Fn(usize) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send,
        E: std::fmt::Display,
    {
        let (done, progress) = watch::channel(0usize);
        let (done, next) = (Arc::new(done), Arc::new(AtomicUsize::new(0)));
        let callers = (0..callers)
            .map(|_| {
                let (call, done, next) = (call.clone(), done.clone(), next.clone());
                tokio::spawn(async move {
                    let mut calls = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= total {
                            return calls;
                        }
                        let began = Instant::now();
                        let result = call(i).await.map_err(|e| e.to_string());
                        let took = began.elapsed();
                        calls.push(Call { i, result, took });
                        done.send_modify(|n| *n += 1);
                    }
                })
            })
            .collect();
        Calls { callers, progress }
    }

    /// Waits until `n` calls have ended.
    pub async fn reached(&self, n: usize) {
        let mut progress = self.progress.clone();
        progress
            .wait_for(|done| *done >= n)
            .await
            .expect("the callers hold the progress");
    }

    /// Waits for every call to end: their outcomes, in the order they ended
    /// per caller. Panics if a caller panicked.
    pub async fn outcomes(self) -> Vec<Call<T>> {
        let mut calls = Vec::new();
        for caller in self.callers {
            calls.extend(caller.await.expect("a caller panicked"));
        }
        calls
    }
}
