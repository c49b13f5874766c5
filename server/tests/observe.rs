//! Observe mode: the OTLP/HTTP receiver's answers, and a known system's spans sent by the
//! real OpenTelemetry Rust SDK becoming the observed graph and figures on a real server.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span as _, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use prost::Message;
use serde_json::Value;
use server::session::{Session, Source};
use server::{AppState, app};
use simulator::templates;
use tower::ServiceExt;

fn state(source: Source) -> AppState {
    let store = std::sync::Arc::new(server::store::Store::in_memory().unwrap());
    let observed = server::observed::Observed::start(tracegraph::Config::default());
    AppState {
        session: Session::start_with(templates::demo(), 1, store.clone(), observed, source)
            .unwrap(),
        store,
        token: None,
    }
}

async fn post(
    router: &Router,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::post("/v1/traces").header(header::CONTENT_TYPE, content_type);
    if let Some(encoding) = encoding {
        request = request.header(header::CONTENT_ENCODING, encoding);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, body.to_vec())
}

async fn get_json(router: &Router, uri: &str) -> Value {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{uri}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&body).unwrap()
}

/// One OTLP/JSON export: `web` calls `api` (a client span and its server child).
fn json_export(trace_byte: u8) -> String {
    let trace = format!("{trace_byte:02x}").repeat(16);
    format!(
        r#"{{"resourceSpans": [
          {{"resource": {{"attributes": [{{"key": "service.name", "value": {{"stringValue": "web"}}}}]}},
            "scopeSpans": [{{"spans": [
              {{"traceId": "{trace}", "spanId": "0000000000000001", "name": "GET /",
                "kind": 2, "startTimeUnixNano": "1", "endTimeUnixNano": "9"}},
              {{"traceId": "{trace}", "spanId": "0000000000000002", "parentSpanId": "0000000000000001",
                "name": "GET api", "kind": 3, "startTimeUnixNano": "2", "endTimeUnixNano": "8",
                "attributes": [{{"key": "peer.service", "value": {{"stringValue": "api"}}}}]}}
            ]}}]}},
          {{"resource": {{"attributes": [{{"key": "service.name", "value": {{"stringValue": "api"}}}},
                                       {{"key": "service.instance.id", "value": {{"stringValue": "api-1"}}}}]}},
            "scopeSpans": [{{"spans": [
              {{"traceId": "{trace}", "spanId": "0000000000000003", "parentSpanId": "0000000000000002",
                "name": "GET /api", "kind": 2, "startTimeUnixNano": "3", "endTimeUnixNano": "7",
                "status": {{"code": 2}}}}
            ]}}]}}
        ]}}"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn accepted_spans(observed: &Value) -> u64 {
    observed["spans_accepted"].as_u64().unwrap()
}

#[tokio::test]
async fn otlp_answers_as_the_spec_says() {
    let router = app(state(Source::Observed), None);

    // OTLP/JSON, plain and gzipped: 200 with a JSON ExportTraceServiceResponse.
    let (status, headers, body) = post(
        &router,
        "application/json",
        None,
        json_export(1).into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    let answer: ExportTraceServiceResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer.partial_success, None);
    let (status, _, _) = post(
        &router,
        "application/json; charset=utf-8",
        Some("gzip"),
        gzip(json_export(2).as_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // The same request in protobuf: 200 with a protobuf answer.
    let request: ExportTraceServiceRequest = serde_json::from_str(&json_export(3)).unwrap();
    let (status, headers, body) = post(
        &router,
        "application/x-protobuf",
        None,
        request.encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf");
    assert_eq!(
        ExportTraceServiceResponse::decode(body.as_slice()).unwrap(),
        ExportTraceServiceResponse::default()
    );
    let (status, _, _) = post(
        &router,
        "application/x-protobuf",
        Some("gzip"),
        gzip(&request.encode_to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = get_json(&router, "/api/observed").await;
    assert_eq!(accepted_spans(&before), 12);

    // Unusable spans: 200 with partialSuccess counting and explaining them.
    let bad_ids = json_export(4).replace("\"spanId\": \"0000000000000003\"", "\"spanId\": \"\"");
    let (status, _, body) = post(&router, "application/json", None, bad_ids.into_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    let answer: ExportTraceServiceResponse = serde_json::from_slice(&body).unwrap();
    let partial = answer.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("span id has 0 bytes"),
        "{}",
        partial.error_message
    );

    // What is not OTLP changes nothing.
    let refusals: [(&str, Option<&str>, Vec<u8>, StatusCode); 5] = [
        (
            "application/x-protobuf",
            None,
            vec![0xff, 0xff, 0xff, 0x0f, 0x12],
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            None,
            b"{\"resourceSpans\": [".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "application/json",
            Some("gzip"),
            b"not gzip at all".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "text/plain",
            None,
            json_export(5).into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "application/json",
            Some("br"),
            json_export(6).into_bytes(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (content_type, encoding, body, expected) in refusals {
        let (status, _, answer) = post(&router, content_type, encoding, body).await;
        assert_eq!(status, expected, "{content_type} {encoding:?}");
        assert!(!answer.is_empty(), "an error says why");
    }
    // Over the size limit as sent, and as inflated (a gzip bomb).
    let huge = vec![b' '; server::otlp::BODY_LIMIT + 1];
    let (status, _, _) = post(&router, "application/json", None, huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let bomb = gzip(&vec![b' '; server::otlp::INFLATED_LIMIT + 1]);
    let (status, _, _) = post(&router, "application/json", Some("gzip"), bomb).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = get_json(&router, "/api/observed").await;
    assert_eq!(
        accepted_spans(&after),
        14,
        "only the usable spans of the partial export"
    );
    assert_eq!(after["refused_invalid"], 6);

    // The graph: web → api, web an entry point, api one instance.
    let topology = get_json(&router, "/api/topology").await;
    assert_eq!(topology["name"], "observed");
    assert_eq!(topology["dependencies"][0]["from"], "web");
    assert_eq!(topology["dependencies"][0]["to"], "api");
}

#[tokio::test]
async fn an_export_past_the_queue_is_refused_with_retry_after_and_taken_in_no_part() {
    let store = std::sync::Arc::new(server::store::Store::in_memory().unwrap());
    let observed = server::observed::Observed::with_queue(tracegraph::Config::default(), 2);
    let session = Session::start_with(
        templates::demo(),
        1,
        store.clone(),
        observed,
        Source::Observed,
    )
    .unwrap();
    let router = app(
        AppState {
            session,
            store,
            token: None,
        },
        None,
    );
    // Three spans: more than the queue holds.
    let (status, headers, body) = post(
        &router,
        "application/json",
        None,
        json_export(1).into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "1");
    assert!(String::from_utf8_lossy(&body).contains("queue is full"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let observed = get_json(&router, "/api/observed").await;
    assert_eq!(accepted_spans(&observed), 0);
    assert_eq!(observed["refused_busy"], 1);
    assert_eq!(observed["graph"]["spans"], 0);
}

#[tokio::test]
async fn the_source_switches_and_observed_faults_need_proxies() {
    let router = app(state(Source::Simulated), None);
    let session = get_json(&router, "/api/session").await;
    assert_eq!(session["source"], "simulated");
    assert_eq!(get_json(&router, "/api/topology").await["name"], "shop");
    let response = router
        .clone()
        .oneshot(
            Request::put("/api/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"source": "observed"}"#))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        get_json(&router, "/api/session").await["source"],
        "observed"
    );
    assert_eq!(get_json(&router, "/api/topology").await["name"], "observed");
    let response = router
        .clone()
        .oneshot(
            Request::post("/api/faults")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"kind": "kill", "service": "cart"}"#))
                .unwrap(),
        )
        .await
        .unwrap();
    // A real system is broken through its fault proxies: cart has none here.
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert!(
        answer["error"].as_str().unwrap().contains("no fault proxy"),
        "{answer}"
    );
}

/// A request through the known system, made with the real SDK: `gateway` (instance 1 or 2)
/// serves it and calls `cart` over HTTP (context propagated as `traceparent`), which
/// queries `orders-db`, a database that sends no spans. Every tenth request fails at cart.
fn request_through(
    gateways: &[opentelemetry_sdk::trace::SdkTracer],
    cart: &opentelemetry_sdk::trace::SdkTracer,
    n: usize,
) {
    let propagator = TraceContextPropagator::new();
    let now = SystemTime::now();
    let at = |ms: u64| now + Duration::from_millis(ms);
    let gateway = &gateways[n % gateways.len()];
    let failed = n.is_multiple_of(10);
    let root = gateway
        .span_builder("GET /checkout")
        .with_kind(SpanKind::Server)
        .with_start_time(at(0))
        .start(gateway);
    let root_cx = Context::current_with_span(root);
    let call = gateway
        .span_builder("GET cart")
        .with_kind(SpanKind::Client)
        .with_start_time(at(1))
        .with_attributes([
            KeyValue::new("server.address", "cart.internal"),
            KeyValue::new("server.port", 8080),
        ])
        .start_with_context(gateway, &root_cx);
    let call_cx = root_cx.with_span(call);
    // Over the wire: the traceparent header.
    let mut headers = HashMap::new();
    propagator.inject_context(&call_cx, &mut headers);
    let remote = propagator.extract(&headers);
    let mut served = cart
        .span_builder("GET /cart")
        .with_kind(SpanKind::Server)
        .with_start_time(at(2))
        .start_with_context(cart, &remote);
    let served_cx = remote.with_remote_span_context(served.span_context().clone());
    let mut query = cart
        .span_builder("SELECT orders")
        .with_kind(SpanKind::Client)
        .with_start_time(at(3))
        .with_attributes([
            KeyValue::new("db.system", "postgresql"),
            KeyValue::new("db.name", "orders-db"),
        ])
        .start_with_context(cart, &served_cx);
    query.end_with_timestamp(at(5));
    if failed {
        served.set_status(Status::error("out of stock"));
        call_cx.span().set_status(Status::error("503"));
        root_cx.span().set_status(Status::error("cart failed"));
    }
    served.end_with_timestamp(at(8));
    call_cx.span().end_with_timestamp(at(9));
    root_cx.span().end_with_timestamp(at(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_from_the_rust_sdk_become_the_graph_and_its_figures() {
    let state = state(Source::Observed);
    let session = state.session.clone();
    let router = app(state, None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(server::run(
        listener,
        router.clone(),
        std::future::pending(),
    ));

    // 200 requests a second for 3 s, sent from a thread: the SDK's exporter blocks.
    let sender = tokio::task::spawn_blocking(move || {
        let delay = Duration::from_millis(100);
        let provider = |service: &str, instance: &str| {
            server::telemetry::tracer_provider(&endpoint, service, instance, delay).unwrap()
        };
        let providers = [
            provider("gateway", "gateway-1"),
            provider("gateway", "gateway-2"),
            provider("cart", "cart-1"),
        ];
        let gateways = [providers[0].tracer("test"), providers[1].tracer("test")];
        let cart = providers[2].tracer("test");
        let mut n = 0;
        for _ in 0..30 {
            for _ in 0..20 {
                request_through(&gateways, &cart, n);
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for provider in &providers {
            provider.force_flush().unwrap();
        }
        n
    });
    // Mid-run, the figures of the last second: 200 requests a second, one in ten failing.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let tick = session.tick();
    let near = |value: f64, expected: f64, tolerance: f64| (value - expected).abs() <= tolerance;
    let gateway = &tick.services["gateway"];
    assert!(near(gateway.rps, 200.0, 30.0), "{gateway:?}");
    assert!(
        near(gateway.success_rate.unwrap(), 0.9, 0.05),
        "{gateway:?}"
    );
    assert_eq!((gateway.up, gateway.replicas), (2, 2));
    let entry = &tick.entries["gateway"];
    assert!(near(entry.rps, 200.0, 30.0), "{entry:?}");
    assert!(near(entry.availability.unwrap(), 0.9, 0.05), "{entry:?}");
    assert!(near(tick.availability.unwrap(), 0.9, 0.05));
    assert!(!tick.entries.contains_key("cart"));
    let call = tick.link("gateway", "cart").unwrap();
    assert!(near(call.rps, 200.0, 30.0), "{call:?}");
    assert!(near(call.error_rate.unwrap(), 0.1, 0.05), "{call:?}");
    let query = tick.link("cart", "orders-db").unwrap();
    assert!(near(query.rps, 200.0, 30.0), "{query:?}");
    assert!(near(tick.services["orders-db"].rps, 200.0, 30.0));
    let sent = sender.await.unwrap();
    assert_eq!(sent, 600);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let topology = get_json(&router, "/api/topology").await;
    let services: Vec<(&str, u64, bool)> = topology["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["replicas"].as_u64().unwrap(),
                s["virtual"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        services,
        [
            ("cart", 1, false),
            ("gateway", 2, false),
            ("orders-db", 1, true)
        ]
    );
    let links: Vec<(&str, &str)> = topology["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["from"].as_str().unwrap(), d["to"].as_str().unwrap()))
        .collect();
    assert_eq!(links, [("cart", "orders-db"), ("gateway", "cart")]);
    let gateway = &topology["services"][1];
    assert!(
        gateway["ingress_rps"].as_f64().unwrap() > 0.0,
        "gateway is the entry point"
    );
    assert_eq!(
        topology["services"][0]["ingress_rps"]
            .as_f64()
            .unwrap_or(0.0),
        0.0
    );

    // Every span arrived and paired; none was refused.
    let observed = get_json(&router, "/api/observed").await;
    assert_eq!(accepted_spans(&observed), 600 * 4, "{observed}");
    assert_eq!(observed["refused_busy"], 0);
    assert_eq!(observed["graph"]["unpaired_dropped"], 0);
    assert_eq!(observed["graph"]["late"], 0);

    // The observed run keeps a frame per second, to scrub back through.
    let run = get_json(&router, "/api/runs/observed").await;
    let last = run["last_s"].as_u64().unwrap();
    assert!(last >= 3, "{run}");
    let drawn = run["epochs"].as_array().unwrap().last().unwrap();
    assert_eq!(drawn["topology"]["services"].as_array().unwrap().len(), 3);
    let frame = get_json(&router, &format!("/api/runs/observed/frames/{}", last - 1)).await;
    assert_eq!(frame["t"].as_f64(), Some((last - 1) as f64));
    assert!(
        frame["services"]["gateway"]["rps"].as_f64().unwrap() > 0.0,
        "{frame}"
    );
}
