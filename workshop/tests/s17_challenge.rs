//! Step 17's challenge: the logged `sum`, boxed once, allocates once per call.
//! (A binary of its own: dhat counts the whole process.)

use kit_workshop::s05_logging::logger;
use kit_workshop::s17_challenge::logged_sum_boxed_once;
use kit_workshop::s17_speed::allocations_per_call;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn challenge_boxed_once_allocates_once() {
    let log = logger(kit_log::Discard);
    assert_eq!(allocations_per_call(logged_sum_boxed_once(&log)), 1.0);
}
