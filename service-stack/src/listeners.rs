//! The listener and drain half of a service's `main`: bind, say where it
//! listens, serve the API, the debug listener, gRPC and NATS, and on SIGTERM
//! drain without losing a request.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::Method;
use kit_endpoint::BoxError;
use kit_endpoint::tls::ServerTls;
use kit_grpc::ServingStatus;
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_tracing::Tracer;
use kit_transport::{
    Health, Readiness, Router, ServeConfig, StopSignal, serve, serve_with, stop_signal,
};
use slog::{Logger, info};
use tokio::net::TcpListener;

/// A service's listeners, bound: the HTTP API, the debug listener (`/health`,
/// `/ready`, `/metrics`) and, if asked, gRPC. Bound before serving, so that
/// their addresses are known (to register the instance, to log them).
#[derive(Debug)]
pub struct Listeners {
    api: TcpListener,
    debug: TcpListener,
    grpc: Option<TcpListener>,
}

impl Listeners {
    /// Binds the API on `http`, the debug listener on `debug`, gRPC on `grpc`
    /// if given (port 0: a free port).
    pub async fn bind(
        http: SocketAddr,
        debug: SocketAddr,
        grpc: Option<SocketAddr>,
    ) -> std::io::Result<Listeners> {
        let grpc = match grpc {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Listeners {
            api: TcpListener::bind(http).await?,
            debug: TcpListener::bind(debug).await?,
            grpc,
        })
    }

    /// The API's URL: `http://HOST:PORT`, or `https://HOST:PORT` if it
    /// serves `tls`.
    pub fn api_url(&self, tls: Option<&ServerTls>) -> std::io::Result<String> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        Ok(format!("{scheme}://{}", self.api.local_addr()?))
    }
}

/// Runs on SIGTERM before the shutdown delay (e.g. deregistration).
pub type OnDrain = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a service serves on its [`Listeners`], and how it stops.
pub struct Serving {
    /// Where "listening", "draining" and "stopped" are logged.
    pub logger: Logger,
    /// Its metrics, on the debug listener's `/metrics`.
    pub exporter: Arc<Exporter>,
    /// The HTTP API.
    pub api: Router,
    /// How the API is served (connection cap, peer addresses...).
    pub config: ServeConfig,
    /// TLS for the API and gRPC (the debug listener stays plain), if any.
    pub tls: Option<ServerTls>,
    /// The gRPC routes and the service name the health protocol reports, if
    /// gRPC is served (the gRPC health service is added).
    pub grpc: Option<(kit_grpc::Router, &'static str)>,
    /// NATS subscriptions in place, if the service answers over NATS.
    pub nats: Option<kit_nats::Subscribed>,
    /// More routes on the debug listener (Pact's provider states).
    pub debug_routes: Option<Router>,
    /// After SIGTERM, how long the API serves on (unready) before draining
    /// (none after ctrl-c, SIGINT: a person, not a load balancer, is waiting).
    pub shutdown_delay: Duration,
    /// Flushed at the end, so the last requests' spans reach the collector.
    pub tracer: Option<Tracer>,
    /// Runs on SIGTERM, after readiness turns and before the delay.
    pub on_drain: Option<OnDrain>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("grpc", &self.grpc.as_ref().map(|(_, name)| name))
            .field("nats", &self.nats.is_some())
            .field("shutdown_delay", &self.shutdown_delay)
            .finish_non_exhaustive()
    }
}

impl Serving {
    /// Serves the API on `logger` and `exporter`'s metrics, with kit's default
    /// serving config, no gRPC, no NATS, no delay.
    pub fn new(logger: Logger, exporter: Arc<Exporter>, api: Router) -> Self {
        Serving {
            logger,
            exporter,
            api,
            config: ServeConfig::default(),
            tls: None,
            grpc: None,
            nats: None,
            debug_routes: None,
            shutdown_delay: Duration::ZERO,
            tracer: None,
            on_drain: None,
        }
    }
}

/// Serves `serving` on `listeners` until SIGTERM (or ctrl-c), then drains:
///
/// 1. logs `listening` with each listener's URL and the fields of `listening`;
/// 2. serves the API (graceful), the debug listener, gRPC (with the health
///    protocol: the server `""` and the named service `SERVING`), NATS;
/// 3. on SIGTERM: `/ready` answers 503 and gRPC health turns `NOT_SERVING`,
///    `on_drain` runs, and the API serves on for the shutdown delay (load
///    balancers stop sending); then it stops accepting and answers every
///    request received; gRPC and NATS drain after it;
/// 4. flushes the tracer and logs `stopped`.
pub async fn serve_until_stopped<T>(
    listeners: Listeners,
    serving: Serving,
    listening: slog::OwnedKV<T>,
) -> Result<(), BoxError>
where
    T: slog::SendSyncRefUnwindSafeKV + 'static,
{
    let Listeners { api, debug, grpc } = listeners;
    let Serving {
        logger,
        exporter,
        api: routes,
        mut config,
        tls,
        grpc: grpc_routes,
        nats,
        debug_routes,
        shutdown_delay,
        tracer,
        on_drain,
    } = serving;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    // gRPC, with the health protocol.
    let mut grpc_url = None;
    let mut grpc_health = None;
    let mut grpc_served = None;
    if let (Some(listener), Some((router, service))) = (grpc, grpc_routes) {
        let scheme = if tls.is_some() { "https" } else { "http" };
        grpc_url = Some(format!("{scheme}://{}", listener.local_addr()?));
        let health = kit_grpc::Health::new();
        health.set(service, ServingStatus::Serving).await;
        let router = router.service(health.service());
        let until = until_stopped(stopped.clone());
        grpc_served = Some(match &tls {
            Some(tls) => tokio::spawn(kit_grpc::serve_tls(listener, router, tls.clone(), until)),
            None => tokio::spawn(kit_grpc::serve(listener, router, until)),
        });
        grpc_health = Some((health, service));
    }
    // NATS, served until the HTTP side has drained.
    let nats_served =
        nats.map(|subscribed| tokio::spawn(subscribed.serve(until_stopped(stopped.clone()))));

    let ready = Readiness::new();
    let mut debug_router = Router::new()
        .route_service(Method::GET, "/health", Health) // liveness
        .route_service(Method::GET, "/ready", ready.clone()) // readiness
        .route_service(Method::GET, "/metrics", MetricsPage::new(exporter.handle()));
    if let Some(more) = debug_routes {
        debug_router = debug_router.merge(more);
    }
    let tls_mode = match &tls {
        Some(tls) if tls.is_mutual() => "mutual",
        Some(_) => "on",
        None => "off",
    };
    let api_scheme = if tls.is_some() { "https" } else { "http" };
    info!(logger.new(listening), "listening";
        "tls" => tls_mode,
        "http" => format!("{api_scheme}://{}", api.local_addr()?),
        "debug" => format!("http://{}", debug.local_addr()?),
        "grpc" => grpc_url.as_deref().unwrap_or("off"));

    // The debug listener does not need a graceful shutdown: it stops with the process.
    tokio::spawn(serve(debug, debug_router, std::future::pending()));
    let shutdown = {
        let logger = logger.clone();
        async move {
            let signal = stop_signal().await;
            ready.drain();
            if let Some((health, service)) = grpc_health {
                // Draining: the server ("") and the service say so.
                for name in ["", service] {
                    health.set(name, ServingStatus::NotServing).await;
                }
            }
            if let Some(on_drain) = on_drain {
                on_drain.await;
            }
            // Ctrl-C in a terminal: nobody routes to this process, so no
            // unready delay (a quick restart finds the port free).
            let delay = match signal {
                StopSignal::Interrupt => Duration::ZERO,
                StopSignal::Terminate => shutdown_delay,
            };
            info!(logger, "draining"; "signal" => signal.as_str(), "delay_ms" => delay.as_millis() as u64);
            tokio::time::sleep(delay).await;
        }
    };
    if let Some(tls) = tls {
        config = config.tls(tls);
    }
    serve_with(api, routes, config, shutdown).await?;
    let _ = stop.send(true);
    if let Some(served) = grpc_served {
        served.await??;
    }
    if let Some(served) = nats_served {
        served.await??;
    }
    // The spans of the last requests reach the collector.
    if let Some(tracer) = tracer {
        tracer.shutdown(Duration::from_secs(5)).await;
    }
    info!(logger, "stopped");
    Ok(())
}
