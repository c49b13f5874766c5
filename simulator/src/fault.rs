//! Faults (SPEC "Faults — Contract"): what can be broken, and where.
//!
//! The JSON form is shared by `POST /api/faults`, `--faults FILE` and the dashboard:
//! `{"kind": "kill", "service": "cart", "instance": 2}`,
//! `{"kind": "partition", "from": "gateway", "to": "cart", "both": true}`,
//! `{"kind": "monkey", "services": ["cart", "search"], "mean_interval_s": 15, "down_s": 10}`.
//! The CLI's `AT KIND TARGET [key=value]...` form is parsed by [`Fault::parse_cli`].

use serde::{Deserialize, Serialize};

use crate::topology::{INFRASTRUCTURE, MAX_MAGNITUDE, Topology};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Refuses connections and stops heartbeating.
    #[default]
    Kill,
    /// Accepts and never answers; heartbeats go on (a gray failure).
    Hang,
    /// Adds `ms` to every answer (or, on a link, to every call).
    Latency,
    /// Fails a share `rate` of requests (or, on a link, of calls).
    Errors,
    /// Multiplies service time by `factor`.
    Slow,
    /// The link `from → to` drops everything (and `to → from` with `both`).
    Partition,
    /// Kills every instance in `zone`.
    Zone,
    /// Kills a random instance of `services` every `mean_interval_s` on average, reviving
    /// it after `down_s`.
    Monkey,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Kill,
        FaultKind::Hang,
        FaultKind::Latency,
        FaultKind::Errors,
        FaultKind::Slow,
        FaultKind::Partition,
        FaultKind::Zone,
        FaultKind::Monkey,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Hang => "hang",
            FaultKind::Latency => "latency",
            FaultKind::Errors => "errors",
            FaultKind::Slow => "slow",
            FaultKind::Partition => "partition",
            FaultKind::Zone => "zone",
            FaultKind::Monkey => "monkey",
        }
    }

    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One fault and its target. Which fields matter depends on `kind`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    /// Target service (or infrastructure component `dns`, `lb`, `registry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// One instance of `service`, counted from 1; absent means every instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<u32>,
    /// Link target: `from` → `to`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Zone target for `zone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Targets of `monkey`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// Added milliseconds, for `latency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
    /// Share of requests failed, for `errors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Service-time multiplier, for `slow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    /// Both directions, for `partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub both: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_interval_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub down_s: Option<f64>,
    /// Simulated second the fault starts at (absent or past: at once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
    /// Reverts itself after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}

/// A fault that does not fit the topology, with the field to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FaultError {
    pub path: String,
    pub message: String,
}

fn fault_error(path: &str, message: impl Into<String>) -> FaultError {
    FaultError {
        path: path.to_string(),
        message: message.into(),
    }
}

impl Fault {
    /// A kill of every instance of `service`.
    pub fn kill(service: &str) -> Fault {
        Fault {
            kind: FaultKind::Kill,
            service: Some(service.to_string()),
            ..Fault::default()
        }
    }

    /// A fault of `kind` on every instance of `service`.
    pub fn on_service(kind: FaultKind, service: &str) -> Fault {
        Fault {
            kind,
            service: Some(service.to_string()),
            ..Fault::default()
        }
    }

    /// A fault of `kind` on the link `from → to`.
    pub fn on_link(kind: FaultKind, from: &str, to: &str) -> Fault {
        Fault {
            kind,
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            ..Fault::default()
        }
    }

    /// Whether this fault targets a link rather than a service.
    pub fn is_link(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    /// Checks the fault against `topology`: its target exists and its fields make sense.
    pub fn validate(&self, topology: &Topology) -> Result<(), FaultError> {
        for (field, value) in [("at_s", self.at_s), ("duration_s", self.duration_s)] {
            if let Some(v) = value
                && !(v.is_finite() && (0.0..=MAX_MAGNITUDE).contains(&v))
            {
                return Err(fault_error(
                    field,
                    format!("must be a number between 0 and {MAX_MAGNITUDE}, not {v}"),
                ));
            }
        }
        if let Some(mean) = self.mean_interval_s
            && mean < MIN_MONKEY_INTERVAL_S
        {
            return Err(fault_error(
                "mean_interval_s",
                format!("must be at least {MIN_MONKEY_INTERVAL_S} s, not {mean}"),
            ));
        }
        let kind = self.kind.name();
        self.reject_foreign_targets()?;
        match self.kind {
            FaultKind::Kill | FaultKind::Hang => self.validate_service_target(topology, true)?,
            FaultKind::Slow => {
                self.validate_service_target(topology, false)?;
                positive("factor", self.factor, kind)?;
            }
            FaultKind::Latency | FaultKind::Errors => {
                if self.is_link() {
                    self.validate_link_target(topology)?;
                } else {
                    self.validate_service_target(topology, false)?;
                }
                if self.kind == FaultKind::Latency {
                    positive("ms", self.ms, kind)?;
                } else {
                    match self.rate {
                        Some(r) if r.is_finite() && r > 0.0 && r <= 1.0 => {}
                        Some(r) => {
                            return Err(fault_error("rate", format!("must be in (0, 1], not {r}")));
                        }
                        None => return Err(fault_error("rate", "errors needs rate=SHARE")),
                    }
                }
            }
            FaultKind::Partition => self.validate_link_target(topology)?,
            FaultKind::Zone => {
                let Some(zone) = &self.zone else {
                    return Err(fault_error("zone", "zone needs a zone to kill"));
                };
                if !topology.services.iter().any(|s| s.zones.contains(zone)) {
                    return Err(fault_error(
                        "zone",
                        format!("no service runs in zone '{zone}'"),
                    ));
                }
            }
            FaultKind::Monkey => {
                let targets = self.services.as_deref().unwrap_or_default();
                if targets.is_empty() {
                    return Err(fault_error(
                        "services",
                        "monkey needs services to pick from",
                    ));
                }
                for (i, name) in targets.iter().enumerate() {
                    if topology.service(name).is_none() {
                        return Err(fault_error(
                            &format!("services[{i}]"),
                            format!("no service is named '{name}'"),
                        ));
                    }
                }
                positive("mean_interval_s", self.mean_interval_s, kind)?;
                positive("down_s", self.down_s, kind)?;
            }
        }
        Ok(())
    }

    /// Refuses target fields the kind does not use, so nothing is silently ignored.
    fn reject_foreign_targets(&self) -> Result<(), FaultError> {
        let (service, link, zone, services) = match self.kind {
            FaultKind::Kill | FaultKind::Hang | FaultKind::Slow => (true, false, false, false),
            FaultKind::Latency | FaultKind::Errors => (true, true, false, false),
            FaultKind::Partition => (false, true, false, false),
            FaultKind::Zone => (false, false, true, false),
            FaultKind::Monkey => (false, false, false, true),
        };
        let present = [
            ("service", self.service.is_some(), service),
            ("instance", self.instance.is_some(), service),
            ("from", self.from.is_some(), link),
            ("to", self.to.is_some(), link),
            ("zone", self.zone.is_some(), zone),
            ("services", self.services.is_some(), services),
        ];
        for (field, given, allowed) in present {
            if given && !allowed {
                return Err(fault_error(
                    field,
                    format!("a {} fault takes no '{field}'", self.kind.name()),
                ));
            }
        }
        if self.is_link() && self.service.is_some() {
            return Err(fault_error(
                "service",
                "target either a service or a link (from, to), not both",
            ));
        }
        Ok(())
    }

    fn validate_service_target(
        &self,
        topology: &Topology,
        infrastructure_allowed: bool,
    ) -> Result<(), FaultError> {
        let kind = self.kind.name();
        let Some(name) = &self.service else {
            return Err(fault_error(
                "service",
                format!("{kind} needs a target service"),
            ));
        };
        if INFRASTRUCTURE.contains(&name.as_str()) {
            if !infrastructure_allowed {
                return Err(fault_error(
                    "service",
                    format!("'{name}' is a routing component: it can be killed or hung"),
                ));
            }
            if self.instance.is_some() {
                return Err(fault_error(
                    "instance",
                    format!("'{name}' has one instance"),
                ));
            }
            return Ok(());
        }
        let Some(service) = topology.service(name) else {
            return Err(fault_error(
                "service",
                format!("no service is named '{name}'"),
            ));
        };
        if let Some(instance) = self.instance
            && (instance == 0 || instance > service.replicas)
        {
            return Err(fault_error(
                "instance",
                format!(
                    "'{name}' has instances 1 to {}, not {instance}",
                    service.replicas
                ),
            ));
        }
        Ok(())
    }

    fn validate_link_target(&self, topology: &Topology) -> Result<(), FaultError> {
        let (Some(from), Some(to)) = (&self.from, &self.to) else {
            return Err(fault_error(
                if self.from.is_none() { "from" } else { "to" },
                format!("{} on a link needs both from and to", self.kind.name()),
            ));
        };
        let exists = |a: &str, b: &str| {
            topology
                .dependencies
                .iter()
                .any(|d| d.from == a && d.to == b)
        };
        let reverse_cut = self.both == Some(true) && exists(to, from);
        if !exists(from, to) && !reverse_cut {
            return Err(fault_error(
                "to",
                format!("there is no dependency {from} -> {to}"),
            ));
        }
        Ok(())
    }

    /// A short human description: `kill cart`, `kill cart#2`, `latency cart ms=200`.
    pub fn describe(&self) -> String {
        let mut text = format!("{} {}", self.kind.name(), self.target());
        let params = [
            ("ms", self.ms),
            ("rate", self.rate),
            ("factor", self.factor),
            ("mean_interval", self.mean_interval_s),
            ("down", self.down_s),
            ("duration", self.duration_s),
        ];
        for (key, value) in params {
            if let Some(v) = value {
                let unit = if matches!(key, "mean_interval" | "down" | "duration") {
                    "s"
                } else {
                    ""
                };
                text.push_str(&format!(" {key}={v}{unit}"));
            }
        }
        if self.both == Some(true) {
            text.push_str(" both=true");
        }
        text
    }

    /// The target in the CLI's notation: `cart`, `cart#2`, `gateway->cart`, `zone:a`.
    pub fn target(&self) -> String {
        if let Some(services) = &self.services {
            return services.join(",");
        }
        match (
            &self.service,
            self.instance,
            &self.from,
            &self.to,
            &self.zone,
        ) {
            (Some(s), Some(i), ..) => format!("{s}#{i}"),
            (Some(s), None, ..) => s.clone(),
            (None, _, Some(f), Some(t), _) => format!("{f}->{t}"),
            (None, _, _, _, Some(z)) => format!("zone:{z}"),
            _ => String::from("?"),
        }
    }

    /// Parses the CLI form `AT KIND TARGET [key=value]...`, e.g. `100s kill cart#1`,
    /// `30s partition gateway->cart duration=20s`, `0s monkey cart,search mean_interval=15s`.
    pub fn parse_cli(text: &str) -> Result<Fault, String> {
        let context = |message: String| format!("bad fault '{text}': {message}");
        let mut words = text.split_whitespace();
        let (Some(at), Some(kind), Some(target)) = (words.next(), words.next(), words.next())
        else {
            return Err(context(
                "expected 'AT KIND TARGET [key=value]...', e.g. '10s kill cart#1'".into(),
            ));
        };
        let mut fault = Fault {
            kind: FaultKind::from_name(kind).ok_or_else(|| {
                let kinds: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                context(format!(
                    "unknown kind '{kind}': use one of {}",
                    kinds.join(", ")
                ))
            })?,
            at_s: Some(seconds(at).map_err(|e| context(format!("AT: {e}")))?),
            ..Fault::default()
        };
        if let Some(zone) = target.strip_prefix("zone:") {
            fault.zone = Some(zone.to_string());
        } else if let Some((from, to)) = target.split_once("->") {
            fault.from = Some(from.to_string());
            fault.to = Some(to.to_string());
        } else if fault.kind == FaultKind::Monkey {
            fault.services = Some(target.split(',').map(str::to_string).collect());
        } else if let Some((service, instance)) = target.split_once('#') {
            fault.service = Some(service.to_string());
            fault.instance = Some(instance.parse().map_err(|_| {
                context(format!(
                    "'{instance}' is not an instance number (counted from 1)"
                ))
            })?);
        } else {
            fault.service = Some(target.to_string());
        }
        for pair in words {
            let Some((key, value)) = pair.split_once('=') else {
                return Err(context(format!("'{pair}' is not key=value")));
            };
            let number = || -> Result<f64, String> {
                value
                    .parse::<f64>()
                    .map_err(|_| context(format!("{key}: '{value}' is not a number")))
            };
            let duration = || seconds(value).map_err(|e| context(format!("{key}: {e}")));
            match key {
                "duration" => fault.duration_s = Some(duration()?),
                "mean_interval" => fault.mean_interval_s = Some(duration()?),
                "down" => fault.down_s = Some(duration()?),
                "ms" => fault.ms = Some(number()?),
                "rate" => fault.rate = Some(number()?),
                "factor" => fault.factor = Some(number()?),
                "both" => {
                    fault.both =
                        Some(value.parse().map_err(|_| {
                            context(format!("both: '{value}' is not true or false"))
                        })?)
                }
                other => {
                    return Err(context(format!(
                        "unknown key '{other}': use duration, ms, rate, factor, both, \
                         mean_interval or down"
                    )));
                }
            }
        }
        Ok(fault)
    }
}

/// Shortest mean time between two monkey strikes.
pub const MIN_MONKEY_INTERVAL_S: f64 = 0.1;

fn positive(field: &str, value: Option<f64>, kind: &str) -> Result<(), FaultError> {
    match value {
        Some(v) if v.is_finite() && v > 0.0 && v <= MAX_MAGNITUDE => Ok(()),
        Some(v) => Err(fault_error(
            field,
            format!("must be a number above 0 and at most {MAX_MAGNITUDE}, not {v}"),
        )),
        None => Err(fault_error(field, format!("{kind} needs {field}"))),
    }
}

/// `10s`, `1.5s`, `250ms` or a bare number of seconds.
fn seconds(text: &str) -> Result<f64, String> {
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v * scale),
        _ => Err(format!("'{text}' is not a time like 10s, 1.5s or 250ms")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates;

    #[test]
    fn cli_form_parses_every_target_shape() {
        let fault = Fault::parse_cli("100s kill cart#1").unwrap();
        assert_eq!(fault.kind, FaultKind::Kill);
        assert_eq!(
            (fault.service.as_deref(), fault.instance),
            (Some("cart"), Some(1))
        );
        assert_eq!(fault.at_s, Some(100.0));
        let fault = Fault::parse_cli("30s partition web->cart duration=20s both=true").unwrap();
        assert_eq!(
            (fault.from.as_deref(), fault.to.as_deref()),
            (Some("web"), Some("cart"))
        );
        assert_eq!((fault.duration_s, fault.both), (Some(20.0), Some(true)));
        let fault = Fault::parse_cli("0s monkey cart,search mean_interval=15s down=10s").unwrap();
        assert_eq!(fault.services, Some(vec!["cart".into(), "search".into()]));
        assert_eq!(
            (fault.mean_interval_s, fault.down_s),
            (Some(15.0), Some(10.0))
        );
        let fault = Fault::parse_cli("1.5s zone zone:a").unwrap();
        assert_eq!(fault.zone.as_deref(), Some("a"));
        let fault = Fault::parse_cli("250ms latency cart ms=200").unwrap();
        assert_eq!((fault.at_s, fault.ms), (Some(0.25), Some(200.0)));
    }

    #[test]
    fn cli_errors_name_the_fault_and_the_problem() {
        for (text, expected) in [
            ("kill cart", "expected 'AT KIND TARGET"),
            ("10s explode cart", "unknown kind 'explode'"),
            ("soon kill cart", "AT: 'soon' is not a time"),
            ("10s kill cart#x", "'x' is not an instance number"),
            ("10s latency cart ms=fast", "ms: 'fast' is not a number"),
            ("10s kill cart colour=red", "unknown key 'colour'"),
        ] {
            let err = Fault::parse_cli(text).unwrap_err();
            assert!(err.contains(text) && err.contains(expected), "{err}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let topology = templates::demo();
        let cases = [
            (Fault::kill("nope"), "service"),
            (
                Fault {
                    instance: Some(9),
                    ..Fault::kill("cart")
                },
                "instance",
            ),
            (Fault::on_service(FaultKind::Latency, "cart"), "ms"),
            (Fault::on_service(FaultKind::Errors, "cart"), "rate"),
            (
                Fault {
                    rate: Some(2.0),
                    ..Fault::on_service(FaultKind::Errors, "cart")
                },
                "rate",
            ),
            (Fault::on_service(FaultKind::Slow, "lb"), "service"),
            (Fault::on_link(FaultKind::Partition, "cart", "web"), "to"),
            (
                Fault {
                    zone: Some("z".into()),
                    ..Fault::on_service(FaultKind::Zone, "x")
                },
                "service",
            ),
            (
                Fault {
                    kind: FaultKind::Zone,
                    zone: Some("z".into()),
                    ..Fault::default()
                },
                "zone",
            ),
            (
                Fault {
                    kind: FaultKind::Monkey,
                    ..Fault::default()
                },
                "services",
            ),
        ];
        for (fault, path) in cases {
            let err = fault.validate(&topology).unwrap_err();
            assert_eq!(err.path, path, "{fault:?}: {err}");
        }
        Fault::kill("lb").validate(&topology).unwrap();
        // One direction exists, and `both` cuts it too.
        Fault {
            both: Some(true),
            ..Fault::on_link(FaultKind::Partition, "cart", "web")
        }
        .validate(&topology)
        .unwrap();
        Fault::on_link(FaultKind::Partition, "web", "cart")
            .validate(&topology)
            .unwrap();
    }
}
