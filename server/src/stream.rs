//! The live event streams. `GET /api/events` is the contract for outside tools: a
//! snapshot, then every tick as JSON and each discrete change as its own event.
//! `GET /api/stream` is the dashboard's lean form (docs/api.md "The lean stream"): the same
//! snapshots, then each tick as a `keyframe` (the whole tick, quantised) or a `frame` (what
//! changed since, `simulator::lean`). Both go through one gzip stream per connection,
//! flushed after every event, when the client accepts gzip (SSE framed here: a compression
//! layer would hold events back).

use std::io::Write;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::stream::{self, PollNext};
use futures_util::{Stream, StreamExt};
use simulator::lean::{Lean, LeanEncoder};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};

use crate::AppState;
use crate::session::{ChangeMessage, TickMessage};

/// The bytes of one connection's events: plain, or through its gzip stream.
enum Out {
    Plain,
    Gzip(GzEncoder<Vec<u8>>),
}

impl Out {
    /// Gzip if the client accepts it.
    fn for_client(headers: &HeaderMap) -> Out {
        if accepts_gzip(headers) {
            Out::Gzip(GzEncoder::new(Vec::new(), Compression::fast()))
        } else {
            Out::Plain
        }
    }

    fn gzip(&self) -> bool {
        matches!(self, Out::Gzip(_))
    }

    /// One SSE event (`data` holds no newline: compact JSON), ready to send.
    fn event(&mut self, name: &str, id: Option<u64>, data: &str) -> Bytes {
        let mut text = String::with_capacity(data.len() + 40);
        text.push_str("event: ");
        text.push_str(name);
        if let Some(id) = id {
            text.push_str("\nid: ");
            text.push_str(&id.to_string());
        }
        text.push_str("\ndata: ");
        text.push_str(data);
        text.push_str("\n\n");
        match self {
            Out::Plain => Bytes::from(text),
            Out::Gzip(encoder) => {
                // Writing to memory cannot fail; the sync flush ends the event's bytes so
                // the browser can decode it now.
                let _ = encoder.write_all(text.as_bytes());
                let _ = encoder.flush();
                Bytes::from(std::mem::take(encoder.get_mut()))
            }
        }
    }
}

/// Whether `Accept-Encoding` takes gzip: named (or `*`) with a quality above zero, and not
/// refused by name.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    for coding in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
    {
        let mut parts = coding.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .filter_map(|p| {
                p.trim()
                    .to_ascii_lowercase()
                    .strip_prefix("q=")
                    .map(str::to_string)
            })
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "gzip" | "x-gzip" => gzip = Some(quality > 0.0),
            "*" => any = Some(quality > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// `GET /api/stream`: a snapshot, then a keyframe and frames; a fresh snapshot (and
/// keyframe) whenever what is drawn changes.
pub async fn lean(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut out = Out::for_client(&headers);
    let gzip = out.gzip();
    // Subscribe before the snapshot, so no tick falls between the two.
    let (ticks, _changes, guard) = state.session.subscribe();
    let (snapshot, version) = state.session.snapshot();
    let first = out.event("snapshot", None, &json(&snapshot));
    let session = state.session.clone();
    let mut encoder = LeanEncoder::default();
    let mut sent_version = version;
    let following = WatchStream::from_changes(ticks).map(move |message| {
        // The guard lives as long as the stream: dropping it counts the client out.
        let _counted = &guard;
        let mut chunk = Vec::new();
        if message.topology_version > sent_version {
            let (snapshot, version) = session.snapshot();
            sent_version = version;
            chunk.extend_from_slice(&out.event("snapshot", None, &json(&snapshot)));
            encoder.restart();
        }
        if message.topology_version <= sent_version {
            let quantised = message
                .quantised
                .get_or_init(|| std::sync::Arc::new(simulator::lean::quantised(&message.tick)));
            let (name, data) = match encoder.encode_quantised(quantised.clone()) {
                Lean::Keyframe(tick) => ("keyframe", serde_json::to_string(&tick)),
                Lean::Frame(frame) => ("frame", serde_json::to_string(&frame)),
            };
            let data = data.expect("lean ticks serialise");
            chunk.extend_from_slice(&out.event(name, Some(message.seq), &data));
        }
        Ok::<_, std::convert::Infallible>(Bytes::from(chunk))
    });
    respond(
        gzip,
        stream::once(async move { Ok(first) }).chain(following),
    )
}

/// What an event stream follows: the latest tick, and each discrete change.
enum Followed {
    Tick(Arc<TickMessage>),
    Change(Arc<ChangeMessage>),
    /// The stream fell behind on changes and missed some.
    Missed,
}

/// `GET /api/events`: a `snapshot` event, then a `tick` event at every tick, a fresh
/// `snapshot` before the first tick of each new topology, and an event for each change:
/// `fault_added`, `fault_removed`, `topology`, `experiment`. A stream that misses changes
/// (too slow to read them) gets a fresh `snapshot`, which holds the state they led to.
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut out = Out::for_client(&headers);
    let gzip = out.gzip();
    // Subscribe before the snapshot, so no change falls between the two.
    let (ticks, changes, guard) = state.session.subscribe();
    let (snapshot, version) = state.session.snapshot();
    let first = out.event("snapshot", None, &json(&snapshot));
    let session = state.session.clone();
    // The snapshot already holds the current figures: follow from the next tick on.
    let ticks = WatchStream::from_changes(ticks).map(Followed::Tick);
    let changes = BroadcastStream::new(changes).map(|change| match change {
        Ok(change) => Followed::Change(change),
        Err(BroadcastStreamRecvError::Lagged(_)) => Followed::Missed,
    });
    let mut sent_version = version;
    // Changes first when both are ready: the session sends a change before the tick that
    // shows it, so a `topology` event comes before the snapshot of the new topology.
    let following = stream::select_with_strategy(changes, ticks, |_: &mut ()| PollNext::Left).map(
        move |followed| {
            // The guard lives as long as the stream: dropping it counts the client out.
            let _counted = &guard;
            let mut chunk = Vec::new();
            match followed {
                Followed::Tick(tick) => {
                    if tick.topology_version > sent_version {
                        let (snapshot, version) = session.snapshot();
                        sent_version = version;
                        chunk.extend_from_slice(&out.event("snapshot", None, &json(&snapshot)));
                    }
                    if tick.topology_version <= sent_version {
                        chunk.extend_from_slice(&out.event("tick", Some(tick.seq), &tick.json));
                    }
                }
                Followed::Change(change) => {
                    chunk.extend_from_slice(&out.event(change.event, None, &change.json));
                }
                Followed::Missed => {
                    let (snapshot, version) = session.snapshot();
                    sent_version = version;
                    chunk.extend_from_slice(&out.event("snapshot", None, &json(&snapshot)));
                }
            }
            Ok(Bytes::from(chunk))
        },
    );
    respond(
        gzip,
        stream::once(async move { Ok(first) }).chain(following),
    )
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("API messages serialise")
}

/// An event stream's response: its headers, and `body` as it comes.
fn respond(
    gzip: bool,
    body: impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static,
) -> Response {
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_taken_when_named_or_starred_and_not_refused() {
        let accepts = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
            accepts_gzip(&headers)
        };
        assert!(accepts("gzip, deflate, br, zstd"));
        assert!(accepts("GZIP;q=0.5"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("gzip;Q=0.000, *"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts("identity"));
    }
}
