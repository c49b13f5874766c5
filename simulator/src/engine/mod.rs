//! The discrete-event engine (SPEC "Request semantics", "Routing modes", "Faults").
//!
//! Instances have `concurrency` slots and a bounded FIFO queue; outside clients send
//! Poisson arrivals to entry points; a request does its own work, then calls its
//! dependencies in parallel (fractional `calls`, optional calls, never a service already on
//! its call path), holding its slot until every call has returned. Calls add latency, time
//! out, retry with backoff, pass circuit breakers, and find an instance through the routing
//! mode: cached DNS answers, the central load balancer, or smart clients' routing tables fed
//! by the registry. Every fault kind of SPEC is applied and reverted while running.
//!
//! Outside requests are calls too — from the entry's clients, with no latency, a
//! [`OUTSIDE_TIMEOUT_S`] timeout and no retries — so every request ends exactly once.

mod breaker;
mod routing;
mod view;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use petgraph::algo::tarjan_scc;
use petgraph::graph::DiGraph;
use rand::{Rng, SeedableRng};
use rand_distr::Exp1;
use rand_pcg::Pcg64Mcg;

pub use breaker::BreakerState;
use breaker::{Admission, CircuitBreaker};
use routing::{Channel, Router};
pub use view::{ClientView, RoutingTable};

use crate::fault::{Fault, FaultError, FaultKind};
use crate::measure::{LatencyLog, Window};
use crate::queue::{Lane, NANOS_PER_SEC, Nanos, Schedule, millis, round_to_nanos, secs};
use crate::replay::{Action, Control, Recording};
use crate::topology::{Balancer, RoutingMode, ServiceTimeDist, Topology};

/// Identifies an injected fault for its whole life (listing and reverting).
pub type FaultId = u64;

/// How long outside clients wait for an answer before counting the request as failed.
pub const OUTSIDE_TIMEOUT_S: f64 = 10.0;
const OUTSIDE_TIMEOUT: Nanos = OUTSIDE_TIMEOUT_S as Nanos * 1_000_000_000;

type JobId = u32;
type CallId = u32;

/// The routing infrastructure components, by index.
pub const COMPONENTS: [&str; 3] = ["dns", "lb", "registry"];
const DNS: usize = 0;
const LB: usize = 1;
const REGISTRY: usize = 2;

/// Where a fault stands in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultState {
    /// Waits for its `at_s`.
    Pending,
    Active,
}

/// A fault injected into the engine, with its id and simulated start time.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveFault {
    pub id: FaultId,
    pub fault: Fault,
    pub state: FaultState,
    pub start: Nanos,
    /// Instances a `monkey` fault has killed and not yet revived: `(service, instance)`.
    pub victims: Vec<(usize, usize)>,
}

/// Whether an instance or component answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Up,
    /// Killed: refuses connections.
    Down,
    /// Hung: accepts and never answers.
    Hung,
}

impl Liveness {
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Up => "up",
            Liveness::Down => "down",
            Liveness::Hung => "hung",
        }
    }
}

/// A service compiled for the hot loop: plain numbers and indices, no names, in one cache
/// line (a 1,000-service run misses the cache at almost every service it touches).
#[repr(align(64))]
struct ServiceModel {
    concurrency: u32,
    queue_limit: u32,
    mean_work_ns: f64,
    error_rate: f64,
    ingress_rps: f64,
    /// Where the calls this service makes are in `Engine::call_list`: `first_call..end_call`.
    first_call: u32,
    end_call: u32,
    /// The number of its first instance in `Engine::instances` (instances are numbered
    /// across services, in service order).
    first_instance: u32,
    /// Its busy slots, all instances together.
    busy_slots: u32,
    /// Its index among entry points and the channel of its outside clients, if outside
    /// clients call it.
    entry: Option<(u32, Channel)>,
    dist: ServiceTimeDist,
}

const _: () = assert!(std::mem::size_of::<ServiceModel>() == 64);

/// A dependency as every call over it needs it — its model, the effects of active faults,
/// its breaker and this window's count of calls — in one cache line (a 1,000-service run
/// misses the cache at almost every dependency it calls over).
#[repr(align(64))]
struct DependencyModel {
    to: u32,
    /// The channel of the caller's first instance; instance `i` uses `first_channel + i`.
    first_channel: Channel,
    whole_calls: u32,
    /// The schedule's lane for this dependency's timeouts.
    timeout_lane: Lane,
    extra_call_chance: f64,
    /// One-way latency: the dependency's own plus that of latency faults.
    half_latency: Nanos,
    /// The chance that an errors fault on the link fails a call.
    errors: f64,
    breaker: Option<Box<CircuitBreaker>>,
    /// Calls in this window, moved to the window's link counters when it is cut.
    calls: u64,
    /// Whether the callee can call the caller back, directly or not: only then can it be on
    /// the caller's call path already.
    may_loop: bool,
    partitioned: bool,
}

const _: () = assert!(std::mem::size_of::<DependencyModel>() == 64);

/// What only a failed call (or a change of faults) needs of a dependency.
struct DependencyTerms {
    required: bool,
    retries: u32,
    backoff: Nanos,
    /// Its own one-way latency, before latency faults.
    half_latency: Nanos,
}

/// The effects of active faults on one instance.
#[derive(Clone, Copy, PartialEq)]
struct InstanceFaults {
    down: bool,
    hung: bool,
    slow: f64,
    extra_latency: Nanos,
    errors: f64,
}

impl Default for InstanceFaults {
    fn default() -> Self {
        InstanceFaults {
            down: false,
            hung: false,
            slow: 1.0,
            extra_latency: 0,
            errors: 0.0,
        }
    }
}

struct Instance {
    busy: u32,
    waiting: VecDeque<JobId>,
    /// Bumped by every kill, so work started before it is recognised as lost.
    epoch: u32,
    faults: InstanceFaults,
}

impl Instance {
    fn liveness(&self) -> Liveness {
        match (self.faults.down, self.faults.hung) {
            (true, _) => Liveness::Down,
            (false, true) => Liveness::Hung,
            (false, false) => Liveness::Up,
        }
    }
}

/// The token of a call with no attempt in flight: tokens count up from 0 and never reach it.
const NO_ATTEMPT: u64 = u64::MAX;

type PathId = u32;
const NO_PATH: PathId = PathId::MAX;

/// One step of a request's path through the services, linked to the step before it.
struct PathNode {
    service: u32,
    parent: PathId,
    /// Jobs and nodes holding this node.
    holders: u32,
}

/// Requests' paths through the services, newest step first: the jobs of one request share
/// the steps they have in common. Nodes are counted by their holders and reused once free,
/// so a call allocates nothing.
#[derive(Default)]
struct Paths {
    nodes: Vec<PathNode>,
    free: Vec<PathId>,
}

impl Paths {
    /// A path of `service` after `parent` (or alone, for `NO_PATH`), held once.
    fn extend(&mut self, parent: PathId, service: usize) -> PathId {
        if parent != NO_PATH {
            self.nodes[parent as usize].holders += 1;
        }
        let node = PathNode {
            service: service as u32,
            parent,
            holders: 1,
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as PathId
            }
        }
    }

    /// Whether `service` is on `path`.
    fn contains(&self, mut path: PathId, service: usize) -> bool {
        while path != NO_PATH {
            let node = &self.nodes[path as usize];
            if node.service as usize == service {
                return true;
            }
            path = node.parent;
        }
        false
    }

    /// Lets go of one hold on `path`, freeing the steps no one holds any more.
    fn release(&mut self, mut path: PathId) {
        while path != NO_PATH {
            let node = &mut self.nodes[path as usize];
            node.holders -= 1;
            if node.holders > 0 {
                return;
            }
            self.free.push(path);
            path = node.parent;
        }
    }
}

/// One execution of a service at one instance, answering call attempt `token` of `call`.
#[derive(Clone, Copy)]
struct Job {
    service: u32,
    /// Its instance, counted within the service (as routing and channels count them) and
    /// across services (as `Engine::instances` does).
    instance: u32,
    number: u32,
    epoch: u32,
    call: CallId,
    token: u64,
    arrived: Nanos,
    /// Its service and those of the jobs waiting for it, held by this job.
    path: PathId,
    pending_calls: u32,
    failed: bool,
    /// Whether the job took a concurrency slot (it started its work).
    holds_slot: bool,
}

/// One logical call with its retries: from a job over a dependency, or from outside.
#[derive(Clone, Copy)]
struct Call {
    /// The job waiting for it; `None` for an outside request.
    job: Option<JobId>,
    /// The dependency it goes over; `None` for an outside request.
    dependency: Option<u32>,
    to: u32,
    /// The caller's channel to `to`.
    channel: Channel,
    attempt: u32,
    /// Identifies the attempt in flight; answers to older attempts are ignored.
    /// [`NO_ATTEMPT`] during a backoff and once the call has ended.
    token: u64,
    started: Nanos,
    admission: Admission,
    /// Instance the attempt in flight went to.
    target: Option<u32>,
    /// Whether the attempt in flight went through the load balancer.
    via_lb: bool,
}

/// 16 bytes: ids are `u32`, so the queues move little memory.
#[derive(Clone, Copy)]
enum Event {
    Ingress {
        service: u32,
    },
    Arrive {
        job: JobId,
    },
    WorkDone {
        job: JobId,
    },
    CallStart {
        call: CallId,
    },
    CallDone {
        call: CallId,
        token: u64,
        ok: bool,
    },
    Probe,
    RegistryExpire {
        service: u32,
        instance: u32,
        epoch: u32,
    },
    RegistryResync,
    Publish {
        service: u32,
        instance: u32,
        present: bool,
    },
    FaultStart {
        id: FaultId,
    },
    FaultEnd {
        id: FaultId,
    },
    MonkeyStrike {
        id: FaultId,
    },
    MonkeyRevive {
        id: FaultId,
        /// The instance to revive, numbered across services (see `Engine::instance_number`).
        victim: u32,
    },
}

const _: () = assert!(std::mem::size_of::<Event>() == 16);

/// What routing decided for one call attempt.
enum Route {
    /// Go to this instance, `extra` nanoseconds later each way (the load balancer's hop).
    Instance { instance: u32, extra: Nanos },
    /// Fails after `delay` (connection refused, no instance known, resolver down).
    Refused { delay: Nanos },
    /// Never answered: the caller times out (a hung router).
    Blackhole,
}

/// The simulation of one topology from one seed.
pub struct Engine {
    /// Shared with the recording until changed (layout, routing mode).
    topology: Arc<Topology>,
    services: Vec<ServiceModel>,
    dependencies: Vec<DependencyModel>,
    entries: Vec<usize>,
    /// Every instance, numbered across services (see `Engine::instance_number`): one
    /// vector, one lookup.
    instances: Vec<Instance>,
    terms: Vec<DependencyTerms>,
    components: [InstanceFaults; 3],
    mode: RoutingMode,
    router: Router,
    /// Each channel's round-robin position.
    cursors: Vec<usize>,
    /// Scratch list of instances a smart client may call while it has ejections.
    usable: Vec<u32>,
    /// Indices into `Topology::dependencies` of the calls each service makes, grouped by
    /// caller (see `ServiceModel::first_call`).
    call_list: Vec<u32>,
    lb_half_latency: Nanos,
    jobs: Slab<Job>,
    calls: Slab<Call>,
    /// Call paths, kept only if some service can call itself back (else no call is ever
    /// skipped for being on its path).
    paths: Paths,
    track_paths: bool,
    next_token: u64,
    schedule: Schedule<Event>,
    outside_timeout_lane: Lane,
    rng: Pcg64Mcg,
    now: Nanos,
    window: Window,
    /// Latencies of `window` not yet in its histograms.
    latencies: LatencyLog,
    faults: BTreeMap<FaultId, ActiveFault>,
    next_fault: FaultId,
    events: u64,
    hops: u64,
    /// Every control applied since time zero, so the run can be replayed exactly.
    recording: Recording,
}

impl Engine {
    /// Starts a simulation of `topology` (already validated) at time zero.
    pub fn new(topology: impl Into<Arc<Topology>>, seed: u64) -> Engine {
        Engine::starting_at(topology.into(), seed, 0)
    }

    /// The run so far: its seed, starting topology and every control applied, with when.
    pub fn recording(&self) -> Recording {
        Recording {
            end_ns: self.now,
            ..self.recording.clone()
        }
    }

    /// [`Engine::recording`] without copying it; its `end_ns` is stale (the run's end is
    /// [`Engine::now`]).
    pub fn recorded(&self) -> &Recording {
        &self.recording
    }

    fn record(&mut self, action: Action) {
        self.recording.controls.push(Control {
            at_ns: self.now,
            action,
        });
    }

    /// An engine whose clock starts at `start` rather than zero.
    fn starting_at(topology: Arc<Topology>, seed: u64, start: Nanos) -> Engine {
        let recording = Recording::new(Arc::clone(&topology), seed);
        let index = topology.index_by_name();
        let mut services: Vec<ServiceModel> = topology
            .services
            .iter()
            .map(|s| ServiceModel {
                concurrency: s.concurrency,
                queue_limit: s.queue_limit,
                mean_work_ns: s.service_time_ms * 1e6,
                error_rate: s.error_rate,
                ingress_rps: s.ingress_rps,
                first_call: 0,
                end_call: 0,
                first_instance: 0,
                busy_slots: 0,
                entry: None,
                dist: s.service_time_dist,
            })
            .collect();
        let entries: Vec<usize> = (0..services.len())
            .filter(|&i| topology.services[i].is_entry())
            .collect();
        let mut calls: Vec<Vec<u32>> = vec![Vec::new(); services.len()];
        // Services that call each other in a cycle share a strongly connected component.
        let mut graph = DiGraph::<(), ()>::new();
        let nodes: Vec<_> = (0..topology.services.len())
            .map(|_| graph.add_node(()))
            .collect();
        for dep in &topology.dependencies {
            let (from, to) = (index[dep.from.as_str()], index[dep.to.as_str()]);
            graph.add_edge(nodes[from], nodes[to], ());
        }
        let mut component = vec![0; topology.services.len()];
        for (c, members) in tarjan_scc(&graph).iter().enumerate() {
            for node in members {
                component[node.index()] = c;
            }
        }
        let mut schedule = Schedule::default();
        let outside_timeout_lane = schedule.lane(OUTSIDE_TIMEOUT);
        // Channels: one per calling instance and dependency, then one per entry.
        let mut channels: Channel = 0;
        let dependencies: Vec<DependencyModel> = topology
            .dependencies
            .iter()
            .enumerate()
            .map(|(d, dep)| {
                let (from, to) = (index[dep.from.as_str()], index[dep.to.as_str()]);
                calls[from].push(d as u32);
                let first_channel = channels;
                channels += topology.services[from].replicas;
                DependencyModel {
                    to: to as u32,
                    first_channel,
                    whole_calls: dep.calls.floor() as u32,
                    timeout_lane: schedule.lane(millis(dep.timeout_ms)),
                    extra_call_chance: dep.calls.fract(),
                    half_latency: millis(dep.latency_ms / 2.0),
                    errors: 0.0,
                    breaker: dep
                        .breaker
                        .as_ref()
                        .map(|b| Box::new(CircuitBreaker::new(b))),
                    calls: 0,
                    may_loop: component[from] == component[to],
                    partitioned: false,
                }
            })
            .collect();
        let terms = topology
            .dependencies
            .iter()
            .map(|dep| DependencyTerms {
                required: dep.required,
                retries: dep.retries,
                backoff: millis(dep.retry_backoff_ms),
                half_latency: millis(dep.latency_ms / 2.0),
            })
            .collect();
        let mut call_list = Vec::with_capacity(dependencies.len());
        for (model, calls) in services.iter_mut().zip(calls) {
            model.first_call = call_list.len() as u32;
            call_list.extend(calls);
            model.end_call = call_list.len() as u32;
        }
        for (entry, &service) in entries.iter().enumerate() {
            services[service].entry = Some((entry as u32, channels));
            channels += 1;
        }
        let track_paths = dependencies.iter().any(|d| d.may_loop);
        let replicas: Vec<u32> = topology.services.iter().map(|s| s.replicas).collect();
        let instances = (0..replicas.iter().sum())
            .map(|_| Instance {
                busy: 0,
                waiting: VecDeque::new(),
                epoch: 0,
                faults: InstanceFaults::default(),
            })
            .collect();
        let n = topology.services.len();
        let window = Window::new(start, n, entries.len(), topology.dependencies.len());
        let router = Router::new(&topology.routing, &replicas, channels as usize);
        let mut first = 0;
        for (model, &replicas) in services.iter_mut().zip(&replicas) {
            model.first_instance = first;
            first += replicas;
        }
        let mut engine = Engine {
            services,
            dependencies,
            instances,
            terms,
            components: [InstanceFaults::default(); 3],
            mode: topology.routing.mode,
            lb_half_latency: millis(topology.routing.lb_latency_ms / 2.0),
            router,
            cursors: vec![0; channels as usize],
            usable: Vec::new(),
            call_list,
            jobs: Slab::default(),
            calls: Slab::default(),
            paths: Paths::default(),
            track_paths,
            next_token: 0,
            schedule,
            outside_timeout_lane,
            rng: Pcg64Mcg::seed_from_u64(seed),
            now: start,
            window,
            latencies: LatencyLog::new(n, entries.len()),
            faults: BTreeMap::new(),
            next_fault: 1,
            events: 0,
            hops: 0,
            recording,
            entries,
            topology,
        };
        for service in engine.entries.clone() {
            let first = start + engine.interarrival(service);
            engine.schedule.push_at(
                first,
                Event::Ingress {
                    service: service as u32,
                },
            );
        }
        let first_probe = start + engine.router.checker.interval;
        engine.schedule.push_at(first_probe, Event::Probe);
        engine
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Replaces the positions pinned for drawing (`topology.layout`); the simulation does
    /// not read them, so nothing else changes.
    pub fn set_layout(&mut self, layout: std::collections::BTreeMap<String, [f64; 2]>) {
        self.record(Action::Layout {
            layout: layout.clone(),
        });
        Arc::make_mut(&mut self.topology).layout = layout;
    }

    /// Current simulated time.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Events processed since the start.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Service-level executions since the start (retries included).
    pub fn hops(&self) -> u64 {
        self.hops
    }

    /// Requests and calls in flight.
    pub fn in_flight(&self) -> usize {
        self.calls.len()
    }

    /// Indices of the entry-point services, in service order.
    pub fn entries(&self) -> &[usize] {
        &self.entries
    }

    pub fn routing_mode(&self) -> RoutingMode {
        self.mode
    }

    /// Switches the routing mode while running. Clients start with empty caches and
    /// tables in the new mode; the health checker and registry kept running all along.
    pub fn set_routing_mode(&mut self, mode: RoutingMode) {
        if mode != self.mode {
            self.record(Action::RoutingMode { mode });
            self.mode = mode;
            Arc::make_mut(&mut self.topology).routing.mode = mode;
            self.router.forget_clients();
            self.cursors.fill(0);
        }
    }

    /// Replaces the topology while running: the clock, the routing knowledge of services
    /// that keep their name and replica count, and every fault that still fits the new
    /// topology carry over (same ids, same schedule); requests in flight are abandoned
    /// uncounted. Returns the ids of the faults dropped because they no longer fit.
    pub fn replace_topology(&mut self, topology: Topology) -> Vec<FaultId> {
        self.record(Action::Topology {
            topology: Box::new(topology.clone()),
        });
        let seed = self.rng.random::<u64>();
        let mut next = Engine::starting_at(Arc::new(topology), seed, self.now);
        // Services that survive under the same name keep what the checker and the registry
        // knew about their instances.
        for (old, service) in self.topology.services.iter().enumerate() {
            let Some(new) = next.service_index(&service.name) else {
                continue;
            };
            if next.instances_of(new).len() != self.instances_of(old).len() {
                continue;
            }
            next.router.adopt(&self.router, old, new);
        }
        let mut dropped = Vec::new();
        next.next_fault = self.next_fault;
        for (id, active) in std::mem::take(&mut self.faults) {
            if active.fault.validate(&next.topology).is_err() {
                dropped.push(id);
                continue;
            }
            let end = active.fault.duration_s.map(|d| active.start + secs(d));
            let state = active.state;
            next.faults.insert(
                id,
                ActiveFault {
                    victims: Vec::new(),
                    state: FaultState::Pending,
                    ..active
                },
            );
            if state == FaultState::Active || next.faults[&id].start <= next.now {
                next.start_fault(id);
            } else {
                let start = next.faults[&id].start;
                next.schedule.push_at(start, Event::FaultStart { id });
            }
            if let Some(end) = end {
                next.schedule
                    .push_at(end.max(next.now), Event::FaultEnd { id });
            }
        }
        next.events = self.events;
        next.hops = self.hops;
        std::mem::swap(&mut next.recording, &mut self.recording);
        *self = next;
        dropped
    }

    /// Instances of `service` (by index) that are up (neither killed nor hung).
    pub fn instances_up(&self, service: usize) -> u32 {
        self.instances_of(service)
            .iter()
            .filter(|i| i.liveness() == Liveness::Up)
            .count() as u32
    }

    /// Whether instance `instance` (counted from 0) of `service` is up, down or hung.
    pub fn instance_liveness(&self, service: usize, instance: usize) -> Liveness {
        self.instance(service, instance).liveness()
    }

    /// Whether instance `instance` (counted from 0) of `service` is up.
    pub fn instance_up(&self, service: usize, instance: usize) -> bool {
        self.instance_liveness(service, instance) == Liveness::Up
    }

    /// The state of routing component `name` (`dns`, `lb` or `registry`).
    pub fn component_liveness(&self, name: &str) -> Option<Liveness> {
        let index = COMPONENTS.iter().position(|c| *c == name)?;
        let faults = &self.components[index];
        Some(match (faults.down, faults.hung) {
            (true, _) => Liveness::Down,
            (false, true) => Liveness::Hung,
            _ => Liveness::Up,
        })
    }

    /// The breaker state of dependency `dependency`, if it has a breaker.
    pub fn breaker_state(&self, dependency: usize) -> Option<BreakerState> {
        self.dependencies[dependency]
            .breaker
            .as_ref()
            .map(|b| b.state())
    }

    /// Whether dependency `dependency` is cut by a partition.
    pub fn partitioned(&self, dependency: usize) -> bool {
        self.dependencies[dependency].partitioned
    }

    /// Whether smart clients currently list instance `instance` of `service` (their shared
    /// view of the registry, before local outlier ejection).
    pub fn listed_by_registry(&self, service: usize, instance: usize) -> bool {
        self.router.registry.published(service)[instance]
    }

    /// Whether the health checker of `dns` and `lb` holds the instance healthy.
    pub fn healthy_by_checker(&self, service: usize, instance: usize) -> bool {
        self.router.checker.healthy(service)[instance]
    }

    /// Processes every event up to and including time `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Nanos) {
        loop {
            // Timeouts of attempts already answered would be ignored: the schedule drops
            // them in bulk rather than one event at a time.
            let calls = &self.calls;
            let stale = |event: &Event| match event {
                Event::CallDone {
                    call,
                    token,
                    ok: false,
                } => calls[*call].token != *token,
                _ => false,
            };
            let Some((time, event)) = self.schedule.pop_until(until, stale) else {
                break;
            };
            self.now = time;
            self.events += 1;
            self.handle(event);
        }
        self.now = self.now.max(until);
    }

    /// The window being counted, since the last cut (or the start): its counters are
    /// current, while latencies may wait in the log until [`Engine::take_window`].
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Everything counted since the last call (or the start), and a fresh window.
    pub fn take_window(&mut self) -> Window {
        self.latencies.flush(&mut self.window);
        let mut next = Window::new(
            self.now,
            self.services.len(),
            self.entries.len(),
            self.dependencies.len(),
        );
        // Slots busy now end their stretch in this window and start one in the next.
        for (service, model) in self.services.iter().enumerate() {
            let open = u128::from(model.busy_slots) * u128::from(self.now);
            let busy = &mut self.window.services[service].busy_ns;
            *busy = busy.wrapping_add(open);
            next.services[service].busy_ns = 0u128.wrapping_sub(open);
        }
        for (counters, dependency) in self.window.links.iter_mut().zip(&mut self.dependencies) {
            counters.calls += std::mem::take(&mut dependency.calls);
        }
        std::mem::swap(&mut next, &mut self.window);
        next.end = self.now;
        next
    }

    /// Injects `fault`, starting at its `at_s` (or now, if that has passed or is absent) and
    /// reverting itself after `duration_s` if given.
    pub fn inject(&mut self, fault: Fault) -> Result<FaultId, FaultError> {
        fault.validate(&self.topology)?;
        self.record(Action::Inject {
            fault: Box::new(fault.clone()),
        });
        let id = self.next_fault;
        self.next_fault += 1;
        let start = fault.at_s.map_or(self.now, secs).max(self.now);
        let end = fault.duration_s.map(|d| start + secs(d));
        self.faults.insert(
            id,
            ActiveFault {
                id,
                fault,
                state: FaultState::Pending,
                start,
                victims: Vec::new(),
            },
        );
        if start == self.now {
            self.start_fault(id);
        } else {
            self.schedule.push_at(start, Event::FaultStart { id });
        }
        if let Some(end) = end {
            self.schedule.push_at(end, Event::FaultEnd { id });
        }
        Ok(id)
    }

    /// Reverts fault `id`; false if there is no such fault (it may have ended by itself).
    pub fn revert(&mut self, id: FaultId) -> bool {
        let removed = self.remove_fault(id);
        if removed {
            self.record(Action::Revert { id });
        }
        removed
    }

    /// Ends fault `id` (reverted, or its duration is over); false if there is none.
    fn remove_fault(&mut self, id: FaultId) -> bool {
        if self.faults.remove(&id).is_none() {
            return false;
        }
        self.refresh_faults();
        true
    }

    /// Faults injected and not yet reverted, oldest first.
    pub fn faults(&self) -> impl Iterator<Item = &ActiveFault> {
        self.faults.values()
    }

    fn start_fault(&mut self, id: FaultId) {
        let Some(active) = self.faults.get_mut(&id) else {
            return; // reverted before it started
        };
        if active.state == FaultState::Active {
            return;
        }
        active.state = FaultState::Active;
        if active.fault.kind == FaultKind::Monkey {
            self.schedule_strike(id);
        }
        self.refresh_faults();
    }

    fn schedule_strike(&mut self, id: FaultId) {
        let Some(mean) = self.faults.get(&id).and_then(|f| f.fault.mean_interval_s) else {
            return;
        };
        let wait = secs(self.rng.sample::<f64, _>(Exp1) * mean);
        self.schedule
            .push_at(self.now + wait, Event::MonkeyStrike { id });
    }

    /// The monkey of fault `id` kills a random instance of its targets.
    fn strike(&mut self, id: FaultId) {
        let Some(active) = self.faults.get(&id) else {
            return; // the monkey was reverted
        };
        let targets: Vec<usize> = active
            .fault
            .services
            .iter()
            .flatten()
            .filter_map(|name| self.service_index(name))
            .collect();
        let down_s = active.fault.down_s.unwrap_or(1.0);
        let service = targets[self.rng.random_range(0..targets.len())];
        let instance = self.rng.random_range(0..self.instances_of(service).len());
        let victim = (service, instance);
        let active = self.faults.get_mut(&id).expect("checked above");
        if !active.victims.contains(&victim) {
            active.victims.push(victim);
        }
        let victim = self.instance_number(victim);
        self.schedule
            .push_at(self.now + secs(down_s), Event::MonkeyRevive { id, victim });
        self.schedule_strike(id);
        self.refresh_faults();
    }

    fn service_index(&self, name: &str) -> Option<usize> {
        self.topology.services.iter().position(|s| s.name == name)
    }

    fn dependency_index(&self, from: &str, to: &str) -> Option<usize> {
        self.topology
            .dependencies
            .iter()
            .position(|d| d.from == from && d.to == to)
    }

    /// Recomputes the effect of every active fault on every instance, link and component,
    /// and carries out the transitions (kills lose in-flight work; changes reach the
    /// registry). O(faults × instances); faults are few and change rarely.
    fn refresh_faults(&mut self) {
        let mut instance_faults: Vec<Vec<InstanceFaults>> = (0..self.services.len())
            .map(|s| vec![InstanceFaults::default(); self.instances_of(s).len()])
            .collect();
        let mut components = [InstanceFaults::default(); 3];
        let mut links: Vec<(bool, Nanos, f64)> = vec![(false, 0, 0.0); self.dependencies.len()];
        for active in self.faults.values() {
            if active.state != FaultState::Active {
                continue;
            }
            let fault = &active.fault;
            let mut targets: Vec<(usize, usize)> = Vec::new();
            if let Some(name) = &fault.service {
                if let Some(c) = COMPONENTS.iter().position(|c| c == name) {
                    let component = &mut components[c];
                    match fault.kind {
                        FaultKind::Kill => component.down = true,
                        FaultKind::Hang => component.hung = true,
                        _ => {}
                    }
                    continue;
                }
                if let Some(s) = self.service_index(name) {
                    match fault.instance {
                        Some(i) => targets.push((s, i as usize - 1)),
                        None => targets.extend((0..self.instances_of(s).len()).map(|i| (s, i))),
                    }
                }
            }
            if let Some(zone) = &fault.zone {
                for (s, service) in self.topology.services.iter().enumerate() {
                    for k in 1..=service.replicas {
                        if service.zone_of(k) == zone {
                            targets.push((s, k as usize - 1));
                        }
                    }
                }
            }
            targets.extend(active.victims.iter().copied());
            if fault.is_link() {
                let (from, to) = (
                    fault.from.as_deref().unwrap_or_default(),
                    fault.to.as_deref().unwrap_or_default(),
                );
                let mut cut = vec![self.dependency_index(from, to)];
                if fault.both == Some(true) {
                    cut.push(self.dependency_index(to, from));
                }
                for d in cut.into_iter().flatten() {
                    let link = &mut links[d];
                    match fault.kind {
                        FaultKind::Partition => link.0 = true,
                        FaultKind::Latency => link.1 += millis(fault.ms.unwrap_or(0.0) / 2.0),
                        FaultKind::Errors => {
                            link.2 = 1.0 - (1.0 - link.2) * (1.0 - fault.rate.unwrap_or(0.0))
                        }
                        _ => {}
                    }
                }
                continue;
            }
            for (s, i) in targets {
                let effects = &mut instance_faults[s][i];
                match fault.kind {
                    FaultKind::Kill | FaultKind::Zone | FaultKind::Monkey => effects.down = true,
                    FaultKind::Hang => effects.hung = true,
                    FaultKind::Latency => effects.extra_latency += millis(fault.ms.unwrap_or(0.0)),
                    FaultKind::Errors => {
                        effects.errors =
                            1.0 - (1.0 - effects.errors) * (1.0 - fault.rate.unwrap_or(0.0))
                    }
                    FaultKind::Slow => effects.slow *= fault.factor.unwrap_or(1.0),
                    FaultKind::Partition => {}
                }
            }
        }
        for (d, (partitioned, extra, errors)) in links.into_iter().enumerate() {
            let link = &mut self.dependencies[d];
            link.partitioned = partitioned;
            link.half_latency = self.terms[d].half_latency + extra;
            link.errors = errors;
        }
        let registry_was_down = self.registry_down();
        self.components = components;
        if registry_was_down && !self.registry_down() {
            // A restarted registry relearns the world from the next round of heartbeats.
            let at = self.now + self.router.registry.heartbeat;
            self.schedule.push_at(at, Event::RegistryResync);
        }
        for (s, list) in instance_faults.into_iter().enumerate() {
            for (i, new) in list.into_iter().enumerate() {
                let old = std::mem::replace(&mut self.instance_mut(s, i).faults, new);
                if !old.down && new.down {
                    self.on_killed(s, i);
                } else if old.down && !new.down {
                    self.on_revived(s, i);
                }
            }
        }
    }

    fn registry_down(&self) -> bool {
        let registry = &self.components[REGISTRY];
        registry.down || registry.hung
    }

    /// An instance was just killed: its queued and running work is lost, it stops
    /// heartbeating, and the registry drops it once its TTL runs out.
    fn on_killed(&mut self, service: usize, instance: usize) {
        let state = self.instance_mut(service, instance);
        state.epoch += 1;
        let epoch = state.epoch;
        let freed = std::mem::take(&mut state.busy);
        let waiting: Vec<JobId> = state.waiting.drain(..).collect();
        self.slots_freed(service, freed);
        for job in waiting {
            self.finish(job, false);
        }
        // Its last heartbeat was up to one period ago.
        let heartbeat = self.router.registry.heartbeat;
        let since_last = (self.rng.random::<f64>() * heartbeat as f64) as Nanos;
        let expiry = (self.now + self.router.registry.ttl).saturating_sub(since_last);
        self.schedule.push_at(
            expiry.max(self.now),
            Event::RegistryExpire {
                service: service as u32,
                instance: instance as u32,
                epoch,
            },
        );
    }

    /// An instance is back: it heartbeats at once, and the registry takes it back.
    fn on_revived(&mut self, service: usize, instance: usize) {
        if !self.registry_down() && self.router.registry.register(service, instance, true) {
            self.publish(service, instance, true);
        }
    }

    fn publish(&mut self, service: usize, instance: usize, present: bool) {
        let propagation = self.router.registry.propagation;
        self.schedule.push_at(
            self.now + propagation,
            Event::Publish {
                service: service as u32,
                instance: instance as u32,
                present,
            },
        );
    }

    /// `instance` of `service` numbered across services, for compact events and to index
    /// `instances`.
    fn instance_number(&self, (service, instance): (usize, usize)) -> u32 {
        self.services[service].first_instance + instance as u32
    }

    /// The instances of `service`.
    fn instances_of(&self, service: usize) -> &[Instance] {
        let first = self.services[service].first_instance as usize;
        let end = self
            .services
            .get(service + 1)
            .map_or(self.instances.len(), |next| next.first_instance as usize);
        &self.instances[first..end]
    }

    fn instance(&self, service: usize, instance: usize) -> &Instance {
        &self.instances_of(service)[instance]
    }

    fn instance_mut(&mut self, service: usize, instance: usize) -> &mut Instance {
        let number = self.instance_number((service, instance)) as usize;
        &mut self.instances[number]
    }

    /// The `(service, instance)` numbered `number` by [`Engine::instance_number`].
    fn numbered_instance(&self, number: u32) -> (usize, usize) {
        let service = self
            .services
            .partition_point(|model| model.first_instance <= number)
            - 1;
        (
            service,
            (number - self.services[service].first_instance) as usize,
        )
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Ingress { service } => self.ingress(service as usize),
            Event::Arrive { job } => self.arrive(job),
            Event::WorkDone { job } => self.work_done(job),
            Event::CallStart { call } => self.call_start(call),
            Event::CallDone { call, token, ok } => self.call_done(call, token, ok),
            Event::Probe => self.probe(),
            Event::RegistryExpire {
                service,
                instance,
                epoch,
            } => {
                let (service, instance) = (service as usize, instance as usize);
                let state = self.instance(service, instance);
                let still_dead = state.faults.down && state.epoch == epoch;
                if still_dead
                    && !self.registry_down()
                    && self.router.registry.register(service, instance, false)
                {
                    self.publish(service, instance, false);
                }
            }
            Event::RegistryResync => {
                if self.registry_down() {
                    return;
                }
                for service in 0..self.services.len() {
                    for instance in 0..self.instances_of(service).len() {
                        let alive = !self.instance(service, instance).faults.down;
                        if self.router.registry.register(service, instance, alive) {
                            self.publish(service, instance, alive);
                        }
                    }
                }
            }
            Event::Publish {
                service,
                instance,
                present,
            } => self
                .router
                .registry
                .publish(service as usize, instance as usize, present),
            Event::FaultStart { id } => self.start_fault(id),
            Event::FaultEnd { id } => {
                self.remove_fault(id);
            }
            Event::MonkeyStrike { id } => self.strike(id),
            Event::MonkeyRevive { id, victim } => {
                let victim = self.numbered_instance(victim);
                if let Some(active) = self.faults.get_mut(&id) {
                    active.victims.retain(|v| *v != victim);
                    self.refresh_faults();
                }
            }
        }
    }

    /// The health checker probes every instance: killed and hung ones do not answer.
    fn probe(&mut self) {
        for service in 0..self.services.len() {
            for instance in 0..self.instances_of(service).len() {
                let answered = self.instance(service, instance).liveness() == Liveness::Up;
                self.router.checker.probe(service, instance, answered);
            }
        }
        let next = self.now + self.router.checker.interval;
        self.schedule.push_at(next, Event::Probe);
    }

    /// An outside request reaches entry `service`; the next one is scheduled.
    fn ingress(&mut self, service: usize) {
        let next = self.now + self.interarrival(service);
        self.schedule.push_at(
            next,
            Event::Ingress {
                service: service as u32,
            },
        );
        let Some((entry, channel)) = self.services[service].entry else {
            unreachable!("ingress only at entries");
        };
        let entry = entry as usize;
        self.window.entries[entry].arrivals += 1;
        let call = self.calls.insert(Call {
            job: None,
            dependency: None,
            to: service as u32,
            channel,
            attempt: 0,
            token: NO_ATTEMPT,
            started: self.now,
            admission: Admission::Allowed,
            target: None,
            via_lb: false,
        });
        self.call_start(call);
    }

    fn arrive(&mut self, job_id: JobId) {
        let job = &mut self.jobs[job_id];
        job.arrived = self.now;
        let (service, number) = (job.service as usize, job.number as usize);
        self.hops += 1;
        self.window.services[service].arrivals += 1;
        let state = &self.instances[number];
        match state.liveness() {
            Liveness::Down => return self.finish(job_id, false), // connection refused
            Liveness::Hung => {
                // Accepted, never answered: the caller times out.
                self.remove_job(job_id);
                return;
            }
            Liveness::Up => {}
        }
        if state.epoch != self.jobs[job_id].epoch {
            self.finish(job_id, false);
        } else if state.busy < self.services[service].concurrency {
            self.start_work(job_id);
        } else if state.waiting.len() < self.services[service].queue_limit as usize {
            self.instances[number].waiting.push_back(job_id);
        } else {
            self.window.services[service].rejected += 1;
            self.finish(job_id, false);
        }
    }

    #[inline(always)]
    fn start_work(&mut self, job_id: JobId) {
        let job = &mut self.jobs[job_id];
        job.holds_slot = true;
        let (service, number) = (job.service as usize, job.number as usize);
        let state = &mut self.instances[number];
        state.busy += 1;
        let slow = state.faults.slow;
        self.slot_taken(service);
        let work = self.work_time(service, slow);
        self.schedule
            .push_at(self.now + work, Event::WorkDone { job: job_id });
    }

    fn work_done(&mut self, job_id: JobId) {
        let job = &self.jobs[job_id];
        let (service, instance, path) = (job.service as usize, job.instance, job.path);
        let state = &self.instances[job.number as usize];
        if state.epoch != job.epoch {
            return self.finish(job_id, false);
        }
        let own_errors = self.services[service].error_rate;
        let fault_errors = state.faults.errors;
        if (own_errors > 0.0 && self.rng.random::<f64>() < own_errors)
            || (fault_errors > 0.0 && self.rng.random::<f64>() < fault_errors)
        {
            return self.finish(job_id, false);
        }
        let mut pending = 0;
        let model = &self.services[service];
        for i in model.first_call as usize..model.end_call as usize {
            let dependency = self.call_list[i] as usize;
            let model = &self.dependencies[dependency];
            let to = model.to as usize;
            if model.may_loop && self.paths.contains(path, to) {
                continue;
            }
            let channel = model.first_channel + instance;
            let extra =
                model.extra_call_chance > 0.0 && self.rng.random::<f64>() < model.extra_call_chance;
            let count = model.whole_calls + u32::from(extra);
            for _ in 0..count {
                let call = self.calls.insert(Call {
                    job: Some(job_id),
                    dependency: Some(dependency as u32),
                    to: to as u32,
                    channel,
                    attempt: 0,
                    token: NO_ATTEMPT,
                    started: self.now,
                    admission: Admission::Allowed,
                    target: None,
                    via_lb: false,
                });
                pending += 1;
                self.call_start(call);
            }
        }
        self.jobs[job_id].pending_calls = pending;
        if pending == 0 {
            self.finish(job_id, true);
        }
    }

    /// `(one-way latency, lane of timeouts)` of a call.
    fn call_terms(&self, call: &Call) -> (Nanos, Lane) {
        match call.dependency {
            Some(d) => {
                let dependency = &self.dependencies[d as usize];
                (dependency.half_latency, dependency.timeout_lane)
            }
            None => (0, self.outside_timeout_lane),
        }
    }

    /// Sends one attempt of `call`: passes its breaker and link, asks routing for an
    /// instance, and schedules the arrival and the timeout.
    fn call_start(&mut self, call_id: CallId) {
        let token = self.next_token;
        self.next_token += 1;
        let call = &self.calls[call_id];
        let (half, timeout) = self.call_terms(call);
        let now = self.now;
        let (dependency, to, channel) = (call.dependency, call.to as usize, call.channel);
        let done = |ok| Event::CallDone {
            call: call_id,
            token,
            ok,
        };
        let mut admission = Admission::Allowed;
        if let Some(d) = dependency {
            let d = d as usize;
            let link = &mut self.dependencies[d];
            link.calls += 1;
            if let Some(breaker) = &mut link.breaker {
                admission = breaker.admit(self.now);
            }
            if admission == Admission::Rejected || link.partitioned {
                // An open breaker fails at once; a partition swallows the call.
                let at = (admission == Admission::Rejected || !link.partitioned).then_some(now);
                return self.fail_attempt(call_id, token, admission, at, timeout);
            }
            let errors = link.errors;
            if errors > 0.0 && self.rng.random::<f64>() < errors {
                return self.fail_attempt(call_id, token, admission, Some(now + 2 * half), timeout);
            }
        }
        match self.route(channel, to) {
            Route::Refused { delay } => {
                self.fail_attempt(call_id, token, admission, Some(now + delay), timeout)
            }
            Route::Blackhole => self.fail_attempt(call_id, token, admission, None, timeout),
            Route::Instance { instance, extra } => {
                let call = &mut self.calls[call_id];
                call.token = token;
                call.admission = admission;
                call.via_lb = self.mode == RoutingMode::Lb;
                call.target = Some(instance);
                let parent_path = match call.job {
                    Some(job) => self.jobs[job].path,
                    None => NO_PATH,
                };
                let path = if self.track_paths {
                    self.paths.extend(parent_path, to)
                } else {
                    NO_PATH
                };
                let number = self.services[to].first_instance + instance;
                let epoch = self.instances[number as usize].epoch;
                let child = self.jobs.insert(Job {
                    service: to as u32,
                    instance,
                    number,
                    epoch,
                    call: call_id,
                    token,
                    arrived: self.now,
                    path,
                    pending_calls: 0,
                    failed: false,
                    holds_slot: false,
                });
                self.schedule
                    .push_delayed(self.now, half + extra, Event::Arrive { job: child });
                self.schedule.push_on(timeout, now, done(false));
            }
        }
    }

    /// Sends attempt `token` of `call` nowhere: it fails at `at`, or (`None`) times out on
    /// `timeout`. Out of line: the uncommon case of [`Engine::call_start`].
    #[cold]
    #[inline(never)]
    fn fail_attempt(
        &mut self,
        call_id: CallId,
        token: u64,
        admission: Admission,
        at: Option<Nanos>,
        timeout: Lane,
    ) {
        let call = &mut self.calls[call_id];
        (call.token, call.admission, call.target) = (token, admission, None);
        let done = Event::CallDone {
            call: call_id,
            token,
            ok: false,
        };
        match at {
            Some(at) => self.schedule.push_at(at, done),
            None => self.schedule.push_on(timeout, self.now, done),
        }
    }

    /// Which instance of `service` a call over `channel` goes to, by the routing mode.
    fn route(&mut self, channel: Channel, service: usize) -> Route {
        let now = self.now;
        let first = self.services[service].first_instance as usize;
        let instances = &self.instances[first..];
        let load = |i: u32| {
            let instance = &instances[i as usize];
            instance.busy + instance.waiting.len() as u32
        };
        let cursor = &mut self.cursors[channel as usize];
        let balancer = self.router.balancer;
        match self.mode {
            RoutingMode::Lb => {
                let lb = self.components[LB];
                if lb.down {
                    return Route::Refused { delay: 0 };
                }
                if lb.hung {
                    return Route::Blackhole;
                }
                let healthy = self.router.checker.healthy_list(service);
                match choose(healthy, balancer, cursor, &mut self.rng, load) {
                    Some(instance) => Route::Instance {
                        instance,
                        extra: self.lb_half_latency,
                    },
                    // The balancer answers 503 itself.
                    None => Route::Refused {
                        delay: 2 * self.lb_half_latency,
                    },
                }
            }
            RoutingMode::Dns => {
                let dns = self.components[DNS];
                let answers = !dns.down && !dns.hung;
                let Some(listed) = self.router.resolve(channel, service, now, answers) else {
                    return Route::Refused { delay: 0 };
                };
                // DNS clients balance round-robin over their cached answer.
                match choose(listed, Balancer::RoundRobin, cursor, &mut self.rng, load) {
                    Some(instance) => Route::Instance { instance, extra: 0 },
                    None => Route::Refused { delay: 0 },
                }
            }
            RoutingMode::Smart => {
                let router = &self.router;
                let published = router.registry.published_list(service);
                let mut candidates = published;
                if router.any_ejected(now) {
                    self.usable.clear();
                    self.usable.extend(
                        published
                            .iter()
                            .filter(|&&i| !router.ejected(channel, i, now)),
                    );
                    // Envoy's panic mode: with every listed instance ejected, ignore
                    // ejections.
                    if !self.usable.is_empty() {
                        candidates = &self.usable;
                    }
                }
                match choose(candidates, balancer, cursor, &mut self.rng, load) {
                    Some(instance) => Route::Instance { instance, extra: 0 },
                    None => Route::Refused { delay: 0 },
                }
            }
        }
    }

    /// An attempt of `call` ended (answer, refusal or timeout); stale attempts are ignored.
    fn call_done(&mut self, call_id: CallId, token: u64, ok: bool) {
        let call = &mut self.calls[call_id];
        if call.token != token {
            return;
        }
        let (dependency, to, channel, target) = (
            call.dependency.map(|d| d as usize),
            call.to as usize,
            call.channel,
            call.target,
        );
        if let Some(d) = dependency
            && let Some(breaker) = &mut self.dependencies[d].breaker
        {
            breaker.record(self.now, call.admission, ok);
        }
        if let Some(instance) = target
            && self.mode == RoutingMode::Smart
        {
            self.router.observe(channel, instance, ok, self.now);
        }
        if !ok && self.retry(call_id) {
            return;
        }
        self.calls[call_id].token = NO_ATTEMPT; // answers still on their way are stale
        let call = self.calls.remove(call_id);
        let Some(job_id) = call.job else {
            // An outside request has its answer.
            let (entry, _) = self.services[to]
                .entry
                .expect("outside calls go to entries");
            let counters = &mut self.window.entries[entry as usize];
            if ok {
                counters.successes += 1;
            } else {
                counters.failures += 1;
            }
            let latency = self.now - call.started;
            self.latencies
                .push_entry(&mut self.window, entry as usize, latency);
            return;
        };
        // Whether the call was required matters only if it failed.
        if !ok && dependency.is_none_or(|d| self.terms[d].required) {
            self.jobs[job_id].failed = true;
        }
        let job = &mut self.jobs[job_id];
        job.pending_calls -= 1;
        if job.pending_calls == 0 {
            let ok = !job.failed;
            self.finish(job_id, ok);
        }
    }

    /// Counts a failed attempt of `call` and schedules the next one if it has retries left;
    /// whether it did. Out of line: the uncommon case of [`Engine::call_done`].
    #[cold]
    #[inline(never)]
    fn retry(&mut self, call_id: CallId) -> bool {
        let call = &mut self.calls[call_id];
        let dependency = call.dependency.map(|d| d as usize);
        if let Some(d) = dependency {
            self.window.links[d].failures += 1;
        }
        let (retries, backoff) = match dependency {
            Some(d) => (self.terms[d].retries, self.terms[d].backoff),
            None => (0, 0),
        };
        if call.attempt >= retries {
            return false;
        }
        call.attempt += 1;
        call.token = NO_ATTEMPT;
        if let Some(d) = dependency {
            self.window.links[d].retries += 1;
        }
        self.window.services[call.to as usize].retries += 1;
        self.schedule
            .push_at(self.now + backoff, Event::CallStart { call: call_id });
        true
    }

    /// Removes a job and lets go of its path.
    #[inline]
    fn remove_job(&mut self, job_id: JobId) -> Job {
        let job = self.jobs.remove(job_id);
        self.paths.release(job.path);
        job
    }

    /// Ends a job: frees its slot, records it, and answers its caller (unless hung).
    fn finish(&mut self, job_id: JobId, ok: bool) {
        let job = self.remove_job(job_id);
        let (service, number) = (job.service as usize, job.number as usize);
        // A kill bumps the epoch and frees every slot at once: work from before it is lost.
        let state = &self.instances[number];
        let same_life = state.epoch == job.epoch;
        let (hung, extra) = (state.faults.hung, state.faults.extra_latency);
        let ok = ok && same_life;
        if job.holds_slot && same_life {
            self.release_slot(service, number);
        }
        let counters = &mut self.window.services[service];
        if ok {
            counters.successes += 1;
        } else {
            counters.failures += 1;
        }
        let latency = self.now - job.arrived;
        self.latencies
            .push_service(&mut self.window, service, latency);
        if hung && same_life {
            return; // it never answers
        }
        // Answer only an attempt the caller still waits for.
        let call = &self.calls[job.call];
        if call.token != job.token {
            return;
        }
        let half = call
            .dependency
            .map_or(0, |d| self.dependencies[d as usize].half_latency);
        let lb = if call.via_lb { self.lb_half_latency } else { 0 };
        self.schedule.push_delayed(
            self.now,
            half + lb + extra,
            Event::CallDone {
                call: job.call,
                token: job.token,
                ok,
            },
        );
    }

    /// Frees a slot of instance `number` (of `service`) and starts its next waiting job.
    fn release_slot(&mut self, service: usize, number: usize) {
        let state = &mut self.instances[number];
        state.busy -= 1;
        let next = state.waiting.pop_front();
        self.slots_freed(service, 1);
        if let Some(next) = next {
            self.start_work(next);
        }
    }

    // Busy slot-time, for utilisation, is the sum over slots of (end − start) within the
    // window: each slot taken subtracts the time, each slot freed adds it, and cutting a
    // window closes and reopens the slots still busy. Exact, with no multiplication per
    // slot; the running sum dips below zero, hence wrapping arithmetic.

    #[inline(always)]
    fn slot_taken(&mut self, service: usize) {
        self.services[service].busy_slots += 1;
        let busy = &mut self.window.services[service].busy_ns;
        *busy = busy.wrapping_sub(u128::from(self.now));
    }

    #[inline(always)]
    fn slots_freed(&mut self, service: usize, count: u32) {
        self.services[service].busy_slots -= count;
        let busy = &mut self.window.services[service].busy_ns;
        *busy = busy.wrapping_add(u128::from(count) * u128::from(self.now));
    }

    fn interarrival(&mut self, service: usize) -> Nanos {
        let rate = self.services[service].ingress_rps;
        let standard: f64 = self.rng.sample(Exp1);
        round_to_nanos(standard / rate * NANOS_PER_SEC)
    }

    #[inline(always)]
    fn work_time(&mut self, service: usize, slow: f64) -> Nanos {
        let model = &self.services[service];
        let mean = model.mean_work_ns * slow;
        round_to_nanos(model.dist.sample(mean, &mut self.rng))
    }
}

/// Picks one of the `candidates` (instance indices, ascending) with `balancer`; `load`
/// gives each instance's outstanding work. `None` when there is no candidate.
#[inline(always)]
fn choose(
    candidates: &[u32],
    balancer: Balancer,
    cursor: &mut usize,
    rng: &mut Pcg64Mcg,
    load: impl Fn(u32) -> u32,
) -> Option<u32> {
    if candidates.is_empty() {
        return None;
    }
    let count = candidates.len();
    Some(match balancer {
        Balancer::RoundRobin => {
            // A 32-bit division is much cheaper, and cursors stay below 2^32 in practice.
            let pick = match (u32::try_from(*cursor), u32::try_from(count)) {
                (Ok(cursor), Ok(count)) => (cursor % count) as usize,
                _ => *cursor % count,
            };
            *cursor = cursor.wrapping_add(1);
            candidates[pick]
        }
        Balancer::Random => candidates[rng.random_range(0..count)],
        Balancer::LeastOutstanding => *candidates
            .iter()
            .min_by_key(|&&i| (load(i), i))
            .expect("not empty"),
        Balancer::P2c => {
            let a = candidates[rng.random_range(0..count)];
            let b = candidates[rng.random_range(0..count)];
            if load(b) < load(a) { b } else { a }
        }
    })
}

/// A vector of slots with a free list: O(1) insert and remove, stable `u32` ids while alive.
/// A removed entry stays in its slot as it was until the slot is reused, so a lookup needs
/// no check: the engine tells ended calls by their token, and never looks a job up after
/// removing it.
struct Slab<T> {
    entries: Vec<T>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }
}

impl<T: Copy> Slab<T> {
    #[inline]
    fn insert(&mut self, value: T) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(id) => {
                self.entries[id as usize] = value;
                id
            }
            None => {
                self.entries.push(value);
                (self.entries.len() - 1) as u32
            }
        }
    }

    /// Frees the slot of `id` and returns its entry; `id` must be alive.
    #[inline]
    fn remove(&mut self, id: u32) -> T {
        self.free.push(id);
        self.live -= 1;
        self.entries[id as usize]
    }

    fn len(&self) -> usize {
        self.live
    }
}

impl<T> std::ops::Index<u32> for Slab<T> {
    type Output = T;
    fn index(&self, id: u32) -> &T {
        &self.entries[id as usize]
    }
}

impl<T> std::ops::IndexMut<u32> for Slab<T> {
    fn index_mut(&mut self, id: u32) -> &mut T {
        &mut self.entries[id as usize]
    }
}
