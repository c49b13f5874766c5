//! Chaos experiments: a timeline of faults and a steady-state hypothesis ("availability of
//! `checkout` ≥ 99% over 10 s"), checked at the end of every simulated second while the
//! faults play out. The verdict: `passed` (it held throughout), `failed` (it broke and the
//! run went on), `aborted` (it broke and the plan asked to stop at once) or `stopped` (ended
//! from outside). The live server and `blastradius experiment` drive the same
//! [`Experiment`]; [`run`] plays one on a fresh engine. On a real system,
//! [`Experiment::observing`] judges the same hypothesis second by second on figures from
//! outside (the observed system's), while the caller carries out the faults.
//!
//! Seconds with no ended request at the measured entries give no evidence either way: the
//! hypothesis is judged on the seconds that have some.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, FaultId};
use crate::fault::Fault;
use crate::measure::{EntryCounters, Window, ratio};
use crate::queue::{NANOS_PER_SEC, Nanos, secs};
use crate::topology::{RoutingMode, Topology};

/// Longest experiment, in simulated seconds (a day).
pub const MAX_DURATION_S: u32 = 86_400;

/// Most faults one experiment may schedule.
pub const MAX_FAULTS: usize = 100;

/// What to break, when, and what must hold meanwhile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[serde(default = "default_name")]
    pub name: String,
    /// The faults, each `at_s` counted from the experiment's start (absent: at once).
    #[serde(default)]
    pub faults: Vec<Fault>,
    pub hypothesis: Hypothesis,
    /// Simulated seconds the experiment runs.
    pub duration_s: u32,
    /// Stop (and revert the faults) as soon as the hypothesis breaks.
    #[serde(default)]
    pub abort_on_break: bool,
}

fn default_name() -> String {
    "experiment".into()
}

/// The steady state: availability of `entry` (or of all entries) at least `min_availability`
/// over every trailing `over_s` seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hypothesis {
    /// An entry point; absent: overall availability over every entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// A share from 0 to 1 (0.99 = 99%).
    pub min_availability: f64,
    /// The trailing window, in whole simulated seconds.
    #[serde(default = "default_over_s")]
    pub over_s: u32,
}

fn default_over_s() -> u32 {
    10
}

impl Hypothesis {
    /// Plain words: `availability of checkout ≥ 99% over 10 s`.
    pub fn describe(&self) -> String {
        let of = self.entry.as_deref().unwrap_or("all entries");
        format!(
            "availability of {of} ≥ {} over {} s",
            percent(self.min_availability),
            self.over_s
        )
    }
}

fn percent(share: f64) -> String {
    let text = format!("{:.2}", share * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// A plan that cannot run on this topology, with the field to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PlanError {
    pub path: String,
    pub message: String,
}

fn plan_error(path: impl Into<String>, message: impl Into<String>) -> PlanError {
    PlanError {
        path: path.into(),
        message: message.into(),
    }
}

impl Plan {
    /// Parses a plan from JSON, naming the field at fault.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let path = err.path().to_string();
            plan_error(
                if path == "." { String::new() } else { path },
                err.inner().to_string(),
            )
        })
    }

    /// Checks the plan against `topology`: the entry exists, the numbers make sense, and
    /// every fault fits and starts before the end.
    pub fn validate(&self, topology: &Topology) -> Result<(), PlanError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(plan_error("name", "must have 1 to 100 characters"));
        }
        if !(1..=MAX_DURATION_S).contains(&self.duration_s) {
            return Err(plan_error(
                "duration_s",
                format!(
                    "must be from 1 to {MAX_DURATION_S} seconds, not {}",
                    self.duration_s
                ),
            ));
        }
        let hypothesis = &self.hypothesis;
        if !(hypothesis.min_availability.is_finite()
            && (0.0..=1.0).contains(&hypothesis.min_availability))
        {
            return Err(plan_error(
                "hypothesis.min_availability",
                format!(
                    "must be a share from 0 to 1 (0.99 for 99%), not {}",
                    hypothesis.min_availability
                ),
            ));
        }
        if !(1..=self.duration_s).contains(&hypothesis.over_s) {
            return Err(plan_error(
                "hypothesis.over_s",
                format!(
                    "must be from 1 second to the experiment's duration_s ({}), not {}",
                    self.duration_s, hypothesis.over_s
                ),
            ));
        }
        if let Some(entry) = &hypothesis.entry {
            match topology.service(entry) {
                Some(service) if service.is_entry() => {}
                Some(_) => {
                    return Err(plan_error(
                        "hypothesis.entry",
                        format!("'{entry}' is not an entry point (it has no ingress_rps)"),
                    ));
                }
                None => {
                    return Err(plan_error(
                        "hypothesis.entry",
                        format!("no service is named '{entry}'"),
                    ));
                }
            }
        }
        if self.faults.len() > MAX_FAULTS {
            return Err(plan_error(
                "faults",
                format!("at most {MAX_FAULTS} faults, not {}", self.faults.len()),
            ));
        }
        for (i, fault) in self.faults.iter().enumerate() {
            fault
                .validate(topology)
                .map_err(|err| plan_error(format!("faults[{i}].{}", err.path), err.message))?;
            if let Some(at) = fault.at_s
                && at >= f64::from(self.duration_s)
            {
                return Err(plan_error(
                    format!("faults[{i}].at_s"),
                    format!(
                        "starts at {at} s, after the experiment ends (duration_s {})",
                        self.duration_s
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// How an experiment ended, or that it has not yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Running,
    /// The hypothesis held for the whole duration.
    Passed,
    /// The hypothesis broke; the experiment ran to its end.
    Failed,
    /// The hypothesis broke and the experiment stopped there, as its plan asked.
    Aborted,
    /// Ended from outside before its end (a person, a new topology, a reset).
    Stopped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Running => "running",
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Aborted => "aborted",
            Verdict::Stopped => "stopped",
        }
    }
}

/// One simulated second of an experiment, at the measured entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentPoint {
    /// End of the second, counted from the experiment's start.
    pub t: u32,
    /// Availability of the requests that ended in that second.
    pub availability: Option<f64>,
    /// Availability over the trailing `over_s` seconds: what the hypothesis judges.
    pub trailing: Option<f64>,
}

/// Totals of one entry over the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryOutcome {
    pub arrivals: u64,
    pub successes: u64,
    pub failures: u64,
    pub availability: Option<f64>,
}

/// The report: plan, verdict and measures, stored by the server and printed by the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentReport {
    pub name: String,
    pub hypothesis: Hypothesis,
    /// The hypothesis in plain words.
    pub hypothesis_text: String,
    /// The faults as planned (`at_s` from the experiment's start).
    pub faults: Vec<Fault>,
    pub abort_on_break: bool,
    pub topology: String,
    pub routing: RoutingMode,
    pub seed: u64,
    /// Simulated second of the run the experiment started at.
    pub started_s: f64,
    pub duration_s: u32,
    /// Whole seconds judged so far.
    pub elapsed_s: u32,
    pub verdict: Verdict,
    /// The verdict in plain words.
    pub reason: String,
    /// The first second the hypothesis did not hold.
    pub broke_at_s: Option<u32>,
    /// The lowest trailing availability seen.
    pub lowest: Option<f64>,
    /// Seconds whose own availability was under the objective.
    pub outage_s: u32,
    /// Outside requests lost over the experiment (arrivals − successes, every entry).
    pub lost: u64,
    pub entries: BTreeMap<String, EntryOutcome>,
    pub timeline: Vec<ExperimentPoint>,
    /// Run against a real system (its faults through fault proxies, judged on its
    /// observed figures) rather than the simulation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub real: bool,
}

/// A running experiment: its plan, the faults it injected, and the seconds judged so far.
#[derive(Clone, Debug)]
pub struct Experiment {
    plan: Plan,
    topology: String,
    routing: RoutingMode,
    seed: u64,
    start: Nanos,
    /// Positions in the engine's entries that the hypothesis measures.
    measured: Vec<usize>,
    entry_names: Vec<String>,
    fault_ids: Vec<FaultId>,
    /// What has been counted of the second under way.
    current: Vec<EntryCounters>,
    /// `(successes, ended)` at the measured entries per second, the last `over_s` of them.
    recent: VecDeque<(u64, u64)>,
    totals: Vec<EntryCounters>,
    timeline: Vec<ExperimentPoint>,
    verdict: Verdict,
    reason: String,
    broke_at_s: Option<u32>,
    lowest: Option<f64>,
    outage_s: u32,
    real: bool,
}

impl Experiment {
    /// Validates `plan` against the engine's topology and schedules its faults from now.
    /// `seed` is the run's, recorded in the report.
    pub fn start(engine: &mut Engine, plan: Plan, seed: u64) -> Result<Experiment, PlanError> {
        let topology = engine.topology();
        plan.validate(topology)?;
        let entries: Vec<usize> = engine.entries().to_vec();
        let entry_names: Vec<String> = entries
            .iter()
            .map(|&s| topology.services[s].name.clone())
            .collect();
        let topology_name = topology.name.clone();
        let start = engine.now();
        let mut fault_ids = Vec::with_capacity(plan.faults.len());
        for (i, fault) in plan.faults.iter().enumerate() {
            let mut scheduled = fault.clone();
            scheduled.at_s = Some(start as f64 / NANOS_PER_SEC + fault.at_s.unwrap_or(0.0));
            match engine.inject(scheduled) {
                Ok(id) => fault_ids.push(id),
                Err(err) => {
                    // Validated above; undo what was scheduled rather than run half a plan.
                    for id in fault_ids {
                        engine.revert(id);
                    }
                    return Err(plan_error(format!("faults[{i}].{}", err.path), err.message));
                }
            }
        }
        Ok(Experiment::fresh(
            plan,
            topology_name,
            engine.routing_mode(),
            seed,
            start,
            entry_names,
            fault_ids,
        ))
    }

    /// An experiment on a system outside the engine (a real one, seen as `topology`),
    /// starting at `start` on its clock: the caller carries out the faults and hands each
    /// whole second's counts to [`Experiment::observe_second`].
    pub fn observing(
        plan: Plan,
        topology: &Topology,
        start: Nanos,
    ) -> Result<Experiment, PlanError> {
        plan.validate(topology)?;
        let entry_names: Vec<String> = topology
            .services
            .iter()
            .filter(|s| s.is_entry())
            .map(|s| s.name.clone())
            .collect();

        let mut experiment = Experiment::fresh(
            plan,
            topology.name.clone(),
            topology.routing.mode,
            0,
            start,
            entry_names,
            Vec::new(),
        );
        experiment.real = true;
        Ok(experiment)
    }

    /// An experiment at its start: nothing judged yet.
    fn fresh(
        plan: Plan,
        topology: String,
        routing: RoutingMode,
        seed: u64,
        start: Nanos,
        entry_names: Vec<String>,
        fault_ids: Vec<FaultId>,
    ) -> Experiment {
        // Validated: the hypothesis's entry is one of them.
        let measured = match &plan.hypothesis.entry {
            Some(entry) => entry_names
                .iter()
                .position(|name| name == entry)
                .into_iter()
                .collect(),
            None => (0..entry_names.len()).collect(),
        };
        Experiment {
            topology,
            routing,
            seed,
            start,
            measured,
            current: vec![EntryCounters::default(); entry_names.len()],
            totals: vec![EntryCounters::default(); entry_names.len()],
            entry_names,
            fault_ids,
            recent: VecDeque::new(),
            timeline: Vec::new(),
            verdict: Verdict::Running,
            reason: "running".into(),
            broke_at_s: None,
            lowest: None,
            outage_s: 0,
            plan,
            real: false,
        }
    }

    /// The entries an observing experiment counts, in the order
    /// [`Experiment::observe_second`] takes their counts.
    pub fn entries(&self) -> &[String] {
        &self.entry_names
    }

    /// Judges one whole second from each entry's counts in it. True once the experiment
    /// ends.
    pub fn observe_second(&mut self, counts: &[EntryCounters]) -> bool {
        if !self.is_running() {
            return true;
        }
        for (mine, theirs) in self.current.iter_mut().zip(counts) {
            mine.merge(theirs);
        }
        self.judge_second();
        !self.is_running()
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    pub fn is_running(&self) -> bool {
        self.verdict == Verdict::Running
    }

    /// The verdict in plain words.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The first second the hypothesis did not hold.
    pub fn broke_at_s(&self) -> Option<u32> {
        self.broke_at_s
    }

    /// Whole seconds judged so far.
    pub fn elapsed_s(&self) -> u32 {
        self.timeline.len() as u32
    }

    /// The latest trailing availability (what the hypothesis judges), if any.
    pub fn trailing(&self) -> Option<f64> {
        self.timeline.last().and_then(|p| p.trailing)
    }

    /// The simulated time the second under way ends at: the caller cuts its windows there.
    pub fn next_boundary(&self) -> Nanos {
        self.start + secs(f64::from(self.elapsed_s() + 1))
    }

    /// Counts `window` (which must not reach past [`Experiment::next_boundary`]); judges
    /// the second when the window ends on its boundary. True once the experiment ends.
    pub fn observe(&mut self, window: &Window) -> bool {
        if !self.is_running() {
            return true;
        }
        for (mine, theirs) in self.current.iter_mut().zip(&window.entries) {
            mine.merge(theirs);
        }
        if window.end >= self.next_boundary() {
            self.judge_second();
        }
        !self.is_running()
    }

    fn judge_second(&mut self) {
        let second = std::mem::replace(
            &mut self.current,
            vec![EntryCounters::default(); self.totals.len()],
        );
        let (ok, ended) = self.measured.iter().fold((0, 0), |(ok, ended), &e| {
            let c = &second[e];
            (ok + c.successes, ended + c.successes + c.failures)
        });
        for (total, counted) in self.totals.iter_mut().zip(&second) {
            total.merge(counted);
        }
        self.recent.push_back((ok, ended));
        if self.recent.len() > self.plan.hypothesis.over_s as usize {
            self.recent.pop_front();
        }
        let (recent_ok, recent_ended) = self
            .recent
            .iter()
            .fold((0, 0), |(o, e), &(ok, ended)| (o + ok, e + ended));
        let t = self.elapsed_s() + 1;
        let availability = ratio(ok, ended);
        let trailing = ratio(recent_ok, recent_ended);
        self.timeline.push(ExperimentPoint {
            t,
            availability: availability.map(round6),
            trailing: trailing.map(round6),
        });
        let objective = self.plan.hypothesis.min_availability;
        if availability.is_some_and(|a| a < objective) {
            self.outage_s += 1;
        }
        if let Some(trailing) = trailing {
            self.lowest = Some(self.lowest.map_or(trailing, |l| l.min(trailing)));
            if trailing < objective && self.broke_at_s.is_none() {
                self.broke_at_s = Some(t);
                self.reason = format!(
                    "broke at {t} s: {} was {} (below {})",
                    self.measured_text(),
                    percent(trailing),
                    percent(objective)
                );
                if self.plan.abort_on_break {
                    self.verdict = Verdict::Aborted;
                    self.reason.push_str("; aborted and its faults reverted");
                    return;
                }
            }
        }
        if t >= self.plan.duration_s {
            match self.broke_at_s {
                Some(_) => self.verdict = Verdict::Failed,
                None => {
                    self.verdict = Verdict::Passed;
                    self.reason = match self.lowest {
                        Some(lowest) => format!(
                            "held for {t} s: the lowest {} was {}",
                            self.measured_text(),
                            percent(lowest)
                        ),
                        None => format!("held for {t} s: no request ended to judge it by"),
                    };
                }
            }
        }
    }

    /// `availability of checkout over 10 s`.
    fn measured_text(&self) -> String {
        let hypothesis = &self.plan.hypothesis;
        let of = hypothesis.entry.as_deref().unwrap_or("all entries");
        format!("availability of {of} over {} s", hypothesis.over_s)
    }

    /// Ends a running experiment from outside, saying why.
    pub fn stop(&mut self, why: &str) {
        if self.is_running() {
            self.verdict = Verdict::Stopped;
            self.reason = format!("stopped after {} s: {why}", self.elapsed_s());
        }
    }

    /// Reverts the experiment's faults that are still in force (call once it has ended).
    pub fn revert_faults(&self, engine: &mut Engine) {
        for &id in &self.fault_ids {
            engine.revert(id);
        }
    }

    pub fn report(&self) -> ExperimentReport {
        let entries = self
            .entry_names
            .iter()
            .zip(&self.totals)
            .map(|(name, c)| {
                let outcome = EntryOutcome {
                    arrivals: c.arrivals,
                    successes: c.successes,
                    failures: c.failures,
                    availability: ratio(c.successes, c.successes + c.failures).map(round6),
                };
                (name.clone(), outcome)
            })
            .collect();
        ExperimentReport {
            name: self.plan.name.clone(),
            hypothesis: self.plan.hypothesis.clone(),
            hypothesis_text: self.plan.hypothesis.describe(),
            faults: self.plan.faults.clone(),
            abort_on_break: self.plan.abort_on_break,
            topology: self.topology.clone(),
            routing: self.routing,
            seed: self.seed,
            started_s: self.start as f64 / NANOS_PER_SEC,
            duration_s: self.plan.duration_s,
            elapsed_s: self.elapsed_s(),
            verdict: self.verdict,
            reason: self.reason.clone(),
            broke_at_s: self.broke_at_s,
            lowest: self.lowest.map(round6),
            outage_s: self.outage_s,
            lost: self
                .totals
                .iter()
                .map(|c| c.arrivals.saturating_sub(c.successes))
                .sum(),
            entries,
            timeline: self.timeline.clone(),
            real: self.real,
        }
    }
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Plays `plan` on a fresh run of `topology` from `seed`, second by second.
pub fn run(topology: Topology, seed: u64, plan: Plan) -> Result<ExperimentReport, PlanError> {
    let mut engine = Engine::new(topology, seed);
    let mut experiment = Experiment::start(&mut engine, plan, seed)?;
    while experiment.is_running() {
        engine.run_until(experiment.next_boundary());
        let window = engine.take_window();
        experiment.observe(&window);
    }
    experiment.revert_faults(&mut engine);
    Ok(experiment.report())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates;

    fn plan(json: serde_json::Value) -> Plan {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn a_harmless_fault_passes() {
        let report = run(
            templates::demo(),
            1,
            plan(serde_json::json!({
                "name": "one search instance",
                "faults": [{"kind": "kill", "service": "search", "instance": 1, "at_s": 5}],
                "hypothesis": {"entry": "web", "min_availability": 0.5, "over_s": 5},
                "duration_s": 20
            })),
        )
        .unwrap();
        assert_eq!(report.verdict, Verdict::Passed, "{}", report.reason);
        assert_eq!(report.elapsed_s, 20);
        assert_eq!(report.timeline.len(), 20);
        assert!(
            report.reason.starts_with("held for 20 s"),
            "{}",
            report.reason
        );
        assert!(report.entries["web"].arrivals > 0);
    }

    #[test]
    fn killing_a_required_service_fails_and_aborts_when_asked() {
        let body = serde_json::json!({
            "faults": [{"kind": "kill", "service": "checkout", "at_s": 5}],
            "hypothesis": {"min_availability": 0.99, "over_s": 3},
            "duration_s": 30
        });
        let failed = run(templates::demo(), 1, plan(body.clone())).unwrap();
        assert_eq!(failed.verdict, Verdict::Failed);
        let broke = failed.broke_at_s.unwrap();
        assert!((6..=8).contains(&broke), "broke at {broke}");
        assert_eq!(failed.elapsed_s, 30, "a failed experiment runs to its end");
        assert!(failed.outage_s > 0 && failed.lost > 0);

        let mut aborting = plan(body);
        aborting.abort_on_break = true;
        let aborted = run(templates::demo(), 1, aborting).unwrap();
        assert_eq!(aborted.verdict, Verdict::Aborted);
        assert_eq!(aborted.broke_at_s, Some(broke), "same seed, same break");
        assert_eq!(aborted.elapsed_s, broke, "stopped at the break");
        assert!(aborted.reason.contains("aborted"), "{}", aborted.reason);
    }

    #[test]
    fn same_plan_and_seed_same_report() {
        let body = serde_json::json!({
            "faults": [{"kind": "monkey", "services": ["cart", "search"],
                        "mean_interval_s": 3, "down_s": 2}],
            "hypothesis": {"entry": "web", "min_availability": 0.9},
            "duration_s": 15
        });
        let first = run(templates::demo(), 7, plan(body.clone())).unwrap();
        let second = run(templates::demo(), 7, plan(body)).unwrap();
        assert_eq!(
            serde_json::to_string(&first).unwrap(),
            serde_json::to_string(&second).unwrap()
        );
    }

    #[test]
    fn bad_plans_name_the_field() {
        let shop = templates::demo();
        let cases = [
            (
                serde_json::json!({"hypothesis": {"min_availability": 1.5}, "duration_s": 10}),
                "hypothesis.min_availability",
            ),
            (
                serde_json::json!({"hypothesis": {"min_availability": 0.9, "over_s": 20},
                                   "duration_s": 10}),
                "hypothesis.over_s",
            ),
            (
                serde_json::json!({"hypothesis": {"entry": "cart", "min_availability": 0.9},
                                   "duration_s": 10}),
                "hypothesis.entry",
            ),
            (
                serde_json::json!({"hypothesis": {"min_availability": 0.9}, "duration_s": 0}),
                "duration_s",
            ),
            (
                serde_json::json!({"faults": [{"kind": "kill", "service": "nope"}],
                                   "hypothesis": {"min_availability": 0.9}, "duration_s": 10}),
                "faults[0].service",
            ),
            (
                serde_json::json!({"faults": [{"kind": "kill", "service": "cart", "at_s": 10}],
                                   "hypothesis": {"min_availability": 0.9}, "duration_s": 10}),
                "faults[0].at_s",
            ),
        ];
        for (body, path) in cases {
            let err = plan(body).validate(&shop).unwrap_err();
            assert_eq!(err.path, path, "{err}");
        }
        let err = Plan::from_json(r#"{"hypothesis": {"min_availabilty": 0.9}, "duration_s": 5}"#)
            .unwrap_err();
        assert_eq!(err.path, "hypothesis.min_availabilty");
        assert!(err.message.contains("min_availabilty"), "{err}");
    }

    #[test]
    fn windows_cut_anywhere_judge_the_same_seconds() {
        // The live server cuts windows at its ticks, not at whole seconds: the verdict must
        // not depend on where.
        let body = serde_json::json!({
            "faults": [{"kind": "kill", "service": "cart", "at_s": 2, "duration_s": 3}],
            "hypothesis": {"entry": "web", "min_availability": 0.95, "over_s": 2},
            "duration_s": 8
        });
        let whole = run(templates::demo(), 3, plan(body.clone())).unwrap();
        let mut engine = Engine::new(templates::demo(), 3);
        let mut experiment = Experiment::start(&mut engine, plan(body), 3).unwrap();
        while experiment.is_running() {
            let step = engine.now() + secs(0.3);
            let until = step.min(experiment.next_boundary());
            engine.run_until(until);
            experiment.observe(&engine.take_window());
        }
        assert_eq!(experiment.report(), whole);
    }

    #[test]
    fn hypotheses_read_as_words() {
        let hypothesis = Hypothesis {
            entry: Some("checkout".into()),
            min_availability: 0.99,
            over_s: 10,
        };
        assert_eq!(
            hypothesis.describe(),
            "availability of checkout ≥ 99% over 10 s"
        );
        assert_eq!(percent(0.995), "99.5%");
        assert_eq!(percent(1.0), "100%");
    }
}
