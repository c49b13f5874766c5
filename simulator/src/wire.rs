//! The messages of the HTTP/SSE API (SPEC "HTTP — Contract"), defined once here and shared
//! by `server` (which sends them) and `app` (which reads them). They are plain data: this
//! module knows nothing of HTTP, it only says what a snapshot and a tick contain and how
//! they are computed from the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::engine::{ActiveFault, BreakerState, COMPONENTS, Engine, FaultId, FaultState};
use crate::experiment::{ExperimentReport, Verdict};
use crate::fault::Fault;
use crate::measure::{Window, ratio};
use crate::queue::NANOS_PER_SEC;
use crate::topology::{RoutingMode, Topology};

/// How a node is drawn: `down` has no instance up; `degraded` lost instances or fails more
/// than [`DEGRADED_BELOW`] of its work; `healthy` otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Healthy,
    Degraded,
    Down,
}

/// Success rate under which a service with all instances up counts as degraded.
pub const DEGRADED_BELOW: f64 = 0.99;

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Degraded => "degraded",
            Health::Down => "down",
        }
    }
}

/// Live figures of one service over the last window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServiceFigures {
    pub up: u32,
    pub replicas: u32,
    /// Which instances (counted from 1, in order) are up.
    pub instances_up: Vec<bool>,
    /// Each instance's state: `up`, `down` (killed) or `hung`.
    pub instances: Vec<String>,
    /// Each instance's id, where it has one of its own (an observed system's
    /// `service.instance.id`); empty for a simulated service, whose instances are numbered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_ids: Vec<String>,
    pub health: Health,
    /// Executions arriving per second.
    pub rps: f64,
    /// Successful / ended executions; `None` when nothing ended.
    pub success_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Busy slots / all slots.
    pub utilization: f64,
}

/// Live figures of one entry point over the last window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryFigures {
    pub availability: Option<f64>,
    pub rps: f64,
    pub p99_ms: Option<f64>,
}

/// Live figures of one dependency over the last window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkFigures {
    pub from: String,
    pub to: String,
    /// Call attempts per second (retries included).
    pub rps: f64,
    /// Failed attempts / attempts; `None` when there were none.
    pub error_rate: Option<f64>,
    /// `closed`, `open` or `half_open`; absent without a breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerState>,
    /// Cut by a partition fault.
    #[serde(default)]
    pub partitioned: bool,
}

/// A fault as the API lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRecord {
    pub id: FaultId,
    #[serde(flatten)]
    pub fault: Fault,
    /// `pending` (waiting for its `at_s`) or `active`.
    pub state: String,
    /// Simulated second it starts (or started) at.
    pub start_s: f64,
    /// Plain words: `kill cart#2`.
    pub description: String,
}

impl FaultRecord {
    pub fn from_active(active: &ActiveFault) -> FaultRecord {
        FaultRecord {
            id: active.id,
            fault: active.fault.clone(),
            state: match active.state {
                FaultState::Pending => "pending",
                FaultState::Active => "active",
            }
            .to_string(),
            start_s: active.start as f64 / NANOS_PER_SEC,
            description: active.fault.describe(),
        }
    }
}

/// The `tick` event: the state of the run over its last window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// Simulated seconds since the run started.
    pub t: f64,
    /// Overall availability over all entries in the window; `None` before any request ended.
    pub availability: Option<f64>,
    pub services: BTreeMap<String, ServiceFigures>,
    pub entries: BTreeMap<String, EntryFigures>,
    pub links: Vec<LinkFigures>,
    pub faults: Vec<FaultRecord>,
    /// Simulated seconds per real second (0 while paused).
    pub speed: f64,
    pub routing_mode: RoutingMode,
    /// The routing components (`dns`, `lb`, `registry`): `up`, `down` or `hung`.
    pub components: BTreeMap<String, String>,
    /// The running experiment, or the last one to end; set by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<ExperimentSummary>,
    /// Wall-clock time the server published this tick (Unix milliseconds), so a client can
    /// measure how late it arrived. Set by the server, never by the simulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_ms: Option<u64>,
}

/// The `snapshot` event: everything a new viewer needs to draw the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub topology: Topology,
    /// A position for every service (pinned ones from `topology.layout` kept).
    pub positions: BTreeMap<String, [f64; 2]>,
    pub state: Tick,
    /// The static resilience analysis of `topology` in its routing mode.
    pub analysis: Analysis,
    /// The topology and figures are a real system's, seen through its traces.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub observed: bool,
}

/// A run a viewer can scrub through (`GET /api/runs/{id}`): the live one, or one loaded
/// from a recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `live`, or the number a loaded run was given.
    pub id: String,
    pub seed: u64,
    /// Simulated seconds the run covers.
    pub duration_s: f64,
    /// The first and last whole seconds with a frame (`GET /api/runs/{id}/frames/{t}`).
    pub first_s: Option<u64>,
    pub last_s: Option<u64>,
    /// Controls applied during the run (faults injected and reverted, changes).
    pub controls: usize,
    /// The topology as drawn from each moment on, oldest first.
    pub epochs: Vec<Epoch>,
}

/// The topology in force from `from_s` on, with where to draw each service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    pub from_s: f64,
    pub topology: Topology,
    pub positions: BTreeMap<String, [f64; 2]>,
    /// The static resilience analysis of `topology` in its routing mode.
    pub analysis: Analysis,
}

/// The body of every API error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A saved topology as `GET /api/topologies` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedTopology {
    pub name: String,
    pub services: u32,
    /// Unix seconds of the last save.
    pub updated_at: i64,
}

/// The answer to `POST /api/faults` and `POST /api/experiments`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Created {
    pub id: FaultId,
}

/// An experiment's report with the server's id and wall-clock start (Unix seconds), as
/// `GET /api/experiments/{id}` answers and the database keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredExperiment {
    pub id: u64,
    pub started_at: i64,
    #[serde(flatten)]
    pub report: ExperimentReport,
}

/// One line of `GET /api/experiments`, and the `experiment` field of ticks and events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSummary {
    pub id: u64,
    pub name: String,
    pub started_at: i64,
    pub verdict: Verdict,
    pub reason: String,
    pub hypothesis_text: String,
    pub duration_s: u32,
    pub elapsed_s: u32,
    /// The latest trailing availability the hypothesis judged.
    pub trailing: Option<f64>,
    pub broke_at_s: Option<u32>,
    /// Run against the real system (through its fault proxies), not the simulation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub real: bool,
}

impl StoredExperiment {
    pub fn summary(&self) -> ExperimentSummary {
        let report = &self.report;
        ExperimentSummary {
            id: self.id,
            name: report.name.clone(),
            started_at: self.started_at,
            verdict: report.verdict,
            reason: report.reason.clone(),
            hypothesis_text: report.hypothesis_text.clone(),
            duration_s: report.duration_s,
            elapsed_s: report.elapsed_s,
            trailing: report.timeline.last().and_then(|p| p.trailing),
            broke_at_s: report.broke_at_s,
            real: report.real,
        }
    }
}

/// The Chaos Monkey's switch and settings (`GET`/`PUT /api/monkey`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonkeySettings {
    pub enabled: bool,
    /// The services it may strike; empty: every service of the topology.
    pub services: Vec<String>,
    /// Mean simulated seconds between strikes (exponentially distributed).
    pub mean_interval_s: f64,
    /// Simulated seconds a struck instance stays down.
    pub down_s: f64,
    /// The `monkey` fault that carries it out while enabled (it shows in the fault list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_id: Option<FaultId>,
}

impl Default for MonkeySettings {
    fn default() -> MonkeySettings {
        MonkeySettings {
            enabled: false,
            services: Vec::new(),
            mean_interval_s: 30.0,
            down_s: 10.0,
            fault_id: None,
        }
    }
}

impl Tick {
    /// The figures of the dependency `from → to`, if there is one.
    pub fn link(&self, from: &str, to: &str) -> Option<&LinkFigures> {
        self.links.iter().find(|l| l.from == from && l.to == to)
    }

    /// The figures of `window` (the recent past of `engine`) in API form.
    pub fn from_window(engine: &Engine, window: &Window, speed: f64) -> Tick {
        let topology = engine.topology();
        let seconds = window.seconds().max(1e-9);
        let services = topology
            .services
            .iter()
            .enumerate()
            .map(|(i, service)| {
                let counters = &window.services[i];
                let up = engine.instances_up(i);
                let ended = counters.successes + counters.failures;
                let success_rate = ratio(counters.successes, ended);
                let health = if up == 0 {
                    Health::Down
                } else if up < service.replicas
                    || success_rate.is_some_and(|rate| rate < DEGRADED_BELOW)
                {
                    Health::Degraded
                } else {
                    Health::Healthy
                };
                let slots = f64::from(service.replicas) * f64::from(service.concurrency);
                let [p50_ms, p99_ms] = counters.latency.quantiles_ms([0.5, 0.99]);
                let figures = ServiceFigures {
                    up,
                    replicas: service.replicas,
                    instances_up: (0..service.replicas as usize)
                        .map(|k| engine.instance_up(i, k))
                        .collect(),
                    instances: (0..service.replicas as usize)
                        .map(|k| engine.instance_liveness(i, k).as_str().to_string())
                        .collect(),
                    instance_ids: Vec::new(),
                    health,
                    rps: counters.arrivals as f64 / seconds,
                    success_rate,
                    p50_ms,
                    p99_ms,
                    utilization: (counters.busy_ns as f64 / (seconds * 1e9 * slots)).min(1.0),
                };
                (service.name.clone(), figures)
            })
            .collect();
        let entries = engine
            .entries()
            .iter()
            .enumerate()
            .map(|(e, &s)| {
                let counters = &window.entries[e];
                let figures = EntryFigures {
                    availability: ratio(counters.successes, counters.successes + counters.failures),
                    rps: counters.arrivals as f64 / seconds,
                    p99_ms: counters.latency.quantile_ms(0.99),
                };
                (topology.services[s].name.clone(), figures)
            })
            .collect();
        let links = topology
            .dependencies
            .iter()
            .zip(&window.links)
            .enumerate()
            .map(|(d, (dep, counters))| LinkFigures {
                from: dep.from.clone(),
                to: dep.to.clone(),
                rps: counters.calls as f64 / seconds,
                error_rate: ratio(counters.failures, counters.calls),
                breaker: engine.breaker_state(d),
                partitioned: engine.partitioned(d),
            })
            .collect();
        let components = COMPONENTS
            .iter()
            .filter_map(|name| {
                let state = engine.component_liveness(name)?;
                Some((name.to_string(), state.as_str().to_string()))
            })
            .collect();
        Tick {
            t: engine.now() as f64 / NANOS_PER_SEC,
            availability: window.availability(),
            services,
            entries,
            links,
            faults: engine.faults().map(FaultRecord::from_active).collect(),
            speed,
            routing_mode: engine.routing_mode(),
            components,
            experiment: None,
            published_ms: None,
        }
    }
}
