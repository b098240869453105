//! What the gRPC servers share: the context from the metadata, the hooks
//! around kit-endpoint's call path, and the hook methods they both offer.

use kit_endpoint::{BoxError, Context, DEFAULT_BUDGET, ServerHooks};
use tonic::metadata::MetadataMap;
use tonic::{Response, Status};

use crate::context::{REQUEST_ID, context_and_timeout};
use crate::error::BadRequest;

/// What the gRPC server names itself in the request context (and so on log
/// lines): `gRPC`.
pub const TRANSPORT: &str = "gRPC";

/// The hooks of a gRPC server answering `T`: before hooks see the request's
/// metadata, after hooks the answer's, finalizers the answer.
pub(crate) type Hooks<T> = ServerHooks<MetadataMap, MetadataMap, Result<Response<T>, Status>>;

/// The metadata of an answer, a message or a status.
pub(crate) fn metadata_of<T>(out: &mut Result<Response<T>, Status>) -> &mut MetadataMap {
    match out {
        Ok(resp) => resp.metadata_mut(),
        Err(status) => status.metadata_mut(),
    }
}

/// The request's context from its metadata, marked as come by gRPC, and what
/// its decoding must answer first: a `grpc-timeout` that is there but does
/// not parse (`-1S`, `abc`, more than 8 digits) refuses the call
/// `INVALID_ARGUMENT` (running it with the default budget would hide the
/// caller's bug, and with none would run it unbounded).
///
/// The caller's verified identity (mutual TLS, see [`serve_tls`](crate::serve_tls))
/// comes from the request's extensions.
pub(crate) fn context_of(
    metadata: &MetadataMap,
    extensions: &http::Extensions,
) -> (Context, Result<(), BoxError>) {
    let (mut ctx, malformed) = context_and_timeout(metadata.as_ref(), Some(DEFAULT_BUDGET));
    ctx.set_transport(TRANSPORT);
    if let Some(peer) = extensions.get::<kit_endpoint::PeerIdentity>() {
        ctx.set_peer_identity(peer.clone());
    }
    let timeout = match malformed {
        false => Ok(()),
        true => Err(BadRequest::new(
            "malformed grpc-timeout: 1 to 8 digits and a unit (H, M, S, m, u, n)",
        )
        .into()),
    };
    (ctx, timeout)
}

/// The answer's last steps on both gRPC servers: the request ID in its
/// metadata, then every after hook and finalizer.
pub(crate) fn finish<T>(hooks: &Hooks<T>, ctx: &Context, out: &mut Result<Response<T>, Status>) {
    if let Some(Ok(id)) = ctx.request_id().map(|id| id.as_str().parse()) {
        metadata_of(out).insert(REQUEST_ID, id);
    }
    hooks.finish(ctx, out, metadata_of);
}

/// The hook methods, the same on [`Server`] and [`StreamingServer`]: each
/// hands its closure to the server's [`ServerHooks`].
macro_rules! hook_methods {
    ($answer:ty) => {
        /// Replaces the error encoder, which answers every refusal, failure
        /// and business error with a status (go-kit's `ServerErrorEncoder`):
        /// map your business errors to statuses, fall back on
        /// [`encode_error`].
        pub fn error_encoder(
            mut self,
            f: impl Fn(&Context, ErrorRef<'_>) -> Status + Send + Sync + 'static,
        ) -> Self {
            self.hooks.error_encoder(move |ctx, err| Err(f(ctx, err)));
            self
        }

        kit_endpoint::server_hook_methods!(
            @context hooks: |this| this.hooks,
            in: MetadataMap,
            head: MetadataMap
        );

        /// Adds a hook told of every answer (ok, or the status), for access
        /// logs and metrics (go-kit's `ServerFinalizer`).
        pub fn finalizer(
            mut self,
            f: impl Fn(&Context, Result<(), &Status>) + Send + Sync + 'static,
        ) -> Self {
            self.hooks
                .finalizer(move |ctx, out: &$answer| f(ctx, out.as_ref().map(drop)));
            self
        }
    };
}
