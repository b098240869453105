//! `Discovered`: an instancer as a tower `Discover` stream, alone and feeding
//! tower's own p2c balancer.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Waker};

use futures_core::Stream;
use kit_endpoint::{BoxEndpoint, BoxError, Request, endpoint_fn};
use kit_sd::{Discovered, Factory, Instance, StaticInstancer, version_is};
use tower::balance::p2c::Balance;
use tower::discover::Change;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::{Service, ServiceExt};

/// Endpoints that answer their instance's address; the factory refuses
/// addresses starting with `bad`.
fn factory() -> Factory<(), String> {
    Arc::new(|instance: &Instance| {
        if instance.addr.starts_with("bad") {
            return Err(format!("cannot call {instance}").into());
        }
        let addr = instance.addr.clone();
        Ok(BoxEndpoint::new(endpoint_fn(move |_req: Request<()>| {
            let addr = addr.clone();
            async move { Ok::<_, BoxError>(addr) }
        })))
    })
}

fn instances(addrs: &[&str]) -> Vec<Instance> {
    addrs.iter().map(|a| Instance::new(*a)).collect()
}

/// A change, as `+addr` (insert) or `-addr` (remove).
fn describe(change: &Change<Instance, BoxEndpoint<(), String>>) -> String {
    match change {
        Change::Insert(instance, _) => format!("+{instance}"),
        Change::Remove(instance) => format!("-{instance}"),
    }
}

/// Every change ready now, described; `None` at the stream's end.
fn ready_changes(discovered: &mut Discovered<(), String>) -> Option<Vec<String>> {
    let mut cx = TaskContext::from_waker(Waker::noop());
    let mut changes = Vec::new();
    loop {
        match Pin::new(&mut *discovered).poll_next(&mut cx) {
            Poll::Ready(Some(change)) => changes.push(describe(&change.unwrap())),
            Poll::Ready(None) => return None,
            Poll::Pending => {
                changes.sort();
                return Some(changes);
            }
        }
    }
}

#[test]
fn changes_follow_the_instancer_with_filter_and_factory_failures_left_out() {
    let instancer = StaticInstancer::new(vec![
        Instance::new("a").with("version", "1"),
        Instance::new("b").with("version", "1"),
        Instance::new("bad").with("version", "1"),
        Instance::new("c").with("version", "2"),
    ]);
    let mut discovered = Discovered::new(&instancer, factory(), Some(version_is("1")));
    assert_eq!(ready_changes(&mut discovered).unwrap(), ["+a", "+b"]);
    // Nothing changed: nothing to yield, and the stream waits.
    assert_eq!(
        ready_changes(&mut discovered).unwrap(),
        Vec::<String>::new()
    );

    instancer.set(vec![
        Instance::new("b").with("version", "1"),
        Instance::new("d").with("version", "1"),
        Instance::new("e").with("version", "2"),
    ]);
    assert_eq!(ready_changes(&mut discovered).unwrap(), ["+d", "-a"]);

    // The instancer is gone: the stream ends (a balancer keeps what it has).
    drop(instancer);
    assert_eq!(ready_changes(&mut discovered), None);
}

#[test]
fn removals_come_before_insertions() {
    let instancer = StaticInstancer::new(instances(&["a"]));
    let mut discovered = Discovered::new(&instancer, factory(), None);
    ready_changes(&mut discovered);
    instancer.set(instances(&["b"]));
    let mut cx = TaskContext::from_waker(Waker::noop());
    let mut order = Vec::new();
    while let Poll::Ready(Some(change)) = Pin::new(&mut discovered).poll_next(&mut cx) {
        order.push(describe(&change.unwrap()));
    }
    assert_eq!(order, ["-a", "+b"]);
}

/// tower's p2c balancer on least pending requests, fed by `Discovered`: calls reach every
/// instance, and a change published before a call is seen by that call.
#[tokio::test]
async fn tower_balance_spreads_calls_and_follows_changes() {
    let instancer = StaticInstancer::new(instances(&["a", "b", "c"]));
    // Least pending: with one call at a time every instance ties, so p2c
    // spreads them. (Peak EWMA would keep to the first instances it timed: they
    // answer in microseconds, below the others' default estimate.)
    let discover = PendingRequestsDiscover::new(
        Discovered::new(&instancer, factory(), None),
        CompleteOnResponse::default(),
    );
    let mut balance = Balance::new(discover);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..300 {
        let svc = balance.ready().await.unwrap();
        seen.insert(svc.call(Request::from_msg(())).await.unwrap());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "b", "c"]);

    instancer.set(instances(&["c"]));
    for _ in 0..20 {
        let svc = balance.ready().await.unwrap();
        assert_eq!(svc.call(Request::from_msg(())).await.unwrap(), "c");
    }
    assert_eq!(balance.len(), 1);
}
