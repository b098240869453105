//! The header read timeout, kept by kit rather than by hyper.
//!
//! hyper's own (`http1::Builder::header_read_timeout`) asks its timer for a new
//! sleep every time it starts reading a request's headers, and makes an extra
//! read attempt after every request to start it: on a kept-alive connection
//! under load that cost about 5% of a small request on one core (measured with
//! `bench/load.sh`: 156k req/s with it, 165k without).
//!
//! Here the connection's IO and its service note progress in a few atomics
//! ([`Progress`]): when the first bytes of a request head arrive, when the
//! request reaches the service, when its response is ready. The connection's
//! task checks them on one tokio sleep of its own that ticks every half
//! timeout ([`Watch`]), and ends the connection when a request head has been
//! arriving, or the connection has been idle, for a whole timeout: between one
//! and one and a half timeouts in all. Nothing is armed per request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

/// What one connection has been doing, noted by its IO and its service.
///
/// Only the connection's own task writes the counts (its IO's reads, its
/// service's calls, their futures' ends), one poll at a time; the accept loop
/// and the watch only read them. So a count goes up with a load and a store,
/// not a read-modify-write (a locked instruction each, several per request).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// Bytes of a request head have arrived; the request has not reached the
    /// service yet.
    reading: AtomicBool,
    /// Requests handed to the service whose response is not ready yet.
    in_flight: AtomicUsize,
    /// Request heads started so far (tells a new request from a slow one).
    heads: AtomicU64,
    /// The server is draining: every response says `Connection: close`.
    closing: AtomicBool,
    /// The server needs room: close this idle connection.
    evicted: AtomicBool,
}

impl Progress {
    /// A request has reached the service: its head is complete.
    pub(crate) fn called(&self) {
        self.reading.store(false, Ordering::Relaxed);
        let n = self.in_flight.load(Ordering::Relaxed);
        self.in_flight.store(n + 1, Ordering::Relaxed);
    }

    /// A response is ready (or its request was abandoned).
    pub(crate) fn answered(&self) {
        let n = self.in_flight.load(Ordering::Relaxed);
        self.in_flight.store(n.saturating_sub(1), Ordering::Relaxed);
    }

    /// Whether the connection is idle: no request being read or served.
    pub(crate) fn is_idle(&self) -> bool {
        !self.reading.load(Ordering::Relaxed)
            && self.in_flight.load(Ordering::Relaxed) == 0
            && !self.evicted.load(Ordering::Relaxed)
    }

    /// Asks the connection's task to close it (it must be woken to see it).
    pub(crate) fn evict(&self) {
        self.evicted.store(true, Ordering::Relaxed);
    }

    /// Whether [`Progress::evict`] was called.
    pub(crate) fn is_evicted(&self) -> bool {
        self.evicted.load(Ordering::Relaxed)
    }

    /// From now on, every response closes its connection.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Bytes arrived: if no request is being read or served, a new head starts.
    pub(crate) fn received(&self) {
        if !self.reading.load(Ordering::Relaxed) && self.in_flight.load(Ordering::Relaxed) == 0 {
            self.reading.store(true, Ordering::Relaxed);
            let n = self.heads.load(Ordering::Relaxed);
            self.heads.store(n.wrapping_add(1), Ordering::Relaxed);
        }
    }
}

pin_project_lite::pin_project! {
    /// A service's response future, noting when the response is ready.
    pub(crate) struct Answered<F> {
        #[pin]
        inner: F,
        progress: Option<Arc<Progress>>,
    }

    impl<F> PinnedDrop for Answered<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(progress) = this.project().progress.take() {
                progress.answered();
            }
        }
    }
}

impl<F> Answered<F> {
    /// `inner`, for a request just handed to the service (see [`Progress::called`]).
    pub(crate) fn new(inner: F, progress: Option<Arc<Progress>>) -> Self {
        Answered { inner, progress }
    }
}

impl<F, B, E> Future for Answered<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
{
    type Output = F::Output;

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut out = std::task::ready!(this.inner.poll(cx));
        if let Some(progress) = this.progress.take() {
            progress.answered();
            if progress.closing.load(Ordering::Relaxed)
                && let Ok(resp) = &mut out
            {
                // Draining: this answer is the connection's last, and says
                // so (hyper closes the connection once it is written).
                resp.headers_mut().insert(
                    http::header::CONNECTION,
                    http::HeaderValue::from_static("close"),
                );
            }
        }
        Poll::Ready(out)
    }
}

/// The connection task's side: one sleep ticking every half timeout.
#[derive(Debug)]
pub(crate) struct Watch {
    tick: Pin<Box<tokio::time::Sleep>>,
    period: Duration,
    /// `heads` at the previous tick.
    seen: u64,
    /// Ticks in a row with no request started or in flight.
    quiet: u32,
    /// Whether the tick has been polled since it was last reset: it then holds
    /// the task's waker, and only needs polling again once it has fired.
    registered: bool,
}

impl Watch {
    pub(crate) fn new(timeout: Duration) -> Self {
        // Bounded so that deadlines never overflow, whatever timeout is asked for.
        let period = (timeout / 2).clamp(Duration::from_millis(1), Duration::from_secs(86_400));
        Watch {
            tick: Box::pin(tokio::time::sleep(period)),
            period,
            seen: 0,
            quiet: 0,
            registered: false,
        }
    }

    /// Whether the connection has timed out: a request head arriving for a
    /// whole timeout (two quiet ticks after the one that saw it start), or no
    /// request at all for a whole timeout (three quiet ticks).
    pub(crate) fn timed_out(&mut self, progress: &Progress, cx: &mut Context<'_>) -> bool {
        // Called on every wake of the connection's task: cheap unless it ticked.
        if self.registered && !self.tick.is_elapsed() {
            return false;
        }
        self.registered = true;
        while self.tick.as_mut().poll(cx).is_ready() {
            let next = self.tick.deadline() + self.period;
            self.tick.as_mut().reset(next);
            let heads = progress.heads.load(Ordering::Relaxed);
            if heads != self.seen || progress.in_flight.load(Ordering::Relaxed) > 0 {
                self.quiet = 0;
            } else {
                self.quiet += 1;
            }
            self.seen = heads;
            let limit = if progress.reading.load(Ordering::Relaxed) {
                2
            } else {
                3
            };
            if self.quiet >= limit {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(watch: &mut Watch, progress: &Progress) -> bool {
        watch.timed_out(progress, &mut Context::from_waker(std::task::Waker::noop()))
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_head_is_cut_after_one_to_one_and_a_half_timeouts() {
        let progress = Progress::default();
        let mut watch = Watch::new(Duration::from_secs(10));
        tokio::time::advance(Duration::from_secs(1)).await;
        progress.received(); // a head starts at 1 s, and never completes
        let mut waited = 0;
        while !ticks(&mut watch, &progress) {
            tokio::time::advance(Duration::from_secs(1)).await;
            waited += 1;
        }
        assert!(
            (10..=15).contains(&waited),
            "cut {waited} s after the head started"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_stays_and_an_idle_one_goes() {
        let progress = Progress::default();
        let mut watch = Watch::new(Duration::from_secs(10));
        // A request every second for a minute: never cut.
        for _ in 0..60 {
            progress.received();
            progress.called();
            progress.answered();
            tokio::time::advance(Duration::from_secs(1)).await;
            assert!(!ticks(&mut watch, &progress));
        }
        // A slow request in flight is not a slow head.
        progress.received();
        progress.called();
        tokio::time::advance(Duration::from_secs(40)).await;
        assert!(!ticks(&mut watch, &progress));
        progress.answered();
        // Then nothing: cut within one and a half timeouts.
        let mut waited = 0;
        while !ticks(&mut watch, &progress) {
            tokio::time::advance(Duration::from_secs(1)).await;
            waited += 1;
        }
        assert!((10..=15).contains(&waited), "idle cut after {waited} s");
    }
}
