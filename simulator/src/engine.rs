//! The discrete-event engine: instances with concurrency slots and bounded FIFO queues,
//! Poisson ingress, dependency calls with latency, timeouts and retries, fractional and
//! optional calls, loop-free call paths, and `kill` faults applied and reverted while running.
//!
//! Walking-skeleton scope (issue 2): calls reach a callee's live instances round-robin with
//! perfect, instant knowledge of which are up — the `dns`, `lb` and `smart` routing modes,
//! circuit breakers and the other fault kinds arrive with issue 3, which extends this engine.
//! A killed instance's in-flight work fails when its next event fires (its own work ending
//! or its last call returning) rather than at the instant of the kill.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::fault::{Fault, FaultError, FaultKind};
use crate::measure::{Window, record_latency};
use crate::queue::{EventQueue, Nanos, millis, secs};
use crate::topology::{ServiceTimeDist, Topology};

/// Identifies an injected fault for its whole life (listing and reverting).
pub type FaultId = u64;

type JobId = usize;
type CallId = usize;

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
}

/// A service compiled for the hot loop: plain numbers and indices, no names.
struct ServiceModel {
    concurrency: u32,
    queue_limit: usize,
    mean_work_ns: f64,
    dist: ServiceTimeDist,
    error_rate: f64,
    /// Indices into `Topology::dependencies` of the calls this service makes.
    calls: Vec<usize>,
    /// Index among entry points, if outside clients call this service.
    entry: Option<usize>,
}

struct DependencyModel {
    to: usize,
    whole_calls: u32,
    extra_call_chance: f64,
    required: bool,
    half_latency: Nanos,
    timeout: Nanos,
    retries: u32,
    backoff: Nanos,
}

struct Instance {
    /// Number of active kill faults covering this instance; up when zero.
    kills: u32,
    busy: u32,
    waiting: VecDeque<JobId>,
    /// Bumped by every kill, so work started before it is recognised as lost.
    epoch: u32,
}

/// A request's path through the services, newest first; shared by the calls it makes.
struct PathNode {
    service: usize,
    parent: Option<Arc<PathNode>>,
}

fn on_path(mut node: Option<&Arc<PathNode>>, service: usize) -> bool {
    while let Some(n) = node {
        if n.service == service {
            return true;
        }
        node = n.parent.as_ref();
    }
    false
}

/// Who is waiting for a job's answer.
#[derive(Clone, Copy)]
enum Caller {
    /// An outside client at entry point `entry`.
    Outside { entry: usize },
    /// A call attempt; `token` tells the current attempt from stale ones.
    Call { call: CallId, token: u64 },
}

/// One execution of a service at one instance.
struct Job {
    service: usize,
    instance: usize,
    epoch: u32,
    caller: Caller,
    arrived: Nanos,
    path: Arc<PathNode>,
    pending_calls: u32,
    failed: bool,
    /// Whether the job took a concurrency slot (it started its work).
    holds_slot: bool,
}

/// One logical call (with its retries) from a job over a dependency.
struct Call {
    job: JobId,
    dependency: usize,
    attempt: u32,
    token: u64,
}

enum Event {
    Ingress { service: usize },
    Arrive { job: JobId },
    WorkDone { job: JobId },
    CallStart { call: CallId },
    CallDone { call: CallId, token: u64, ok: bool },
    FaultStart { id: FaultId },
    FaultEnd { id: FaultId },
}

/// The simulation of one topology from one seed.
pub struct Engine {
    topology: Topology,
    services: Vec<ServiceModel>,
    dependencies: Vec<DependencyModel>,
    entries: Vec<usize>,
    instances: Vec<Vec<Instance>>,
    round_robin: Vec<usize>,
    busy_slots: Vec<u32>,
    busy_since: Vec<Nanos>,
    jobs: Slab<Job>,
    calls: Slab<Call>,
    next_token: u64,
    queue: EventQueue<Event>,
    rng: Pcg64Mcg,
    now: Nanos,
    window: Window,
    faults: BTreeMap<FaultId, ActiveFault>,
    next_fault: FaultId,
    events: u64,
    hops: u64,
}

impl Engine {
    /// Starts a simulation of `topology` (already validated) at time zero.
    pub fn new(topology: Topology, seed: u64) -> Engine {
        let index: BTreeMap<&str, usize> = topology
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect();
        let mut entries = Vec::new();
        let mut services: Vec<ServiceModel> = topology
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| ServiceModel {
                concurrency: s.concurrency,
                queue_limit: s.queue_limit as usize,
                mean_work_ns: s.service_time_ms * 1e6,
                dist: s.service_time_dist,
                error_rate: s.error_rate,
                calls: Vec::new(),
                entry: s.is_entry().then(|| {
                    entries.push(i);
                    entries.len() - 1
                }),
            })
            .collect();
        let dependencies = topology
            .dependencies
            .iter()
            .enumerate()
            .map(|(d, dep)| {
                services[index[dep.from.as_str()]].calls.push(d);
                DependencyModel {
                    to: index[dep.to.as_str()],
                    whole_calls: dep.calls.floor() as u32,
                    extra_call_chance: dep.calls.fract(),
                    required: dep.required,
                    half_latency: millis(dep.latency_ms / 2.0),
                    timeout: millis(dep.timeout_ms),
                    retries: dep.retries,
                    backoff: millis(dep.retry_backoff_ms),
                }
            })
            .collect();
        let instances = topology
            .services
            .iter()
            .map(|s| {
                (0..s.replicas)
                    .map(|_| Instance {
                        kills: 0,
                        busy: 0,
                        waiting: VecDeque::new(),
                        epoch: 0,
                    })
                    .collect()
            })
            .collect();
        let n = topology.services.len();
        let window = Window::new(0, n, entries.len(), topology.dependencies.len());
        let mut engine = Engine {
            services,
            dependencies,
            instances,
            round_robin: vec![0; n],
            busy_slots: vec![0; n],
            busy_since: vec![0; n],
            jobs: Slab::default(),
            calls: Slab::default(),
            next_token: 0,
            queue: EventQueue::default(),
            rng: Pcg64Mcg::seed_from_u64(seed),
            now: 0,
            window,
            faults: BTreeMap::new(),
            next_fault: 1,
            events: 0,
            hops: 0,
            entries,
            topology,
        };
        for service in engine.entries.clone() {
            let first = engine.interarrival(service);
            engine.queue.push(first, Event::Ingress { service });
        }
        engine
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
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

    /// Indices of the entry-point services, in service order.
    pub fn entries(&self) -> &[usize] {
        &self.entries
    }

    /// Instances of `service` (by index) that are up.
    pub fn instances_up(&self, service: usize) -> u32 {
        self.instances[service]
            .iter()
            .filter(|i| i.kills == 0)
            .count() as u32
    }

    /// Whether instance `instance` (counted from 0) of `service` is up.
    pub fn instance_up(&self, service: usize, instance: usize) -> bool {
        self.instances[service][instance].kills == 0
    }

    /// Processes every event up to and including time `until`, then sets the clock to it.
    pub fn run_until(&mut self, until: Nanos) {
        while let Some(time) = self.queue.peek_time() {
            if time > until {
                break;
            }
            let (time, event) = self.queue.pop().expect("peeked");
            self.now = time;
            self.events += 1;
            self.handle(event);
        }
        self.now = self.now.max(until);
    }

    /// Everything counted since the last call (or the start), and a fresh window.
    pub fn take_window(&mut self) -> Window {
        for service in 0..self.services.len() {
            self.account_busy(service);
        }
        let mut next = Window::new(
            self.now,
            self.services.len(),
            self.entries.len(),
            self.dependencies.len(),
        );
        std::mem::swap(&mut next, &mut self.window);
        next.end = self.now;
        next
    }

    /// Injects `fault`, starting at its `at_s` (or now, if that has passed or is absent) and
    /// reverting itself after `duration_s` if given.
    pub fn inject(&mut self, fault: Fault) -> Result<FaultId, FaultError> {
        fault.validate(&self.topology)?;
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
            },
        );
        if start == self.now {
            self.start_fault(id);
        } else {
            self.queue.push(start, Event::FaultStart { id });
        }
        if let Some(end) = end {
            self.queue.push(end, Event::FaultEnd { id });
        }
        Ok(id)
    }

    /// Reverts fault `id`; false if there is no such fault (it may have ended by itself).
    pub fn revert(&mut self, id: FaultId) -> bool {
        let Some(active) = self.faults.remove(&id) else {
            return false;
        };
        if active.state == FaultState::Active {
            self.set_killed(&active.fault, false);
        }
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
        let fault = active.fault.clone();
        self.set_killed(&fault, true);
    }

    fn set_killed(&mut self, fault: &Fault, killed: bool) {
        debug_assert_eq!(fault.kind, FaultKind::Kill);
        let Some(name) = &fault.service else { return };
        let Some(service) = self.topology.services.iter().position(|s| &s.name == name) else {
            return;
        };
        let targets: Vec<usize> = match fault.instance {
            Some(i) => vec![i as usize - 1],
            None => (0..self.instances[service].len()).collect(),
        };
        for instance in targets {
            if killed {
                self.kill_instance(service, instance);
            } else {
                let state = &mut self.instances[service][instance];
                state.kills = state.kills.saturating_sub(1);
            }
        }
    }

    fn kill_instance(&mut self, service: usize, instance: usize) {
        self.account_busy(service);
        let state = &mut self.instances[service][instance];
        state.kills += 1;
        if state.kills > 1 {
            return;
        }
        state.epoch += 1;
        self.busy_slots[service] -= state.busy;
        state.busy = 0;
        let waiting: Vec<JobId> = state.waiting.drain(..).collect();
        for job in waiting {
            self.finish(job, false);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Ingress { service } => self.ingress(service),
            Event::Arrive { job } => self.arrive(job),
            Event::WorkDone { job } => self.work_done(job),
            Event::CallStart { call } => self.call_start(call),
            Event::CallDone { call, token, ok } => self.call_done(call, token, ok),
            Event::FaultStart { id } => self.start_fault(id),
            Event::FaultEnd { id } => {
                self.revert(id);
            }
        }
    }

    /// An outside request reaches entry `service`; the next one is scheduled.
    fn ingress(&mut self, service: usize) {
        let next = self.now + self.interarrival(service);
        self.queue.push(next, Event::Ingress { service });
        let entry = self.services[service]
            .entry
            .expect("ingress only at entries");
        self.window.entries[entry].arrivals += 1;
        let path = Arc::new(PathNode {
            service,
            parent: None,
        });
        match self.pick_instance(service) {
            Some(instance) => {
                let job = self.new_job(service, instance, Caller::Outside { entry }, path);
                self.arrive(job);
            }
            None => self.window.entries[entry].failures += 1,
        }
    }

    fn new_job(
        &mut self,
        service: usize,
        instance: usize,
        caller: Caller,
        path: Arc<PathNode>,
    ) -> JobId {
        let epoch = self.instances[service][instance].epoch;
        self.jobs.insert(Job {
            service,
            instance,
            epoch,
            caller,
            arrived: self.now,
            path,
            pending_calls: 0,
            failed: false,
            holds_slot: false,
        })
    }

    fn arrive(&mut self, job_id: JobId) {
        let job = &mut self.jobs[job_id];
        job.arrived = self.now;
        let (service, instance) = (job.service, job.instance);
        self.hops += 1;
        self.window.services[service].arrivals += 1;
        let state = &self.instances[service][instance];
        if state.kills > 0 || state.epoch != self.jobs[job_id].epoch {
            // Connection refused.
            self.finish(job_id, false);
        } else if state.busy < self.services[service].concurrency {
            self.start_work(job_id);
        } else if state.waiting.len() < self.services[service].queue_limit {
            self.instances[service][instance].waiting.push_back(job_id);
        } else {
            self.window.services[service].rejected += 1;
            self.finish(job_id, false);
        }
    }

    fn start_work(&mut self, job_id: JobId) {
        let service = self.jobs[job_id].service;
        let instance = self.jobs[job_id].instance;
        self.account_busy(service);
        self.jobs[job_id].holds_slot = true;
        self.instances[service][instance].busy += 1;
        self.busy_slots[service] += 1;
        let work = self.work_time(service);
        self.queue
            .push(self.now + work, Event::WorkDone { job: job_id });
    }

    fn work_done(&mut self, job_id: JobId) {
        let job = &self.jobs[job_id];
        let service = job.service;
        if self.instances[service][job.instance].epoch != job.epoch {
            return self.finish(job_id, false);
        }
        if self.rng.random::<f64>() < self.services[service].error_rate {
            return self.finish(job_id, false);
        }
        let mut pending = 0;
        for i in 0..self.services[service].calls.len() {
            let dependency = self.services[service].calls[i];
            let model = &self.dependencies[dependency];
            if on_path(Some(&self.jobs[job_id].path), model.to) {
                continue;
            }
            let extra =
                model.extra_call_chance > 0.0 && self.rng.random::<f64>() < model.extra_call_chance;
            let count = model.whole_calls + u32::from(extra);
            for _ in 0..count {
                let call = self.calls.insert(Call {
                    job: job_id,
                    dependency,
                    attempt: 0,
                    token: 0,
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

    /// Sends one attempt of `call`: picks an instance and schedules the arrival and timeout.
    fn call_start(&mut self, call_id: CallId) {
        let token = self.next_token;
        self.next_token += 1;
        let call = &mut self.calls[call_id];
        call.token = token;
        let dependency = call.dependency;
        let caller = call.job;
        let model = &self.dependencies[dependency];
        let (to, half_latency, timeout) = (model.to, model.half_latency, model.timeout);
        self.window.links[dependency].calls += 1;
        match self.pick_instance(to) {
            None => {
                // Nobody to connect to: refused after a round trip.
                self.queue.push(
                    self.now + 2 * half_latency,
                    Event::CallDone {
                        call: call_id,
                        token,
                        ok: false,
                    },
                );
            }
            Some(instance) => {
                let path = Arc::new(PathNode {
                    service: to,
                    parent: Some(self.jobs[caller].path.clone()),
                });
                let child = self.new_job(
                    to,
                    instance,
                    Caller::Call {
                        call: call_id,
                        token,
                    },
                    path,
                );
                self.queue
                    .push(self.now + half_latency, Event::Arrive { job: child });
                self.queue.push(
                    self.now + timeout,
                    Event::CallDone {
                        call: call_id,
                        token,
                        ok: false,
                    },
                );
            }
        }
    }

    /// An attempt of `call` ended (answer, refusal or timeout); stale attempts are ignored.
    fn call_done(&mut self, call_id: CallId, token: u64, ok: bool) {
        let Some(call) = self.calls.get_mut(call_id) else {
            return;
        };
        if call.token != token {
            return;
        }
        let dependency = call.dependency;
        let model = &self.dependencies[dependency];
        if !ok {
            self.window.links[dependency].failures += 1;
            if call.attempt < model.retries {
                call.attempt += 1;
                call.token = u64::MAX; // no attempt in flight during the backoff
                self.window.links[dependency].retries += 1;
                let at = self.now + model.backoff;
                self.queue.push(at, Event::CallStart { call: call_id });
                return;
            }
        }
        let required = model.required;
        let job_id = call.job;
        self.calls.remove(call_id);
        let job = &mut self.jobs[job_id];
        if !ok && required {
            job.failed = true;
        }
        job.pending_calls -= 1;
        if job.pending_calls == 0 {
            let ok = !job.failed;
            self.finish(job_id, ok);
        }
    }

    /// Ends a job: frees its slot, records it, and answers its caller.
    fn finish(&mut self, job_id: JobId, ok: bool) {
        let job = self.jobs.remove(job_id);
        let service = job.service;
        // A kill bumps the epoch and frees every slot at once: work from before it is lost.
        let same_life = self.instances[service][job.instance].epoch == job.epoch;
        let ok = ok && same_life;
        if job.holds_slot && same_life {
            self.release_slot(service, job.instance);
        }
        let counters = &mut self.window.services[service];
        if ok {
            counters.successes += 1;
        } else {
            counters.failures += 1;
        }
        let latency = self.now - job.arrived;
        record_latency(&mut counters.latency, latency);
        match job.caller {
            Caller::Outside { entry } => {
                let counters = &mut self.window.entries[entry];
                if ok {
                    counters.successes += 1;
                } else {
                    counters.failures += 1;
                }
                record_latency(&mut counters.latency, latency);
            }
            Caller::Call { call, token } => {
                let half_latency = self
                    .calls
                    .get(call)
                    .map_or(0, |c| self.dependencies[c.dependency].half_latency);
                self.queue
                    .push(self.now + half_latency, Event::CallDone { call, token, ok });
            }
        }
    }

    fn release_slot(&mut self, service: usize, instance: usize) {
        self.account_busy(service);
        let state = &mut self.instances[service][instance];
        state.busy -= 1;
        self.busy_slots[service] -= 1;
        if let Some(next) = state.waiting.pop_front() {
            self.start_work(next);
        }
    }

    /// Adds busy slot-time since the last change to the window, for utilisation.
    fn account_busy(&mut self, service: usize) {
        let elapsed = self.now - self.busy_since[service];
        self.window.services[service].busy_ns +=
            u128::from(self.busy_slots[service]) * u128::from(elapsed);
        self.busy_since[service] = self.now;
    }

    /// Round-robin over the instances that are up; `None` if none is.
    fn pick_instance(&mut self, service: usize) -> Option<usize> {
        let count = self.instances[service].len();
        for _ in 0..count {
            let candidate = self.round_robin[service] % count;
            self.round_robin[service] = (candidate + 1) % count;
            if self.instances[service][candidate].kills == 0 {
                return Some(candidate);
            }
        }
        None
    }

    fn interarrival(&mut self, service: usize) -> Nanos {
        let rate = self.topology.services[service].ingress_rps;
        let u: f64 = self.rng.random();
        secs(-(1.0 - u).ln() / rate)
    }

    fn work_time(&mut self, service: usize) -> Nanos {
        let model = &self.services[service];
        let mean = model.mean_work_ns;
        let ns = match model.dist {
            ServiceTimeDist::Constant => mean,
            ServiceTimeDist::Exponential => {
                let u: f64 = self.rng.random();
                -(1.0 - u).ln() * mean
            }
            ServiceTimeDist::Lognormal => {
                // σ = 0.5, μ chosen so the mean is `service_time_ms`.
                const SIGMA: f64 = 0.5;
                let (u1, u2): (f64, f64) = (self.rng.random(), self.rng.random());
                let normal =
                    (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
                let mu = mean.ln() - SIGMA * SIGMA / 2.0;
                (mu + SIGMA * normal).exp()
            }
        };
        ns.round() as Nanos
    }
}

/// A vector of slots with a free list: O(1) insert and remove, stable ids while alive.
struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    fn insert(&mut self, value: T) -> usize {
        match self.free.pop() {
            Some(id) => {
                self.entries[id] = Some(value);
                id
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    fn remove(&mut self, id: usize) -> T {
        let value = self.entries[id].take().expect("removing a live slab entry");
        self.free.push(id);
        value
    }

    fn get(&self, id: usize) -> Option<&T> {
        self.entries.get(id).and_then(Option::as_ref)
    }

    fn get_mut(&mut self, id: usize) -> Option<&mut T> {
        self.entries.get_mut(id).and_then(Option::as_mut)
    }
}

impl<T> std::ops::Index<usize> for Slab<T> {
    type Output = T;
    fn index(&self, id: usize) -> &T {
        self.get(id).expect("live slab entry")
    }
}

impl<T> std::ops::IndexMut<usize> for Slab<T> {
    fn index_mut(&mut self, id: usize) -> &mut T {
        self.get_mut(id).expect("live slab entry")
    }
}
