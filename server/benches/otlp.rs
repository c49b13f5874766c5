//! OTLP ingest on one core, as the receiver does it: an export request of 512 spans in
//! protobuf (as the SDKs send it: resource and span attributes, 1,000 services × 10
//! instances, each request a root SERVER span and three calls down a chain) decoded with
//! `opentelemetry-proto`, turned into the graph's spans, and taken in by the graph.
//!
//! `cargo bench -p server --bench otlp`

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use server::otlp;
use tracegraph::{Config, Graph};

const T0: u64 = 1_800_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// Export requests of about 512 spans each, `requests` requests in all.
fn exports(requests: u64) -> Vec<Bytes> {
    let mut exports = Vec::new();
    let mut resources: Vec<ResourceSpans> = Vec::new();
    let mut spans = 0;
    for r in 0..requests {
        let trace_id = ((u128::from(r) + 1) << 32 | 1).to_be_bytes().to_vec();
        let at = T0 + r * 20_000;
        let mut parent = Vec::new();
        for hop in 0..4u64 {
            let service = (r + hop) % 1000;
            let id = r * 16 + hop * 2 + 1;
            let mut batch = vec![Span {
                trace_id: trace_id.clone(),
                span_id: id.to_be_bytes().to_vec(),
                parent_span_id: parent.clone(),
                name: "GET /work".into(),
                kind: 2,
                start_time_unix_nano: at + hop * MS,
                end_time_unix_nano: at + 10 * MS - hop * MS,
                attributes: vec![
                    string("http.request.method", "GET"),
                    string("url.path", "/work"),
                ],
                status: (r % 100 == 0).then(|| Status {
                    code: 2,
                    message: "failed".into(),
                }),
                ..Span::default()
            }];
            if hop < 3 {
                parent = (id + 1).to_be_bytes().to_vec();
                batch.push(Span {
                    trace_id: trace_id.clone(),
                    span_id: parent.clone(),
                    parent_span_id: id.to_be_bytes().to_vec(),
                    name: "GET next".into(),
                    kind: 3,
                    start_time_unix_nano: at + hop * MS,
                    end_time_unix_nano: at + 9 * MS - hop * MS,
                    attributes: vec![
                        string("peer.service", &format!("svc-{}", (r + hop + 1) % 1000)),
                        string("server.address", "10.0.0.1"),
                    ],
                    ..Span::default()
                });
            }
            spans += batch.len();
            resources.push(ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        string("service.name", &format!("svc-{service}")),
                        string("service.instance.id", &format!("svc-{service}#{}", r % 10)),
                        string("telemetry.sdk.language", "rust"),
                    ],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans: batch,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            });
        }
        if spans >= 512 {
            let request = ExportTraceServiceRequest {
                resource_spans: std::mem::take(&mut resources),
            };
            exports.push(Bytes::from(request.encode_to_vec()));
            spans = 0;
        }
    }
    exports
}

fn ingest(c: &mut Criterion) {
    let exports = exports(20_000);
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    let spans: usize = exports
        .iter()
        .map(|body| {
            let encoding = otlp::encoding(&headers).unwrap();
            otlp::to_batch(&otlp::decode(&headers, body, encoding).unwrap())
                .0
                .span_count()
        })
        .sum();
    let mut group = c.benchmark_group("otlp");
    group.throughput(Throughput::Elements(spans as u64));
    group.sample_size(10);
    group.bench_function("decode", |b| {
        b.iter(|| {
            for body in &exports {
                let encoding = otlp::encoding(&headers).unwrap();
                std::hint::black_box(otlp::decode(&headers, body, encoding).unwrap());
            }
        })
    });
    group.bench_function("decode+ingest", |b| {
        b.iter(|| {
            let mut graph = Graph::new(Config::default());
            for (i, body) in exports.iter().enumerate() {
                let encoding = otlp::encoding(&headers).unwrap();
                let request = otlp::decode(&headers, body, encoding).unwrap();
                let (batch, _, _) = otlp::to_batch(&request);
                let now = T0 + i as u64 * 4 * MS + 100 * MS;
                graph.ingest(&batch, now);
                if i % 25 == 24 {
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
