//! Step 15: distributed tracing. A span per endpoint call, linked across
//! services by the W3C trace context the transports carry; exported over OTLP
//! (`Tracer::otlp`) or, in tests, kept in memory.

use http::Uri;
use kit_endpoint::{BoxEndpoint, BoxError, Failer, Request, endpoint_fn};
use kit_tracing::{Tracer, TracingLayer};
use kit_transport::Router;
use stringsvc::endpoint::Set;
use stringsvc::service::StringService;
use tower::Layer;

/// stringsvc's endpoints, each with a server span (`stringsvc/uppercase`...).
pub fn traced_stringsvc(tracer: &Tracer) -> Router {
    let set = Set::new(stringsvc::service::BasicService);
    let set = Set {
        uppercase: BoxEndpoint::new(
            TracingLayer::server(tracer, "stringsvc/uppercase").layer(set.uppercase),
        ),
        count: BoxEndpoint::new(TracingLayer::server(tracer, "stringsvc/count").layer(set.count)),
    };
    stringsvc::transport::http::router(set)
}

/// The answer of [`shout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shouted(pub String);

impl Failer for Shouted {
    fn failed(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        None
    }
}

/// An endpoint of "our" service that uppercases through `strings` (stringsvc,
/// remote), with a server span `caller/shout`. The context it passes on
/// carries its span: stringsvc's span becomes its child.
pub fn shout<S: StringService + Clone>(
    tracer: &Tracer,
    strings: S,
) -> BoxEndpoint<String, Shouted> {
    let endpoint = endpoint_fn(move |req: Request<String>| {
        let strings = strings.clone();
        async move {
            let (ctx, s) = req.into_parts();
            let v = strings.uppercase(&ctx, s).await?;
            Ok::<_, BoxError>(Shouted(v))
        }
    });
    BoxEndpoint::new(TracingLayer::server(tracer, "caller/shout").layer(endpoint))
}

/// stringsvc's client `Set` at `base`, as in step 8: no spans of its own.
pub fn plain_client(base: &Uri) -> Result<Set, BoxError> {
    stringsvc::transport::http::client_set(kit_transport::pooled(), base)
}
