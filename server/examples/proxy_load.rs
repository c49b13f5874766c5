//! What one fault proxy costs: the latency it adds to a request/response on loopback
//! (p50, p99), and the requests per second it carries on one core.
//!
//! The proxy runs on a runtime of one thread (one core), a raw HTTP/1.1 upstream on
//! another, the clients on a third, as they would be separate processes. Each round trip
//! is a small GET answered `200 hello` on a kept-alive connection, straight to the
//! upstream and then through the proxy, so the difference is the proxy's: its two extra
//! hops between threads and its own work.
//!
//! `cargo run --release -p server --example proxy_load [ROUND_TRIPS] [CONNECTIONS] [SECONDS]`
//! (defaults 20000, 64, 5); `scripts/proxy-load.sh` runs it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use server::proxy::Proxies;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nhost: upstream\r\n\r\n";
const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

/// Answers every request head on a connection with `ANSWER`, on a thread of its own.
fn upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || runtime.block_on(serve_upstream(listener)))
        .unwrap();
    address
}

async fn serve_upstream(listener: std::net::TcpListener) {
    let listener = TcpListener::from_std(listener).unwrap();
    {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let mut held = Vec::new();
                loop {
                    let Ok(n) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    held.extend_from_slice(&buffer[..n]);
                    while let Some(end) = held.windows(4).position(|w| w == b"\r\n\r\n") {
                        held.drain(..end + 4);
                        if stream.write_all(ANSWER).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    }
}

/// One request and its whole answer on `stream`.
async fn round_trip(stream: &mut TcpStream, buffer: &mut [u8]) -> std::io::Result<()> {
    stream.write_all(REQUEST).await?;
    let mut got = 0;
    while got < ANSWER.len() {
        let n = stream.read(&mut buffer[got..]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += n;
    }
    Ok(())
}

/// `count` round trips on one connection to `to`: each one's time, sorted.
async fn latencies(to: SocketAddr, count: usize) -> Vec<Duration> {
    let mut stream = TcpStream::connect(to).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buffer = vec![0u8; 1024];
    // Warm up.
    for _ in 0..1000 {
        round_trip(&mut stream, &mut buffer).await.unwrap();
    }
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        round_trip(&mut stream, &mut buffer).await.unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    times
}

fn at(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 * q) as usize).min(sorted.len() - 1);
    sorted[i].as_secs_f64() * 1e6
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("whole numbers"))
        .collect();
    let round_trips = args.first().copied().unwrap_or(20_000);
    let connections = args.get(1).copied().unwrap_or(64);
    let seconds = args.get(2).copied().unwrap_or(5) as u64;

    // The proxy's runtime: one thread, driven for the whole run.
    let proxy_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let handle = proxy_runtime.handle().clone();
    std::thread::Builder::new()
        .name("proxy".into())
        .spawn(move || proxy_runtime.block_on(std::future::pending::<()>()))
        .unwrap();
    let proxies = {
        let _entered = handle.enter();
        Proxies::new(0)
    };

    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    load.block_on(async move {
        let upstream = upstream();
        let checked = proxies
            .check("127.0.0.1:0", &upstream.to_string())
            .await
            .unwrap();
        let view = proxies.create("bench", checked, true).unwrap();
        let through: SocketAddr = view.listen.parse().unwrap();

        let direct = latencies(upstream, round_trips).await;
        let proxied = latencies(through, round_trips).await;
        println!("{round_trips} round trips on one kept-alive connection (µs):");
        println!(
            "  direct        p50 {:>7.1}  p99 {:>7.1}",
            at(&direct, 0.5),
            at(&direct, 0.99)
        );
        println!(
            "  through proxy p50 {:>7.1}  p99 {:>7.1}",
            at(&proxied, 0.5),
            at(&proxied, 0.99)
        );
        println!(
            "  added         p50 {:>7.1}  p99 {:>7.1}",
            at(&proxied, 0.5) - at(&direct, 0.5),
            at(&proxied, 0.99) - at(&direct, 0.99)
        );

        // Throughput: `connections` clients as fast as they can for `seconds`.
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut clients = Vec::new();
        for _ in 0..connections {
            let (done, stop) = (done.clone(), stop.clone());
            clients.push(tokio::spawn(async move {
                let mut stream = TcpStream::connect(through).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut buffer = vec![0u8; 1024];
                while !stop.load(Ordering::Relaxed) {
                    if round_trip(&mut stream, &mut buffer).await.is_err() {
                        return;
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = done.load(Ordering::Relaxed);
        let started = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let counted = done.load(Ordering::Relaxed) - before;
        let rate = counted as f64 / started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            let _ = client.await;
        }
        println!(
            "{connections} connections for {seconds} s through the proxy (one core): {rate:.0} requests/s"
        );
    });
}
