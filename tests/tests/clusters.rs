//! Past one machine: the services against real 3-member clusters (etcd, and
//! NATS with JetStream), each member its own process on loopback, losing a
//! member under load; and a rolling restart of three stringsvc. Each test
//! counts exactly what failed, and prints what it measured (time to a new
//! leader, the slowest call, calls made) for BENCHMARKS.md ("Clusters").

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use addsvc::service::AddService;
use addsvc::transport::http::client_set;
use kit_endpoint::Context;
use kit_tests::etcd::EtcdCluster;
use kit_tests::load::Calls;
use kit_tests::nats::NatsCluster;
use kit_tests::process::{Service, tally_total, workspace_binary};
use kit_tests::raw::{self, KeepAlive};
use tokio::sync::watch;

const PREFIX: &str = "/kit/services/stringsvc/";
const CONCAT: &str = r#"{"a": "clu", "b": "ster"}"#;

/// What a load saw: calls answered 200, the failures (when, and what), the
/// slowest call.
#[derive(Debug, Default)]
struct Report {
    ok: usize,
    failed: Vec<(Duration, String)>,
    slowest: Duration,
}

/// `callers` keep-alive callers POSTing `/concat` to `addr` until `stop`
/// says so; `served` counts the calls answered 200 as they come.
async fn concat_load(
    addr: SocketAddr,
    callers: usize,
    stop: watch::Receiver<bool>,
    served: Arc<AtomicUsize>,
) -> Report {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (stop, served) = (stop.clone(), served.clone());
            tokio::spawn(async move {
                let mut report = Report::default();
                let mut conn = KeepAlive::connect(addr).await.expect("addsvc accepts");
                while !*stop.borrow() {
                    let began = Instant::now();
                    match conn.post("/concat", &[], CONCAT).await {
                        Ok((200, _)) => {
                            report.ok += 1;
                            served.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok((status, body)) => report
                            .failed
                            .push((start.elapsed(), format!("{status} {body}"))),
                        Err(e) => {
                            report.failed.push((start.elapsed(), e.to_string()));
                            match KeepAlive::connect(addr).await {
                                Ok(c) => conn = c,
                                Err(e) => {
                                    report
                                        .failed
                                        .push((start.elapsed(), format!("connect: {e}")));
                                    break;
                                }
                            }
                        }
                    }
                    report.slowest = report.slowest.max(began.elapsed());
                }
                report
            })
        })
        .collect();
    let mut all = Report::default();
    for t in tasks {
        let r = t.await.unwrap();
        all.ok += r.ok;
        all.failed.extend(r.failed);
        all.slowest = all.slowest.max(r.slowest);
    }
    all
}

impl Report {
    /// Panics, saying how many failed and the first five, if any did.
    fn assert_none_failed(&self) {
        assert!(
            self.failed.is_empty(),
            "{} of {} calls failed, first: {:?}",
            self.failed.len(),
            self.ok + self.failed.len(),
            &self.failed[..self.failed.len().min(5)]
        );
    }
}

/// Waits (bounded) until `served` reaches `n`.
async fn served_reaches(served: &AtomicUsize, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while served.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "only {} calls served",
            served.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The registrations under [`PREFIX`] as the members at `urls` serve them:
/// key -> lease ID.
async fn leases(urls: &[String]) -> BTreeMap<String, i64> {
    let mut client = etcd_client::Client::connect(urls, None).await.unwrap();
    let got = client
        .get(PREFIX, Some(etcd_client::GetOptions::new().with_prefix()))
        .await
        .unwrap();
    got.kvs()
        .iter()
        .map(|kv| (kv.key_str().unwrap().to_owned(), kv.lease()))
        .collect()
}

/// Three stringsvc registered in a 3-member etcd cluster (their keep-alives
/// on 4 s leases), addsvc discovering them through it, under load: the
/// leader is killed (SIGKILL). No call fails, the registrations keep their
/// leases past their TTL (kept alive through the other members), and the
/// killed member rejoins and serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_losing_its_leader_under_load_fails_no_call_and_keeps_every_lease() {
    let Some(mut cluster) = EtcdCluster::start(3).await else {
        return;
    };
    let spec = cluster.spec("");
    let mut strings = Vec::new();
    for _ in 0..3 {
        strings.push(
            Service::start_on_loopback("stringsvc", &["--sd", &spec, "--sd-ttl-secs", "4"]).await,
        );
    }
    let urls: Vec<String> = (0..3).map(|i| cluster.member(i).url()).collect();
    let before = leases(&urls).await;
    assert_eq!(before.len(), 3, "{before:?}");
    let add = Service::start_on_loopback("addsvc", &["--stringsvc", &cluster.spec(PREFIX)]).await;
    // addsvc reads the registry at start: its first calls may find nothing yet.
    let deadline = Instant::now() + Duration::from_secs(10);
    while raw::send(add.addr("http"), &raw::post_json("/concat", &[], CONCAT))
        .await
        .unwrap()
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "addsvc never found stringsvc");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (stop, stopped) = watch::channel(false);
    let served = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(concat_load(add.addr("http"), 8, stopped, served.clone()));
    served_reaches(&served, 200).await;
    let leader = cluster.leader().await;
    let killed = Instant::now();
    cluster.member(leader).kill().await;
    let new_leader = cluster.leader().await;
    let elected = killed.elapsed();
    assert_ne!(new_leader, leader);
    // Past the leases' TTL (4 s): kept alive through the other members.
    let past_ttl = served.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let alive: Vec<String> = (0..3)
        .filter(|i| *i != leader)
        .map(|i| urls[i].clone())
        .collect();
    assert_eq!(
        leases(&alive).await,
        before,
        "the same registrations, on the same leases"
    );
    cluster.member(leader).restart().await;
    assert_eq!(
        leases(&urls[leader..=leader]).await,
        before,
        "the rejoined member serves them"
    );
    served_reaches(&served, past_ttl + 100).await;
    stop.send(true).unwrap();
    let report = load.await.unwrap();
    report.assert_none_failed();
    eprintln!(
        "clusters: etcd leader killed: new leader after {elected:?}; {} calls, 0 failed, slowest {:?}",
        report.ok, report.slowest
    );
    drop(strings);
}

/// addsvc publishing its sums to a 3-node JetStream cluster (`--events` the
/// three members, `--events-replicas 3`), addtally counting them: a node is
/// killed (SIGKILL) a third of the way and brought back at two thirds. At most
/// 1% of the sums fail (503), and addtally counts every acknowledged sum
/// exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_node_lost_while_sums_are_published_loses_and_doubles_none() {
    const SUMS: usize = 3_000;
    let Some(mut cluster) = NatsCluster::start(3).await else {
        return;
    };
    let url = cluster.url();
    let dir = kit_tests::fresh_dir("clusters");
    let journal = dir.join("addtally.journal").to_str().unwrap().to_owned();
    let add =
        Service::start_on_loopback("addsvc", &["--events", &url, "--events-replicas", "3"]).await;
    let tally = Service::start(
        &workspace_binary("addtally"),
        &[
            "--events",
            &url,
            "--events-replicas",
            "3",
            "--debug-addr",
            "127.0.0.1:0",
            "--journal",
            &journal,
            "--ack-wait-ms",
            "1000",
        ],
        &["debug"],
    )
    .await
    .expect("addtally starts");

    let base = format!("http://{}", add.addr("http")).parse().unwrap();
    let svc = Arc::new(client_set(kit_transport::pooled(), &base).unwrap());
    let calls = Calls::start(SUMS, 8, move |i| {
        let svc = svc.clone();
        async move {
            let ctx = Context::new().with_timeout(Duration::from_secs(20));
            svc.sum(&ctx, i as i64, 1).await
        }
    });
    calls.reached(SUMS / 3).await;
    cluster.member(0).kill().await;
    calls.reached(SUMS * 2 / 3).await;
    cluster.member(0).restart().await;

    let (mut acked, mut failed, mut slowest) = (Vec::new(), Vec::new(), Duration::ZERO);
    for call in calls.outcomes().await {
        match call.result {
            Ok(v) => acked.push(v),
            Err(e) => failed.push(format!("sum {}: {e}", call.i)),
        }
        slowest = slowest.max(call.took);
    }
    assert!(
        failed.len() * 100 <= SUMS,
        "more than 1% failed: {failed:?}"
    );
    let expected: i64 = acked.iter().sum();
    let debug = tally.addr("debug");
    let caught_up = tokio::time::timeout(Duration::from_secs(60), async {
        while tally_total(debug).await.1 < acked.len() as u64 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let (sum, events) = tally_total(debug).await;
    assert!(
        caught_up.is_ok(),
        "addtally stopped at {events} of {} events",
        acked.len()
    );
    // A failed sum may still have been stored (its answer lost): counted,
    // once. Every acknowledged one is counted once.
    assert!(
        events as usize >= acked.len() && events as usize <= acked.len() + failed.len(),
        "{events} events for {} acknowledged sums ({} failed)",
        acked.len(),
        failed.len()
    );
    if failed.is_empty() {
        assert_eq!((sum, events), (expected, SUMS as u64));
    }
    eprintln!(
        "clusters: NATS node killed under sums: {} acknowledged, {} failed, {events} counted, slowest sum {slowest:?}",
        acked.len(),
        failed.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Three stringsvc serving over a 3-node NATS cluster (each connected to the
/// three), addsvc calling them with `--stringsvc` the cluster's members,
/// under load: each node in turn is killed (SIGKILL) and brought back, so
/// that the one addsvc's connection uses, and each stringsvc's, dies once.
/// No call fails: calls in flight on a dead node are sent again once their
/// client has reconnected to another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reply_over_nats_loses_no_call_when_a_node_dies() {
    let Some(mut cluster) = NatsCluster::start(3).await else {
        return;
    };
    let url = cluster.url();
    let mut strings = Vec::new();
    for _ in 0..3 {
        strings.push(Service::start_on_loopback("stringsvc", &["--nats", &url]).await);
    }
    // Over NATS the queue group is one instance behind one breaker: the calls
    // in flight on a member that dies (up to the 8 callers') are lost and time
    // out together, each then retried. A breaker opening after fewer
    // consecutive failures than calls in flight would take that burst for an
    // outage and refuse everything: its threshold is set above the callers.
    let add =
        Service::start_on_loopback("addsvc", &["--stringsvc", &url, "--breaker-failures", "20"])
            .await;
    assert_eq!(
        raw::send(add.addr("http"), &raw::post_json("/concat", &[], CONCAT))
            .await
            .unwrap()
            .status,
        200
    );
    let (stop, stopped) = watch::channel(false);
    let served = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(concat_load(add.addr("http"), 8, stopped, served.clone()));
    served_reaches(&served, 200).await;
    for node in 0..cluster.len() {
        cluster.member(node).kill().await;
        let at = served.load(Ordering::Relaxed);
        served_reaches(&served, at + 1000).await;
        cluster.member(node).restart().await;
    }
    stop.send(true).unwrap();
    let report = load.await.unwrap();
    report.assert_none_failed();
    eprintln!(
        "clusters: each NATS node killed in turn under request-reply: {} calls, 0 failed, slowest {:?}",
        report.ok, report.slowest
    );
    drop(strings);
}

/// Three stringsvc behind addsvc (a static list), under load, replaced one at
/// a time as an orchestrator rolls a deployment: SIGTERM (each drains what it
/// accepted), then a new one on the same address, ready before the next goes.
/// No call fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_stringsvc_fails_no_call() {
    let mut strings = Vec::new();
    for _ in 0..3 {
        strings.push(Service::start_on_loopback("stringsvc", &[]).await);
    }
    let addrs: Vec<SocketAddr> = strings.iter().map(|s| s.addr("http")).collect();
    let list = addrs
        .iter()
        .map(|a| format!("http://{a}"))
        .collect::<Vec<_>>()
        .join(",");
    let add = Service::start_on_loopback("addsvc", &["--stringsvc", &list]).await;
    let (stop, stopped) = watch::channel(false);
    let served = Arc::new(AtomicUsize::new(0));
    let load = tokio::spawn(concat_load(add.addr("http"), 8, stopped, served.clone()));
    served_reaches(&served, 200).await;
    let started = Instant::now();
    for (i, addr) in addrs.iter().enumerate() {
        strings[i].terminate().await.unwrap();
        strings[i].wait().await.unwrap();
        let http = addr.to_string();
        strings[i] = Service::start(
            &workspace_binary("stringsvc"),
            &[
                "--http-addr",
                &http,
                "--debug-addr",
                "127.0.0.1:0",
                "--shutdown-delay-ms",
                "0",
            ],
            &["http", "debug"],
        )
        .await
        .expect("the new stringsvc starts");
        let now = served.load(Ordering::Relaxed);
        served_reaches(&served, now + 100).await;
    }
    let rolled = started.elapsed();
    stop.send(true).unwrap();
    let report = load.await.unwrap();
    report.assert_none_failed();
    eprintln!(
        "clusters: rolling restart of 3 stringsvc in {rolled:?}: {} calls, 0 failed, slowest {:?}",
        report.ok, report.slowest
    );
}
