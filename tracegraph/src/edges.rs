//! The graph from per-link figures, for fleets whose traces are already turned into metrics:
//! the OpenTelemetry Collector's servicegraph connector and Tempo
//! (`traces_service_graph_request_total{client, server}` and friends) or Istio
//! (`istio_requests_total{source_workload, destination_workload, response_code}`), read from
//! Prometheus by the server. Pure: the server queries, this turns the answers into the same
//! topology and tick the traces give.
//!
//! A link whose client is `user` (the connector's name for a caller that sends no span, a
//! virtual node: the outside world) or `unknown` (Istio's) makes its server an entry point
//! rather than a link. Service figures are those of the links into it: requests and failures
//! summed; its latency quantiles those of its busiest incoming link (quantiles of different
//! links cannot be merged without their buckets).

use std::collections::BTreeMap;

use simulator::topology::{Dependency, Routing, Service, Topology};
use simulator::wire::{DEGRADED_BELOW, EntryFigures, Health, LinkFigures, ServiceFigures, Tick};

use crate::graph::{observed_tick, service_name};

/// Callers that stand for the outside world, not a service.
pub const OUTSIDE: [&str; 2] = ["user", "unknown"];

/// One link's rates over the metrics' window.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeFigures {
    pub client: String,
    pub server: String,
    /// Requests per second.
    pub rps: f64,
    /// Failed requests per second.
    pub failed_rps: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// The topology and tick the `edges` make; `t` is seconds since the session started.
pub fn graph(edges: &[EdgeFigures], t: f64) -> (Topology, Tick) {
    #[derive(Default)]
    struct Incoming {
        rps: f64,
        failed_rps: f64,
        /// Quantiles of the busiest incoming link: (its rps, p50, p99).
        busiest: Option<(f64, Option<f64>, Option<f64>)>,
        entry: Option<(f64, f64)>,
    }
    let mut services: BTreeMap<String, Incoming> = BTreeMap::new();
    let mut links: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for edge in edges {
        if !(edge.rps.is_finite() && edge.rps >= 0.0) {
            continue;
        }
        let failed = edge.failed_rps.clamp(0.0, edge.rps);
        let server = service_name(&edge.server);
        let outside = OUTSIDE.contains(&edge.client.as_str());
        let incoming = services.entry(server.clone()).or_default();
        incoming.rps += edge.rps;
        incoming.failed_rps += failed;
        if incoming.busiest.is_none_or(|(rps, _, _)| edge.rps > rps) {
            incoming.busiest = Some((edge.rps, edge.p50_ms, edge.p99_ms));
        }
        if outside {
            let entry = incoming.entry.get_or_insert((0.0, 0.0));
            entry.0 += edge.rps;
            entry.1 += failed;
            continue;
        }
        let client = service_name(&edge.client);
        services.entry(client.clone()).or_default();
        let link = links.entry((client, server)).or_default();
        link.0 += edge.rps;
        link.1 += failed;
    }
    let topology = Topology {
        name: crate::graph::TOPOLOGY_NAME.to_string(),
        routing: Routing::default(),
        services: services
            .iter()
            .map(|(name, incoming)| Service {
                ingress_rps: incoming.entry.map_or(0.0, |(rps, _)| rps.max(0.01)),
                ..Service::new(name)
            })
            .collect(),
        dependencies: links
            .keys()
            .filter(|(from, to)| from != to)
            .map(|(from, to)| Dependency::new(from, to))
            .collect(),
        layout: BTreeMap::new(),
    };
    let share = |ok: f64, all: f64| (all > 0.0).then(|| (ok / all).clamp(0.0, 1.0));
    let (mut all, mut failed) = (0.0, 0.0);
    let mut entries = BTreeMap::new();
    for (name, incoming) in &services {
        if let Some((rps, failed_rps)) = incoming.entry {
            all += rps;
            failed += failed_rps;
            entries.insert(
                name.clone(),
                EntryFigures {
                    availability: share(rps - failed_rps, rps),
                    rps,
                    p99_ms: incoming.busiest.and_then(|b| b.2),
                },
            );
        }
    }
    let figures = services
        .iter()
        .map(|(name, incoming)| {
            let success_rate = share(incoming.rps - incoming.failed_rps, incoming.rps);
            let health = if success_rate.is_some_and(|rate| rate < DEGRADED_BELOW) {
                Health::Degraded
            } else {
                Health::Healthy
            };
            let (p50_ms, p99_ms) = incoming.busiest.map_or((None, None), |b| (b.1, b.2));
            let figures = ServiceFigures {
                up: 1,
                replicas: 1,
                instances_up: vec![true],
                instances: vec!["up".to_string()],
                instance_ids: Vec::new(),
                health,
                rps: incoming.rps,
                success_rate,
                p50_ms,
                p99_ms,
                utilization: 0.0,
            };
            (name.clone(), figures)
        })
        .collect();
    let links = links
        .iter()
        .map(|((from, to), (rps, failed))| LinkFigures {
            from: from.clone(),
            to: to.clone(),
            rps: *rps,
            error_rate: share(*failed, *rps),
            breaker: None,
            partitioned: false,
        })
        .collect();
    let tick = observed_tick(t, share(all - failed, all), figures, entries, links);
    (topology, tick)
}

/// What a drawing shows: its services (and which are entries) and its links.
pub type Shape = (Vec<(String, bool)>, Vec<(String, String)>);

/// The shape of `topology`; a new drawing is due when it changes.
pub fn shape(topology: &Topology) -> Shape {
    (
        topology
            .services
            .iter()
            .map(|s| (s.name.clone(), s.is_entry()))
            .collect(),
        topology
            .dependencies
            .iter()
            .map(|d| (d.from.clone(), d.to.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(client: &str, server: &str, rps: f64, failed_rps: f64) -> EdgeFigures {
        EdgeFigures {
            client: client.into(),
            server: server.into(),
            rps,
            failed_rps,
            p50_ms: Some(5.0),
            p99_ms: Some(rps),
        }
    }

    #[test]
    fn links_from_user_make_entries_and_figures_add_up() {
        let edges = [
            edge("user", "web", 100.0, 10.0),
            edge("web", "cart", 80.0, 8.0),
            edge("checkout", "cart", 20.0, 0.0),
            edge("web", "checkout", 20.0, 0.0),
        ];
        let (topology, tick) = graph(&edges, 1.0);
        let names: Vec<&str> = topology.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["cart", "checkout", "web"]);
        assert_eq!(topology.service("web").unwrap().ingress_rps, 100.0);
        assert!(!topology.service("cart").unwrap().is_entry());
        assert_eq!(topology.dependencies.len(), 3);
        topology.validate().unwrap();
        assert_eq!(tick.entries["web"].availability, Some(0.9));
        assert_eq!(tick.availability, Some(0.9));
        let cart = &tick.services["cart"];
        assert_eq!(cart.rps, 100.0);
        assert_eq!(cart.success_rate, Some(0.92));
        // The busiest incoming link's quantiles.
        assert_eq!(cart.p99_ms, Some(80.0));
        assert_eq!(tick.link("web", "cart").unwrap().error_rate, Some(0.1));
    }
}
