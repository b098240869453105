//! Run with: cargo run -p addsvc --bin addtally -- --events nats://127.0.0.1:4222
//!
//! addtally keeps a running total of the sums addsvc computed (addsvc run with
//! `--events`), from addsvc's event stream on NATS JetStream, and serves it on
//! its debug listener: `GET /total` answers `{"total": N, "events": M}`, beside
//! `/health` and `/metrics`.
//!
//! Every event counts once: it is acknowledged only after it was written to the
//! journal (so a crash means a redelivery, never a loss), and the journal
//! applies an event ID once (so a redelivery never counts twice). The total
//! survives restarts: it is rebuilt from the journal.
//!
//! Flags (and env vars): `--events` (ADDTALLY_EVENTS, required), `--debug-addr`
//! (ADDTALLY_DEBUG_ADDR, default 127.0.0.1:9083), `--journal` (ADDTALLY_JOURNAL,
//! default `addtally.journal`), `--ack-wait-ms` (ADDTALLY_ACK_WAIT_MS: how long
//! before an unacknowledged event comes again, default 30000), `--max-deliver`
//! (ADDTALLY_MAX_DELIVER: deliveries before a failing event becomes a dead letter
//! on `addsvc.dead.summed`, default 5), `--log-format`, `--log-level`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use addsvc::tally::{Tally, endpoint, router};
use addsvc::transport::events::{ConsumerOptions, connect, consumer, ensure_streams};
use clap::Parser;
use http::Method;
use kit_endpoint::BoxError;
use kit_metrics::prometheus::{Exporter, MetricsPage};
use kit_transport::{Health, serve, shutdown_signal};
use service_stack::{LogFlags, Middlewares};
use slog::{Logger, info, o};
use tokio::net::TcpListener;

/// addtally: the running total of addsvc's sums, from its events.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// The NATS server addsvc publishes its events to (`nats://HOST:PORT`),
    /// or a cluster's members (`nats://h1:p1,h2:p2,h3:p3`).
    #[arg(long)]
    events: String,
    /// How many copies of the event streams JetStream keeps, if addtally
    /// creates them (1 to 5; as addsvc's `--events-replicas`).
    #[arg(long, default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=5))]
    events_replicas: u8,
    /// Address of the debug listener (/total, /health, /metrics).
    #[arg(long, default_value = "127.0.0.1:9083")]
    debug_addr: SocketAddr,
    /// The journal of applied events: the total is rebuilt from it at start.
    #[arg(long, default_value = "addtally.journal")]
    journal: PathBuf,
    /// How long an unacknowledged event waits before it is delivered again
    /// (after a crash, say), in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    ack_wait_ms: u64,
    /// Deliveries of a failing event before it goes to the dead letters.
    #[arg(long, default_value_t = 5)]
    max_deliver: u32,
    /// The log's flags.
    #[command(flatten)]
    log: LogFlags,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Args = service_stack::parse_flags("addtally");
    let (format, level) = (args.log.log_format, args.log.log_level);
    service_stack::run_service("addtally", format, level, |logger| run(args, logger)).await
}

async fn run(args: Args, logger: Logger) -> Result<(), BoxError> {
    let exporter = Arc::new(Exporter::new());

    // 1. the domain: the total, rebuilt from the journal.
    let journal = args.journal.clone();
    let tally = Arc::new(
        tokio::task::spawn_blocking(move || Tally::open(&journal))
            .await?
            .map_err(|e| format!("journal {}: {e}", args.journal.display()))?,
    );
    let totals = tally.totals();
    // 2. the endpoint, with logging and RED/USE metrics.
    let apply = Middlewares::new(logger.new(o!("transport" => "NATS")), exporter.recorder())
        .wrap("tally", endpoint(tally.clone()));
    // 3. the transport: a durable JetStream consumer.
    let js = async_nats::jetstream::new(connect(&args.events).await?);
    let options = ConsumerOptions {
        ack_wait: Duration::from_millis(args.ack_wait_ms.max(100)),
        max_deliver: args.max_deliver,
        ..ConsumerOptions::default()
    };
    // The streams may not exist yet (addsvc not started): made here too.
    while let Err(e) = ensure_streams(&js, args.events_replicas.into()).await {
        slog::warn!(logger, "events streams not ready, retrying"; "err" => %e);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let consumer = consumer(js, apply, &options, logger.clone());

    let debug = router(tally)
        .route_service(Method::GET, "/health", Health)
        .route_service(Method::GET, "/metrics", MetricsPage::new(exporter.handle()));
    let debug_listener = TcpListener::bind(args.debug_addr).await?;
    info!(logger, "listening";
        "debug" => format!("http://{}", debug_listener.local_addr()?),
        "events" => &args.events,
        "journal" => %args.journal.display(),
        "total" => totals.total,
        "events_applied" => totals.events);
    tokio::spawn(serve(debug_listener, debug, std::future::pending()));

    // On SIGTERM: stop pulling, settle the events in flight, exit.
    consumer
        .run(async {
            shutdown_signal().await;
            info!(logger, "draining");
        })
        .await?;
    info!(logger, "stopped");
    Ok(())
}
