//! The live routing comparison: the live topology run under `dns`, `lb` and `smart` side by
//! side from the same seed, advanced in lockstep with the live run, and given the same
//! faults at the same moments — so a person who kills an instance sees at once how much the
//! routing design changes the damage.
//!
//! The three runs start fresh when the comparison starts (their time zero is the live
//! clock's `offset`). Faults are mirrored by comparing the live engine's fault list with what
//! was mirrored, so every way a fault reaches the live run (the API, the monkey switch, an
//! experiment) reaches the three runs too. A `monkey` draws its victims from each run's own
//! random stream, so its strikes differ between the runs.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, FaultId};
use crate::fault::Fault;
use crate::measure::Window;
use crate::queue::{NANOS_PER_SEC, Nanos};
use crate::replay::{SecondWindow, run_by_seconds};
use crate::report::{Summary, TimelinePoint, round6};
use crate::topology::{RoutingMode, Topology};
use crate::wire::{Health, Tick};

/// Seconds of timeline each run keeps (and the view sends).
pub const TIMELINE_S: usize = 600;

/// Seconds each entry's availability in a [`SideView`] is taken over.
pub const ENTRY_SPAN_S: usize = 5;

const MODES: [RoutingMode; 3] = [RoutingMode::Dns, RoutingMode::Lb, RoutingMode::Smart];

/// One of the three runs.
struct Side {
    engine: Engine,
    second: SecondWindow,
    record: Record,
}

/// What one run has shown so far, second by second.
#[derive(Default)]
pub(crate) struct Record {
    /// Every second since the start (24 bytes a second: a day is under 2 MB), so the
    /// summary covers the whole comparison.
    timeline: Vec<TimelinePoint>,
    /// `(arrivals, successes, failures)` over all entries since the start.
    counts: (u64, u64, u64),
    health: BTreeMap<String, Health>,
    last_availability: Option<f64>,
    /// Each entry's `(ended, succeeded)` in each of the last [`ENTRY_SPAN_S`] seconds.
    recent: BTreeMap<String, VecDeque<(u64, u64)>>,
}

/// Three runs of one topology under each routing mode, kept in step with the live run.
pub struct Lockstep {
    sides: Vec<Side>,
    /// The live clock when the comparison started.
    offset: Nanos,
    slo: f64,
    /// Live fault id → the id each side gave it (`None` where it did not fit).
    mirrored: BTreeMap<FaultId, Vec<Option<FaultId>>>,
    /// Comparison second the first fault started at.
    first_fault_s: Option<f64>,
}

/// One run's state for the compare view.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SideView {
    /// Overall availability over the last whole second.
    pub availability: Option<f64>,
    /// Each service's health at the end of the last whole second.
    pub health: BTreeMap<String, Health>,
    pub summary: Summary,
    /// One point a second, the last [`TIMELINE_S`] at most; `t` in comparison seconds.
    pub timeline: Vec<TimelinePoint>,
    /// Each entry's availability over the last [`ENTRY_SPAN_S`] whole seconds (`None`
    /// when none of its requests ended then).
    #[serde(default)]
    pub entries: BTreeMap<String, Option<f64>>,
}

/// `GET /api/compare`: the three runs side by side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareView {
    /// Live simulated second the comparison started at.
    pub started_at_s: f64,
    /// Seconds compared so far.
    pub t: f64,
    pub slo: f64,
    /// Comparison second of the first fault, if any.
    pub first_fault_s: Option<f64>,
    pub modes: BTreeMap<RoutingMode, SideView>,
}

impl Lockstep {
    /// Starts comparing `topology` (the live one) from `seed`, at live time `now`.
    pub fn start(topology: &Topology, seed: u64, now: Nanos, slo: f64) -> Lockstep {
        let sides = MODES
            .iter()
            .map(|&mode| {
                let mut topology = topology.clone();
                topology.routing.mode = mode;
                Side {
                    engine: Engine::new(topology, seed),
                    second: SecondWindow::default(),
                    record: Record::default(),
                }
            })
            .collect();
        Lockstep {
            sides,
            offset: now,
            slo,
            mirrored: BTreeMap::new(),
            first_fault_s: None,
        }
    }

    /// Advances the three runs to live time `now`, a window cut at every whole second.
    pub fn advance_to(&mut self, now: Nanos) {
        let until = now.saturating_sub(self.offset);
        for side in &mut self.sides {
            let Side {
                engine,
                second,
                record,
            } = side;
            run_by_seconds(engine, until, |engine, window| {
                if let Some(whole) = second.add(&window, engine.now()) {
                    record.close_second(engine, &whole);
                }
            });
        }
    }

    /// Mirrors the live faults: starts those new since the last call (at the same moment,
    /// for the rest of their duration) and reverts those gone.
    pub fn mirror_faults(&mut self, live: &Engine) {
        let now = live.now();
        for active in live.faults() {
            if self.mirrored.contains_key(&active.id) {
                continue;
            }
            let start = active.start.max(now);
            let fault = Fault {
                at_s: Some((start - self.offset) as f64 / NANOS_PER_SEC),
                duration_s: active
                    .fault
                    .duration_s
                    .map(|d| d - (start - active.start) as f64 / NANOS_PER_SEC),
                ..active.fault.clone()
            };
            let at_s = fault.at_s.unwrap_or(0.0);
            self.first_fault_s = Some(self.first_fault_s.map_or(at_s, |f| f.min(at_s)));
            let ids = self
                .sides
                .iter_mut()
                .map(|side| side.engine.inject(fault.clone()).ok())
                .collect();
            self.mirrored.insert(active.id, ids);
        }
        let gone: Vec<FaultId> = self
            .mirrored
            .keys()
            .filter(|id| !live.faults().any(|f| f.id == **id))
            .copied()
            .collect();
        for id in gone {
            let ids = self.mirrored.remove(&id).unwrap_or_default();
            for (side, mirrored) in self.sides.iter_mut().zip(ids) {
                if let Some(mirrored) = mirrored {
                    // It may have ended by itself already: nothing to do then.
                    side.engine.revert(mirrored);
                }
            }
        }
    }

    /// The three runs for the compare view.
    pub fn view(&self) -> CompareView {
        let modes = MODES
            .iter()
            .zip(&self.sides)
            .map(|(&mode, side)| {
                let view = side.record.view(self.slo, self.first_fault_s);
                (mode, view)
            })
            .collect();
        CompareView {
            started_at_s: self.offset as f64 / NANOS_PER_SEC,
            t: self.sides[0].engine.now() as f64 / NANOS_PER_SEC,
            slo: self.slo,
            first_fault_s: self.first_fault_s,
            modes,
        }
    }
}

impl Record {
    /// Counts a whole second of `engine`: its availability, the totals and the services'
    /// health.
    pub(crate) fn close_second(&mut self, engine: &Engine, second: &Window) {
        let tick = Tick::from_window(engine, second, 1.0);
        let entries = engine.entries().iter().zip(&second.entries).map(|(&e, c)| {
            let name = engine.topology().services[e].name.as_str();
            (name, c.arrivals, c.successes, c.failures)
        });
        let t = (engine.now() as f64 / NANOS_PER_SEC).round();
        self.close(t, second.availability(), entries, &tick);
    }

    /// Counts a whole second ending at `t` that `tick` (a real system's, over that second)
    /// describes: each entry's ended requests from its rate, its successes from its
    /// availability.
    pub(crate) fn close_observed(&mut self, t: f64, tick: &Tick) {
        let entries = tick.entries.iter().map(|(name, figures)| {
            let ended = figures.rps.max(0.0).round() as u64;
            let ok = figures
                .availability
                .map_or(0, |a| ((a * ended as f64).round() as u64).min(ended));
            (name.as_str(), ended, ok, ended - ok)
        });
        self.close(t, tick.availability, entries, tick);
    }

    /// Counts a whole second: `entries` as `(name, arrivals, successes, failures)`, the
    /// health from `tick`.
    fn close<'a>(
        &mut self,
        t: f64,
        availability: Option<f64>,
        entries: impl Iterator<Item = (&'a str, u64, u64, u64)>,
        tick: &Tick,
    ) {
        let availability = availability.map(round6);
        let mut seen = std::collections::BTreeSet::new();
        let push = |recent: &mut VecDeque<(u64, u64)>, second: (u64, u64)| {
            if recent.len() == ENTRY_SPAN_S {
                recent.pop_front();
            }
            recent.push_back(second);
        };
        for (name, arrivals, successes, failures) in entries {
            self.counts.0 += arrivals;
            self.counts.1 += successes;
            self.counts.2 += failures;
            push(
                self.recent.entry(name.to_string()).or_default(),
                (successes + failures, successes),
            );
            seen.insert(name);
        }
        // An entry gone from the figures (an observed one no longer seen) ended nothing.
        for (name, recent) in &mut self.recent {
            if !seen.contains(name.as_str()) {
                push(recent, (0, 0));
            }
        }
        self.timeline.push(TimelinePoint { t, availability });
        self.last_availability = availability;
        self.health = tick
            .services
            .iter()
            .map(|(name, figures)| (name.clone(), figures.health))
            .collect();
    }

    /// What this run has shown, for a view.
    pub(crate) fn view(&self, slo: f64, first_fault_s: Option<f64>) -> SideView {
        let keep = self.timeline.len().saturating_sub(TIMELINE_S);
        SideView {
            availability: self.last_availability,
            health: self.health.clone(),
            summary: Summary::from_counts(self.counts, &self.timeline, slo, first_fault_s),
            timeline: self.timeline[keep..].to_vec(),
            entries: self
                .recent
                .iter()
                .map(|(name, seconds)| {
                    let (ended, ok) = seconds
                        .iter()
                        .fold((0, 0), |(e, o), &(ended, ok)| (e + ended, o + ok));
                    let share = (ended > 0).then(|| round6(ok as f64 / ended as f64));
                    (name.clone(), share)
                })
                .collect(),
        }
    }
}
