//! Built-in topologies. The walking skeleton ships the `shop` demo the server starts with;
//! the generated templates of SPEC (`line`, `ring`, `star`, …) arrive with issue 3.

use crate::topology::{Dependency, Routing, Service, ServiceTimeDist, Topology};

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
    #[test]
    fn demo_is_valid() {
        super::demo().validate().unwrap();
    }
}
