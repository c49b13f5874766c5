//! The resilience report of a topology: a one-page summary of its single points of failure,
//! the services whose loss would hurt most, and how each routing mode meets the worst
//! single-instance kill — what an architect reads before a design review.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::analysis::{self, Analysis};
use crate::fault::Fault;
use crate::report::{Run, Summary};
use crate::topology::{RoutingMode, Topology};

/// How many services the ranking lists.
pub const RANKED: usize = 10;
/// How many of the worst-ranked services get an instance kill simulated.
pub const KILL_CANDIDATES: usize = 3;
/// The simulated kill: at this second, for a run this long.
pub const KILL_AT_S: f64 = 15.0;
pub const RUN_S: f64 = 60.0;
/// The availability objective outage-seconds and recovery are measured against.
pub const SLO: f64 = 0.99;

/// A service's predicted blast radius at its worst-hit entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ranked {
    pub service: String,
    /// The entry its loss hurts most.
    pub entry: String,
    /// Predicted share of that entry's otherwise successful requests still succeeding.
    pub share: f64,
    /// Entries that would lose requests at all.
    pub entries_hit: usize,
}

/// One instance killed, under each routing mode: same topology, seed and fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KillComparison {
    /// The fault in the CLI's words, e.g. `15s kill cart#1`.
    pub fault: String,
    pub service: String,
    pub instance: u32,
    pub at_s: f64,
    pub run_s: f64,
    pub slo: f64,
    pub summary: BTreeMap<RoutingMode, Summary>,
}

/// The report (`GET /api/report`, `blastradius report`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResilienceReport {
    pub topology: String,
    pub routing_mode: RoutingMode,
    pub services: usize,
    pub dependencies: usize,
    pub seed: u64,
    pub entries: Vec<String>,
    pub spof: Vec<String>,
    /// `exact` or `sampled` (see [`Analysis::method`]).
    pub method: String,
    /// Services by predicted damage, worst first; only those whose loss hurts at all.
    pub ranking: Vec<Ranked>,
    /// The candidate kill that lost the most requests over all modes; `None` when no
    /// service's loss would hurt any entry.
    pub worst_kill: Option<KillComparison>,
}

/// Builds the report of `topology` (validated), simulating from `seed`.
///
/// # Complexity
/// The analysis, plus [`KILL_CANDIDATES`] × 3 simulated runs of [`RUN_S`] seconds.
pub fn report(topology: &Topology, seed: u64) -> ResilienceReport {
    let analysis = analysis::analyze(topology);
    let ranking = ranking(topology, &analysis);
    let worst_kill = ranking
        .iter()
        .take(KILL_CANDIDATES)
        .map(|ranked| compare_kill(topology, seed, &ranked.service))
        .max_by_key(|kill| {
            // Most lost over all modes; the earlier (worse-predicted) candidate on a tie.
            let lost: u64 = kill.summary.values().map(|s| s.lost).sum();
            (lost, std::cmp::Reverse(kill.service.clone()))
        });
    ResilienceReport {
        topology: topology.name.clone(),
        routing_mode: topology.routing.mode,
        services: topology.services.len(),
        dependencies: topology.dependencies.len(),
        seed,
        entries: analysis.entries.clone(),
        spof: analysis.spof.clone(),
        method: analysis.method.clone(),
        ranking: ranking.into_iter().take(RANKED).collect(),
        worst_kill,
    }
}

/// The services (routing components left out: they exist in one mode only) whose loss
/// would cost some entry requests: worst share first, then most entries hit, then by name.
fn ranking(topology: &Topology, analysis: &Analysis) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = topology
        .services
        .iter()
        .filter_map(|service| {
            let shares = analysis.blast_radius.get(&service.name)?;
            let (entry, share) = shares
                .iter()
                .min_by(|a, b| a.1.total_cmp(b.1).then_with(|| a.0.cmp(b.0)))?;
            (*share < 1.0).then(|| Ranked {
                service: service.name.clone(),
                entry: entry.clone(),
                share: *share,
                entries_hit: shares.values().filter(|s| **s < 1.0).count(),
            })
        })
        .collect();
    ranked.sort_by(|a, b| {
        a.share
            .total_cmp(&b.share)
            .then_with(|| b.entries_hit.cmp(&a.entries_hit))
            .then_with(|| a.service.cmp(&b.service))
    });
    ranked
}

/// Kills instance 1 of `service` at [`KILL_AT_S`] under each routing mode.
fn compare_kill(topology: &Topology, seed: u64, service: &str) -> KillComparison {
    let fault = Fault {
        instance: Some(1),
        at_s: Some(KILL_AT_S),
        ..Fault::kill(service)
    };
    let run = Run {
        topology: topology.clone(),
        duration_s: RUN_S,
        seed,
        faults: vec![fault],
    };
    let comparison = run
        .compare(SLO)
        .expect("a kill of an existing service's first instance fits the topology");
    KillComparison {
        fault: format!("{KILL_AT_S}s kill {service}#1"),
        service: service.to_string(),
        instance: 1,
        at_s: KILL_AT_S,
        run_s: RUN_S,
        slo: SLO,
        summary: comparison.summary,
    }
}

impl ResilienceReport {
    /// The report as a Markdown page.
    pub fn to_markdown(&self) -> String {
        let mut md = String::new();
        let percent = |share: f64| format!("{:.1}%", share * 100.0);
        let _ = writeln!(md, "# Resilience report: {}\n", self.topology);
        let _ = writeln!(
            md,
            "{} services, {} dependencies, routing mode `{}`, entry points: {}. \
             Simulated from seed {}.\n",
            self.services,
            self.dependencies,
            self.routing_mode.name(),
            list(&self.entries),
            self.seed
        );
        let _ = writeln!(md, "## Single points of failure\n");
        if self.spof.is_empty() {
            let _ = writeln!(
                md,
                "None: no single service's loss takes an entry point down.\n"
            );
        } else {
            let _ = writeln!(
                md,
                "The loss of any one of these takes at least one entry point to 0%: {}.\n",
                list(&self.spof)
            );
        }
        let _ = writeln!(md, "## Worst blast radius\n");
        if self.ranking.is_empty() {
            let _ = writeln!(
                md,
                "No single service's loss costs any entry point a request.\n"
            );
        } else {
            let _ = writeln!(
                md,
                "Predicted from the graph ({} analysis): the share of the worst-hit entry's \
                 requests that still succeed with the whole service down.\n",
                self.method
            );
            let _ = writeln!(
                md,
                "| service killed | worst-hit entry | still succeeding | entries hit |"
            );
            let _ = writeln!(md, "|---|---|---|---|");
            for ranked in &self.ranking {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} of {} |",
                    ranked.service,
                    ranked.entry,
                    percent(ranked.share),
                    ranked.entries_hit,
                    self.entries.len()
                );
            }
            md.push('\n');
        }
        let _ = writeln!(md, "## Routing designs under the worst single kill\n");
        match &self.worst_kill {
            None => {
                let _ = writeln!(md, "Nothing to compare: no kill hurts.");
            }
            Some(kill) => {
                let _ = writeln!(
                    md,
                    "`{}`: one instance killed for good at {} s of a {} s run, the same seed \
                     and fault under each mode. Outage counts seconds under {}.\n",
                    kill.fault,
                    kill.at_s,
                    kill.run_s,
                    percent(kill.slo)
                );
                let _ = writeln!(
                    md,
                    "| routing | availability | requests lost | outage | recovered after |"
                );
                let _ = writeln!(md, "|---|---|---|---|---|");
                for (mode, summary) in &kill.summary {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {} s | {} |",
                        mode.name(),
                        summary.availability.map_or("–".into(), percent),
                        summary.lost,
                        summary.outage_s,
                        summary
                            .recover_s
                            .map_or("never (in this run)".into(), |s| format!("{s} s"))
                    );
                }
            }
        }
        md
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
