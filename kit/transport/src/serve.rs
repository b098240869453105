//! Serving a service on a TCP listener, with graceful shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use kit_endpoint::BoxError;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::batch::BatchedIo;
use crate::drain::Drain;
use crate::header_timer::{Answered, Progress, Watch};
use tower::Service;

/// How [`serve_with`] treats connections.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeConfig {
    /// A client whose request headers have been arriving this long, or whose
    /// connection has been idle this long (since it opened or since the previous
    /// response), is disconnected: a slow client cannot hold a connection. The
    /// check runs every half timeout, so the cut comes between one and one and a
    /// half timeouts. Default: 10 s.
    pub header_read_timeout: Duration,
    /// The most bytes of request line and headers buffered per connection; a
    /// request whose headers are larger is refused (`431`). Default: 16 KiB
    /// (hyper does not accept less than 8 KiB).
    pub max_header_bytes: usize,
    /// How long a graceful shutdown waits for in-flight requests before giving up
    /// on them. Default: 30 s.
    pub grace_period: Duration,
    /// Once a drain starts, how long an idle keep-alive connection is kept open
    /// in case a request is already on its way (it is answered with
    /// `Connection: close`), before it is closed. Default 1 s.
    pub drain_idle: Duration,
    /// The most connections served at once. A new connection past it closes
    /// the oldest idle one to make room; if every one is busy, the new one is
    /// closed at once. Default 1024 (Envoy's default too): an idle
    /// connection costs about 15 KB, so a flood of idle connections costs at
    /// most ~15 MB, and what the allocator keeps of it afterwards stays well
    /// under 20 MB (`bash bench/flood.sh`; at 10,000 connections glibc's malloc
    /// kept 35-55 MB, at 2048 about 20 MB).
    pub max_connections: usize,
    /// Whether each request carries the client's address ([`PeerAddr`], in the
    /// request's extensions and, through [`Server`](crate::Server), in the
    /// context's): needed to rate limit per client IP. Off by default, as it costs
    /// an allocation per request.
    pub peer_addr: bool,
    /// Whether answers to requests that arrive together are written together
    /// (each connection in a [`BatchedIo`](crate::BatchedIo)):
    /// a connection's first write after its request came yields once to the
    /// runtime's other ready tasks, so that the requests read in the same turn
    /// are all answered before any answer is written. A client that reads many
    /// connections from one thread (a proxy, a load balancer, a load generator)
    /// is then woken once for several answers instead of once for each, and
    /// where waking a thread on another CPU is dear (on a virtual machine the
    /// interrupt exits to the hypervisor) that was most of a small request's
    /// cost: addsvc under `wrk -c32` took 16.9 us of CPU per request without,
    /// 12.0 us with (BENCHMARKS.md). A lone request pays one more poll of its
    /// connection, nothing measurable. Default: on.
    pub batch_answers: bool,
    /// How long a new connection may take to say what it speaks: the TLS
    /// handshake, or (on a plain listener) its first bytes, which tell
    /// HTTP/2's preface from an HTTP/1.1 request. A connection that has not
    /// by then is closed; one that is still at it counts against
    /// [`max_connections`](ServeConfig::max_connections) and, as an idle
    /// one, is the first closed to make room. Default: 10 s.
    pub handshake_timeout: Duration,
    /// Whether HTTP/2 is served: by ALPN with TLS, and with prior knowledge
    /// (h2c: a client that opens with HTTP/2's preface) on a plain listener.
    /// HTTP/1.1 is always served. Default: on.
    pub http2: bool,
    /// Serve TLS with this certificate (and require client certificates if
    /// it says so); `None` serves plain text. See [`tls`](crate::tls).
    #[cfg(feature = "tls")]
    pub tls: Option<kit_endpoint::tls::ServerTls>,
}

/// The address of the client that sent a request (see [`ServeConfig::peer_addr`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            grace_period: Duration::from_secs(30),
            drain_idle: Duration::from_secs(1),
            max_connections: 1024,
            peer_addr: false,
            batch_answers: true,
            handshake_timeout: Duration::from_secs(10),
            http2: true,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl ServeConfig {
    /// Sets [`ServeConfig::header_read_timeout`].
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::peer_addr`].
    pub fn peer_addr(mut self, enabled: bool) -> Self {
        self.peer_addr = enabled;
        self
    }

    /// Sets [`ServeConfig::grace_period`].
    pub fn grace_period(mut self, grace: Duration) -> Self {
        self.grace_period = grace;
        self
    }

    /// Sets how long an idle connection is kept open once a drain starts.
    pub fn drain_idle(mut self, idle: Duration) -> Self {
        self.drain_idle = idle;
        self
    }

    /// Sets [`ServeConfig::batch_answers`].
    pub fn batch_answers(mut self, enabled: bool) -> Self {
        self.batch_answers = enabled;
        self
    }

    /// Sets [`ServeConfig::handshake_timeout`].
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`ServeConfig::http2`].
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Serves TLS with `tls` ([`ServeConfig::tls`]).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: kit_endpoint::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the most connections served at once (at least 1).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.max(1);
        self
    }
}

/// Serves `service` on `listener` with the default [`ServeConfig`] until
/// `shutdown` completes, then shuts down gracefully (see [`serve_with`]).
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_with(listener, service, ServeConfig::default(), shutdown).await
}

/// Serves `service` on `listener` over HTTP/1.1 until `shutdown` completes.
///
/// Then it stops accepting connections, lets every in-flight request finish
/// (closing each connection after its current response), and returns once all
/// connections are closed or the grace period is over. Pass [`shutdown_signal()`]
/// to stop on SIGTERM or ctrl-c.
///
/// ```no_run
/// # async fn run(router: kit_transport::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// kit_transport::serve(listener, router, kit_transport::shutdown_signal()).await
/// # }
/// ```
pub async fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let conns = Arc::new(Conns::new(config.clone()));

    let drain = Drain::new();
    let mut connections = JoinSet::new();
    // Every connection's progress, oldest first: at the cap, the oldest idle
    // one is closed to make room.
    let mut live: VecDeque<(u64, Arc<Progress>)> = VecDeque::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) if is_connection_error(&e) => continue,
                    Err(_) => {
                        // Out of file descriptors or similar: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                // Reap finished connections so the set counts the live ones.
                while connections.try_join_next().is_some() {}
                if connections.len() >= config.max_connections
                    && !evict_oldest_idle(&mut live, &drain)
                {
                    // At the cap and every connection busy: this one is closed
                    // at once (the client sees it end); the others go on.
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let progress = Arc::new(Progress::default());
                let signal = drain.signal();
                live.push_back((signal.id(), progress.clone()));
                forget_ended(&mut live, connections.len());
                connections.spawn(serve_connection(
                    conns.clone(),
                    service.clone(),
                    (stream, peer),
                    progress,
                    signal,
                ));
            }
            // A connection's task is freed only once joined: reap each as it
            // ends, so that memory goes back as soon as a flood of connections
            // is gone (not at the next accept).
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    drain.start();
    let all_closed = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(config.grace_period, all_closed)
        .await
        .is_err()
    {
        // Past the grace period: cut the connections that are still open.
        connections.shutdown().await;
    }
    Ok(())
}

/// What every connection of one listener shares: how to speak each protocol.
struct Conns {
    config: ServeConfig,
    http1: hyper::server::conn::http1::Builder,
    http2: hyper::server::conn::http2::Builder<hyper_util::rt::TokioExecutor>,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Conns {
    fn new(config: ServeConfig) -> Self {
        let mut http1 = hyper::server::conn::http1::Builder::new();
        // kit keeps the header read timeout itself, at a fraction of the cost (see
        // `header_timer`).
        http1
            .header_read_timeout(None::<Duration>)
            .max_buf_size(config.max_header_bytes.max(8192));
        // hyper refuses requests with more than 100 headers (`431`). Setting a lower
        // `max_headers` would move its header parsing off the stack onto the heap,
        // which costs more per request than it saves.
        let mut http2 =
            hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
        http2
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(config.max_header_bytes.max(8192) as u32)
            .max_concurrent_streams(256)
            // A peer that stops answering pings is gone: its connection ends.
            .keep_alive_interval(Some(config.header_read_timeout))
            .keep_alive_timeout(config.header_read_timeout);
        Conns {
            #[cfg(feature = "tls")]
            tls: config
                .tls
                .as_ref()
                .map(kit_endpoint::tls::ServerTls::acceptor),
            config,
            http1,
            http2,
        }
    }
}

/// A connection's stream, plain or TLS: one type, so that hyper's HTTP/1.1
/// and HTTP/2 code is built once for both (twice, the compiler inlined less of
/// it on the plain path: ~550 more instructions per request, measured with
/// `bench/instructions.sh`), at the cost of a branch per read and write.
enum Io {
    Plain(tokio::net::TcpStream),
    /// A plain stream whose first bytes were taken to tell HTTP/2's preface
    /// (they came one or two at a time): given back before the rest.
    Replayed(Box<Replay>),
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>),
}

/// A stream and the first bytes read from it, to be read again.
struct Replay {
    stream: tokio::net::TcpStream,
    first: [u8; 3],
    /// What of `first` is still to be read again: `first[at..len]`.
    at: usize,
    len: usize,
}

/// Forwards each method of tokio's IO traits to the stream inside.
macro_rules! each_stream {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.get_mut() {
            Io::Plain($s) => {
                let $s = std::pin::Pin::new($s);
                $call
            }
            Io::Replayed(replay) => {
                let $s = std::pin::Pin::new(&mut replay.stream);
                $call
            }
            #[cfg(feature = "tls")]
            Io::Tls($s) => {
                let $s = std::pin::Pin::new(&mut **$s);
                $call
            }
        }
    };
}

impl tokio::io::AsyncRead for Io {
    #[inline(always)]
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Io::Replayed(replay) = &mut *self
            && replay.at < replay.len
        {
            let n = (replay.len - replay.at).min(buf.remaining());
            buf.put_slice(&replay.first[replay.at..replay.at + n]);
            replay.at += n;
            return Poll::Ready(Ok(()));
        }
        each_stream!(self, s => s.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Io {
    #[inline]
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => s.poll_write(cx, buf))
    }

    #[inline]
    fn poll_write_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each_stream!(self, s => s.poll_write_vectored(cx, bufs))
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        // Both streams write vectors.
        true
    }

    #[inline]
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self, s => s.poll_flush(cx))
    }

    #[inline]
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        each_stream!(self, s => s.poll_shutdown(cx))
    }
}

/// HTTP/2's connection preface: what a client with prior knowledge sends first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves one accepted connection: its TLS handshake if any, then HTTP/1.1 or
/// HTTP/2 (by ALPN, or by the first bytes on a plain connection).
async fn serve_connection<S, B>(
    conns: Arc<Conns>,
    service: S,
    (stream, peer): (tokio::net::TcpStream, std::net::SocketAddr),
    progress: Arc<Progress>,
    mut signal: crate::drain::Signal,
) where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let peer = conns.config.peer_addr.then_some(PeerAddr(peer));
    #[cfg(feature = "tls")]
    if let Some(acceptor) = &conns.tls {
        let handshake = acceptor.accept(stream);
        // A failed handshake (plain HTTP, garbage, an untrusted client
        // certificate) was answered by rustls with an alert where it could be.
        let Some(Ok(tls)) = prelude(handshake, &conns.config, &progress, &mut signal).await else {
            return;
        };
        let (_, session) = tls.get_ref();
        let identity = kit_endpoint::tls::peer_identity(session.peer_certificates());
        let h2 = conns.config.http2 && session.alpn_protocol() == Some(b"h2");
        let service = WithPeer {
            inner: service,
            peer,
            identity,
            progress: None,
        };
        if h2 {
            serve_h2(&conns, Io::Tls(Box::new(tls)), service, &progress, signal).await;
        } else {
            serve_h1(&conns, Io::Tls(Box::new(tls)), service, progress, signal).await;
        }
        return;
    }
    let mut stream = stream;
    let (h2, taken) = match conns.config.http2 {
        false => (false, None),
        true => match prelude(
            speaks_h2(&mut stream),
            &conns.config,
            &progress,
            &mut signal,
        )
        .await
        {
            Some(Ok(sniffed)) => sniffed,
            _ => return,
        },
    };
    let io = match taken {
        None => Io::Plain(stream),
        Some((first, len)) => Io::Replayed(Box::new(Replay {
            stream,
            first,
            at: 0,
            len,
        })),
    };
    let service = WithPeer {
        inner: service,
        peer,
        identity: None,
        progress: None,
    };
    if h2 {
        serve_h2(&conns, io, service, &progress, signal).await;
    } else {
        serve_h1(&conns, io, service, progress, signal).await;
    }
}

/// Whether a plain connection opens with HTTP/2's preface: decided on its
/// first three bytes (no HTTP/1.1 request starts with `PRI`), looked at
/// without taking them; and, when they came one or two at a time, the bytes
/// taken meanwhile (to be read again: waiting for more without taking what
/// came would wake the task for nothing until they arrive).
async fn speaks_h2(
    stream: &mut tokio::net::TcpStream,
) -> io::Result<(bool, Option<([u8; 3], usize)>)> {
    let mut first = [0u8; 3];
    let n = stream.peek(&mut first).await?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if first[..n] != H2_PREFACE[..n] {
        return Ok((false, None));
    }
    if n == first.len() {
        return Ok((true, None));
    }
    // One or two bytes of `PRI` so far: take them, and wait for the rest.
    let mut got = 0;
    while got < first.len() {
        stream.readable().await?;
        match stream.try_read(&mut first[got..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(m) => got += m,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
        if first[..got] != H2_PREFACE[..got] {
            return Ok((false, Some((first, got))));
        }
    }
    Ok((true, Some((first, got))))
}

/// `fut` (a handshake), cut at the handshake timeout, when the server drains,
/// or when it needs this connection's room: `None` then.
async fn prelude<F: Future>(
    fut: F,
    config: &ServeConfig,
    progress: &Progress,
    signal: &mut crate::drain::Signal,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut timeout = std::pin::pin!(tokio::time::sleep(config.handshake_timeout));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if timeout.as_mut().poll(cx).is_ready()
            || signal.poll_drained(cx).is_ready()
            || progress.is_evicted()
        {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// Serves HTTP/2 on `io` until the peer leaves or the server drains (then
/// with a GOAWAY that lets the streams in flight finish), or needs the room.
async fn serve_h2<S, B>(
    conns: &Conns,
    io: Io,
    service: WithPeer<S>,
    progress: &Progress,
    mut signal: crate::drain::Signal,
) where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let conn = conns.http2.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    let mut closing = false;
    let _ = std::future::poll_fn(|cx| {
        if !closing && (signal.poll_drained(cx).is_ready() || progress.is_evicted()) {
            conn.as_mut().graceful_shutdown();
            closing = true;
        }
        conn.as_mut().poll(cx)
    })
    .await;
}

/// Serves HTTP/1.1 on `io`, with kit's header read timeout, until the peer
/// leaves, the connection idles too long, or the server drains or needs its
/// room.
async fn serve_h1<S, B>(
    conns: &Conns,
    io: Io,
    mut service: WithPeer<S>,
    progress: Arc<Progress>,
    mut signal: crate::drain::Signal,
) where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let config = &conns.config;
    let mut watch = Watch::new(config.header_read_timeout);
    service.progress = Some(progress.clone());
    let conn = conns.http1.serve_connection(
        TokioIo::new(BatchedIo::tracked(
            io,
            config.batch_answers,
            progress.clone(),
        )),
        service,
    );
    let drain_idle = config.drain_idle;
    let mut conn = std::pin::pin!(conn);
    let (mut draining, mut evicting) = (false, false);
    let mut idle_left: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    // A connection error concerns one client only (reset, timeout...).
    let _ = std::future::poll_fn(|cx| {
        if !draining && signal.poll_drained(cx).is_ready() {
            // Every answer from now on closes its connection; a
            // request already on its way still gets one.
            progress.close();
            idle_left = Some(Box::pin(tokio::time::sleep(drain_idle)));
            draining = true;
        }
        if !evicting && progress.is_evicted() {
            // The server needs room and this one is idle.
            conn.as_mut().graceful_shutdown();
            evicting = true;
        }
        if let Some(idle) = idle_left.as_mut()
            && idle.as_mut().poll(cx).is_ready()
        {
            // No request came: close (after the one in
            // flight, if any).
            conn.as_mut().graceful_shutdown();
            idle_left = None;
        }
        if let Poll::Ready(done) = conn.as_mut().poll(cx) {
            return Poll::Ready(done);
        }
        // Too slow a request head, or idle too long: close.
        if watch.timed_out(&progress, cx) {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    })
    .await;
}

/// At the connection cap: closes the oldest idle connection to make room for a
/// new one (so a flood of idle connections cannot lock new clients out), and
/// says whether there was one. The cost is bounded by the cap.
fn evict_oldest_idle(live: &mut VecDeque<(u64, Arc<Progress>)>, drain: &Drain) -> bool {
    let found = live
        .iter()
        .position(|(_, p)| Arc::strong_count(p) > 1 && p.is_idle());
    match found.and_then(|i| live.remove(i)) {
        Some((id, progress)) => {
            progress.evict();
            drain.wake(id);
            true
        }
        None => false,
    }
}

/// Drops the entries of connections that have ended (only `live` still holds
/// their progress): at the front at once, everywhere once ended ones outnumber
/// the live ones, so the queue stays within twice the live connections.
fn forget_ended(live: &mut VecDeque<(u64, Arc<Progress>)>, alive: usize) {
    while live.front().is_some_and(|(_, p)| Arc::strong_count(p) == 1) {
        live.pop_front();
    }
    if live.len() > 2 * alive.max(16) {
        live.retain(|(_, p)| Arc::strong_count(p) > 1);
    }
}

/// Puts the client's address (if asked to) and its verified identity (mutual
/// TLS) into each request's extensions, and notes each request's progress for
/// the header read timeout (HTTP/1.1).
#[derive(Clone)]
struct WithPeer<S> {
    inner: S,
    peer: Option<PeerAddr>,
    identity: Option<kit_endpoint::PeerIdentity>,
    progress: Option<Arc<Progress>>,
}

/// hyper calls a connection's service through a shared reference; tower's
/// services take `&mut self` and must be ready first. A [`Router`](crate::Router)
/// answers through a shared reference, with no clone and no `oneshot` per
/// request; any other service is cloned and called through tower's `oneshot`,
/// as hyper-util's `TowerToHyperService` does.
impl<S, RB> hyper::service::Service<http::Request<Incoming>> for WithPeer<S>
where
    S: Service<http::Request<Incoming>, Response = http::Response<RB>> + Clone + 'static,
    S::Future: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Answered<Called<S, http::Request<Incoming>>>;

    #[inline(always)]
    fn call(&self, mut req: http::Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(peer);
        }
        if let Some(identity) = &self.identity {
            req.extensions_mut().insert(identity.clone());
        }
        if let Some(progress) = &self.progress {
            progress.called();
        }
        Answered::new(Called::new(&self.inner, req), self.progress.clone())
    }
}

pin_project_lite::pin_project! {
    /// A request handed to a tower service on hyper's behalf.
    #[project = CalledProj]
    pub(crate) enum Called<S: Service<R>, R> {
        /// A router's answer (a router is always ready).
        Calling { #[pin] fut: S::Future },
        /// Any other service's: tower's `oneshot` makes it ready, then calls it.
        Waiting { #[pin] oneshot: tower::util::Oneshot<S, R> },
    }
}

impl<S> Called<S, http::Request<Incoming>>
where
    S: Service<http::Request<Incoming>> + Clone + 'static,
    S::Future: 'static,
{
    fn new(service: &S, req: http::Request<Incoming>) -> Self {
        if let Some(router) = (service as &dyn std::any::Any).downcast_ref::<crate::Router>() {
            // `S` is the router, so `S::Future` is its future.
            return match crate::router::cast::<_, S::Future>(router.serve(req)) {
                Ok(fut) => Called::Calling { fut },
                Err(_) => unreachable!("a router's future is its own type"),
            };
        }
        // Any other service: cloned, made ready, then called.
        Called::Waiting {
            oneshot: tower::util::Oneshot::new(service.clone(), req),
        }
    }
}

impl<S: Service<R>, R> Future for Called<S, R> {
    type Output = Result<S::Response, S::Error>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CalledProj::Calling { fut } => fut.poll(cx),
            CalledProj::Waiting { oneshot } => oneshot.poll(cx),
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `service` on a free port of `127.0.0.1`, in a background task that runs
/// until it is aborted (connections then drop, as when a process is killed):
/// for tests that want real sockets without managing a listener.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let router = kit_transport::Router::new()
///     .route_service(http::Method::GET, "/health", kit_transport::Health);
/// let (addr, server) = kit_transport::serve_loopback(router).await?;
/// assert!(addr.ip().is_loopback());
/// server.abort();
/// # Ok(()) }
/// ```
pub async fn serve_loopback<S, B>(
    service: S,
) -> io::Result<(
    std::net::SocketAddr,
    tokio::task::JoinHandle<io::Result<()>>,
)>
where
    S: Service<http::Request<Incoming>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(serve(listener, service, std::future::pending()));
    Ok((addr, task))
}

/// Completes on SIGTERM (on Unix) or ctrl-c: the usual trigger of a graceful shutdown.
pub async fn shutdown_signal() {
    stop_signal().await;
}

/// The signal that asked a process to stop (see [`stop_signal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// Ctrl-C in a terminal (SIGINT): a person waits for the prompt, and no
    /// load balancer needs time to stop sending.
    Interrupt,
    /// SIGTERM: an orchestrator stops the process, and load balancers may
    /// still send to it for a moment (serve on, unready, before draining).
    Terminate,
}

impl StopSignal {
    /// `SIGINT` or `SIGTERM`, for log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
        }
    }
}

/// Completes on SIGTERM (on Unix) or ctrl-c, saying which: a service skips its
/// unready delay for a person's ctrl-c and keeps it for an orchestrator's
/// SIGTERM.
pub async fn stop_signal() -> StopSignal {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => StopSignal::Interrupt,
        () = terminate => StopSignal::Terminate,
    }
}
