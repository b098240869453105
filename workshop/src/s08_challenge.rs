//! Step 8, challenge: make uppercasing via stringsvc optional. Without a
//! stringsvc, `concat` joins as in step 1.

use kit_endpoint::{BoxError, Context};
use stringsvc::service::StringService;

use crate::s01_service::AddService;

/// addsvc with an optional stringsvc.
#[derive(Debug, Clone)]
pub struct MaybeUppercasing<S> {
    strings: Option<crate::s08_stringsvc::BasicService<S>>,
}

impl<S: StringService> MaybeUppercasing<S> {
    /// Uppercases through `strings` if given.
    pub fn new(strings: Option<S>) -> Self {
        MaybeUppercasing {
            strings: strings.map(crate::s08_stringsvc::BasicService::new),
        }
    }
}

impl<S: StringService> AddService for MaybeUppercasing<S> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        crate::s01_service::BasicService.sum(ctx, a, b).await
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        match &self.strings {
            Some(upper) => upper.concat(ctx, a, b).await,
            None => crate::s01_service::BasicService.concat(ctx, a, b).await,
        }
    }
}
