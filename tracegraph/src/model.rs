//! A simulator topology of the observed system, estimated from its spans (SPEC "A model of
//! the observed system"). Spans are gathered per trace; a trace that has been quiet for
//! [`ModelConfig::settle_ns`] is folded into running sums and forgotten. From those sums:
//!
//! - `replicas`: instances seen;
//! - `service_time_ms`: self time, the SERVER span's duration minus the union of its calls'
//!   intervals; its distribution from their spread (coefficient of variation: under 0.25
//!   constant, under 0.77 lognormal, else exponential);
//! - `error_rate`: failed SERVER spans with no failed call beneath, per SERVER span;
//! - `ingress_rps`: root SERVER spans per second of observation;
//! - per dependency `calls` (calls — attempts less retries — per SERVER span of the caller),
//!   `retries` (the most repeated attempts after a failure under one parent; exact where
//!   clients set `http.request.resend_count`, from timing otherwise), `required`
//!   (`true` until a caller succeeded although its call finally failed more often than it
//!   failed with that call as its only one to fail), `latency_ms` (client minus server duration), `timeout_ms` (the
//!   longest failed attempt, when failures outlast every success), `retry_backoff_ms`.
//!
//! Pure: no I/O, no clock; the same spans at the same times give the same model. Memory is
//! bounded by the caps in [`ModelConfig`].

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use serde::Serialize;
use simulator::topology::{Dependency, Service, ServiceTimeDist, Topology};

use crate::graph::{natural_cmp, service_name};
use crate::span::{Batch, SpanKind};

const MILLI: u64 = 1_000_000;

/// How near a whole number (relatively) an estimated calls-per-request is read as it.
pub const WHOLE_CALLS_WITHIN: f64 = 0.02;

/// Limits and waits of the estimator.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// A trace quiet for this long is complete.
    pub settle_ns: u64,
    /// Traces gathered at once; past it the oldest is folded early.
    pub max_traces: usize,
    /// Spans kept of one trace.
    pub max_spans_per_trace: usize,
    /// Below this many samples an estimate is flagged thin.
    pub thin_below: u64,
    /// Services and dependencies modelled at most (spans of others are left out).
    pub max_services: usize,
    pub max_dependencies: usize,
}

impl Default for ModelConfig {
    fn default() -> ModelConfig {
        ModelConfig {
            settle_ns: 3_000 * MILLI,
            max_traces: 20_000,
            max_spans_per_trace: 512,
            thin_below: 30,
            max_services: 10_000,
            max_dependencies: 100_000,
        }
    }
}

/// What a trace keeps of a span.
#[derive(Clone, Debug)]
struct Kept {
    service: u32,
    span_id: u64,
    parent: u64,
    kind: SpanKind,
    start_ns: u64,
    end_ns: u64,
    error: bool,
    peer: Option<Box<str>>,
    resend_count: Option<u32>,
}

struct Gathering {
    spans: Vec<Kept>,
    last_arrival_ns: u64,
}

/// Running sums of one service.
#[derive(Clone, Debug, Default)]
struct ServiceSums {
    instances: Vec<String>,
    server_spans: u64,
    own_failures: u64,
    roots: u64,
    self_ms: f64,
    self_ms_squares: f64,
    first_root_ns: Option<u64>,
    last_root_ns: u64,
}

/// Running sums of one dependency.
#[derive(Clone, Debug, Default)]
struct DependencySums {
    calls: u64,
    attempts: u64,
    most_retries: u32,
    /// Paired attempts: client duration minus server duration, summed.
    paired: u64,
    gap_ms: f64,
    failed_attempts: u64,
    longest_failed_ms: f64,
    longest_ok_ms: f64,
    backoffs: u64,
    backoff_ms: f64,
    /// Calls that finally failed, by whether the caller's request failed too.
    failed_caller_failed: u64,
    failed_caller_ok: u64,
    to_virtual: bool,
}

/// How much an estimate rests on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evidence {
    pub samples: u64,
    pub thin: bool,
}

/// The evidence behind a model, per service and per dependency (`FROM->TO`).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelEvidence {
    pub traces: u64,
    pub services: BTreeMap<String, ServiceEvidence>,
    pub dependencies: BTreeMap<String, DependencyEvidence>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceEvidence {
    /// SERVER spans the self time and error rate rest on.
    pub server_spans: Evidence,
    /// Root spans the ingress rate rests on.
    pub roots: u64,
    /// The self time's coefficient of variation, which chose the distribution.
    pub self_time_cv: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DependencyEvidence {
    pub calls: Evidence,
    /// Calls that finally failed: what `required` rests on (none: `true`, unproven).
    pub final_failures: u64,
    /// Failed attempts: what `timeout_ms` and `retries` rest on.
    pub failed_attempts: u64,
}

/// Spans in, a simulator topology of the system out.
pub struct Model {
    config: ModelConfig,
    names: Vec<String>,
    index: FxHashMap<String, u32>,
    gathering: FxHashMap<u128, Gathering>,
    /// Traces in arrival order of their first span, to fold the oldest first.
    order: std::collections::VecDeque<u128>,
    services: Vec<ServiceSums>,
    dependencies: BTreeMap<(u32, u32), DependencySums>,
    traces: u64,
}

impl Model {
    pub fn new(config: ModelConfig) -> Model {
        Model {
            config,
            names: Vec::new(),
            index: FxHashMap::default(),
            gathering: FxHashMap::default(),
            order: std::collections::VecDeque::new(),
            services: Vec::new(),
            dependencies: BTreeMap::new(),
            traces: 0,
        }
    }

    fn service(&mut self, raw: &str) -> Option<u32> {
        let name = service_name(raw);
        if let Some(&i) = self.index.get(&name) {
            return Some(i);
        }
        if self.names.len() >= self.config.max_services {
            return None;
        }
        let i = self.names.len() as u32;
        self.index.insert(name.clone(), i);
        self.names.push(name);
        self.services.push(ServiceSums::default());
        Some(i)
    }

    /// The sums of `from → to`, unless there are too many dependencies already.
    fn dependency(&mut self, from: u32, to: u32) -> Option<&mut DependencySums> {
        let full = self.dependencies.len() >= self.config.max_dependencies;
        match self.dependencies.entry((from, to)) {
            std::collections::btree_map::Entry::Occupied(e) => Some(e.into_mut()),
            std::collections::btree_map::Entry::Vacant(_) if full => None,
            std::collections::btree_map::Entry::Vacant(e) => {
                Some(e.insert(DependencySums::default()))
            }
        }
    }

    /// Gathers `batch`'s spans by trace; `arrived_ns` is when it came.
    pub fn ingest(&mut self, batch: &Batch, arrived_ns: u64) {
        for resource in &batch.resources {
            let Some(service) = self.service(&resource.service) else {
                continue;
            };
            let sums = &mut self.services[service as usize];
            if !sums.instances.contains(&resource.instance) && sums.instances.len() < 1_000 {
                sums.instances.push(resource.instance.clone());
            }
            for span in &resource.spans {
                let kept = Kept {
                    service,
                    span_id: span.span_id,
                    parent: span.parent_span_id,
                    kind: span.kind,
                    start_ns: span.start_ns,
                    end_ns: span.end_ns.max(span.start_ns),
                    error: span.error,
                    peer: span.peer.clone(),
                    resend_count: span.resend_count,
                };
                let gathering = self.gathering.entry(span.trace_id).or_insert_with(|| {
                    self.order.push_back(span.trace_id);
                    Gathering {
                        spans: Vec::new(),
                        last_arrival_ns: arrived_ns,
                    }
                });
                gathering.last_arrival_ns = arrived_ns;
                if gathering.spans.len() < self.config.max_spans_per_trace {
                    gathering.spans.push(kept);
                }
            }
        }
        while self.gathering.len() > self.config.max_traces {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(trace) = self.gathering.remove(&oldest) {
                self.fold(trace.spans);
            }
        }
    }

    /// Folds the traces quiet since `now_ns − settle_ns`.
    pub fn advance(&mut self, now_ns: u64) {
        let settled = now_ns.saturating_sub(self.config.settle_ns);
        while let Some(&oldest) = self.order.front() {
            match self.gathering.get(&oldest) {
                None => {
                    self.order.pop_front();
                }
                Some(trace) if trace.last_arrival_ns <= settled => {
                    self.order.pop_front();
                    let trace = self.gathering.remove(&oldest).expect("present");
                    self.fold(trace.spans);
                }
                // Traces come in roughly in order: the first unsettled one ends the sweep.
                Some(_) => break,
            }
        }
    }

    /// Adds one complete trace to the sums.
    fn fold(&mut self, mut spans: Vec<Kept>) {
        self.traces += 1;
        spans.sort_by_key(|s| (s.start_ns, s.span_id));
        let mut children: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        for (i, span) in spans.iter().enumerate() {
            if span.parent != 0 {
                children.entry(span.parent).or_default().push(i);
            }
        }
        for server in spans.iter().filter(|s| s.kind.is_incoming()) {
            let sums = &mut self.services[server.service as usize];
            sums.server_spans += 1;
            if server.parent == 0 {
                sums.roots += 1;
                sums.first_root_ns = Some(
                    sums.first_root_ns
                        .map_or(server.start_ns, |f| f.min(server.start_ns)),
                );
                sums.last_root_ns = sums.last_root_ns.max(server.start_ns);
            }
            // Its calls: outgoing spans beneath it (through INTERNAL spans too).
            let mut calls: Vec<usize> = Vec::new();
            let mut stack = vec![server.span_id];
            while let Some(parent) = stack.pop() {
                for &child in children.get(&parent).into_iter().flatten() {
                    let span = &spans[child];
                    if span.kind.is_outgoing() {
                        calls.push(child);
                    } else if span.kind == SpanKind::Internal && calls.len() < 10_000 {
                        stack.push(span.span_id);
                    }
                }
            }
            let failed_beneath = calls.iter().any(|&c| spans[c].error);
            if server.error && !failed_beneath {
                self.services[server.service as usize].own_failures += 1;
            }
            // Waiting on calls, and between a failed attempt and its retry.
            let mut waiting: Vec<(u64, u64)> = calls
                .iter()
                .map(|&c| (spans[c].start_ns, spans[c].end_ns))
                .collect();
            // Attempts grouped by callee, in start order.
            let mut by_callee: BTreeMap<(u32, bool), Vec<usize>> = BTreeMap::new();
            for &call in &calls {
                let answer = children
                    .get(&spans[call].span_id)
                    .into_iter()
                    .flatten()
                    .find(|&&c| spans[c].kind.is_incoming())
                    .copied();
                let callee = match (answer, &spans[call].peer) {
                    (Some(answer), _) => (spans[answer].service, false),
                    (None, Some(peer)) => {
                        let name = peer.to_string();
                        match self.service(&name) {
                            Some(callee) => (callee, true),
                            None => continue,
                        }
                    }
                    (None, None) => continue,
                };
                let Some(dependency) = self.dependency(server.service, callee.0) else {
                    continue;
                };
                by_callee.entry(callee).or_default().push(call);
                let span = &spans[call];
                let took_ms = (span.end_ns - span.start_ns) as f64 / 1e6;
                if let Some(answer) = answer {
                    let answered_ms = (spans[answer].end_ns - spans[answer].start_ns) as f64 / 1e6;
                    dependency.paired += 1;
                    dependency.gap_ms += (took_ms - answered_ms).max(0.0);
                }
                if span.error {
                    dependency.failed_attempts += 1;
                    dependency.longest_failed_ms = dependency.longest_failed_ms.max(took_ms);
                } else {
                    dependency.longest_ok_ms = dependency.longest_ok_ms.max(took_ms);
                }
            }
            let mut finally_failed: Vec<(u32, u64)> = Vec::new();
            for ((callee, to_virtual), attempts) in by_callee {
                let dependency = self
                    .dependencies
                    .get_mut(&(server.service, callee))
                    .expect("made as its attempts were grouped");
                dependency.to_virtual |= to_virtual;
                dependency.attempts += attempts.len() as u64;
                // An attempt that starts as (or after) a failed one ends is its retry — the
                // failure not retried yet that ended last before it, as calls may run side
                // by side; the rest are calls. `finals` holds each call's last attempt.
                let mut calls = 0u64;
                let mut finals: Vec<usize> = Vec::new();
                // (failed attempt, retries before it, its call)
                let mut open: Vec<(usize, u32, usize)> = Vec::new();
                let resends_counted = attempts.iter().any(|&a| spans[a].resend_count.is_some());
                for &attempt in &attempts {
                    let start = spans[attempt].start_ns;
                    // The failure that ended last before it: with a fixed backoff, the
                    // one it follows. A client that says which attempt this is
                    // (`http.request.resend_count`) settles it: the first attempt is a
                    // call, the k-th resend follows a failure with k − 1 resends before.
                    // Clients may set it on resends only: beside one that has it, an
                    // attempt without it is a first.
                    let resend = spans[attempt].resend_count.or(resends_counted.then_some(0));
                    let latest_failure = |matches: &dyn Fn(u32) -> bool| {
                        open.iter()
                            .enumerate()
                            // Both are the caller's spans, on one clock: no slack.
                            .filter(|(_, (failed, before, _))| {
                                spans[*failed].end_ns <= start && matches(*before)
                            })
                            .max_by_key(|(i, (failed, _, _))| {
                                (spans[*failed].end_ns, usize::MAX - i)
                            })
                            .map(|(i, _)| i)
                    };
                    let retried = match resend {
                        Some(0) => None,
                        Some(k) => latest_failure(&|before| before + 1 == k)
                            .or_else(|| latest_failure(&|_| true)),
                        None => latest_failure(&|_| true),
                    };
                    let (call, retries) = match retried {
                        Some(at) => {
                            let (failed, before, call) = open.remove(at);
                            let gap = (spans[failed].end_ns.min(start), start);
                            waiting.push(gap);
                            dependency.backoffs += 1;
                            dependency.backoff_ms += (gap.1 - gap.0) as f64 / 1e6;
                            dependency.most_retries = dependency.most_retries.max(before + 1);
                            finals[call] = attempt;
                            (call, before + 1)
                        }
                        None => {
                            calls += 1;
                            finals.push(attempt);
                            (finals.len() - 1, 0)
                        }
                    };
                    if spans[attempt].error {
                        open.push((attempt, retries, call));
                    }
                }
                dependency.calls += calls;
                let failed = finals.iter().filter(|&&last| spans[last].error).count() as u64;
                if failed > 0 {
                    finally_failed.push((callee, failed));
                }
            }
            // Evidence for `required`: a caller that succeeded although a call finally
            // failed says optional; one that failed when that was its only callee to fail
            // says required (with several failing, which one failed it is unknown).
            let alone = finally_failed.len() == 1;
            for (callee, failed) in finally_failed {
                let dependency = self
                    .dependencies
                    .get_mut(&(server.service, callee))
                    .expect("counted above");
                if !server.error {
                    dependency.failed_caller_ok += failed;
                } else if alone {
                    dependency.failed_caller_failed += failed;
                }
            }
            let busy = union_ns(waiting.into_iter());
            let self_ms = (server.end_ns - server.start_ns).saturating_sub(busy) as f64 / 1e6;
            let sums = &mut self.services[server.service as usize];
            sums.self_ms += self_ms;
            sums.self_ms_squares += self_ms * self_ms;
        }
    }

    /// The model now, as a topology named `name`, and what each estimate rests on.
    pub fn topology(&self, name: &str) -> (Topology, ModelEvidence) {
        let thin = |n: u64| n < self.config.thin_below;
        let mut evidence = ModelEvidence {
            traces: self.traces,
            ..ModelEvidence::default()
        };
        let mut order: Vec<u32> = (0..self.names.len() as u32)
            .filter(|&i| {
                self.services[i as usize].server_spans > 0
                    || self.dependencies.keys().any(|&(_, to)| to == i)
            })
            .collect();
        order.sort_by(|&a, &b| natural_cmp(&self.names[a as usize], &self.names[b as usize]));
        let mut services = Vec::new();
        for &i in &order {
            let sums = &self.services[i as usize];
            let name = &self.names[i as usize];
            let mut service = Service::new(name);
            service.replicas = (sums.instances.len() as u32).max(1);
            let n = sums.server_spans;
            let mut cv = None;
            if n == 0 {
                // Sends no spans: a database or outside API, seen only through its calls.
                service.is_virtual = true;
                service.service_time_ms = self
                    .dependencies
                    .iter()
                    .filter(|((_, to), _)| *to == i)
                    .map(|(_, d)| d.longest_ok_ms)
                    .fold(0.0, f64::max)
                    .max(0.1);
            } else {
                let mean = sums.self_ms / n as f64;
                let variance = (sums.self_ms_squares / n as f64 - mean * mean).max(0.0);
                let spread = if mean > 0.0 {
                    variance.sqrt() / mean
                } else {
                    0.0
                };
                cv = Some(round3(spread));
                service.service_time_ms = round3(mean.max(0.01));
                service.service_time_dist = if spread < 0.25 {
                    ServiceTimeDist::Constant
                } else if spread < 0.77 {
                    ServiceTimeDist::Lognormal
                } else {
                    ServiceTimeDist::Exponential
                };
                service.error_rate = round6(sums.own_failures as f64 / n as f64);
                if sums.roots > 0
                    && let Some(first) = sums.first_root_ns
                {
                    let span_s = (sums.last_root_ns.saturating_sub(first) as f64 / 1e9).max(1.0);
                    service.ingress_rps = round3(sums.roots as f64 / span_s);
                }
            }
            evidence.services.insert(
                name.clone(),
                ServiceEvidence {
                    server_spans: Evidence {
                        samples: n,
                        thin: thin(n),
                    },
                    roots: sums.roots,
                    self_time_cv: cv,
                },
            );
            services.push(service);
        }
        let mut dependencies = Vec::new();
        for (&(from, to), sums) in &self.dependencies {
            let callers = self.services[from as usize].server_spans.max(1);
            let (from_name, to_name) = (&self.names[from as usize], &self.names[to as usize]);
            let mut dependency = Dependency::new(from_name, to_name);
            dependency.calls = whole_if_near(round3(sums.calls as f64 / callers as f64));
            dependency.retries = sums.most_retries;
            dependency.required = sums.failed_caller_ok <= sums.failed_caller_failed;
            if sums.paired > 0 {
                dependency.latency_ms = round3(sums.gap_ms / sums.paired as f64);
            }
            if sums.backoffs > 0 {
                dependency.retry_backoff_ms = round3(sums.backoff_ms / sums.backoffs as f64);
            }
            if sums.failed_attempts > 0 && sums.longest_failed_ms > sums.longest_ok_ms {
                dependency.timeout_ms = round3(sums.longest_failed_ms);
            }
            evidence.dependencies.insert(
                format!("{from_name}->{to_name}"),
                DependencyEvidence {
                    calls: Evidence {
                        samples: sums.calls,
                        thin: thin(sums.calls),
                    },
                    final_failures: sums.failed_caller_failed + sums.failed_caller_ok,
                    failed_attempts: sums.failed_attempts,
                },
            );
            dependencies.push(dependency);
        }
        let topology = Topology {
            name: name.to_string(),
            routing: Default::default(),
            services,
            dependencies,
            layout: BTreeMap::new(),
        };
        (topology, evidence)
    }
}

/// Nanoseconds covered by the union of `intervals`.
fn union_ns(intervals: impl Iterator<Item = (u64, u64)>) -> u64 {
    let mut sorted: Vec<(u64, u64)> = intervals.collect();
    sorted.sort_unstable();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for (start, end) in sorted {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    total + current.map_or(0, |(s, e)| e - s)
}

/// Calls per request within [`WHOLE_CALLS_WITHIN`] of a whole number read as that number:
/// a call made on every request, missed in a few traces (cut short, or caught half
/// exported), would otherwise read 0.99 — and a service every request needs would not be
/// predicted a single point of failure (that takes a call on *every* request).
fn whole_if_near(calls: f64) -> f64 {
    let whole = calls.round();
    if whole >= 1.0 && (calls - whole).abs() <= WHOLE_CALLS_WITHIN * whole {
        whole
    } else {
        calls
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::{union_ns, whole_if_near};

    #[test]
    fn calls_near_a_whole_number_read_as_it() {
        assert_eq!(whole_if_near(0.995), 1.0);
        assert_eq!(whole_if_near(1.004), 1.0);
        assert_eq!(whole_if_near(2.03), 2.0);
        assert_eq!(whole_if_near(0.97), 0.97);
        assert_eq!(whole_if_near(1.5), 1.5);
        assert_eq!(whole_if_near(0.004), 0.004);
    }

    #[test]
    fn overlapping_calls_count_once() {
        assert_eq!(union_ns([(0, 10), (5, 15), (20, 25)].into_iter()), 20);
        assert_eq!(union_ns(std::iter::empty()), 0);
        assert_eq!(union_ns([(3, 3)].into_iter()), 0);
    }
}
