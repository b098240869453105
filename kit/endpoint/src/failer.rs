//! Business errors carried inside successful responses.

use std::error::Error;

/// A response that may carry a business error.
///
/// "The service said no" (a sum that overflows, an empty string to uppercase) is
/// not "the call failed" (a timeout, a refused connection). The first travels
/// inside an `Ok` response, so that middlewares which count failures (circuit
/// breakers, retries, error metrics) leave it alone; the transport turns it into a
/// 4xx answer. This is go-kit's `endpoint.Failer`.
///
/// ```
/// use kit_endpoint::Failer;
/// use std::error::Error;
///
/// #[derive(Debug)]
/// struct Overflow;
/// impl std::fmt::Display for Overflow {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("integer overflow")
///     }
/// }
/// impl Error for Overflow {}
///
/// struct SumResponse {
///     v: i64,
///     err: Option<Overflow>,
/// }
///
/// impl Failer for SumResponse {
///     fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
///         self.err.as_ref().map(|e| e as _)
///     }
/// }
///
/// let ok = SumResponse { v: 3, err: None };
/// assert!(ok.failed().is_none());
/// let no = SumResponse { v: 0, err: Some(Overflow) };
/// assert_eq!(no.failed().unwrap().to_string(), "integer overflow");
/// ```
pub trait Failer {
    /// The business error this response carries, if any.
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)>;
}

impl Failer for () {
    fn failed(&self) -> Option<&(dyn Error + Send + Sync + 'static)> {
        None
    }
}
