//! Step 11's checkpoint: two stringsvc instances register in a real etcd;
//! addsvc's calls are spread over them, and follow a deregistration. And the
//! challenge: an instance that dies without deregistering costs at most two
//! failed calls with outlier ejection, even with no retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use kit_endpoint::Context;
use kit_sd::{Ejection, Etcd, EtcdInstancer, Instancer};
use kit_tests::etcd::Etcd as EtcdServer;
use kit_tests::wait::until;
use kit_transport::serve_loopback;
use kit_workshop::s01_service::AddService;
use kit_workshop::s08_stringsvc::BasicService;
use kit_workshop::s11_sd::{PREFIX, discovered_stringsvc, register};
use tower::ServiceBuilder;

/// A real stringsvc on a loopback port, counting the requests it gets.
async fn stringsvc() -> (
    String,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let set = stringsvc::endpoint::Set::new(stringsvc::service::BasicService);
    let counted = ServiceBuilder::new()
        .map_request(move |req| {
            counter.fetch_add(1, Ordering::SeqCst);
            req
        })
        .service(stringsvc::transport::http::router(set));
    let (addr, server) = serve_loopback(counted).await.unwrap();
    (format!("http://{addr}"), calls, server)
}

async fn wait_for_instances(instancer: &EtcdInstancer, n: usize) {
    let mut rx = instancer.subscribe();
    until(&mut rx, &format!("{n} instances"), |set| set.len() == n).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_spread_over_registered_instances() {
    kit_tests::external::as_checkpoint(); // a missing program fails, saying what to install
    let Some(server) = EtcdServer::start().await else {
        return;
    };
    let etcd = Etcd::new([server.url()]);
    let (url_a, calls_a, _a) = stringsvc().await;
    let (url_b, calls_b, _b) = stringsvc().await;
    let reg_a = register(etcd.clone(), &url_a, Duration::from_secs(2));
    let _reg_b = register(etcd.clone(), &url_b, Duration::from_secs(2));

    let instancer = EtcdInstancer::spawn(etcd, PREFIX);
    wait_for_instances(&instancer, 2).await;
    let svc = BasicService::new(discovered_stringsvc(&instancer, 3, None));
    let ctx = Context::new();
    for _ in 0..10 {
        assert_eq!(
            svc.concat(&ctx, "a".into(), "b".into()).await.unwrap(),
            "AB"
        );
    }
    assert_eq!(
        (
            calls_a.load(Ordering::SeqCst),
            calls_b.load(Ordering::SeqCst)
        ),
        (5, 5),
        "round robin"
    );

    // A graceful shutdown deregisters: the instance leaves etcd at once, and
    // the client follows a moment later (on a task of its own). While it still
    // lists A, round robin sends one of any two calls there.
    reg_a.deregister().await.unwrap();
    wait_for_instances(&instancer, 1).await;
    let mut followed = false;
    for _ in 0..100 {
        let before = calls_a.load(Ordering::SeqCst);
        for _ in 0..2 {
            svc.concat(&ctx, "a".into(), "b".into()).await.unwrap();
        }
        if calls_a.load(Ordering::SeqCst) == before {
            followed = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(followed, "the client never stopped calling A");
    let (a, b) = (
        calls_a.load(Ordering::SeqCst),
        calls_b.load(Ordering::SeqCst),
    );
    for _ in 0..10 {
        svc.concat(&ctx, "a".into(), "b".into()).await.unwrap();
    }
    assert_eq!(calls_a.load(Ordering::SeqCst), a, "no calls after leaving");
    assert_eq!(calls_b.load(Ordering::SeqCst), b + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_a_dead_instance_is_ejected() {
    kit_tests::external::as_checkpoint(); // a missing program fails, saying what to install
    let Some(server) = EtcdServer::start().await else {
        return;
    };
    let etcd = Etcd::new([server.url()]);
    let (url_a, _, server_a) = stringsvc().await;
    let (url_b, _, _b) = stringsvc().await;
    // A long lease: the dead instance stays registered for the whole test.
    let _reg_a = register(etcd.clone(), &url_a, Duration::from_secs(60));
    let _reg_b = register(etcd.clone(), &url_b, Duration::from_secs(60));
    let instancer = EtcdInstancer::spawn(etcd, PREFIX);
    wait_for_instances(&instancer, 2).await;

    let ejection = Ejection {
        consecutive_failures: 2,
        cooldown: Duration::from_secs(60),
        max_ejected_share: 0.5,
    };
    // One attempt per call: no retry hides the dead instance.
    let without = BasicService::new(discovered_stringsvc(&instancer, 1, None));
    let with = BasicService::new(discovered_stringsvc(&instancer, 1, Some(ejection)));
    server_a.abort(); // dies without deregistering
    let _ = server_a.await; // its listener is closed once the task is gone
    let ctx = Context::new();
    let mut failed = (0, 0);
    for _ in 0..30 {
        failed.0 += usize::from(without.concat(&ctx, "a".into(), "b".into()).await.is_err());
        failed.1 += usize::from(with.concat(&ctx, "a".into(), "b".into()).await.is_err());
    }
    assert_eq!(
        failed.0, 15,
        "without ejection, every other call goes to the dead instance"
    );
    assert!(
        failed.1 <= 2,
        "with ejection, at most 2 failed calls: {}",
        failed.1
    );
}
