//! `GET /api/stream`: the dashboard's lean live stream (docs/api.md "The lean stream").
//! The same snapshots as `/api/events`, then each tick as a `keyframe` (the whole tick,
//! quantised) or a `frame` (what changed since, `simulator::lean`), through one gzip
//! stream per connection flushed after every event when the client accepts gzip. The JSON
//! `tick` on `/api/events` stays the contract for outside tools; this one is the page's.

use std::io::Write;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::StreamExt;
use simulator::lean::{Lean, LeanEncoder};
use tokio_stream::wrappers::WatchStream;

use crate::AppState;

/// The bytes of one connection's events: plain, or through its gzip stream.
enum Out {
    Plain,
    Gzip(GzEncoder<Vec<u8>>),
}

impl Out {
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

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            // `gzip;q=0` refuses it.
            let refused = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// `GET /api/stream`: a snapshot, then a keyframe and frames; a fresh snapshot (and
/// keyframe) whenever what is drawn changes.
pub async fn lean(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let gzip = accepts_gzip(&headers);
    let mut out = if gzip {
        Out::Gzip(GzEncoder::new(Vec::new(), Compression::fast()))
    } else {
        Out::Plain
    };
    // Subscribe before the snapshot, so no tick falls between the two.
    let (ticks, _changes, guard) = state.session.subscribe();
    let (snapshot, version) = state.session.snapshot();
    let first = out.event(
        "snapshot",
        None,
        &serde_json::to_string(&snapshot).expect("snapshots serialise"),
    );
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
            chunk.extend_from_slice(&out.event(
                "snapshot",
                None,
                &serde_json::to_string(&snapshot).expect("snapshots serialise"),
            ));
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
    let body =
        Body::from_stream(futures_util::stream::once(async move { Ok(first) }).chain(following));
    let mut response = body.into_response();
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
