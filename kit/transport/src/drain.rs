//! Telling every connection of a server to finish up, at a cost of one atomic
//! load per poll while nothing happens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

/// The server side: starts the drain.
#[derive(Debug, Default)]
pub(crate) struct Drain {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    started: AtomicBool,
    next_id: AtomicU64,
    /// The task to wake for each signal that has been polled.
    wakers: Mutex<HashMap<u64, Waker>>,
}

/// The connection side: ready once the drain has started.
#[derive(Debug)]
pub(crate) struct Signal {
    shared: Arc<Shared>,
    id: u64,
    /// The waker registered for this signal, kept to skip registering it again.
    registered: Option<Waker>,
}

impl Drain {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn signal(&self) -> Signal {
        Signal {
            shared: self.shared.clone(),
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            registered: None,
        }
    }

    /// Makes every signal ready and wakes the tasks polling them.
    pub(crate) fn start(&self) {
        self.shared.started.store(true, Ordering::SeqCst);
        let wakers = std::mem::take(
            &mut *self
                .shared
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for waker in wakers.into_values() {
            waker.wake();
        }
    }
}

impl Drain {
    /// Wakes the connection of signal `id` alone (to close it: see
    /// `Progress::evict`).
    pub(crate) fn wake(&self, id: u64) {
        let waker = self
            .shared
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl Signal {
    /// Its id, for [`Drain::wake`].
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Signal {
    /// A connection that ends takes its waker out of the drain (the waker holds
    /// the connection's task), and the table gives its memory back once most of
    /// it is empty: a flood of connections leaves nothing behind.
    fn drop(&mut self) {
        if self.registered.is_none() {
            return;
        }
        let mut wakers = self
            .shared
            .wakers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        wakers.remove(&self.id);
        // Give the table's memory back once most of it is empty.
        if wakers.capacity() > 64 && wakers.len() < wakers.capacity() / 4 {
            wakers.shrink_to_fit();
        }
    }
}

impl Signal {
    /// Ready once the drain has started. While it has not, this is one atomic load,
    /// plus a registration the first time (or when the task's waker changes).
    #[inline(always)]
    pub(crate) fn poll_drained(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.started.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if !self
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            let waker = cx.waker().clone();
            self.shared
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(self.id, waker.clone());
            self.registered = Some(waker);
            // The drain may have started while we registered.
            if self.shared.started.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_started_drain_wakes_and_readies_every_signal() {
        let drain = Drain::new();
        let mut a = drain.signal();
        let mut b = drain.signal();
        let task_a =
            tokio::spawn(async move { std::future::poll_fn(|cx| a.poll_drained(cx)).await });
        // b is polled once (registered) before the drain starts.
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(b.poll_drained(cx)))
                .await
                .is_pending()
        );
        tokio::task::yield_now().await;
        drain.start();
        task_a.await.unwrap();
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(b.poll_drained(cx)))
                .await
                .is_ready()
        );
        // Late signals are ready at once.
        let mut c = drain.signal();
        assert!(
            std::future::poll_fn(|cx| Poll::Ready(c.poll_drained(cx)))
                .await
                .is_ready()
        );
        assert!(drain.shared.wakers.lock().unwrap().is_empty());
    }

    /// A signal dropped before the drain (its connection ended) leaves no
    /// waker behind: the drain's table holds only live connections.
    #[tokio::test]
    async fn an_ended_connection_leaves_no_waker_behind() {
        let drain = Drain::new();
        for _ in 0..1000 {
            let mut signal = drain.signal();
            assert!(
                std::future::poll_fn(|cx| Poll::Ready(signal.poll_drained(cx)))
                    .await
                    .is_pending()
            );
        }
        let wakers = drain.shared.wakers.lock().unwrap();
        assert!(wakers.is_empty(), "{} wakers left", wakers.len());
        assert!(wakers.capacity() < 1000, "capacity {}", wakers.capacity());
    }
}
