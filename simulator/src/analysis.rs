//! Static resilience analysis (SPEC `analyze`): entry points, single points of failure, and
//! the predicted blast radius of killing each service — from the graph alone.
//!
//! A request at service `s` succeeds with probability
//! `f(s) = (1 − error_rate(s)) · Π over required calls d of E[q_d^N_d]`, where a call
//! succeeds with `q_d = 1 − (1 − f(callee))^(retries + 1)` and `N_d` is `floor(calls)` plus
//! one more with probability `frac(calls)`, so `E[q^N] = q^floor · (1 − frac + frac · q)`.
//! Optional calls never fail a request. A killed service has `f = 0`. The blast radius of a
//! kill on an entry is `f_killed(entry) / f_healthy(entry)`: the share of otherwise
//! successful requests that still succeed.
//!
//! Cycles: a call never goes to a service already on its path, so `f` depends on the path.
//! Only the path's members in the callee's strongly connected component can be reached
//! again, so the recursion is memoised on `(service, path ∩ its SCC)` — linear for acyclic
//! topologies. Components larger than [`EXACT_SCC_LIMIT`] would need too many states; the
//! whole analysis then estimates `f` by sampling call trees (deterministic seed).
//!
//! Single points of failure come from reachability alone (petgraph's depth-first search):
//! a request at an entry calls every required dependency with `calls ≥ 1` that is not on
//! its path, so it visits every service reachable from the entry over such edges (a simple
//! path from the entry is never cut by the path rule); a killed service there fails every
//! request. Dominators, the usual tool for "every path passes through", do not apply: a
//! request takes *all* its required calls, not one of them. The test
//! `spofs_by_reachability_agree_with_the_exact_shares` checks the two views agree.

use std::collections::{BTreeMap, HashMap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};

use crate::topology::{RoutingMode, Topology};

/// Largest strongly connected component analysed exactly.
pub const EXACT_SCC_LIMIT: usize = 20;
/// Call trees sampled per (entry, kill) when a component is too large to be exact.
pub const SAMPLES: usize = 4000;

/// The result of `analyze --json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub entries: Vec<String>,
    /// Services and routing components whose loss alone takes some entry to zero.
    pub spof: Vec<String>,
    /// `{killed: {entry: predicted share still succeeding}}`.
    pub blast_radius: BTreeMap<String, BTreeMap<String, f64>>,
    /// `exact`, or `sampled` when a cycle was too large to enumerate.
    pub method: String,
}

impl Analysis {
    /// The analysis without the kills' whole entries (share 1) nor the services whose kill
    /// touches no entry: what the dashboard's snapshot carries. On a large topology almost
    /// every pair is whole (2,000 `scale-free` services, 970 entries: 99.1%, a 29 MB table
    /// against 0.4 MB), and [`Analysis::share`] reads the missing ones back as 1.
    pub fn affected_only(mut self) -> Analysis {
        self.blast_radius.retain(|_, by_entry| {
            by_entry.retain(|_, share| *share < 1.0);
            !by_entry.is_empty()
        });
        self
    }

    /// The predicted share of `entry`'s requests still succeeding with `service` killed: 1
    /// where the table has no figure (see [`Analysis::affected_only`]).
    pub fn share(&self, service: &str, entry: &str) -> f64 {
        self.blast_radius
            .get(service)
            .and_then(|by_entry| by_entry.get(entry))
            .copied()
            .unwrap_or(1.0)
    }
}

/// The topology compiled for the recursion.
struct Model<'a> {
    topology: &'a Topology,
    /// Required calls of each service: `(callee, calls, retries)`.
    required: Vec<Vec<(usize, f64, u32)>>,
    /// Each service's strongly connected component and its index in it.
    scc_of: Vec<(usize, usize)>,
}

/// Analyses `topology`.
///
/// # Complexity
/// O(S · (S + D)) for S services and D dependencies when every cycle is small; with a large
/// cycle, O(S · E · SAMPLES · tree size) for E entries.
pub fn analyze(topology: &Topology) -> Analysis {
    analyze_with(topology, false)
}

/// [`analyze`], sampling even when exact enumeration would do (to test one against the other).
fn analyze_with(topology: &Topology, force_sampling: bool) -> Analysis {
    let index = topology.index_by_name();
    let mut graph = DiGraph::<usize, ()>::new();
    let nodes: Vec<_> = (0..topology.services.len())
        .map(|i| graph.add_node(i))
        .collect();
    let mut required = vec![Vec::new(); topology.services.len()];
    for dep in &topology.dependencies {
        let (from, to) = (index[dep.from.as_str()], index[dep.to.as_str()]);
        graph.add_edge(nodes[from], nodes[to], ());
        if dep.required && dep.calls > 0.0 {
            required[from].push((to, dep.calls, dep.retries));
        }
    }
    let mut scc_of = vec![(0, 0); topology.services.len()];
    let mut largest = 0;
    for (c, component) in tarjan_scc(&graph).iter().enumerate() {
        largest = largest.max(component.len());
        for (k, node) in component.iter().enumerate() {
            scc_of[graph[*node]] = (c, k);
        }
    }
    let model = Model {
        topology,
        required,
        scc_of,
    };
    let exact = largest <= EXACT_SCC_LIMIT && !force_sampling;
    let entries: Vec<usize> = (0..topology.services.len())
        .filter(|&i| topology.services[i].is_entry())
        .collect();
    let success = |killed: Option<usize>| -> Vec<f64> {
        if exact {
            let mut memo = HashMap::new();
            entries
                .iter()
                .map(|&e| model.exact(e, 1 << model.scc_of[e].1, killed, &mut memo))
                .collect()
        } else {
            let mut rng = Pcg64Mcg::seed_from_u64(killed.map_or(u64::MAX, |k| k as u64));
            entries
                .iter()
                .map(|&e| {
                    let ok = (0..SAMPLES)
                        .filter(|_| model.sample(e, &mut vec![e], killed, &mut rng))
                        .count();
                    ok as f64 / SAMPLES as f64
                })
                .collect()
        }
    };
    let healthy = success(None);
    let entry_names: Vec<String> = entries
        .iter()
        .map(|&e| topology.services[e].name.clone())
        .collect();
    let mut blast_radius = BTreeMap::new();
    for (s, service) in topology.services.iter().enumerate() {
        let shares: BTreeMap<String, f64> = success(Some(s))
            .iter()
            .zip(&healthy)
            .zip(&entry_names)
            .map(|((killed, healthy), name)| {
                let share = if *healthy > 0.0 {
                    killed / healthy
                } else {
                    0.0
                };
                (name.clone(), (share.clamp(0.0, 1.0) * 1e6).round() / 1e6)
            })
            .collect();
        blast_radius.insert(service.name.clone(), shares);
    }
    // The routing component every call depends on, in the modes that have one.
    let component = match topology.routing.mode {
        RoutingMode::Lb => ("lb", 0.0),
        // Cached answers expire after dns_ttl_s; then no name resolves.
        RoutingMode::Dns => ("dns", 0.0),
        // Clients keep routing on their last-known tables.
        RoutingMode::Smart => ("registry", 1.0),
    };
    blast_radius.insert(
        component.0.to_string(),
        entry_names
            .iter()
            .map(|name| (name.clone(), component.1))
            .collect(),
    );
    let mut spof: Vec<String> = certainly_visited(topology, &entries)
        .into_iter()
        .map(|s| topology.services[s].name.clone())
        .collect();
    if component.1 == 0.0 {
        spof.push(component.0.to_string());
    }
    spof.sort();
    Analysis {
        entries: entry_names,
        spof,
        blast_radius,
        method: if exact { "exact" } else { "sampled" }.to_string(),
    }
}

/// The services every request at some entry in `entries` visits: those reachable from it
/// over required dependencies called at least once per request.
fn certainly_visited(topology: &Topology, entries: &[usize]) -> std::collections::BTreeSet<usize> {
    let index = topology.index_by_name();
    let mut certain = DiGraph::<(), ()>::new();
    for _ in &topology.services {
        certain.add_node(());
    }
    for dep in &topology.dependencies {
        if dep.required && dep.calls >= 1.0 {
            let (from, to) = (index[dep.from.as_str()], index[dep.to.as_str()]);
            certain.add_edge(NodeIndex::new(from), NodeIndex::new(to), ());
        }
    }
    let mut visited = std::collections::BTreeSet::new();
    for &entry in entries {
        let mut dfs = Dfs::new(&certain, NodeIndex::new(entry));
        while let Some(node) = dfs.next(&certain) {
            visited.insert(node.index());
        }
    }
    visited
}

impl Model<'_> {
    /// Probability that a request at `service` succeeds; `path` holds the members of the
    /// service's SCC on the call path (bit = index in the SCC).
    fn exact(
        &self,
        service: usize,
        path: u64,
        killed: Option<usize>,
        memo: &mut HashMap<(usize, u64), f64>,
    ) -> f64 {
        if Some(service) == killed {
            return 0.0;
        }
        if let Some(&known) = memo.get(&(service, path)) {
            return known;
        }
        let (scc, _) = self.scc_of[service];
        let mut p = 1.0 - self.topology.services[service].error_rate;
        for &(callee, calls, retries) in &self.required[service] {
            let (callee_scc, bit) = self.scc_of[callee];
            let same = callee_scc == scc;
            if same && path & (1 << bit) != 0 {
                continue; // already on the path: the call is not made
            }
            let callee_path = if same { path | (1 << bit) } else { 1 << bit };
            let q = self.exact(callee, callee_path, killed, memo);
            p *= expected_power(call_success(q, retries), calls);
        }
        memo.insert((service, path), p);
        p
    }

    /// One sampled request at `service`: whether it succeeds.
    fn sample(
        &self,
        service: usize,
        path: &mut Vec<usize>,
        killed: Option<usize>,
        rng: &mut Pcg64Mcg,
    ) -> bool {
        if Some(service) == killed {
            return false;
        }
        let error_rate = self.topology.services[service].error_rate;
        if error_rate > 0.0 && rng.random::<f64>() < error_rate {
            return false;
        }
        for &(callee, calls, retries) in &self.required[service] {
            if path.contains(&callee) {
                continue;
            }
            let count = calls.floor() as u32 + u32::from(rng.random::<f64>() < calls.fract());
            for _ in 0..count {
                path.push(callee);
                let ok = (0..=retries).any(|_| self.sample(callee, path, killed, rng));
                path.pop();
                if !ok {
                    return false;
                }
            }
        }
        true
    }
}

/// A call retried `retries` times succeeds unless every attempt fails.
fn call_success(q: f64, retries: u32) -> f64 {
    1.0 - (1.0 - q).powi(retries as i32 + 1)
}

/// `E[q^N]` for `N = floor(calls)` plus one with probability `frac(calls)`.
fn expected_power(q: f64, calls: f64) -> f64 {
    q.powi(calls.floor() as i32) * (1.0 - calls.fract() + calls.fract() * q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates;

    #[test]
    fn affected_only_keeps_every_share_readable() {
        let topology = templates::demo();
        let full = analyze(&topology);
        let sparse = full.clone().affected_only();
        assert!(sparse.blast_radius.len() < full.blast_radius.len());
        for (service, by_entry) in &full.blast_radius {
            for (entry, share) in by_entry {
                assert_eq!(sparse.share(service, entry), *share, "{service} on {entry}");
            }
        }
    }

    #[test]
    fn the_hub_of_a_star_is_a_spof() {
        let analysis = analyze(&templates::build("star", Some(5), 1).unwrap());
        assert!(
            analysis.spof.contains(&"hub".to_string()),
            "{:?}",
            analysis.spof
        );
        assert!(
            analysis.blast_radius["hub"]
                .values()
                .all(|share| *share == 0.0)
        );
        // A leaf takes down only itself.
        let leaf = &analysis.blast_radius["client-1"];
        assert_eq!(leaf["client-1"], 0.0);
        assert_eq!(leaf["client-2"], 1.0);
    }

    #[test]
    fn fractional_and_optional_calls_shape_the_blast_radius() {
        let topology = templates::demo();
        let analysis = analyze(&topology);
        assert_eq!(analysis.method, "exact");
        // recommend is optional for web: no damage.
        assert_eq!(analysis.blast_radius["recommend"]["web"], 1.0);
        // web calls cart in 30% of requests, and checkout (which needs cart) in 5%.
        let cart = analysis.blast_radius["cart"]["web"];
        assert!((cart - (1.0 - 0.3) * (1.0 - 0.05)).abs() < 1e-9, "{cart}");
        // Every request needs auth → sessions and catalog → catalog-db.
        for spof in ["web", "auth", "sessions", "catalog", "catalog-db"] {
            assert!(analysis.spof.contains(&spof.to_string()), "{spof}");
        }
        assert!(!analysis.spof.contains(&"registry".to_string()));
    }

    #[test]
    fn spofs_by_reachability_agree_with_the_exact_shares() {
        for name in templates::NAMES {
            for seed in [1, 2, 3] {
                let size = (name != "shop").then_some(12);
                let topology = templates::build(name, size, seed).unwrap();
                let analysis = analyze(&topology);
                if analysis.method != "exact" {
                    continue;
                }
                let by_share: Vec<&String> = analysis
                    .blast_radius
                    .iter()
                    .filter(|(_, shares)| shares.values().any(|share| *share == 0.0))
                    .map(|(name, _)| name)
                    .collect();
                let mut by_reach: Vec<&String> = analysis.spof.iter().collect();
                by_reach.sort();
                assert_eq!(by_reach, by_share, "{name} seed {seed}");
            }
        }
    }

    #[test]
    fn cycles_stop_at_the_path_and_agree_with_sampling() {
        // In a ring a → b → c → a, a request from a visits b and c and stops.
        let ring = templates::build("ring", Some(3), 1).unwrap();
        let analysis = analyze(&ring);
        assert_eq!(analysis.blast_radius["svc-3"]["svc-1"], 0.0);
        let topology = templates::build("full", Some(6), 1).unwrap();
        let exact = analyze(&topology);
        let sampled = analyze_with(&topology, true);
        assert_eq!(
            (exact.method.as_str(), sampled.method.as_str()),
            ("exact", "sampled")
        );
        // 4,000 samples: the standard error of a share is at most 0.008.
        for (killed, shares) in &exact.blast_radius {
            for (entry, share) in shares {
                let estimate = sampled.blast_radius[killed][entry];
                assert!(
                    (share - estimate).abs() < 0.03,
                    "{killed}/{entry}: {share} vs {estimate}"
                );
            }
        }
    }
}
