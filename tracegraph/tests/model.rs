//! The model estimated from spans written here, of a system whose every parameter is
//! known: gateway (2 instances, 4 ms of its own work, 5% own failures) calls cart 1.5
//! times a request (retried once after a failure, 5 ms later) and recommend, which is
//! optional and times out in one call of five; cart (6 ms of its own work, 10% own
//! failures) queries postgres, which sends no spans.

use tracegraph::model::{Model, ModelConfig};
use tracegraph::{Batch, ResourceSpans, Span, SpanKind};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
const T0: u64 = 1_800_000_000 * S;

struct Spans {
    next: u64,
    sent: Vec<(&'static str, String, Span)>,
}

impl Spans {
    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        service: &'static str,
        instance: &str,
        trace: u128,
        id: u64,
        parent: u64,
        kind: SpanKind,
        (start, end): (u64, u64),
        error: bool,
        peer: Option<&str>,
    ) {
        let span = Span {
            trace_id: trace,
            span_id: id,
            parent_span_id: parent,
            kind,
            start_ns: start,
            end_ns: end,
            error,
            peer: peer.map(Box::from),
            database: false,
            resend_count: None,
        };
        self.sent.push((service, instance.to_string(), span));
    }

    fn batch(&mut self) -> Batch {
        let mut resources: Vec<ResourceSpans> = Vec::new();
        for (service, instance, span) in self.sent.drain(..) {
            match resources
                .iter_mut()
                .find(|r| r.service == service && r.instance == instance)
            {
                Some(r) => r.spans.push(span),
                None => resources.push(ResourceSpans {
                    service: service.to_string(),
                    instance,
                    spans: vec![span],
                }),
            }
        }
        Batch { resources }
    }
}

/// One request `n` at `at`: its spans.
fn request(spans: &mut Spans, n: u64, at: u64) {
    let trace = u128::from(n) << 32 | 1;
    let root = spans.id();
    let gateway = format!("gateway-{}", n % 2 + 1);
    // gateway works 4 ms, then its calls one after another.
    let mut t = at + 4 * MS;
    let cart_calls = if n.is_multiple_of(2) { 2 } else { 1 };
    for call in 0..cart_calls {
        // cart fails on its own in one request of ten (the first call): retried 5 ms later.
        let fails = n % 10 == 3 && call == 0;
        for attempt in 0..=u64::from(fails) {
            let failed = fails && attempt == 0;
            let client = spans.id();
            let server = spans.id();
            let db = spans.id();
            // 1 ms of link latency each way; cart: 6 ms of work, 4 ms of query.
            spans.push(
                "gateway",
                &gateway,
                trace,
                client,
                root,
                SpanKind::Client,
                (t, t + 12 * MS),
                failed,
                Some("cart"),
            );
            spans.push(
                "cart",
                "cart-1",
                trace,
                server,
                client,
                SpanKind::Server,
                (t + MS, t + 11 * MS),
                failed,
                None,
            );
            spans.push(
                "cart",
                "cart-1",
                trace,
                db,
                server,
                SpanKind::Client,
                (t + 7 * MS, t + 11 * MS),
                false,
                Some("postgres"),
            );
            t += 12 * MS;
            if failed {
                t += 5 * MS;
            }
        }
    }
    // recommend: one call in five times out at 50 ms, and gateway goes on without it.
    let client = spans.id();
    if n.is_multiple_of(5) {
        spans.push(
            "gateway",
            &gateway,
            trace,
            client,
            root,
            SpanKind::Client,
            (t, t + 50 * MS),
            true,
            Some("recommend"),
        );
        t += 50 * MS;
    } else {
        let server = spans.id();
        spans.push(
            "gateway",
            &gateway,
            trace,
            client,
            root,
            SpanKind::Client,
            (t, t + 4 * MS),
            false,
            Some("recommend"),
        );
        spans.push(
            "recommend",
            "recommend-1",
            trace,
            server,
            client,
            SpanKind::Server,
            (t + MS, t + 3 * MS),
            false,
            None,
        );
        t += 4 * MS;
    }
    // gateway fails on its own in one request of twenty.
    let own_failure = n % 20 == 7;
    spans.push(
        "gateway",
        &gateway,
        trace,
        root,
        0,
        SpanKind::Server,
        (at, t),
        own_failure,
        None,
    );
}

/// An empty model, and no spans written yet.
fn fresh() -> (Model, Spans) {
    let spans = Spans {
        next: 0,
        sent: Vec::new(),
    };
    (Model::new(ModelConfig::default()), spans)
}

fn model_of(requests: u64) -> Model {
    let (mut model, mut spans) = fresh();
    // 50 requests a second, sent every 100 ms.
    for n in 0..requests {
        let at = T0 + n * 20 * MS;
        request(&mut spans, n, at);
        if n % 5 == 4 {
            model.ingest(&spans.batch(), at + 200 * MS);
            model.advance(at + 200 * MS);
        }
    }
    model.advance(T0 + requests * 20 * MS + 10 * S);
    model
}

fn close(got: f64, want: f64, tolerance: f64) -> bool {
    (got - want).abs() <= tolerance * want.abs().max(1e-9)
}

#[test]
fn a_known_system_is_estimated_from_its_spans() {
    let (topology, evidence) = model_of(1_000).topology("observed");
    assert_eq!(evidence.traces, 1_000);
    let service = |name: &str| topology.service(name).unwrap_or_else(|| panic!("{name}"));
    let gateway = service("gateway");
    assert_eq!(gateway.replicas, 2);
    assert!(
        close(gateway.ingress_rps, 50.0, 0.02),
        "{}",
        gateway.ingress_rps
    );
    assert!(
        close(gateway.service_time_ms, 4.0, 0.01),
        "{}",
        gateway.service_time_ms
    );
    assert!(
        close(gateway.error_rate, 0.05, 0.01),
        "{}",
        gateway.error_rate
    );
    let cart = service("cart");
    assert_eq!(cart.replicas, 1);
    assert_eq!(cart.ingress_rps, 0.0);
    assert!(
        close(cart.service_time_ms, 6.0, 0.01),
        "{}",
        cart.service_time_ms
    );
    assert_eq!(
        cart.service_time_dist,
        simulator::topology::ServiceTimeDist::Constant
    );
    // 100 own failures of 1,600 cart executions (1,500 calls and 100 retries).
    assert!(
        close(cart.error_rate, 100.0 / 1600.0, 0.01),
        "{}",
        cart.error_rate
    );
    assert!(service("postgres").is_virtual);
    let dependency = |from: &str, to: &str| {
        topology
            .dependencies
            .iter()
            .find(|d| d.from == from && d.to == to)
            .unwrap_or_else(|| panic!("{from}->{to}"))
    };
    let calls = dependency("gateway", "cart");
    assert!(close(calls.calls, 1.5, 0.01), "{}", calls.calls);
    assert_eq!(calls.retries, 1);
    assert!(
        close(calls.retry_backoff_ms, 5.0, 0.01),
        "{}",
        calls.retry_backoff_ms
    );
    assert!(close(calls.latency_ms, 2.0, 0.01), "{}", calls.latency_ms);
    // Its failures were all retried away: nothing says it is optional.
    assert!(calls.required);
    let optional = dependency("gateway", "recommend");
    assert!(
        !optional.required,
        "gateway succeeds when recommend finally fails"
    );
    assert!(
        close(optional.timeout_ms, 50.0, 0.01),
        "{}",
        optional.timeout_ms
    );
    assert!(close(dependency("cart", "postgres").calls, 1.0, 0.01));
    assert!(!evidence.services["gateway"].server_spans.thin);
    assert_eq!(
        evidence.dependencies["gateway->recommend"].final_failures,
        200
    );
    // The model runs: the simulator takes it as it is.
    let text = serde_json::to_string(&topology).unwrap();
    simulator::topology::Topology::from_json(&text).expect("a valid topology file");
}

#[test]
fn thin_estimates_are_flagged_and_the_same_spans_give_the_same_model() {
    let (_, evidence) = model_of(10).topology("observed");
    assert!(evidence.services["gateway"].server_spans.thin);
    let a = serde_json::to_string(&model_of(300).topology("m")).unwrap();
    let b = serde_json::to_string(&model_of(300).topology("m")).unwrap();
    assert_eq!(a, b);
}

/// Calls `a` and `b` to cart run side by side under one request, each failing once and
/// retried once; `a`'s retry fails too and ends after `b`'s failure, so from timing alone
/// `b`'s retry follows `a`'s retry. `resend` sets `http.request.resend_count` on the
/// resends (as the semantic conventions ask: not on first attempts).
fn side_by_side_failures(resend: bool) -> u32 {
    let (mut model, mut spans) = fresh();
    for n in 0..40u64 {
        let at = T0 + n * 100 * MS;
        let trace = u128::from(n) << 32 | 2;
        let root = spans.id();
        // (start, end, failed, resend count), in ms after `at`.
        let attempts = [
            (0, 10, true, 0),   // a
            (0, 20, true, 0),   // b
            (15, 22, true, 1),  // a's retry
            (25, 30, false, 1), // b's retry
        ];
        for (start, end, failed, count) in attempts {
            let client = spans.id();
            let server = spans.id();
            let (start, end) = (at + start * MS, at + end * MS);
            spans.push(
                "gateway",
                "gateway-1",
                trace,
                client,
                root,
                SpanKind::Client,
                (start, end),
                failed,
                Some("cart"),
            );
            if resend && count > 0 {
                spans.sent.last_mut().unwrap().2.resend_count = Some(count);
            }
            spans.push(
                "cart",
                "cart-1",
                trace,
                server,
                client,
                SpanKind::Server,
                (start + MS, end - MS),
                failed,
                None,
            );
        }
        spans.push(
            "gateway",
            "gateway-1",
            trace,
            root,
            0,
            SpanKind::Server,
            (at, at + 31 * MS),
            true,
            None,
        );
        model.ingest(&spans.batch(), at + 50 * MS);
    }
    model.advance(T0 + 20 * S);
    let (topology, _) = model.topology("observed");
    let calls = topology
        .dependencies
        .iter()
        .find(|d| d.from == "gateway" && d.to == "cart")
        .expect("gateway calls cart");
    assert!(close(calls.calls, 2.0, 0.01), "{}", calls.calls);
    calls.retries
}

#[test]
fn resend_counts_tell_retries_that_timing_cannot() {
    // From timing alone the chain reads one longer (documented)…
    assert_eq!(side_by_side_failures(false), 2);
    // …`http.request.resend_count` says it exactly.
    assert_eq!(side_by_side_failures(true), 1);
}
