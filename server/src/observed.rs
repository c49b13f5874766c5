//! The observed session (SPEC "The observed session — Contract"): spans received over
//! OTLP/HTTP go through a bounded queue to a thread of their own that feeds the pure
//! [`tracegraph::Graph`]; the session's ticker reads figures and the topology from it at
//! every tick. Ingest never holds up the simulation or the event streams: a decode waits
//! for one of a few permits, and a full queue answers 429 with `Retry-After` instead of
//! growing.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use simulator::analysis::Analysis;
use simulator::layout;
use simulator::replay::Frames;
use simulator::topology::Topology;
use simulator::wire::{RunInfo, Snapshot, Tick};
use tracegraph::edges::EdgeFigures;
use tracegraph::{Batch, Config, Graph, Stats};

use crate::otlp::{self, Refusal};
use crate::prometheus::PrometheusSource;

/// Spans received but not yet in the graph; an export that would pass this waits (429).
pub const MAX_QUEUED_SPANS: usize = 250_000;

/// Export requests decoded at once.
const DECODE_PERMITS: usize = 2;

/// Export requests that may wait for a decode permit; beyond, 503.
const MAX_WAITING: usize = 64;

pub use tracegraph::graph::TOPOLOGY_NAME;

/// The id of the observed run under `/api/runs`.
pub const RUN_ID: &str = "observed";

/// The name of the model estimated from the observed system's spans.
pub const MODEL_NAME: &str = "observed-model";

/// How the ingest has gone, for `/metrics`, `GET /api/observed` and the tests.
#[derive(Default)]
pub struct IngestStats {
    pub requests: AtomicU64,
    pub spans_accepted: AtomicU64,
    /// Spans of accepted requests that could not be used (`partialSuccess`).
    pub spans_rejected: AtomicU64,
    /// Requests refused because ingest was behind (429 and 503).
    pub refused_busy: AtomicU64,
    /// Requests refused as malformed, too large or of another content type.
    pub refused_invalid: AtomicU64,
}

/// One export waiting for a decode permit, counted while it lives.
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// How many were waiting before this one.
    ahead: usize,
}

impl Waiting<'_> {
    fn count(count: &AtomicUsize) -> Waiting<'_> {
        let ahead = count.fetch_add(1, Ordering::Relaxed);
        Waiting { count, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Queued {
    batch: Batch,
    arrived_ns: u64,
    spans: usize,
}

struct Inner {
    graph: Mutex<Graph>,
    /// The system as a simulator topology, estimated from the same spans.
    model: Mutex<tracegraph::model::Model>,
    queue: mpsc::SyncSender<Queued>,
    queued_spans: AtomicUsize,
    max_queued_spans: usize,
    decoding: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    /// Positions a person pinned on the observed graph, and how often they changed.
    pins: Mutex<(u64, BTreeMap<String, [f64; 2]>)>,
    /// Unix nanoseconds the observed session started at (its `t` counts from here).
    started_ns: u64,
    /// The version the last tick read.
    version: AtomicU64,
    /// The lag the figures of the last tick read wait for (nanoseconds).
    lag_ns: AtomicU64,
    /// The graph as Prometheus last told it, when `--prometheus` is the source.
    edges: Mutex<Option<Edges>>,
    /// Per-second frames and the topology as drawn from each moment, to scrub back.
    history: Mutex<History>,
    stats: IngestStats,
    /// The fault proxies in front of the real system's parts.
    proxies: crate::proxy::Proxies,
}

/// No predicted blast radius for an observed system yet: the graph from its traces says
/// which services call which, not which calls their callers can do without (every link
/// would read `required`, and nearly every service a single point of failure). That takes
/// a model estimated from the failures seen, which is not built yet.
fn unestimated(topology: &Topology) -> Analysis {
    Analysis {
        entries: topology
            .services
            .iter()
            .filter(|s| s.is_entry())
            .map(|s| s.name.clone())
            .collect(),
        spof: Vec::new(),
        blast_radius: BTreeMap::new(),
        method: "not estimated for an observed system".to_string(),
    }
}

/// What a viewer scrubs back through (`GET /api/runs/observed`).
struct History {
    /// One frame per whole second since the observed session started (the live second's
    /// figures at that moment), as many as [`FRAME_BUDGET`] figures allow.
    frames: Frames,
    /// `(second, version, topology)`: the topology drawn from that second on.
    epochs: VecDeque<(u64, u64, Topology)>,
}

/// Figures the observed frames may hold in all (as the simulation's run keeps).
const FRAME_BUDGET: usize = 150_000;

/// Drawings kept for scrubbing back; older ones are dropped with their frames' seconds.
const MAX_EPOCHS: usize = 64;

/// The last answer of the Prometheus source.
#[derive(Default)]
struct Edges {
    figures: Vec<EdgeFigures>,
    /// Bumped when the services, entries or links read change.
    version: u64,
    shape: tracegraph::edges::Shape,
    polls: u64,
    /// Why the last poll failed (the figures of the one before stay).
    error: Option<String>,
    url: String,
}

/// How the Prometheus source is going, for `GET /api/observed`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PrometheusState {
    pub url: String,
    pub polls: u64,
    pub links: usize,
    pub error: Option<String>,
}

/// A cheap, clonable handle on the observed system.
#[derive(Clone)]
pub struct Observed {
    inner: Arc<Inner>,
}

/// Unix time now in nanoseconds: the arrival time of spans and the clock of ticks.
pub fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Observed {
    /// Starts the ingest thread of a graph configured by `config`.
    pub fn start(config: Config) -> Observed {
        Observed::with_queue(config, MAX_QUEUED_SPANS)
    }

    /// [`Observed::start`] with room for `max_queued_spans` received spans not yet in the
    /// graph (exports past it are answered 429).
    pub fn with_queue(config: Config, max_queued_spans: usize) -> Observed {
        // The queue is bounded in spans (below); in requests only as a backstop.
        let (queue, batches) = mpsc::sync_channel::<Queued>(4096);
        let started_ns = unix_now_ns();
        let observed = Observed {
            inner: Arc::new(Inner {
                graph: Mutex::new(Graph::new(config)),
                model: Mutex::new(tracegraph::model::Model::new(Default::default())),
                queue,
                queued_spans: AtomicUsize::new(0),
                max_queued_spans,
                decoding: tokio::sync::Semaphore::new(DECODE_PERMITS),
                waiting: AtomicUsize::new(0),
                pins: Mutex::default(),
                started_ns,
                version: AtomicU64::new(0),
                lag_ns: AtomicU64::new(0),
                edges: Mutex::default(),
                history: Mutex::new(History {
                    frames: Frames::new(20),
                    epochs: VecDeque::new(),
                }),
                stats: IngestStats::default(),
                proxies: crate::proxy::Proxies::new(started_ns),
            }),
        };
        let ingest = observed.clone();
        std::thread::Builder::new()
            .name("span-ingest".into())
            .spawn(move || {
                for queued in batches {
                    ingest.graph().ingest(&queued.batch, queued.arrived_ns);
                    ingest.model().ingest(&queued.batch, queued.arrived_ns);
                    ingest
                        .inner
                        .queued_spans
                        .fetch_sub(queued.spans, Ordering::Relaxed);
                }
            })
            .expect("spawning the span ingest thread");
        observed
    }

    fn model(&self) -> MutexGuard<'_, tracegraph::model::Model> {
        self.inner
            .model
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The observed system as a simulator topology estimated from its spans so far, and
    /// what each estimate rests on.
    pub fn model_topology(&self) -> (Topology, tracegraph::model::ModelEvidence) {
        let mut model = self.model();
        model.advance(unix_now_ns());
        model.topology(MODEL_NAME)
    }

    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.inner
            .graph
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The fault proxies that break the real system.
    pub fn proxies(&self) -> &crate::proxy::Proxies {
        &self.inner.proxies
    }

    pub fn stats(&self) -> &IngestStats {
        &self.inner.stats
    }

    /// What the graph itself has counted.
    pub fn graph_stats(&self) -> Stats {
        self.graph().stats().clone()
    }

    /// The lag the figures wait for, and the spans waiting for a partner.
    pub fn lag_and_waiting(&self) -> (u64, usize) {
        let graph = self.graph();
        (graph.lag_ns(), graph.waiting())
    }

    pub fn queued_spans(&self) -> usize {
        self.inner.queued_spans.load(Ordering::Relaxed)
    }

    /// `POST /v1/traces`: decodes, queues and answers as the OTLP spec says.
    pub async fn receive(&self, headers: &HeaderMap, body: &Bytes) -> Response {
        let inner = &self.inner;
        inner.stats.requests.fetch_add(1, Ordering::Relaxed);
        let arrived_ns = unix_now_ns();
        let encoding = match otlp::encoding(headers) {
            Ok(encoding) => encoding,
            Err(refusal) => {
                inner.stats.refused_invalid.fetch_add(1, Ordering::Relaxed);
                return refusal.into_response();
            }
        };
        // Counted out on drop too: a client that hangs up while waiting leaves no count.
        let waiting = Waiting::count(&inner.waiting);
        if waiting.ahead >= MAX_WAITING {
            return self.busy(Refusal::busy(
                StatusCode::SERVICE_UNAVAILABLE,
                encoding,
                "too many exports are being decoded: retry later",
                1,
            ));
        }
        let permit = inner.decoding.acquire().await;
        drop(waiting);
        let Ok(_permit) = permit else {
            return self.busy(Refusal::busy(
                StatusCode::SERVICE_UNAVAILABLE,
                encoding,
                "the receiver is shutting down",
                1,
            ));
        };
        let request = match otlp::decode(headers, body, encoding) {
            Ok(request) => request,
            Err(refusal) => {
                inner.stats.refused_invalid.fetch_add(1, Ordering::Relaxed);
                return refusal.into_response();
            }
        };
        let (batch, rejected, why) = otlp::to_batch(&request);
        drop(request);
        let spans = batch.span_count();
        if spans > 0 && !self.enqueue(batch, arrived_ns, spans) {
            return self.busy(Refusal::busy(
                StatusCode::TOO_MANY_REQUESTS,
                encoding,
                "the span queue is full: retry later",
                1,
            ));
        }
        inner
            .stats
            .spans_accepted
            .fetch_add(spans as u64, Ordering::Relaxed);
        inner
            .stats
            .spans_rejected
            .fetch_add(rejected, Ordering::Relaxed);
        otlp::accepted(encoding, rejected, why)
    }

    /// Hands `batch` to the ingest thread; false, taking nothing, if the queue is full.
    fn enqueue(&self, batch: Batch, arrived_ns: u64, spans: usize) -> bool {
        let inner = &self.inner;
        let queued = inner.queued_spans.fetch_add(spans, Ordering::Relaxed);
        let sent = queued + spans <= inner.max_queued_spans
            && inner
                .queue
                .try_send(Queued {
                    batch,
                    arrived_ns,
                    spans,
                })
                .is_ok();
        if !sent {
            inner.queued_spans.fetch_sub(spans, Ordering::Relaxed);
        }
        sent
    }

    fn busy(&self, refusal: Refusal) -> Response {
        self.inner
            .stats
            .refused_busy
            .fetch_add(1, Ordering::Relaxed);
        refusal.into_response()
    }

    /// Moves the graph's clock to now and reads its figures, with the version of what it
    /// draws (bumped by every new service, link, instance or pin).
    pub fn tick(&self) -> (Tick, u64) {
        let now = unix_now_ns();
        self.model().advance(now);
        let (mut tick, version) = self.read(now);
        tick.faults = self.inner.proxies.records();
        self.keep_frame(&tick, version);
        (tick, version)
    }

    /// Moves the graph's clock to now without reading its figures (while the simulation is
    /// shown), but at each whole second: spans whose wait is over are decided, what has
    /// gone quiet is forgotten, and the run's frames go on.
    pub fn advance(&self) {
        let now = unix_now_ns();
        self.model().advance(now);
        let second = self.second(now);
        let due = self
            .history()
            .frames
            .last()
            .is_none_or(|last| second > last);
        if due {
            let (tick, version) = self.read(now);
            self.keep_frame(&tick, version);
        } else {
            self.graph().advance(now);
        }
    }

    /// Whole seconds since the observed session started, at `now`.
    fn second(&self, now: u64) -> u64 {
        now.saturating_sub(self.inner.started_ns) / 1_000_000_000
    }

    fn history(&self) -> MutexGuard<'_, History> {
        self.inner
            .history
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// At the first tick of each whole second, keeps its figures as that second's frame,
    /// and the topology when it changed.
    fn keep_frame(&self, tick: &Tick, version: u64) {
        let second = tick.t.floor() as u64;
        if second == 0
            || self
                .history()
                .frames
                .last()
                .is_some_and(|last| second <= last)
        {
            return;
        }
        let redrawn = self
            .history()
            .epochs
            .back()
            .is_none_or(|(_, drawn, _)| *drawn != version);
        let topology = redrawn.then(|| self.topology());
        let mut history = self.history();
        if let Some(topology) = topology {
            let capacity = Frames::capacity_for(&topology, FRAME_BUDGET);
            history.frames.set_capacity(capacity);
            history.epochs.push_back((second, version, topology));
        }
        history.frames.push(Tick {
            t: second as f64,
            ..tick.clone()
        });
        // Drawings no kept frame needs any more (the first kept one's stays), and a cap.
        let first = history.frames.first().unwrap_or(second);
        while history.epochs.len() > MAX_EPOCHS
            || history
                .epochs
                .get(1)
                .is_some_and(|(from, _, _)| *from <= first)
        {
            history.epochs.pop_front();
        }
    }

    /// The observed run, to scrub back through: its frames' range and, if asked, the
    /// drawings (each with its layout and analysis, made now).
    pub fn run_info(&self, with_epochs: bool) -> RunInfo {
        let history = self.history();
        let epochs: Vec<(f64, Topology)> = if with_epochs {
            history
                .epochs
                .iter()
                .map(|(from, _, topology)| (*from as f64, topology.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let info = RunInfo {
            id: RUN_ID.to_string(),
            seed: 0,
            duration_s: unix_now_ns().saturating_sub(self.inner.started_ns) as f64 / 1e9,
            first_s: history.frames.first(),
            last_s: history.frames.last(),
            // Bumped by each new drawing: a viewer refetches the epochs when it moves.
            controls: history
                .epochs
                .back()
                .map_or(0, |(_, version, _)| *version as usize),
            epochs: Vec::new(),
        };
        drop(history);
        RunInfo {
            epochs: epochs
                .into_iter()
                .map(|(from_s, topology)| simulator::wire::Epoch {
                    from_s,
                    positions: layout::layered(&topology),
                    analysis: unestimated(&topology),
                    topology,
                })
                .collect(),
            ..info
        }
    }

    /// The frame of whole second `t`, or the seconds there are.
    pub fn frame(&self, t: u64) -> Result<Tick, (Option<u64>, Option<u64>)> {
        let history = self.history();
        history
            .frames
            .at(t)
            .cloned()
            .ok_or((history.frames.first(), history.frames.last()))
    }

    /// Reads the figures now, from Prometheus or the graph, with the version they draw.
    fn read(&self, now: u64) -> (Tick, u64) {
        let t = now.saturating_sub(self.inner.started_ns) as f64 / 1e9;
        let mut graph = self.graph();
        graph.advance(now);
        let from_edges = self
            .edges()
            .as_ref()
            .map(|edges| (tracegraph::edges::graph(&edges.figures, t).1, edges.version));
        let (tick, version) = match from_edges {
            Some((tick, version)) => (tick, graph.version() + version),
            None => (graph.tick(t), graph.version()),
        };
        self.inner.lag_ns.store(graph.lag_ns(), Ordering::Relaxed);
        drop(graph);
        let version = version + self.pins().0;
        self.inner.version.store(version, Ordering::Relaxed);
        (tick, version)
    }

    /// Seconds the figures of the last tick read wait for the exporters.
    pub fn last_lag_s(&self) -> f64 {
        self.inner.lag_ns.load(Ordering::Relaxed) as f64 / 1e9
    }

    /// The version the last tick read.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Relaxed)
    }

    fn edges(&self) -> MutexGuard<'_, Option<Edges>> {
        self.inner
            .edges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reads the graph from `source` every `source.interval` from now on, instead of the
    /// spans received (which still arrive, and count, unseen). Call on a tokio runtime.
    pub fn follow_prometheus(&self, source: PrometheusSource) {
        *self.edges() = Some(Edges {
            url: source.url.clone(),
            ..Edges::default()
        });
        let observed = self.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("a plain HTTP client builds");
            let mut every = tokio::time::interval(source.interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let read = source.read(&client).await;
                if let Err(err) = &read {
                    tracing::warn!(%err, "cannot read the graph from Prometheus");
                }
                observed.set_edges(read);
            }
        });
    }

    /// Takes one answer of the Prometheus source: the figures, or why there are none.
    fn set_edges(&self, read: Result<Vec<EdgeFigures>, String>) {
        let mut edges = self.edges();
        let Some(edges) = edges.as_mut() else { return };
        edges.polls += 1;
        match read {
            Ok(figures) => {
                let shape = tracegraph::edges::shape(&tracegraph::edges::graph(&figures, 0.0).0);
                if shape != edges.shape {
                    edges.shape = shape;
                    edges.version += 1;
                }
                edges.figures = figures;
                edges.error = None;
            }
            Err(err) => edges.error = Some(err),
        }
    }

    /// How the Prometheus source is going; `None` without one.
    pub fn prometheus(&self) -> Option<PrometheusState> {
        self.edges().as_ref().map(|edges| PrometheusState {
            url: edges.url.clone(),
            polls: edges.polls,
            links: edges.figures.len(),
            error: edges.error.clone(),
        })
    }

    fn pins(&self) -> MutexGuard<'_, (u64, BTreeMap<String, [f64; 2]>)> {
        self.inner
            .pins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The system as seen so far, in the topology file format, with its pinned positions.
    pub fn topology(&self) -> Topology {
        let from_edges = self
            .edges()
            .as_ref()
            .map(|edges| tracegraph::edges::graph(&edges.figures, 0.0).0);
        let mut topology = from_edges.unwrap_or_else(|| self.graph().topology(TOPOLOGY_NAME));
        let pins = self.pins();
        topology.layout = pins
            .1
            .iter()
            .filter(|(name, _)| topology.service(name).is_some())
            .map(|(name, at)| (name.clone(), *at))
            .collect();
        topology
    }

    /// Pins services of the observed graph where a person placed them (replaced whole).
    pub fn set_layout(&self, layout: BTreeMap<String, [f64; 2]>) {
        let mut pins = self.pins();
        pins.0 += 1;
        pins.1 = layout;
    }

    /// Everything a new viewer needs, and the version it shows.
    pub fn snapshot(&self) -> (Snapshot, u64) {
        let (state, version) = self.tick();
        let topology = self.topology();
        let analysis = unestimated(&topology);
        let snapshot = Snapshot {
            positions: layout::layered(&topology),
            analysis,
            topology,
            state,
            observed: true,
        };
        (snapshot, version)
    }
}
