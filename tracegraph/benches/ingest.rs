//! Ingest throughput of the graph builder on one core: spans of a 1,000-service system
//! (10 instances each, every request a root span and three calls down a chain), in export
//! batches of 512 spans, then a tick per 100 ms of arrivals.
//!
//! `cargo bench -p tracegraph --bench ingest` (the server's decode of OTLP protobuf is
//! measured separately by the server's own benchmark).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tracegraph::{Batch, Config, Graph, ResourceSpans, Span, SpanKind};

const MS: u64 = 1_000_000;
const T0: u64 = 1_800_000_000_000_000_000;

/// Batches of about 512 spans: request `r` enters service `r % 1000` and calls the next
/// three services in turn, each call a client span and the callee's server span.
fn batches(requests: u64) -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut resources: Vec<ResourceSpans> = Vec::new();
    let mut spans_in_batch = 0;
    for r in 0..requests {
        let trace = u128::from(r + 1) << 32 | 1;
        let at = T0 + r * 20_000; // 50,000 requests a second of span time
        let mut parent = 0;
        for hop in 0..4u64 {
            let service = (r + hop) % 1000;
            let instance = r % 10;
            let server_id = r * 16 + hop * 2 + 1;
            let mut spans = vec![Span {
                trace_id: trace,
                span_id: server_id,
                parent_span_id: parent,
                kind: SpanKind::Server,
                start_ns: at + hop * MS,
                end_ns: at + 10 * MS - hop * MS,
                error: r % 100 == 0,
                peer: None,
                database: false,
                resend_count: None,
            }];
            if hop < 3 {
                parent = server_id + 1;
                spans.push(Span {
                    trace_id: trace,
                    span_id: parent,
                    parent_span_id: server_id,
                    kind: SpanKind::Client,
                    start_ns: at + hop * MS,
                    end_ns: at + 9 * MS - hop * MS,
                    error: false,
                    peer: Some(format!("svc-{}", (r + hop + 1) % 1000).into()),
                    database: false,
                    resend_count: None,
                });
            }
            spans_in_batch += spans.len();
            resources.push(ResourceSpans {
                service: format!("svc-{service}"),
                instance: format!("svc-{service}#{instance}"),
                spans,
            });
        }
        if spans_in_batch >= 512 {
            batches.push(Batch {
                resources: std::mem::take(&mut resources),
            });
            spans_in_batch = 0;
        }
    }
    batches
}

fn ingest(c: &mut Criterion) {
    let batches = batches(50_000);
    let spans: usize = batches.iter().map(Batch::span_count).sum();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(spans as u64));
    group.sample_size(10);
    group.bench_function("1000-services", |b| {
        b.iter(|| {
            let mut graph = Graph::new(Config::default());
            // One second of span time: arrivals 100 ms after, a tick every ~100 ms.
            for (i, batch) in batches.iter().enumerate() {
                let now = T0 + (i as u64 * 1_000 * MS) / batches.len() as u64 + 100 * MS;
                graph.ingest(batch, now);
                if i % 20 == 19 {
                    graph.advance(now);
                    std::hint::black_box(graph.tick(0.0));
                }
            }
            graph
        })
    });
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
