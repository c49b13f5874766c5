//! The HTTP API (SPEC "HTTP — Contract"): health, topology, faults and the SSE stream.

use std::convert::Infallible;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt, stream};
use serde::Serialize;
use simulator::fault::Fault;
use simulator::wire::{Created, FaultRecord};
use tokio_stream::wrappers::WatchStream;

use crate::AppState;
use crate::error::AppError;

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub async fn get_topology(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.session.topology())
}

/// `GET /api/events`: a `snapshot` event, then a `tick` event at every tick.
pub async fn events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let ticks = state.session.subscribe();
    let snapshot = sse_json("snapshot", &state.session.snapshot());
    // The snapshot already holds the current figures: follow from the next tick on.
    let following = WatchStream::from_changes(ticks).map(|tick| {
        Ok(Event::default()
            .event("tick")
            .id(tick.seq.to_string())
            .data(&tick.json))
    });
    let stream = stream::once(async move { Ok(snapshot) }).chain(following);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn sse_json(name: &str, value: &impl Serialize) -> Event {
    Event::default()
        .event(name)
        .data(serde_json::to_string(value).expect("API messages serialise"))
}

pub async fn list_faults(State(state): State<AppState>) -> Json<Vec<FaultRecord>> {
    Json(state.session.faults())
}

/// `POST /api/faults`: inject a fault; 201 with its `id`.
pub async fn inject_fault(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let fault: Fault = parse_json(&body)?;
    let description = fault.describe();
    let id = state
        .session
        .inject(fault)
        .map_err(|err| AppError::unprocessable(err.message, err.path))?;
    tracing::info!(id, fault = %description, "fault injected");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// `DELETE /api/faults/{id}`: revert a fault; 204.
pub async fn revert_fault(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id: u64 = id
        .parse()
        .map_err(|_| AppError::bad_request(format!("'{id}' is not a fault id (a number)")))?;
    if state.session.revert(id) {
        tracing::info!(id, "fault reverted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!(
            "no active fault has id {id}: it may have been reverted or ended by itself"
        )))
    }
}

/// Parses a JSON body, naming the offending field on error.
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let path = if path == "." { String::new() } else { path };
        if inner.is_syntax() || inner.is_eof() {
            AppError::bad_request(format!("the body is not valid JSON: {inner}"))
        } else {
            AppError::unprocessable(inner.to_string(), path)
        }
    })
}
