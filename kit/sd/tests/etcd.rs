//! The etcd instancer and registrar against a real etcd: registrations appear
//! and disappear (deregistered at once, crashed ones when their lease expires),
//! a lost lease is registered again, and while etcd is down the last known
//! instances stay published, with changes made meanwhile picked up when it
//! returns.
#![cfg(feature = "etcd")]

use std::time::Duration;

use kit_sd::{Etcd, EtcdInstancer, Instance, Instancer, Instances, Registrar, Registration};
use kit_tests::etcd::Etcd as EtcdServer;
use kit_tests::wait::until;
use tokio::sync::watch;

const PREFIX: &str = "/kit/services/stringsvc/";
const TTL: Duration = Duration::from_secs(2);

fn etcd(server: &EtcdServer) -> Etcd {
    Etcd::new([server.url()])
        .timeout(Duration::from_millis(500))
        .max_backoff(Duration::from_millis(500))
}

fn register(server: &EtcdServer, port: u16, version: &str) -> Registration {
    register_for(server, port, version, TTL)
}

fn register_for(server: &EtcdServer, port: u16, version: &str, ttl: Duration) -> Registration {
    let instance = Instance::new(format!("http://127.0.0.1:{port}")).with("version", version);
    Registrar::new(
        etcd(server),
        PREFIX,
        &format!("127.0.0.1:{port}"),
        &instance,
        ttl,
    )
    .register()
}

/// Waits (bounded) until the published addresses are exactly `want`.
async fn wait_for(rx: &mut watch::Receiver<Instances>, want: &[&str]) {
    until(rx, &format!("{want:?}"), |set| {
        set.iter().map(|i| i.addr.as_str()).eq(want.iter().copied())
    })
    .await;
}

fn addr(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_come_and_go() {
    let Some(server) = EtcdServer::start().await else {
        return;
    };
    let instancer = EtcdInstancer::spawn(etcd(&server), PREFIX);
    let mut rx = instancer.subscribe();
    wait_for(&mut rx, &[]).await;

    let a = register(&server, 1001, "1");
    // A long lease, to tell a deregistration from an expiry.
    let b = register_for(&server, 1002, "1", Duration::from_secs(60));
    let c = register(&server, 1003, "2");
    wait_for(&mut rx, &[&addr(1001), &addr(1002), &addr(1003)]).await;
    let versions: Vec<String> = rx
        .borrow()
        .iter()
        .map(|i| i.metadata["version"].clone())
        .collect();
    assert_eq!(
        versions,
        ["1", "1", "2"],
        "metadata travels with the instance"
    );

    // Graceful shutdown: the key goes at once, well before the lease would expire.
    let started = std::time::Instant::now();
    b.deregister().await.expect("etcd is up");
    wait_for(&mut rx, &[&addr(1001), &addr(1003)]).await;
    assert!(
        started.elapsed() < TTL,
        "deregistration does not wait for the lease: {:?}",
        started.elapsed()
    );

    // A crash (no deregistration): the key goes when the lease expires, not before.
    a.registered().await;
    drop(a);
    let crashed = std::time::Instant::now();
    wait_for(&mut rx, &[&addr(1003)]).await;
    assert!(
        crashed.elapsed() >= TTL / 2,
        "the key outlived the keep-alives for about a TTL ({:?})",
        crashed.elapsed()
    );

    // The live registration survives several TTLs on keep-alives alone.
    let state = c.state().borrow().to_owned();
    assert_eq!((state.registered, state.registrations), (true, 1));
    assert_eq!(rx.borrow().len(), 1);
    assert_eq!(
        instancer.link().borrow().failures,
        0,
        "no reconnections needed: {:?}",
        instancer.link().borrow()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_is_registered_again() {
    let Some(server) = EtcdServer::start().await else {
        return;
    };
    let instancer = EtcdInstancer::spawn(etcd(&server), PREFIX);
    let mut rx = instancer.subscribe();
    let reg = register(&server, 2001, "1");
    reg.registered().await;
    wait_for(&mut rx, &[&addr(2001)]).await;

    // Someone (an operator, a partition longer than the TTL) ends the lease.
    let lease = reg.state().borrow().lease.expect("a lease");
    let mut client = etcd(&server).connect().await.expect("etcd is up");
    client.lease_revoke(lease).await.expect("revoked");
    wait_for(&mut rx, &[]).await;

    // The registrar notices at its next keep-alive and registers again.
    let again = until(&mut reg.state(), "a second registration", |s| {
        s.registered && s.registrations == 2
    })
    .await;
    assert!(again.registered, "re-registered: {again:?}");
    assert_ne!(again.lease, Some(lease), "on a fresh lease");
    wait_for(&mut rx, &[&addr(2001)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_etcd_is_down_the_last_instances_stay_and_changes_are_picked_up_after() {
    let Some(mut server) = EtcdServer::start().await else {
        return;
    };
    let instancer = EtcdInstancer::spawn(etcd(&server), PREFIX);
    let mut rx = instancer.subscribe();
    let mut link = instancer.link();
    let kept = register(&server, 3001, "1");
    let leaving = register(&server, 3002, "1");
    wait_for(&mut rx, &[&addr(3001), &addr(3002)]).await;
    // The set is published from the first read, before the watch is in place:
    // the link says when it is (a loss before that would look like the start).
    until(&mut link, "the instancer watching etcd", |l| l.connected).await;

    server.kill().await;
    let lost = until(&mut link, "the instancer noticing etcd is gone", |l| {
        !l.connected
    })
    .await;
    assert!(lost.last_error.is_some(), "the link says what went wrong");
    // Stale but usable: the set is what it was.
    assert_eq!(rx.borrow().len(), 2);
    // A deregistration cannot reach etcd: it says so, in bounded time.
    let err = leaving.deregister().await.expect_err("etcd is down");
    assert!(!err.to_string().is_empty());
    // A new instance starts meanwhile; its registrar keeps trying.
    let newcomer = register(&server, 3003, "2");

    // The instancer backs off instead of spinning: a few attempts, not thousands.
    let before = link.borrow().failures;
    tokio::time::sleep(Duration::from_secs(2)).await; // a span of time to count over, not a sync
    let attempts = link.borrow().failures - before;
    assert!(attempts <= 10, "{attempts} reconnection attempts in 2 s");
    assert_eq!(rx.borrow().len(), 2, "still the last known set");

    server.restart().await;
    // The newcomer registers, the watch resumes and sees it; the instance that
    // left while etcd was down goes when its lease expires.
    newcomer.registered().await;
    wait_for(&mut rx, &[&addr(3001), &addr(3003)]).await;
    assert!(link.borrow().connected);
    assert!(kept.state().borrow().registered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_values_are_read_as_bare_addresses_and_garbage_is_ignored() {
    let Some(server) = EtcdServer::start().await else {
        return;
    };
    let mut client = etcd(&server).connect().await.expect("etcd is up");
    client
        .put(format!("{PREFIX}a"), "http://10.0.0.1:80", None)
        .await
        .unwrap();
    client
        .put(format!("{PREFIX}b"), "{\"no\":\"addr\"}", None)
        .await
        .unwrap();
    client
        .put("/kit/services/other/c", "http://10.0.0.2:80", None)
        .await
        .unwrap();
    let instancer = EtcdInstancer::spawn(etcd(&server), PREFIX);
    let mut rx = instancer.subscribe();
    wait_for(&mut rx, &["http://10.0.0.1:80"]).await;
    // A key rewritten with garbage leaves the set.
    client.put(format!("{PREFIX}a"), "", None).await.unwrap();
    wait_for(&mut rx, &[]).await;
}

/// The registrar tells why it is not registered: with no etcd listening, its
/// state counts the failures and keeps the last error (before, it threw every
/// error away).
#[tokio::test]
async fn a_failing_registrar_exposes_its_last_error() {
    // A port nothing listens on: bound, then closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let etcd = Etcd::new([format!("http://127.0.0.1:{port}")])
        .timeout(Duration::from_millis(200))
        .max_backoff(Duration::from_millis(200));
    let instance = Instance::new("http://127.0.0.1:8082");
    let registration = Registrar::new(etcd, PREFIX, "127.0.0.1:8082", &instance, TTL).register();
    let mut state = registration.state();
    let failed = tokio::time::timeout(Duration::from_secs(10), state.wait_for(|s| s.failures >= 2))
        .await
        .expect("the registrar reports its failures")
        .unwrap()
        .clone();
    assert!(!failed.registered);
    let err = failed.last_error.expect("the last error is kept");
    assert!(!err.is_empty());
}
