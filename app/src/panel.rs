//! The side panel: the selected service's live figures and its kill / revive actions, the
//! availability timeline, and the list of active faults with a revert button each.

use leptos::prelude::*;
use leptos::task::spawn_local;
use simulator::fault::{Fault, FaultKind};
use simulator::wire::{FaultRecord, Health, ServiceFigures};

use crate::api;
use crate::app::{HISTORY_LEN, Live};
use crate::format;
use crate::graph::{component_health, component_of};

/// Runs an API request in the background; its error, if any, becomes the notice.
fn act(live: Live, method: &'static str, url: String, body: Option<String>) {
    live.notice.set(None);
    spawn_local(async move {
        if let Err(message) = api::send(method, &url, body).await {
            live.notice.set(Some(message));
        }
    });
}

/// The whole side panel.
#[component]
pub fn Panel() -> impl IntoView {
    let live = expect_context::<Live>();
    view! {
        <ServiceCard/>
        {move || {
            live.notice
                .get()
                .map(|message| {
                    view! {
                        <div class="notice" role="alert" data-testid="notice">
                            {message}
                        </div>
                    }
                })
        }}
        <section class="panel-card">
            <h3>"Availability, last minute"</h3>
            <Timeline/>
        </section>
        <FaultList/>
    }
}

/// The selected service: health, instances, figures, and the chaos buttons.
#[component]
fn ServiceCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let selected = move || live.selected.get();
    let figures = move || -> Option<ServiceFigures> {
        let name = selected()?;
        live.tick
            .with(|t| t.as_ref().and_then(|t| t.services.get(&name).cloned()))
    };
    // Kill faults on the selected service (whole service or one instance): what revive undoes.
    let kills = move || -> Vec<FaultRecord> {
        let Some(name) = selected() else {
            return Vec::new();
        };
        live.tick.with(|t| {
            t.as_ref()
                .map(|t| {
                    t.faults
                        .iter()
                        .filter(|f| {
                            f.fault.kind == FaultKind::Kill
                                && f.fault.service.as_deref() == Some(name.as_str())
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    let kill = move |_| {
        let Some(name) = selected() else { return };
        let body = serde_json::to_string(&Fault::kill(&name)).expect("faults serialise");
        act(live, "POST", "/api/faults".into(), Some(body));
    };
    let revive = move |_| {
        for fault in kills() {
            act(live, "DELETE", format!("/api/faults/{}", fault.id), None);
        }
    };
    // A routing component (dns, lb, registry) selected instead of a service: its state.
    let component = move || -> Option<String> {
        let name = selected()?;
        live.tick
            .with(|t| t.as_ref().and_then(|t| t.components.get(&name).cloned()))
    };
    let can_kill = move || {
        figures().is_some_and(|f| f.up > 0) || component().is_some_and(|state| state != "down")
    };
    let can_revive = move || !kills().is_empty();
    let health = move || {
        figures()
            .map(|f| f.health)
            .or_else(|| component().map(|state| component_health(&state)))
    };
    view! {
        <section class="panel-card service-card" data-testid="service-card">
            {move || match selected() {
                None => {
                    view! {
                        <p class="hint">
                            "Click a service in the graph to see its live figures and break it."
                        </p>
                    }
                        .into_any()
                }
                Some(name) => {
                    view! {
                        <header class="service-head">
                            <h2>{name}</h2>
                            <span
                                class="pill"
                                data-health=move || health().map_or("healthy", Health::as_str)
                            >
                                {move || health().map_or("", Health::as_str)}
                            </span>
                        </header>
                        {move || {
                            component()
                                .map(|state| {
                                    let mode = live.tick.with(|t| t.as_ref().map(|t| t.routing_mode));
                                    let label = mode.map_or("", |m| component_of(m).1);
                                    view! {
                                        <p class="hint" data-testid="component-info">
                                            {format!(
                                                "The {label} is {state}. In this routing mode every call depends on it: kill it to see how much.",
                                            )}
                                        </p>
                                    }
                                })
                        }}
                        <Instances/>
                        <dl class="figures" class:hidden=move || component().is_some()>
                            <div>
                                <dt>"Requests"</dt>
                                <dd>{move || figures().map(|f| format::rate(f.rps))}</dd>
                            </div>
                            <div>
                                <dt>"Success"</dt>
                                <dd>{move || format::percent(figures().and_then(|f| f.success_rate))}</dd>
                            </div>
                            <div>
                                <dt>"p50"</dt>
                                <dd>{move || format::millis(figures().and_then(|f| f.p50_ms))}</dd>
                            </div>
                            <div>
                                <dt>"p99"</dt>
                                <dd>{move || format::millis(figures().and_then(|f| f.p99_ms))}</dd>
                            </div>
                            <div>
                                <dt>"Busy"</dt>
                                <dd>
                                    {move || format::percent(figures().map(|f| f.utilization))}
                                </dd>
                            </div>
                        </dl>
                    }
                        .into_any()
                }
            }}
            <div class="actions">
                <button
                    class="danger"
                    data-testid="kill"
                    title="Kill every instance of the selected service"
                    disabled=move || !can_kill()
                    on:click=kill
                >
                    "Kill"
                </button>
                <button
                    data-testid="revive"
                    title="Revert the kills on the selected service"
                    disabled=move || !can_revive()
                    on:click=revive
                >
                    "Revive"
                </button>
            </div>
        </section>
    }
}

/// The selected service's instances, up or down.
#[component]
fn Instances() -> impl IntoView {
    let live = expect_context::<Live>();
    let instances = move || {
        let Some(name) = live.selected.get() else {
            return Vec::new();
        };
        live.tick.with(|t| {
            t.as_ref()
                .and_then(|t| t.services.get(&name))
                .map(|f| f.instances_up.iter().copied().enumerate().collect())
                .unwrap_or_default()
        })
    };
    view! {
        <ul class="instance-list">
            <For each=instances key=|instance| *instance let:instance>
                <li class=if instance.1 { "up" } else { "down" }>
                    <span class="dot"></span>
                    {format!("#{}", instance.0 + 1)}
                </li>
            </For>
        </ul>
    }
}

/// Overall availability over the last minute, as a line over a 0–100% scale.
#[component]
fn Timeline() -> impl IntoView {
    let live = expect_context::<Live>();
    const WIDTH: f64 = 300.0;
    const HEIGHT: f64 = 80.0;
    let points = move || {
        live.history.with(|history| {
            // Newest point at the right edge; the line grows leftwards as history fills.
            let first = HISTORY_LEN - history.len();
            history
                .iter()
                .enumerate()
                .filter_map(|(i, (_, a))| {
                    let a = (*a)?;
                    let x = (first + i) as f64 / (HISTORY_LEN - 1) as f64 * WIDTH;
                    let y = (1.0 - a) * HEIGHT;
                    Some(format!("{x:.1},{y:.1}"))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    view! {
        <svg class="timeline" viewBox=format!("0 -4 {WIDTH} {}", HEIGHT + 8.0) preserveAspectRatio="none">
            <line class="grid" x1="0" y1="0" x2=WIDTH y2="0"></line>
            <line class="grid" x1="0" y1=HEIGHT / 2.0 x2=WIDTH y2=HEIGHT / 2.0></line>
            <line class="grid" x1="0" y1=HEIGHT x2=WIDTH y2=HEIGHT></line>
            <polyline class="availability-line" points=points></polyline>
        </svg>
        <div class="timeline-scale">
            <span>"−60 s"</span>
            <span>"0% – 100%"</span>
            <span>"now"</span>
        </div>
    }
}

/// Active faults, each with a revert button.
#[component]
fn FaultList() -> impl IntoView {
    let live = expect_context::<Live>();
    let faults = move || {
        live.tick
            .with(|t| t.as_ref().map(|t| t.faults.clone()).unwrap_or_default())
    };
    view! {
        <section class="panel-card">
            <h3>"Active faults"</h3>
            <ul class="fault-list" data-testid="fault-list">
                <For each=faults key=|fault| (fault.id, fault.state.clone()) let:fault>
                    <li data-state=fault.state.clone()>
                        <span class="fault-kind">{fault.fault.kind.name()}</span>
                        <span class="fault-target" title=fault.description.clone()>{fault.fault.target()}</span>
                        <span class="fault-time">{format!("at {}", format::clock(fault.start_s))}</span>
                        <button
                            class="small"
                            title="Revert this fault"
                            on:click=move |_| {
                                act(live, "DELETE", format!("/api/faults/{}", fault.id), None)
                            }
                        >
                            "Revert"
                        </button>
                    </li>
                </For>
            </ul>
            <Show when=move || faults().is_empty()>
                <p class="hint">"No fault is active. Select a service and press Kill."</p>
            </Show>
        </section>
    }
}
