//! The HTTP API (SPEC "HTTP — Contract"): health, topology, faults, the session's controls,
//! templates and the SSE stream.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use simulator::engine::FaultId;
use simulator::experiment::Plan;
use simulator::fault::Fault;
use simulator::lockstep::CompareView;
use simulator::replay::Recording;
use simulator::templates;
use simulator::topology::Topology;
use simulator::wire::{
    Created, ExperimentSummary, FaultRecord, MonkeySettings, RunInfo, StoredExperiment, Tick,
};

use crate::AppState;
use crate::error::AppError;
use crate::session::{
    ControlError, ExperimentError, MonkeyChange, SessionChange, SessionState, unix_now,
};
use crate::store::{self, SavedTopology, Store, StoreError};

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    pub format: Option<String>,
    /// Ask the browser to save the file rather than show it.
    pub download: Option<bool>,
}

/// `GET /api/topology[?format=json|yaml]`: the live topology in the file format, with a
/// `Content-Disposition` that names the file for a link that saves it.
pub async fn get_topology(
    State(state): State<AppState>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Query(query) = query.map_err(|err| AppError::bad_request(err.body_text()))?;
    let topology = state.session.topology();
    topology_file(
        &topology,
        &store::file_stem(&topology.name),
        query.format.as_deref(),
        query.download,
    )
}

/// `topology` as a file in `format` (JSON unless `yaml`), named `STEM.json` or `.yaml`.
fn topology_file(
    topology: &Topology,
    stem: &str,
    format: Option<&str>,
    download: Option<bool>,
) -> Result<axum::response::Response, AppError> {
    let (body, content_type, extension) = match format {
        None | Some("json") => (topology.to_json_pretty(), "application/json", "json"),
        Some("yaml") => (topology.to_yaml(), "application/yaml", "yaml"),
        Some(other) => {
            return Err(AppError::unprocessable(
                format!("'{other}' is not a format: use json or yaml"),
                "format",
            ));
        }
    };
    let file = format!("{stem}.{extension}");
    Ok(attachment(body, content_type, &file, download).into_response())
}

/// The answer to `PUT /api/topology`.
#[derive(Serialize, Deserialize)]
pub struct Replaced {
    /// Faults that no longer fit the new topology and were reverted.
    pub dropped_faults: Vec<FaultId>,
}

/// A topology from a request body: JSON, or YAML with a YAML content type. Errors name
/// the field.
fn topology_body(headers: &HeaderMap, body: &[u8]) -> Result<Topology, AppError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AppError::bad_request("the body is not UTF-8 text"))?;
    let yaml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("yaml"));
    let parsed = if yaml {
        Topology::from_yaml(text)
    } else {
        Topology::from_json(text)
    };
    parsed.map_err(|err| {
        if err.syntax {
            AppError::bad_request(format!("the body is not a topology: {err}"))
        } else {
            AppError::unprocessable(err.message, err.path)
        }
    })
}

/// `PUT /api/topology`: run a new topology from now on. A bad one changes nothing and
/// answers 422 naming the field.
pub async fn put_topology(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Replaced>, AppError> {
    simulated_only(&state, "takes its topology from its traces")?;
    let topology = topology_body(&headers, &body)?;
    let name = topology.name.clone();
    let dropped_faults = state.session.replace_topology(topology);
    tracing::info!(topology = %name, dropped = dropped_faults.len(), "topology replaced");
    Ok(Json(Replaced { dropped_faults }))
}

/// `POST /v1/traces`: the OTLP/HTTP trace receiver.
pub async fn receive_traces(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    state.session.observed.receive(&headers, &body).await
}

/// `GET /api/observed`: how the trace ingest is going.
pub async fn get_observed(State(state): State<AppState>) -> Json<serde_json::Value> {
    use std::sync::atomic::Ordering::Relaxed;
    let observed = &state.session.observed;
    let stats = observed.stats();
    let graph = observed.graph_stats();
    let (lag_ns, waiting) = observed.lag_and_waiting();
    Json(serde_json::json!({
        "source": state.session.source(),
        "requests": stats.requests.load(Relaxed),
        "spans_accepted": stats.spans_accepted.load(Relaxed),
        "spans_rejected": stats.spans_rejected.load(Relaxed),
        "refused_busy": stats.refused_busy.load(Relaxed),
        "refused_invalid": stats.refused_invalid.load(Relaxed),
        "queued_spans": observed.queued_spans(),
        "waiting_for_partner": waiting,
        "lag_ms": lag_ns as f64 / 1e6,
        "prometheus": observed.prometheus(),
        "graph": {
            "spans": graph.spans,
            "paired": graph.paired,
            "by_peer": graph.by_peer,
            "to_virtual": graph.to_virtual,
            "unpaired_dropped": graph.unpaired_dropped,
            "evicted": graph.evicted,
            "late": graph.late,
            "over_cap": graph.over_cap,
            "orphaned": graph.orphaned,
        },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelQuery {
    pub format: Option<String>,
    pub download: Option<bool>,
    /// Wrap it with what each estimate rests on: `{"topology", "evidence"}`.
    pub evidence: Option<bool>,
}

/// `GET /api/observed/model[?format=json|yaml][&evidence=true]`: the observed system as a
/// simulator topology estimated from its spans, a file `simulate`, `analyze`, `compare`
/// and `PUT /api/topology` take as it is.
pub async fn get_observed_model(
    State(state): State<AppState>,
    query: Result<Query<ModelQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let Query(query) = query.map_err(|err| AppError::bad_request(err.body_text()))?;
    let observed = state.session.observed.clone();
    if observed.prometheus().is_some() {
        return Err(AppError::Conflict(
            "the model is estimated from spans; with --prometheus as the source there are none"
                .into(),
        ));
    }
    let (topology, evidence) = tokio::task::spawn_blocking(move || observed.model_topology())
        .await
        .map_err(|err| AppError::Internal(err.to_string()))?;
    if query.evidence == Some(true) {
        return Ok(
            Json(serde_json::json!({"topology": topology, "evidence": evidence})).into_response(),
        );
    }
    topology_file(
        &topology,
        crate::observed::MODEL_NAME,
        query.format.as_deref(),
        query.download,
    )
}

/// `GET /api/observed/analysis`: what the model of the observed system predicts — its
/// SPOFs and each service's blast radius, as a snapshot's `analysis` carries them for the
/// simulation (affected entries only).
pub async fn get_observed_analysis(
    State(state): State<AppState>,
) -> Result<Json<simulator::analysis::Analysis>, AppError> {
    let observed = state.session.observed.clone();
    let analysis = tokio::task::spawn_blocking(move || {
        let (model, evidence) = observed.model_topology();
        let mut analysis = simulator::analysis::analyze(&model).affected_only();
        analysis.method = format!(
            "predicted by the model estimated from {} traces: {}",
            evidence.traces, analysis.method
        );
        analysis
    })
    .await
    .map_err(|err| AppError::Internal(err.to_string()))?;
    Ok(Json(analysis))
}

/// `POST /api/observed/twin`: "Model this" — runs the observed system's model (as
/// estimated from its spans now) beside it from now on, given every real fault; afresh if
/// it ran already.
pub async fn start_twin(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<simulator::twin::TwinView>), AppError> {
    let session = state.session.clone();
    let view = tokio::task::spawn_blocking(move || session.start_twin())
        .await
        .map_err(|err| AppError::Internal(err.to_string()))?
        .map_err(|err| AppError::Conflict(err.to_string()))?;
    tracing::info!(
        services = view.services,
        "the model runs beside the real system"
    );
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api/observed/twin`: the model and the real system side by side, if it runs.
pub async fn get_twin(
    State(state): State<AppState>,
) -> Result<Json<simulator::twin::TwinView>, AppError> {
    state.session.twin().map(Json).ok_or_else(twin_not_running)
}

/// `GET /api/observed/twin/model[?format=json|yaml][&download=true]`: the model that runs
/// beside the real system, as a topology file.
pub async fn get_twin_model(
    State(state): State<AppState>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let Query(query) = query.map_err(|err| AppError::bad_request(err.body_text()))?;
    let topology = state.session.twin_topology().ok_or_else(twin_not_running)?;
    topology_file(
        &topology,
        &store::file_stem(&topology.name),
        query.format.as_deref(),
        query.download,
    )
}

/// The 404 of the twin's endpoints when it is not running.
fn twin_not_running() -> AppError {
    AppError::NotFound(
        "the model is not running beside the real system: POST /api/observed/twin starts it".into(),
    )
}

/// `DELETE /api/observed/twin`: stops running the model beside the real system.
pub async fn stop_twin(State(state): State<AppState>) -> Result<StatusCode, AppError> {
    if state.session.stop_twin() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(twin_not_running())
    }
}

/// Refuses a change that only the simulation can make while the observed system is shown.
fn simulated_only(state: &AppState, what: &str) -> Result<(), AppError> {
    if state.session.source() == crate::session::Source::Observed {
        return Err(AppError::Conflict(format!(
            "the live view shows the observed system, which {what}; switch the source to \
             simulated (PUT /api/session {{\"source\": \"simulated\"}}) to do this there"
        )));
    }
    Ok(())
}

fn observed(state: &AppState) -> bool {
    state.session.source() == crate::session::Source::Observed
}

/// `GET /api/faults`: the simulation's faults, or the real system's (its proxies' toxics
/// and disabled proxies) while observed.
pub async fn list_faults(State(state): State<AppState>) -> Json<Vec<FaultRecord>> {
    if observed(&state) {
        return Json(state.session.observed.proxies().records());
    }
    Json(state.session.faults())
}

/// `POST /api/faults`: inject a fault; 201 with its `id`. While observed, it acts on the
/// real system through its fault proxies (422 naming a target with none).
pub async fn inject_fault(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let fault: Fault = parse_json(&body)?;
    let description = fault.describe();
    if observed(&state) {
        let id = state
            .session
            .observed
            .proxies()
            .inject(fault)
            .map_err(|refusal| match refusal.status {
                409 => AppError::Conflict(refusal.message),
                _ => AppError::unprocessable(refusal.message, refusal.path),
            })?;
        tracing::info!(id, fault = %description, "real fault injected");
        return Ok((StatusCode::CREATED, Json(Created { id })));
    }
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
    let reverted = if observed(&state) {
        state.session.observed.proxies().revert(id)
    } else {
        state.session.revert(id)
    };
    if reverted {
        tracing::info!(id, "fault reverted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!(
            "no active fault has id {id}: it may have been reverted or ended by itself"
        )))
    }
}

pub async fn get_session(State(state): State<AppState>) -> Json<SessionState> {
    Json(state.session.state())
}

/// `PUT /api/session`: change any of `paused`, `speed`, `routing_mode`.
pub async fn put_session(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<SessionState>, AppError> {
    let change: SessionChange = parse_json(&body)?;
    let session = state.session.change(change).map_err(control_error)?;
    tracing::info!(?session, "session changed");
    Ok(Json(session))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub seconds: f64,
}

/// `POST /api/session/step`: simulate `seconds` at once while paused.
pub async fn step_session(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<SessionState>, AppError> {
    let step: Step = parse_json(&body)?;
    Ok(Json(
        state.session.step(step.seconds).map_err(control_error)?,
    ))
}

/// `POST /api/session/reset`: start again from zero with the same topology and seed.
pub async fn reset_session(State(state): State<AppState>) -> Json<SessionState> {
    tracing::info!("session reset");
    Json(state.session.reset())
}

fn control_error(err: ControlError) -> AppError {
    AppError::unprocessable(err.message, err.path)
}

/// `GET /api/templates`: the template names and their default sizes.
pub async fn list_templates() -> Json<Vec<serde_json::Value>> {
    Json(
        templates::NAMES
            .iter()
            .map(|name| serde_json::json!({"name": name, "default_size": templates::default_size(name)}))
            .collect(),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateQuery {
    pub size: Option<usize>,
    pub seed: Option<u64>,
}

/// `GET /api/templates/{name}?size=N&seed=S`: a template topology, ready for `PUT`.
pub async fn get_template(
    Path(name): Path<String>,
    query: Result<Query<TemplateQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Topology>, AppError> {
    let Query(query) = query.map_err(|err| AppError::bad_request(err.body_text()))?;
    templates::build(&name, query.size, query.seed.unwrap_or(1))
        .map(Json)
        .map_err(|err| match err {
            templates::TemplateError::Unknown(_) => AppError::NotFound(err.to_string()),
            templates::TemplateError::Size { .. } => {
                AppError::unprocessable(err.to_string(), "size")
            }
        })
}

/// Runs a blocking database call off the async runtime.
async fn with_store<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, AppError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|err| AppError::Internal(format!("database task failed: {err}")))?
        .map_err(|err| AppError::Internal(err.to_string()))
}

fn check_name(name: &str) -> Result<(), AppError> {
    if store::valid_name(name) {
        Ok(())
    } else {
        Err(AppError::unprocessable(
            format!("'{name}' is not a valid name: use 1 to 64 letters, digits, '-', '_' or '.'"),
            "name",
        ))
    }
}

/// `GET /api/topologies`: the saved topologies.
pub async fn list_saved(
    State(state): State<AppState>,
) -> Result<Json<Vec<SavedTopology>>, AppError> {
    with_store(&state, |store| store.list()).await.map(Json)
}

/// `GET /api/topologies/{name}`: one saved topology.
pub async fn get_saved(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Topology>, AppError> {
    check_name(&name)?;
    let key = name.clone();
    with_store(&state, move |store| store.get(&key))
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no topology is saved as '{name}'")))
}

/// `PUT /api/topologies/{name}`: save a topology (201 when new, 200 when replaced); it is
/// on disk when this answers.
pub async fn put_saved(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<SavedTopology>), AppError> {
    check_name(&name)?;
    let topology = topology_body(&headers, &body)?;
    let now = unix_now();
    let services = topology.services.len() as u32;
    let key = name.clone();
    let created = with_store(&state, move |store| store.put(&key, &topology, now)).await?;
    tracing::info!(name = %name, created, "topology saved");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(SavedTopology {
            name,
            services,
            updated_at: now,
        }),
    ))
}

/// `DELETE /api/topologies/{name}`: 204, or 404 if there was none.
pub async fn delete_saved(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, AppError> {
    check_name(&name)?;
    let key = name.clone();
    if with_store(&state, move |store| store.delete(&key)).await? {
        tracing::info!(name = %name, "saved topology deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!(
            "no topology is saved as '{name}'"
        )))
    }
}

/// `PUT /api/layout`: pin services at positions (`{"name": [x, y]}`, the whole layout;
/// `{}` unpins every service). 204; 422 naming the service.
pub async fn put_layout(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let layout: std::collections::BTreeMap<String, [f64; 2]> = parse_json(&body)?;
    state.session.set_layout(layout).map_err(control_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/layout/force`: pins every service where a force-directed layout puts it
/// (linked services together, hubs in the middle); 200 with the positions.
pub async fn force_layout(
    State(state): State<AppState>,
) -> Result<Json<std::collections::BTreeMap<String, [f64; 2]>>, AppError> {
    simulated_only(&state, "is laid out by the layered layout only, for now")?;
    let topology = state.session.topology();
    let positions =
        tokio::task::spawn_blocking(move || simulator::layout::force_directed(&topology))
            .await
            .map_err(|err| AppError::Internal(format!("layout task failed: {err}")))?;
    state
        .session
        .set_layout(positions.clone())
        .map_err(control_error)?;
    Ok(Json(positions))
}

/// `GET /api/monkey`: the Chaos Monkey's switch and settings.
pub async fn get_monkey(State(state): State<AppState>) -> Json<MonkeySettings> {
    Json(state.session.monkey())
}

/// `PUT /api/monkey`: switch the monkey on or off, or change its settings (any of
/// `enabled`, `services`, `mean_interval_s`, `down_s`). A bad setting changes nothing.
pub async fn put_monkey(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<MonkeySettings>, AppError> {
    let change: MonkeyChange = parse_json(&body)?;
    let monkey = state
        .session
        .set_monkey(change)
        .map_err(|err| AppError::unprocessable(err.message, err.path))?;
    tracing::info!(?monkey, "chaos monkey changed");
    Ok(Json(monkey))
}

/// `POST /api/experiments`: start an experiment now; 201 with its `id`.
pub async fn start_experiment(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<Created>), AppError> {
    let plan: Plan = parse_json(&body)?;
    let summary = state
        .session
        .start_experiment(plan)
        .map_err(experiment_error)?;
    Ok((StatusCode::CREATED, Json(Created { id: summary.id })))
}

fn experiment_error(err: ExperimentError) -> AppError {
    match err {
        ExperimentError::Conflict(message) => AppError::Conflict(message),
        ExperimentError::NotFound(id) => AppError::NotFound(format!("no experiment has id {id}")),
        ExperimentError::Invalid(err) => AppError::unprocessable(err.message, err.path),
    }
}

/// `GET /api/experiments`: the session's experiment (running or last ended) and every
/// stored one, newest first.
pub async fn list_experiments(
    State(state): State<AppState>,
) -> Result<Json<Vec<ExperimentSummary>>, AppError> {
    let mut list = with_store(&state, |store| store.list_experiments()).await?;
    if let Some(current) = state.session.current_experiment() {
        // The stored copy of the session's experiment may lag behind it: show the live one.
        list.retain(|stored| stored.id != current.id);
        list.insert(0, current);
    }
    Ok(Json(list))
}

fn experiment_id(text: &str) -> Result<u64, AppError> {
    text.parse()
        .map_err(|_| AppError::bad_request(format!("'{text}' is not an experiment id (a number)")))
}

/// `GET /api/experiments/{id}`: one experiment's report, live while it runs.
pub async fn get_experiment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredExperiment>, AppError> {
    let id = experiment_id(&id)?;
    if let Some(live) = state.session.experiment(id) {
        return Ok(Json(live));
    }
    with_store(&state, move |store| store.get_experiment(id))
        .await?
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no experiment has id {id}")))
}

/// `POST /api/experiments/{id}/stop`: end a running experiment (verdict `stopped`, its
/// faults reverted); the report is stored when this answers.
pub async fn stop_experiment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<StoredExperiment>, AppError> {
    let id = experiment_id(&id)?;
    let stopped = match state.session.stop_experiment(id) {
        Err(ExperimentError::NotFound(_)) => {
            let stored = with_store(&state, move |store| store.get_experiment(id)).await?;
            return Err(match stored {
                Some(stored) => AppError::Conflict(format!(
                    "experiment {id} has already ended ({})",
                    stored.report.verdict.as_str()
                )),
                None => AppError::NotFound(format!("no experiment has id {id}")),
            });
        }
        other => other.map_err(experiment_error)?,
    };
    let saved = stopped.clone();
    with_store(&state, move |store| store.put_experiment(&saved)).await?;
    tracing::info!(id, "experiment stopped");
    Ok(Json(stopped))
}

/// `DELETE /api/experiments/{id}`: forget a stored report (204); a running experiment
/// must be stopped first.
pub async fn delete_experiment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = experiment_id(&id)?;
    if state
        .session
        .current_experiment()
        .is_some_and(|e| e.id == id && e.verdict == simulator::experiment::Verdict::Running)
    {
        return Err(AppError::Conflict(format!(
            "experiment {id} is running: stop it first (POST /api/experiments/{id}/stop)"
        )));
    }
    if with_store(&state, move |store| store.delete_experiment(id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(format!("no experiment has id {id}")))
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

/// `GET /api/routing/{service}`: each client's current routing table for `service`.
pub async fn get_routing(
    State(state): State<AppState>,
    Path(service): Path<String>,
) -> Result<Json<simulator::engine::RoutingTable>, AppError> {
    state
        .session
        .routing_table(&service)
        .map(Json)
        .ok_or_else(|| AppError::NotFound(format!("no service '{service}' in the live topology")))
}

/// `GET /api/runs/{id}`: a run to scrub through — `live`, or a loaded one.
pub async fn get_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<RunQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RunInfo>, AppError> {
    let Query(query) = query.map_err(|err| AppError::bad_request(err.body_text()))?;
    let with_epochs = query.epochs.unwrap_or(true);
    state
        .session
        .run(&id, with_epochs)
        .map(Json)
        .ok_or_else(|| no_run(&id))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// `false`: leave out the epochs (the range alone, for a viewer following a live run).
    pub epochs: Option<bool>,
}

fn no_run(id: &str) -> AppError {
    AppError::NotFound(format!(
        "no run '{id}': use 'live', or the id POST /api/runs gave a loaded recording"
    ))
}

/// `GET /api/runs/{id}/frames/{t}`: the run as it was at the end of simulated second `t`.
pub async fn get_frame(
    State(state): State<AppState>,
    Path((id, t)): Path<(String, String)>,
) -> Result<Json<Tick>, AppError> {
    let t: u64 = t.parse().map_err(|_| {
        AppError::unprocessable(format!("'{t}' is not a whole simulated second"), "t")
    })?;
    match state.session.frame(&id, t) {
        None => Err(no_run(&id)),
        Some(Ok(frame)) => Ok(Json(frame)),
        Some(Err((Some(first), Some(last)))) => Err(AppError::NotFound(format!(
            "run '{id}' has frames for seconds {first} to {last}, not {t}"
        ))),
        Some(Err(_)) => Err(AppError::NotFound(format!(
            "run '{id}' has no frames yet: its first second has not ended"
        ))),
    }
}

/// `GET /api/runs/{id}/recording[?download=true]`: everything needed to replay the run
/// exactly elsewhere (seed, starting topology, every control with its simulated time).
pub async fn get_recording(
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Query(query) = query.map_err(|err| AppError::bad_request(err.body_text()))?;
    if query.format.as_deref().is_some_and(|f| f != "json") {
        return Err(AppError::unprocessable(
            "recordings are JSON only",
            "format",
        ));
    }
    if id == crate::observed::RUN_ID {
        return Err(AppError::NotFound(
            "the observed run is a real system's: it has frames to scrub through, but no \
             recording to replay"
                .into(),
        ));
    }
    let recording = if id == "live" {
        state.session.recording()
    } else {
        state
            .session
            .loaded_recording(&id)
            .ok_or_else(|| no_run(&id))?
    };
    let file = format!(
        "{}-run-{id}.json",
        store::file_stem(&recording.topology.name)
    );
    let body = serde_json::to_string(&recording).expect("recordings serialise");
    Ok(attachment(body, "application/json", &file, query.download))
}

/// A body with a content type and a file name; saved rather than shown if `download`.
fn attachment(
    body: String,
    content_type: &str,
    file: &str,
    download: Option<bool>,
) -> impl IntoResponse + use<> {
    let disposition = if download == Some(true) {
        "attachment"
    } else {
        "inline"
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("{disposition}; filename=\"{file}\""),
            ),
        ],
        body,
    )
}

/// `POST /api/runs`: loads a recording (a file `GET /api/runs/live/recording` gave) and
/// replays it, so it can be scrubbed here exactly as it ran there. 201 with the run.
pub async fn load_run(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<RunInfo>), AppError> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::bad_request("the body is not UTF-8 text"))?;
    if let Err(err) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(AppError::bad_request(format!(
            "the body is not valid JSON: {err}"
        )));
    }
    let recording =
        Recording::from_json(text).map_err(|err| AppError::unprocessable(err.message, err.path))?;
    let session = state.session.clone();
    let info = tokio::task::spawn_blocking(move || session.load_run(recording))
        .await
        .map_err(|err| AppError::Internal(format!("replay task failed: {err}")))?
        .map_err(|err| AppError::unprocessable(err.message, err.path))?;
    tracing::info!(id = %info.id, duration_s = info.duration_s, "recording loaded");
    Ok((StatusCode::CREATED, Json(info)))
}

/// `GET /api/compare`: the live routing comparison, if open.
pub async fn get_compare(State(state): State<AppState>) -> Result<Json<CompareView>, AppError> {
    state.session.compare().map(Json).ok_or_else(|| {
        AppError::NotFound("no comparison is open: POST /api/compare opens one".into())
    })
}

/// `POST /api/compare`: opens (or restarts) the live routing comparison: the live topology
/// under dns, lb and smart from now on, in step with the live run, with its faults.
pub async fn start_compare(State(state): State<AppState>) -> (StatusCode, Json<CompareView>) {
    (StatusCode::CREATED, Json(state.session.start_compare()))
}

/// `DELETE /api/compare`: closes the comparison.
pub async fn stop_compare(State(state): State<AppState>) -> Result<StatusCode, AppError> {
    if state.session.stop_compare() {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("no comparison is open".into()))
    }
}

/// `GET /api/report[?format=json|markdown][&download=true]`: the resilience report of the
/// live topology in its routing mode (simulated from the session's seed).
pub async fn get_report(
    State(state): State<AppState>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let session = state.session.clone();
    report_response(query, move || Ok(session.report())).await
}

/// `GET /api/observed/twin/report[?format=json|markdown][&download=true]`: the resilience
/// report of the model that runs beside the real system ("Model this").
pub async fn get_twin_report(
    State(state): State<AppState>,
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, AppError> {
    let session = state.session.clone();
    report_response(query, move || {
        session.twin_report().ok_or_else(twin_not_running)
    })
    .await
}

/// A resilience report made off the runtime by `make`, as JSON or Markdown.
async fn report_response(
    query: Result<Query<FormatQuery>, axum::extract::rejection::QueryRejection>,
    make: impl FnOnce() -> Result<std::sync::Arc<simulator::resilience::ResilienceReport>, AppError>
    + Send
    + 'static,
) -> Result<axum::response::Response, AppError> {
    let Query(query) = query.map_err(|err| AppError::bad_request(err.body_text()))?;
    let markdown = match query.format.as_deref() {
        None | Some("json") => false,
        Some("markdown" | "md") => true,
        Some(other) => {
            return Err(AppError::unprocessable(
                format!("'{other}' is not a format: use json or markdown"),
                "format",
            ));
        }
    };
    let report = tokio::task::spawn_blocking(make)
        .await
        .map_err(|err| AppError::Internal(format!("report task failed: {err}")))??;
    let stem = store::file_stem(&report.topology);
    Ok(if markdown {
        attachment(
            report.to_markdown(),
            "text/markdown; charset=utf-8",
            &format!("{stem}-resilience.md"),
            query.download,
        )
        .into_response()
    } else {
        attachment(
            serde_json::to_string(&*report).expect("reports serialise"),
            "application/json",
            &format!("{stem}-resilience.json"),
            query.download,
        )
        .into_response()
    })
}
