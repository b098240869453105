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

/// `--concurrency-limit`: `off`, `fixed:N`, `adaptive` or `aimd:LATENCY`
/// ([`kit_overload::Algorithm::parse`]), for [`Middlewares::concurrency_limit`](crate::Middlewares).
#[derive(Debug, Clone, PartialEq)]
pub struct ConcurrencyLimit(pub Option<kit_overload::Algorithm>);

/// Parses `--concurrency-limit`, saying what is wrong with a bad value.
///
/// ```
/// use service_stack::parse_concurrency_limit;
/// assert_eq!(parse_concurrency_limit("off").unwrap().0, None);
/// assert!(parse_concurrency_limit("fixed:8").unwrap().0.is_some());
/// assert_eq!(
///     parse_concurrency_limit("fixed:0").unwrap_err(),
///     "fixed:0: a fixed limit must be at least 1"
/// );
/// ```
pub fn parse_concurrency_limit(s: &str) -> Result<ConcurrencyLimit, String> {
    kit_overload::Algorithm::parse(s)
        .map(ConcurrencyLimit)
        .map_err(|e| e.to_string())
}
