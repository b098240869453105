//! Step 14's challenge: the tally refuses negative sums (a ledger of credits
//! only). A refused event must land in a dead-letter stream at once, not be
//! retried, while everything else keeps flowing.

use std::sync::Arc;

use async_nats::jetstream::{self, stream};
use kit_endpoint::{BoxError, Classified, ErrorClass, Request, endpoint_fn};
use kit_nats::events::{Consumer, Delivery};
use tower::{Service, ServiceExt};

use crate::s14_messaging::{Summed, Tally, tally_consumer, tally_endpoint};

/// Where refused events go, and the stream that keeps them.
pub const DEAD_LETTER: &str = "sums-dead.summed";
/// The stream of dead letters.
pub const DEAD_STREAM: &str = "SUMS_DEAD";

/// Refuses negative sums as the caller's fault (invalid argument): the
/// consumer dead-letters such a refusal at once instead of retrying it.
pub fn credits_only(
    tally: Arc<Tally>,
) -> impl Service<Request<Delivery<Summed>>, Response = (), Error = BoxError, Future: Send>
+ Clone
+ Send
+ Sync
+ 'static {
    let add = tally_endpoint(tally);
    endpoint_fn(move |req: Request<Delivery<Summed>>| {
        let add = add.clone();
        async move {
            if req.msg().payload.v < 0 {
                let refusal = format!("negative sum {} refused", req.msg().payload.v);
                return Err(Classified::public(ErrorClass::InvalidArgument, refusal).into());
            }
            add.oneshot(req).await
        }
    })
}

/// The tally's consumer with a dead-letter subject (and its stream).
pub async fn tally_with_dead_letters<E>(
    js: jetstream::Context,
    durable: &str,
    endpoint: E,
) -> Result<Consumer<E, Summed>, BoxError>
where
    E: Service<Request<Delivery<Summed>>, Response = (), Error = BoxError>
        + Clone
        + Send
        + Sync
        + 'static,
    E::Future: Send,
{
    js.get_or_create_stream(stream::Config {
        name: DEAD_STREAM.into(),
        subjects: vec!["sums-dead.>".into()],
        ..Default::default()
    })
    .await?;
    Ok(tally_consumer(js, durable, endpoint).dead_letter(DEAD_LETTER))
}
