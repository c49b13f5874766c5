//! Whole runs (SPEC "CLI — Contract"): simulate a topology for a duration with faults and
//! report it (`simulate --json`), and the same under each routing mode side by side
//! (`compare --json`). Same topology, seed and faults ⇒ byte-identical reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::fault::{Fault, FaultError};
use crate::measure::{Latencies, ratio};
use crate::queue::{NANOS_PER_SEC, secs};
use crate::topology::{RoutingMode, Topology};

/// Latency figures in milliseconds; `None` when nothing was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Latency {
    fn of(latencies: &Latencies) -> Latency {
        let [p50, p95, p99] = latencies
            .quantiles_ms([0.5, 0.95, 0.99])
            .map(|q| q.map(round3));
        Latency {
            mean: latencies.mean_ms().map(round3),
            p50,
            p95,
            p99,
        }
    }
}

/// Rounds to a thousandth: reports carry figures, not float noise.
fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

pub(crate) fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryReport {
    pub arrivals: u64,
    pub successes: u64,
    /// Requests that ended in failure (arrivals still in flight at the end are neither).
    pub failures: u64,
    pub availability: Option<f64>,
    pub latency_ms: Latency,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceReport {
    pub arrivals: u64,
    pub successes: u64,
    pub failures: u64,
    pub rejected: u64,
    pub retries: u64,
    pub utilization: f64,
    pub latency_ms: Latency,
}

/// One second of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelinePoint {
    /// End of the second, in simulated seconds.
    pub t: f64,
    /// Overall availability of the requests that ended in that second.
    pub availability: Option<f64>,
}

/// The report of `simulate --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub seed: u64,
    pub duration_s: f64,
    pub routing: RoutingMode,
    pub events: u64,
    pub hops: u64,
    pub entries: BTreeMap<String, EntryReport>,
    pub services: BTreeMap<String, ServiceReport>,
    pub timeline: Vec<TimelinePoint>,
}

/// A run to make: what, for how long, from which seed, under which faults.
#[derive(Clone, Debug)]
pub struct Run {
    pub topology: Topology,
    pub duration_s: f64,
    pub seed: u64,
    pub faults: Vec<Fault>,
}

impl Run {
    /// Simulates the run second by second and reports it.
    ///
    /// # Complexity
    /// Proportional to the events simulated: about four per service-level execution.
    pub fn simulate(&self) -> Result<Report, FaultError> {
        let mut engine = Engine::new(self.topology.clone(), self.seed);
        for (i, fault) in self.faults.iter().enumerate() {
            engine.inject(fault.clone()).map_err(|err| FaultError {
                path: format!("faults[{i}].{}", err.path),
                message: err.message,
            })?;
        }
        let topology = &self.topology;
        // One window for the whole run, read at each second for the timeline: cutting one
        // per second and merging them would walk every histogram's counts each second
        // (most of a 1,000-service run's time), for the same figures.
        let mut timeline = Vec::new();
        let mut before = (0, 0);
        let whole_seconds = self.duration_s.ceil() as u64;
        for second in 1..=whole_seconds {
            let t = (second as f64).min(self.duration_s);
            engine.run_until(secs(t));
            // The outside requests that ended in this second.
            let (ok, ended) = engine.window().outcomes();
            timeline.push(TimelinePoint {
                t,
                availability: ratio(ok - before.0, ended - before.1).map(round6),
            });
            before = (ok, ended);
        }
        let total = engine.take_window();
        let seconds = total.seconds().max(1e-9);
        let entries = engine
            .entries()
            .iter()
            .enumerate()
            .map(|(e, &s)| {
                let c = &total.entries[e];
                let report = EntryReport {
                    arrivals: c.arrivals,
                    successes: c.successes,
                    failures: c.failures,
                    availability: ratio(c.successes, c.successes + c.failures).map(round6),
                    latency_ms: Latency::of(&c.latency),
                };
                (topology.services[s].name.clone(), report)
            })
            .collect();
        let services = topology
            .services
            .iter()
            .zip(&total.services)
            .map(|(service, c)| {
                let slots = f64::from(service.replicas) * f64::from(service.concurrency);
                let report = ServiceReport {
                    arrivals: c.arrivals,
                    successes: c.successes,
                    failures: c.failures,
                    rejected: c.rejected,
                    retries: c.retries,
                    utilization: round6(c.busy_ns as f64 / (seconds * NANOS_PER_SEC * slots)),
                    latency_ms: Latency::of(&c.latency),
                };
                (service.name.clone(), report)
            })
            .collect();
        Ok(Report {
            seed: self.seed,
            duration_s: self.duration_s,
            routing: engine.routing_mode(),
            events: engine.events(),
            hops: engine.hops(),
            entries,
            services,
            timeline,
        })
    }

    /// The same run under each routing mode, with the summary `compare` prints.
    pub fn compare(&self, slo: f64) -> Result<Comparison, FaultError> {
        let first_fault = self
            .faults
            .iter()
            .map(|f| f.at_s.unwrap_or(0.0))
            .reduce(f64::min);
        let mut modes = BTreeMap::new();
        let mut summary = BTreeMap::new();
        for mode in [RoutingMode::Dns, RoutingMode::Lb, RoutingMode::Smart] {
            let mut run = self.clone();
            run.topology.routing.mode = mode;
            let report = run.simulate()?;
            summary.insert(mode, Summary::of(&report, slo, first_fault));
            modes.insert(mode, report);
        }
        Ok(Comparison { modes, summary })
    }
}

/// How a run met its objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Overall availability over the run.
    pub availability: Option<f64>,
    /// Arrivals − successes over all entries.
    pub lost: u64,
    /// Simulated seconds with overall availability below the objective.
    pub outage_s: f64,
    /// Seconds from the first fault until availability stays at or above the objective;
    /// `None` if it never does.
    pub recover_s: Option<f64>,
}

impl Summary {
    pub fn of(report: &Report, slo: f64, first_fault_s: Option<f64>) -> Summary {
        let (arrivals, successes, failures) =
            report.entries.values().fold((0, 0, 0), |(a, s, f), e| {
                (a + e.arrivals, s + e.successes, f + e.failures)
            });
        Summary::from_counts(
            (arrivals, successes, failures),
            &report.timeline,
            slo,
            first_fault_s,
        )
    }

    /// The summary of a run with these `(arrivals, successes, failures)` over all entries
    /// and this per-second timeline.
    pub fn from_counts(
        (arrivals, successes, failures): (u64, u64, u64),
        timeline: &[TimelinePoint],
        slo: f64,
        first_fault_s: Option<f64>,
    ) -> Summary {
        let below = |p: &TimelinePoint| p.availability.is_some_and(|a| a < slo);
        let outage_s = timeline.iter().filter(|p| below(p)).count() as f64;
        let recover_s = first_fault_s.and_then(|start| {
            // The last second below the objective; recovered at its end.
            match timeline.iter().rposition(below) {
                None => Some(0.0),
                Some(last) if last + 1 == timeline.len() => None,
                Some(last) => Some(round3((timeline[last].t - start).max(0.0))),
            }
        });
        Summary {
            availability: ratio(successes, successes + failures).map(round6),
            lost: arrivals.saturating_sub(successes),
            outage_s,
            recover_s,
        }
    }
}

/// The report of `compare --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub modes: BTreeMap<RoutingMode, Report>,
    pub summary: BTreeMap<RoutingMode, Summary>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Window;
    use crate::templates;

    /// The report reads one window at each second; a window cut at each second and the
    /// windows merged (as it did before) give the same timeline and totals.
    #[test]
    fn one_window_read_each_second_matches_windows_cut_and_merged() {
        let faults = ["2s kill cart#1 duration=4", "5s errors payments rate=0.5"];
        let run = Run {
            topology: templates::demo(),
            duration_s: 9.5,
            seed: 3,
            faults: faults
                .iter()
                .map(|f| Fault::parse_cli(f).unwrap())
                .collect(),
        };
        let report = run.simulate().unwrap();

        let mut engine = Engine::new(run.topology.clone(), run.seed);
        for fault in &run.faults {
            engine.inject(fault.clone()).unwrap();
        }
        let (mut merged, mut timeline): (Option<Window>, _) = (None, Vec::new());
        for second in 1..=10 {
            let t = f64::from(second).min(run.duration_s);
            engine.run_until(secs(t));
            let window = engine.take_window();
            let availability = window.availability().map(round6);
            timeline.push(TimelinePoint { t, availability });
            match &mut merged {
                Some(merged) => merged.merge(&window),
                None => merged = Some(window),
            }
        }
        let merged = merged.unwrap();
        assert_eq!(report.timeline, timeline);
        assert!(timeline.iter().any(|p| p.availability < Some(0.99)));
        for (e, &s) in engine.entries().iter().enumerate() {
            let (theirs, mine) = (
                &merged.entries[e],
                &report.entries[&run.topology.services[s].name],
            );
            assert_eq!(mine.arrivals, theirs.arrivals);
            assert_eq!(
                (mine.successes, mine.failures),
                (theirs.successes, theirs.failures)
            );
            assert_eq!(mine.latency_ms, Latency::of(&theirs.latency));
        }
        for (service, theirs) in run.topology.services.iter().zip(&merged.services) {
            let mine = &report.services[&service.name];
            assert_eq!(
                (
                    mine.arrivals,
                    mine.successes,
                    mine.failures,
                    mine.rejected,
                    mine.retries
                ),
                (
                    theirs.arrivals,
                    theirs.successes,
                    theirs.failures,
                    theirs.rejected,
                    theirs.retries
                )
            );
            assert_eq!(mine.latency_ms, Latency::of(&theirs.latency));
            let slots = f64::from(service.replicas) * f64::from(service.concurrency);
            let utilization = theirs.busy_ns as f64 / (merged.seconds() * NANOS_PER_SEC * slots);
            assert_eq!(mine.utilization, round6(utilization));
        }
    }
}
