//! Load test of the live stream: N concurrent SSE clients follow `GET /api/events` on a
//! server on this machine for a while, then the run reports ticks delivered per second, the
//! delay from a tick's publication to its receipt (p50/p95/p99/max, from the tick's
//! `published_ms`), how many clients were served throughout, and — given the server's pid —
//! its CPU use and resident memory.
//!
//! Loopback only, bounded in time: it refuses any other address and stops by itself.
//! `scripts/sse-load.sh` builds and starts a release server and runs this against it.
//!
//! `cargo run --release -p server --example sse_load -- URL CLIENTS SECONDS [SERVER_PID]`

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `(utime + stime)` clock ticks and resident bytes of process `pid`, from /proc.
fn process_usage(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let cpu = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let pages: u64 = fields.get(21)?.parse().ok()?;
    Some((cpu, pages * 4096))
}

/// Follows the stream until `deadline`; returns the delays of the ticks it got.
async fn client(address: SocketAddr, deadline: Instant, ticks: Arc<AtomicU64>) -> Vec<u64> {
    let mut delays = Vec::new();
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return delays;
    };
    let request =
        format!("GET /api/events HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return delays;
    }
    let mut lines = BufReader::new(stream).lines();
    let mut in_tick = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Ok(Some(line))) = tokio::time::timeout(left, lines.next_line()).await else {
            return delays;
        };
        if let Some(name) = line.strip_prefix("event: ") {
            in_tick = name == "tick";
        } else if in_tick && let Some(data) = line.strip_prefix("data: ") {
            let received = now_ms();
            let published = data
                .rsplit_once("\"published_ms\":")
                .and_then(|(_, rest)| rest.trim_end_matches('}').parse::<u64>().ok());
            if let Some(published) = published {
                delays.push(received.saturating_sub(published));
                ticks.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: sse_load URL CLIENTS SECONDS [SERVER_PID]";
    let url = args.first().expect(usage);
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let pid: Option<u32> = args.get(3).and_then(|a| a.parse().ok());
    let address: SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("URL is http://IP:PORT");
    assert!(
        matches!(address.ip(), IpAddr::V4(ip) if ip.is_loopback()) || address.ip().is_loopback(),
        "load tests target this machine only (loopback), not {address}"
    );
    assert!(seconds <= 600, "at most 600 seconds");

    let ticks = Arc::new(AtomicU64::new(0));
    let warmup = Duration::from_secs(2);
    let deadline = Instant::now() + warmup + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(client(address, deadline, ticks.clone())))
        .collect();
    // Measure the server's CPU over the steady part only.
    tokio::time::sleep(warmup).await;
    let counted_from = ticks.load(Ordering::Relaxed);
    let before = pid.and_then(process_usage);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = pid.and_then(process_usage);
    let elapsed = started.elapsed().as_secs_f64();
    let delivered = ticks.load(Ordering::Relaxed) - counted_from;
    let mut delays = Vec::new();
    let mut served = 0;
    let expected = seconds * 10 * 8 / 10; // 80% of 10 Hz over the run
    for task in tasks {
        let got = task.await.unwrap_or_default();
        if got.len() as u64 >= expected {
            served += 1;
        }
        delays.extend(got);
    }
    delays.sort_unstable();
    println!("clients: {clients}, served throughout (>= {expected} ticks): {served}");
    println!(
        "ticks delivered: {:.0}/s in total, {:.2}/s per client",
        delivered as f64 / elapsed,
        delivered as f64 / elapsed / clients as f64
    );
    if !delays.is_empty() {
        println!(
            "delay from publication to receipt: p50 {} ms, p95 {} ms, p99 {} ms, max {} ms",
            quantile(&delays, 0.5),
            quantile(&delays, 0.95),
            quantile(&delays, 0.99),
            delays[delays.len() - 1]
        );
    }
    if let (Some((cpu0, _)), Some((cpu1, rss))) = (before, after) {
        // Linux counts CPU time in clock ticks of 1/100 s.
        let cores = (cpu1 - cpu0) as f64 / 100.0 / elapsed;
        println!(
            "server: {:.0}% of one core, resident memory {:.1} MB",
            cores * 100.0,
            rss as f64 / 1e6
        );
    }
}
