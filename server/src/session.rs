//! The live session every viewer shares: one engine advanced in real time × speed on its own
//! thread, so HTTP handlers never wait on the simulation, and a tick published to all
//! viewers at [`TICK_HZ`]. Each tick is serialised once; viewers read the latest through a
//! `watch` channel, so a slow one skips ticks instead of holding anyone up.
//!
//! Controls (pause, speed, step, reset, routing mode, a new topology) take the lock for as
//! long as the change takes and show in the next tick; a new topology bumps the topology
//! version, which tells every stream to send a fresh snapshot.
//!
//! Beside the ticks, discrete changes (a fault added or removed, a new topology, an
//! experiment started or ended) go out once each on a broadcast channel; a stream that falls
//! too far behind on it gets a fresh snapshot instead. The session also runs the Chaos
//! Monkey switch and at most one experiment at a time, judged second by second of simulated
//! time; ended experiments go to the database from a writer thread of their own.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use simulator::analysis::{self, Analysis};
use simulator::engine::{Engine, FaultId};
use simulator::experiment::{Experiment, Plan, PlanError};
use simulator::fault::{Fault, FaultError, FaultKind};
use simulator::layout;
use simulator::lockstep::{CompareView, Lockstep};
use simulator::measure::{EntryCounters, Rolling, Window};
use simulator::queue::{NANOS_PER_SEC, secs};
use simulator::replay::{self, Frames, Recording, ReplayError};
use simulator::resilience::{self, ResilienceReport};
use simulator::topology::{RoutingMode, Topology};
use simulator::twin::{Twin, TwinView};
use simulator::wire::{
    Epoch, ExperimentSummary, FaultRecord, MonkeySettings, RunInfo, Snapshot, StoredExperiment,
    Tick,
};
use tokio::sync::{broadcast, watch};

use crate::observed::Observed;
use crate::proxy::Proxies;
use crate::store::{Store, StoreError};
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// Ticks per real second.
pub const TICK_HZ: u32 = 10;

/// Slowest and fastest simulated seconds per real second.
pub const SPEED_RANGE: (f64, f64) = (0.1, 100.0);

/// Longest single step while paused, in simulated seconds.
pub const MAX_STEP_S: f64 = 3600.0;

/// Most real time one tick simulates, however long it was since the last one.
const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// Simulated time the live figures cover (a rolling window).
const FIGURES_SPAN_S: f64 = 1.0;

/// Figures (a service or a link, in one frame) the per-second frames of a run may hold, at
/// about 400 bytes each in memory: an hour of `shop` (43 MB measured), 25 s of 2,000
/// services and 4,000 links.
const FRAME_BUDGET: usize = 150_000;

/// Loaded runs kept for viewing; loading another forgets the oldest.
const LOADED_RUNS: usize = 3;

/// The objective the live comparison measures outage against (the dashboard's too).
pub const COMPARE_SLO: f64 = 0.99;

/// A tick ready to send: its sequence number (the SSE `id`), the topology version it
/// belongs to, and its JSON.
#[derive(Debug)]
pub struct TickMessage {
    pub seq: u64,
    pub topology_version: u64,
    pub json: String,
    /// The same tick, for the lean stream (`/api/stream`) to quantise and diff.
    pub tick: Tick,
    /// It quantised (`simulator::lean`), made by the first lean stream to need it and
    /// shared by the rest.
    pub quantised: std::sync::OnceLock<Arc<Tick>>,
}

/// Discrete changes a slow stream may fall behind on before it is resynchronised.
const CHANGES_CAPACITY: usize = 1024;

/// A change every stream announces once, as its own SSE event.
#[derive(Debug)]
pub struct ChangeMessage {
    /// The SSE event name: `fault_added`, `fault_removed`, `topology` or `experiment`.
    pub event: &'static str,
    pub json: String,
}

/// What changed, before it is serialised.
enum Change {
    FaultAdded(FaultRecord),
    FaultRemoved { id: FaultId, description: String },
    Topology { cause: &'static str },
    Experiment(ExperimentSummary),
}

/// What the live view shows: the simulation, or the system seen through its traces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Simulated,
    Observed,
}

/// The session's controls, as `GET`/`PUT /api/session` show them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// What the live view (stream, topology) shows; both keep running.
    pub source: Source,
    /// Simulated seconds since the run started.
    pub t: f64,
    pub paused: bool,
    /// Simulated seconds per real second while running.
    pub speed: f64,
    pub routing_mode: RoutingMode,
    pub seed: u64,
    /// Bumped by every new topology, routing mode and reset.
    pub topology_version: u64,
}

/// A change to the controls: every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionChange {
    pub source: Option<Source>,
    pub paused: Option<bool>,
    pub speed: Option<f64>,
    pub routing_mode: Option<RoutingMode>,
}

/// A control request that cannot be carried out, with the field at fault.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ControlError {
    pub path: String,
    pub message: String,
}

/// Why the model cannot run beside the real system.
#[derive(Debug, PartialEq)]
pub enum TwinError {
    NotObserved,
    /// The observed graph comes from Prometheus's metrics: no spans to estimate from.
    NoSpans,
    NoModel,
}

impl std::fmt::Display for TwinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TwinError::NotObserved => {
                "the model runs beside the observed system: switch the source to observed first"
            }
            TwinError::NoSpans => {
                "the model is estimated from spans; with --prometheus as the source there are none"
            }
            TwinError::NoModel => {
                "no model yet: the model needs traces of requests that ended (a root span per request, folded 3 s after its trace went quiet)"
            }
        })
    }
}

/// A change to the Chaos Monkey: every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonkeyChange {
    pub enabled: Option<bool>,
    pub services: Option<Vec<String>>,
    pub mean_interval_s: Option<f64>,
    pub down_s: Option<f64>,
}

impl MonkeyChange {
    /// `settings` with the fields this change names.
    fn apply_to(self, settings: &mut MonkeySettings) {
        if let Some(enabled) = self.enabled {
            settings.enabled = enabled;
        }
        if let Some(services) = self.services {
            settings.services = services;
        }
        if let Some(mean) = self.mean_interval_s {
            settings.mean_interval_s = mean;
        }
        if let Some(down) = self.down_s {
            settings.down_s = down;
        }
    }
}

/// Why an experiment cannot be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    /// Another one is running, or this one has already ended.
    #[error("{0}")]
    Conflict(String),
    #[error("the session has no experiment {0}")]
    NotFound(u64),
    #[error(transparent)]
    Invalid(#[from] PlanError),
}

/// The experiment under way, or the last one to end, with the server's id for it.
struct LiveExperiment {
    id: u64,
    /// Wall-clock start, Unix seconds.
    started_at: i64,
    experiment: Experiment,
    /// Set when it runs against the real system rather than the simulation.
    real: Option<RealRun>,
}

/// An experiment on the real system: the faults it made through the proxies, and the
/// observed clock's second it judges next.
struct RealRun {
    fault_ids: Vec<u64>,
    next_s: f64,
}

/// The Chaos Monkey on the real system: its settings, and when it strikes next (observed
/// clock).
struct RealMonkey {
    settings: MonkeySettings,
    next_s: f64,
    rng: Pcg64Mcg,
}

impl LiveExperiment {
    fn summary(&self) -> ExperimentSummary {
        let experiment = &self.experiment;
        let plan = experiment.plan();
        ExperimentSummary {
            id: self.id,
            name: plan.name.clone(),
            started_at: self.started_at,
            verdict: experiment.verdict(),
            reason: experiment.reason().to_string(),
            hypothesis_text: plan.hypothesis.describe(),
            duration_s: plan.duration_s,
            elapsed_s: experiment.elapsed_s(),
            trailing: experiment.trailing(),
            broke_at_s: experiment.broke_at_s(),
            real: self.real.is_some(),
        }
    }

    fn stored(&self) -> StoredExperiment {
        StoredExperiment {
            id: self.id,
            started_at: self.started_at,
            report: self.experiment.report(),
        }
    }
}

/// The engine and what the live view keeps beside it.
struct Live {
    engine: Engine,
    rolling: Rolling,
    speed: f64,
    paused: bool,
    seed: u64,
    topology_version: u64,
    /// The analysis of the topology at `.0`'s version, computed once per version.
    analysis: Option<(u64, Analysis)>,
    monkey: MonkeySettings,
    experiment: Option<LiveExperiment>,
    last_experiment_id: u64,
    /// The faults as streams last heard of them, to tell what was added or removed.
    announced_faults: BTreeMap<FaultId, String>,
    /// The same for the real system's faults (through its proxies).
    announced_real: BTreeMap<FaultId, String>,
    /// The fault proxies, which a real experiment's faults go through.
    proxies: Proxies,
    real_monkey: RealMonkey,
    /// Changes to announce with the next publication.
    changes: Vec<Change>,
    /// Ended experiments to store.
    ended: Vec<StoredExperiment>,
    /// This run's per-second frames, to scrub back through.
    frames: Frames,
    /// The live routing comparison, while open.
    compare: Option<Lockstep>,
    /// "Model this": the observed system's model run beside it, while open.
    twin: Option<Twin>,
    source: Source,
    /// What the streams draw, bumped whenever they need a fresh snapshot: a new simulated
    /// topology while it is shown, a new observed graph while that is, a switch of source.
    view_version: u64,
    /// The simulated and observed versions `view_version` last followed.
    followed: (u64, u64),
}

impl Live {
    fn new(topology: Topology, seed: u64, last_experiment_id: u64, proxies: Proxies) -> Live {
        Live {
            proxies,
            real_monkey: RealMonkey {
                settings: MonkeySettings::default(),
                next_s: 0.0,
                rng: Pcg64Mcg::seed_from_u64(seed ^ 0x6d6f_6e6b_6579),
            },
            frames: Frames::new(Frames::capacity_for(&topology, FRAME_BUDGET)),
            compare: None,
            twin: None,
            engine: Engine::new(topology, seed),
            rolling: Rolling::new(secs(FIGURES_SPAN_S)),
            speed: 1.0,
            paused: false,
            seed,
            topology_version: 1,
            analysis: None,
            monkey: MonkeySettings::default(),
            experiment: None,
            last_experiment_id,
            announced_faults: BTreeMap::new(),
            announced_real: BTreeMap::new(),
            changes: Vec::new(),
            ended: Vec::new(),
            source: Source::Simulated,
            view_version: 1,
            followed: (1, 0),
        }
    }

    /// Bumps the view version if what the current source draws has changed since last
    /// asked; `observed` is the observed graph's version now.
    fn follow_versions(&mut self, observed: u64) -> u64 {
        let (simulated, seen_observed) = self.followed;
        let changed = match self.source {
            Source::Simulated => simulated != self.topology_version,
            Source::Observed => seen_observed != observed,
        };
        if changed {
            self.view_version += 1;
        }
        self.followed = (self.topology_version, observed);
        self.view_version
    }

    fn running_experiment(&self) -> Option<&LiveExperiment> {
        self.experiment
            .as_ref()
            .filter(|live| live.experiment.is_running())
    }

    /// The running experiment if it is the simulation's (judged on its windows).
    fn running_simulated_experiment(&self) -> Option<&LiveExperiment> {
        self.running_experiment().filter(|live| live.real.is_none())
    }

    /// Judges the running real experiment's next second once the observed clock (`tick`)
    /// has passed it, from each entry's root spans in that second.
    fn observe_real(&mut self, tick: &Tick) {
        let Some(current) = self.experiment.as_mut() else {
            return;
        };
        let Some(real) = current.real.as_mut() else {
            return;
        };
        if !current.experiment.is_running() || tick.t < real.next_s {
            return;
        }
        real.next_s += 1.0;
        let counts: Vec<EntryCounters> = current
            .experiment
            .entries()
            .iter()
            .map(|name| {
                let figures = tick.entries.get(name);
                let ended = figures.map_or(0, |f| f.rps.max(0.0).round() as u64);
                let ok = figures
                    .and_then(|f| f.availability)
                    .map_or(0, |a| ((a * ended as f64).round() as u64).min(ended));
                EntryCounters {
                    arrivals: ended,
                    successes: ok,
                    failures: ended - ok,
                    ..EntryCounters::default()
                }
            })
            .collect();
        if current.experiment.observe_second(&counts) {
            self.end_experiment();
        }
    }

    /// Strikes with the real Chaos Monkey if it is due: a kill of one instance (through
    /// its proxy) for `down_s`, then the next strike an exponential wait later.
    fn strike_real(&mut self, now_s: f64) {
        let monkey = &mut self.real_monkey;
        if !monkey.settings.enabled || now_s < monkey.next_s {
            return;
        }
        let gap: f64 = monkey.rng.sample(rand_distr::Exp1);
        monkey.next_s = now_s + gap * monkey.settings.mean_interval_s;
        match self
            .proxies
            .monkey_strike(&monkey.settings, &mut monkey.rng)
        {
            Ok(what) => tracing::info!(fault = %what, "the Chaos Monkey struck the real system"),
            Err(err) => {
                tracing::warn!(error = %err.message, "the Chaos Monkey found nothing to strike")
            }
        }
    }

    /// Ends the experiment that has just reached its verdict: reverts its faults, announces
    /// it and queues its report for the database.
    fn end_experiment(&mut self) {
        let Some(live) = &self.experiment else {
            return;
        };
        live.experiment.revert_faults(&mut self.engine);
        for &id in live.real.iter().flat_map(|real| &real.fault_ids) {
            self.proxies.revert(id);
        }
        self.changes.push(Change::Experiment(live.summary()));
        self.ended.push(live.stored());
        tracing::info!(
            id = live.id,
            verdict = live.experiment.verdict().as_str(),
            reason = live.experiment.reason(),
            "experiment ended"
        );
    }

    /// Stops a running experiment from outside, saying why.
    fn stop_experiment(&mut self, why: &str) {
        if let Some(live) = self.experiment.as_mut()
            && live.experiment.is_running()
        {
            live.experiment.stop(why);
            self.end_experiment();
        }
    }

    /// The monkey's settings, off if its fault is gone (reverted through the fault list, or
    /// dropped with a topology that no longer has its targets).
    fn monkey_state(&self) -> MonkeySettings {
        let mut monkey = self.monkey.clone();
        let armed = monkey
            .fault_id
            .is_some_and(|id| self.engine.faults().any(|f| f.id == id));
        if !armed {
            monkey.enabled = false;
            monkey.fault_id = None;
        }
        monkey
    }

    /// The `monkey` fault that carries out `settings` on the current topology.
    fn monkey_fault(&self, settings: &MonkeySettings) -> Fault {
        let services = if settings.services.is_empty() {
            let topology = self.engine.topology();
            topology.services.iter().map(|s| s.name.clone()).collect()
        } else {
            settings.services.clone()
        };
        Fault {
            kind: FaultKind::Monkey,
            services: Some(services),
            mean_interval_s: Some(settings.mean_interval_s),
            down_s: Some(settings.down_s),
            ..Fault::default()
        }
    }

    /// Applies `settings`: checks them against the topology, then replaces the monkey's
    /// fault (or removes it when disabled).
    fn set_monkey(&mut self, mut settings: MonkeySettings) -> Result<MonkeySettings, FaultError> {
        let fault = self.monkey_fault(&settings);
        fault.validate(self.engine.topology())?;
        if let Some(id) = self.monkey_state().fault_id {
            self.engine.revert(id);
        }
        settings.fault_id = None;
        if settings.enabled {
            settings.fault_id = Some(self.engine.inject(fault)?);
        }
        self.monkey = settings;
        Ok(self.monkey_state())
    }

    /// Faults added and removed since the last announcement, after the other changes. Runs
    /// at every tick: it compares ids and builds a record only for a fault that is new.
    fn take_changes(&mut self) -> Vec<Change> {
        let mut changes = std::mem::take(&mut self.changes);
        let engine = &self.engine;
        self.announced_faults.retain(|id, description| {
            let still = engine.faults().any(|f| f.id == *id);
            if !still {
                changes.push(Change::FaultRemoved {
                    id: *id,
                    description: std::mem::take(description),
                });
            }
            still
        });
        for fault in engine.faults() {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.announced_faults.entry(fault.id)
            {
                let record = FaultRecord::from_active(fault);
                slot.insert(record.description.clone());
                changes.push(Change::FaultAdded(record));
            }
        }
        changes
    }

    /// The real system's faults added and removed since last announced, from the list a
    /// tick carries.
    fn take_real_changes(&mut self, faults: &[FaultRecord]) -> Vec<Change> {
        let mut changes = Vec::new();
        self.announced_real.retain(|id, description| {
            let still = faults.iter().any(|f| f.id == *id);
            if !still {
                changes.push(Change::FaultRemoved {
                    id: *id,
                    description: std::mem::take(description),
                });
            }
            still
        });
        for fault in faults {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                self.announced_real.entry(fault.id)
            {
                slot.insert(fault.description.clone());
                changes.push(Change::FaultAdded(fault.clone()));
            }
        }
        changes
    }

    fn change_message(&self, change: Change) -> ChangeMessage {
        let (event, json) = match change {
            Change::FaultAdded(record) => ("fault_added", serde_json::to_string(&record)),
            Change::FaultRemoved { id, description } => (
                "fault_removed",
                serde_json::to_string(&serde_json::json!({"id": id, "description": description})),
            ),
            Change::Topology { cause } => (
                "topology",
                serde_json::to_string(&serde_json::json!({
                    "version": self.topology_version,
                    "name": match self.source {
                        Source::Simulated => self.engine.topology().name.as_str(),
                        Source::Observed => crate::observed::TOPOLOGY_NAME,
                    },
                    "routing_mode": self.engine.routing_mode(),
                    "source": self.source,
                    "cause": cause,
                })),
            ),
            Change::Experiment(summary) => ("experiment", serde_json::to_string(&summary)),
        };
        ChangeMessage {
            event,
            json: json.expect("changes serialise"),
        }
    }

    /// The analysis of the current topology and routing mode as snapshots carry it, affected
    /// entries only (cached per version).
    fn analysis(&mut self) -> Analysis {
        match &self.analysis {
            Some((version, analysis)) if *version == self.topology_version => analysis.clone(),
            _ => {
                let analysis = analysis::analyze(self.engine.topology()).affected_only();
                self.analysis = Some((self.topology_version, analysis.clone()));
                analysis
            }
        }
    }

    fn tick(&self) -> Tick {
        let speed = if self.paused { 0.0 } else { self.speed };
        let empty;
        let figures = match self.rolling.sum() {
            Some(sum) => sum,
            None => {
                let topology = self.engine.topology();
                empty = Window::new(
                    self.engine.now(),
                    topology.services.len(),
                    self.engine.entries().len(),
                    topology.dependencies.len(),
                );
                &empty
            }
        };
        let mut tick = Tick::from_window(&self.engine, figures, speed);
        tick.experiment = self.experiment.as_ref().map(LiveExperiment::summary);
        tick
    }

    /// Simulates `seconds` more and cuts a window for the live figures, and one at every
    /// whole second of a running experiment, which judges each.
    fn advance(&mut self, seconds: f64) {
        let until = self.engine.now() + secs(seconds);
        loop {
            // Cut at every whole second too, for the run's frames.
            let stop = self
                .running_simulated_experiment()
                .map_or(until, |live| live.experiment.next_boundary().min(until))
                .min(Frames::next_boundary(self.engine.now()));
            self.engine.run_until(stop);
            if let Some(compare) = self.compare.as_mut() {
                compare.advance_to(stop);
            }
            let window = self.engine.take_window();
            // The frame first: an experiment that ends now reverts its faults after it, as
            // a replay applies controls after the frame of their second.
            self.frames.observe(&self.engine, &window);
            let ended = match self.experiment.as_mut() {
                Some(live) if live.experiment.is_running() && live.real.is_none() => {
                    live.experiment.observe(&window)
                }
                _ => false,
            };
            if ended {
                self.end_experiment();
            }
            self.rolling.push(window);
            if stop >= until {
                break;
            }
        }
    }

    /// Starts every view of the run afresh: its frames, and the comparison if open.
    fn restart_views(&mut self) {
        self.frames = Frames::new(Frames::capacity_for(self.engine.topology(), FRAME_BUDGET));
        if self.compare.is_some() {
            self.start_compare();
        }
    }

    fn start_compare(&mut self) {
        let mut compare = Lockstep::start(
            self.engine.topology(),
            self.seed,
            self.engine.now(),
            COMPARE_SLO,
        );
        compare.mirror_faults(&self.engine);
        self.compare = Some(compare);
    }

    /// What a viewer needs to scrub through the live run (the drawing of each epoch only
    /// if asked: it costs an analysis per epoch).
    fn run_info(&self, with_epochs: bool) -> RunInfo {
        let recording = self.engine.recorded();
        let epochs = if with_epochs {
            recording.epochs()
        } else {
            Vec::new()
        };
        run_info("live", recording, self.engine.now(), &self.frames, epochs)
    }

    fn state(&self) -> SessionState {
        SessionState {
            source: self.source,
            t: self.engine.now() as f64 / 1e9,
            paused: self.paused,
            speed: self.speed,
            routing_mode: self.engine.routing_mode(),
            seed: self.seed,
            topology_version: self.topology_version,
        }
    }
}

/// The server's own figures, for `/metrics`.
#[derive(Default)]
pub struct ServerStats {
    /// Event streams open now.
    pub clients: AtomicUsize,
    /// Wall time the last tick took to simulate, measure and serialise, in nanoseconds.
    pub last_tick_ns: AtomicU64,
    pub ticks: AtomicU64,
}

/// Counts an open event stream while it lives.
pub struct ClientGuard(Arc<ServerStats>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A cheap, clonable handle on the live session.
#[derive(Clone)]
pub struct Session {
    live: Arc<Mutex<Live>>,
    /// The system seen through its traces, fed whatever the source shown.
    pub observed: Observed,
    ticks: watch::Receiver<Arc<TickMessage>>,
    sender: Arc<watch::Sender<Arc<TickMessage>>>,
    changes: broadcast::Sender<Arc<ChangeMessage>>,
    reports: mpsc::Sender<StoredExperiment>,
    runs: Arc<Mutex<LoadedRuns>>,
    /// The last resilience report and what it was made from: seconds of work on a large
    /// topology, asked for again by its Markdown download.
    report: Arc<Mutex<Option<CachedReport>>>,
    pub stats: Arc<ServerStats>,
}

/// A resilience report, for the topology and seed it was made from.
type CachedReport = (Topology, u64, Arc<ResilienceReport>);

impl Session {
    /// Starts simulating `topology` from `seed` and publishing ticks from a thread of its
    /// own; ended experiments are stored in `store`.
    pub fn start(topology: Topology, seed: u64, store: Arc<Store>) -> Result<Session, StoreError> {
        let observed = Observed::start(tracegraph::Config::default());
        Session::start_with(topology, seed, store, observed, Source::Simulated)
    }

    /// [`Session::start`] beside an observed system, showing `source` first.
    pub fn start_with(
        topology: Topology,
        seed: u64,
        store: Arc<Store>,
        observed: Observed,
        source: Source,
    ) -> Result<Session, StoreError> {
        let mut live = Live::new(
            topology,
            seed,
            store.last_experiment_id()?,
            observed.proxies().clone(),
        );
        live.source = source;
        live.take_changes();
        let tick = live.tick();
        let first = Arc::new(TickMessage {
            seq: 0,
            topology_version: live.topology_version,
            json: serde_json::to_string(&tick).expect("ticks serialise"),
            tick,
            quantised: std::sync::OnceLock::new(),
        });
        let (sender, ticks) = watch::channel(first);
        let (reports, to_store) = mpsc::channel::<StoredExperiment>();
        std::thread::Builder::new()
            .name("report-writer".into())
            .spawn(move || {
                for stored in to_store {
                    if let Err(err) = store.put_experiment(&stored) {
                        tracing::error!(id = stored.id, %err, "cannot store an experiment report");
                    }
                }
            })
            .expect("spawning the report writer");
        let session = Session {
            live: Arc::new(Mutex::new(live)),
            observed,
            ticks,
            sender: Arc::new(sender),
            changes: broadcast::channel(CHANGES_CAPACITY).0,
            reports,
            runs: Arc::default(),
            report: Arc::default(),
            stats: Arc::default(),
        };
        let ticker = session.clone();
        std::thread::Builder::new()
            .name("simulation".into())
            .spawn(move || ticker.run_ticks())
            .expect("spawning the simulation thread");
        Ok(session)
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        // A panic in the simulation thread would poison the lock; the state is still the
        // last consistent one, so keep serving it rather than failing every request.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Advances the simulation every 1/TICK_HZ s, for as long as the process runs.
    fn run_ticks(self) {
        let period = Duration::from_secs(1) / TICK_HZ;
        let mut next = Instant::now() + period;
        let mut last = Instant::now();
        loop {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next += period;
            let now = Instant::now();
            // After a stall (a suspended laptop, a debugger), skip the lost time rather than
            // hold the lock for as long as simulating all of it would take.
            let elapsed = (now - last).min(MAX_CATCH_UP);
            last = now;
            let mut live = self.lock();
            if !live.paused {
                let seconds = elapsed.as_secs_f64() * live.speed;
                live.advance(seconds);
            }
            self.publish(live);
            self.drive_hidden_real();
            let took = now.elapsed().as_nanos() as u64;
            self.stats.last_tick_ns.store(took, Ordering::Relaxed);
            self.stats.ticks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Serialises the current tick and hands it to every stream. Takes the lock's guard so
    /// the tick is built under it and sent after it is released.
    fn publish(&self, mut live: MutexGuard<'_, Live>) {
        // Faults changed since the last publication reach the comparison before time moves.
        let Live {
            compare, engine, ..
        } = &mut *live;
        if let Some(compare) = compare.as_mut() {
            compare.mirror_faults(engine);
        }
        let source = live.source;
        let changes: Vec<ChangeMessage> = live
            .take_changes()
            .into_iter()
            // The simulation's faults are not the observed system's.
            .filter(|change| {
                source == Source::Simulated || matches!(change, Change::Topology { .. })
            })
            .map(|change| live.change_message(change))
            .collect();
        let ended = std::mem::take(&mut live.ended);
        let simulated = (source == Source::Simulated).then(|| {
            let version = live.follow_versions(self.observed.version());
            (live.tick(), version)
        });
        drop(live);
        for change in changes {
            // No open stream is no error: nobody is listening.
            let _ = self.changes.send(Arc::new(change));
        }
        for stored in ended {
            // The writer lives as long as the process.
            let _ = self.reports.send(stored);
        }
        let (mut tick, topology_version) = match simulated {
            Some(shown) => {
                // The observed system runs on unseen: its waits end, what is quiet goes.
                self.observed.advance();
                shown
            }
            None => {
                // Read off the session's lock: ingest may hold the graph for a moment.
                let (mut tick, observed_version) = self.observed.tick();
                let mut live = self.lock();
                if live.source != source {
                    // Switched meanwhile: the switch publishes the other source itself.
                    return;
                }
                live.observe_real(&tick);
                live.strike_real(tick.t);
                if let Some(twin) = live.twin.as_mut() {
                    twin.mirror_faults(&tick.faults);
                    twin.advance_to(tick.t);
                    twin.observe_real(&tick, self.observed.last_lag_s());
                }
                tick.experiment = live
                    .experiment
                    .as_ref()
                    .filter(|e| e.real.is_some())
                    .map(LiveExperiment::summary);
                let mut real: Vec<ChangeMessage> = std::mem::take(&mut live.changes)
                    .into_iter()
                    .map(|change| live.change_message(change))
                    .collect();
                let faults: Vec<ChangeMessage> = live
                    .take_real_changes(&tick.faults)
                    .into_iter()
                    .map(|change| live.change_message(change))
                    .collect();
                real.extend(faults);
                let ended = std::mem::take(&mut live.ended);
                let version = live.follow_versions(observed_version);
                drop(live);
                for change in real {
                    let _ = self.changes.send(Arc::new(change));
                }
                for stored in ended {
                    let _ = self.reports.send(stored);
                }
                (tick, version)
            }
        };
        tick.published_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as u64);
        let json = serde_json::to_string(&tick).expect("ticks serialise");
        self.sender.send_modify(|latest| {
            *latest = Arc::new(TickMessage {
                seq: latest.seq + 1,
                topology_version,
                json,
                tick,
                quantised: std::sync::OnceLock::new(),
            });
        });
    }

    /// The latest tick and the changes from now on, to follow, and a guard that counts the
    /// follower until dropped.
    pub fn subscribe(
        &self,
    ) -> (
        watch::Receiver<Arc<TickMessage>>,
        broadcast::Receiver<Arc<ChangeMessage>>,
        ClientGuard,
    ) {
        self.stats.clients.fetch_add(1, Ordering::Relaxed);
        (
            self.ticks.clone(),
            self.changes.subscribe(),
            ClientGuard(self.stats.clone()),
        )
    }

    /// The current figures of the source shown, for `/metrics`.
    pub fn tick(&self) -> Tick {
        let live = self.lock();
        match live.source {
            Source::Simulated => live.tick(),
            Source::Observed => {
                drop(live);
                self.observed.tick().0
            }
        }
    }

    /// Everything a new viewer needs: topology, positions and the current figures.
    pub fn snapshot(&self) -> (Snapshot, u64) {
        let mut live = self.lock();
        if live.source == Source::Observed {
            // Made off the session's lock: its analysis takes a while on a large graph.
            drop(live);
            let (snapshot, observed_version) = self.observed.snapshot();
            return (snapshot, self.lock().follow_versions(observed_version));
        }
        live.follow_versions(self.observed.version());
        let topology = live.engine.topology().clone();
        let snapshot = Snapshot {
            positions: layout::layered(&topology),
            analysis: live.analysis(),
            topology,
            state: live.tick(),
            observed: false,
        };
        (snapshot, live.view_version)
    }

    /// The live topology of the source shown.
    pub fn topology(&self) -> Topology {
        let live = self.lock();
        match live.source {
            Source::Simulated => live.engine.topology().clone(),
            Source::Observed => {
                drop(live);
                self.observed.topology()
            }
        }
    }

    /// The simulated topology, whatever the source shown.
    pub fn simulated_topology(&self) -> Topology {
        self.lock().engine.topology().clone()
    }

    pub fn source(&self) -> Source {
        self.lock().source
    }

    /// The resilience report of the live topology under the session's seed, made again only
    /// when either changed. Blocks for as long as making it takes: call off the runtime.
    pub fn report(&self) -> Arc<ResilienceReport> {
        let (topology, seed) = {
            let live = self.lock();
            (live.engine.topology().clone(), live.seed)
        };
        self.report_of(topology, seed)
    }

    /// The resilience report of `topology` under `seed`, from the cache if it was the last
    /// made.
    fn report_of(&self, topology: Topology, seed: u64) -> Arc<ResilienceReport> {
        let mut cached = self
            .report
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((made_from, made_with, report)) = cached.as_ref()
            && *made_from == topology
            && *made_with == seed
        {
            return report.clone();
        }
        let report = Arc::new(resilience::report(&topology, seed));
        *cached = Some((topology, seed, report.clone()));
        report
    }

    /// Runs the new (validated) topology from now on; returns the faults that no longer fit
    /// and were dropped.
    pub fn replace_topology(&self, topology: Topology) -> Vec<FaultId> {
        let mut live = self.lock();
        live.stop_experiment("the topology was replaced");
        let monkey = live.monkey_state();
        let dropped = live.engine.replace_topology(topology);
        live.rolling.clear();
        live.frames.discard_partial();
        let capacity = Frames::capacity_for(live.engine.topology(), FRAME_BUDGET);
        live.frames.set_capacity(capacity);
        if live.compare.is_some() {
            // Three runs of the new topology, from now.
            live.start_compare();
        }
        live.topology_version += 1;
        live.changes.push(Change::Topology { cause: "replaced" });
        if monkey.enabled {
            // Aim the monkey at the new topology ("every service" means the new ones); off
            // if its targets are gone.
            let rearmed = live.set_monkey(monkey.clone());
            if rearmed.is_err() {
                live.monkey = MonkeySettings {
                    enabled: false,
                    fault_id: None,
                    ..monkey
                };
            }
        }
        self.publish(live);
        dropped
    }

    pub fn state(&self) -> SessionState {
        self.lock().state()
    }

    /// Pins services where a person placed them (`topology.layout`, replaced whole; empty
    /// unpins all); the simulation runs on untouched and every stream gets the new positions.
    pub fn set_layout(&self, layout: BTreeMap<String, [f64; 2]>) -> Result<(), ControlError> {
        let mut live = self.lock();
        if live.source == Source::Observed {
            if let Some((name, _)) = layout
                .iter()
                .find(|(_, at)| !at.iter().all(|v| v.is_finite()))
            {
                return Err(ControlError {
                    path: format!("layout.{name}"),
                    message: "a position must be two finite numbers".into(),
                });
            }
            self.observed.set_layout(layout);
            live.changes.push(Change::Topology { cause: "layout" });
            self.publish(live);
            return Ok(());
        }
        let mut checked = live.engine.topology().clone();
        checked.layout = layout;
        checked.validate().map_err(|err| ControlError {
            path: err.path,
            message: err.message,
        })?;
        live.engine.set_layout(checked.layout);
        live.topology_version += 1;
        live.changes.push(Change::Topology { cause: "layout" });
        self.publish(live);
        Ok(())
    }

    /// Applies a change of controls, all or nothing.
    pub fn change(&self, change: SessionChange) -> Result<SessionState, ControlError> {
        if let Some(speed) = change.speed
            && !(speed.is_finite() && (SPEED_RANGE.0..=SPEED_RANGE.1).contains(&speed))
        {
            return Err(ControlError {
                path: "speed".into(),
                message: format!(
                    "must be between {} and {} simulated seconds per second, not {speed}",
                    SPEED_RANGE.0, SPEED_RANGE.1
                ),
            });
        }
        let mut live = self.lock();
        if let Some(source) = change.source
            && source != live.source
        {
            live.source = source;
            // The model runs beside the real system only while it is shown.
            live.twin = None;
            live.view_version += 1;
            live.changes.push(Change::Topology { cause: "source" });
            tracing::info!(?source, "the live view switched source");
        }
        if let Some(speed) = change.speed {
            live.speed = speed;
        }
        if let Some(paused) = change.paused {
            live.paused = paused;
        }
        if let Some(mode) = change.routing_mode
            && mode != live.engine.routing_mode()
        {
            live.engine.set_routing_mode(mode);
            // The topology file now says another mode, and the analysis changes with it:
            // every stream gets a fresh snapshot.
            live.topology_version += 1;
            live.changes.push(Change::Topology {
                cause: "routing_mode",
            });
        }
        let state = live.state();
        self.publish(live);
        Ok(state)
    }

    /// Simulates `seconds` at once while paused (to inspect a run frame by frame).
    pub fn step(&self, seconds: f64) -> Result<SessionState, ControlError> {
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_STEP_S) {
            return Err(ControlError {
                path: "seconds".into(),
                message: format!("must be above 0 and at most {MAX_STEP_S}, not {seconds}"),
            });
        }
        let mut live = self.lock();
        if !live.paused {
            return Err(ControlError {
                path: "paused".into(),
                message: "pause the session before stepping it".into(),
            });
        }
        live.advance(seconds);
        let state = live.state();
        self.publish(live);
        Ok(state)
    }

    /// Starts the run again from time zero with the same topology (and routing mode in
    /// force) and seed, without faults.
    pub fn reset(&self) -> SessionState {
        let mut live = self.lock();
        live.stop_experiment("the session was reset");
        let topology = live.engine.topology().clone();
        live.engine = Engine::new(topology, live.seed);
        live.rolling.clear();
        live.restart_views();
        live.monkey.enabled = false;
        live.monkey.fault_id = None;
        live.topology_version += 1;
        live.changes.push(Change::Topology { cause: "reset" });
        let state = live.state();
        self.publish(live);
        state
    }

    /// Injects `fault`; streams hear of it at once.
    pub fn inject(&self, fault: Fault) -> Result<FaultId, FaultError> {
        let mut live = self.lock();
        let id = live.engine.inject(fault)?;
        self.publish(live);
        Ok(id)
    }

    /// Reverts fault `id`; false if there is no such fault.
    pub fn revert(&self, id: FaultId) -> bool {
        let mut live = self.lock();
        let reverted = live.engine.revert(id);
        if reverted {
            self.publish(live);
        }
        reverted
    }

    /// The Chaos Monkey of the source shown: the simulation's, or the real system's.
    pub fn monkey(&self) -> MonkeySettings {
        let live = self.lock();
        match live.source {
            Source::Simulated => live.monkey_state(),
            Source::Observed => live.real_monkey.settings.clone(),
        }
    }

    /// Changes the real system's Chaos Monkey, all or nothing: it kills one instance
    /// (through its proxy) every `mean_interval_s` on average, for `down_s`.
    fn set_real_monkey(&self, change: MonkeyChange) -> Result<MonkeySettings, FaultError> {
        let mut live = self.lock();
        let mut settings = live.real_monkey.settings.clone();
        change.apply_to(&mut settings);
        if !(settings.mean_interval_s.is_finite()
            && settings.mean_interval_s >= simulator::fault::MIN_MONKEY_INTERVAL_S)
        {
            return Err(FaultError {
                path: "mean_interval_s".into(),
                message: format!(
                    "must be at least {} s, not {}",
                    simulator::fault::MIN_MONKEY_INTERVAL_S,
                    settings.mean_interval_s
                ),
            });
        }
        if !(settings.down_s.is_finite() && settings.down_s > 0.0 && settings.down_s <= 86_400.0) {
            return Err(FaultError {
                path: "down_s".into(),
                message: format!("must be from 0 to a day, not {}", settings.down_s),
            });
        }
        if settings.enabled {
            live.proxies
                .monkey_targets(&settings.services)
                .map_err(|refusal| FaultError {
                    path: refusal.path,
                    message: refusal.message,
                })?;
            if !live.real_monkey.settings.enabled {
                let now_s = live.proxies.now_s();
                let gap: f64 = live.real_monkey.rng.sample(rand_distr::Exp1);
                live.real_monkey.next_s = now_s + gap * settings.mean_interval_s;
            }
        }
        live.real_monkey.settings = settings.clone();
        tracing::info!(?settings, "the real system's Chaos Monkey changed");
        Ok(settings)
    }

    /// While the simulation is shown, a real experiment or Chaos Monkey still runs on the
    /// observed clock.
    fn drive_hidden_real(&self) {
        // Read the observed figures only when a second is to be judged or a strike due.
        let due = {
            let live = self.lock();
            let now_s = live.proxies.now_s();
            let judging = live.experiment.as_ref().is_some_and(|e| {
                e.experiment.is_running() && e.real.as_ref().is_some_and(|r| now_s >= r.next_s)
            });
            let striking = live.real_monkey.settings.enabled && now_s >= live.real_monkey.next_s;
            live.source == Source::Simulated && (judging || striking)
        };
        if !due {
            return;
        }
        let (tick, _) = self.observed.tick();
        let mut live = self.lock();
        live.observe_real(&tick);
        live.strike_real(tick.t);
    }

    /// Switches the Chaos Monkey or changes its settings, all or nothing.
    pub fn set_monkey(&self, change: MonkeyChange) -> Result<MonkeySettings, FaultError> {
        if self.source() == Source::Observed {
            return self.set_real_monkey(change);
        }
        let mut live = self.lock();
        let mut settings = live.monkey_state();
        change.apply_to(&mut settings);
        let settings = live.set_monkey(settings)?;
        self.publish(live);
        Ok(settings)
    }

    /// Starts `plan` now; one experiment runs at a time.
    pub fn start_experiment(&self, plan: Plan) -> Result<ExperimentSummary, ExperimentError> {
        let mut live = self.lock();
        if let Some(running) = live.running_experiment() {
            return Err(ExperimentError::Conflict(format!(
                "experiment {} ('{}') is running: stop it first (POST /api/experiments/{}/stop)",
                running.id,
                running.experiment.plan().name,
                running.id
            )));
        }
        let (experiment, real) = if live.source == Source::Observed {
            // The real system: judged on what is observed, its faults through the proxies.
            drop(live);
            let topology = self.observed.topology();
            let now_s = self.observed.proxies().now_s();
            let experiment = Experiment::observing(plan, &topology, secs(now_s))?;
            let mut fault_ids = Vec::new();
            for (i, fault) in experiment.plan().faults.iter().enumerate() {
                let scheduled = Fault {
                    at_s: Some(now_s + fault.at_s.unwrap_or(0.0)),
                    ..fault.clone()
                };
                match self.observed.proxies().inject(scheduled) {
                    Ok(id) => fault_ids.push(id),
                    Err(refusal) => {
                        for id in fault_ids {
                            self.observed.proxies().revert(id);
                        }
                        return Err(ExperimentError::Invalid(PlanError {
                            path: format!("faults[{i}].{}", refusal.path),
                            message: refusal.message,
                        }));
                    }
                }
            }
            live = self.lock();
            if let Some(running) = live.running_experiment() {
                let message = format!(
                    "experiment {} ('{}') started meanwhile",
                    running.id,
                    running.experiment.plan().name
                );
                for id in fault_ids {
                    self.observed.proxies().revert(id);
                }
                return Err(ExperimentError::Conflict(message));
            }
            let real = RealRun {
                fault_ids,
                next_s: now_s.floor() + 1.0,
            };
            (experiment, Some(real))
        } else {
            let seed = live.seed;
            (Experiment::start(&mut live.engine, plan, seed)?, None)
        };
        live.last_experiment_id += 1;
        let started = LiveExperiment {
            id: live.last_experiment_id,
            started_at: unix_now(),
            experiment,
            real,
        };
        let summary = started.summary();
        tracing::info!(id = summary.id, name = %summary.name, hypothesis = %summary.hypothesis_text, "experiment started");
        live.experiment = Some(started);
        live.changes.push(Change::Experiment(summary.clone()));
        self.publish(live);
        Ok(summary)
    }

    /// Stops experiment `id` if it is running; its report, verdict `stopped`.
    pub fn stop_experiment(&self, id: u64) -> Result<StoredExperiment, ExperimentError> {
        let mut live = self.lock();
        let Some(current) = live.experiment.as_ref().filter(|e| e.id == id) else {
            return Err(ExperimentError::NotFound(id));
        };
        if !current.experiment.is_running() {
            return Err(ExperimentError::Conflict(format!(
                "experiment {id} has already ended ({})",
                current.experiment.verdict().as_str()
            )));
        }
        live.stop_experiment("stopped by request");
        let stored = live.experiment.as_ref().map(LiveExperiment::stored);
        self.publish(live);
        Ok(stored.expect("just stopped"))
    }

    /// The report of experiment `id` if it is the session's (running or the last to end).
    pub fn experiment(&self, id: u64) -> Option<StoredExperiment> {
        let live = self.lock();
        live.experiment
            .as_ref()
            .filter(|e| e.id == id)
            .map(LiveExperiment::stored)
    }

    /// The session's experiment (running or the last to end), in brief.
    pub fn current_experiment(&self) -> Option<ExperimentSummary> {
        self.lock().experiment.as_ref().map(LiveExperiment::summary)
    }

    /// Each client's current view of `service`'s instances; `None` for no such service.
    pub fn routing_table(&self, service: &str) -> Option<simulator::engine::RoutingTable> {
        let live = self.lock();
        let index = live
            .engine
            .topology()
            .services
            .iter()
            .position(|s| s.name == service)?;
        Some(live.engine.routing_table(index))
    }

    /// The live run so far, to replay or export.
    pub fn recording(&self) -> Recording {
        self.lock().engine.recording()
    }

    /// Run `id` (`live` or a loaded one's number), if there is one; without the epochs'
    /// drawings unless `with_epochs` (a viewer polling for the range needs none).
    pub fn run(&self, id: &str, with_epochs: bool) -> Option<RunInfo> {
        if id == "live" {
            return Some(self.lock().run_info(with_epochs));
        }
        if id == crate::observed::RUN_ID {
            return Some(self.observed.run_info(with_epochs));
        }
        let runs = self.loaded_runs();
        let id: u64 = id.parse().ok()?;
        runs.runs.iter().find(|r| r.id == id).map(|r| RunInfo {
            epochs: if with_epochs {
                r.epochs.clone()
            } else {
                Vec::new()
            },
            ..r.brief.clone()
        })
    }

    /// The recording of a loaded run (the live one's is [`Session::recording`]).
    pub fn loaded_recording(&self, id: &str) -> Option<Recording> {
        let id: u64 = id.parse().ok()?;
        let runs = self.loaded_runs();
        runs.runs
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.recording.clone())
    }

    /// The frame of run `id` at the end of simulated second `t`; `Err` says which seconds
    /// there are (`None` for no such run).
    pub fn frame(&self, id: &str, t: u64) -> Option<Result<Tick, KeptSeconds>> {
        let pick = |frames: &Frames| frames.at(t).cloned().ok_or((frames.first(), frames.last()));
        if id == "live" {
            return Some(pick(&self.lock().frames));
        }
        if id == crate::observed::RUN_ID {
            return Some(self.observed.frame(t));
        }
        let id: u64 = id.parse().ok()?;
        let runs = self.loaded_runs();
        runs.runs
            .iter()
            .find(|r| r.id == id)
            .map(|r| pick(&r.frames))
    }

    /// Replays `recording` (slow: it simulates the whole run again; call it off the async
    /// runtime) and keeps it for viewing.
    pub fn load_run(&self, recording: Recording) -> Result<RunInfo, ReplayError> {
        let capacity = recording
            .epochs()
            .iter()
            .map(|(_, topology)| Frames::capacity_for(topology, FRAME_BUDGET))
            .min()
            .unwrap_or(60);
        let replayed = replay::replay(&recording, capacity)?;
        let mut runs = self.loaded_runs();
        runs.last_id += 1;
        let id = runs.last_id;
        let mut info = run_info(
            &id.to_string(),
            &recording,
            recording.end_ns,
            &replayed.frames,
            replayed.epochs,
        );
        let epochs = std::mem::take(&mut info.epochs);
        runs.runs.push(LoadedRun {
            id,
            brief: info.clone(),
            epochs: epochs.clone(),
            recording,
            frames: replayed.frames,
        });
        info.epochs = epochs;
        if runs.runs.len() > LOADED_RUNS {
            runs.runs.remove(0);
        }
        Ok(info)
    }

    fn loaded_runs(&self) -> MutexGuard<'_, LoadedRuns> {
        self.runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Opens the live routing comparison (afresh if open).
    pub fn start_compare(&self) -> CompareView {
        let mut live = self.lock();
        live.start_compare();
        let view = live.compare.as_ref().map(Lockstep::view);
        self.publish(live);
        view.expect("just started")
    }

    /// Closes the comparison; false if none was open.
    pub fn stop_compare(&self) -> bool {
        self.lock().compare.take().is_some()
    }

    pub fn compare(&self) -> Option<CompareView> {
        self.lock().compare.as_ref().map(Lockstep::view)
    }

    /// "Model this": runs the observed system's model (as estimated from its spans now)
    /// beside it from now on, afresh if it ran already.
    pub fn start_twin(&self) -> Result<TwinView, TwinError> {
        if self.source() != Source::Observed {
            return Err(TwinError::NotObserved);
        }
        if self.observed.prometheus().is_some() {
            return Err(TwinError::NoSpans);
        }
        let (model, _) = self.observed.model_topology();
        if model.services.iter().all(|s| !s.is_entry()) {
            return Err(TwinError::NoModel);
        }
        let mut live = self.lock();
        // Switched meanwhile: a twin now would never advance.
        if live.source != Source::Observed {
            return Err(TwinError::NotObserved);
        }
        let mut twin = Twin::start(model, live.seed, live.proxies.now_s(), COMPARE_SLO);
        twin.mirror_faults(&live.proxies.records());
        let view = twin.view();
        live.twin = Some(twin);
        Ok(view)
    }

    /// Stops running the model beside the real system; false if it was not.
    pub fn stop_twin(&self) -> bool {
        self.lock().twin.take().is_some()
    }

    pub fn twin(&self) -> Option<TwinView> {
        self.lock().twin.as_ref().map(Twin::view)
    }

    /// The model the twin runs, if it runs.
    pub fn twin_topology(&self) -> Option<Topology> {
        self.lock()
            .twin
            .as_ref()
            .map(|twin| twin.topology().clone())
    }

    /// The resilience report of the model the twin runs (cached as the live one is), if it
    /// runs. Blocks for as long as making it takes: call off the runtime.
    pub fn twin_report(&self) -> Option<Arc<ResilienceReport>> {
        let (topology, seed) = {
            let live = self.lock();
            (live.twin.as_ref()?.topology().clone(), live.seed)
        };
        Some(self.report_of(topology, seed))
    }

    pub fn faults(&self) -> Vec<FaultRecord> {
        self.lock()
            .engine
            .faults()
            .map(FaultRecord::from_active)
            .collect()
    }
}

/// What a viewer needs to scrub through a run: its seed, length, frames kept and the
/// topology as drawn at each of `epochs` (none: the range alone).
fn run_info(
    id: &str,
    recording: &Recording,
    end_ns: u64,
    frames: &Frames,
    epochs: Vec<(u64, Topology)>,
) -> RunInfo {
    RunInfo {
        id: id.to_string(),
        seed: recording.seed,
        duration_s: end_ns as f64 / NANOS_PER_SEC,
        first_s: frames.first(),
        last_s: frames.last(),
        controls: recording.controls.len(),
        epochs: epochs
            .into_iter()
            .map(|(from, topology)| epoch(from as f64 / NANOS_PER_SEC, topology))
            .collect(),
    }
}

/// The topology in force from `from_s` on, drawn: its layout and analysis.
fn epoch(from_s: f64, topology: Topology) -> Epoch {
    Epoch {
        from_s,
        positions: layout::layered(&topology),
        analysis: analysis::analyze(&topology).affected_only(),
        topology,
    }
}

/// The first and last seconds a run has frames for (none before its first second ends).
pub type KeptSeconds = (Option<u64>, Option<u64>);

/// Runs loaded from recordings, newest last.
#[derive(Default)]
pub struct LoadedRuns {
    runs: Vec<LoadedRun>,
    last_id: u64,
}

struct LoadedRun {
    id: u64,
    /// Its `RunInfo` without the epochs, which are kept beside it.
    brief: RunInfo,
    epochs: Vec<Epoch>,
    recording: Recording,
    frames: Frames,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
