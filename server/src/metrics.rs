//! `GET /metrics` in the Prometheus text format: the live simulation's figures per service
//! and entry, and the server's own (streams open, tick duration), so Grafana can chart a run.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

/// Writes one metric family: its help, its type, and a sample per `(labels, value)`.
fn family(out: &mut String, name: &str, help: &str, kind: &str, samples: &[(String, f64)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{name} {value}");
        } else {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    }
}

/// Escapes a label value (service names are plain, but a saved name could hold a quote).
fn label(key: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{key}=\"{escaped}\"")
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let tick = state.session.tick();
    let stats = &state.session.stats;
    let mut out = String::new();
    let per_service = |f: &dyn Fn(&simulator::wire::ServiceFigures) -> Option<f64>| {
        tick.services
            .iter()
            .filter_map(|(name, figures)| Some((label("service", name), f(figures)?)))
            .collect::<Vec<_>>()
    };
    family(
        &mut out,
        "blastradius_simulated_seconds",
        "Simulated time of the live run.",
        "gauge",
        &[(String::new(), tick.t)],
    );
    if let Some(availability) = tick.availability {
        family(
            &mut out,
            "blastradius_availability",
            "Overall availability over the last simulated second.",
            "gauge",
            &[(String::new(), availability)],
        );
    }
    let entries = |f: &dyn Fn(&simulator::wire::EntryFigures) -> Option<f64>| {
        tick.entries
            .iter()
            .filter_map(|(name, figures)| Some((label("entry", name), f(figures)?)))
            .collect::<Vec<_>>()
    };
    family(
        &mut out,
        "blastradius_entry_availability",
        "Availability of an entry point over the last simulated second.",
        "gauge",
        &entries(&|e| e.availability),
    );
    family(
        &mut out,
        "blastradius_entry_requests_per_second",
        "Outside requests per simulated second at an entry point.",
        "gauge",
        &entries(&|e| Some(e.rps)),
    );
    family(
        &mut out,
        "blastradius_service_requests_per_second",
        "Executions arriving per simulated second.",
        "gauge",
        &per_service(&|f| Some(f.rps)),
    );
    family(
        &mut out,
        "blastradius_service_success_ratio",
        "Successful / ended executions.",
        "gauge",
        &per_service(&|f| f.success_rate),
    );
    family(
        &mut out,
        "blastradius_service_latency_p99_seconds",
        "99th percentile of time from arrival to answer.",
        "gauge",
        &per_service(&|f| f.p99_ms.map(|ms| ms / 1e3)),
    );
    family(
        &mut out,
        "blastradius_service_instances_up",
        "Instances neither killed nor hung.",
        "gauge",
        &per_service(&|f| Some(f64::from(f.up))),
    );
    family(
        &mut out,
        "blastradius_service_utilization",
        "Busy slots / all slots.",
        "gauge",
        &per_service(&|f| Some(f.utilization)),
    );
    family(
        &mut out,
        "blastradius_active_faults",
        "Faults injected and not reverted.",
        "gauge",
        &[(String::new(), tick.faults.len() as f64)],
    );
    family(
        &mut out,
        "blastradius_sse_clients",
        "Event streams open now.",
        "gauge",
        &[(String::new(), stats.clients.load(Ordering::Relaxed) as f64)],
    );
    family(
        &mut out,
        "blastradius_tick_duration_seconds",
        "Wall time the last tick took to simulate, measure and serialise.",
        "gauge",
        &[(
            String::new(),
            stats.last_tick_ns.load(Ordering::Relaxed) as f64 / 1e9,
        )],
    );
    family(
        &mut out,
        "blastradius_ticks_total",
        "Ticks published since start.",
        "counter",
        &[(String::new(), stats.ticks.load(Ordering::Relaxed) as f64)],
    );
    let monkey = state.session.monkey();
    family(
        &mut out,
        "blastradius_monkey_enabled",
        "1 while the Chaos Monkey is on.",
        "gauge",
        &[(String::new(), f64::from(u8::from(monkey.enabled)))],
    );
    let running = tick
        .experiment
        .as_ref()
        .filter(|e| e.verdict == simulator::experiment::Verdict::Running);
    family(
        &mut out,
        "blastradius_experiment_running",
        "1 while an experiment runs (label: its id and name).",
        "gauge",
        &match running {
            Some(e) => vec![(
                format!(
                    "{},{}",
                    label("id", &e.id.to_string()),
                    label("name", &e.name)
                ),
                1.0,
            )],
            None => vec![(String::new(), 0.0)],
        },
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
