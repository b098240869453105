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

impl Signal {
    /// Ready once the drain has started. While it has not, this is one atomic load,
    /// plus a registration the first time (or when the task's waker changes).
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

impl Drop for Signal {
    fn drop(&mut self) {
        if self.registered.is_some() {
            self.shared
                .wakers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&self.id);
        }
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
}
