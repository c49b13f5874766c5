//! How each routing mode meets failure (SPEC "Routing modes"), on a two-tier topology:
//! `front` (the entry, 200 requests/s) calls `back` (three instances) once per request,
//! without retries, so every failed call shows as a failed request.

use simulator::engine::{BreakerState, Engine, Liveness};
use simulator::fault::{Fault, FaultKind};
use simulator::queue::secs;
use simulator::topology::{RoutingMode, Topology};

fn two_tier(mode: &str) -> Topology {
    Topology::from_json(&format!(
        r#"{{"name": "two-tier",
            "routing": {{"mode": "{mode}", "dns_ttl_s": 30, "health_check_interval_s": 5,
                         "unhealthy_threshold": 2, "registry_ttl_s": 3, "propagation_ms": 200}},
            "services": [
              {{"name": "front", "ingress_rps": 200, "replicas": 1, "concurrency": 256,
                "service_time_ms": 1}},
              {{"name": "back", "replicas": 3, "concurrency": 64, "service_time_ms": 2}}],
            "dependencies": [{{"from": "front", "to": "back", "timeout_ms": 200}}]}}"#
    ))
    .expect("valid test topology")
}

/// Availability of the simulated stretch from the engine's clock to `until_s`.
fn availability_until(engine: &mut Engine, until_s: f64) -> f64 {
    engine.take_window();
    engine.run_until(secs(until_s));
    engine.take_window().availability().expect("requests ended")
}

fn kill_back_1() -> Fault {
    Fault {
        instance: Some(1),
        ..Fault::kill("back")
    }
}

#[test]
fn dns_keeps_sending_to_a_dead_instance_until_the_cache_expires() {
    let mut engine = Engine::new(two_tier("dns"), 1);
    engine.run_until(secs(10.0));
    engine.inject(kill_back_1()).unwrap();
    // The client resolved `back` at t≈0 and caches the answer 30 s: one call in three goes
    // to the dead instance until then, although the checker drops it after ~10 s.
    let stale = availability_until(&mut engine, 29.0);
    assert!(
        (stale - 2.0 / 3.0).abs() < 0.03,
        "availability {stale}, expected ≈ 2/3"
    );
    engine.run_until(secs(31.0));
    assert_eq!(availability_until(&mut engine, 60.0), 1.0);
}

#[test]
fn smart_clients_stop_within_registry_ttl_plus_propagation() {
    let mut engine = Engine::new(two_tier("smart"), 2);
    engine.run_until(secs(10.0));
    engine.inject(kill_back_1()).unwrap();
    // Registry TTL 3 s + propagation 0.2 s bound the damage (outlier ejection may end it
    // sooner); after that no call reaches the dead instance.
    let during = availability_until(&mut engine, 13.2);
    assert!(
        during > 0.9,
        "availability {during} while the registry catches up"
    );
    assert_eq!(availability_until(&mut engine, 60.0), 1.0);
    assert!(!engine.listed_by_registry(1, 0));
}

#[test]
fn killing_the_load_balancer_takes_down_everything_behind_it() {
    let mut engine = Engine::new(two_tier("lb"), 3);
    assert_eq!(availability_until(&mut engine, 10.0), 1.0);
    engine.inject(Fault::kill("lb")).unwrap();
    engine.run_until(secs(10.5));
    assert_eq!(availability_until(&mut engine, 20.0), 0.0);
    assert_eq!(engine.component_liveness("lb"), Some(Liveness::Down));
}

#[test]
fn the_load_balancer_stops_sending_to_a_dead_instance_after_its_health_checks() {
    let mut engine = Engine::new(two_tier("lb"), 4);
    engine.run_until(secs(10.0));
    engine.inject(kill_back_1()).unwrap();
    // Two failed probes, 5 s apart, at most ~10 s.
    engine.run_until(secs(21.0));
    assert!(!engine.healthy_by_checker(1, 0));
    assert_eq!(availability_until(&mut engine, 40.0), 1.0);
}

#[test]
fn with_the_registry_down_smart_clients_route_on_stale_tables() {
    let mut engine = Engine::new(two_tier("smart"), 5);
    engine.run_until(secs(5.0));
    engine.inject(Fault::kill("registry")).unwrap();
    assert_eq!(availability_until(&mut engine, 30.0), 1.0);
    // An instance dies while the registry is down: the tables never learn it, but each
    // client's outlier detection ejects it after a few failed calls.
    engine.inject(kill_back_1()).unwrap();
    let after = availability_until(&mut engine, 60.0);
    assert!(after > 0.995, "availability {after}");
    assert!(
        engine.listed_by_registry(1, 0),
        "the stale table still lists it"
    );
}

#[test]
fn a_hung_instance_fools_heartbeats_but_not_probes() {
    for mode in [RoutingMode::Smart, RoutingMode::Lb] {
        let name = if mode == RoutingMode::Smart {
            "smart"
        } else {
            "lb"
        };
        let mut engine = Engine::new(two_tier(name), 6);
        engine.run_until(secs(5.0));
        engine
            .inject(Fault {
                instance: Some(1),
                ..Fault::on_service(FaultKind::Hang, "back")
            })
            .unwrap();
        engine.run_until(secs(30.0));
        assert_eq!(engine.instance_liveness(1, 0), Liveness::Hung);
        // Heartbeats go on, so the registry keeps listing it ...
        assert!(engine.listed_by_registry(1, 0), "{name}");
        // ... while probes time out and the checker drops it.
        assert!(!engine.healthy_by_checker(1, 0), "{name}");
        // Either way, after the first calls time out, nearly every request succeeds: the
        // load balancer stops using it; each smart client ejects it, and after the 30 s
        // ejection tries it again — five timeouts — then ejects it for 60 s.
        let after = availability_until(&mut engine, 60.0);
        match mode {
            RoutingMode::Lb => assert_eq!(after, 1.0),
            _ => assert!(after > 0.99, "smart: {after}"),
        }
    }
}

#[test]
fn a_partition_times_calls_out() {
    let mut engine = Engine::new(two_tier("smart"), 7);
    engine.run_until(secs(5.0));
    engine
        .inject(Fault::on_link(FaultKind::Partition, "front", "back"))
        .unwrap();
    engine.run_until(secs(6.0));
    engine.take_window();
    engine.run_until(secs(16.0));
    let window = engine.take_window();
    assert_eq!(window.availability(), Some(0.0));
    // Every failed request waited for the 200 ms timeout.
    let p50_ms = window.entries[0].latency.quantile_ms(0.5).unwrap();
    assert!((p50_ms - 201.0).abs() < 5.0, "p50 {p50_ms} ms");
}

#[test]
fn an_open_breaker_fails_fast() {
    let mut topology = two_tier("smart");
    topology.dependencies[0].breaker = Some(Default::default());
    let mut engine = Engine::new(topology, 8);
    engine.run_until(secs(5.0));
    engine
        .inject(Fault {
            rate: Some(1.0),
            ..Fault::on_service(FaultKind::Errors, "back")
        })
        .unwrap();
    // The 10 s window holds 5 s of successes first: failures reach half of it at ~10 s.
    engine.run_until(secs(9.0));
    assert_eq!(engine.breaker_state(0), Some(BreakerState::Closed));
    engine.run_until(secs(11.0));
    assert_eq!(engine.breaker_state(0), Some(BreakerState::Open));
    // Calls refused by the open breaker (open for 5 s) never reach `back`.
    engine.take_window();
    engine.run_until(secs(14.0));
    let window = engine.take_window();
    assert_eq!(window.services[1].arrivals, 0);
}

#[test]
fn a_zone_outage_kills_the_instances_in_it() {
    let mut topology = two_tier("smart");
    topology.services[1].zones = vec!["a".into(), "b".into()];
    let mut engine = Engine::new(topology, 9);
    engine
        .inject(Fault {
            zone: Some("a".into()),
            ..Fault::on_service(FaultKind::Zone, "back")
        })
        .unwrap_err(); // a zone fault names a zone, not a service
    let id = engine
        .inject(Fault {
            kind: FaultKind::Zone,
            zone: Some("a".into()),
            ..Fault::default()
        })
        .unwrap();
    // Instances 1 and 3 run in zone a, instance 2 in zone b.
    let states: Vec<_> = (0..3).map(|i| engine.instance_liveness(1, i)).collect();
    assert_eq!(states, [Liveness::Down, Liveness::Up, Liveness::Down]);
    engine.revert(id);
    assert_eq!(engine.instances_up(1), 3);
}

#[test]
fn the_monkey_kills_and_revives() {
    let mut engine = Engine::new(two_tier("smart"), 10);
    let id = engine
        .inject(Fault {
            kind: FaultKind::Monkey,
            services: Some(vec!["back".into()]),
            mean_interval_s: Some(2.0),
            down_s: Some(1.0),
            ..Fault::default()
        })
        .unwrap();
    let mut lowest = 3;
    for step in 1..=300 {
        engine.run_until(secs(step as f64 * 0.1));
        lowest = lowest.min(engine.instances_up(1));
    }
    assert!(lowest < 3, "the monkey struck in 30 s");
    engine.revert(id);
    assert_eq!(
        engine.instances_up(1),
        3,
        "reverting the monkey revives its victims"
    );
}

#[test]
fn latency_and_slow_faults_lengthen_requests() {
    let p50 = |fault: Option<Fault>| {
        let mut engine = Engine::new(two_tier("smart"), 11);
        if let Some(fault) = fault {
            engine.inject(fault).unwrap();
        }
        engine.run_until(secs(20.0));
        engine.take_window().entries[0]
            .latency
            .quantile_ms(0.5)
            .unwrap()
    };
    let base = p50(None);
    let slower = p50(Some(Fault {
        ms: Some(50.0),
        ..Fault::on_service(FaultKind::Latency, "back")
    }));
    assert!(
        (slower - base - 50.0).abs() < 2.0,
        "{base} ms → {slower} ms"
    );
    let slowed = p50(Some(Fault {
        factor: Some(10.0),
        ..Fault::on_service(FaultKind::Slow, "back")
    }));
    // back's median work goes from ~1.4 ms to ~14 ms.
    assert!(slowed > base + 8.0, "{base} ms → {slowed} ms");
}

#[test]
fn routing_tables_show_each_clients_view_and_mark_stale_entries() {
    // DNS: front's cached answer still lists the dead instance: a stale entry.
    let mut engine = Engine::new(two_tier("dns"), 1);
    engine.run_until(secs(5.0));
    engine.inject(kill_back_1()).unwrap();
    engine.run_until(secs(8.0));
    let table = engine.routing_table(1);
    assert_eq!(table.instances, ["down", "up", "up"]);
    let front = &table.views[0];
    assert_eq!(front.client, "front#1");
    assert_eq!(front.listed, [true, true, true]);
    assert_eq!(front.stale, [true, false, false]);
    assert!(
        front.source.starts_with("cached DNS answer, expires in"),
        "{}",
        front.source
    );

    // Smart: once the registry TTL and propagation have passed, the table is right again.
    let mut engine = Engine::new(two_tier("smart"), 1);
    engine.run_until(secs(5.0));
    engine.inject(kill_back_1()).unwrap();
    engine.run_until(secs(5.5));
    // Before the registry notices, the client's own outlier detection has ejected it.
    let front = &engine.routing_table(1).views[0];
    assert_eq!(front.listed, [true, true, true]);
    assert_eq!(front.ejected, [true, false, false]);
    assert_eq!(front.stale, [false, false, false]);
    engine.run_until(secs(10.0));
    let front = &engine.routing_table(1).views[0];
    assert_eq!(front.listed, [false, true, true]);
    assert_eq!(front.stale, [false, false, false]);

    // LB: one view, the balancer's.
    let mut engine = Engine::new(two_tier("lb"), 1);
    engine.run_until(secs(1.0));
    let table = engine.routing_table(1);
    assert_eq!(table.views.len(), 1);
    assert_eq!(table.views[0].client, "lb");
    // The entry's own table: its outside clients.
    let mut engine = Engine::new(two_tier("smart"), 1);
    engine.run_until(secs(1.0));
    assert_eq!(engine.routing_table(0).views[0].client, "outside → front");
}
