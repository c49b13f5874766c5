//! The live service graph of an observed system, built from its spans as the OpenTelemetry
//! Collector's servicegraph connector and Tempo build theirs, and its figures over the last
//! second.
//!
//! # Pairing
//! A CLIENT (or PRODUCER) span of service A whose child SERVER (or CONSUMER) span is in B
//! makes the link A → B; either may arrive first, so the one that comes first waits in a
//! store of unpaired spans for the pairing time-to-live (plus the lag below). Once a client
//! span's named callee (its `peer` attributes) has paired with B, later calls of A naming
//! the same callee count at once, without waiting for B's span: a call that fails before
//! reaching B (refused, timed out) has no child at all, and is counted against A → B all the
//! same. A name that paired with two callees is never used that way again. A client span
//! still unpaired when its wait ends is a call to a *virtual* service named by its peer
//! attributes (a database, an outside API), or, naming none, is dropped and counted. A
//! SERVER span without a parent makes its service an entry point; so do those whose parent
//! never arrived, when they are at least half of the service's SERVER spans with a parent
//! (a caller that sends no spans); a few lost parents (a caller crashed before exporting)
//! make none. The store is capped: past the cap the oldest waiting spans are decided
//! early (and counted as evicted).
//!
//! # Time
//! No wall clock: spans carry their own times, and the caller says when a batch arrived and
//! what time it is at each tick (Unix nanoseconds, never going back). Figures are counted by
//! the time a span *ended*, in buckets of [`Config::bucket_ns`]; the live figures cover
//! [`Config::window_ns`] of span time ending `lag` before now, where `lag` is the longest
//! delay between a span's end and its arrival seen over the last few seconds (an SDK's batch
//! processor holds spans for up to 5 s by default), so a window is complete when it is
//! shown. An instance whose spans end in the future of their arrival (its clock is ahead)
//! has its times moved back by that much.
//!
//! # Determinism
//! The same batches with the same arrival and tick times give the same figures: nothing
//! depends on hash order or the wall clock.
//!
//! # Memory
//! Bounded by the configuration: services, links and instances are capped (spans beyond the
//! caps are counted and dropped), the unpaired store is capped, and the buckets form a ring.

use std::collections::{BTreeMap, VecDeque};

use rustc_hash::FxHashMap;
use simulator::measure::ratio;
use simulator::topology::{Dependency, Routing, Service, Topology};
use simulator::wire::{DEGRADED_BELOW, EntryFigures, Health, LinkFigures, ServiceFigures, Tick};

use crate::counts::Counts;
use crate::span::{Batch, Span, SpanKind};

/// How the graph waits, forgets and bounds itself. Times in nanoseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Width of a span-time bucket.
    pub bucket_ns: u64,
    /// Span time the live figures cover.
    pub window_ns: u64,
    /// Longest lag between a span's end and its arrival that the figures wait for.
    pub max_lag_ns: u64,
    /// How long an unpaired span waits for its partner, beyond the lag.
    pub pairing_ttl_ns: u64,
    /// Most spans waiting for a partner (and calls remembered as counted).
    pub pending_cap: usize,
    /// A service, link or instance not seen for this long leaves the graph (`--observe-ttl`).
    pub forget_after_ns: u64,
    /// An instance silent for this long (beyond the lag) may be down.
    pub silent_after_ns: u64,
    pub max_services: usize,
    pub max_links: usize,
    pub max_instances_per_service: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bucket_ns: 100 * MILLI,
            window_ns: 1_000 * MILLI,
            max_lag_ns: 8_000 * MILLI,
            pairing_ttl_ns: 2_000 * MILLI,
            pending_cap: 500_000,
            forget_after_ns: 600_000 * MILLI,
            silent_after_ns: 2_000 * MILLI,
            max_services: 10_000,
            max_links: 100_000,
            max_instances_per_service: 1_000,
        }
    }
}

const MILLI: u64 = 1_000_000;

/// The name an observed system's topology carries.
pub const TOPOLOGY_NAME: &str = "observed";

/// Buckets past "now" kept for spans that end a little in the future of the graph's clock.
const FUTURE_BUCKETS: u64 = 2;

/// Parented SERVER spans a service's orphan share is judged over (halved past it).
const ORPHAN_MEMORY: u64 = 10_000;

/// Arrival seconds over which the longest lag is remembered.
const LAG_MEMORY_S: usize = 5;

/// What the graph has counted since it started, for `/metrics` and the tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub spans: u64,
    /// Client and server spans paired by id.
    pub paired: u64,
    /// Calls counted at once by their callee's name: one that had paired before, or a
    /// database's.
    pub by_peer: u64,
    /// Client spans that never paired and became calls to a virtual service.
    pub to_virtual: u64,
    /// Client spans that never paired and named no callee: dropped.
    pub unpaired_dropped: u64,
    /// Waiting spans decided early because the store was full.
    pub evicted: u64,
    /// Spans that ended too long ago to count in any bucket still kept.
    pub late: u64,
    /// Spans dropped because a cap on services, links or instances was reached.
    pub over_cap: u64,
    /// SERVER spans whose parent never arrived, of a service whose callers mostly send
    /// spans (the parent was lost, say in a crash): no entry point is made of them.
    pub orphaned: u64,
}

type SpanKey = (u128, u64);

struct ServiceState {
    name: String,
    is_virtual: bool,
    /// Arrival time of its last span (or call to it, for a virtual one).
    last_seen_ns: u64,
    /// Arrival time of the last request it took as an entry point.
    entry_seen_ns: Option<u64>,
    /// SERVER spans with a parent span, and those whose parent never arrived (decayed by
    /// halving): a service most of whose callers send no spans is an entry point, one that
    /// lost a few parents (a caller crashed before exporting) is not.
    parented: u64,
    orphaned: u64,
    /// Arrival time of the last failed call to it that no SERVER span answered (refused,
    /// reset, timed out): a silent instance seen before it is down.
    unanswered_ns: u64,
    instances: Vec<InstanceState>,
    forgotten: bool,
}

struct InstanceState {
    id: String,
    last_seen_ns: u64,
    /// How far its clock runs ahead of arrivals (0 when behind).
    skew_ns: u64,
    forgotten: bool,
}

struct LinkState {
    from: u32,
    to: u32,
    last_seen_ns: u64,
    forgotten: bool,
}

/// A callee name (peer attributes) as seen from one caller.
struct Peer {
    callee: u32,
    /// It paired with two different callees: wait for pairing every time.
    ambiguous: bool,
}

struct PendingClient {
    caller: u32,
    end_ns: u64,
    duration_ns: u64,
    error: bool,
    peer: Option<Box<str>>,
}

struct PendingServer {
    service: u32,
    end_ns: u64,
    duration_ns: u64,
    error: bool,
}

#[derive(Clone, Copy)]
enum Waiting {
    Client,
    Server,
    Counted,
}

struct Expiry {
    arrived_ns: u64,
    waiting: Waiting,
    key: SpanKey,
}

struct Bucket {
    index: u64,
    counts: Counts,
}

/// The longest arrival lag per arrival second, for the last few seconds.
#[derive(Default)]
struct Lag {
    seconds: [(u64, u64); LAG_MEMORY_S],
}

impl Lag {
    fn observe(&mut self, arrived_ns: u64, lag_ns: u64) {
        let second = arrived_ns / 1_000_000_000;
        let slot = &mut self.seconds[second as usize % LAG_MEMORY_S];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 = slot.1.max(lag_ns);
    }

    fn current(&self, now_ns: u64) -> u64 {
        let second = now_ns / 1_000_000_000;
        self.seconds
            .iter()
            .filter(|(s, _)| *s + LAG_MEMORY_S as u64 > second)
            .map(|(_, lag)| *lag)
            .max()
            .unwrap_or(0)
    }
}

/// The observed service graph and its figures. See the module docs.
pub struct Graph {
    config: Config,
    services: Vec<ServiceState>,
    by_name: FxHashMap<String, u32>,
    links: Vec<LinkState>,
    by_link: FxHashMap<(u32, u32), u32>,
    /// By caller, then by the callee name its spans give (looked up without allocating).
    peers: FxHashMap<u32, FxHashMap<Box<str>, Peer>>,
    pending_clients: FxHashMap<SpanKey, PendingClient>,
    /// Keyed by trace and *parent* span id.
    pending_servers: FxHashMap<SpanKey, PendingServer>,
    /// Outgoing and internal spans already accounted for, so a late child knows its parent
    /// was seen.
    /// Spans already counted, waiting only to be forgotten; for a failed call, its callee
    /// until a SERVER span answers it.
    counted: FxHashMap<SpanKey, Option<u32>>,
    expiry: VecDeque<Expiry>,
    ring: Vec<Bucket>,
    /// The running sum of buckets `window.0..window.1`.
    sum: Counts,
    window: (u64, u64),
    lag: Lag,
    now_ns: u64,
    version: u64,
    stats: Stats,
}

impl Graph {
    pub fn new(config: Config) -> Graph {
        let buckets =
            (config.max_lag_ns + config.window_ns) / config.bucket_ns.max(1) + FUTURE_BUCKETS + 2;
        Graph {
            ring: (0..buckets)
                .map(|_| Bucket {
                    index: u64::MAX,
                    counts: Counts::default(),
                })
                .collect(),
            config,
            services: Vec::new(),
            by_name: FxHashMap::default(),
            links: Vec::new(),
            by_link: FxHashMap::default(),
            peers: FxHashMap::default(),
            pending_clients: FxHashMap::default(),
            pending_servers: FxHashMap::default(),
            counted: FxHashMap::default(),
            expiry: VecDeque::new(),
            sum: Counts::default(),
            window: (0, 0),
            lag: Lag::default(),
            now_ns: 0,
            version: 0,
            stats: Stats::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bumped whenever a service, link, instance or entry point appears or leaves, or a
    /// virtual service turns out to send spans: a new drawing is due.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The graph's clock: the latest time it was given.
    pub fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// Spans waiting for a partner now.
    pub fn waiting(&self) -> usize {
        self.pending_clients.len() + self.pending_servers.len()
    }

    /// The lag the live figures wait for now.
    pub fn lag_ns(&self) -> u64 {
        self.lag.current(self.now_ns).min(self.config.max_lag_ns)
    }

    /// Takes in the spans of one export request that arrived at `arrived_ns`.
    ///
    /// # Complexity
    /// O(spans) expected (hash look-ups), plus O(buckets × services) when the clock moves a
    /// bucket on.
    pub fn ingest(&mut self, batch: &Batch, arrived_ns: u64) {
        self.set_clock(arrived_ns);
        let now = self.now_ns;
        for resource in &batch.resources {
            let Some(service) = self.service_index(&resource.service, false, arrived_ns) else {
                self.stats.over_cap += resource.spans.len() as u64;
                continue;
            };
            let Some(instance) = self.instance_index(service, &resource.instance) else {
                self.stats.over_cap += resource.spans.len() as u64;
                continue;
            };
            // Clock skew: an instance whose spans end after they arrive runs ahead.
            let latest_end = resource.spans.iter().map(|s| s.end_ns).max().unwrap_or(0);
            let earliest_end = resource.spans.iter().map(|s| s.end_ns).min().unwrap_or(0);
            let state = &mut self.services[service as usize].instances[instance as usize];
            state.skew_ns = latest_end.saturating_sub(now);
            state.last_seen_ns = now;
            let skew = state.skew_ns;
            self.services[service as usize].last_seen_ns = now;
            if !resource.spans.is_empty() {
                let lag = now.saturating_sub(earliest_end.saturating_sub(skew));
                self.lag.observe(now, lag.min(self.config.max_lag_ns));
            }
            for span in &resource.spans {
                self.stats.spans += 1;
                self.take(service, span, skew);
            }
        }
        self.move_window();
    }

    /// One span of `service`, its times moved back by `skew`.
    fn take(&mut self, service: u32, span: &Span, skew: u64) {
        let end_ns = span.end_ns.saturating_sub(skew);
        let duration_ns = span.duration_ns();
        let key = (span.trace_id, span.span_id);
        if self.too_late(end_ns) {
            // Still paired below (the graph learns from it), but counted in no figures.
            self.stats.late += 1;
        }
        if span.kind.is_incoming() {
            let error = span.error;
            self.record(end_ns, |c| {
                let s = c.service(service);
                s.spans += 1;
                s.errors += u64::from(error);
                s.latency.record(duration_ns);
            });
            if span.parent_span_id == 0 {
                self.count_entry(service, end_ns, duration_ns, error);
                return;
            }
            let parent = (span.trace_id, span.parent_span_id);
            let state = &mut self.services[service as usize];
            state.parented += 1;
            if state.parented > ORPHAN_MEMORY {
                state.parented /= 2;
                state.orphaned /= 2;
            }
            if let Some(client) = self.pending_clients.remove(&parent) {
                self.stats.paired += 1;
                self.learn_peer(client.caller, client.peer.as_deref(), service);
                self.count_call(
                    client.caller,
                    service,
                    client.end_ns,
                    client.duration_ns,
                    client.error,
                );
            } else if let Some(unanswered) = self.counted.get_mut(&parent) {
                // A call already counted by its callee's name: answered after all.
                *unanswered = None;
            } else {
                self.pending_servers.insert(
                    parent,
                    PendingServer {
                        service,
                        end_ns,
                        duration_ns,
                        error,
                    },
                );
                self.wait(Waiting::Server, parent);
            }
        } else if span.kind.is_outgoing() {
            if let Some(server) = self.pending_servers.remove(&key) {
                self.stats.paired += 1;
                self.learn_peer(service, span.peer.as_deref(), server.service);
                self.count_call(service, server.service, end_ns, duration_ns, span.error);
                return;
            }
            let known = match span.peer.as_deref() {
                Some(peer) if span.database => self.service_index(peer, true, self.now_ns),
                Some(peer) => self
                    .peers
                    .get(&service)
                    .and_then(|by_name| by_name.get(peer))
                    .filter(|found| !found.ambiguous)
                    .map(|found| found.callee),
                None => None,
            };
            if let Some(callee) = known {
                self.stats.by_peer += 1;
                self.count_call(service, callee, end_ns, duration_ns, span.error);
                let awaited =
                    (span.error && !self.services[callee as usize].is_virtual).then_some(callee);
                self.counted.insert(key, awaited);
                self.wait(Waiting::Counted, key);
            } else {
                self.pending_clients.insert(
                    key,
                    PendingClient {
                        caller: service,
                        end_ns,
                        duration_ns,
                        error: span.error,
                        peer: span.peer.clone(),
                    },
                );
                self.wait(Waiting::Client, key);
            }
        } else if span.kind == SpanKind::Internal {
            // A server span may hang under an internal one (context propagated without a
            // client span): then its parent was seen and it is no entry point.
            if self.pending_servers.remove(&key).is_none() {
                self.counted.insert(key, None);
                self.wait(Waiting::Counted, key);
            }
        }
    }

    fn wait(&mut self, waiting: Waiting, key: SpanKey) {
        self.expiry.push_back(Expiry {
            arrived_ns: self.now_ns,
            waiting,
            key,
        });
        while self.expiry.len() > self.config.pending_cap {
            let oldest = self.expiry.pop_front().expect("over the cap, so not empty");
            if self.decide(&oldest) {
                self.stats.evicted += 1;
            }
        }
    }

    /// Decides a span whose wait is over; false if it had been paired meanwhile.
    fn decide(&mut self, expired: &Expiry) -> bool {
        match expired.waiting {
            Waiting::Counted => match self.counted.remove(&expired.key) {
                None => false,
                Some(unanswered) => {
                    if let Some(callee) = unanswered {
                        let state = &mut self.services[callee as usize];
                        state.unanswered_ns = state.unanswered_ns.max(expired.arrived_ns);
                    }
                    true
                }
            },
            Waiting::Server => {
                let Some(server) = self.pending_servers.remove(&expired.key) else {
                    return false;
                };
                let state = &mut self.services[server.service as usize];
                state.orphaned += 1;
                if state.orphaned * 2 < state.parented {
                    self.stats.orphaned += 1;
                    return true;
                }
                self.count_entry(
                    server.service,
                    server.end_ns,
                    server.duration_ns,
                    server.error,
                );
                true
            }
            Waiting::Client => {
                let Some(client) = self.pending_clients.remove(&expired.key) else {
                    return false;
                };
                let Some(peer) = client.peer.as_deref() else {
                    self.stats.unpaired_dropped += 1;
                    return true;
                };
                let Some(callee) = self.service_index(peer, true, expired.arrived_ns) else {
                    self.stats.over_cap += 1;
                    return true;
                };
                self.stats.to_virtual += 1;
                self.learn_peer(client.caller, Some(peer), callee);
                self.count_call_seen(
                    client.caller,
                    callee,
                    client.end_ns,
                    client.duration_ns,
                    client.error,
                    expired.arrived_ns,
                );
                true
            }
        }
    }

    fn learn_peer(&mut self, caller: u32, peer: Option<&str>, callee: u32) {
        let Some(peer) = peer else { return };
        let by_name = self.peers.entry(caller).or_default();
        match by_name.get_mut(peer) {
            Some(known) if known.callee != callee => known.ambiguous = true,
            Some(_) => {}
            None => {
                by_name.insert(
                    Box::from(peer),
                    Peer {
                        callee,
                        ambiguous: false,
                    },
                );
            }
        }
    }

    fn count_entry(&mut self, service: u32, end_ns: u64, duration_ns: u64, error: bool) {
        let state = &mut self.services[service as usize];
        if state.entry_seen_ns.is_none() {
            self.version += 1;
        }
        state.entry_seen_ns = Some(self.now_ns);
        self.record(end_ns, |c| {
            let e = c.entry(service);
            e.roots += 1;
            e.errors += u64::from(error);
            e.latency.record(duration_ns);
        });
    }

    /// A call `from` → `to` that ended at `end_ns`; a virtual callee, which sends no spans,
    /// is measured by the calls made to it.
    fn count_call(&mut self, from: u32, to: u32, end_ns: u64, duration_ns: u64, error: bool) {
        self.count_call_seen(from, to, end_ns, duration_ns, error, self.now_ns);
    }

    /// [`Graph::count_call`] of a call that arrived at `seen_ns`.
    fn count_call_seen(
        &mut self,
        from: u32,
        to: u32,
        end_ns: u64,
        duration_ns: u64,
        error: bool,
        seen_ns: u64,
    ) {
        let Some(link) = self.link_index(from, to, seen_ns) else {
            self.stats.over_cap += 1;
            return;
        };
        let callee_virtual = self.services[to as usize].is_virtual;
        if callee_virtual {
            let callee = &mut self.services[to as usize];
            callee.last_seen_ns = callee.last_seen_ns.max(seen_ns);
        }
        self.record(end_ns, |c| {
            let l = c.link(link);
            l.calls += 1;
            l.failures += u64::from(error);
            if callee_virtual {
                let s = c.service(to);
                s.spans += 1;
                s.errors += u64::from(error);
                s.latency.record(duration_ns);
            }
        });
    }

    /// Whether span time `end_ns` is older than every bucket kept.
    fn too_late(&self, end_ns: u64) -> bool {
        let top = self.now_ns / self.config.bucket_ns + FUTURE_BUCKETS;
        end_ns / self.config.bucket_ns + self.ring.len() as u64 <= top
    }

    /// Adds to the bucket of span time `end_ns`, and to the live sum if it covers it.
    fn record(&mut self, end_ns: u64, add: impl Fn(&mut Counts)) {
        let index = end_ns / self.config.bucket_ns;
        let now_index = self.now_ns / self.config.bucket_ns;
        let top = now_index + FUTURE_BUCKETS;
        let n = self.ring.len() as u64;
        let index = index.min(top);
        if index + n <= top {
            return;
        }
        let bucket = &mut self.ring[(index % n) as usize];
        if bucket.index != index {
            bucket.index = index;
            bucket.counts.clear();
        }
        add(&mut bucket.counts);
        if (self.window.0..self.window.1).contains(&index) {
            add(&mut self.sum);
        }
    }

    fn set_clock(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
    }

    /// Moves the live sum to the window the clock and lag call for.
    fn move_window(&mut self) {
        let bucket = self.config.bucket_ns;
        let hi = self.now_ns.saturating_sub(self.lag_ns()) / bucket;
        let lo = hi.saturating_sub(self.config.window_ns / bucket);
        let (old_lo, old_hi) = self.window;
        if (lo, hi) == (old_lo, old_hi) {
            return;
        }
        let n = self.ring.len() as u64;
        let mut ok = true;
        if lo >= old_hi || hi <= old_lo {
            self.sum.clear();
            self.add_buckets(lo, hi);
        } else {
            for index in old_lo..lo.min(old_hi) {
                let bucket = &self.ring[(index % n) as usize];
                if bucket.index == index {
                    ok &= self.sum.unmerge(&bucket.counts);
                }
            }
            for index in hi.max(old_lo)..old_hi {
                let bucket = &self.ring[(index % n) as usize];
                if bucket.index == index {
                    ok &= self.sum.unmerge(&bucket.counts);
                }
            }
            self.add_buckets(lo, old_lo.max(lo).min(hi));
            self.add_buckets(old_hi.max(lo).min(hi), hi);
        }
        if !ok {
            // Cannot happen (every bucket subtracted was added); recount rather than show
            // wrong figures.
            self.sum.clear();
            self.add_buckets(lo, hi);
        }
        self.window = (lo, hi);
    }

    fn add_buckets(&mut self, lo: u64, hi: u64) {
        let n = self.ring.len() as u64;
        for index in lo..hi {
            let bucket = &self.ring[(index % n) as usize];
            if bucket.index == index {
                self.sum.merge(&bucket.counts);
            }
        }
    }

    /// Moves the clock to `now_ns`: decides the spans whose wait is over, forgets what has
    /// gone quiet, and moves the live window. Call before each [`Graph::tick`].
    pub fn advance(&mut self, now_ns: u64) {
        self.set_clock(now_ns);
        let ttl = self.config.pairing_ttl_ns + self.lag_ns();
        while let Some(front) = self.expiry.front() {
            if front.arrived_ns + ttl > self.now_ns {
                break;
            }
            let expired = self.expiry.pop_front().expect("front exists");
            self.decide(&expired);
        }
        self.forget();
        self.move_window();
    }

    fn forget(&mut self) {
        let Some(horizon) = self.now_ns.checked_sub(self.config.forget_after_ns) else {
            return;
        };
        let mut changed = false;
        for service in &mut self.services {
            if service.forgotten {
                continue;
            }
            if service.last_seen_ns < horizon {
                service.forgotten = true;
                service.entry_seen_ns = None;
                changed = true;
                continue;
            }
            if service.entry_seen_ns.is_some_and(|t| t < horizon) {
                service.entry_seen_ns = None;
                changed = true;
            }
            for instance in &mut service.instances {
                if !instance.forgotten && instance.last_seen_ns < horizon {
                    instance.forgotten = true;
                    changed = true;
                }
            }
        }
        for link in &mut self.links {
            if !link.forgotten
                && (link.last_seen_ns < horizon
                    || self.services[link.from as usize].forgotten
                    || self.services[link.to as usize].forgotten)
            {
                link.forgotten = true;
                changed = true;
            }
        }
        if changed {
            self.version += 1;
        }
    }

    /// The number of the service named `raw` (as a valid topology name), added if new;
    /// `None` past the cap.
    fn service_index(&mut self, raw: &str, is_virtual: bool, seen_ns: u64) -> Option<u32> {
        let now = seen_ns;
        // A name already in the graph is valid as it is (a fixed point of `service_name`):
        // found without making a new string, which a database call on every span would.
        let known = self.by_name.get(raw).copied();
        let name = match known {
            Some(_) => String::new(),
            None => service_name(raw),
        };
        if let Some(index) = known.or_else(|| self.by_name.get(&name).copied()) {
            let state = &mut self.services[index as usize];
            if state.forgotten || (state.is_virtual && !is_virtual) {
                state.forgotten = false;
                state.is_virtual &= is_virtual;
                self.version += 1;
            }
            state.last_seen_ns = state.last_seen_ns.max(now);
            return Some(index);
        }
        if self.services.len() >= self.config.max_services {
            return None;
        }
        let index = self.services.len() as u32;
        self.services.push(ServiceState {
            name: name.clone(),
            is_virtual,
            last_seen_ns: now,
            entry_seen_ns: None,
            parented: 0,
            orphaned: 0,
            unanswered_ns: 0,
            instances: Vec::new(),
            forgotten: false,
        });
        self.by_name.insert(name, index);
        self.version += 1;
        Some(index)
    }

    fn instance_index(&mut self, service: u32, id: &str) -> Option<u32> {
        let cap = self.config.max_instances_per_service;
        let state = &mut self.services[service as usize];
        if let Some(found) = state.instances.iter().position(|i| i.id == id) {
            let instance = &mut state.instances[found];
            if instance.forgotten {
                instance.forgotten = false;
                self.version += 1;
            }
            return Some(found as u32);
        }
        if state.instances.len() >= cap {
            return None;
        }
        state.instances.push(InstanceState {
            id: id.to_string(),
            last_seen_ns: self.now_ns,
            skew_ns: 0,
            forgotten: false,
        });
        self.version += 1;
        Some(state.instances.len() as u32 - 1)
    }

    fn link_index(&mut self, from: u32, to: u32, seen_ns: u64) -> Option<u32> {
        let now = seen_ns;
        if let Some(&index) = self.by_link.get(&(from, to)) {
            let link = &mut self.links[index as usize];
            if link.forgotten {
                link.forgotten = false;
                self.version += 1;
            }
            link.last_seen_ns = link.last_seen_ns.max(now);
            return Some(index);
        }
        if self.links.len() >= self.config.max_links {
            return None;
        }
        let index = self.links.len() as u32;
        self.links.push(LinkState {
            from,
            to,
            last_seen_ns: now,
            forgotten: false,
        });
        self.by_link.insert((from, to), index);
        self.version += 1;
        Some(index)
    }

    /// The services in the graph now, by name.
    fn visible_services(&self) -> Vec<u32> {
        let mut visible: Vec<u32> = (0..self.services.len() as u32)
            .filter(|&i| !self.services[i as usize].forgotten)
            .collect();
        visible.sort_by(|&a, &b| {
            self.services[a as usize]
                .name
                .cmp(&self.services[b as usize].name)
        });
        visible
    }

    fn visible_links(&self) -> Vec<u32> {
        let mut visible: Vec<u32> = (0..self.links.len() as u32)
            .filter(|&i| !self.links[i as usize].forgotten)
            .collect();
        let key = |i: u32| {
            let link = &self.links[i as usize];
            (
                &self.services[link.from as usize].name,
                &self.services[link.to as usize].name,
            )
        };
        visible.sort_by(|&a, &b| key(a).cmp(&key(b)));
        visible
    }

    /// A service's instances in the graph, in natural order of their ids (`cart#2` before
    /// `cart#10`).
    fn visible_instances(&self, service: u32) -> Vec<&InstanceState> {
        let mut visible: Vec<&InstanceState> = self.services[service as usize]
            .instances
            .iter()
            .filter(|i| !i.forgotten)
            .collect();
        visible.sort_by(|a, b| natural_cmp(&a.id, &b.id));
        visible
    }

    /// For each service, whether calls into it failed in the live window.
    ///
    /// Each visible instance of `service`: its id and whether it is up. An instance is down
    /// when it has been silent for [`Config::silent_after_ns`] (beyond the lag) and a call
    /// to its service failed unanswered (no SERVER span: refused, reset, timed out) after
    /// it last sent. An idle instance stays up — with connections kept alive and balanced
    /// per connection, a live instance may get no calls at all — and one that sends again
    /// is up.
    fn instance_states(&self, service: u32) -> Vec<(String, bool)> {
        let instances = self.visible_instances(service);
        let unanswered_ns = self.services[service as usize].unanswered_ns;
        let silent_before = self
            .now_ns
            .saturating_sub(self.config.silent_after_ns + self.lag_ns());
        instances
            .iter()
            .map(|i| {
                let down = i.last_seen_ns < silent_before && unanswered_ns > i.last_seen_ns;
                (i.id.clone(), !down)
            })
            .collect()
    }

    /// The figures of the live window, in the API's tick form. `t` is seconds since the
    /// session started, as the caller counts them.
    pub fn tick(&self, t: f64) -> Tick {
        let seconds = self.config.window_ns as f64 / 1e9;
        let mut services = BTreeMap::new();
        let mut entries = BTreeMap::new();
        let (mut roots, mut root_errors) = (0, 0);
        for index in self.visible_services() {
            let state = &self.services[index as usize];
            let counts = self.sum.services.get(index as usize);
            let spans = counts.map_or(0, |c| c.spans);
            let errors = counts.map_or(0, |c| c.errors);
            let success_rate = ratio(spans - errors, spans);
            let [p50_ms, p99_ms] =
                counts.map_or([None, None], |c| c.latency.quantiles_ms([0.5, 0.99]));
            let (ids, up): (Vec<String>, Vec<bool>) = if state.is_virtual {
                (Vec::new(), vec![true])
            } else {
                self.instance_states(index).into_iter().unzip()
            };
            let replicas = up.len().max(1) as u32;
            let up_count = up.iter().filter(|&&u| u).count() as u32;
            let health = if up_count == 0 && !up.is_empty() {
                Health::Down
            } else if up_count < up.len() as u32
                || success_rate.is_some_and(|rate| rate < DEGRADED_BELOW)
            {
                Health::Degraded
            } else {
                Health::Healthy
            };
            services.insert(
                state.name.clone(),
                ServiceFigures {
                    up: up_count,
                    replicas,
                    instances: up
                        .iter()
                        .map(|&u| if u { "up" } else { "down" }.to_string())
                        .collect(),
                    instances_up: up,
                    instance_ids: ids,
                    health,
                    rps: spans as f64 / seconds,
                    success_rate,
                    p50_ms,
                    p99_ms,
                    utilization: 0.0,
                },
            );
            if state.entry_seen_ns.is_some() {
                let counts = self.sum.entries.get(index as usize);
                let n = counts.map_or(0, |c| c.roots);
                let failed = counts.map_or(0, |c| c.errors);
                roots += n;
                root_errors += failed;
                entries.insert(
                    state.name.clone(),
                    EntryFigures {
                        availability: ratio(n - failed, n),
                        rps: n as f64 / seconds,
                        p99_ms: counts.and_then(|c| c.latency.quantile_ms(0.99)),
                    },
                );
            }
        }
        let links = self
            .visible_links()
            .into_iter()
            .map(|index| {
                let link = &self.links[index as usize];
                let counts = self
                    .sum
                    .links
                    .get(index as usize)
                    .copied()
                    .unwrap_or_default();
                LinkFigures {
                    from: self.services[link.from as usize].name.clone(),
                    to: self.services[link.to as usize].name.clone(),
                    rps: counts.calls as f64 / seconds,
                    error_rate: ratio(counts.failures, counts.calls),
                    breaker: None,
                    partitioned: false,
                }
            })
            .collect();
        observed_tick(
            t,
            ratio(roots - root_errors, roots),
            services,
            entries,
            links,
        )
    }

    /// The system as seen so far, in the topology file format: replicas are the instances
    /// seen, entry points carry the rate of their root spans in the live window (at least
    /// 0.01), virtual services are marked; the rest keeps the format's defaults.
    pub fn topology(&self, name: &str) -> Topology {
        let seconds = self.config.window_ns as f64 / 1e9;
        let services: Vec<Service> = self
            .visible_services()
            .into_iter()
            .map(|index| {
                let state = &self.services[index as usize];
                let replicas = if state.is_virtual {
                    1
                } else {
                    self.visible_instances(index).len().clamp(1, 1000) as u32
                };
                let ingress_rps = match state.entry_seen_ns {
                    Some(_) => {
                        let roots = self.sum.entries.get(index as usize).map_or(0, |c| c.roots);
                        (roots as f64 / seconds).max(0.01)
                    }
                    None => 0.0,
                };
                Service {
                    replicas,
                    ingress_rps,
                    is_virtual: state.is_virtual,
                    ..Service::new(&state.name)
                }
            })
            .collect();
        let dependencies = self
            .visible_links()
            .into_iter()
            .filter(|&i| self.links[i as usize].from != self.links[i as usize].to)
            .map(|index| {
                let link = &self.links[index as usize];
                Dependency::new(
                    &self.services[link.from as usize].name,
                    &self.services[link.to as usize].name,
                )
            })
            .collect();
        Topology {
            name: name.to_string(),
            routing: Routing::default(),
            services,
            dependencies,
            layout: BTreeMap::new(),
        }
    }
}

/// A tick of an observed system: its figures, and none of the simulation's controls
/// (faults, routing components, experiments; speed 1, the default routing mode).
pub(crate) fn observed_tick(
    t: f64,
    availability: Option<f64>,
    services: BTreeMap<String, ServiceFigures>,
    entries: BTreeMap<String, EntryFigures>,
    links: Vec<LinkFigures>,
) -> Tick {
    Tick {
        t,
        availability,
        services,
        entries,
        links,
        faults: Vec::new(),
        speed: 1.0,
        routing_mode: Routing::default().mode,
        components: BTreeMap::new(),
        experiment: None,
        published_ms: None,
    }
}

/// `raw` as a valid topology service name: characters other than letters, digits, `-`, `_`
/// and `.` become `-`, at most 64 of them; empty becomes `unknown`, and the routing
/// components' reserved names (`dns`, `lb`, `registry`) gain a `-svc` suffix.
pub fn service_name(raw: &str) -> String {
    let mut name: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        name = "unknown".to_string();
    }
    if simulator::topology::INFRASTRUCTURE.contains(&name.as_str()) {
        name.push_str("-svc");
    }
    name
}

/// Orders ids as a person would: runs of digits by their value.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> impl Iterator<Item = (bool, &str)> {
        let mut rest = s;
        std::iter::from_fn(move || {
            let first = rest.chars().next()?;
            let digit = first.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (chunk, tail) = rest.split_at(end);
            rest = tail;
            Some((digit, chunk))
        })
    }
    let mut left = chunks(a);
    let mut right = chunks(b);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some((true, x)), Some((true, y))) => {
                let x = x.trim_start_matches('0');
                let y = y.trim_start_matches('0');
                let order = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
                if order.is_ne() {
                    return order;
                }
            }
            (Some((_, x)), Some((_, y))) => {
                if x != y {
                    return x.cmp(y);
                }
            }
        }
    }
}
