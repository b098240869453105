//! Answers to requests that arrive together, written together.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::header_timer::Progress;

/// A connection's IO whose first write after bytes were read yields once to the
/// runtime's other ready tasks, so that the requests read in the same turn are
/// all answered before any answer is written. kit's [`serve`](crate::serve)
/// wraps every connection in one (see
/// [`ServeConfig::batch_answers`](crate::ServeConfig::batch_answers)); it is
/// public for servers that run their own hyper accept loop.
///
/// Why: a client that reads many connections from one thread (a proxy, a load
/// balancer, a load generator) sleeps between answers when the server is the
/// slower side, and each answer written while it sleeps wakes it. Written
/// together, several answers cost one wake-up. Where waking a thread on another
/// CPU is dear (on a virtual machine the inter-processor interrupt exits to the
/// hypervisor, and the server's `writev` pays for it), that was most of what a
/// small request cost: see BENCHMARKS.md ("batched answers").
///
/// How: the yielding write wakes its own task and returns `Pending`; a tokio
/// task that wakes itself while being polled goes to the back of its worker's
/// queue, behind the connections whose requests came with it. A lone request on
/// an idle runtime pays one more poll of its connection. Only the first write
/// after a read yields: a long answer streams as it would without.
///
/// ```
/// use kit_transport::BatchedIo;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (ours, mut theirs) = tokio::io::duplex(64);
/// let mut io = BatchedIo::new(ours, true);
/// theirs.write_all(b"ping").await.unwrap();
/// let mut buf = [0; 4];
/// io.read_exact(&mut buf).await.unwrap();
/// io.write_all(b"pong").await.unwrap(); // yields once, then writes
/// theirs.read_exact(&mut buf).await.unwrap();
/// assert_eq!(&buf, b"pong");
/// # }
/// ```
#[derive(Debug)]
pub struct BatchedIo<T> {
    inner: T,
    enabled: bool,
    /// Bytes were read since the last write: the next write yields first.
    yield_first: bool,
    /// In kit's `serve`: told when request bytes arrive (the header read
    /// timer's progress), so that a connection has one IO wrapper, not two.
    progress: Option<Arc<Progress>>,
}

impl<T> BatchedIo<T> {
    /// `inner`, batching its answers if `enabled` (if not, it is `inner` as it
    /// is).
    pub fn new(inner: T, enabled: bool) -> Self {
        BatchedIo {
            inner,
            enabled,
            yield_first: false,
            progress: None,
        }
    }

    /// [`BatchedIo::new`] that also tells `progress` when bytes arrive.
    pub(crate) fn tracked(inner: T, enabled: bool, progress: Arc<Progress>) -> Self {
        BatchedIo {
            progress: Some(progress),
            ..BatchedIo::new(inner, enabled)
        }
    }

    /// The wrapped IO.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Whether this write yields first (once after bytes were read), waking
    /// its task to be polled again.
    fn yields(&mut self, cx: &mut Context<'_>) -> bool {
        if self.yield_first {
            self.yield_first = false;
            cx.waker().wake_by_ref();
            return true;
        }
        false
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for BatchedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.yield_first = self.enabled;
            if let Some(progress) = &self.progress {
                progress.received();
            }
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for BatchedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.yields(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.yields(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn with_batching_the_first_write_after_a_request_yields_once() {
        for batch in [true, false] {
            let (ours, mut theirs) = tokio::io::duplex(1024);
            let mut io = BatchedIo::new(ours, batch);
            let wakes = Arc::new(Wakes::default());
            let waker = std::task::Waker::from(wakes.clone());
            let mut cx = Context::from_waker(&waker);
            let write = |io: &mut BatchedIo<_>, cx: &mut Context<'_>| {
                Pin::new(io).poll_write(cx, b"answer")
            };
            // No request yet: written at once.
            assert!(matches!(write(&mut io, &mut cx), Poll::Ready(Ok(6))));
            tokio::io::AsyncWriteExt::write_all(&mut theirs, b"request")
                .await
                .unwrap();
            let mut buf = [0u8; 16];
            let mut read = ReadBuf::new(&mut buf);
            assert!(Pin::new(&mut io).poll_read(&mut cx, &mut read).is_ready());
            assert_eq!(read.filled(), b"request");
            if batch {
                // The answer yields once, waking its task to be polled again...
                assert!(write(&mut io, &mut cx).is_pending());
                assert_eq!(wakes.0.load(Ordering::Relaxed), 1);
                let vectored = [io::IoSlice::new(b"answer")];
                let mut again =
                    |cx: &mut Context<'_>| Pin::new(&mut io).poll_write_vectored(cx, &vectored);
                // ...and is written then, the write after it at once.
                assert!(matches!(again(&mut cx), Poll::Ready(Ok(6))));
                assert!(matches!(again(&mut cx), Poll::Ready(Ok(6))));
            } else {
                assert!(matches!(write(&mut io, &mut cx), Poll::Ready(Ok(6))));
                assert!(matches!(write(&mut io, &mut cx), Poll::Ready(Ok(6))));
            }
            let mut got = vec![0u8; 18];
            tokio::io::AsyncReadExt::read_exact(&mut theirs, &mut got)
                .await
                .unwrap();
            assert_eq!(got, b"answeransweranswer");
            if !batch {
                assert_eq!(wakes.0.load(Ordering::Relaxed), 0);
            }
        }
    }
}
