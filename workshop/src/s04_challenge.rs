//! Step 4, challenge: a histogram of *service* durations, measured by a service
//! middleware, to compare with the endpoint histogram of the RED middleware.

use std::time::Instant;

use kit_endpoint::{BoxError, Context};
use metrics::{Histogram, Key, Label, Metadata, Recorder};

use crate::s01_service::AddService;

/// The histogram's name.
pub const SERVICE_DURATION: &str = "addsvc_service_duration_seconds";

/// Records how long each service method takes, by method.
#[derive(Debug, Clone)]
pub struct Instrumenting<S> {
    sum: Histogram,
    concat: Histogram,
    next: S,
}

impl<S> Instrumenting<S> {
    /// Measures `next`, registering the histograms with `recorder`.
    pub fn new(recorder: &dyn Recorder, next: S) -> Self {
        static METADATA: Metadata<'static> =
            Metadata::new("kit_workshop", metrics::Level::INFO, None);
        let histogram = |method: &'static str| {
            let key = Key::from_parts(SERVICE_DURATION, vec![Label::new("method", method)]);
            recorder.register_histogram(&key, &METADATA)
        };
        Instrumenting {
            sum: histogram("sum"),
            concat: histogram("concat"),
            next,
        }
    }
}

impl<S: AddService> AddService for Instrumenting<S> {
    async fn sum(&self, ctx: &Context, a: i64, b: i64) -> Result<i64, BoxError> {
        let start = Instant::now();
        let out = self.next.sum(ctx, a, b).await;
        self.sum.record(start.elapsed().as_secs_f64());
        out
    }

    async fn concat(&self, ctx: &Context, a: String, b: String) -> Result<String, BoxError> {
        let start = Instant::now();
        let out = self.next.concat(ctx, a, b).await;
        self.concat.record(start.elapsed().as_secs_f64());
        out
    }
}
