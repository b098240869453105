//! Service discovery end to end, with real processes and a real etcd:
//! stringsvc instances register themselves (`--sd etcd://...`), addsvc finds
//! them there (`--stringsvc etcd://...`), spreads calls over them, survives
//! an instance killed with SIGKILL and etcd itself going away, holds back a
//! flapping instance, and routes by version.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use kit_sd::{Etcd, EtcdInstancer, Instancer, Instances};
use kit_tests::etcd::Etcd as EtcdServer;
use kit_tests::process::{Service, metric, workspace_binary};
use kit_tests::raw;
use kit_tests::wait::until;
use tokio::sync::watch;

/// The prefix stringsvc registers under when `--sd` names none.
const PREFIX: &str = "/kit/services/stringsvc/";
/// stringsvc's count of uppercase calls (each `/concat` makes one).
const UPPERCASE: &str = r#"kit_endpoint_requests_total{endpoint="uppercase"}"#;

/// A stringsvc registering in `etcd` with a 2 s lease, as `version`, on `http`
/// (`127.0.0.1:0` for a free port).
async fn stringsvc(etcd: &EtcdServer, http: &str, version: &str) -> Service {
    let spec = etcd.spec("");
    let args = [
        "--http-addr",
        http,
        "--debug-addr",
        "127.0.0.1:0",
        "--sd",
        &spec,
        "--sd-ttl-secs",
        "2",
        "--sd-version",
        version,
        "--shutdown-delay-ms",
        "0",
    ];
    Service::start(&workspace_binary("stringsvc"), &args, &["http", "debug"])
        .await
        .expect("stringsvc starts")
}

async fn addsvc(etcd: &EtcdServer, extra: &[&str]) -> Service {
    let spec = etcd.spec(PREFIX);
    let mut args = vec![
        "--http-addr",
        "127.0.0.1:0",
        "--debug-addr",
        "127.0.0.1:0",
        "--stringsvc",
        &spec,
        "--shutdown-delay-ms",
        "0",
    ];
    args.extend_from_slice(extra);
    Service::start(&workspace_binary("addsvc"), &args, &["http", "debug"])
        .await
        .expect("addsvc starts")
}

/// The test's own view of the registry.
fn registry(etcd: &EtcdServer) -> (EtcdInstancer, watch::Receiver<Instances>) {
    let instancer = EtcdInstancer::spawn(Etcd::new([etcd.url()]), PREFIX);
    let rx = instancer.subscribe();
    (instancer, rx)
}

/// Waits (bounded) until the registry lists exactly these services.
async fn registered(rx: &mut watch::Receiver<Instances>, services: &[&Service]) {
    let mut want: Vec<String> = services
        .iter()
        .map(|s| format!("http://{}", s.addr("http")))
        .collect();
    want.sort();
    until(rx, &format!("the registry listing {want:?}"), |set| {
        set.iter().map(|i| &i.addr).eq(want.iter())
    })
    .await;
}

async fn concat(addsvc: SocketAddr) -> u16 {
    raw::send(
        addsvc,
        &raw::post_json("/concat", &[], r#"{"a": "sd", "b": "etcd"}"#),
    )
    .await
    .expect("addsvc answers")
    .status
}

/// Sends `/concat` until `done` holds (checked every 10 calls), at most `max`
/// calls; every answer must be 200 once the first one was (addsvc may need a
/// moment to read the registry at start).
async fn concat_until<F, Fut>(addsvc: SocketAddr, max: usize, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut served = false;
    for i in 0..max {
        let status = concat(addsvc).await;
        if served {
            assert_eq!(status, 200, "call {i} failed");
        } else if status != 200 {
            // Not yet following the registry: a bounded wait for the first read.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        served = true;
        if i % 10 == 9 && done().await {
            return;
        }
    }
    panic!("the condition did not hold after {max} calls");
}

async fn calls(svc: &Service) -> f64 {
    metric(svc.addr("debug"), UPPERCASE).await
}

/// Three instances registered in etcd share `/concat`; one killed with SIGKILL
/// under steady load costs no client a failure, leaves the registry when its
/// lease expires, and rejoins when restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_share_the_load_and_one_killed_is_never_noticed() {
    let Some(etcd) = EtcdServer::start().await else {
        return;
    };
    let (_registry, mut rx) = registry(&etcd);
    let mut s = Vec::new();
    for _ in 0..3 {
        s.push(stringsvc(&etcd, "127.0.0.1:0", "1").await);
    }
    registered(&mut rx, &[&s[0], &s[1], &s[2]]).await;
    let add = addsvc(&etcd, &[]).await;
    let http = add.addr("http");
    concat_until(http, 300, || async {
        calls(&s[0]).await > 0.0 && calls(&s[1]).await > 0.0 && calls(&s[2]).await > 0.0
    })
    .await;

    // Steady load from 4 clients while instance 1 dies.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, sent) = (stop.clone(), sent.clone());
            tokio::spawn(async move {
                let mut failed = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let status = concat(http).await;
                    if status != 200 {
                        failed.push(status);
                    }
                    sent.fetch_add(1, Ordering::SeqCst);
                }
                failed
            })
        })
        .collect();
    while sent.load(Ordering::SeqCst) < 100 {
        tokio::task::yield_now().await;
    }
    let victim_addr = s[1].addr("http");
    s[1].kill().await.expect("SIGKILL");
    // No deregistration: the key stays until its lease expires.
    registered(&mut rx, &[&s[0], &s[2]]).await;
    let at_expiry = sent.load(Ordering::SeqCst);
    while sent.load(Ordering::SeqCst) < at_expiry + 100 {
        tokio::task::yield_now().await;
    }
    stop.store(true, Ordering::SeqCst);
    for client in load {
        let failed = client.await.expect("the client task");
        assert!(failed.is_empty(), "clients saw failures: {failed:?}");
    }

    // Restarted on the same address, it registers again and gets calls again.
    s[1] = stringsvc(&etcd, &victim_addr.to_string(), "1").await;
    registered(&mut rx, &[&s[0], &s[1], &s[2]]).await;
    concat_until(http, 3000, || async { calls(&s[1]).await > 0.0 }).await;
}

/// With etcd gone, addsvc keeps calling the instances it knows, even as one of
/// them stops; when etcd returns, addsvc's watch resumes and picks up an
/// instance that started meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_go_on_while_etcd_is_down_and_changes_are_picked_up_after() {
    let Some(mut etcd) = EtcdServer::start().await else {
        return;
    };
    let (_registry, mut rx) = registry(&etcd);
    let mut a = stringsvc(&etcd, "127.0.0.1:0", "1").await;
    let mut b = stringsvc(&etcd, "127.0.0.1:0", "1").await;
    registered(&mut rx, &[&a, &b]).await;
    let add = addsvc(&etcd, &[]).await;
    let http = add.addr("http");
    concat_until(http, 300, || async {
        calls(&a).await > 0.0 && calls(&b).await > 0.0
    })
    .await;

    etcd.kill().await;
    // b stops while etcd is down: it cannot deregister, and addsvc still lists it.
    b.terminate().await.expect("SIGTERM");
    assert!(b.wait().await.expect("b exits").success());
    assert!(
        b.output()
            .iter()
            .any(|l| l.contains("deregistration failed")),
        "{:?}",
        b.output()
    );
    // A newcomer starts meanwhile; it registers once etcd is back.
    let c = stringsvc(&etcd, "127.0.0.1:0", "1").await;
    let before = calls(&a).await;
    for _ in 0..50 {
        assert_eq!(concat(http).await, 200, "served by the cached instances");
    }
    assert!(calls(&a).await >= before + 50.0, "a took b's share");

    etcd.restart().await;
    registered(&mut rx, &[&a, &c]).await;
    concat_until(http, 3000, || async { calls(&c).await > 0.0 }).await;
    a.terminate().await.expect("SIGTERM");
    assert!(a.wait().await.expect("a exits").success());
    assert!(a.output().iter().any(|l| l.contains("msg=deregistered")));
}

/// An instance that keeps restarting is held back by addsvc's flap damping:
/// after its third disappearance it gets no calls although it is registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_instance_is_held_back() {
    let Some(etcd) = EtcdServer::start().await else {
        return;
    };
    let (_registry, mut rx) = registry(&etcd);
    let steady = stringsvc(&etcd, "127.0.0.1:0", "1").await;
    let mut flapper = stringsvc(&etcd, "127.0.0.1:0", "1").await;
    let addr = flapper.addr("http").to_string();
    registered(&mut rx, &[&steady, &flapper]).await;
    let add = addsvc(&etcd, &[]).await;
    let http = add.addr("http");
    concat_until(http, 300, || async { calls(&flapper).await > 0.0 }).await;

    for _ in 0..3 {
        flapper.terminate().await.expect("SIGTERM");
        flapper.wait().await.expect("exits");
        registered(&mut rx, &[&steady]).await;
        flapper = stringsvc(&etcd, &addr, "1").await;
        registered(&mut rx, &[&steady, &flapper]).await;
    }
    // Registered, healthy, and yet left out.
    let before = calls(&steady).await;
    for _ in 0..100 {
        assert_eq!(concat(http).await, 200);
    }
    assert_eq!(
        calls(&flapper).await,
        0.0,
        "the flapping instance got calls"
    );
    assert_eq!(calls(&steady).await, before + 100.0);
}

/// `--stringsvc-version` pins calls to one version; `--canary-version` with
/// `--canary-percent` sends exactly that share to the new version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_can_be_pinned_or_canaried() {
    let Some(etcd) = EtcdServer::start().await else {
        return;
    };
    let (_registry, mut rx) = registry(&etcd);
    let v1a = stringsvc(&etcd, "127.0.0.1:0", "1").await;
    let v1b = stringsvc(&etcd, "127.0.0.1:0", "1").await;
    let v2 = stringsvc(&etcd, "127.0.0.1:0", "2").await;
    registered(&mut rx, &[&v1a, &v1b, &v2]).await;

    let pinned = addsvc(&etcd, &["--stringsvc-version", "2"]).await;
    concat_until(pinned.addr("http"), 300, || async {
        calls(&v2).await >= 30.0
    })
    .await;
    assert_eq!(calls(&v1a).await + calls(&v1b).await, 0.0, "v1 got calls");

    let canary = addsvc(&etcd, &["--canary-version", "2", "--canary-percent", "25"]).await;
    // Once the canary serves, exactly a quarter of the calls go to v2.
    concat_until(canary.addr("http"), 300, || async { true }).await;
    let (v1_before, v2_before) = (calls(&v1a).await + calls(&v1b).await, calls(&v2).await);
    for _ in 0..100 {
        assert_eq!(concat(canary.addr("http")).await, 200);
    }
    let v1 = calls(&v1a).await + calls(&v1b).await - v1_before;
    let v2 = calls(&v2).await - v2_before;
    assert_eq!((v1, v2), (75.0, 25.0));
}
