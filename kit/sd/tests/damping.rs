//! Flap damping on paused time: a flapping instance is suppressed after the
//! third flap in quick succession and comes back once its penalty has decayed.

use std::time::Duration;

use kit_sd::{DampedInstancer, Damping, Instance, Instancer, StaticInstancer};

fn addrs(set: &[Instance]) -> Vec<&str> {
    set.iter().map(|i| i.addr.as_str()).collect()
}

/// Lets the damping task handle what it was sent.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_flapping_instance_is_suppressed_then_reused() {
    let a = Instance::new("a");
    let b = Instance::new("b");
    let source = StaticInstancer::new(vec![a.clone(), b.clone()]);
    let damped = DampedInstancer::new(&source, Damping::default());
    let rx = damped.subscribe();

    // Two flaps: penalty 2000, not above the 2000 mark: b stays usable.
    for _ in 0..2 {
        source.set(vec![a.clone()]);
        settle().await;
        assert_eq!(addrs(&rx.borrow()), ["a"]);
        source.set(vec![a.clone(), b.clone()]);
        settle().await;
        assert_eq!(addrs(&rx.borrow()), ["a", "b"]);
    }

    // The third flap suppresses it: back in the registry, but not published.
    source.set(vec![a.clone()]);
    settle().await;
    source.set(vec![a.clone(), b.clone()]);
    settle().await;
    assert_eq!(addrs(&rx.borrow()), ["a"]);

    // 3000 halves every 60 s: below the 750 reuse mark after 120 s.
    tokio::time::advance(Duration::from_secs(100)).await;
    settle().await;
    assert_eq!(addrs(&rx.borrow()), ["a"]);
    tokio::time::advance(Duration::from_secs(25)).await;
    settle().await;
    assert_eq!(addrs(&rx.borrow()), ["a", "b"]);
}
