//! Load and latency of observe mode, against a server on this machine started with
//! `--observe` (`scripts/observe-load.sh` builds and starts a release one):
//!
//! - `visible URL N`: N times, sends one export with a span of a service never seen before
//!   and waits until the event stream names it; reports first span → visible in the stream
//!   (p50/p95/p99/max).
//! - `flood URL SECONDS SENDERS [SERVER_PID]`: SENDERS tasks post 512-span protobuf exports
//!   of 1,000 services × 10 instances as fast as the server answers, for SECONDS; reports
//!   spans accepted per second, the answers (200 / 429 / 503), and the server's CPU and its
//!   largest resident memory.
//!
//! Loopback only, bounded in time: it refuses any other address and stops by itself.
//!
//! `cargo run --release -p server --example observe_load -- visible http://127.0.0.1:8080 200`

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// One resource's spans: `service`'s instance `instance`.
fn resource(service: &str, instance: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: vec![
                string("service.name", service),
                string("service.instance.id", instance),
            ],
            ..Resource::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..ScopeSpans::default()
        }],
        ..ResourceSpans::default()
    }
}

/// A root SERVER span ending now, of trace `n`.
fn root_span(n: u64) -> Span {
    let end = now_ns();
    Span {
        trace_id: (u128::from(n) << 64 | 1).to_be_bytes().to_vec(),
        span_id: (n + 1).to_be_bytes().to_vec(),
        name: "GET /".into(),
        kind: 2,
        start_time_unix_nano: end - 1_000_000,
        end_time_unix_nano: end,
        ..Span::default()
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    match client
        .post(format!("{url}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// First span → visible: one new service at a time, timed until the stream names it.
async fn visible(url: &str, address: SocketAddr, probes: u64) {
    let mut stream = TcpStream::connect(address).await.expect("the server is up");
    let request =
        format!("GET /api/events HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(stream).lines();
    let client = reqwest::Client::new();
    let run = now_ns() % 1_000_000;
    let mut latencies = Vec::new();
    for i in 0..probes {
        let name = format!("probe-{run}-{i}");
        let export = ExportTraceServiceRequest {
            resource_spans: vec![resource(&name, &name, vec![root_span(i)])],
        };
        let sent = Instant::now();
        assert_eq!(post(&client, url, export.encode_to_vec()).await, 200);
        let quoted = format!("\"{name}\"");
        let deadline = sent + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(Ok(Some(line))) = tokio::time::timeout(left, lines.next_line()).await else {
                panic!("{name} did not show in the stream within 10 s");
            };
            if line.starts_with("data: ") && line.contains(&quoted) {
                break;
            }
        }
        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "first span to visible in the stream ({probes} probes): p50 {:.0} ms, p95 {:.0} ms, \
         p99 {:.0} ms, max {:.0} ms",
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.95),
        quantile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
}

/// `(utime + stime)` clock ticks, resident and peak resident bytes of process `pid`.
fn process_usage(pid: u32) -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let cpu = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    Some((cpu, kb("VmRSS:")? * 1024, kb("VmHWM:")? * 1024))
}

/// Exports of 512 spans: requests over 1,000 services × 10 instances, a root SERVER span
/// and a CLIENT/SERVER pair to the next service each.
fn flood_exports(count: usize) -> Vec<Vec<u8>> {
    let mut n: u64 = 0;
    (0..count)
        .map(|_| {
            let mut resources = Vec::new();
            for _ in 0..128 {
                n += 1;
                let service = n % 1000;
                let instance = format!("svc-{service}#{}", n % 10);
                let callee = (service + 1) % 1000;
                let end = now_ns();
                let trace = (u128::from(n) << 64 | 7).to_be_bytes().to_vec();
                let span = |id: u64, parent: u64, kind: i32| Span {
                    trace_id: trace.clone(),
                    span_id: id.to_be_bytes().to_vec(),
                    parent_span_id: if parent == 0 {
                        Vec::new()
                    } else {
                        parent.to_be_bytes().to_vec()
                    },
                    name: "GET /".into(),
                    kind,
                    start_time_unix_nano: end - 2_000_000,
                    end_time_unix_nano: end,
                    attributes: vec![string("peer.service", &format!("svc-{callee}"))],
                    ..Span::default()
                };
                resources.push(resource(
                    &format!("svc-{service}"),
                    &instance,
                    vec![span(n * 4 + 1, 0, 2), span(n * 4 + 2, n * 4 + 1, 3)],
                ));
                resources.push(resource(
                    &format!("svc-{callee}"),
                    &format!("svc-{callee}#{}", n % 10),
                    vec![span(n * 4 + 3, n * 4 + 2, 2), span(n * 4 + 4, n * 4 + 3, 1)],
                ));
            }
            ExportTraceServiceRequest {
                resource_spans: resources,
            }
            .encode_to_vec()
        })
        .collect()
}

async fn flood(url: &str, seconds: u64, senders: usize, pid: Option<u32>) {
    // Prepared once: the senders measure the server, not their own encoding. Span times
    // are those of preparation: they arrive late for the live figures, but the graph,
    // pairing and memory work all the same.
    let exports = Arc::new(flood_exports(200));
    let answers: Arc<[AtomicU64; 4]> = Arc::new(Default::default());
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let before = pid.and_then(process_usage);
    let started = Instant::now();
    let tasks: Vec<_> = (0..senders)
        .map(|k| {
            let (exports, answers, url) = (exports.clone(), answers.clone(), url.to_string());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut i = k;
                while Instant::now() < deadline {
                    let status = post(&client, &url, exports[i % exports.len()].clone()).await;
                    let slot = match status {
                        200 => 0,
                        429 => 1,
                        503 => 2,
                        _ => 3,
                    };
                    answers[slot].fetch_add(1, Ordering::Relaxed);
                    if slot != 0 {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    i += senders;
                }
            })
        })
        .collect();
    let mut peak_rss = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if let Some((_, rss, _)) = pid.and_then(process_usage) {
            peak_rss = peak_rss.max(rss);
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let [ok, busy, unavailable, other] = [0, 1, 2, 3].map(|i| answers[i].load(Ordering::Relaxed));
    println!(
        "flood, {senders} senders for {seconds} s: {:.0} spans/s accepted ({ok} exports of 512 \
         spans answered 200, {busy} 429, {unavailable} 503, {other} other)",
        ok as f64 * 512.0 / elapsed
    );
    if let (Some((cpu0, _, _)), Some((cpu1, rss, hwm))) = (before, pid.and_then(process_usage)) {
        println!(
            "server: {:.0}% of one core; resident memory {:.0} MB now, {:.0} MB at most while \
             sampled, {:.0} MB peak of its life (VmHWM)",
            (cpu1 - cpu0) as f64 / elapsed,
            rss as f64 / 1e6,
            peak_rss as f64 / 1e6,
            hwm as f64 / 1e6
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: observe_load visible URL N | flood URL SECONDS SENDERS [SERVER_PID]";
    let url = args.get(1).expect(usage).trim_end_matches('/').to_string();
    let address: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("URL is http://IP:PORT");
    assert!(
        address.ip().is_loopback(),
        "load tests target this machine only (loopback), not {address}"
    );
    match args.first().map(String::as_str) {
        Some("visible") => {
            let probes: u64 = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
            assert!((1..=10_000).contains(&probes), "1 to 10,000 probes");
            visible(&url, address, probes).await;
        }
        Some("flood") => {
            let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
            let senders: usize = args.get(3).and_then(|a| a.parse().ok()).expect(usage);
            assert!(seconds <= 600 && (1..=256).contains(&senders));
            flood(
                &url,
                seconds,
                senders,
                args.get(4).and_then(|a| a.parse().ok()),
            )
            .await;
        }
        _ => panic!("{usage}"),
    }
}
