//! How a call finds an instance (SPEC "Routing modes"): the health checker behind `dns`
//! and `lb`, per-client DNS caches, the `registry` and the routing tables of smart clients
//! with outlier ejection, and the client-side balancers.
//!
//! This module keeps only routing knowledge — who believes which instance is up. Whether an
//! instance really is up lives in the engine, which feeds probes, heartbeats and call
//! outcomes in here.
//!
//! Per-client knowledge is kept per *channel*: one client (an instance of a service, or the
//! outside clients of an entry) calling one service. The engine numbers channels densely,
//! so caches are plain vectors rather than hash maps. Each view of which instances may be
//! called is also kept as a list of instance indices, rebuilt when the view changes, so a
//! call picks from a ready list rather than filtering every instance.

use rustc_hash::FxHashMap;

use crate::queue::{Nanos, millis, secs};
use crate::topology::{Balancer, Routing};

/// One client calling one service, numbered densely by the engine.
pub type Channel = u32;

/// Consecutive failed calls to one instance after which a smart client ejects it.
pub const OUTLIER_CONSECUTIVE_FAILURES: u32 = 5;
/// How long an ejected instance stays out of a client's table, times the number of times
/// that client has ejected it (as Envoy's outlier detection does).
pub const OUTLIER_EJECTION_S: f64 = 30.0;

/// Which instances of each service are in a set, as flags and as an ascending list: one
/// flat vector of each, a service's instances side by side (no pointer to follow per
/// service, and neighbouring services share cache lines).
struct InstanceSets {
    spans: Vec<Span>,
    flags: Vec<bool>,
    lists: Vec<u32>,
}

/// Where one service's instances are in [`InstanceSets`]: flags at `start..start +
/// replicas`, its list at `start..start + listed`.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    replicas: u32,
    listed: u32,
}

impl InstanceSets {
    fn all(replicas: &[u32]) -> InstanceSets {
        let mut start = 0;
        let spans = replicas
            .iter()
            .map(|&replicas| {
                let span = Span {
                    start,
                    replicas,
                    listed: replicas,
                };
                start += replicas;
                span
            })
            .collect();
        InstanceSets {
            spans,
            flags: vec![true; start as usize],
            lists: replicas.iter().flat_map(|&r| 0..r).collect(),
        }
    }

    fn flags(&self, service: usize) -> &[bool] {
        let span = self.spans[service];
        &self.flags[span.start as usize..(span.start + span.replicas) as usize]
    }

    #[inline]
    fn list(&self, service: usize) -> &[u32] {
        let span = self.spans[service];
        &self.lists[span.start as usize..(span.start + span.listed) as usize]
    }

    fn set(&mut self, service: usize, instance: usize, present: bool) {
        let flag = &mut self.flags[self.spans[service].start as usize + instance];
        if *flag != present {
            *flag = present;
            self.rebuild(service);
        }
    }

    fn rebuild(&mut self, service: usize) {
        let span = &mut self.spans[service];
        let (start, end) = (span.start as usize, (span.start + span.replicas) as usize);
        let mut listed = 0;
        for (instance, &flag) in (0..).zip(&self.flags[start..end]) {
            if flag {
                self.lists[start + listed as usize] = instance;
                listed += 1;
            }
        }
        span.listed = listed;
    }

    /// Takes `other`'s set of service `from` for service `to`, which has as many instances.
    fn adopt(&mut self, other: &InstanceSets, from: usize, to: usize) {
        let start = self.spans[to].start as usize;
        let flags = other.flags(from);
        self.flags[start..start + flags.len()].copy_from_slice(flags);
        self.rebuild(to);
    }
}

/// Health checking by probes, as `dns` and `lb` do: an instance leaves the healthy set after
/// `unhealthy_threshold` failed probes in a row, and comes back after as many good ones.
pub struct HealthChecker {
    pub interval: Nanos,
    threshold: u32,
    healthy: InstanceSets,
    streak: Vec<Vec<u32>>,
}

impl HealthChecker {
    fn new(routing: &Routing, replicas: &[u32]) -> HealthChecker {
        HealthChecker {
            interval: secs(routing.health_check_interval_s),
            threshold: routing.unhealthy_threshold,
            healthy: InstanceSets::all(replicas),
            streak: replicas.iter().map(|&r| vec![0; r as usize]).collect(),
        }
    }

    /// Takes one probe result for `instance` of `service`.
    pub fn probe(&mut self, service: usize, instance: usize, answered: bool) {
        let healthy = self.healthy.flags(service)[instance];
        let streak = &mut self.streak[service][instance];
        if answered == healthy {
            *streak = 0;
            return;
        }
        *streak += 1;
        if *streak >= self.threshold {
            *streak = 0;
            self.healthy.set(service, instance, answered);
        }
    }

    pub fn healthy(&self, service: usize) -> &[bool] {
        self.healthy.flags(service)
    }

    /// The healthy instances of `service`, ascending.
    pub fn healthy_list(&self, service: usize) -> &[u32] {
        self.healthy.list(service)
    }
}

/// The service registry and what smart clients have learnt from it.
pub struct Registry {
    pub heartbeat: Nanos,
    pub ttl: Nanos,
    pub propagation: Nanos,
    /// What the registry holds.
    registered: Vec<Vec<bool>>,
    /// What clients hold (the registry's view, `propagation` later).
    published: InstanceSets,
}

impl Registry {
    fn new(routing: &Routing, replicas: &[u32]) -> Registry {
        Registry {
            heartbeat: secs(routing.heartbeat_s),
            ttl: secs(routing.registry_ttl_s),
            propagation: millis(routing.propagation_ms),
            registered: replicas.iter().map(|&r| vec![true; r as usize]).collect(),
            published: InstanceSets::all(replicas),
        }
    }

    /// Sets what the registry holds; true if that changed it.
    pub fn register(&mut self, service: usize, instance: usize, present: bool) -> bool {
        let entry = &mut self.registered[service][instance];
        let changed = *entry != present;
        *entry = present;
        changed
    }

    /// A change that has reached every client.
    pub fn publish(&mut self, service: usize, instance: usize, present: bool) {
        self.published.set(service, instance, present);
    }

    pub fn published(&self, service: usize) -> &[bool] {
        self.published.flags(service)
    }

    /// The instances of `service` clients hold, ascending.
    pub fn published_list(&self, service: usize) -> &[u32] {
        self.published.list(service)
    }
}

/// One channel's cached DNS answer: the instances listed, ascending.
#[derive(Default)]
struct DnsEntry {
    /// When the answer goes stale; 0 (always stale) before the first answer.
    expires: Nanos,
    listed: Vec<u32>,
}

/// One client's record of one instance, for outlier ejection.
#[derive(Default)]
struct Outlier {
    consecutive_failures: u32,
    ejected_until: Nanos,
    ejections: u32,
}

/// Everything routing knows, for whichever mode is in force.
pub struct Router {
    pub checker: HealthChecker,
    pub registry: Registry,
    dns_ttl: Nanos,
    pub balancer: Balancer,
    dns_cache: Vec<DnsEntry>,
    outliers: FxHashMap<(Channel, u32), Outlier>,
    /// When the last ejection ends: before then no lookup is needed at all.
    ejections_end: Nanos,
}

impl Router {
    /// Routing knowledge for services of `replicas` instances each, and `channels` channels.
    pub fn new(routing: &Routing, replicas: &[u32], channels: usize) -> Router {
        Router {
            checker: HealthChecker::new(routing, replicas),
            registry: Registry::new(routing, replicas),
            dns_ttl: secs(routing.dns_ttl_s),
            balancer: routing.balancer,
            dns_cache: (0..channels).map(|_| DnsEntry::default()).collect(),
            outliers: FxHashMap::default(),
            ejections_end: 0,
        }
    }

    /// The DNS answer `channel` (a client calling `service`) uses at `now`: its cache while
    /// fresh, else a fresh answer from the health-checked records if the DNS server answers.
    /// `None` when the resolver did not answer and nothing valid is cached.
    pub fn resolve(
        &mut self,
        channel: Channel,
        service: usize,
        now: Nanos,
        dns_answers: bool,
    ) -> Option<&[u32]> {
        let entry = &mut self.dns_cache[channel as usize];
        if entry.expires <= now {
            if !dns_answers {
                return None;
            }
            entry.expires = now + self.dns_ttl;
            entry.listed.clear();
            entry
                .listed
                .extend_from_slice(self.checker.healthy.list(service));
        }
        Some(&entry.listed)
    }

    /// `channel`'s cached DNS answer and when it expires, if it is still fresh at `now`.
    pub fn cached_answer(&self, channel: Channel, now: Nanos) -> Option<(&[u32], Nanos)> {
        let entry = &self.dns_cache[channel as usize];
        (entry.expires > now).then_some((entry.listed.as_slice(), entry.expires))
    }

    /// Whether an ejection may be in force at `now`; when not, [`Router::ejected`] is false.
    pub fn any_ejected(&self, now: Nanos) -> bool {
        now < self.ejections_end
    }

    /// Whether `channel`'s client has ejected `instance` at `now`.
    pub fn ejected(&self, channel: Channel, instance: u32, now: Nanos) -> bool {
        self.any_ejected(now)
            && self
                .outliers
                .get(&(channel, instance))
                .is_some_and(|o| o.ejected_until > now)
    }

    /// Feeds a call outcome to the client's outlier detection.
    #[inline]
    pub fn observe(&mut self, channel: Channel, instance: u32, ok: bool, now: Nanos) {
        if ok && self.outliers.is_empty() {
            return; // the common case: nothing to reset
        }
        self.count_outcome(channel, instance, ok, now);
    }

    fn count_outcome(&mut self, channel: Channel, instance: u32, ok: bool, now: Nanos) {
        let key = (channel, instance);
        if ok {
            if let Some(outlier) = self.outliers.get_mut(&key) {
                outlier.consecutive_failures = 0;
            }
            return;
        }
        let outlier = self.outliers.entry(key).or_default();
        outlier.consecutive_failures += 1;
        if outlier.consecutive_failures >= OUTLIER_CONSECUTIVE_FAILURES {
            outlier.consecutive_failures = 0;
            outlier.ejections += 1;
            outlier.ejected_until = now + secs(OUTLIER_EJECTION_S) * u64::from(outlier.ejections);
            self.ejections_end = self.ejections_end.max(outlier.ejected_until);
        }
    }

    /// Takes over what `other` knew of service `from` as service `to` (same replica count):
    /// health-check results and registry entries, as a topology edit keeps them.
    pub fn adopt(&mut self, other: &Router, from: usize, to: usize) {
        self.checker.healthy.adopt(&other.checker.healthy, from, to);
        self.checker.streak[to].clone_from(&other.checker.streak[from]);
        self.registry.registered[to].clone_from(&other.registry.registered[from]);
        self.registry
            .published
            .adopt(&other.registry.published, from, to);
    }

    /// Forgets what clients cached and ejected (a routing-mode switch starts afresh).
    pub fn forget_clients(&mut self) {
        for entry in &mut self.dns_cache {
            entry.expires = 0;
        }
        self.outliers.clear();
        self.ejections_end = 0;
    }
}
