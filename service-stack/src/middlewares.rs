//! The endpoint stack both example services put around every endpoint.

use std::net::IpAddr;

use kit_auth::AuthLayer;
use kit_endpoint::{BoxEndpoint, Context, Failer, HookLayer, SharedEndpoint};
use kit_fault::FaultLayer;
use kit_log::CallLog;
use kit_metrics::{RedMetrics, UseLayer, UseMetrics};
use kit_overload::{Algorithm, Limiter, OverloadLayer};
use kit_ratelimit::{DirectLimiter, ErroringLayer, KeyedLayer, KeyedLimiter, Quota};
use kit_tracing::{Tracer, TracingLayer};
#[cfg(doc)]
use kit_transport::PeerAddr;
use kit_transport::client_ip;
use metrics::Recorder;
use slog::Logger;
use tower::limit::ConcurrencyLimitLayer;
use tower::{Layer, ServiceBuilder};

/// The production endpoint stack of kit's example services (stringsvc's and
/// addsvc's endpoints both go through it): what the middlewares report to, and
/// their settings.
#[derive(Clone)]
pub struct Middlewares<'a> {
    /// Where the logging middleware writes one line per call.
    pub logger: Logger,
    /// Where the RED and USE metrics are registered.
    pub recorder: &'a dyn Recorder,
    /// How many calls each endpoint serves at once, if limited; more wait (and
    /// show as saturation in the USE metrics). `None`: no limit.
    pub max_in_flight: Option<usize>,
    /// A concurrency limit per endpoint that refuses at once (503 with
    /// `Retry-After`, gRPC `UNAVAILABLE`) instead of queueing, if any: fixed
    /// (a bulkhead) or adaptive (kit-overload), sheddable calls refused
    /// first, calls whose deadline is nearer than the endpoint's recent
    /// latency refused before work. Its limit, in-flight calls and refusals
    /// are on `/metrics` (`kit_overload_*{endpoint}`).
    pub concurrency_limit: Option<Algorithm>,
    /// A rate limit for the whole service, if any: calls over it get `429`.
    pub rate_limit: Option<ErroringLayer<DirectLimiter>>,
    /// A rate limit per client, if any: calls over it get `429`.
    pub rate_limit_per_client: Option<ClientLimit>,
    /// Where spans go, if tracing is on: a server span per call, named
    /// `<service>/<endpoint>`, outermost (so it covers the other layers).
    pub tracer: Option<Tracer>,
    /// Faults to inject, if any (innermost: logged and measured like real
    /// slowness and failures).
    pub faults: Option<FaultLayer>,
    /// Authentication (and authorization), if any: outermost, so that a
    /// refused call reaches nothing and the log line and span of an accepted
    /// one name its subject (`sub=`, `enduser.id`).
    pub auth: Option<AuthLayer>,
}

impl std::fmt::Debug for Middlewares<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Middlewares")
            .field("max_in_flight", &self.max_in_flight)
            .field("concurrency_limit", &self.concurrency_limit)
            .field("rate_limit", &self.rate_limit.is_some())
            .field(
                "rate_limit_per_client",
                &self.rate_limit_per_client.is_some(),
            )
            .field("tracer", &self.tracer.is_some())
            .field("faults", &self.faults.is_some())
            .field("auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl<'a> Middlewares<'a> {
    /// Logging, RED and USE metrics; no limits.
    pub fn new(logger: Logger, recorder: &'a dyn Recorder) -> Self {
        Middlewares {
            logger,
            recorder,
            max_in_flight: None,
            concurrency_limit: None,
            rate_limit: None,
            rate_limit_per_client: None,
            tracer: None,
            faults: None,
            auth: None,
        }
    }

    /// Wraps endpoint `name` in the middlewares, outermost first: requests meet
    /// them in the order written.
    pub fn wrap<E, Req, Resp>(&self, name: &'static str, endpoint: E) -> BoxEndpoint<Req, Resp>
    where
        E: SharedEndpoint<Req, Response = Resp>,
        E::Future: 'static,
        Req: Send + 'static,
        Resp: Failer + Send + 'static,
    {
        // Every field, named: a new one cannot be forgotten on the short path.
        let Middlewares {
            logger,
            recorder,
            max_in_flight,
            concurrency_limit,
            rate_limit,
            rate_limit_per_client,
            tracer,
            faults,
            auth,
        } = self;
        // What every call reports, as hooks: one line per call; rate, errors,
        // duration (RED); in flight (USE). Logging and RED share one layer on
        // every path (a tuple of hooks is a hook, run as the layers would be).
        let reported = (
            CallLog::new(logger.clone(), name),
            RedMetrics::new(*recorder, name),
        );
        let use_ = UseMetrics::new(*recorder, name);
        let optional = (
            tracer,
            concurrency_limit,
            rate_limit,
            rate_limit_per_client,
            max_in_flight,
            faults,
            auth,
        );
        if let (None, None, None, None, None, None, None) = optional {
            // The default stack, without the optional layers: an absent
            // `option_layer` still puts an `Either` around the layers below it,
            // and moves the call's future once more (1.31 -> 1.19 us per call,
            // both paths in one build of
            // `cargo bench -p kit-bench --bench stack`). And with nothing
            // between them, USE joins the same layer: one future around the
            // call's instead of three. Nothing below can make a call wait, so
            // USE's saturation gauge has nothing to see.
            return BoxEndpoint::new(HookLayer::new((reported, use_)).layer(endpoint));
        }
        let tracing = tracer
            .as_ref()
            .map(|t| TracingLayer::server(t, format!("{}/{name}", t.service())));
        // Each endpoint its own limiter: a bulkhead, so that one endpoint's
        // slow dependency cannot take the others' capacity.
        let overload = concurrency_limit.as_ref().map(|algorithm| {
            let limiter = Limiter::new(algorithm.clone())
                .expect("a concurrency limit read with Algorithm::parse is valid");
            OverloadLayer::new(limiter.with_metrics(*recorder, name))
        });
        BoxEndpoint::new(
            ServiceBuilder::new()
                .option_layer(auth.clone()) // the caller's token verified, its claims in the context
                .option_layer(tracing) // a span per call, its trace context in the request
                .layer(HookLayer::new(reported)) // the log line, RED
                .option_layer(overload) // refused at once over the endpoint's concurrency limit
                .option_layer(rate_limit.clone()) // whole-service rate limit
                .option_layer(rate_limit_per_client.clone()) // per-client rate limit
                .layer(UseLayer::new(use_)) // in flight, and waiting for a permit
                .option_layer(max_in_flight.map(ConcurrencyLimitLayer::new)) // bounded concurrency
                .option_layer(faults.clone()) // injected latency and failures, if asked
                .service(endpoint),
        )
    }
}

/// A rate limit per client (the transport must put [`PeerAddr`] in the context:
/// `ServeConfig::peer_addr(true)`), keyed by [`client_key`].
pub type ClientLimit = KeyedLayer<IpAddr, Box<dyn Fn(&Context) -> Option<IpAddr> + Send + Sync>>;

/// A per-client limit allowing `quota` to each client, tracking at most
/// `max_clients` clients at once. IPv6 clients are keyed by their first
/// `ipv6_prefix` bits (64: one key per /64, as one host usually controls a
/// whole /64 and could otherwise mint a key per address).
pub fn client_limit(quota: Quota, max_clients: usize, ipv6_prefix: u8) -> ClientLimit {
    let key = move |ctx: &Context| client_ip(ctx).map(|ip| client_key(ip, ipv6_prefix));
    KeyedLayer::new(KeyedLimiter::new(quota, max_clients), Box::new(key))
}

/// The key a client is rate limited by: an IPv4 address as it is, an IPv6
/// address cut to its first `ipv6_prefix` bits (at most 128).
pub fn client_key(ip: IpAddr, ipv6_prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_keyed_by_their_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a, 64), client_key(b, 64));
        assert_ne!(client_key(a, 64), client_key(other, 64));
        assert_eq!(
            client_key(a, 64),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        assert_ne!(client_key(a, 128), client_key(b, 128));
        assert_eq!(client_key(a, 0), "::".parse::<IpAddr>().unwrap());
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(client_key(v4, 64), v4);
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_key(mapped, 64), v4);
    }
}
