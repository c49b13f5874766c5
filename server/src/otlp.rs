//! The OTLP/HTTP trace receiver's wire side (SPEC "Traces in — Contract"): decoding an
//! export request (protobuf or OTLP/JSON, plain or gzip) with the `opentelemetry-proto`
//! crate's types, turning it into `tracegraph`'s spans, and the answers the OTLP
//! specification asks for, in the request's own content type.

use std::io::Read;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind as OtlpKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode as OtlpStatus;
use prost::Message;
use tracegraph::{Batch, ResourceSpans, Span, SpanKind};

/// Largest export body accepted as sent (413 beyond).
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Largest export body accepted once gunzipped (413 beyond): a gzip bomb stops here.
pub const INFLATED_LIMIT: usize = 32 * 1024 * 1024;

/// How an export request was encoded; its answer uses the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// An export request the receiver cannot take, with the status the OTLP spec gives it.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// Seconds the client should wait before sending again (429 and 503).
    pub retry_after_s: Option<u32>,
    pub encoding: Encoding,
}

impl Refusal {
    fn new(status: StatusCode, encoding: Encoding, message: impl Into<String>) -> Refusal {
        Refusal {
            status,
            message: message.into(),
            retry_after_s: None,
            encoding,
        }
    }

    /// The receiver is behind: come back in `seconds`.
    pub fn busy(status: StatusCode, encoding: Encoding, message: &str, seconds: u32) -> Refusal {
        Refusal {
            retry_after_s: Some(seconds),
            ..Refusal::new(status, encoding, message)
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP error answer (the proto crate does not carry
/// it): derived by prost like every other message here.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        // gRPC codes: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, ...
        let code = match self.status {
            StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3,
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::TOO_MANY_REQUESTS => 8,
            StatusCode::SERVICE_UNAVAILABLE => 14,
            StatusCode::UNAUTHORIZED => 16,
            _ => 2,
        };
        let body = match self.encoding {
            Encoding::Protobuf => RpcStatus {
                code,
                message: self.message.clone(),
            }
            .encode_to_vec(),
            Encoding::Json => serde_json::to_vec(&serde_json::json!({
                "code": code,
                "message": self.message,
            }))
            .expect("JSON values serialise"),
        };
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.encoding.content_type()),
        );
        if let Some(seconds) = self.retry_after_s {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The encoding an export request's content type names (415 for any other).
pub fn encoding(headers: &HeaderMap) -> Result<Encoding, Refusal> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    match mime.to_ascii_lowercase().as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
        "application/json" => Ok(Encoding::Json),
        _ => Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Encoding::Json,
            format!(
                "content type '{content_type}' is not OTLP: send application/x-protobuf \
                 or application/json"
            ),
        )),
    }
}

/// Reads an export request in `encoding` (see [`encoding`]) from its headers and body.
pub fn decode(
    headers: &HeaderMap,
    body: &Bytes,
    encoding: Encoding,
) -> Result<ExportTraceServiceRequest, Refusal> {
    if body.len() > BODY_LIMIT {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            format!("the body is over {BODY_LIMIT} bytes: send smaller batches"),
        ));
    }
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let inflated;
    let bytes: &[u8] = match content_encoding.as_str() {
        "" | "identity" => body,
        "gzip" => {
            inflated = gunzip(body, encoding)?;
            &inflated
        }
        other => {
            return Err(Refusal::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                encoding,
                format!("content encoding '{other}' is not supported: send gzip or none"),
            ));
        }
    };
    Ok(match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(bytes).map_err(|err| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("the body is not an OTLP ExportTraceServiceRequest in protobuf: {err}"),
            )
        })?,
        Encoding::Json => serde_json::from_slice(bytes).map_err(|err| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("the body is not an OTLP/JSON ExportTraceServiceRequest: {err}"),
            )
        })?,
    })
}

fn gunzip(body: &[u8], encoding: Encoding) -> Result<Vec<u8>, Refusal> {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(INFLATED_LIMIT as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|err| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                encoding,
                format!("the body is not valid gzip: {err}"),
            )
        })?;
    if inflated.len() > INFLATED_LIMIT {
        return Err(Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            encoding,
            format!("the body inflates to over {INFLATED_LIMIT} bytes: send smaller batches"),
        ));
    }
    Ok(inflated)
}

/// The 200 answer: an `ExportTraceServiceResponse`, with `partialSuccess` when spans were
/// rejected (or a warning to give).
pub fn accepted(encoding: Encoding, rejected: u64, message: String) -> Response {
    let partial_success =
        (rejected > 0 || !message.is_empty()).then_some(ExportTracePartialSuccess {
            rejected_spans: rejected as i64,
            error_message: message,
        });
    let answer = ExportTraceServiceResponse { partial_success };
    let body = match encoding {
        Encoding::Protobuf => answer.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&answer).expect("responses serialise"),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// The request's spans as the graph takes them, and how many were unusable (and why, for
/// the first kind of fault found).
pub fn to_batch(request: &ExportTraceServiceRequest) -> (Batch, u64, String) {
    let mut batch = Batch::default();
    let mut rejected = 0;
    let mut why = String::new();
    for resource_spans in &request.resource_spans {
        let attributes = resource_spans
            .resource
            .as_ref()
            .map_or(&[][..], |r| &r.attributes[..]);
        let service = string_attribute(attributes, "service.name")
            .unwrap_or("unknown_service")
            .to_string();
        let instance = match string_attribute(attributes, "service.instance.id") {
            Some(id) => id.to_string(),
            None => match (
                string_attribute(attributes, "host.name"),
                attribute(attributes, "process.pid").and_then(display),
            ) {
                (Some(host), Some(pid)) => format!("{host}:{pid}"),
                (Some(host), None) => host.to_string(),
                (None, Some(pid)) => format!("pid {pid}"),
                (None, None) => service.clone(),
            },
        };
        let mut spans = Vec::new();
        for scope in &resource_spans.scope_spans {
            for span in &scope.spans {
                match to_span(span) {
                    Ok(span) => spans.push(span),
                    Err(reason) => {
                        rejected += 1;
                        if why.is_empty() {
                            why = format!("span '{}' of service '{service}': {reason}", span.name);
                        }
                    }
                }
            }
        }
        if !spans.is_empty() {
            batch.resources.push(ResourceSpans {
                service,
                instance,
                spans,
            });
        }
    }
    if rejected > 0 {
        why = format!("{rejected} span(s) could not be used; the first: {why}");
    }
    (batch, rejected, why)
}

fn to_span(span: &opentelemetry_proto::tonic::trace::v1::Span) -> Result<Span, String> {
    let trace_id: [u8; 16] = span
        .trace_id
        .as_slice()
        .try_into()
        .map_err(|_| format!("trace id has {} bytes, not 16", span.trace_id.len()))?;
    let span_id: [u8; 8] = span
        .span_id
        .as_slice()
        .try_into()
        .map_err(|_| format!("span id has {} bytes, not 8", span.span_id.len()))?;
    let parent_span_id = match span.parent_span_id.len() {
        0 => 0,
        8 => u64::from_be_bytes(span.parent_span_id.as_slice().try_into().expect("8 bytes")),
        n => return Err(format!("parent span id has {n} bytes, not 8 or none")),
    };
    let trace_id = u128::from_be_bytes(trace_id);
    let span_id = u64::from_be_bytes(span_id);
    if trace_id == 0 || span_id == 0 {
        return Err("trace and span ids must not be all zeros".into());
    }
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err("it ends before it starts".into());
    }
    let kind = match OtlpKind::try_from(span.kind) {
        Ok(OtlpKind::Server) => SpanKind::Server,
        Ok(OtlpKind::Client) => SpanKind::Client,
        Ok(OtlpKind::Producer) => SpanKind::Producer,
        Ok(OtlpKind::Consumer) => SpanKind::Consumer,
        Ok(OtlpKind::Internal | OtlpKind::Unspecified) | Err(_) => SpanKind::Internal,
    };
    let error = span
        .status
        .as_ref()
        .is_some_and(|s| s.code == OtlpStatus::Error as i32);
    let (peer, database, resend_count) = if kind.is_outgoing() {
        (
            peer_name(&span.attributes),
            string_attribute(&span.attributes, "db.system").is_some(),
            int_attribute(&span.attributes, "http.request.resend_count")
                .and_then(|n| u32::try_from(n).ok()),
        )
    } else {
        (None, false, None)
    };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        kind,
        start_ns: span.start_time_unix_nano,
        end_ns: span.end_time_unix_nano,
        error,
        peer,
        database,
        resend_count,
    })
}

/// The callee an outgoing span names: `peer.service`, else `db.name` (or `db.namespace`)
/// or `db.system`, else `server.address` (with `server.port`; `net.peer.name` and
/// `net.peer.port` in older conventions), else `messaging.destination.name`.
fn peer_name(attributes: &[KeyValue]) -> Option<Box<str>> {
    if let Some(name) = string_attribute(attributes, "peer.service") {
        return Some(name.into());
    }
    if let Some(db) = string_attribute(attributes, "db.name")
        .or_else(|| string_attribute(attributes, "db.namespace"))
        .or_else(|| string_attribute(attributes, "db.system"))
    {
        return Some(db.into());
    }
    let address = string_attribute(attributes, "server.address")
        .or_else(|| string_attribute(attributes, "net.peer.name"));
    if let Some(address) = address {
        let port = attribute(attributes, "server.port")
            .or_else(|| attribute(attributes, "net.peer.port"))
            .and_then(display);
        return Some(match port {
            Some(port) => format!("{address}:{port}").into(),
            None => address.into(),
        });
    }
    string_attribute(attributes, "messaging.destination.name").map(Box::from)
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn string_attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match &attribute(attributes, key)?.value {
        Some(any_value::Value::StringValue(s)) if !s.is_empty() => Some(s),
        _ => None,
    }
}

fn int_attribute(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match &attribute(attributes, key)?.value {
        Some(any_value::Value::IntValue(i)) => Some(*i),
        _ => None,
    }
}

/// A string or integer attribute as text.
fn display(value: &AnyValue) -> Option<String> {
    match &value.value {
        Some(any_value::Value::StringValue(s)) if !s.is_empty() => Some(s.clone()),
        Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
        _ => None,
    }
}
