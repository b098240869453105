//! Run with: cargo run --release -p kit-bench --bin allocs
//!
//! Where each allocation comes from (one server at a time, dhat's heap profiler
//! with backtraces; line tables make the frames readable):
//! `CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo run --release -p kit-bench --bin allocs -- --sites addsvc`
//! (or `bare`, `serve-only`).
//!
//! Heap allocations per `POST /sum`, counted by dhat's global allocator:
//! bare hyper (`kit_bench::sum`), the same handler served by kit's `serve` and
//! `Router` (serve-only), and addsvc's default production stack (request
//! context, a logfmt line per request through the async sink, RED and USE
//! metrics, HTTP metrics, the deadline). Each server runs in this process on
//! loopback and gets 20,000 requests on one keep-alive connection from a client
//! that allocates nothing per request; allocations are counted process-wide
//! (the async sink's writer thread included), so what is counted is the
//! server's work per request.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Blocks and bytes allocated so far, process-wide.
fn allocated() -> (u64, u64) {
    let stats = dhat::HeapStats::get();
    (stats.total_blocks, stats.total_bytes)
}

const REQUESTS: u64 = 20_000;
const REQUEST: &[u8] = b"POST /sum HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"a\": 40, \"b\": 2}";

/// Sends `n` requests on one connection, reading each answer into a fixed
/// buffer (no allocation per request).
async fn drive(addr: SocketAddr, n: u64) {
    let mut conn = TcpStream::connect(addr).await.expect("connects");
    conn.set_nodelay(true).expect("nodelay");
    let mut buf = [0u8; 8192];
    for _ in 0..n {
        conn.write_all(REQUEST).await.expect("writes");
        let mut have = 0;
        loop {
            let read = conn.read(&mut buf[have..]).await.expect("reads");
            assert!(read > 0, "the server closed the connection");
            have += read;
            let Some(end) = buf[..have].windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = std::str::from_utf8(&buf[..end]).expect("an ASCII head");
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("a content-length");
            if have >= end + 4 + length {
                break;
            }
        }
    }
}

/// Allocations and bytes per request for the server at `addr`.
async fn per_request(addr: SocketAddr) -> (f64, f64) {
    drive(addr, 1000).await; // warm up: pools, caches, metric handles
    let (a0, b0) = allocated();
    drive(addr, REQUESTS).await;
    let (a1, b1) = allocated();
    (
        (a1 - a0) as f64 / REQUESTS as f64,
        (b1 - b0) as f64 / REQUESTS as f64,
    )
}

async fn bare() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(kit_bench::serve_bare(listener));
    addr
}

async fn serve_only() -> SocketAddr {
    let router = kit_transport::Router::new().route_service(
        http::Method::POST,
        "/sum",
        tower::service_fn(kit_bench::sum::<kit_transport::BoxBody>),
    );
    let (addr, task) = kit_transport::serve_loopback(router).await.expect("serves");
    std::mem::forget(task);
    addr
}

/// addsvc's API as its binary builds it by default (embedded stringsvc).
async fn addsvc() -> SocketAddr {
    let (api, exporter) = kit_bench::addsvc_api();
    std::mem::forget(exporter);
    let (addr, task) = kit_transport::serve_loopback(api).await.expect("serves");
    std::mem::forget(task);
    addr
}

/// The allocation sites of one server: each site that allocates at least once
/// every other request, with its count per request and its innermost frames
/// outside the allocator and the standard library.
fn sites(which: &str) {
    let file = std::env::temp_dir().join(format!("kit-allocs-{}.json", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let profiler = dhat::Profiler::builder()
        .file_name(&file)
        .trim_backtraces(Some(60))
        .build();
    rt.block_on(async {
        let addr = match which {
            "bare" => bare().await,
            "serve-only" => serve_only().await,
            "addsvc" => addsvc().await,
            other => panic!("--sites takes bare, serve-only or addsvc, not {other:?}"),
        };
        drive(addr, REQUESTS).await;
    });
    drop(profiler);
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("dhat wrote its file")).expect("JSON");
    let _ = std::fs::remove_file(&file);
    let frames = json["ftbl"].as_array().expect("a frame table");
    let mut sites: Vec<(u64, Vec<&str>)> = json["pps"]
        .as_array()
        .expect("program points")
        .iter()
        .filter_map(|pp| {
            let blocks = pp["tbk"].as_u64()?;
            (blocks >= REQUESTS / 2).then(|| {
                let names = pp["fs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| frames.get(i.as_u64()? as usize)?.as_str())
                    .filter(|f| {
                        // "0x1234: name (file:line:col)": the file says whose frame it is.
                        let file = f.rsplit_once(" (").map_or("", |(_, file)| file);
                        !["alloc/", "core/", "std/", "src/raw_vec", "dhat-", "[root]"]
                            .iter()
                            .any(|p| file.starts_with(p) || f.contains("[root]"))
                    })
                    .map(|f| f.split_once(": ").map_or(f, |(_, name)| name))
                    .take(8)
                    .collect();
                (blocks, names)
            })
        })
        .collect();
    sites.sort_by_key(|s| std::cmp::Reverse(s.0));
    println!("{which}: allocation sites, {REQUESTS} requests");
    for (blocks, names) in sites {
        println!("{:>6.2} per request", blocks as f64 / REQUESTS as f64);
        for name in names {
            println!("         {name}");
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--sites") {
        sites(args.get(i + 1).map_or("addsvc", String::as_str));
        return;
    }
    // Counts every allocation (dhat's heap profiler in testing mode: no file written).
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("heap allocations per POST /sum ({REQUESTS} requests, one keep-alive connection)");
        for (name, addr) in [
            ("bare hyper", bare().await),
            ("serve-only (kit serve + Router)", serve_only().await),
            ("addsvc (default production stack)", addsvc().await),
        ] {
            let (allocs, bytes) = per_request(addr).await;
            println!("{name:<36} {allocs:>6.2} allocations  {bytes:>8.0} bytes");
        }
    });
}
