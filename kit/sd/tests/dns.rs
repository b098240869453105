//! The DNS SRV instancer against a real DNS server (dnsmasq): it publishes the
//! records, follows changes, keeps the last known instances while the server is
//! down, and picks up the records again when it returns.

use std::time::Duration;

use kit_sd::{DnsSrvInstancer, Instancer, Instances};
use kit_tests::dns::{Dnsmasq, Srv};
use kit_tests::wait::until;
use tokio::sync::watch;

const NAME: &str = "_http._tcp.stringsvc.kit.test";

fn records(ports: &[u16]) -> Vec<Srv> {
    ports
        .iter()
        .enumerate()
        .map(|(i, port)| Srv {
            name: NAME.into(),
            target: format!("s{i}.kit.test"),
            port: *port,
        })
        .collect()
}

const HOSTS: &[(&str, &str)] = &[
    ("s0.kit.test", "127.0.0.1"),
    ("s1.kit.test", "127.0.0.1"),
    ("s2.kit.test", "127.0.0.1"),
];

/// Waits (bounded) until the published set has `n` instances; returns their addresses.
async fn wait_for(rx: &mut watch::Receiver<Instances>, n: usize) -> Vec<String> {
    let found = until(rx, &format!("{n} instances"), |set| set.len() == n).await;
    found.iter().map(|i| i.addr.clone()).collect()
}

#[tokio::test]
async fn srv_records_become_instances_and_survive_the_server_going_away() {
    let Some(dns) = Dnsmasq::start(&records(&[8101, 8102]), HOSTS, None) else {
        return;
    };
    let port = dns.addr().port();
    let instancer = DnsSrvInstancer::spawn(
        DnsSrvInstancer::resolver(dns.addr(), Duration::from_millis(200)),
        NAME,
        Duration::from_millis(100),
    );
    let mut rx = instancer.subscribe();
    assert_eq!(
        wait_for(&mut rx, 2).await,
        ["http://127.0.0.1:8101", "http://127.0.0.1:8102"]
    );
    let first = rx.borrow().first().cloned().unwrap();
    assert_eq!(first.metadata["target"], "s0.kit.test");

    // A third record appears.
    drop(dns);
    let dns = Dnsmasq::start(&records(&[8101, 8102, 8103]), HOSTS, Some(port)).unwrap();
    assert_eq!(wait_for(&mut rx, 3).await.len(), 3);

    // The server dies: lookups fail, the last known instances stay.
    dns.kill();
    let failures = instancer.failures();
    tokio::time::timeout(Duration::from_secs(20), async {
        while instancer.failures() < failures + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("lookups kept being tried");
    assert_eq!(rx.borrow().len(), 3, "stale instances were dropped");

    // It returns with one record: the instancer follows again.
    let _dns = Dnsmasq::start(&records(&[8104]), HOSTS, Some(port)).unwrap();
    assert_eq!(wait_for(&mut rx, 1).await, ["http://127.0.0.1:8104"]);
}
