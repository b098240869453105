//! The discovery pipeline with in-process instances: balancing, retries on other
//! instances within the deadline, and endpoints that follow the instance set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kit_endpoint::{BoxEndpoint, BoxError, Context, Request, endpoint_fn};
use kit_sd::{
    Balanced, Ejection, Endpointer, Factory, Instance, InstanceCache, NoInstances,
    RetriesExhausted, StaticInstancer, Strategy,
};
use tower::ServiceExt;

/// What the fake instances do and saw.
#[derive(Default)]
struct Fleet {
    calls: Mutex<HashMap<String, usize>>,
    made: AtomicUsize,
}

/// A factory of fake instances: `bad*` addresses fail, `slow*` ones take 100 ms
/// and fail, `lag*` ones take 20 ms and `fast*` ones 1 ms, the others answer
/// their address at once.
fn factory(fleet: Arc<Fleet>) -> Factory<u32, String> {
    Arc::new(move |instance: &Instance| {
        fleet.made.fetch_add(1, Ordering::SeqCst);
        let addr = instance.addr.clone();
        let fleet = fleet.clone();
        Ok(BoxEndpoint::new(endpoint_fn(move |_req: Request<u32>| {
            let (addr, fleet) = (addr.clone(), fleet.clone());
            async move {
                *fleet.calls.lock().unwrap().entry(addr.clone()).or_default() += 1;
                if addr.starts_with("slow") {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                if addr.starts_with("lag") {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if addr.starts_with("fast") {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if addr.starts_with("bad") || addr.starts_with("slow") {
                    return Err::<String, BoxError>(format!("{addr} refused").into());
                }
                Ok(addr)
            }
        })))
    })
}

fn instances(addrs: &[&str]) -> Vec<Instance> {
    addrs.iter().map(|a| Instance::new(*a)).collect()
}

/// Round robin sends each instance its share.
#[tokio::test]
async fn round_robin_spreads_calls_evenly() {
    let fleet = Arc::new(Fleet::default());
    let instancer = StaticInstancer::new(instances(&["a", "b", "c"]));
    let ep = Balanced::new(
        Endpointer::new(&instancer, factory(fleet.clone()), None),
        Strategy::RoundRobin,
        1,
    );
    for i in 0..30 {
        ep.clone().oneshot(Request::from_msg(i)).await.unwrap();
    }
    let calls = fleet.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        HashMap::from([("a".into(), 10), ("b".into(), 10), ("c".into(), 10)])
    );
}

/// A failing instance costs an attempt, never a failed call: the retry goes to
/// another instance. When all fail, every attempt's error is kept.
#[tokio::test]
async fn failures_are_retried_on_other_instances_and_all_errors_kept() {
    let fleet = Arc::new(Fleet::default());
    let instancer = StaticInstancer::new(instances(&["a", "bad1", "b"]));
    let endpointer = Endpointer::new(&instancer, factory(fleet.clone()), None);
    for strategy in [
        Strategy::RoundRobin,
        Strategy::Random,
        Strategy::LeastPending,
        Strategy::PeakEwma,
    ] {
        let ep = Balanced::new(endpointer.clone(), strategy, 3);
        for i in 0..30 {
            let addr = ep.clone().oneshot(Request::from_msg(i)).await.unwrap();
            assert!(addr == "a" || addr == "b");
        }
    }
    assert!(fleet.calls.lock().unwrap()["bad1"] > 0);

    instancer.set(instances(&["bad1", "bad2", "bad3"]));
    // Wait for the endpointer to follow (it does so on its own task).
    while endpointer.instances().iter().any(|i| i.addr == "a") {
        tokio::task::yield_now().await;
    }
    let ep = Balanced::new(endpointer, Strategy::RoundRobin, 3);
    let err = ep.oneshot(Request::from_msg(0)).await.unwrap_err();
    let exhausted = err.downcast_ref::<RetriesExhausted>().unwrap();
    let mut addrs: Vec<&str> = exhausted.attempts.iter().map(|(a, _)| a.as_str()).collect();
    addrs.sort();
    assert_eq!(
        addrs,
        ["bad1", "bad2", "bad3"],
        "each attempt on a different instance"
    );
    assert!(
        err.to_string().starts_with("3 attempt(s) failed: "),
        "{err}"
    );
}

/// Peak EWMA steers calls away from a slow instance even when calls never
/// overlap (so least-pending sees no difference and splits them evenly).
#[tokio::test(start_paused = true)]
async fn peak_ewma_prefers_the_faster_instance() {
    let share_of_fast = |strategy| async move {
        let fleet = Arc::new(Fleet::default());
        let instancer = StaticInstancer::new(instances(&["fast", "lag"]));
        let ep = Balanced::new(
            Endpointer::new(&instancer, factory(fleet.clone()), None),
            strategy,
            1,
        );
        for i in 0..200 {
            ep.clone().oneshot(Request::from_msg(i)).await.unwrap();
        }
        let calls = fleet.calls.lock().unwrap().clone();
        calls["fast"] as f64 / 200.0
    };
    let ewma = share_of_fast(Strategy::PeakEwma).await;
    let pending = share_of_fast(Strategy::LeastPending).await;
    assert!(ewma >= 0.9, "peak EWMA sent {ewma} to the fast instance");
    assert!(
        pending < 0.7,
        "least pending sent {pending} to the fast instance"
    );
}

/// Retries stop at the request's deadline.
#[tokio::test(start_paused = true)]
async fn retries_never_run_past_the_deadline() {
    let fleet = Arc::new(Fleet::default());
    let instancer = StaticInstancer::new(instances(&["slow1", "slow2", "slow3", "slow4"]));
    let ep = Balanced::new(
        Endpointer::new(&instancer, factory(fleet), None),
        Strategy::RoundRobin,
        4,
    );
    let start = tokio::time::Instant::now();
    let ctx = Context::new().with_timeout(Duration::from_millis(150));
    let err = ep.oneshot(Request::new(ctx, 0)).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(200));
    let exhausted = err.downcast_ref::<RetriesExhausted>().unwrap();
    assert_eq!(exhausted.attempts.len(), 3, "{err}");
    assert_eq!(exhausted.attempts[2].1.to_string(), "deadline exceeded");
}

/// Endpoints follow the instances: kept ones keep their endpoint, gone ones are
/// dropped, new ones made; a filter picks by metadata; no instance is an error.
#[tokio::test]
async fn the_endpointer_follows_the_instancer_and_filters() {
    let fleet = Arc::new(Fleet::default());
    let v1 = |a: &str| Instance::new(a).with("version", "1");
    let v2 = |a: &str| Instance::new(a).with("version", "2");
    let instancer = StaticInstancer::new(vec![v1("a"), v2("b")]);
    let only_v2: kit_sd::Filter =
        Arc::new(|i: &Instance| i.metadata.get("version").is_some_and(|v| v == "2"));
    let endpointer = Endpointer::new(&instancer, factory(fleet.clone()), Some(only_v2));
    let ep = Balanced::new(endpointer.clone(), Strategy::Random, 1);
    for i in 0..10 {
        assert_eq!(ep.clone().oneshot(Request::from_msg(i)).await.unwrap(), "b");
    }
    assert_eq!(fleet.made.load(Ordering::SeqCst), 1);

    instancer.set(vec![v1("a"), v2("b"), v2("c")]);
    while endpointer.instances().len() < 2 {
        tokio::task::yield_now().await;
    }
    // "b" kept its endpoint: only "c" was made.
    assert_eq!(fleet.made.load(Ordering::SeqCst), 2);

    instancer.set(vec![v1("a")]);
    while !endpointer.instances().is_empty() {
        tokio::task::yield_now().await;
    }
    let err = ep.oneshot(Request::from_msg(0)).await.unwrap_err();
    assert!(kit_endpoint::is_caused_by::<NoInstances>(&*err));
    assert_eq!(
        kit_endpoint::ErrorClass::of(&*err),
        kit_endpoint::ErrorClass::Unavailable { retry_after: None }
    );
}

/// Values shared per instance are made once, and dropped when their instance
/// is no longer listed: an instance that comes back gets a new one.
#[tokio::test]
async fn an_instance_cache_follows_the_instancer() {
    let made = Arc::new(AtomicUsize::new(0));
    let instancer = StaticInstancer::new(instances(&["a", "b"]));
    let count = made.clone();
    let cache = InstanceCache::new(&instancer, move |i: &Instance| {
        Ok(format!(
            "{}#{}",
            i.addr,
            count.fetch_add(1, Ordering::SeqCst)
        ))
    });
    let a = Instance::new("a");
    assert_eq!(cache.get(&a).unwrap(), "a#0");
    assert_eq!(cache.clone().get(&a).unwrap(), "a#0", "shared by clones");
    assert_eq!(cache.get(&Instance::new("b")).unwrap(), "b#1");
    assert_eq!(cache.len(), 2);

    instancer.set(instances(&["b"]));
    let pruned = tokio::time::timeout(Duration::from_secs(10), async {
        while cache.len() > 1 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(pruned.is_ok(), "a's value was dropped with a");
    assert_eq!(cache.get(&Instance::new("b")).unwrap(), "b#1", "b stayed");
    instancer.set(instances(&["a", "b"]));
    assert_eq!(cache.get(&a).unwrap(), "a#2", "a came back: made afresh");
    assert_eq!(made.load(Ordering::SeqCst), 3);
}

/// An instance that keeps failing sits out for the cooldown (no calls reach
/// it), then is tried again; never more than the allowed share is ejected.
#[tokio::test(start_paused = true)]
async fn outliers_are_ejected_for_a_cooldown() {
    let fleet = Arc::new(Fleet::default());
    let instancer = StaticInstancer::new(instances(&["a", "bad1", "bad2"]));
    let ep = Balanced::builder(Endpointer::new(&instancer, factory(fleet.clone()), None))
        .strategy(Strategy::RoundRobin)
        .max_attempts(3)
        .ejecting(Ejection {
            consecutive_failures: 2,
            cooldown: Duration::from_secs(10),
            max_ejected_share: 0.34,
        })
        .build();
    let bad_calls = |fleet: &Fleet| {
        let calls = fleet.calls.lock().unwrap();
        (
            calls.get("bad1").copied().unwrap_or(0),
            calls.get("bad2").copied().unwrap_or(0),
        )
    };
    for i in 0..30 {
        assert_eq!(ep.clone().oneshot(Request::from_msg(i)).await.unwrap(), "a");
    }
    // One of the two bad instances is out (a third of the pool at most); the
    // other keeps being tried.
    let (b1, b2) = bad_calls(&fleet);
    for i in 0..30 {
        ep.clone().oneshot(Request::from_msg(i)).await.unwrap();
    }
    let (c1, c2) = bad_calls(&fleet);
    assert!(
        (c1 == b1) != (c2 == b2),
        "exactly one bad instance sat out: {b1}->{c1}, {b2}->{c2}"
    );

    // After the cooldown the ejected one is tried again.
    tokio::time::advance(Duration::from_secs(11)).await;
    for i in 0..30 {
        ep.clone().oneshot(Request::from_msg(i)).await.unwrap();
    }
    let (d1, d2) = bad_calls(&fleet);
    if c1 == b1 {
        assert!(d1 > c1, "bad1 was not tried again after its cooldown");
    } else {
        assert!(d2 > c2, "bad2 was not tried again after its cooldown");
    }
}

/// Instances that answer with a given error class: `fault*` refuse the request
/// as the caller's fault (an upstream 4xx), `down*` are unavailable, others
/// answer their address.
fn classed_factory(calls: Arc<AtomicUsize>) -> Factory<u32, String> {
    use kit_endpoint::{Classified, ErrorClass};
    Arc::new(move |instance: &Instance| {
        let (addr, calls) = (instance.addr.clone(), calls.clone());
        Ok(BoxEndpoint::new(endpoint_fn(move |_req: Request<u32>| {
            let addr = addr.clone();
            calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if addr.starts_with("fault") {
                    let class = ErrorClass::Upstream { caller_fault: true };
                    return Err::<String, BoxError>(
                        Classified::new(class, "422: bad input").into(),
                    );
                }
                if addr.starts_with("down") {
                    let class = ErrorClass::Unavailable { retry_after: None };
                    return Err(Classified::new(class, "503").into());
                }
                Ok(addr)
            }
        })))
    })
}

/// Retries decide by class with no code in the caller: an unavailable instance
/// is retried on another; the caller's own fault is not retried (another
/// instance would refuse it too), and comes back as itself, not wrapped in
/// `RetriesExhausted`, since only one attempt was made.
#[tokio::test]
async fn retries_follow_the_error_class_and_a_lone_failure_is_itself() {
    let calls = Arc::new(AtomicUsize::new(0));
    let down = StaticInstancer::new(instances(&["down1", "ok"]));
    let ep = Balanced::builder(Endpointer::new(&down, classed_factory(calls.clone()), None))
        .strategy(Strategy::RoundRobin)
        .max_attempts(2)
        .build();
    for i in 0..4 {
        assert_eq!(
            ep.clone().oneshot(Request::from_msg(i)).await.unwrap(),
            "ok"
        );
    }

    calls.store(0, Ordering::SeqCst);
    let faulty = StaticInstancer::new(instances(&["fault1", "fault2", "fault3"]));
    let ep = Balanced::new(
        Endpointer::new(&faulty, classed_factory(calls.clone()), None),
        Strategy::RoundRobin,
        3,
    );
    let err = ep.oneshot(Request::from_msg(0)).await.unwrap_err();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a caller fault is not retried"
    );
    assert!(err.downcast_ref::<RetriesExhausted>().is_none(), "{err}");
    assert_eq!(err.to_string(), "422: bad input");
    assert_eq!(
        kit_endpoint::ErrorClass::of(&*err),
        kit_endpoint::ErrorClass::Upstream { caller_fault: true }
    );
}

/// `retry_if` decides instead of the class: told never to retry, a call that
/// fails on an unavailable instance is not retried although its class would be.
#[tokio::test]
async fn retry_if_overrides_the_class() {
    let calls = Arc::new(AtomicUsize::new(0));
    let instancer = StaticInstancer::new(instances(&["down1", "down2", "ok"]));
    let endpointer = Endpointer::new(&instancer, classed_factory(calls.clone()), None);
    while endpointer.instances().len() < 3 {
        tokio::task::yield_now().await;
    }
    let ep = Balanced::builder(endpointer)
        .strategy(Strategy::RoundRobin)
        .max_attempts(3)
        .retry_if(|_| false)
        .build();
    let err = ep.oneshot(Request::from_msg(0)).await.unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        kit_endpoint::ErrorClass::of(&*err),
        kit_endpoint::ErrorClass::Unavailable { retry_after: None }
    );
}
