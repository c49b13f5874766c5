//! Property tests over arbitrary input: the parsers never panic on any text, and the engine
//! never panics and keeps its figures sane on any valid topology under any valid faults.
//! `PROPTEST_CASES=N cargo test -p simulator --test fuzz --release` runs more cases.

use proptest::prelude::*;
use simulator::engine::Engine;
use simulator::experiment::{self, Plan, Verdict};
use simulator::fault::{Fault, FaultKind};
use simulator::queue::secs;
use simulator::templates;
use simulator::topology::{
    Balancer, Breaker, Dependency, Routing, RoutingMode, Service, ServiceTimeDist, Topology,
};

proptest! {
    #[test]
    fn topology_parsers_never_panic(text in "\\PC*") {
        let _ = Topology::from_json(&text);
        let _ = Topology::from_yaml(&text);
    }

    #[test]
    fn topology_parser_never_panics_on_json_shaped_input(
        name in "[a-z]{0,8}",
        replicas in any::<i64>(),
        rate in any::<f64>(),
        field in "[a-z_]{1,12}",
    ) {
        let text = format!(
            r#"{{"name": "{name}", "services": [{{"name": "a", "replicas": {replicas},
                 "ingress_rps": {rate}, "{field}": 1}}]}}"#
        );
        if let Err(err) = Topology::from_json(&text) {
            prop_assert!(!err.message.is_empty());
        }
    }

    #[test]
    fn fault_parsers_never_panic(text in "\\PC*") {
        let _ = Fault::parse_cli(&text);
        let _ = serde_json::from_str::<Fault>(&text);
    }

    #[test]
    fn experiment_plans_never_panic(text in "\\PC*") {
        let _ = Plan::from_json(&text);
    }

    #[test]
    fn experiment_plans_run_or_explain(
        min in prop_oneof![3 => 0.0f64..=1.0, 1 => any::<f64>()],
        over in prop_oneof![3 => 0u32..4, 1 => any::<u32>()],
        duration in 0u32..8,
        entry in prop::sample::select(vec!["", "web", "mobile-api", "", "web", "cart", "nope"]),
        at in prop::option::of(prop_oneof![4 => 0.0f64..6.0, 1 => -5.0f64..10.0]),
        service in prop::sample::select(vec!["cart", "catalog-db", "checkout", "registry", "nope"]),
        seed in any::<u64>(),
    ) {
        let mut hypothesis = serde_json::json!({"min_availability": min, "over_s": over});
        if !entry.is_empty() {
            hypothesis["entry"] = entry.into();
        }
        let mut fault = serde_json::json!({"kind": "kill", "service": service});
        if let Some(at) = at {
            fault["at_s"] = at.into();
        }
        let body = serde_json::json!({"faults": [fault], "hypothesis": hypothesis, "duration_s": duration});
        // Non-finite numbers serialise as null: the parser must explain those too.
        match Plan::from_json(&body.to_string()) {
            Ok(plan) => match experiment::run(templates::demo(), seed, plan) {
                Ok(report) => {
                    prop_assert_ne!(report.verdict, Verdict::Running);
                    prop_assert_eq!(report.timeline.len() as u32, report.elapsed_s);
                }
                Err(err) => prop_assert!(!err.message.is_empty()),
            },
            Err(err) => prop_assert!(!err.message.is_empty()),
        }
    }

    #[test]
    fn cli_faults_round_trip_or_explain(
        at in 0u32..1000,
        kind in prop::sample::select(vec!["kill", "hang", "latency", "errors", "slow", "partition", "zone", "monkey", "boom"]),
        target in "[a-z]{1,6}(#[0-9]{1,2}|->[a-z]{1,6}|,[a-z]{1,6})?",
        key in prop::sample::select(vec!["", " ms=5", " rate=0.5", " factor=2", " both=true", " down=3s", " x=1"]),
    ) {
        let text = format!("{at}s {kind} {target}{key}");
        match Fault::parse_cli(&text) {
            Ok(fault) => prop_assert_eq!(fault.at_s, Some(f64::from(at))),
            Err(message) => prop_assert!(message.contains(&text)),
        }
    }

    #[test]
    fn the_engine_survives_any_valid_topology_and_faults(
        topology in topologies(),
        faults in prop::collection::vec(faults(), 0..4),
        seed in any::<u64>(),
    ) {
        let mut engine = Engine::new(topology, seed);
        for fault in faults {
            // Faults that do not fit are refused with a reason; the rest must run.
            if let Err(err) = engine.inject(fault) {
                prop_assert!(!err.message.is_empty());
            }
        }
        engine.run_until(secs(4.0));
        let window = engine.take_window();
        if let Some(availability) = window.availability() {
            prop_assert!((0.0..=1.0).contains(&availability));
        }
        for service in &window.services {
            prop_assert!(service.successes + service.failures <= service.arrivals + 1_000_000);
        }
    }
}

/// Valid topologies of 1 to 5 services, every parameter anywhere in its allowed range.
fn topologies() -> impl Strategy<Value = Topology> {
    let service = (
        1u32..4,
        1u32..20,
        0.1f64..50.0,
        prop::sample::select(vec![
            ServiceTimeDist::Exponential,
            ServiceTimeDist::Constant,
            ServiceTimeDist::Lognormal,
        ]),
        0u32..20,
        0.0f64..0.5,
        0.0f64..60.0,
    );
    let dependency = (
        0usize..5,
        0usize..5,
        0.0f64..3.0,
        any::<bool>(),
        0.0f64..5.0,
        1.0f64..500.0,
        0u32..3,
        any::<bool>(),
    );
    (
        prop::collection::vec(service, 1..6),
        prop::collection::vec(dependency, 0..8),
        prop::sample::select(vec![RoutingMode::Dns, RoutingMode::Lb, RoutingMode::Smart]),
        prop::sample::select(vec![
            Balancer::RoundRobin,
            Balancer::Random,
            Balancer::LeastOutstanding,
            Balancer::P2c,
        ]),
    )
        .prop_map(|(services, dependencies, mode, balancer)| {
            let count = services.len();
            let mut services: Vec<Service> = services
                .into_iter()
                .enumerate()
                .map(
                    |(i, (replicas, concurrency, time, dist, queue, errors, rps))| Service {
                        name: format!("s{i}"),
                        replicas,
                        concurrency,
                        service_time_ms: time,
                        service_time_dist: dist,
                        queue_limit: queue,
                        error_rate: errors,
                        zones: vec!["a".into(), "b".into()],
                        ingress_rps: rps,
                        is_virtual: false,
                    },
                )
                .collect();
            services[0].ingress_rps = services[0].ingress_rps.max(1.0);
            let mut seen = std::collections::HashSet::new();
            let dependencies = dependencies
                .into_iter()
                .filter_map(
                    |(from, to, calls, required, latency, timeout, retries, breaker)| {
                        let (from, to) = (from % count, to % count);
                        (from != to && seen.insert((from, to))).then(|| Dependency {
                            from: format!("s{from}"),
                            to: format!("s{to}"),
                            calls,
                            required,
                            latency_ms: latency,
                            timeout_ms: timeout,
                            retries,
                            retry_backoff_ms: 5.0,
                            breaker: breaker.then(|| Breaker {
                                min_calls: 5,
                                ..Breaker::default()
                            }),
                        })
                    },
                )
                .collect();
            let routing = Routing {
                mode,
                balancer,
                dns_ttl_s: 2.0,
                health_check_interval_s: 0.5,
                heartbeat_s: 0.3,
                registry_ttl_s: 1.0,
                ..Routing::default()
            };
            let topology = Topology {
                name: "fuzz".into(),
                routing,
                services,
                dependencies,
                layout: Default::default(),
            };
            topology
                .validate()
                .expect("the strategy builds valid topologies");
            topology
        })
}

/// Faults of every kind on the services `s0`..`s4` (some do not exist: they must be refused).
fn faults() -> impl Strategy<Value = Fault> {
    let service = prop::sample::select(vec!["s0", "s1", "s2", "s3", "s4", "dns", "lb", "registry"]);
    (
        prop::sample::select(FaultKind::ALL.to_vec()),
        service.clone(),
        service,
        prop::option::of(1u32..4),
        0.0f64..3.0,
        prop::option::of(0.5f64..2.0),
    )
        .prop_map(|(kind, a, b, instance, at, duration)| {
            let mut fault = Fault {
                kind,
                at_s: Some(at),
                duration_s: duration,
                ..Fault::default()
            };
            match kind {
                FaultKind::Partition => {
                    (fault.from, fault.to, fault.both) =
                        (Some(a.into()), Some(b.into()), Some(true))
                }
                FaultKind::Zone => fault.zone = Some("a".into()),
                FaultKind::Monkey => {
                    (fault.services, fault.mean_interval_s, fault.down_s) =
                        (Some(vec![a.into()]), Some(0.5), Some(0.5))
                }
                _ => (fault.service, fault.instance) = (Some(a.into()), instance),
            }
            match kind {
                FaultKind::Latency => fault.ms = Some(20.0),
                FaultKind::Errors => fault.rate = Some(0.5),
                FaultKind::Slow => fault.factor = Some(3.0),
                _ => {}
            }
            fault
        })
}
