//! Behaviour of the engine on small scenarios with fixed seeds; each expected figure states
//! where it comes from.

use simulator::engine::Engine;
use simulator::fault::Fault;
use simulator::queue::secs;
use simulator::templates;
use simulator::topology::Topology;

fn topology(json: &str) -> Topology {
    Topology::from_json(json).expect("test topology is valid")
}

/// Runs `engine` to `until_s` and returns the overall availability of that stretch.
fn availability_until(engine: &mut Engine, until_s: f64) -> f64 {
    engine.take_window();
    engine.run_until(secs(until_s));
    engine.take_window().availability().expect("requests ended")
}

#[test]
fn mm1_mean_latency_and_utilisation_match_theory() {
    // M/M/1 with λ = 50/s and mean service time S = 10 ms: ρ = λS = 0.5 and the mean time
    // in system W = S / (1 − ρ) = 20 ms. 2,000 s is ~100k requests: the sampling error of
    // the mean is well under 2%; 3% leaves room for the histogram's 2-digit precision.
    let mut engine = Engine::new(
        topology(
            r#"{"name": "mm1", "services": [{"name": "server", "ingress_rps": 50,
                "service_time_ms": 10, "concurrency": 1, "queue_limit": 100000}]}"#,
        ),
        7,
    );
    engine.run_until(secs(2000.0));
    let window = engine.take_window();
    let server = &window.services[0];
    let mean_ms = server.latency.mean_ms().unwrap();
    assert!(
        (mean_ms - 20.0).abs() < 0.6,
        "mean latency {mean_ms} ms, expected 20 ms"
    );
    let utilisation = server.busy_ns as f64 / 2000e9;
    assert!(
        (utilisation - 0.5).abs() < 0.015,
        "utilisation {utilisation}, expected 0.5"
    );
}

#[test]
fn same_seed_same_figures() {
    let run = |seed| {
        let mut engine = Engine::new(templates::demo(), seed);
        engine.run_until(secs(5.0));
        engine.inject(Fault::kill("catalog-db")).unwrap();
        engine.run_until(secs(10.0));
        let window = engine.take_window();
        let entries: Vec<_> = window
            .entries
            .iter()
            .map(|e| (e.arrivals, e.successes, e.failures, e.latency.mean_ms()))
            .collect();
        (engine.events(), engine.hops(), format!("{entries:?}"))
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

#[test]
fn a_request_never_calls_a_service_already_on_its_path() {
    // a → b → c → a, and c → d → b: a request entering at a visits a, b, c and d once
    // each; c's call to a and d's call to b are skipped (a and b are on their paths).
    // `e → a` is outside the cycle: e is never on the path, so a request entering at e
    // visits e, a, b, c, d.
    let mut engine = Engine::new(
        topology(
            r#"{"name": "loops", "services": [
                {"name": "a", "ingress_rps": 20}, {"name": "b"}, {"name": "c"},
                {"name": "d"}, {"name": "e", "ingress_rps": 10}],
              "dependencies": [
                {"from": "a", "to": "b"}, {"from": "b", "to": "c"}, {"from": "c", "to": "a"},
                {"from": "c", "to": "d"}, {"from": "d", "to": "b"}, {"from": "e", "to": "a"}]}"#,
        ),
        5,
    );
    engine.run_until(secs(30.0));
    let window = engine.take_window();
    let ended: Vec<u64> = window
        .entries
        .iter()
        .map(|e| e.successes + e.failures)
        .collect();
    let (at_a, at_e) = (ended[0], ended[1]);
    assert!(at_a > 500 && at_e > 250, "{ended:?}");
    assert!(window.entries.iter().all(|e| e.failures == 0));
    let executions: Vec<u64> = window.services.iter().map(|s| s.successes).collect();
    // Each service runs once per request through it (in-flight ones may add a few).
    let requests = at_a + at_e;
    for (name, done) in ["a", "b", "c", "d"].iter().zip(&executions) {
        assert!(
            (requests..requests + 5).contains(done),
            "{name} ran {done} times for {requests} requests"
        );
    }
    assert!((at_e..at_e + 5).contains(&executions[4]));
}

#[test]
fn killing_a_required_store_takes_entries_down_and_revive_recovers() {
    let mut engine = Engine::new(templates::demo(), 1);
    assert!(availability_until(&mut engine, 10.0) > 0.999);
    // Every web and mobile request reads the catalog, which needs catalog-db.
    let id = engine.inject(Fault::kill("catalog-db")).unwrap();
    engine.run_until(secs(11.0));
    assert_eq!(availability_until(&mut engine, 20.0), 0.0);
    assert!(engine.revert(id));
    engine.run_until(secs(21.0));
    assert!(availability_until(&mut engine, 30.0) > 0.999);
}

#[test]
fn killing_an_optional_dependency_degrades_nothing() {
    let mut engine = Engine::new(templates::demo(), 2);
    engine.inject(Fault::kill("recommend")).unwrap();
    // recommend is called optionally by web only; no required path reaches it.
    assert!(availability_until(&mut engine, 20.0) > 0.999);
}

#[test]
fn killing_one_instance_loses_only_its_in_flight_work() {
    let mut engine = Engine::new(templates::demo(), 3);
    engine.run_until(secs(5.0));
    engine
        .inject(Fault {
            instance: Some(1),
            ..Fault::kill("catalog")
        })
        .unwrap();
    // Calls go to live instances only (skeleton routing), so the two survivors absorb it.
    assert!(availability_until(&mut engine, 20.0) > 0.99);
    let catalog = engine
        .topology()
        .services
        .iter()
        .position(|s| s.name == "catalog");
    assert_eq!(engine.instances_up(catalog.unwrap()), 2);
}

#[test]
fn timed_fault_starts_and_ends_by_itself() {
    let mut engine = Engine::new(templates::demo(), 4);
    engine
        .inject(Fault {
            at_s: Some(10.0),
            duration_s: Some(5.0),
            ..Fault::kill("auth")
        })
        .unwrap();
    assert!(availability_until(&mut engine, 10.0) > 0.999);
    engine.run_until(secs(10.5));
    assert_eq!(availability_until(&mut engine, 15.0), 0.0);
    engine.run_until(secs(16.0));
    assert!(availability_until(&mut engine, 25.0) > 0.999);
    assert_eq!(engine.faults().count(), 0);
}

#[test]
fn bad_faults_are_refused_with_the_field() {
    let mut engine = Engine::new(templates::demo(), 5);
    let err = engine.inject(Fault::kill("nope")).unwrap_err();
    assert_eq!(err.path, "service");
    let err = engine
        .inject(Fault {
            instance: Some(9),
            ..Fault::kill("cart")
        })
        .unwrap_err();
    assert_eq!(err.path, "instance");
}

#[test]
fn retries_amplify_load_as_theory_says() {
    // A callee failing each attempt independently with p = 0.3, retried twice: a call makes
    // 1 + p + p² = 1.39 attempts on average and fails only if all three do, so the caller
    // succeeds with 1 − p³ = 0.973. 50,000 requests: the standard error of the success
    // share is ~0.0007 and of the attempts ~0.003; tolerances are about 3σ.
    let mut engine = Engine::new(
        topology(
            r#"{"name": "retry", "services": [
                {"name": "caller", "ingress_rps": 100, "concurrency": 1000},
                {"name": "callee", "error_rate": 0.3, "concurrency": 1000}],
              "dependencies": [{"from": "caller", "to": "callee", "retries": 2}]}"#,
        ),
        11,
    );
    engine.run_until(secs(500.0));
    let window = engine.take_window();
    let attempts = window.links[0].calls as f64;
    let calls = (window.services[0].successes + window.services[0].failures) as f64;
    let amplification = attempts / calls;
    assert!(
        (amplification - 1.39).abs() < 0.01,
        "amplification {amplification}"
    );
    let availability = window.availability().unwrap();
    assert!(
        (availability - 0.973).abs() < 0.003,
        "availability {availability}"
    );
}

#[test]
fn series_availability_is_the_product_of_the_parts() {
    // a → b → c, each required, failing independently 1%, 2%, 3%: a request succeeds
    // with (1 − 0.01)(1 − 0.02)(1 − 0.03) = 0.941094. 100,000 requests: σ ≈ 0.00075.
    let mut engine = Engine::new(
        topology(
            r#"{"name": "series", "services": [
                {"name": "a", "ingress_rps": 200, "error_rate": 0.01, "concurrency": 1000},
                {"name": "b", "error_rate": 0.02, "concurrency": 1000},
                {"name": "c", "error_rate": 0.03, "concurrency": 1000}],
              "dependencies": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]}"#,
        ),
        12,
    );
    engine.run_until(secs(500.0));
    let availability = engine.take_window().availability().unwrap();
    assert!(
        (availability - 0.941094).abs() < 0.003,
        "availability {availability}"
    );
}

#[test]
fn replacing_the_topology_keeps_time_and_the_faults_that_still_fit() {
    let mut engine = Engine::new(templates::demo(), 13);
    engine.run_until(secs(10.0));
    let kept = engine.inject(Fault::kill("catalog-db")).unwrap();
    let gone = engine.inject(Fault::kill("payments")).unwrap();
    let later = engine
        .inject(Fault {
            at_s: Some(30.0),
            duration_s: Some(5.0),
            ..Fault::kill("auth")
        })
        .unwrap();
    let mut edited = templates::demo();
    edited.services.retain(|s| s.name != "payments");
    edited.dependencies.retain(|d| d.to != "payments");
    let dropped = engine.replace_topology(edited);
    assert_eq!(dropped, vec![gone]);
    assert_eq!(engine.now(), secs(10.0));
    let ids: Vec<_> = engine.faults().map(|f| f.id).collect();
    assert_eq!(ids, vec![kept, later]);
    // catalog-db is still down, so every request still fails.
    assert_eq!(availability_until(&mut engine, 20.0), 0.0);
    assert!(engine.revert(kept));
    engine.run_until(secs(21.0));
    assert!(availability_until(&mut engine, 29.0) > 0.99);
    // The pending kill of auth still happens at 30 s and ends at 35 s.
    engine.run_until(secs(30.5));
    assert_eq!(availability_until(&mut engine, 34.0), 0.0);
    engine.run_until(secs(36.0));
    assert!(availability_until(&mut engine, 45.0) > 0.99);
}
