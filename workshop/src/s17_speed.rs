//! Step 17: what a call costs. Count before you cut: the heap allocations of one
//! call through the logged `sum` endpoint, in a test that fails when a change
//! adds one (or finds one fewer).

use kit_endpoint::{BoxEndpoint, BoxError, Request};
use slog::Logger;
use tower::{Service, ServiceExt};

use crate::s01_service::BasicService;
use crate::s02_endpoints::{Set, SumRequest, SumResponse};
use crate::s05_logging::log;

/// `sum` as step 5 serves it: the boxed endpoint of the `Set`, logged, boxed again.
pub fn logged_sum(logger: &Logger) -> BoxEndpoint<SumRequest, SumResponse> {
    log(logger, "sum", Set::new(BasicService).sum)
}

/// Heap allocations per call of `endpoint`, over 10,000 calls after 1,000 to
/// warm up (the log line's buffer grows to its size once), one after the other
/// on a runtime of this thread: the fewest of three such rounds.
///
/// The process must count with dhat's allocator
/// (`#[global_allocator] static ALLOC: dhat::Alloc = dhat::Alloc;`), and it
/// counts every thread's allocations: call it from a test binary's only test.
/// Even so the test harness's own thread may allocate now and then (a CI run
/// once counted 4 more in 10,000 calls, which no run alone repeated): the
/// fewest of three rounds is the calls' own count.
pub fn allocations_per_call<E>(mut endpoint: E) -> f64
where
    E: Service<Request<SumRequest>, Response = SumResponse, Error = BoxError>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let _profiler = dhat::Profiler::builder().testing().build();
    rt.block_on(async {
        call_n(&mut endpoint, 1_000).await;
        let mut fewest = u64::MAX;
        for _ in 0..3 {
            let before = dhat::HeapStats::get().total_blocks;
            call_n(&mut endpoint, 10_000).await;
            fewest = fewest.min(dhat::HeapStats::get().total_blocks - before);
        }
        fewest as f64 / 10_000.0
    })
}

/// Calls `endpoint` `n` times, one call after the other, each to its end.
async fn call_n<E>(endpoint: &mut E, n: i64)
where
    E: Service<Request<SumRequest>, Response = SumResponse, Error = BoxError>,
{
    for a in 0..n {
        let ready = endpoint.ready().await.expect("ready");
        let resp = ready.call(Request::from_msg(SumRequest { a, b: 1 })).await;
        assert_eq!(resp.expect("a sum").v, a + 1);
    }
}
