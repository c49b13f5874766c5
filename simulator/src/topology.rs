//! The topology file (SPEC "Topology file — Contract"): its types, their documented
//! defaults, parsing with errors that name the offending field, and validation.
//!
//! Every optional field has its default written next to it, and `docs/topology.md` repeats
//! them for users. Unknown fields are rejected so that a typo never silently does nothing.

use std::collections::{BTreeMap, HashMap};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// A whole topology: services, the calls between them, and how calls find instances.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    pub name: String,
    #[serde(default)]
    pub routing: Routing,
    pub services: Vec<Service>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    /// Pinned positions of nodes on the dashboard, by service name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub layout: BTreeMap<String, [f64; 2]>,
}

/// How a caller finds an instance of its callee (SPEC "Routing modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutingMode {
    Dns,
    Lb,
    Smart,
}

/// How a client (or the load balancer) spreads calls over the instances it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balancer {
    RoundRobin,
    Random,
    LeastOutstanding,
    P2c,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Routing {
    pub mode: RoutingMode,
    pub dns_ttl_s: f64,
    pub health_check_interval_s: f64,
    pub unhealthy_threshold: u32,
    pub lb_latency_ms: f64,
    pub heartbeat_s: f64,
    pub registry_ttl_s: f64,
    pub propagation_ms: f64,
    pub balancer: Balancer,
}

impl Default for Routing {
    fn default() -> Self {
        Routing {
            mode: RoutingMode::Smart,
            dns_ttl_s: 30.0,
            health_check_interval_s: 5.0,
            unhealthy_threshold: 2,
            lb_latency_ms: 0.5,
            heartbeat_s: 1.0,
            registry_ttl_s: 3.0,
            propagation_ms: 200.0,
            balancer: Balancer::RoundRobin,
        }
    }
}

/// The distribution a service's own work time is drawn from; its mean is `service_time_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceTimeDist {
    #[default]
    Exponential,
    Constant,
    Lognormal,
}

impl ServiceTimeDist {
    /// One draw of a work time whose mean is `mean` (in whatever unit `mean` is in): the
    /// simulator's engine and `blastradius demo`'s real processes both draw this way.
    /// Lognormal has σ = 0.5, with μ chosen so the mean is `mean`.
    #[inline(always)]
    pub fn sample<R: rand::Rng + ?Sized>(self, mean: f64, rng: &mut R) -> f64 {
        match self {
            ServiceTimeDist::Constant => mean,
            // Ziggurat draws: a table lookup and a multiplication almost every time,
            // where inverting the distribution function costs a logarithm (and more).
            ServiceTimeDist::Exponential => rng.sample::<f64, _>(rand_distr::Exp1) * mean,
            ServiceTimeDist::Lognormal => {
                const SIGMA: f64 = 0.5;
                let normal: f64 = rng.sample(rand_distr::StandardNormal);
                let mu = mean.ln() - SIGMA * SIGMA / 2.0;
                (mu + SIGMA * normal).exp()
            }
        }
    }
}

/// One service: `replicas` identical instances of one unit of business logic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    #[serde(default = "defaults::replicas")]
    pub replicas: u32,
    #[serde(default = "defaults::concurrency")]
    pub concurrency: u32,
    #[serde(default = "defaults::service_time_ms")]
    pub service_time_ms: f64,
    #[serde(default)]
    pub service_time_dist: ServiceTimeDist,
    #[serde(default = "defaults::queue_limit")]
    pub queue_limit: u32,
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default = "defaults::zones")]
    pub zones: Vec<String>,
    /// Requests per second that outside clients send; > 0 makes this an entry point.
    #[serde(default)]
    pub ingress_rps: f64,
    /// Known only as the callee of other services' calls (an observed system's database or
    /// outside API that sends no spans of its own); simulated like any other service.
    #[serde(default, rename = "virtual", skip_serializing_if = "is_false")]
    pub is_virtual: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

impl Service {
    /// A service named `name` with every optional field at its documented default.
    pub fn new(name: &str) -> Service {
        Service {
            name: name.to_string(),
            replicas: defaults::replicas(),
            concurrency: defaults::concurrency(),
            service_time_ms: defaults::service_time_ms(),
            service_time_dist: ServiceTimeDist::default(),
            queue_limit: defaults::queue_limit(),
            error_rate: 0.0,
            zones: defaults::zones(),
            ingress_rps: 0.0,
            is_virtual: false,
        }
    }

    pub fn is_entry(&self) -> bool {
        self.ingress_rps > 0.0
    }

    /// The zone instance `instance` (counted from 1) runs in.
    pub fn zone_of(&self, instance: u32) -> &str {
        &self.zones[(instance as usize - 1) % self.zones.len()]
    }
}

/// `from` calls `to`, `calls` times per request on average.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dependency {
    pub from: String,
    pub to: String,
    #[serde(default = "defaults::calls")]
    pub calls: f64,
    #[serde(default = "defaults::required")]
    pub required: bool,
    #[serde(default = "defaults::latency_ms")]
    pub latency_ms: f64,
    #[serde(default = "defaults::timeout_ms")]
    pub timeout_ms: f64,
    #[serde(default)]
    pub retries: u32,
    #[serde(default = "defaults::retry_backoff_ms")]
    pub retry_backoff_ms: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<Breaker>,
}

/// A circuit breaker on one caller → callee link.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Breaker {
    pub error_threshold: f64,
    pub window_s: f64,
    pub min_calls: u32,
    pub open_s: f64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            error_threshold: 0.5,
            window_s: 10.0,
            min_calls: 20,
            open_s: 5.0,
        }
    }
}

/// The documented defaults of optional fields (serde needs them as functions).
mod defaults {
    pub fn replicas() -> u32 {
        1
    }
    pub fn concurrency() -> u32 {
        16
    }
    pub fn service_time_ms() -> f64 {
        10.0
    }
    pub fn queue_limit() -> u32 {
        100
    }
    pub fn zones() -> Vec<String> {
        vec!["a".to_string()]
    }
    pub fn calls() -> f64 {
        1.0
    }
    pub fn required() -> bool {
        true
    }
    pub fn latency_ms() -> f64 {
        1.0
    }
    pub fn timeout_ms() -> f64 {
        1000.0
    }
    pub fn retry_backoff_ms() -> f64 {
        10.0
    }
}

/// Shortest health-check interval accepted.
pub const MIN_HEALTH_CHECK_INTERVAL_S: f64 = 0.01;

/// Most outside requests per second one entry point may receive.
pub const MAX_INGRESS_RPS: f64 = 100_000.0;

/// Names reserved for the infrastructure components of the routing modes.
pub const INFRASTRUCTURE: [&str; 3] = ["dns", "lb", "registry"];

/// What is wrong with a topology file, and where: `path` is like `services[2].replicas`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("{path}: ") })]
pub struct TopologyError {
    pub path: String,
    pub message: String,
    /// The text is not JSON at all (rather than JSON that is not a valid topology).
    #[serde(skip)]
    pub syntax: bool,
}

impl TopologyError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        TopologyError {
            path: path.into(),
            message: message.into(),
            syntax: false,
        }
    }
}

impl Topology {
    /// Parses a topology from JSON text and validates it.
    pub fn from_json(text: &str) -> Result<Topology, TopologyError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let topology: Topology = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let syntax = err.inner().is_syntax() || err.inner().is_eof();
            TopologyError {
                syntax,
                ..path_error(err)
            }
        })?;
        topology.validate()?;
        Ok(topology)
    }

    /// Parses a topology from YAML text (the same structure as JSON) and validates it.
    pub fn from_yaml(text: &str) -> Result<Topology, TopologyError> {
        let deserializer = serde_norway::Deserializer::from_str(text);
        let topology: Topology =
            serde_path_to_error::deserialize(deserializer).map_err(path_error)?;
        topology.validate()?;
        Ok(topology)
    }

    /// Parses YAML when `file_name` ends in `.yaml` or `.yml`, JSON otherwise.
    pub fn from_file_text(file_name: &str, text: &str) -> Result<Topology, TopologyError> {
        if file_name.ends_with(".yaml") || file_name.ends_with(".yml") {
            Topology::from_yaml(text)
        } else {
            Topology::from_json(text)
        }
    }

    /// Pretty JSON, the form `template` prints and `GET /api/topology` returns.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a topology always serialises")
    }

    /// YAML, the other file form (`GET /api/topology?format=yaml`).
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("a topology always serialises")
    }

    /// Checks everything the types cannot: ranges, unique names, existing endpoints.
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.name.trim().is_empty() {
            return Err(TopologyError::at("name", "must not be empty"));
        }
        self.routing.validate()?;
        if self.services.is_empty() {
            return Err(TopologyError::at("services", "needs at least one service"));
        }
        let mut index = HashMap::new();
        for (i, service) in self.services.iter().enumerate() {
            service.validate(&format!("services[{i}]"))?;
            if let Some(first) = index.insert(service.name.as_str(), i) {
                return Err(TopologyError::at(
                    format!("services[{i}].name"),
                    format!(
                        "'{}' is already the name of services[{first}]",
                        service.name
                    ),
                ));
            }
        }
        let mut links = HashMap::new();
        for (i, dep) in self.dependencies.iter().enumerate() {
            let at = format!("dependencies[{i}]");
            for (field, name) in [("from", &dep.from), ("to", &dep.to)] {
                if !index.contains_key(name.as_str()) {
                    return Err(TopologyError::at(
                        format!("{at}.{field}"),
                        format!("no service is named '{name}'"),
                    ));
                }
            }
            if dep.from == dep.to {
                return Err(TopologyError::at(
                    format!("{at}.to"),
                    "a service cannot depend on itself",
                ));
            }
            if let Some(first) = links.insert((dep.from.as_str(), dep.to.as_str()), i) {
                return Err(TopologyError::at(
                    at,
                    format!(
                        "{} -> {} is already declared by dependencies[{first}]",
                        dep.from, dep.to
                    ),
                ));
            }
            dep.validate(&at)?;
        }
        for (name, position) in &self.layout {
            if !index.contains_key(name.as_str()) {
                return Err(TopologyError::at(
                    format!("layout.{name}"),
                    format!("no service is named '{name}'"),
                ));
            }
            if position
                .iter()
                .any(|v| !(v.is_finite() && v.abs() <= MAX_MAGNITUDE))
            {
                return Err(TopologyError::at(
                    format!("layout.{name}"),
                    format!("coordinates must be numbers within ±{MAX_MAGNITUDE}"),
                ));
            }
        }
        if !self.services.iter().any(Service::is_entry) {
            return Err(TopologyError::at(
                "services",
                "no entry point: give at least one service an ingress_rps above 0",
            ));
        }
        Ok(())
    }

    /// Each service's index in `services`, by name.
    pub fn index_by_name(&self) -> FxHashMap<&str, usize> {
        self.services
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_str(), i))
            .collect()
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

impl RoutingMode {
    pub const ALL: [RoutingMode; 3] = [RoutingMode::Dns, RoutingMode::Lb, RoutingMode::Smart];

    pub fn name(self) -> &'static str {
        match self {
            RoutingMode::Dns => "dns",
            RoutingMode::Lb => "lb",
            RoutingMode::Smart => "smart",
        }
    }
}

impl Routing {
    fn validate(&self) -> Result<(), TopologyError> {
        let positive = [
            ("dns_ttl_s", self.dns_ttl_s),
            ("health_check_interval_s", self.health_check_interval_s),
            ("heartbeat_s", self.heartbeat_s),
            ("registry_ttl_s", self.registry_ttl_s),
        ];
        for (field, value) in positive {
            check_range(&format!("routing.{field}"), value, 0.0, false)?;
        }
        // Probes run for every instance at every interval: keep the interval sane.
        if self.health_check_interval_s < MIN_HEALTH_CHECK_INTERVAL_S {
            return Err(TopologyError::at(
                "routing.health_check_interval_s",
                format!(
                    "must be at least {MIN_HEALTH_CHECK_INTERVAL_S} s, not {}",
                    self.health_check_interval_s
                ),
            ));
        }
        for (field, value) in [
            ("lb_latency_ms", self.lb_latency_ms),
            ("propagation_ms", self.propagation_ms),
        ] {
            check_range(&format!("routing.{field}"), value, 0.0, true)?;
        }
        if self.unhealthy_threshold == 0 {
            return Err(TopologyError::at(
                "routing.unhealthy_threshold",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl Service {
    fn validate(&self, at: &str) -> Result<(), TopologyError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !name_ok {
            return Err(TopologyError::at(
                format!("{at}.name"),
                format!(
                    "'{}' is not a valid name: use 1 to 64 letters, digits, '-', '_' or '.'",
                    self.name
                ),
            ));
        }
        if INFRASTRUCTURE.contains(&self.name.as_str()) {
            return Err(TopologyError::at(
                format!("{at}.name"),
                format!(
                    "'{}' is reserved for the routing infrastructure component",
                    self.name
                ),
            ));
        }
        for (field, value, max) in [
            ("replicas", self.replicas, 1000),
            ("concurrency", self.concurrency, 100_000),
        ] {
            if value == 0 || value > max {
                return Err(TopologyError::at(
                    format!("{at}.{field}"),
                    format!("must be between 1 and {max}, not {value}"),
                ));
            }
        }
        check_range(
            &format!("{at}.service_time_ms"),
            self.service_time_ms,
            0.0,
            false,
        )?;
        check_range(&format!("{at}.ingress_rps"), self.ingress_rps, 0.0, true)?;
        if self.ingress_rps > MAX_INGRESS_RPS {
            return Err(TopologyError::at(
                format!("{at}.ingress_rps"),
                format!(
                    "must be at most {MAX_INGRESS_RPS}, not {}",
                    self.ingress_rps
                ),
            ));
        }
        check_share(&format!("{at}.error_rate"), self.error_rate)?;
        if self.zones.is_empty() {
            return Err(TopologyError::at(
                format!("{at}.zones"),
                "needs at least one zone",
            ));
        }
        Ok(())
    }
}

impl Dependency {
    /// `from` calls `to` with every optional field at its documented default.
    pub fn new(from: &str, to: &str) -> Dependency {
        Dependency {
            from: from.to_string(),
            to: to.to_string(),
            calls: defaults::calls(),
            required: defaults::required(),
            latency_ms: defaults::latency_ms(),
            timeout_ms: defaults::timeout_ms(),
            retries: 0,
            retry_backoff_ms: defaults::retry_backoff_ms(),
            breaker: None,
        }
    }

    fn validate(&self, at: &str) -> Result<(), TopologyError> {
        check_range(&format!("{at}.calls"), self.calls, 0.0, true)?;
        if self.calls > 100.0 {
            return Err(TopologyError::at(
                format!("{at}.calls"),
                format!("must be at most 100, not {}", self.calls),
            ));
        }
        check_range(&format!("{at}.latency_ms"), self.latency_ms, 0.0, true)?;
        check_range(&format!("{at}.timeout_ms"), self.timeout_ms, 0.0, false)?;
        check_range(
            &format!("{at}.retry_backoff_ms"),
            self.retry_backoff_ms,
            0.0,
            true,
        )?;
        if self.retries > 10 {
            return Err(TopologyError::at(
                format!("{at}.retries"),
                format!("must be at most 10, not {}", self.retries),
            ));
        }
        if let Some(breaker) = &self.breaker {
            check_share(
                &format!("{at}.breaker.error_threshold"),
                breaker.error_threshold,
            )?;
            check_range(
                &format!("{at}.breaker.window_s"),
                breaker.window_s,
                0.0,
                false,
            )?;
            check_range(&format!("{at}.breaker.open_s"), breaker.open_s, 0.0, false)?;
        }
        Ok(())
    }
}

/// A parse error with the path to the field at fault (serde_json and YAML add the line and
/// column, which help in a big file).
fn path_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> TopologyError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    TopologyError::at(
        if path == "." { String::new() } else { path },
        inner.to_string(),
    )
}

/// `value` must be finite and above `min` (or equal to it when `inclusive`).
/// `value` must also be at most this: times in ms or s, rates — anything larger is a typo,
/// and would overflow simulated time.
pub const MAX_MAGNITUDE: f64 = 1e7;

fn check_range(path: &str, value: f64, min: f64, inclusive: bool) -> Result<(), TopologyError> {
    let ok =
        value.is_finite() && (value > min || (inclusive && value == min)) && value <= MAX_MAGNITUDE;
    if ok {
        return Ok(());
    }
    let bound = if inclusive { "at least" } else { "above" };
    Err(TopologyError::at(
        path,
        format!("must be a number {bound} {min} and at most {MAX_MAGNITUDE}, not {value}"),
    ))
}

fn check_share(path: &str, value: f64) -> Result<(), TopologyError> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        return Ok(());
    }
    Err(TopologyError::at(
        path,
        format!("must be a share between 0 and 1, not {value}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 10}]}"#;

    #[test]
    fn defaults_fill_omitted_fields() {
        let topology = Topology::from_json(MINIMAL).unwrap();
        let service = &topology.services[0];
        assert_eq!(service.replicas, 1);
        assert_eq!(service.concurrency, 16);
        assert_eq!(service.zones, vec!["a"]);
        assert_eq!(topology.routing.mode, RoutingMode::Smart);
        assert_eq!(topology.routing.dns_ttl_s, 30.0);
    }

    #[test]
    fn errors_name_the_field_path() {
        let cases = [
            (
                r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 1, "replicas": 0}]}"#,
                "services[0].replicas",
            ),
            (
                r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 1, "colour": 1}]}"#,
                "services[0].colour",
            ),
            (
                r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 1}],
                    "dependencies": [{"from": "a", "to": "b"}]}"#,
                "dependencies[0].to",
            ),
            (
                r#"{"name": "t", "routing": {"mode": "carrier-pigeon"},
                    "services": [{"name": "a", "ingress_rps": 1}]}"#,
                "routing.mode",
            ),
            (
                r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 1, "error_rate": 2}]}"#,
                "services[0].error_rate",
            ),
            (r#"{"name": "t", "services": [{"name": "a"}]}"#, "services"),
            (
                r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 1,
                    "service_time_ms": 1e300}]}"#,
                "services[0].service_time_ms",
            ),
            (
                r#"{"name": "t", "routing": {"health_check_interval_s": 1e-9},
                    "services": [{"name": "a", "ingress_rps": 1}]}"#,
                "routing.health_check_interval_s",
            ),
            (
                r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 1e9}]}"#,
                "services[0].ingress_rps",
            ),
        ];
        for (text, path) in cases {
            let err = Topology::from_json(text).unwrap_err();
            assert_eq!(err.path, path, "for {text}: {err}");
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let err = Topology::from_json(
            r#"{"name": "t", "services": [{"name": "a", "ingress_rps": 1, "colour": 1}]}"#,
        )
        .unwrap_err();
        assert!(err.message.contains("colour"), "{err}");
    }

    #[test]
    fn yaml_reads_the_same_structure_and_names_paths() {
        let yaml = "name: t\nservices:\n  - name: a\n    ingress_rps: 10\n    replicas: 3\n";
        let topology = Topology::from_file_text("t.yaml", yaml).unwrap();
        assert_eq!(topology.services[0].replicas, 3);
        let err = Topology::from_yaml("name: t\nservices:\n  - name: a\n    replicas: many\n")
            .unwrap_err();
        assert_eq!(err.path, "services[0].replicas", "{err}");
    }

    #[test]
    fn round_trips_through_json() {
        let topology = Topology::from_json(MINIMAL).unwrap();
        let again = Topology::from_json(&topology.to_json_pretty()).unwrap();
        assert_eq!(topology, again);
    }
}
