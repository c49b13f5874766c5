//! The graph's faults on a real system, carried out through the proxies: a fault becomes
//! disabled proxies and toxics tagged with its id, and a toxic or disabled proxy on a proxy
//! named after a part of the graph reads back as a fault there.
//!
//! | fault | on the proxies in front of its target |
//! |---|---|
//! | `kill` | disabled: new connections refused, open ones reset |
//! | `hang` | `timeout` 0, upstream: accepted, nothing forwarded |
//! | `latency` | `latency` of `ms`, downstream |
//! | `errors` | `http_error` 503 for `rate` of the requests (resets for another protocol) |
//! | `slow` | `slow` by `factor`: each answer waits `factor − 1` times its time again |
//! | `partition` | on the link's proxy, `timeout` 0 upstream (and downstream with `both`) |
//!
//! The proxies in front of a service are those named `SERVICE` or `SERVICE#N`, else (when
//! it has none) those named `FROM->SERVICE`; in front of one instance, `SERVICE#N`; a
//! link's, `FROM->TO`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use simulator::fault::{Fault, FaultKind};
use simulator::topology::{Dependency, Service, Topology};
use simulator::wire::FaultRecord;

use super::toxic::{Kind, Stream, Toxic};
use super::{Proxies, Registry, next_fault};

/// Where the docs say how to put proxies in front of a service.
const HOW_TO_ADD: &str = "docs/chaos-real.md";

/// A fault made from the graph (or the API), as it was asked for.
#[derive(Clone, Debug)]
pub struct GraphFault {
    pub fault: Fault,
    /// The observed clock's second it starts (or started) at.
    pub start_s: f64,
    pub pending: bool,
    /// When it reverts itself, on the observed clock.
    pub end_s: Option<f64>,
}

#[derive(Serialize, Deserialize)]
pub struct SavedFault {
    pub id: u64,
    pub fault: Fault,
    /// Unix milliseconds it reverts itself at, if it does.
    pub ends_unix_ms: Option<u64>,
}

/// What a proxy's name stands for in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    Service(String),
    Instance(String, u32),
    Link(String, String),
}

impl Part {
    pub fn of(name: &str) -> Part {
        if let Some((from, to)) = name.split_once("->") {
            return Part::Link(from.to_string(), to.to_string());
        }
        match name.rsplit_once('#') {
            Some((service, n)) if !service.is_empty() => match n.parse::<u32>() {
                Ok(n) if n > 0 => Part::Instance(service.to_string(), n),
                _ => Part::Service(name.to_string()),
            },
            _ => Part::Service(name.to_string()),
        }
    }

    fn fault(&self, kind: FaultKind) -> Fault {
        match self {
            Part::Service(s) => Fault::on_service(kind, s),
            Part::Instance(s, n) => Fault {
                instance: Some(*n),
                ..Fault::on_service(kind, s)
            },
            Part::Link(a, b) => Fault::on_link(kind, a, b),
        }
    }
}

/// Why a fault cannot be carried out.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
    pub path: String,
}

fn refuse(path: &str, message: impl Into<String>) -> Refusal {
    Refusal {
        status: 422,
        message: message.into(),
        path: path.to_string(),
    }
}

/// The graph the proxies make: a service per `SERVICE`/`SERVICE#N` name (as many
/// replicas as its highest N), a dependency per `FROM->TO`; for checking faults' fields.
fn proxy_topology(registry: &Registry) -> Topology {
    let mut replicas: BTreeMap<String, u32> = BTreeMap::new();
    let mut links = Vec::new();
    for name in registry.proxies.keys() {
        match Part::of(name) {
            Part::Service(s) => {
                replicas.entry(s).or_insert(1);
            }
            Part::Instance(s, n) => {
                let r = replicas.entry(s).or_insert(1);
                *r = (*r).max(n);
            }
            Part::Link(a, b) => {
                replicas.entry(a.clone()).or_insert(1);
                replicas.entry(b.clone()).or_insert(1);
                links.push(Dependency::new(&a, &b));
            }
        }
    }
    Topology {
        name: "proxies".to_string(),
        routing: Default::default(),
        services: replicas
            .into_iter()
            .map(|(name, n)| Service {
                replicas: n,
                ..Service::new(&name)
            })
            .collect(),
        dependencies: links,
        layout: BTreeMap::new(),
    }
}

/// The proxies in front of `fault`'s target, or why there are none.
fn targets(registry: &Registry, fault: &Fault) -> Result<Vec<String>, Refusal> {
    let names = registry.proxies.keys();
    if let (Some(from), Some(to)) = (&fault.from, &fault.to) {
        let name = format!("{from}->{to}");
        return if registry.proxies.contains_key(&name) {
            Ok(vec![name])
        } else {
            Err(refuse(
                "from",
                format!(
                    "no fault proxy carries {from}'s calls to {to}: add one named '{name}' \
                     (a Toxiproxy client, a populate file or `blastradius demo`; see \
                     {HOW_TO_ADD})"
                ),
            ))
        };
    }
    let Some(service) = &fault.service else {
        return Err(refuse(
            "service",
            format!("{} needs a target", fault.kind.name()),
        ));
    };
    if let Some(n) = fault.instance {
        let name = format!("{service}#{n}");
        return if registry.proxies.contains_key(&name) {
            Ok(vec![name])
        } else {
            Err(refuse(
                "instance",
                format!(
                    "no fault proxy stands in front of {name}: add one named '{name}' \
                     (see {HOW_TO_ADD})"
                ),
            ))
        };
    }
    let front: Vec<String> = names
        .clone()
        .filter(|name| match Part::of(name) {
            Part::Service(s) | Part::Instance(s, _) => &s == service,
            Part::Link(..) => false,
        })
        .cloned()
        .collect();
    if !front.is_empty() {
        return Ok(front);
    }
    let callers: Vec<String> = names
        .filter(|name| matches!(Part::of(name), Part::Link(_, to) if &to == service))
        .cloned()
        .collect();
    if callers.is_empty() {
        Err(refuse(
            "service",
            format!(
                "no fault proxy stands in front of {service}: add one named '{service}' \
                 (or '{service}#N' per instance, or 'CALLER->{service}' per caller) with a \
                 Toxiproxy client, a populate file or `blastradius demo` (see {HOW_TO_ADD})"
            ),
        ))
    } else {
        Ok(callers)
    }
}

/// The toxics that carry out `fault` (none for a kill, which disables).
fn toxics_for(fault: &Fault, id: u64) -> Vec<Toxic> {
    let toxic = |kind: Kind, stream: Stream, what: &str| Toxic {
        name: format!("blastradius-{what}-{id}"),
        kind,
        stream,
        toxicity: 1.0,
        uid: 0,
        fault: Some(id),
        added_s: 0.0,
    };
    match fault.kind {
        FaultKind::Hang => vec![toxic(
            Kind::Timeout { timeout: 0 },
            Stream::Upstream,
            "hang",
        )],
        FaultKind::Latency => vec![toxic(
            Kind::Latency {
                latency: fault.ms.unwrap_or(0.0).round() as u64,
                jitter: 0,
            },
            Stream::Downstream,
            "latency",
        )],
        FaultKind::Errors => vec![toxic(
            Kind::HttpError {
                status: 503,
                rate: fault.rate.unwrap_or(1.0),
            },
            Stream::Upstream,
            "errors",
        )],
        FaultKind::Slow => vec![toxic(
            Kind::Slow {
                factor: fault.factor.unwrap_or(1.0),
            },
            Stream::Downstream,
            "slow",
        )],
        FaultKind::Partition => {
            let mut list = vec![toxic(
                Kind::Timeout { timeout: 0 },
                Stream::Upstream,
                "partition",
            )];
            if fault.both == Some(true) {
                list.push(toxic(
                    Kind::Timeout { timeout: 0 },
                    Stream::Downstream,
                    "partition-back",
                ));
            }
            list
        }
        FaultKind::Kill | FaultKind::Zone | FaultKind::Monkey => Vec::new(),
    }
}

/// Applies fault `id` to the proxies `names` (its [`targets`]) now.
fn apply(
    registry: &mut Registry,
    id: u64,
    fault: &Fault,
    names: Vec<String>,
    now_s: f64,
) -> Result<(), Refusal> {
    let adding = toxics_for(fault, id).len();
    if let Some(full) = names
        .iter()
        .find(|name| registry.proxies[*name].toxics.len() + adding > super::MAX_TOXICS)
    {
        return Err(Refusal {
            status: 409,
            message: format!(
                "the proxy {full} has {} toxics already: revert some faults first",
                super::MAX_TOXICS
            ),
            path: String::new(),
        });
    }
    for name in names {
        let proxy = registry.proxies.get_mut(&name).expect("a target exists");
        if fault.kind == FaultKind::Kill {
            if proxy.enabled {
                Proxies::stop(proxy);
                proxy.disabled_by = Some(id);
                proxy.disabled_s = now_s;
            }
            continue;
        }
        for mut toxic in toxics_for(fault, id) {
            registry.next_uid += 1;
            toxic.uid = registry.next_uid;
            toxic.added_s = now_s;
            proxy.toxics.push(toxic);
        }
        proxy.publish_toxics();
    }
    Ok(())
}

impl Proxies {
    /// Carries out `fault` on the real system; its id. `at_s` is a second of the observed
    /// clock (started at once if past), `duration_s` counts from its start.
    pub fn inject(&self, fault: Fault) -> Result<u64, Refusal> {
        match fault.kind {
            FaultKind::Zone => {
                return Err(refuse(
                    "kind",
                    "an observed system has no zones: kill its instances (SERVICE#N) instead",
                ));
            }
            FaultKind::Monkey => {
                return Err(refuse(
                    "kind",
                    "the Chaos Monkey on a real system is switched with PUT /api/monkey",
                ));
            }
            _ => {}
        }
        let now = self.now_s();
        let mut registry = self.lock();
        let registry = &mut *registry;
        let names = targets(registry, &fault)?;
        fault
            .validate(&proxy_topology(registry))
            .map_err(|err| Refusal {
                status: 422,
                message: err.message,
                path: err.path,
            })?;
        let start_s = fault.at_s.map_or(now, |at| at.max(now));
        let pending = start_s > now;
        let id = next_fault(&mut registry.next_fault);
        if !pending {
            if fault.kind == FaultKind::Kill {
                let alive = names.iter().any(|name| registry.proxies[name].enabled);
                if !alive {
                    return Err(Refusal {
                        status: 409,
                        message: format!("{} is down already", fault.describe()),
                        path: String::new(),
                    });
                }
            }
            apply(registry, id, &fault, names, now)?;
        }
        let end_s = fault.duration_s.map(|d| start_s + d);
        if pending || end_s.is_some() {
            self.run_clock();
        }
        registry.graph.insert(
            id,
            GraphFault {
                fault,
                start_s,
                pending,
                end_s,
            },
        );
        self.changed(registry);
        Ok(id)
    }

    /// Reverts fault `id` (a graph fault, or a toxic or disabled proxy read as one):
    /// toxics removed, proxies started again, what they held let go. False if there is no
    /// such fault.
    pub fn revert(&self, id: u64) -> bool {
        let mut registry = self.lock();
        let registry = &mut *registry;
        let mut found = registry.graph.remove(&id).is_some();
        let names: Vec<String> = registry.proxies.keys().cloned().collect();
        for name in names {
            let proxy = registry.proxies.get_mut(&name).expect("listed");
            let before = proxy.toxics.len();
            proxy.toxics.retain(|t| t.fault != Some(id));
            if proxy.toxics.len() != before {
                proxy.publish_toxics();
                found = true;
            }
            if proxy.disabled_by == Some(id) {
                found = true;
                let at = super::checked_listen(&proxy.listen);
                if let Err(err) = at.and_then(|at| self.start(proxy, at)) {
                    tracing::warn!(proxy = %name, error = %err.message, "could not start a reverted proxy again");
                }
            }
        }
        if found {
            self.changed(registry);
        }
        found
    }

    /// Every fault on the real system now, for the fault list, the graph and the stream:
    /// the graph's own, then each toxic or disabled proxy that none of them made.
    pub fn records(&self) -> Vec<FaultRecord> {
        let registry = self.lock();
        let mut records: BTreeMap<u64, FaultRecord> = registry
            .graph
            .iter()
            .map(|(&id, g)| {
                let record = FaultRecord {
                    id,
                    fault: g.fault.clone(),
                    state: if g.pending { "pending" } else { "active" }.to_string(),
                    start_s: g.start_s,
                    description: g.fault.describe(),
                };
                (id, record)
            })
            .collect();
        for proxy in registry.proxies.values() {
            let part = Part::of(&proxy.name);
            let mut read = |id: u64, fault: Fault, start_s: f64, description: String| {
                records.entry(id).or_insert_with(|| FaultRecord {
                    id,
                    fault,
                    state: "active".to_string(),
                    start_s,
                    description,
                });
            };
            if let (false, Some(id)) = (proxy.enabled, proxy.disabled_by) {
                let fault = match &part {
                    Part::Link(..) => Fault {
                        both: Some(true),
                        ..part.fault(FaultKind::Partition)
                    },
                    _ => part.fault(FaultKind::Kill),
                };
                let what = if matches!(part, Part::Link(..)) {
                    "partition"
                } else {
                    "kill"
                };
                read(
                    id,
                    fault,
                    proxy.disabled_s,
                    format!("{what} {} (proxy disabled)", proxy.name),
                );
            }
            for toxic in &proxy.toxics {
                if let Some(id) = toxic.fault {
                    let (fault, what) = read_toxic(&part, toxic);
                    read(
                        id,
                        fault,
                        toxic.added_s,
                        format!("{what} on {} (toxic {})", proxy.name, toxic.name),
                    );
                }
            }
        }
        records.into_values().collect()
    }

    /// Starts the faults whose `at_s` has come and reverts those whose `duration_s` is
    /// over, every 100 ms, for as long as the process runs (once: the first timed fault
    /// starts it).
    pub(super) fn run_clock(&self) {
        if self.clock.swap(true, std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Some(runtime) = self
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
        else {
            self.clock
                .store(false, std::sync::atomic::Ordering::Relaxed);
            tracing::error!("no runtime to keep the real faults' time on");
            return;
        };
        let proxies = self.clone();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_millis(100));
            loop {
                every.tick().await;
                proxies.keep_time();
            }
        });
    }

    fn keep_time(&self) {
        let now = self.now_s();
        let (due, over): (Vec<u64>, Vec<u64>) = {
            let registry = self.lock();
            let due = registry
                .graph
                .iter()
                .filter(|(_, g)| g.pending && g.start_s <= now)
                .map(|(&id, _)| id)
                .collect();
            let over = registry
                .graph
                .iter()
                .filter(|(_, g)| !g.pending && g.end_s.is_some_and(|end| end <= now))
                .map(|(&id, _)| id)
                .collect();
            (due, over)
        };
        for id in due {
            let mut registry = self.lock();
            let registry = &mut *registry;
            let Some(graph) = registry.graph.get(&id).cloned() else {
                continue;
            };
            // Its proxies as they are now: some may have come or gone since it was asked.
            let applied = targets(registry, &graph.fault)
                .and_then(|names| apply(registry, id, &graph.fault, names, now));
            match applied {
                Ok(()) => {
                    registry.graph.get_mut(&id).expect("present").pending = false;
                    tracing::info!(id, fault = %graph.fault.describe(), "real fault started");
                }
                Err(err) => {
                    registry.graph.remove(&id);
                    tracing::warn!(id, error = %err.message, "a pending real fault could not start");
                }
            }
            self.changed(registry);
        }
        for id in over {
            if self.revert(id) {
                tracing::info!(id, "real fault ended by its duration");
            }
        }
    }
}

impl Proxies {
    /// The instance proxies (`SERVICE#N`, enabled) the real Chaos Monkey may strike: of
    /// `services`, or of every service when empty.
    pub fn monkey_targets(&self, services: &[String]) -> Result<Vec<(String, u32)>, Refusal> {
        let registry = self.lock();
        let targets: Vec<(String, u32)> = registry
            .proxies
            .values()
            .filter(|p| p.enabled)
            .filter_map(|p| match Part::of(&p.name) {
                Part::Instance(service, n)
                    if services.is_empty() || services.contains(&service) =>
                {
                    Some((service, n))
                }
                _ => None,
            })
            .collect();
        if targets.is_empty() {
            return Err(refuse(
                "services",
                format!(
                    "no fault proxy stands in front of an instance (SERVICE#N){}: the Chaos \
                     Monkey kills instances through them (see {HOW_TO_ADD})",
                    if services.is_empty() {
                        String::new()
                    } else {
                        format!(" of {}", services.join(", "))
                    }
                ),
            ));
        }
        Ok(targets)
    }

    /// One strike of the real Chaos Monkey: a kill of an instance drawn from its targets,
    /// for `down_s`; its words.
    pub fn monkey_strike(
        &self,
        settings: &simulator::wire::MonkeySettings,
        rng: &mut impl rand::Rng,
    ) -> Result<String, Refusal> {
        let targets = self.monkey_targets(&settings.services)?;
        let (service, n) = &targets[rng.random_range(0..targets.len())];
        let fault = Fault {
            instance: Some(*n),
            duration_s: Some(settings.down_s),
            ..Fault::kill(service)
        };
        let words = fault.describe();
        self.inject(fault)?;
        Ok(words)
    }
}

/// The fault a toxic reads as, and its words.
fn read_toxic(part: &Part, toxic: &Toxic) -> (Fault, String) {
    let link = matches!(part, Part::Link(..));
    match toxic.kind {
        Kind::Latency { latency, jitter } => (
            Fault {
                ms: Some(latency as f64),
                ..part.fault(FaultKind::Latency)
            },
            if jitter > 0 {
                format!("latency {latency}±{jitter} ms")
            } else {
                format!("latency {latency} ms")
            },
        ),
        Kind::Timeout { .. } if link => (
            part.fault(FaultKind::Partition),
            format!("partition ({})", toxic.stream.as_str()),
        ),
        Kind::Timeout { timeout } => (
            part.fault(FaultKind::Hang),
            if timeout == 0 {
                "hang".to_string()
            } else {
                format!("hang, closed after {timeout} ms")
            },
        ),
        Kind::HttpError { status, rate } => (
            Fault {
                rate: Some(rate),
                ..part.fault(FaultKind::Errors)
            },
            format!("HTTP {status} for {:.0}% of requests", rate * 100.0),
        ),
        Kind::Slow { factor } => (
            Fault {
                factor: Some(factor),
                ..part.fault(FaultKind::Slow)
            },
            format!("slow ×{factor}"),
        ),
        Kind::ResetPeer { timeout } => (
            Fault {
                rate: Some(toxic.toxicity),
                ..part.fault(FaultKind::Errors)
            },
            format!("connections reset after {timeout} ms"),
        ),
        Kind::LimitData { bytes } => (
            Fault {
                rate: Some(toxic.toxicity),
                ..part.fault(FaultKind::Errors)
            },
            format!("connections closed after {bytes} bytes"),
        ),
        Kind::Bandwidth { rate } => (
            part.fault(FaultKind::Slow),
            format!("bandwidth {rate} KB/s"),
        ),
        Kind::SlowClose { delay } => (
            part.fault(FaultKind::Slow),
            format!("closes {delay} ms late"),
        ),
        Kind::Slicer { average_size, .. } => (
            part.fault(FaultKind::Slow),
            format!("sliced into ~{average_size}-byte pieces"),
        ),
    }
}

/// Forgets graph faults that nothing carries any more (their toxics deleted, their
/// proxies enabled or deleted through the API), unless still pending.
pub(super) fn tidy(registry: &mut Registry) {
    let mut carried: std::collections::BTreeSet<u64> = std::collections::BTreeSet::new();
    for proxy in registry.proxies.values() {
        carried.extend(proxy.toxics.iter().filter_map(|t| t.fault));
        if !proxy.enabled {
            carried.extend(proxy.disabled_by);
        }
    }
    registry
        .graph
        .retain(|id, g| g.pending || carried.contains(id));
}

pub(super) fn saved(registry: &Registry, now_s: f64) -> Vec<SavedFault> {
    let now_ms = crate::observed::unix_now_ns() / 1_000_000;
    registry
        .graph
        .iter()
        .filter(|(_, g)| !g.pending)
        .map(|(&id, g)| SavedFault {
            id,
            fault: g.fault.clone(),
            // The seconds left on the observed clock, onto the wall clock.
            ends_unix_ms: g
                .end_s
                .map(|end| now_ms + ((end - now_s).max(0.0) * 1e3) as u64),
        })
        .collect()
}

pub(super) fn restore(registry: &mut Registry, saved: SavedFault, now_s: f64) {
    let now_ms = crate::observed::unix_now_ns() / 1_000_000;
    let end_s = saved
        .ends_unix_ms
        .map(|end| now_s + end.saturating_sub(now_ms) as f64 / 1e3);
    registry.graph.insert(
        saved.id,
        GraphFault {
            fault: saved.fault,
            start_s: now_s,
            pending: false,
            end_s,
        },
    );
}
