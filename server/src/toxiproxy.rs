//! The Toxiproxy HTTP API over the server's fault proxies (SPEC "Faults on a real system"),
//! so Toxiproxy's clients (Go, Ruby, Python, Node, Chaos Toolkit's extension) work
//! unchanged: under `/toxiproxy` on the server's port, and at the root of
//! `--toxiproxy-bind`. Endpoints, fields, defaults, status codes and error bodies
//! (`{"error", "status"}`) are Toxiproxy 2.x's. Like Toxiproxy, it refuses browsers (a
//! `Mozilla/` user agent): a web page must not be able to open proxies on this machine.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::AppState;
use crate::proxy::toxic::ApiError;
use crate::proxy::{Checked, Proxies, ProxyInput, ProxyView};

/// The Toxiproxy version whose API this one follows.
pub const TOXIPROXY_VERSION: &str = "2.12.0";

/// A Toxiproxy error as a response.
pub struct Toxic(ApiError);

impl From<ApiError> for Toxic {
    fn from(err: ApiError) -> Toxic {
        Toxic(err)
    }
}

impl IntoResponse for Toxic {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, Json(self.0)).into_response()
    }
}

type Answer<T> = Result<T, Toxic>;

/// The API's routes (nested under `/toxiproxy`, or served at a listener's root).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/proxies", get(list).post(create))
        .route("/populate", post(populate))
        .route(
            "/proxies/{proxy}",
            get(show).post(update).patch(update).delete(remove),
        )
        .route("/proxies/{proxy}/toxics", get(toxics).post(add_toxic))
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(show_toxic)
                .post(update_toxic)
                .patch(update_toxic)
                .delete(remove_toxic),
        )
        .fallback(|| async { Toxic(ApiError::new("no such Toxiproxy endpoint", 404)) })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::require_token,
        ))
        .layer(middleware::from_fn(no_browsers))
        .layer(DefaultBodyLimit::max(crate::BODY_LIMIT))
        .with_state(state)
}

/// Toxiproxy's guard against cross-site requests: a browser's user agent is refused.
async fn no_browsers(request: Request, next: Next) -> Response {
    let browser = request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with("Mozilla/"));
    if browser {
        return Toxic(ApiError::new("User agent not allowed", 403)).into_response();
    }
    next.run(request).await
}

fn proxies(state: &AppState) -> &Proxies {
    state.session.observed.proxies()
}

fn named<T>(path: Result<Path<T>, PathRejection>) -> Answer<T> {
    path.map(|Path(value)| value)
        .map_err(|err| Toxic(ApiError::new(err.body_text(), 400)))
}

async fn version() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        format!("{{\"version\": \"{TOXIPROXY_VERSION}\"}}\n"),
    )
        .into_response()
}

/// `POST /reset`: every proxy enabled, every toxic removed.
async fn reset(State(state): State<AppState>) -> Answer<StatusCode> {
    proxies(&state).reset()?;
    tracing::info!("fault proxies reset");
    Ok(StatusCode::NO_CONTENT)
}

async fn list(State(state): State<AppState>) -> Json<BTreeMap<String, ProxyView>> {
    Json(proxies(&state).list())
}

/// A proxy body: Toxiproxy's fields, typed; errors name the field.
fn proxy_input(body: &[u8]) -> Answer<ProxyInput> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        Toxic(ApiError::bad_body(if path == "." {
            err.inner().to_string()
        } else {
            format!("{path}: {}", err.inner())
        }))
    })
}

/// `POST /proxies`: 201 with the proxy (its `listen` as bound: a port 0 filled in).
async fn create(
    State(state): State<AppState>,
    body: Bytes,
) -> Answer<(StatusCode, Json<ProxyView>)> {
    let input = proxy_input(&body)?;
    let name = input
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::missing("name"))?;
    let upstream = input
        .upstream
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::missing("upstream"))?;
    let proxies = proxies(&state);
    let checked = proxies
        .check(input.listen.as_deref().unwrap_or_default(), &upstream)
        .await?;
    let view = proxies.create(&name, checked, input.enabled.unwrap_or(true))?;
    tracing::info!(proxy = %view.name, listen = %view.listen, upstream = %view.upstream, "fault proxy made");
    Ok((StatusCode::CREATED, Json(view)))
}

/// `POST /populate`: a list of proxies, made or replaced; 201 `{"proxies": [...]}`, or the
/// error's status with what was made before it.
async fn populate(State(state): State<AppState>, body: Bytes) -> Response {
    let inputs: Vec<ProxyInput> = {
        let mut deserializer = serde_json::Deserializer::from_slice(&body);
        match serde_path_to_error::deserialize(&mut deserializer) {
            Ok(inputs) => inputs,
            Err(err) => {
                return Toxic(ApiError::bad_body(format!(
                    "{}: {}",
                    err.path(),
                    err.inner()
                )))
                .into_response();
            }
        }
    };
    let proxies = proxies(&state);
    let mut checked: Vec<(String, Checked, bool)> = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let Some(name) = input.name.as_deref().filter(|n| !n.is_empty()) else {
            return Toxic(ApiError::missing(&format!("name at proxy {}", i + 1))).into_response();
        };
        let Some(upstream) = input.upstream.as_deref().filter(|u| !u.is_empty()) else {
            return Toxic(ApiError::missing(&format!("upstream at proxy {}", i + 1)))
                .into_response();
        };
        match proxies
            .check(input.listen.as_deref().unwrap_or_default(), upstream)
            .await
        {
            Ok(ok) => checked.push((name.to_string(), ok, input.enabled.unwrap_or(true))),
            Err(mut err) => {
                err.message = format!("proxy {} ({name}): {}", i + 1, err.message);
                return Toxic(err).into_response();
            }
        }
    }
    let (views, failed) = proxies.populate(checked);
    tracing::info!(proxies = views.len(), "fault proxies populated");
    match failed {
        None => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "proxies": views })),
        )
            .into_response(),
        Some(err) => {
            let status = StatusCode::from_u16(err.status).unwrap_or(StatusCode::BAD_REQUEST);
            (
                status,
                Json(serde_json::json!({
                    "error": err.message,
                    "status": err.status,
                    "proxies": views,
                })),
            )
                .into_response()
        }
    }
}

async fn show(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Answer<Json<ProxyView>> {
    Ok(Json(proxies(&state).get(&named(path)?)?))
}

/// `POST`/`PATCH /proxies/{name}`: new `listen`/`upstream` restart it; `enabled` false
/// disables it (connections refused, open ones reset), true starts it again.
async fn update(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Answer<Json<ProxyView>> {
    let name = named(path)?;
    let input = proxy_input(&body)?;
    let proxies = proxies(&state);
    let current = proxies.get(&name)?;
    let checked = if input.listen.is_some() || input.upstream.is_some() {
        Some(
            proxies
                .check(
                    input.listen.as_deref().unwrap_or(&current.listen),
                    input.upstream.as_deref().unwrap_or(&current.upstream),
                )
                .await?,
        )
    } else {
        None
    };
    let view = proxies.update(&name, checked, input.enabled)?;
    tracing::info!(proxy = %name, enabled = view.enabled, "fault proxy changed");
    Ok(Json(view))
}

async fn remove(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Answer<StatusCode> {
    let name = named(path)?;
    proxies(&state).delete(&name)?;
    tracing::info!(proxy = %name, "fault proxy deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn toxics(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Answer<Json<Vec<Value>>> {
    Ok(Json(proxies(&state).toxics(&named(path)?)?))
}

/// `POST /proxies/{name}/toxics`: 200 with the toxic (Toxiproxy answers 200, not 201).
async fn add_toxic(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Answer<Json<Value>> {
    let name = named(path)?;
    let toxic = proxies(&state).add_toxic(&name, &body)?;
    tracing::info!(proxy = %name, toxic = %toxic["name"], "toxic added");
    Ok(Json(toxic))
}

async fn show_toxic(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer<Json<Value>> {
    let (proxy, toxic) = named(path)?;
    Ok(Json(proxies(&state).toxic(&proxy, &toxic)?))
}

async fn update_toxic(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    body: Bytes,
) -> Answer<Json<Value>> {
    let (proxy, toxic) = named(path)?;
    Ok(Json(proxies(&state).update_toxic(&proxy, &toxic, &body)?))
}

async fn remove_toxic(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Answer<StatusCode> {
    let (proxy, toxic) = named(path)?;
    proxies(&state).remove_toxic(&proxy, &toxic)?;
    tracing::info!(proxy = %proxy, toxic = %toxic, "toxic removed");
    Ok(StatusCode::NO_CONTENT)
}
