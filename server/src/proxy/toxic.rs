//! Toxics as Toxiproxy 2.x takes and shows them: `{"name", "type", "stream", "toxicity",
//! "attributes"}`, the defaults (`downstream`, toxicity 1, the name `TYPE_STREAM`, absent
//! attributes 0) and the error messages its clients know. Besides Toxiproxy's seven types,
//! two of blastradius's own carry graph faults that TCP toxics cannot: `http_error`
//! (answers HTTP `status` to a share `rate` of requests) and `slow` (waits `factor − 1`
//! times as long again as the upstream took to answer).

use serde::Serialize;
use serde_json::{Map, Value, json};

/// A Toxiproxy API error: `{"error": message, "status": code}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(rename = "error")]
    pub message: String,
    pub status: u16,
}

impl ApiError {
    pub fn new(message: impl Into<String>, status: u16) -> ApiError {
        ApiError {
            message: message.into(),
            status,
        }
    }

    /// Toxiproxy's `bad request body: …` (400).
    pub fn bad_body(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(format!("bad request body: {detail}"), 400)
    }

    /// Toxiproxy's `missing required field: …` (400).
    pub fn missing(field: &str) -> ApiError {
        ApiError::new(format!("missing required field: {field}"), 400)
    }

    pub fn proxy_not_found() -> ApiError {
        ApiError::new("proxy not found", 404)
    }

    pub fn toxic_not_found() -> ApiError {
        ApiError::new("toxic not found", 404)
    }
}

/// Which way a toxic acts: on what the client sends (`upstream`) or on what comes back
/// (`downstream`, the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Stream {
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }

    fn parse(text: &str) -> Option<Stream> {
        match text {
            "upstream" => Some(Stream::Upstream),
            "downstream" => Some(Stream::Downstream),
            _ => None,
        }
    }
}

/// What a toxic does, with its attributes (times in milliseconds unless named otherwise).
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// Each chunk waits `latency` ± `jitter` after it was read.
    Latency { latency: u64, jitter: u64 },
    /// At most `rate` KB/s (0: no limit).
    Bandwidth { rate: u64 },
    /// The close waits `delay`.
    SlowClose { delay: u64 },
    /// Nothing passes; the connection closes after `timeout` (0: never).
    Timeout { timeout: u64 },
    /// The next data resets the connection `timeout` later.
    ResetPeer { timeout: u64 },
    /// Chunks cut into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart.
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    /// The connection closes after `bytes`.
    LimitData { bytes: u64 },
    /// blastradius: HTTP `status` for a share `rate` of requests (an upstream toxic).
    HttpError { status: u16, rate: f64 },
    /// blastradius: each answer waits `factor − 1` times as long again as it took.
    Slow { factor: f64 },
}

/// The toxic types, as named in the API.
pub const TYPES: [&str; 9] = [
    "latency",
    "bandwidth",
    "slow_close",
    "timeout",
    "reset_peer",
    "slicer",
    "limit_data",
    "http_error",
    "slow",
];

impl Kind {
    /// A toxic of type `name` with every attribute at its default (Toxiproxy's zero).
    fn default_of(name: &str) -> Option<Kind> {
        Some(match name {
            "latency" => Kind::Latency {
                latency: 0,
                jitter: 0,
            },
            "bandwidth" => Kind::Bandwidth { rate: 0 },
            "slow_close" => Kind::SlowClose { delay: 0 },
            "timeout" => Kind::Timeout { timeout: 0 },
            "reset_peer" => Kind::ResetPeer { timeout: 0 },
            "slicer" => Kind::Slicer {
                average_size: 0,
                size_variation: 0,
                delay: 0,
            },
            "limit_data" => Kind::LimitData { bytes: 0 },
            "http_error" => Kind::HttpError {
                status: 503,
                rate: 1.0,
            },
            "slow" => Kind::Slow { factor: 1.0 },
            _ => return None,
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Latency { .. } => "latency",
            Kind::Bandwidth { .. } => "bandwidth",
            Kind::SlowClose { .. } => "slow_close",
            Kind::Timeout { .. } => "timeout",
            Kind::ResetPeer { .. } => "reset_peer",
            Kind::Slicer { .. } => "slicer",
            Kind::LimitData { .. } => "limit_data",
            Kind::HttpError { .. } => "http_error",
            Kind::Slow { .. } => "slow",
        }
    }

    pub fn attributes(&self) -> Value {
        match *self {
            Kind::Latency { latency, jitter } => json!({"latency": latency, "jitter": jitter}),
            Kind::Bandwidth { rate } => json!({ "rate": rate }),
            Kind::SlowClose { delay } => json!({ "delay": delay }),
            Kind::Timeout { timeout } | Kind::ResetPeer { timeout } => {
                json!({ "timeout": timeout })
            }
            Kind::Slicer {
                average_size,
                size_variation,
                delay,
            } => json!({
                "average_size": average_size,
                "size_variation": size_variation,
                "delay": delay,
            }),
            Kind::LimitData { bytes } => json!({ "bytes": bytes }),
            Kind::HttpError { status, rate } => json!({"status": status, "rate": rate}),
            Kind::Slow { factor } => json!({ "factor": factor }),
        }
    }

    /// Sets the attributes `given` names, as Go's JSON decoder fills a struct: absent ones
    /// keep their value, unknown ones are ignored, a wrong type is an error naming it.
    fn set_attributes(&mut self, given: &Map<String, Value>) -> Result<(), ApiError> {
        let count = |key: &str, value: &mut u64| -> Result<(), ApiError> {
            match given.get(key) {
                None => Ok(()),
                Some(v) => {
                    *value = v.as_u64().ok_or_else(|| {
                        ApiError::bad_body(format!(
                            "attributes.{key}: expected a whole number ≥ 0, got {v}"
                        ))
                    })?;
                    Ok(())
                }
            }
        };
        match self {
            Kind::Latency { latency, jitter } => {
                count("latency", latency)?;
                count("jitter", jitter)?;
            }
            Kind::Bandwidth { rate } => count("rate", rate)?,
            Kind::SlowClose { delay } => count("delay", delay)?,
            Kind::Timeout { timeout } | Kind::ResetPeer { timeout } => count("timeout", timeout)?,
            Kind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                count("average_size", average_size)?;
                count("size_variation", size_variation)?;
                count("delay", delay)?;
            }
            Kind::LimitData { bytes } => count("bytes", bytes)?,
            Kind::HttpError { status, rate } => {
                let mut code = u64::from(*status);
                count("status", &mut code)?;
                *status = u16::try_from(code)
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .ok_or_else(|| {
                        ApiError::bad_body(format!(
                            "attributes.status: {code} is not an HTTP status"
                        ))
                    })?;
                *rate = share(given, "attributes.rate", "rate", *rate)?;
            }
            Kind::Slow { factor } => {
                if let Some(v) = given.get("factor") {
                    *factor = v
                        .as_f64()
                        .filter(|f| (1.0..=1000.0).contains(f))
                        .ok_or_else(|| {
                            ApiError::bad_body(format!(
                                "attributes.factor: expected a number from 1 to 1000, got {v}"
                            ))
                        })?;
                }
            }
        }
        Ok(())
    }
}

/// A number from 0 to 1 at `key` of `given`, or `current` if absent.
fn share(given: &Map<String, Value>, path: &str, key: &str, current: f64) -> Result<f64, ApiError> {
    match given.get(key) {
        None => Ok(current),
        Some(v) => v
            .as_f64()
            .filter(|x| (0.0..=1.0).contains(x))
            .ok_or_else(|| ApiError::bad_body(format!("{path}: expected 0 to 1, got {v}"))),
    }
}

/// One toxic on a proxy.
#[derive(Clone, Debug, PartialEq)]
pub struct Toxic {
    pub name: String,
    pub kind: Kind,
    pub stream: Stream,
    /// The chance that it acts on a connection, drawn once per connection.
    pub toxicity: f64,
    /// Unique on this server, new at every change: a connection draws its toxicity again.
    pub uid: u64,
    /// The graph fault this toxic carries out, if a graph fault made it (or it was read as
    /// one).
    pub fault: Option<u64>,
    /// When it was added, on the observed clock.
    pub added_s: f64,
}

impl Toxic {
    /// As the API shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "attributes": self.kind.attributes(),
            "name": self.name,
            "type": self.kind.type_name(),
            "stream": self.stream.as_str(),
            "toxicity": self.toxicity,
        })
    }

    /// A new toxic from a `POST …/toxics` body (its `uid` still 0).
    pub fn parse(body: &[u8]) -> Result<Toxic, ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::bad_body("expected a JSON object"))?;
        let text = |key: &str| -> Result<Option<&str>, ApiError> {
            match object.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(ApiError::bad_body(format!(
                    "{key}: expected a string, got {other}"
                ))),
            }
        };
        let stream = match text("stream")? {
            None | Some("") => Stream::Downstream,
            Some(s) => Stream::parse(s).ok_or_else(|| {
                ApiError::new(
                    "stream was invalid, can be either upstream or downstream",
                    400,
                )
            })?,
        };
        let type_name = text("type")?.unwrap_or_default();
        let mut kind =
            Kind::default_of(type_name).ok_or_else(|| ApiError::new("invalid toxic type", 400))?;
        if let Some(attributes) = attributes_of(object)? {
            kind.set_attributes(attributes)?;
        }
        let name = match text("name")? {
            None | Some("") => format!("{type_name}_{}", stream.as_str()),
            Some(name) => name.to_string(),
        };
        check_name(&name, "name")?;
        Ok(Toxic {
            name,
            kind,
            stream,
            toxicity: share(object, "toxicity", "toxicity", 1.0)?,
            uid: 0,
            fault: None,
            added_s: 0.0,
        })
    }

    /// Applies a `POST`/`PATCH …/toxics/{name}` body: attributes and toxicity, each kept if
    /// absent. All or nothing.
    pub fn update(&mut self, body: &[u8]) -> Result<(), ApiError> {
        let value: Value = serde_json::from_slice(body).map_err(ApiError::bad_body)?;
        let object = value
            .as_object()
            .ok_or_else(|| ApiError::bad_body("expected a JSON object"))?;
        let mut kind = self.kind.clone();
        if let Some(attributes) = attributes_of(object)? {
            kind.set_attributes(attributes)?;
        }
        self.toxicity = share(object, "toxicity", "toxicity", self.toxicity)?;
        self.kind = kind;
        Ok(())
    }
}

fn attributes_of(object: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, ApiError> {
    match object.get("attributes") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(ApiError::bad_body(format!(
            "attributes: expected an object, got {other}"
        ))),
    }
}

/// Names of proxies and toxics: 1 to 200 characters, none a control character or `/`
/// (which no URL path could carry).
pub fn check_name(name: &str, field: &str) -> Result<(), ApiError> {
    let fine =
        !name.is_empty() && name.len() <= 200 && !name.chars().any(|c| c.is_control() || c == '/');
    if fine {
        Ok(())
    } else {
        Err(ApiError::bad_body(format!(
            "{field}: '{}' is not a name: 1 to 200 characters, no '/' or control characters",
            name.escape_debug()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_toxiproxys() {
        let toxic = Toxic::parse(br#"{"type": "latency", "attributes": {"latency": 100}}"#)
            .expect("a latency toxic");
        assert_eq!(toxic.name, "latency_downstream");
        assert_eq!(toxic.stream, Stream::Downstream);
        assert_eq!(toxic.toxicity, 1.0);
        assert_eq!(
            toxic.to_json(),
            json!({"attributes": {"latency": 100, "jitter": 0}, "name": "latency_downstream",
                   "type": "latency", "stream": "downstream", "toxicity": 1.0})
        );
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases: [(&[u8], &str); 6] = [
            (br#"{"type": "nope"}"#, "invalid toxic type"),
            (
                br#"{"type": "latency", "stream": "sideways"}"#,
                "stream was invalid",
            ),
            (
                br#"{"type": "latency", "attributes": {"latency": "1s"}}"#,
                "attributes.latency",
            ),
            (br#"{"type": "latency", "toxicity": 2}"#, "toxicity"),
            (
                br#"{"type": "http_error", "attributes": {"status": 700}}"#,
                "attributes.status",
            ),
            (b"[1, 2]", "bad request body"),
        ];
        for (body, expected) in cases {
            let err = Toxic::parse(body).expect_err("refused");
            assert_eq!(err.status, 400);
            assert!(err.message.contains(expected), "{}", err.message);
        }
    }

    #[test]
    fn updates_keep_what_is_absent() {
        let mut toxic = Toxic::parse(
            br#"{"type": "latency", "toxicity": 0.5, "attributes": {"latency": 10, "jitter": 2}}"#,
        )
        .expect("parses");
        toxic
            .update(br#"{"attributes": {"latency": 50}}"#)
            .expect("updates");
        assert_eq!(
            toxic.kind,
            Kind::Latency {
                latency: 50,
                jitter: 2
            }
        );
        assert_eq!(toxic.toxicity, 0.5);
        let before = toxic.clone();
        assert!(toxic.update(br#"{"attributes": {"latency": -1}}"#).is_err());
        assert_eq!(toxic, before, "a refused update changes nothing");
    }
}
