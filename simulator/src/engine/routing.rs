//! How a call finds an instance (SPEC "Routing modes"): the health checker behind `dns`
//! and `lb`, per-client DNS caches, the `registry` and the routing tables of smart clients
//! with outlier ejection, and the client-side balancers.
//!
//! This module keeps only routing knowledge — who believes which instance is up. Whether an
//! instance really is up lives in the engine, which feeds probes, heartbeats and call
//! outcomes in here.

use rustc_hash::FxHashMap;

use crate::queue::{Nanos, millis, secs};
use crate::topology::{Balancer, Routing};

/// Who makes a call: an instance of a service, or the outside clients of an entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Client {
    Instance { service: u32, instance: u32 },
    Outside { service: u32 },
}

/// Consecutive failed calls to one instance after which a smart client ejects it.
pub const OUTLIER_CONSECUTIVE_FAILURES: u32 = 5;
/// How long an ejected instance stays out of a client's table, times the number of times
/// that client has ejected it (as Envoy's outlier detection does).
pub const OUTLIER_EJECTION_S: f64 = 30.0;

/// Health checking by probes, as `dns` and `lb` do: an instance leaves the healthy set after
/// `unhealthy_threshold` failed probes in a row, and comes back after as many good ones.
pub struct HealthChecker {
    pub interval: Nanos,
    threshold: u32,
    healthy: Vec<Vec<bool>>,
    streak: Vec<Vec<u32>>,
}

impl HealthChecker {
    fn new(routing: &Routing, replicas: &[u32]) -> HealthChecker {
        HealthChecker {
            interval: secs(routing.health_check_interval_s),
            threshold: routing.unhealthy_threshold,
            healthy: replicas.iter().map(|&r| vec![true; r as usize]).collect(),
            streak: replicas.iter().map(|&r| vec![0; r as usize]).collect(),
        }
    }

    /// Takes one probe result for `instance` of `service`.
    pub fn probe(&mut self, service: usize, instance: usize, answered: bool) {
        let healthy = &mut self.healthy[service][instance];
        let streak = &mut self.streak[service][instance];
        if answered == *healthy {
            *streak = 0;
            return;
        }
        *streak += 1;
        if *streak >= self.threshold {
            *healthy = answered;
            *streak = 0;
        }
    }

    pub fn healthy(&self, service: usize) -> &[bool] {
        &self.healthy[service]
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
    published: Vec<Vec<bool>>,
}

impl Registry {
    fn new(routing: &Routing, replicas: &[u32]) -> Registry {
        let all = |r: &u32| vec![true; *r as usize];
        Registry {
            heartbeat: secs(routing.heartbeat_s),
            ttl: secs(routing.registry_ttl_s),
            propagation: millis(routing.propagation_ms),
            registered: replicas.iter().map(all).collect(),
            published: replicas.iter().map(all).collect(),
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
        self.published[service][instance] = present;
    }

    pub fn published(&self, service: usize) -> &[bool] {
        &self.published[service]
    }
}

/// One client's cached answer for one name.
struct DnsEntry {
    expires: Nanos,
    instances: Vec<bool>,
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
    dns_cache: FxHashMap<(Client, u32), DnsEntry>,
    outliers: FxHashMap<(Client, u32, u32), Outlier>,
    /// When the last ejection ends: before then no lookup is needed at all.
    ejections_end: Nanos,
}

/// The outcome of asking a resolver for a name.
pub enum Resolution<'a> {
    /// The instances the client may call (true = listed).
    Listed(&'a [bool]),
    /// The resolver did not answer and nothing valid is cached.
    Failed,
}

impl Router {
    pub fn new(routing: &Routing, replicas: &[u32]) -> Router {
        Router {
            checker: HealthChecker::new(routing, replicas),
            registry: Registry::new(routing, replicas),
            dns_ttl: secs(routing.dns_ttl_s),
            balancer: routing.balancer,
            dns_cache: FxHashMap::default(),
            outliers: FxHashMap::default(),
            ejections_end: 0,
        }
    }

    /// The DNS answer `client` uses for `service` at `now`: its cache while fresh, else a
    /// fresh answer from the health-checked records if the DNS server answers.
    pub fn resolve(
        &mut self,
        client: Client,
        service: usize,
        now: Nanos,
        dns_answers: bool,
    ) -> Resolution<'_> {
        let key = (client, service as u32);
        let fresh = self.dns_cache.get(&key).is_some_and(|e| e.expires > now);
        if !fresh {
            if !dns_answers {
                return Resolution::Failed;
            }
            let entry = DnsEntry {
                expires: now + self.dns_ttl,
                instances: self.checker.healthy(service).to_vec(),
            };
            self.dns_cache.insert(key, entry);
        }
        Resolution::Listed(&self.dns_cache[&key].instances)
    }

    /// Whether `client` has ejected `instance` of `service` at `now`.
    pub fn ejected(&self, client: Client, service: usize, instance: usize, now: Nanos) -> bool {
        now < self.ejections_end
            && self
                .outliers
                .get(&(client, service as u32, instance as u32))
                .is_some_and(|o| o.ejected_until > now)
    }

    /// Feeds a call outcome to the client's outlier detection.
    pub fn observe(
        &mut self,
        client: Client,
        service: usize,
        instance: usize,
        ok: bool,
        now: Nanos,
    ) {
        if ok && self.outliers.is_empty() {
            return; // the common case: nothing to reset
        }
        let key = (client, service as u32, instance as u32);
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
        self.checker.healthy[to].clone_from(&other.checker.healthy[from]);
        self.checker.streak[to].clone_from(&other.checker.streak[from]);
        self.registry.registered[to].clone_from(&other.registry.registered[from]);
        self.registry.published[to].clone_from(&other.registry.published[from]);
    }

    /// Forgets what clients cached and ejected (a routing-mode switch starts afresh).
    pub fn forget_clients(&mut self) {
        self.dns_cache.clear();
        self.outliers.clear();
        self.ejections_end = 0;
    }
}
