//! The graph builder on spans written here: a small known system (two gateway instances
//! calling cart, which calls an uninstrumented database), sent in batches as SDKs send them.

use tracegraph::{Batch, Config, Graph, ResourceSpans, Span, SpanKind};

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;
/// Unix time the tests start at (any will do).
const T0: u64 = 1_800_000_000 * S;

/// Builds the spans of requests, one trace each, and what each resource sent.
struct System {
    next_id: u64,
    /// (service, instance) → spans not yet sent.
    outbox: Vec<(String, String, Vec<Span>)>,
}

struct Request {
    at: u64,
    gateway: u32,
    /// The cart instance the call lands on.
    cart: u32,
    /// cart answers (false: the call to cart fails without cart sending a span).
    cart_up: bool,
    cart_error: bool,
}

impl System {
    fn new() -> System {
        System {
            next_id: 1,
            outbox: Vec::new(),
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn push(&mut self, service: &str, instance: &str, span: Span) {
        match self
            .outbox
            .iter_mut()
            .find(|(s, i, _)| s == service && i == instance)
        {
            Some((_, _, spans)) => spans.push(span),
            None => self
                .outbox
                .push((service.to_string(), instance.to_string(), vec![span])),
        }
    }

    /// gateway (root, 20 ms) → cart (10 ms) → postgres (2 ms, no span of its own).
    fn request(&mut self, r: Request) {
        let trace = u128::from(self.id()) << 64 | 7;
        let root = self.id();
        let call = self.id();
        let gateway = format!("gateway-{}", r.gateway);
        let start = r.at;
        let failed = !r.cart_up || r.cart_error;
        self.push(
            "gateway",
            &gateway,
            span(
                trace,
                root,
                0,
                SpanKind::Server,
                start,
                start + 20 * MS,
                failed,
                None,
            ),
        );
        self.push(
            "gateway",
            &gateway,
            span(
                trace,
                call,
                root,
                SpanKind::Client,
                start + MS,
                start + 15 * MS,
                failed,
                Some("cart"),
            ),
        );
        if r.cart_up {
            let server = self.id();
            let db = self.id();
            self.push(
                "cart",
                &format!("cart-{}", r.cart),
                span(
                    trace,
                    server,
                    call,
                    SpanKind::Server,
                    start + 2 * MS,
                    start + 14 * MS,
                    r.cart_error,
                    None,
                ),
            );
            self.push(
                "cart",
                &format!("cart-{}", r.cart),
                span(
                    trace,
                    db,
                    server,
                    SpanKind::Client,
                    start + 3 * MS,
                    start + 5 * MS,
                    false,
                    Some("postgres"),
                ),
            );
        }
    }

    /// Everything not yet sent, as one batch.
    fn flush(&mut self) -> Batch {
        Batch {
            resources: self
                .outbox
                .drain(..)
                .map(|(service, instance, spans)| ResourceSpans {
                    service,
                    instance,
                    spans,
                })
                .collect(),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn span(
    trace_id: u128,
    span_id: u64,
    parent_span_id: u64,
    kind: SpanKind,
    start_ns: u64,
    end_ns: u64,
    error: bool,
    peer: Option<&str>,
) -> Span {
    Span {
        trace_id,
        span_id,
        parent_span_id,
        kind,
        start_ns,
        end_ns,
        error,
        peer: peer.map(Box::from),
        database: false,
        resend_count: None,
    }
}

/// Runs `seconds` of 100 requests a second (alternating gateway instances), flushed and
/// ticked every 100 ms; `cart_up` and `cart_error` by request time.
fn run(
    graph: &mut Graph,
    system: &mut System,
    from: u64,
    seconds: u64,
    cart_up: impl Fn(u64) -> bool,
    cart_error: impl Fn(u64, u64) -> bool,
) {
    let mut n = 0;
    for step in 0..seconds * 10 {
        let now = from + step * 100 * MS;
        for k in 0..10 {
            let at = now + k * 10 * MS;
            system.request(Request {
                at,
                gateway: 1 + (n % 2) as u32,
                cart: 1,
                cart_up: cart_up(at),
                cart_error: cart_error(at, n),
            });
            n += 1;
        }
        // Spans of requests started in this 100 ms end within it (+20 ms): sent 50 ms later.
        graph.ingest(&system.flush(), now + 150 * MS);
        graph.advance(now + 150 * MS);
    }
}

#[test]
fn a_known_system_becomes_its_graph_and_figures() {
    let mut graph = Graph::new(Config::default());
    let mut system = System::new();
    run(
        &mut graph,
        &mut system,
        T0,
        10,
        |_| true,
        |_, n| n.is_multiple_of(10),
    );
    let topology = graph.topology("observed");
    let names: Vec<&str> = topology.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cart", "gateway", "postgres"]);
    let gateway = topology.service("gateway").unwrap();
    assert_eq!(gateway.replicas, 2);
    assert!(gateway.is_entry());
    assert!(!gateway.is_virtual);
    let postgres = topology.service("postgres").unwrap();
    assert!(postgres.is_virtual);
    assert!(!postgres.is_entry());
    assert!(!topology.service("cart").unwrap().is_entry());
    let links: Vec<(&str, &str)> = topology
        .dependencies
        .iter()
        .map(|d| (d.from.as_str(), d.to.as_str()))
        .collect();
    assert_eq!(links, [("cart", "postgres"), ("gateway", "cart")]);
    topology
        .validate()
        .expect("the observed topology is a valid file");

    let tick = graph.tick(10.0);
    // 100 requests a second, one in ten failing at cart and so at gateway.
    let gateway = &tick.services["gateway"];
    assert!((gateway.rps - 100.0).abs() <= 10.0, "{}", gateway.rps);
    assert!((gateway.success_rate.unwrap() - 0.9).abs() < 0.03);
    assert_eq!(gateway.up, 2);
    assert_eq!(gateway.instance_ids, ["gateway-1", "gateway-2"]);
    let entry = &tick.entries["gateway"];
    assert!((entry.availability.unwrap() - 0.9).abs() < 0.03);
    assert!((entry.rps - 100.0).abs() <= 10.0);
    assert!((tick.availability.unwrap() - 0.9).abs() < 0.03);
    // The root spans last 20 ms.
    let p99 = entry.p99_ms.unwrap();
    assert!((19.0..=21.0).contains(&p99), "{p99}");
    let call = tick.link("gateway", "cart").unwrap();
    assert!((call.rps - 100.0).abs() <= 10.0);
    assert!((call.error_rate.unwrap() - 0.1).abs() < 0.03);
    let db = tick.link("cart", "postgres").unwrap();
    assert!((db.rps - 100.0).abs() <= 10.0, "{}", db.rps);
    assert_eq!(db.error_rate, Some(0.0));
    // The virtual service's figures come from the calls made to it.
    assert!((tick.services["postgres"].rps - 100.0).abs() <= 10.0);
    let stats = graph.stats();
    assert!(
        stats.paired > 0 && stats.by_peer > 0 && stats.to_virtual > 0,
        "{stats:?}"
    );
    assert_eq!(stats.late, 0);
    assert_eq!(stats.unpaired_dropped, 0);
}

#[test]
fn pairing_does_not_depend_on_which_side_arrives_first() {
    for client_first in [true, false] {
        let mut graph = Graph::new(Config::default());
        let client = ResourceSpans {
            service: "web".into(),
            instance: "web-1".into(),
            spans: vec![span(
                1,
                10,
                0,
                SpanKind::Client,
                T0,
                T0 + 5 * MS,
                false,
                None,
            )],
        };
        let server = ResourceSpans {
            service: "api".into(),
            instance: "api-1".into(),
            spans: vec![span(
                1,
                11,
                10,
                SpanKind::Server,
                T0 + MS,
                T0 + 4 * MS,
                false,
                None,
            )],
        };
        let (first, second) = if client_first {
            (client, server)
        } else {
            (server, client)
        };
        graph.ingest(
            &Batch {
                resources: vec![first],
            },
            T0 + 10 * MS,
        );
        graph.ingest(
            &Batch {
                resources: vec![second],
            },
            T0 + 20 * MS,
        );
        graph.advance(T0 + 60 * S);
        let topology = graph.topology("t");
        assert_eq!(
            topology.dependencies.len(),
            1,
            "client first: {client_first}"
        );
        assert_eq!(topology.dependencies[0].from, "web");
        assert_eq!(topology.dependencies[0].to, "api");
        // The server span had a parent, which arrived: api is no entry point.
        assert!(!topology.service("api").unwrap().is_entry());
        assert_eq!(graph.stats().paired, 1);
    }
}

#[test]
fn calls_to_a_dead_callee_count_against_its_link_at_once() {
    let mut graph = Graph::new(Config::default());
    let mut system = System::new();
    // cart answers for 5 s (gateway learns that "cart" is cart), then refuses for 5 s.
    let down_at = T0 + 5 * S;
    run(
        &mut graph,
        &mut system,
        T0,
        10,
        |at| at < down_at,
        |_, _| false,
    );
    let tick = graph.tick(10.0);
    let call = tick.link("gateway", "cart").unwrap();
    assert_eq!(call.error_rate, Some(1.0), "{call:?}");
    assert!((call.rps - 100.0).abs() <= 10.0);
    assert_eq!(tick.entries["gateway"].availability, Some(0.0));
    // cart has stopped sending while calls to it fail: down.
    let cart = &tick.services["cart"];
    assert_eq!(cart.up, 0);
    assert_eq!(cart.instances, ["down"]);
    assert_eq!(cart.health, simulator::wire::Health::Down);
}

#[test]
fn an_idle_system_stays_up_and_what_goes_quiet_is_forgotten() {
    let config = Config {
        forget_after_ns: 30 * S,
        ..Config::default()
    };
    let mut graph = Graph::new(config);
    let mut system = System::new();
    run(&mut graph, &mut system, T0, 3, |_| true, |_, _| false);
    let version = graph.version();
    graph.advance(T0 + 20 * S);
    let tick = graph.tick(20.0);
    assert_eq!(tick.services["cart"].up, 1, "idle, not down");
    assert_eq!(tick.services["cart"].rps, 0.0);
    assert_eq!(tick.entries["gateway"].availability, None);
    assert_eq!(graph.version(), version);
    graph.advance(T0 + 40 * S);
    assert!(graph.version() > version);
    assert!(
        graph.tick(40.0).services.is_empty(),
        "{:?}",
        graph.tick(40.0).services.keys().collect::<Vec<_>>()
    );
    assert!(graph.topology("t").services.is_empty());
}

/// Requests for `seconds` from `from`, alternating over gateway-1/2 and the cart instances
/// `carts` names; a call landing on an instance `dead` refuses goes unanswered.
fn balanced(
    graph: &mut Graph,
    system: &mut System,
    from: u64,
    seconds: u64,
    carts: &[u32],
    dead: impl Fn(u32) -> bool,
) {
    let mut n = 0usize;
    for step in 0..seconds * 10 {
        let now = from + step * 100 * MS;
        for k in 0..10 {
            let cart = carts[n % carts.len()];
            system.request(Request {
                at: now + k * 10 * MS,
                gateway: 1 + (n % 2) as u32,
                cart,
                cart_up: !dead(cart),
                cart_error: false,
            });
            n += 1;
        }
        graph.ingest(&system.flush(), now + 150 * MS);
        graph.advance(now + 150 * MS);
    }
}

#[test]
fn an_idle_instance_beside_busy_siblings_stays_up() {
    // Both cart instances serve, then every connection happens to land on cart-1 (as
    // kept-alive connections balanced per connection do): cart-2 is idle, not down.
    let mut graph = Graph::new(Config::default());
    let mut system = System::new();
    balanced(&mut graph, &mut system, T0, 3, &[1, 2], |_| false);
    balanced(&mut graph, &mut system, T0 + 3 * S, 6, &[1], |_| false);
    let tick = graph.tick(9.0);
    assert_eq!(tick.services["cart"].instances, ["up", "up"]);
    assert_eq!(tick.services["cart"].up, 2);
}

#[test]
fn a_silent_instance_whose_calls_go_unanswered_is_down() {
    // cart-2 dies: the calls landing there fail with no answer while cart-1 serves.
    let mut graph = Graph::new(Config::default());
    let mut system = System::new();
    balanced(&mut graph, &mut system, T0, 3, &[1, 2], |_| false);
    balanced(&mut graph, &mut system, T0 + 3 * S, 6, &[1, 2], |cart| {
        cart == 2
    });
    let tick = graph.tick(9.0);
    assert_eq!(tick.services["cart"].instances, ["up", "down"]);
    assert_eq!(tick.services["cart"].up, 1);
    // It comes back: up again as soon as it sends.
    balanced(&mut graph, &mut system, T0 + 9 * S, 1, &[1, 2], |_| false);
    assert_eq!(graph.tick(10.0).services["cart"].instances, ["up", "up"]);
}

#[test]
fn figures_wait_for_the_exporters_lag() {
    // Spans arrive 3 s after they end (an SDK batching every 3 s): the figures show the
    // window 3 s back, complete, rather than a fraction of the last second.
    let mut graph = Graph::new(Config::default());
    let mut system = System::new();
    for step in 0..100u64 {
        let now = T0 + step * 100 * MS;
        for k in 0..10 {
            system.request(Request {
                at: now + k * 10 * MS,
                gateway: 1,
                cart: 1,
                cart_up: true,
                cart_error: false,
            });
        }
        if step % 30 == 29 {
            graph.ingest(&system.flush(), now + 100 * MS);
        }
        graph.advance(now + 100 * MS);
    }
    assert!(graph.lag_ns() >= 2_900 * MS, "{}", graph.lag_ns());
    let rps = graph.tick(10.0).services["gateway"].rps;
    assert!((rps - 100.0).abs() <= 10.0, "{rps}");
    assert_eq!(graph.stats().late, 0);
}

#[test]
fn same_spans_same_figures() {
    let figures = || {
        let mut graph = Graph::new(Config::default());
        let mut system = System::new();
        run(
            &mut graph,
            &mut system,
            T0,
            5,
            |at| at < T0 + 3 * S,
            |_, n| n.is_multiple_of(7),
        );
        (
            format!("{:?}", graph.tick(5.0)),
            graph.topology("t"),
            graph.stats().clone(),
        )
    };
    assert_eq!(figures(), figures());
}

#[test]
fn the_unpaired_store_is_capped() {
    let config = Config {
        pending_cap: 100,
        ..Config::default()
    };
    let mut graph = Graph::new(config);
    // 1,000 client spans naming no callee and never answered.
    let spans = (0..1000)
        .map(|i| span(i, 1, 0, SpanKind::Client, T0, T0 + MS, false, None))
        .collect();
    let batch = Batch {
        resources: vec![ResourceSpans {
            service: "web".into(),
            instance: "web-1".into(),
            spans,
        }],
    };
    graph.ingest(&batch, T0 + 10 * MS);
    assert!(graph.waiting() <= 100);
    assert_eq!(graph.stats().evicted, 900);
    assert_eq!(graph.stats().unpaired_dropped, 900);
}

#[test]
fn names_become_valid_service_names() {
    use tracegraph::graph::service_name;
    assert_eq!(service_name("checkout service"), "checkout-service");
    assert_eq!(service_name("postgresql/orders"), "postgresql-orders");
    assert_eq!(service_name(""), "unknown");
    assert_eq!(service_name("lb"), "lb-svc");
    assert_eq!(service_name(&"x".repeat(100)).len(), 64);
}

#[test]
fn instances_in_natural_order() {
    use tracegraph::graph::natural_cmp;
    let mut ids = vec!["cart#10", "cart#2", "cart#1", "api-b", "api-a"];
    ids.sort_by(|a, b| natural_cmp(a, b));
    assert_eq!(ids, ["api-a", "api-b", "cart#1", "cart#2", "cart#10"]);
}

#[test]
fn spans_too_old_for_the_ring_are_counted_late() {
    let mut graph = Graph::new(Config::default());
    let batch = Batch {
        resources: vec![ResourceSpans {
            service: "web".into(),
            instance: "web-1".into(),
            spans: vec![span(1, 1, 0, SpanKind::Server, T0, T0 + MS, false, None)],
        }],
    };
    graph.ingest(&batch, T0 + 10 * MS);
    graph.ingest(&batch, T0 + 60 * S);
    assert_eq!(graph.stats().late, 1);
}

#[test]
fn lost_parents_make_no_entry_point_but_a_silent_caller_does() {
    let mut graph = Graph::new(Config::default());
    let mut system = System::new();
    run(&mut graph, &mut system, T0, 2, |_| true, |_, _| false);
    // A few cart spans whose caller's spans were lost (gateway crashed before exporting).
    let orphans = (0..5)
        .map(|i| {
            span(
                9_000 + i,
                1,
                77,
                SpanKind::Server,
                T0 + 2 * S,
                T0 + 2 * S + MS,
                false,
                None,
            )
        })
        .collect();
    let lost = Batch {
        resources: vec![ResourceSpans {
            service: "cart".into(),
            instance: "cart-1".into(),
            spans: orphans,
        }],
    };
    graph.ingest(&lost, T0 + 2 * S);
    graph.advance(T0 + 10 * S);
    assert!(!graph.topology("t").service("cart").unwrap().is_entry());
    assert_eq!(graph.stats().orphaned, 5);
    // A service every one of whose callers propagates context but sends no spans.
    for i in 0..20u64 {
        let batch = Batch {
            resources: vec![ResourceSpans {
                service: "billing".into(),
                instance: "billing-1".into(),
                spans: vec![span(
                    10_000 + u128::from(i),
                    1,
                    5,
                    SpanKind::Server,
                    T0 + 10 * S,
                    T0 + 10 * S + MS,
                    false,
                    None,
                )],
            }],
        };
        graph.ingest(&batch, T0 + 10 * S + i * MS);
    }
    graph.advance(T0 + 20 * S);
    assert!(graph.topology("t").service("billing").unwrap().is_entry());
}
