//! "Model this": the model of an observed system (estimated from its traces) run as a
//! simulation beside the real system, in step with the observed clock and given the real
//! faults at the moments they were made — so a person sees the model's availability curve
//! and the real one side by side, and after a real fault how close the prediction was.
//!
//! The real side is what the observed ticks say, one whole second at a time once the
//! exporters' lag has passed it; the model side is the engine's own seconds. Both are kept
//! as [`SideView`]s, as the routing comparison keeps its runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, FaultId};
use crate::fault::Fault;
use crate::lockstep::{Record, SideView};
use crate::queue::{NANOS_PER_SEC, Nanos};
use crate::replay::{SecondWindow, run_by_seconds};
use crate::topology::Topology;
use crate::wire::{FaultRecord, Tick};

/// Seconds of model time [`Twin::advance_to`] simulates at most in one call.
pub const MAX_CATCH_UP_S: f64 = 5.0;

/// The model run beside the real system.
pub struct Twin {
    engine: Engine,
    second: SecondWindow,
    model: Record,
    real: Record,
    /// The observed clock's second the twin started at (its time zero).
    offset_s: f64,
    slo: f64,
    /// The real system's fault id → its description, and the model's id for it or why the
    /// model could not take it.
    mirrored: BTreeMap<FaultId, (String, Result<FaultId, String>)>,
    first_fault_s: Option<f64>,
    /// The next whole second (twin time) the real side records.
    next_real_s: f64,
}

/// One real fault and what the model made of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MirroredFault {
    /// The real fault's id (`GET /api/faults`).
    pub id: FaultId,
    /// Plain words: `kill catalog-db`.
    pub description: String,
    /// Why the model could not take it (a target it does not have); absent when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_in_model: Option<String>,
}

/// `GET /api/observed/twin`: the model and the real system side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwinView {
    /// Observed second the twin started at.
    pub started_at_s: f64,
    /// Seconds the model has run.
    pub t: f64,
    pub slo: f64,
    /// Twin second of the first real fault, if any.
    pub first_fault_s: Option<f64>,
    /// The model's run: its availability, each service's health, each entry's share kept.
    pub model: SideView,
    /// The real system over the same seconds, from its traces.
    pub real: SideView,
    /// The real system's faults now, as the model took them.
    pub faults: Vec<MirroredFault>,
    /// The model it runs (as estimated when it started; `GET /api/observed/twin/model`):
    /// its services and dependencies.
    pub services: usize,
    pub dependencies: usize,
}

impl Twin {
    /// Starts running `model` from `seed` at the observed clock's `now_s`.
    pub fn start(model: Topology, seed: u64, now_s: f64, slo: f64) -> Twin {
        Twin {
            engine: Engine::new(model, seed),
            second: SecondWindow::default(),
            model: Record::default(),
            real: Record::default(),
            offset_s: now_s,
            slo,
            mirrored: BTreeMap::new(),
            first_fault_s: None,
            next_real_s: 1.0,
        }
    }

    /// Twin nanoseconds at the observed clock's second `s` (0 before the start).
    fn twin_ns(&self, s: f64) -> Nanos {
        ((s - self.offset_s).max(0.0) * NANOS_PER_SEC).round() as Nanos
    }

    /// Runs the model to the observed clock's `now_s`, a second at a time. After a stall
    /// (a sleeping laptop) it skips what it cannot catch up within [`MAX_CATCH_UP_S`]:
    /// simulating hours here would hold up the session.
    pub fn advance_to(&mut self, now_s: f64) {
        let behind_s = self.twin_ns(now_s).saturating_sub(self.engine.now()) as f64 / NANOS_PER_SEC;
        if behind_s > MAX_CATCH_UP_S {
            self.offset_s += behind_s - MAX_CATCH_UP_S;
        }
        let until = self.twin_ns(now_s);
        let Twin {
            engine,
            second,
            model,
            ..
        } = self;
        run_by_seconds(engine, until, |engine, window| {
            if let Some(whole) = second.add(&window, engine.now()) {
                model.close_second(engine, &whole);
            }
        });
    }

    /// Gives the model the real faults new since the last call, from the moment they
    /// started on the observed clock (at once if that was before the twin started), for
    /// the rest of their duration; reverts in the model those the real system no longer
    /// has.
    pub fn mirror_faults(&mut self, real: &[FaultRecord]) {
        let now = self.engine.now();
        for record in real {
            if self.mirrored.contains_key(&record.id) {
                continue;
            }
            let start = self.twin_ns(record.start_s).max(now);
            // What of its duration passed before the model takes it (before the model
            // started, too).
            let gone_s = (self.offset_s + start as f64 / NANOS_PER_SEC - record.start_s).max(0.0);
            let fault = Fault {
                at_s: Some(start as f64 / NANOS_PER_SEC),
                duration_s: record.fault.duration_s.map(|d| (d - gone_s).max(0.0)),
                ..record.fault.clone()
            };
            let at_s = start as f64 / NANOS_PER_SEC;
            self.first_fault_s = Some(self.first_fault_s.map_or(at_s, |f| f.min(at_s)));
            let taken = self.engine.inject(fault).map_err(|err| err.to_string());
            self.mirrored
                .insert(record.id, (record.description.clone(), taken));
        }
        let gone: Vec<FaultId> = self
            .mirrored
            .keys()
            .filter(|id| !real.iter().any(|r| r.id == **id))
            .copied()
            .collect();
        for id in gone {
            if let Some((_, Ok(mirrored))) = self.mirrored.remove(&id) {
                // It may have ended by itself already: nothing to do then.
                self.engine.revert(mirrored);
            }
        }
    }

    /// Records the real system's whole seconds that `tick` (observed at its `t`, its
    /// figures `lag_s` behind) has passed: the second ending at `t − lag_s` is complete.
    pub fn observe_real(&mut self, tick: &Tick, lag_s: f64) {
        let seen_s = tick.t - lag_s - self.offset_s;
        if seen_s < self.next_real_s {
            return;
        }
        // After a stall, the seconds missed are not made up: the latest is recorded.
        self.next_real_s = seen_s.floor() + 1.0;
        self.real.close_observed(seen_s.floor(), tick);
    }

    pub fn view(&self) -> TwinView {
        TwinView {
            started_at_s: self.offset_s,
            t: self.engine.now() as f64 / NANOS_PER_SEC,
            slo: self.slo,
            first_fault_s: self.first_fault_s,
            model: self.model.view(self.slo, self.first_fault_s),
            real: self.real.view(self.slo, self.first_fault_s),
            faults: self
                .mirrored
                .iter()
                .map(|(id, (description, taken))| MirroredFault {
                    id: *id,
                    description: description.clone(),
                    not_in_model: taken.as_ref().err().cloned(),
                })
                .collect(),
            services: self.engine.topology().services.len(),
            dependencies: self.engine.topology().dependencies.len(),
        }
    }

    /// The model it runs.
    pub fn topology(&self) -> &Topology {
        self.engine.topology()
    }
}
