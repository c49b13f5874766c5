//! The blastradius server: the HTTP API and SSE stream over one live simulation, and the
//! built dashboard, from one port.
//!
//! # Layout
//! - [`session`]: the shared live simulation, advanced in real time on its own thread.
//! - [`api`]: the handlers of `/api/*`.
//! - [`error`]: the JSON error every handler returns.
//! - [`metrics`]: `GET /metrics` in the Prometheus text format.
//! - [`otlp`]: the OTLP/HTTP trace receiver's decoding and answers.
//! - [`observed`]: the observed system, fed by the receiver through a bounded queue.
//! - [`prometheus`]: the observed graph read from Prometheus instead (`--prometheus`).
//! - [`telemetry`]: spans out through the OpenTelemetry SDK (the demo system's processes).
//! - [`proxy`]: the fault proxies that break a real system, and its faults read as toxics.
//! - [`toxiproxy`]: the Toxiproxy HTTP API over those proxies.
//! - [`demo`]: `blastradius demo`, a topology file run as real processes that send spans.
//! - [`store`]: saved topologies in the embedded SQLite database.
//! - [`app`] builds the whole router (tests call it without a socket); [`run`] serves it.

pub mod api;
pub mod csp;
pub mod demo;
pub mod error;
pub mod metrics;
pub mod observed;
pub mod otlp;
pub mod prometheus;
pub mod proxy;
pub mod session;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod toxiproxy;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tokio::net::TcpListener;
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::AppError;
use crate::session::Session;

/// Largest request body accepted (413 beyond).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Largest recording `POST /api/runs` accepts: a run whose topology was replaced many times
/// carries each version.
pub const RECORDING_LIMIT: usize = 16 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub session: Session,
    pub store: std::sync::Arc<store::Store>,
    /// Required as `Authorization: Bearer <token>` on requests that change something.
    pub token: Option<String>,
}

/// The whole application: API, SSE, and the dashboard's files from `dist` if given.
pub fn app(state: AppState, dist: Option<&Path>) -> Router {
    let state_for_metrics = state.clone();
    let state_for_toxiproxy = state.clone();
    let otlp = otlp_app(state.clone());
    let api = Router::new()
        .route("/observed", get(api::get_observed))
        .route("/observed/model", get(api::get_observed_model))
        .route("/observed/analysis", get(api::get_observed_analysis))
        .route(
            "/observed/twin",
            get(api::get_twin)
                .post(api::start_twin)
                .delete(api::stop_twin),
        )
        .route("/observed/twin/report", get(api::get_twin_report))
        .route("/observed/twin/model", get(api::get_twin_model))
        .route("/health", get(api::health))
        .route("/topology", get(api::get_topology).put(api::put_topology))
        .route("/session", get(api::get_session).put(api::put_session))
        .route("/session/step", post(api::step_session))
        .route("/session/reset", post(api::reset_session))
        .route("/templates", get(api::list_templates))
        .route("/templates/{name}", get(api::get_template))
        .route("/topologies", get(api::list_saved))
        .route(
            "/topologies/{name}",
            get(api::get_saved)
                .put(api::put_saved)
                .delete(api::delete_saved),
        )
        .route("/events", get(stream::events))
        .route("/stream", get(stream::lean))
        .route("/faults", get(api::list_faults).post(api::inject_fault))
        .route("/faults/{id}", delete(api::revert_fault))
        .route("/layout", put(api::put_layout))
        .route("/layout/force", post(api::force_layout))
        .route("/monkey", get(api::get_monkey).put(api::put_monkey))
        .route(
            "/experiments",
            get(api::list_experiments).post(api::start_experiment),
        )
        .route(
            "/experiments/{id}",
            get(api::get_experiment).delete(api::delete_experiment),
        )
        .route("/experiments/{id}/stop", post(api::stop_experiment))
        .route(
            "/runs",
            post(api::load_run).layer(DefaultBodyLimit::max(RECORDING_LIMIT)),
        )
        .route("/runs/{id}", get(api::get_run))
        .route("/runs/{id}/frames/{t}", get(api::get_frame))
        .route("/runs/{id}/recording", get(api::get_recording))
        .route(
            "/compare",
            get(api::get_compare)
                .post(api::start_compare)
                .delete(api::stop_compare),
        )
        .route("/report", get(api::get_report))
        .route("/routing/{service}", get(api::get_routing))
        .fallback(|| async { AppError::NotFound("no such API endpoint".into()) })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    let router = Router::new()
        .route(
            "/metrics",
            get(metrics::metrics).with_state(state_for_metrics),
        )
        .merge(otlp)
        .nest("/toxiproxy", toxiproxy::router(state_for_toxiproxy))
        .nest("/api", api);
    let router = match dist {
        Some(dist) if dist.join("index.html").is_file() => router.fallback_service(
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn(cache_policy))
                // The module is ~1.1 MB, ~0.42 MB gzipped; event streams are not compressed.
                .layer(CompressionLayer::new())
                .service(ServeDir::new(dist).fallback(ServeFile::new(dist.join("index.html")))),
        ),
        _ => router.fallback(dashboard_missing),
    };
    // The dashboard runs its own scripts only: the inline loader by its hash (csp.rs).
    let csp = std::sync::Arc::new(csp::Csp::new(dist));
    router
        .layer(middleware::from_fn(
            move |request: axum::extract::Request, next: middleware::Next| {
                let csp = csp.clone();
                async move {
                    let mut response = next.run(request).await;
                    // Documents only (the page, the missing-dashboard page): what a
                    // browser could run scripts in.
                    let html = response
                        .headers()
                        .get(header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("text/html"));
                    if html {
                        response
                            .headers_mut()
                            .insert(header::CONTENT_SECURITY_POLICY, csp.header());
                    }
                    response
                }
            },
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
}

/// The OTLP/HTTP trace receiver alone (`POST /v1/traces`): merged into [`app`], and served
/// on its own by `--otlp-bind`.
pub fn otlp_app(state: AppState) -> Router {
    Router::new()
        .route("/v1/traces", post(api::receive_traces))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .layer(DefaultBodyLimit::max(otlp::BODY_LIMIT))
        .with_state(state)
}

/// Trunk names the dashboard's module, scripts and styles by a hash of their content
/// (`app-64d56f7a43daf67f_bg.wasm`): a browser may keep those for a year. Anything else
/// (`index.html` above all, which names the current ones) is checked every time.
async fn cache_policy(request: Request, next: Next) -> Response {
    let immutable = is_hashed_asset(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let policy = if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    }
    response
}

/// Whether the file a path names ends in Trunk's `-` and 16 hex digits before its
/// extension or `_bg`.
fn is_hashed_asset(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let Some((_, after)) = name.rsplit_once('-') else {
        return false;
    };
    let (hash, rest) = after.split_at(after.len().min(16));
    hash.len() == 16
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
        && (rest.starts_with('.') || rest.starts_with("_bg."))
}

async fn dashboard_missing() -> impl IntoResponse {
    (
        axum::http::StatusCode::NOT_FOUND,
        Html(
            "<!doctype html><title>blastradius</title><h1>The dashboard is not built</h1>\
             <p>The API is up under <code>/api</code>. Build the dashboard with \
             <code>make run</code> (or <code>trunk build --release --offline</code>) and \
             start the server with <code>--dist dist</code>.</p>",
        ),
    )
}

/// Refuses requests that change something without the bearer token, when one is set.
pub(crate) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if let (true, Some(token)) = (changes, &state.token) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return Err(AppError::Unauthorized);
        }
    }
    Ok(next.run(request).await)
}

/// Whether binding to `addr` is safe without a token (loopback only).
pub fn needs_token(addr: &SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// The directory the dashboard is served from by default: `dist/` in the working directory.
pub fn default_dist() -> PathBuf {
    PathBuf::from("dist")
}

#[cfg(test)]
mod tests {
    use super::is_hashed_asset;

    #[test]
    fn trunk_hashed_names_are_recognised() {
        for hashed in [
            "/app-64d56f7a43daf67f_bg.wasm",
            "/app-64d56f7a43daf67f.js",
            "/main-0a1b2c3d4e5f6789.css",
        ] {
            assert!(is_hashed_asset(hashed), "{hashed}");
        }
        for plain in [
            "/",
            "/index.html",
            "/compare",
            "/app-64d56f7a43.js",
            "/my-service-name",
            "/a-64d56f7a43daf67fx.js",
        ] {
            assert!(!is_hashed_asset(plain), "{plain}");
        }
    }
}
