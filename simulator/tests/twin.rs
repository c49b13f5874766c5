//! "Model this": a model run beside a real system, given its faults. The "real system"
//! here is another engine (the same topology under another seed), its whole seconds read
//! as observed ticks, so what the model should predict is known.

use simulator::engine::Engine;
use simulator::fault::Fault;
use simulator::queue::{NANOS_PER_SEC, secs};
use simulator::replay::{SecondWindow, run_by_seconds};
use simulator::templates;
use simulator::twin::Twin;
use simulator::wire::{FaultRecord, Tick};

/// The "real" system: an engine whose whole seconds are kept as observed ticks.
struct Real {
    engine: Engine,
    second: SecondWindow,
    last: Option<Tick>,
}

impl Real {
    fn run_to(&mut self, s: f64) {
        let Real {
            engine,
            second,
            last,
        } = self;
        run_by_seconds(engine, secs(s), |engine, window| {
            if let Some(whole) = second.add(&window, engine.now()) {
                *last = Some(Tick::from_window(engine, &whole, 1.0));
            }
        });
    }

    fn faults(&self) -> Vec<FaultRecord> {
        self.engine.faults().map(FaultRecord::from_active).collect()
    }
}

#[test]
fn the_model_takes_the_real_kill_at_its_moment_and_predicts_what_it_does() {
    let shop = templates::build("shop", None, 1).expect("shop is built in");
    let mut real = Real {
        engine: Engine::new(shop.clone(), 11),
        second: SecondWindow::default(),
        last: None,
    };
    real.run_to(20.0);
    // Opened 20 s into the observed session; the figures arrive half a second late.
    let mut twin = Twin::start(shop, 5, 20.0, 0.99);
    let lag_s = 0.5;
    let step = |real: &mut Real, twin: &mut Twin, until_s: f64| {
        while real.engine.now() < secs(until_s) {
            let next = (real.engine.now() as f64 / NANOS_PER_SEC + 0.1).min(until_s);
            real.run_to(next);
            twin.mirror_faults(&real.faults());
            twin.advance_to(next);
            if let Some(tick) = &real.last {
                // The observed tick at `next` shows the second that ended `lag_s` ago.
                let tick = Tick {
                    t: next,
                    ..tick.clone()
                };
                twin.observe_real(&tick, lag_s);
            }
        }
    };
    step(&mut real, &mut twin, 30.0);
    let kill = real.engine.inject(Fault::kill("catalog-db")).unwrap();
    step(&mut real, &mut twin, 45.0);
    let view = twin.view();
    assert_eq!(view.started_at_s, 20.0);
    assert_eq!(view.t, 25.0);
    assert_eq!(view.first_fault_s, Some(10.0));
    assert_eq!(view.faults.len(), 1);
    assert_eq!(view.faults[0].description, "kill catalog-db");
    assert_eq!(view.faults[0].not_in_model, None);
    assert_eq!(view.model.health["catalog-db"].as_str(), "down");
    assert_eq!(view.model.timeline.len(), 25);
    // The real side lags by its half second: 24 whole seconds seen.
    assert_eq!(view.real.timeline.len(), 24);
    assert_eq!(view.model.timeline[5].availability, Some(1.0));
    // Per entry, over the last five seconds: the model's share within 0.05 of the real.
    assert!(!view.real.entries.is_empty());
    for (entry, real_share) in &view.real.entries {
        let model_share = view.model.entries[entry].expect("the model's entry ran");
        let real_share = real_share.expect("the real entry ran");
        assert!(
            (model_share - real_share).abs() < 0.05,
            "{entry}: model {model_share}, real {real_share}"
        );
    }
    assert!(view.real.entries.values().any(|s| s.unwrap() < 0.5));
    // Reverted for real: reverted in the model.
    assert!(real.engine.revert(kill));
    step(&mut real, &mut twin, 48.0);
    let view = twin.view();
    assert!(view.faults.is_empty());
    assert_eq!(view.model.health["catalog-db"].as_str(), "healthy");
}

#[test]
fn a_real_fault_on_a_part_the_model_lacks_is_listed_with_why() {
    let shop = templates::build("shop", None, 1).expect("shop is built in");
    let mut twin = Twin::start(shop, 5, 0.0, 0.99);
    let record = FaultRecord {
        id: 7,
        fault: Fault::kill("billing"),
        state: "active".into(),
        start_s: 0.0,
        description: "kill billing".into(),
    };
    twin.mirror_faults(&[record]);
    twin.advance_to(2.0);
    let view = twin.view();
    assert_eq!(view.faults.len(), 1);
    let why = view.faults[0].not_in_model.as_deref().unwrap_or_default();
    assert!(why.contains("billing"), "{why}");
}

#[test]
fn the_same_faults_and_seed_give_the_same_model_run() {
    let run = || {
        let shop = templates::build("shop", None, 1).expect("shop is built in");
        let mut twin = Twin::start(shop, 9, 3.0, 0.99);
        let record = FaultRecord {
            id: 1,
            fault: Fault {
                duration_s: Some(4.0),
                ..Fault::kill("cart")
            },
            state: "active".into(),
            start_s: 5.0,
            description: "kill cart".into(),
        };
        twin.mirror_faults(&[record]);
        twin.advance_to(15.0);
        serde_json::to_string(&twin.view()).unwrap()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_fault_older_than_the_model_keeps_its_end_and_a_stall_is_skipped() {
    let shop = templates::build("shop", None, 1).expect("shop is built in");
    // The model starts at 30 s; a kill made at 20 s for 15 s ends at 35 s (twin 5 s).
    let mut twin = Twin::start(shop, 5, 30.0, 0.99);
    let record = FaultRecord {
        id: 3,
        fault: Fault {
            duration_s: Some(15.0),
            ..Fault::kill("cart")
        },
        state: "active".into(),
        start_s: 20.0,
        description: "kill cart".into(),
    };
    twin.mirror_faults(std::slice::from_ref(&record));
    twin.advance_to(34.0);
    assert_eq!(twin.view().model.health["cart"].as_str(), "down");
    twin.advance_to(37.0);
    assert_ne!(twin.view().model.health["cart"].as_str(), "down");
    // An hour's stall: the model moves on by at most 5 s, the rest skipped.
    twin.advance_to(3_637.0);
    assert_eq!(twin.view().t, 12.0);
}
