//! axum interop (feature `axum`): kit's errors as axum answers.

use std::fmt;

use axum::response::{IntoResponse, Response};
use kit_endpoint::{AnsweredError, BoxError};

use crate::error::encode_error_as;
use crate::layers::current_context;

/// Any error as an axum answer, the way kit's own servers answer it
/// ([`encode_error`](crate::encode_error): the status of its class, `Retry-After`
/// when it carries a hint, a JSON body `{"error": ...}`, with the request ID on
/// a 5xx when a [`SetContextLayer`](crate::SetContextLayer) is outside). A
/// handler returns `Result<T, ErrorResponse>` and uses `?` on any error:
/// a kit middleware's (an open breaker is a 503 with `Retry-After`), a kit
/// client's, its own classified ones.
///
/// ```
/// use axum::response::IntoResponse;
/// use kit_endpoint::{Classified, ErrorClass};
/// use kit_transport::ErrorResponse;
///
/// async fn profile() -> Result<String, ErrorResponse> {
///     Err(Classified::public(ErrorClass::NotFound, "no such profile"))?
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let resp = profile().await.into_response();
/// assert_eq!(resp.status(), 404);
/// # }
/// ```
pub struct ErrorResponse(BoxError);

impl ErrorResponse {
    /// The error.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }

    /// Unwraps the error.
    pub fn into_inner(self) -> BoxError {
        self.0
    }
}

impl<E: Into<BoxError>> From<E> for ErrorResponse {
    fn from(err: E) -> Self {
        ErrorResponse(err.into())
    }
}

impl fmt::Debug for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ErrorResponse").field(&self.0).finish()
    }
}

impl fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let ctx = current_context().unwrap_or_default();
        let mut resp: Response = encode_error_as(&ctx, &*self.0);
        resp.extensions_mut().insert(AnsweredError(self.0.into()));
        resp
    }
}
