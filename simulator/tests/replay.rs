//! Deterministic replay: a run driven like the live session (uneven steps, controls at odd
//! times) and its replay from the recording give byte-identical frames.

use simulator::engine::Engine;
use simulator::fault::{Fault, FaultKind};
use simulator::queue::secs;
use simulator::replay::{self, Frames, Recording};
use simulator::templates;
use simulator::topology::RoutingMode;

/// The frames as the JSON the API serves them in.
fn frames_json(frames: &Frames) -> Vec<String> {
    frames
        .iter()
        .map(|tick| serde_json::to_string(tick).unwrap())
        .collect()
}

/// Drives `engine` to `until_s` in steps of `step_s` (the live session's ticks), cutting a
/// window at each step and at each whole second as the session does.
fn live_steps(engine: &mut Engine, frames: &mut Frames, until_s: f64, step_s: f64) {
    while engine.now() < secs(until_s) {
        let until = (engine.now() + secs(step_s)).min(secs(until_s));
        replay::run_framed(engine, frames, until);
    }
}

#[test]
fn a_replayed_run_is_byte_identical_to_the_original() {
    let shop = templates::build("shop", None, 11).unwrap();
    let mut engine = Engine::new(shop.clone(), 11);
    let mut frames = Frames::new(1000);
    live_steps(&mut engine, &mut frames, 7.3, 0.13);
    let cart = engine.inject(Fault::kill("cart")).unwrap();
    live_steps(&mut engine, &mut frames, 12.0, 0.07);
    engine
        .inject(Fault {
            instance: Some(1),
            ..Fault::on_service(FaultKind::Hang, "search")
        })
        .unwrap();
    engine.set_routing_mode(RoutingMode::Dns);
    live_steps(&mut engine, &mut frames, 19.55, 0.31);
    assert!(engine.revert(cart));
    engine
        .inject(Fault {
            at_s: Some(25.0),
            duration_s: Some(3.0),
            ..Fault::on_link(FaultKind::Partition, "web", "cart")
        })
        .unwrap();
    let mut smaller = shop.clone();
    smaller.services[1].replicas += 1;
    frames.discard_partial();
    engine.replace_topology(smaller);
    live_steps(&mut engine, &mut frames, 40.4, 0.11);

    let recording = engine.recording();
    assert_eq!(recording.end_ns, secs(40.4));
    assert_eq!(recording.controls.len(), 6, "an ended fault is no control");
    // Through a file, as a person would export it and load it elsewhere.
    let file = serde_json::to_string(&recording).unwrap();
    let loaded = Recording::from_json(&file).unwrap();
    assert_eq!(loaded, recording);
    let replayed = replay::replay(&loaded, 1000).unwrap();

    let original = frames_json(&frames);
    assert_eq!(original.len(), 40);
    assert_eq!(frames_json(&replayed.frames), original);
    assert_eq!(replayed.engine.hops(), engine.hops());
    assert_eq!(
        replayed.epochs.len(),
        3,
        "start, routing mode, new topology"
    );
    assert_eq!(&replayed.epochs[2].1, engine.topology());
    // The frames saw the faults: cart down at 10 s, up again by 21 s.
    let cart_at = |t: u64| replayed.frames.at(t).unwrap().services["cart"].up;
    assert_eq!(cart_at(10), 0);
    assert!(cart_at(21) > 0);
}

#[test]
fn bad_recordings_are_refused_with_the_field() {
    let shop = templates::build("shop", None, 1).unwrap();
    let mut engine = Engine::new(shop, 1);
    engine.run_until(secs(2.0));
    engine.inject(Fault::kill("cart")).unwrap();
    engine.run_until(secs(3.0));
    let good = serde_json::to_value(engine.recording()).unwrap();

    let refused = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut value = good.clone();
        edit(&mut value);
        Recording::from_json(&value.to_string())
            .and_then(|r| replay::replay(&r, 10).map(|_| ()))
            .unwrap_err()
    };
    let err = refused(&|v| v["format"] = 9.into());
    assert_eq!(err.path, "format");
    let err = refused(&|v| v["controls"][0]["at_ns"] = 4_000_000_000u64.into());
    assert_eq!(err.path, "controls[0].at_ns");
    let err = refused(&|v| v["controls"][0]["fault"]["service"] = "nope".into());
    assert!(err.path.starts_with("controls[0].fault"), "{err}");
    let err = refused(&|v| v["topology"]["services"][0]["replicas"] = 0.into());
    assert!(err.path.starts_with("topology.services[0]"), "{err}");
    let err = refused(&|v| v["controls"][0]["action"] = "explode".into());
    assert!(err.path.starts_with("controls[0]"), "{err}");
    let err = refused(&|v| {
        v["controls"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"at_ns": 3_000_000_000u64, "action": "revert", "id": 99}))
    });
    assert_eq!(err.path, "controls[1].id");
}
