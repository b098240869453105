//! Per-request limits of the example services' HTTP servers.

use kit_transport::Server;

/// Per-request limits of the HTTP servers of kit's example services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body accepted; larger ones get `413`.
    pub body_bytes: usize,
    /// How long a request body may take to arrive; slower ones get `408` and
    /// their connection is closed.
    pub body_timeout: std::time::Duration,
}

impl Default for Limits {
    /// kit's defaults: 1 MiB, 10 s.
    fn default() -> Self {
        Limits {
            body_bytes: kit_transport::DEFAULT_BODY_LIMIT,
            body_timeout: kit_transport::DEFAULT_BODY_TIMEOUT,
        }
    }
}

impl Limits {
    /// `server` with these limits.
    pub fn apply<E, Req, Resp>(&self, server: Server<E, Req, Resp>) -> Server<E, Req, Resp> {
        server
            .body_limit(self.body_bytes)
            .body_timeout(self.body_timeout)
    }
}
