//! Built-in topologies (SPEC "Templates"): the shapes people draw — line, ring, star, fully
//! connected, random mesh, tree, scale-free — plus a data pipeline and the `shop` demo. Each
//! takes a size and a seed and runs at a realistic, moderate load out of the box: fan-out is
//! kept near one call per hop (fractional `calls`) so requests stay short even where every
//! service can reach every other.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::topology::{Dependency, Routing, Service, ServiceTimeDist, Topology};

/// Template names, as `blastradius template NAME` takes them.
pub const NAMES: [&str; 9] = [
    "line",
    "ring",
    "star",
    "full",
    "mesh",
    "tree",
    "scale-free",
    "pipeline",
    "shop",
];

/// A template name that does not exist, or a size it cannot take.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("no template is named '{0}': try one of {names}", names = NAMES.join(", "))]
    Unknown(String),
    #[error("template '{name}' needs a size between {min} and {max}, not {size}")]
    Size {
        name: &'static str,
        size: usize,
        min: usize,
        max: usize,
    },
}

/// The default size of each template (its number of services).
pub fn default_size(name: &str) -> usize {
    match name {
        "full" => 6,
        "mesh" | "scale-free" => 20,
        "tree" => 15,
        "pipeline" => 4,
        "shop" => 13,
        _ => 5,
    }
}

/// Builds template `name` with `size` services (its default if `None`) from `seed`.
pub fn build(name: &str, size: Option<usize>, seed: u64) -> Result<Topology, TemplateError> {
    let Some(&known) = NAMES.iter().find(|n| **n == name) else {
        return Err(TemplateError::Unknown(name.to_string()));
    };
    let size = size.unwrap_or_else(|| default_size(name));
    let (min, max) = match known {
        "pipeline" => (3, 50),
        "shop" => (13, 13),
        "full" => (2, 60),
        _ => (2, 5000),
    };
    if !(min..=max).contains(&size) {
        return Err(TemplateError::Size {
            name: known,
            size,
            min,
            max,
        });
    }
    let mut rng = Pcg64Mcg::seed_from_u64(seed);
    let topology = match known {
        "line" => line(size),
        "ring" => ring(size),
        "star" => star(size),
        "full" => full(size),
        "mesh" => mesh(size, &mut rng),
        "tree" => tree(size),
        "scale-free" => scale_free(size, &mut rng),
        "pipeline" => pipeline(size),
        _ => demo(),
    };
    debug_assert!(
        topology.validate().is_ok(),
        "{known}: {:?}",
        topology.validate()
    );
    Ok(topology)
}

fn numbered(prefix: &str, count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("{prefix}-{i}")).collect()
}

fn topology(name: &str, services: Vec<Service>, dependencies: Vec<Dependency>) -> Topology {
    Topology {
        name: name.to_string(),
        routing: Routing::default(),
        services,
        dependencies,
        layout: Default::default(),
    }
}

/// `svc-1 → svc-2 → … → svc-n`; outside traffic enters at `svc-1`.
fn line(size: usize) -> Topology {
    let names = numbered("svc", size);
    let services = names
        .iter()
        .enumerate()
        .map(|(i, n)| service(n, 2, 5.0, if i == 0 { 100.0 } else { 0.0 }))
        .collect();
    let dependencies = names
        .windows(2)
        .map(|w| call(&w[0], &w[1], 1.0, true))
        .collect();
    topology("line", services, dependencies)
}

/// A line closed into a cycle; no request revisits a service, so each stops one short.
fn ring(size: usize) -> Topology {
    let mut ring = line(size);
    ring.name = "ring".to_string();
    if size > 2 {
        let names = numbered("svc", size);
        ring.dependencies
            .push(call(&names[size - 1], &names[0], 1.0, true));
    }
    ring
}

/// `size - 1` client services (the entries) sharing one `hub`.
fn star(size: usize) -> Topology {
    let leaves = numbered("client", size - 1);
    let mut services = vec![service("hub", 3, 4.0, 0.0)];
    services.extend(leaves.iter().map(|n| service(n, 2, 3.0, 40.0)));
    let dependencies = leaves.iter().map(|n| call(n, "hub", 1.0, true)).collect();
    topology("star", services, dependencies)
}

/// Every service calls every other, each call with probability `1 / (size - 1)`; every
/// service takes outside traffic.
fn full(size: usize) -> Topology {
    let names = numbered("node", size);
    let services = names.iter().map(|n| service(n, 2, 4.0, 20.0)).collect();
    let share = 1.0 / (size - 1) as f64;
    let mut dependencies = Vec::new();
    for from in &names {
        for to in &names {
            if from != to {
                dependencies.push(call(from, to, share, true));
            }
        }
    }
    topology("full", services, dependencies)
}

/// A random mesh: each service calls two others picked at random (cycles allowed); the
/// first quarter take outside traffic.
fn mesh(size: usize, rng: &mut Pcg64Mcg) -> Topology {
    let names = numbered("node", size);
    let entries = size.div_ceil(4);
    let services = names
        .iter()
        .enumerate()
        .map(|(i, n)| service(n, 2, 4.0, if i < entries { 50.0 } else { 0.0 }))
        .collect();
    let mut dependencies: Vec<Dependency> = Vec::new();
    for (i, from) in names.iter().enumerate() {
        let mut targets = Vec::new();
        while targets.len() < 2.min(size - 1) {
            let j = rng.random_range(0..size);
            if j != i && !targets.contains(&j) {
                targets.push(j);
            }
        }
        for j in targets {
            dependencies.push(call(from, &names[j], 0.45, true));
        }
    }
    topology("mesh", services, dependencies)
}

/// A binary tree: the root takes outside traffic and each parent calls each child with
/// probability 0.5, so a request walks about one path down.
fn tree(size: usize) -> Topology {
    let names = numbered("node", size);
    let services = names
        .iter()
        .enumerate()
        .map(|(i, n)| service(n, 2, 4.0, if i == 0 { 150.0 } else { 0.0 }))
        .collect();
    let dependencies = (1..size)
        .map(|child| call(&names[(child - 1) / 2], &names[child], 0.5, true))
        .collect();
    topology("tree", services, dependencies)
}

/// Barabási–Albert preferential attachment, two links per new service: each newcomer calls
/// two older services picked with probability proportional to their degree, so a few old
/// services become hubs that much of the system depends on. The services nobody calls face
/// the outside and share 1,000 requests per second between them, so every service is on
/// some request's path.
fn scale_free(size: usize, rng: &mut Pcg64Mcg) -> Topology {
    const LINKS: usize = 2;
    let names = numbered("svc", size);
    // Each service appears once per link end: sampling this list is sampling by degree.
    let mut ends: Vec<usize> = Vec::new();
    let mut dependencies = Vec::new();
    for new in 1..size {
        let mut targets: Vec<usize> = Vec::new();
        let wanted = LINKS.min(new);
        while targets.len() < wanted {
            let old = if ends.is_empty() || rng.random::<f64>() < 0.1 {
                rng.random_range(0..new)
            } else {
                ends[rng.random_range(0..ends.len())]
            };
            if !targets.contains(&old) {
                targets.push(old);
            }
        }
        for old in targets {
            dependencies.push(call(&names[new], &names[old], 0.45, true));
            ends.push(old);
            ends.push(new);
        }
    }
    let mut called = vec![false; size];
    for dep in &dependencies {
        let callee: usize = dep
            .to
            .trim_start_matches("svc-")
            .parse()
            .expect("own names");
        called[callee - 1] = true;
    }
    let entries = called.iter().filter(|c| !**c).count();
    let per_entry = 1000.0 / entries as f64;
    let services = names
        .iter()
        .zip(&called)
        .map(|(n, called)| service(n, 2, 2.0, if *called { 0.0 } else { per_entry }))
        .collect();
    topology("scale-free", services, dependencies)
}

/// The talk's pipeline: `ingest` writes into `store`, the one source of truth; a chain of
/// `transform` stages reads it; `present` serves users from the last stage. Each stage
/// scales on its own resource.
fn pipeline(size: usize) -> Topology {
    let transforms = if size > 3 {
        numbered("transform", size - 3)
    } else {
        Vec::new()
    };
    let mut services = vec![
        service("ingest", 3, 2.0, 200.0),
        service("store", 3, 3.0, 0.0),
    ];
    services.extend(transforms.iter().map(|n| service(n, 2, 6.0, 0.0)));
    services.push(service("present", 3, 2.0, 100.0));
    let mut dependencies = vec![call("ingest", "store", 1.0, true)];
    let mut reader = "present".to_string();
    for stage in transforms.iter().rev() {
        dependencies.push(call(&reader, stage, 1.0, true));
        reader = stage.clone();
    }
    dependencies.push(call(&reader, "store", 1.0, true));
    topology("pipeline", services, dependencies)
}

fn service(name: &str, replicas: u32, service_time_ms: f64, ingress_rps: f64) -> Service {
    Service {
        name: name.to_string(),
        replicas,
        concurrency: 32,
        service_time_ms,
        service_time_dist: ServiceTimeDist::Exponential,
        queue_limit: 200,
        error_rate: 0.0,
        zones: vec!["a".to_string(), "b".to_string()],
        ingress_rps,
        is_virtual: false,
    }
}

fn call(from: &str, to: &str, calls: f64, required: bool) -> Dependency {
    Dependency {
        from: from.to_string(),
        to: to.to_string(),
        calls,
        required,
        latency_ms: 1.0,
        timeout_ms: if required { 500.0 } else { 150.0 },
        retries: u32::from(required),
        retry_backoff_ms: 10.0,
        breaker: None,
    }
}

/// A realistic online shop of 13 services and two entry points (web and mobile): required
/// calls to auth, catalog and cart; optional search and recommendations; a rare checkout.
pub fn demo() -> Topology {
    let services = vec![
        service("web", 3, 4.0, 120.0),
        service("mobile-api", 2, 3.0, 60.0),
        service("auth", 2, 2.0, 0.0),
        service("sessions", 2, 1.0, 0.0),
        service("catalog", 3, 5.0, 0.0),
        service("search", 2, 8.0, 0.0),
        service("catalog-db", 2, 3.0, 0.0),
        service("cart", 2, 4.0, 0.0),
        service("pricing", 2, 2.0, 0.0),
        service("cart-db", 2, 3.0, 0.0),
        service("recommend", 2, 12.0, 0.0),
        service("checkout", 2, 6.0, 0.0),
        service("payments", 2, 20.0, 0.0),
    ];
    let dependencies = vec![
        call("web", "auth", 1.0, true),
        call("web", "catalog", 1.0, true),
        call("web", "cart", 0.3, true),
        call("web", "recommend", 0.5, false),
        call("web", "checkout", 0.05, true),
        call("mobile-api", "auth", 1.0, true),
        call("mobile-api", "catalog", 1.0, true),
        call("mobile-api", "cart", 0.5, true),
        call("auth", "sessions", 1.0, true),
        call("catalog", "catalog-db", 1.0, true),
        call("catalog", "search", 0.4, false),
        call("search", "catalog-db", 1.0, true),
        call("recommend", "catalog", 0.5, true),
        call("cart", "cart-db", 1.0, true),
        call("cart", "pricing", 1.0, true),
        call("pricing", "catalog-db", 0.5, true),
        call("checkout", "cart", 1.0, true),
        call("checkout", "payments", 1.0, true),
    ];
    Topology {
        name: "shop".to_string(),
        routing: Routing::default(),
        services,
        dependencies,
        layout: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid_at_several_sizes() {
        for name in NAMES {
            for size in [None, Some(3), Some(13), Some(50)] {
                match build(name, size, 7) {
                    Ok(topology) => topology.validate().unwrap(),
                    Err(TemplateError::Size { .. }) => {}
                    Err(other) => panic!("{name}: {other}"),
                }
            }
        }
    }

    #[test]
    fn same_seed_same_template() {
        assert_eq!(build("mesh", Some(30), 3), build("mesh", Some(30), 3));
        assert_ne!(build("mesh", Some(30), 3), build("mesh", Some(30), 4));
    }

    #[test]
    fn unknown_names_and_bad_sizes_are_explained() {
        let err = build("donut", None, 1).unwrap_err().to_string();
        assert!(err.contains("donut") && err.contains("scale-free"), "{err}");
        let err = build("pipeline", Some(1), 1).unwrap_err().to_string();
        assert!(err.contains("between 3 and 50"), "{err}");
    }

    #[test]
    fn scale_free_has_hubs() {
        let topology = build("scale-free", Some(200), 1).unwrap();
        let mut in_degree = std::collections::HashMap::new();
        for dep in &topology.dependencies {
            *in_degree.entry(dep.to.as_str()).or_insert(0) += 1;
        }
        let max = in_degree.values().copied().max().unwrap();
        // Preferential attachment: the biggest hub gathers far more than the mean of ~2.
        assert!(max >= 15, "largest in-degree {max}");
    }
}
