//! What each client believes about a service's instances right now: the routing table a
//! person inspects to see why calls still go to a dead instance (a DNS answer cached for
//! another 20 s) or no longer do (a smart client's table, updated from the registry).

use serde::{Deserialize, Serialize};

use super::{COMPONENTS, Engine, LB, Liveness};
use crate::queue::{NANOS_PER_SEC, Nanos};
use crate::topology::RoutingMode;

/// `GET /api/routing/{service}`: each client's view of the service's instances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoutingTable {
    pub service: String,
    pub mode: RoutingMode,
    /// Each instance's real state: `up`, `down` or `hung`.
    pub instances: Vec<String>,
    pub views: Vec<ClientView>,
}

/// One client's table: which instances it would call now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientView {
    /// `web#2` (an instance calling the service), `outside → web` (the outside clients of an
    /// entry), or `lb` (the balancer every caller goes through).
    pub client: String,
    /// Per instance: in the client's table.
    pub listed: Vec<bool>,
    /// Per instance: taken out by the client's outlier detection (smart clients only).
    pub ejected: Vec<bool>,
    /// Per instance: the table is wrong about it — listed while not up, or up and left out.
    pub stale: Vec<bool>,
    /// What the table comes from, in plain words ("DNS answer, expires in 12.3 s").
    pub source: String,
}

impl Engine {
    /// Every client's current view of `service`'s instances, in the routing mode in force.
    pub fn routing_table(&self, service: usize) -> RoutingTable {
        let replicas = self.topology.services[service].replicas as usize;
        let actual: Vec<Liveness> = (0..replicas)
            .map(|i| self.instance_liveness(service, i))
            .collect();
        let mut views = Vec::new();
        let now = self.now;
        let mut view = |client: String, listed: Vec<bool>, ejected: Vec<bool>, source: String| {
            let stale = (0..replicas)
                .map(|i| {
                    let used = listed[i] && !ejected[i];
                    used != (actual[i] == Liveness::Up)
                })
                .collect();
            views.push(ClientView {
                client,
                listed,
                ejected,
                stale,
                source,
            });
        };
        let clients = self.clients_of(service);
        match self.mode {
            RoutingMode::Lb => {
                let healthy = self.router.checker.healthy(service).to_vec();
                let lb = if self.components[LB].down {
                    "the load balancer is down: every call is refused"
                } else {
                    "the load balancer's health checks"
                };
                view(
                    COMPONENTS[LB].to_string(),
                    healthy,
                    vec![false; replicas],
                    lb.to_string(),
                );
            }
            RoutingMode::Dns => {
                for (client, channel) in clients {
                    let mut listed = vec![false; replicas];
                    let source = match self.router.cached_answer(channel, now) {
                        Some((answer, expires)) => {
                            for &i in answer {
                                listed[i as usize] = true;
                            }
                            format!("cached DNS answer, expires in {}", seconds(expires - now))
                        }
                        None => "no cached answer: the next call asks DNS".to_string(),
                    };
                    view(client, listed, vec![false; replicas], source);
                }
            }
            RoutingMode::Smart => {
                let published = self.router.registry.published(service).to_vec();
                for (client, channel) in clients {
                    let ejected = (0..replicas as u32)
                        .map(|i| self.router.ejected(channel, i, now))
                        .collect();
                    view(
                        client,
                        published.clone(),
                        ejected,
                        "registry table (pushed to clients)".to_string(),
                    );
                }
            }
        }
        RoutingTable {
            service: self.topology.services[service].name.clone(),
            mode: self.mode,
            instances: actual.iter().map(|l| l.as_str().to_string()).collect(),
            views,
        }
    }

    /// The clients calling `service` and their channels: each instance of each caller, then
    /// the outside clients if it is an entry.
    fn clients_of(&self, service: usize) -> Vec<(String, u32)> {
        let mut clients = Vec::new();
        for (d, dependency) in self.dependencies.iter().enumerate() {
            if dependency.to as usize != service {
                continue;
            }
            let caller = &self.topology.dependencies[d].from;
            let replicas = self
                .topology
                .services
                .iter()
                .find(|s| &s.name == caller)
                .map_or(0, |s| s.replicas);
            for i in 0..replicas {
                clients.push((format!("{caller}#{}", i + 1), dependency.first_channel + i));
            }
        }
        if let Some((_, channel)) = self.services[service].entry {
            let name = &self.topology.services[service].name;
            clients.push((format!("outside → {name}"), channel));
        }
        clients
    }
}

fn seconds(ns: Nanos) -> String {
    format!("{:.1} s", ns as f64 / NANOS_PER_SEC)
}
