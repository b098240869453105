//! Step 17's checkpoint: a call through the `Set`'s boxed `sum` makes exactly one
//! heap allocation (the box of its future), and through the logged `sum` of
//! step 5, boxed twice, two: nothing else in the call allocates, not the
//! context, not the log line (formatted into a reused buffer), not the endpoint.
//!
//! dhat's allocator counts every allocation of the process, the test harness's
//! included: this binary has one test (the challenge's is in s17_challenge.rs).

use kit_workshop::s01_service::BasicService;
use kit_workshop::s02_endpoints::Set;
use kit_workshop::s05_logging::logger;
use kit_workshop::s17_speed::{allocations_per_call, logged_sum};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn a_logged_call_allocates_once_per_box() {
    assert_eq!(
        allocations_per_call(Set::new(BasicService).sum),
        1.0,
        "boxed once"
    );
    // Lines go nowhere: the sink is not what is measured.
    let log = logger(kit_log::Discard);
    assert_eq!(
        allocations_per_call(logged_sum(&log)),
        2.0,
        "logged, boxed twice"
    );
}
