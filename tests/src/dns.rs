//! A real DNS server for tests: Debian's dnsmasq on a free loopback port,
//! serving the SRV and A records a test gives it, stopped on drop.

use std::net::{SocketAddr, TcpListener, UdpSocket};
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
    log: std::path::PathBuf,
}

impl Dnsmasq {
    /// Starts dnsmasq answering only `srv` records and `hosts` (`name`, IPv4),
    /// on a free loopback port (or on `port` to restart one in place). `None` if
    /// dnsmasq is missing (see [`crate::external`]).
    pub fn start(srv: &[Srv], hosts: &[(&str, &str)], port: Option<u16>) -> Option<Dnsmasq> {
        let binary = binary()?;
        // dnsmasq listens on UDP and TCP: a port free for one may be taken for
        // the other by a server of a test running beside this one. A fresh
        // port is tried again; a given one (a restart in place) is not.
        let attempts = if port.is_some() { 1 } else { 5 };
        let mut last = String::new();
        for _ in 0..attempts {
            let port = port.unwrap_or_else(free_port);
            let mut cmd = Command::new(binary);
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
            // What it prints goes to a file, read if it exits at start.
            let log =
                std::env::temp_dir().join(format!("kit-dnsmasq-{}-{port}.log", std::process::id()));
            let file = std::fs::File::create(&log).expect("a log file");
            let child = cmd
                .stdout(Stdio::null())
                .stderr(file)
                .spawn()
                .expect("dnsmasq starts");
            let mut dns = Dnsmasq {
                child,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
                log,
            };
            match dns.wait_until_answering() {
                Ok(()) => return Some(dns),
                Err(why) => last = why,
            }
        }
        panic!("{last}");
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

    /// Blocks (at most 10 s) until dnsmasq answers a query (it binds its
    /// port after starting); what it printed if it exited instead.
    fn wait_until_answering(&mut self) -> Result<(), String> {
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
            if let Ok(Some(status)) = self.child.try_wait() {
                let printed = std::fs::read_to_string(&self.log).unwrap_or_default();
                return Err(format!(
                    "dnsmasq on {} exited ({status}): {}",
                    self.addr,
                    printed.trim()
                ));
            }
            let _ = socket.send_to(query, self.addr);
            if socket.recv_from(&mut buf).is_ok() {
                return Ok(());
            }
        }
        Err(format!(
            "dnsmasq did not answer on {} within 10 s",
            self.addr
        ))
    }
}

/// A port free on loopback for both UDP and TCP at the time of asking.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
        let port = udp.local_addr().expect("its address").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
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
