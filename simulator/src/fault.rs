//! Faults (SPEC "Faults — Contract"): what can be broken, and where.
//!
//! The JSON form is shared by `POST /api/faults`, `--faults FILE` and the dashboard:
//! `{"kind": "kill", "service": "cart", "instance": 2}`,
//! `{"kind": "partition", "from": "gateway", "to": "cart", "both": true}`.

use serde::{Deserialize, Serialize};

use crate::topology::{INFRASTRUCTURE, Topology};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Kill,
    Hang,
    Latency,
    Errors,
    Slow,
    Partition,
    Zone,
    Monkey,
}

impl FaultKind {
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
}

/// One fault and its target. Which fields matter depends on `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_s: Option<f64>,
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

impl Fault {
    /// A kill of every instance of `service`.
    pub fn kill(service: &str) -> Fault {
        Fault {
            kind: FaultKind::Kill,
            service: Some(service.to_string()),
            instance: None,
            from: None,
            to: None,
            zone: None,
            at_s: None,
            duration_s: None,
        }
    }

    /// Checks the fault against `topology`: its target exists and its fields make sense.
    pub fn validate(&self, topology: &Topology) -> Result<(), FaultError> {
        let err = |path: &str, message: String| FaultError {
            path: path.to_string(),
            message,
        };
        for (field, value) in [("at_s", self.at_s), ("duration_s", self.duration_s)] {
            if let Some(v) = value
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(err(field, format!("must be a finite number >= 0, not {v}")));
            }
        }
        match self.kind {
            FaultKind::Kill => {
                let Some(name) = &self.service else {
                    return Err(err("service", "kill needs a target service".into()));
                };
                if INFRASTRUCTURE.contains(&name.as_str()) {
                    return Err(err(
                        "service",
                        format!(
                            "'{name}' is a routing component; faults on it arrive with the \
                             routing modes"
                        ),
                    ));
                }
                let Some(service) = topology.service(name) else {
                    return Err(err("service", format!("no service is named '{name}'")));
                };
                if let Some(instance) = self.instance
                    && (instance == 0 || instance > service.replicas)
                {
                    return Err(err(
                        "instance",
                        format!(
                            "'{name}' has instances 1 to {}, not {instance}",
                            service.replicas
                        ),
                    ));
                }
                Ok(())
            }
            other => Err(err(
                "kind",
                format!(
                    "'{}' faults are not simulated yet: this build simulates 'kill'",
                    other.name()
                ),
            )),
        }
    }

    /// A short human description: `kill cart`, `kill cart#2`.
    pub fn describe(&self) -> String {
        let target = match (
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
        };
        format!("{} {target}", self.kind.name())
    }
}
