//! Step 8: a dependency. addsvc's `concat` now uppercases through stringsvc.
//! The domain depends on stringsvc's *trait* only; whether the implementation
//! runs in process or is a client `Set` calling a remote stringsvc over HTTP is
//! decided in `main`.

use http::Uri;
use kit_endpoint::{BoxError, Context, cause_ref};
use stringsvc::service::{StringError, StringService};

use crate::s01_service::{AddError, AddService};

/// addsvc on top of a [`StringService`].
#[derive(Debug, Clone)]
pub struct BasicService<S> {
    strings: S,
}

impl<S: StringService> BasicService<S> {
    /// A service that uppercases through `strings`.
    pub fn new(strings: S) -> Self {
        BasicService { strings }
    }
}

impl<S: StringService> AddService for BasicService<S> {
    async fn sum(&self, _ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        a.checked_add(b).ok_or_else(|| AddError::Overflow.into())
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        // The context goes on to stringsvc: same request ID, the rest of the deadline.
        self.strings
            .uppercase(ctx, a + &b)
            .await
            .map_err(|e| match cause_ref::<StringError>(&*e) {
                // stringsvc's business error becomes addsvc's own.
                Some(StringError::Empty) => AddError::EmptyConcat.into(),
                _ => e,
            })
    }
}

/// A client `Set` of the stringsvc at `base` (e.g. `http://127.0.0.1:8082`): it
/// implements `StringService`, so it plugs into [`BasicService::new`].
pub fn remote_stringsvc(base: &Uri) -> Result<stringsvc::endpoint::Set, BoxError> {
    stringsvc::transport::http::client_set(kit_transport::pooled(), base)
}
