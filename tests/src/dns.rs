//! A real DNS server for tests: Debian's dnsmasq on a free loopback port,
//! serving the SRV and A records a test gives it, stopped on drop.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};

/// One SRV record: `name` points at `target:port`.
#[derive(Debug, Clone)]
pub struct Srv {
    /// The SRV name, e.g. `_http._tcp.stringsvc.kit.test`.
    pub name: String,
    /// The target host name (give it an A record with [`Dnsmasq::start`]).
    pub target: String,
    /// The port.
    pub port: u16,
}

/// A running dnsmasq.
#[derive(Debug)]
pub struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
}

impl Dnsmasq {
    /// Starts dnsmasq answering only `srv` records and `hosts` (`name`, IPv4),
    /// on a free loopback port (or on `port` to restart one in place). `None` if
    /// dnsmasq is missing (see [`crate::external`]).
    pub fn start(srv: &[Srv], hosts: &[(&str, &str)], port: Option<u16>) -> Option<Dnsmasq> {
        let port = port.unwrap_or_else(|| {
            UdpSocket::bind("127.0.0.1:0")
                .and_then(|s| s.local_addr())
                .map(|a| a.port())
                .expect("a free UDP port")
        });
        let mut cmd = Command::new(binary()?);
        cmd.args([
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            "--listen-address=127.0.0.1",
            "--pid-file=",
            "--user=root",
            "--log-facility=-",
            &format!("--port={port}"),
        ]);
        for r in srv {
            cmd.arg(format!("--srv-host={},{},{}", r.name, r.target, r.port));
        }
        for (name, ip) in hosts {
            cmd.arg(format!("--host-record={name},{ip}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq starts");
        let dns = Dnsmasq {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        dns.wait_until_answering();
        Some(dns)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops it (as a crash would: SIGKILL).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Blocks until dnsmasq answers a query (it binds its port after starting).
    fn wait_until_answering(&self) {
        // A minimal DNS query for `ready.invalid. A`.
        let query: &[u8] = &[
            0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 5, b'r', b'e',
            b'a', b'd', b'y', 7, b'i', b'n', b'v', b'a', b'l', b'i', b'd', 0, 0x00, 0x01, 0x00,
            0x01,
        ];
        let socket = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        socket
            .set_read_timeout(Some(std::time::Duration::from_millis(100)))
            .expect("a read timeout");
        let mut buf = [0u8; 512];
        for _ in 0..100 {
            let _ = socket.send_to(query, self.addr);
            if socket.recv_from(&mut buf).is_ok() {
                return;
            }
        }
        panic!("dnsmasq did not answer on {}", self.addr);
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> Option<&'static str> {
    for path in ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"] {
        if std::path::Path::new(path).exists() {
            return Some(path);
        }
    }
    crate::external::missing("dnsmasq (Debian package dnsmasq-base)")
}
