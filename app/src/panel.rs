//! The side panel: the selected service's live figures and its kill / revive actions, the
//! availability timeline, and the list of active faults with a revert button each.

use std::collections::VecDeque;

use leptos::prelude::*;
use simulator::fault::{Fault, FaultKind};
use simulator::wire::{FaultRecord, Health, ServiceFigures};

use crate::api;
use crate::app::{HISTORY_LEN, Live, SLO};
use crate::editor;
use crate::format;
use crate::graph::{
    MOST_ENTRIES, component_health, component_of, predicted_shares, unlisted_words,
};
use crate::properties::{Properties, Target};

/// Sends an API request in the background; its error, if any, becomes the notice.
fn act(live: Live, method: &'static str, url: String, body: Option<String>) {
    api::in_background(live, async move { api::send(method, &url, body).await });
}

/// The whole side panel.
#[component]
pub fn Panel() -> impl IntoView {
    let live = expect_context::<Live>();
    let chaos = RwSignal::new(false);
    // Selecting something in the graph shows it.
    Effect::new(move |_| {
        if live.selected.with(Option::is_some) || live.selected_edge.with(Option::is_some) {
            chaos.set(false);
        }
    });
    view! {
        <div class="tabs" role="tablist">
            <button
                role="tab"
                data-testid="tab-inspect"
                aria-selected=move || (!chaos.get()).to_string()
                on:click=move |_| chaos.set(false)
            >
                "Inspect"
            </button>
            <button
                role="tab"
                data-testid="tab-chaos"
                aria-selected=move || chaos.get().to_string()
                on:click=move |_| chaos.set(true)
            >
                "Chaos"
            </button>
        </div>
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
        <Show when=move || chaos.get()>
            <section class="panel-card" data-testid="observed-chaos-note" class:hidden=move || !live.observed.get()>
                <p class="observed-note">
                    "The monkey and experiments act on the real system, through the fault \
                     proxies in front of it; experiments are judged on its observed \
                     availability."
                </p>
            </section>
            <crate::chaos::MonkeyCard/>
            <crate::chaos::ExperimentCard/>
        </Show>
        <Show when=move || !chaos.get()>
            <Inspect/>
        </Show>
    }
}

/// The inspect tab: the selection, the availability timeline, faults and the event log.
#[component]
fn Inspect() -> impl IntoView {
    let live = expect_context::<Live>();
    view! {
        {move || {
            if live.selected_edge.with(Option::is_some) {
                view! { <EdgeCard/> }.into_any()
            } else {
                view! { <ServiceCard/> }.into_any()
            }
        }}
        <crate::views::RoutingTableCard/>
        <section class="panel-card">
            <h3>"Availability over time"</h3>
            <Timeline/>
        </section>
        <FaultList/>
        <crate::log::EventLog/>
    }
}

/// Parameters of the one-click faults.
const LATENCY_MS: f64 = 200.0;
const ERROR_RATE: f64 = 0.3;
const SLOW_FACTOR: f64 = 4.0;

fn post_fault(live: Live, fault: &Fault) {
    let body = serde_json::to_string(fault).expect("faults serialise");
    act(live, "POST", "/api/faults".into(), Some(body));
}

/// The active faults for which `matches` holds.
fn faults_where(live: Live, matches: impl Fn(&Fault) -> bool) -> Vec<FaultRecord> {
    live.tick.with(|t| {
        t.as_ref()
            .map(|t| {
                t.faults
                    .iter()
                    .filter(|f| matches(&f.fault))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// The selected dependency: its live figures and the link faults.
#[component]
fn EdgeCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let edits = expect_context::<editor::Edits>();
    let edge = move || live.selected_edge.get();
    let figures = move || {
        let (from, to) = edge()?;
        live.tick.with(|t| t.as_ref()?.link(&from, &to).cloned())
    };
    let on_link = move || {
        let Some((from, to)) = edge() else {
            return Vec::new();
        };
        faults_where(live, |f| {
            let forward =
                f.from.as_deref() == Some(from.as_str()) && f.to.as_deref() == Some(to.as_str());
            let backward = f.both == Some(true)
                && f.from.as_deref() == Some(to.as_str())
                && f.to.as_deref() == Some(from.as_str());
            forward || backward
        })
    };
    // Cut: partitioned in the simulation, or a partition on the real link's proxy.
    let cut = move || {
        figures().is_some_and(|f| f.partitioned)
            || on_link()
                .iter()
                .any(|f| f.fault.kind == FaultKind::Partition && f.state == "active")
    };
    let inject = move |kind: FaultKind, both: bool| {
        let Some((from, to)) = edge() else { return };
        let mut fault = Fault::on_link(kind, &from, &to);
        match kind {
            FaultKind::Partition => fault.both = Some(both),
            FaultKind::Latency => fault.ms = Some(LATENCY_MS),
            FaultKind::Errors => fault.rate = Some(ERROR_RATE),
            _ => {}
        }
        post_fault(live, &fault);
    };
    let heal = move |_| {
        for fault in on_link() {
            act(live, "DELETE", format!("/api/faults/{}", fault.id), None);
        }
    };
    view! {
        <section class="panel-card service-card" data-testid="edge-card">
            <header class="service-head">
                <h2>{move || edge().map(|(from, to)| format!("{from} → {to}"))}</h2>
                <span class="pill" data-health=move || if cut() { "down" } else { "healthy" }>
                    {move || if cut() { "cut" } else { "link" }}
                </span>
            </header>
            <dl class="figures">
                <div>
                    <dt>"Calls"</dt>
                    <dd>{move || figures().map(|f| format::rate(f.rps))}</dd>
                </div>
                <div>
                    <dt>"Failing"</dt>
                    <dd data-testid="link-failing">{move || format::percent(figures().and_then(|f| f.error_rate))}</dd>
                </div>
                <div>
                    <dt>"Breaker"</dt>
                    <dd data-testid="breaker">
                        {move || {
                            figures()
                                .and_then(|f| f.breaker)
                                .map_or("none".to_string(), |b| format!("{b:?}").to_lowercase())
                        }}
                    </dd>
                </div>
            </dl>
            <div class="actions">
                <button class="danger" data-testid="partition" title="Drop every call over this link" on:click=move |_| inject(FaultKind::Partition, false)>
                    "Partition"
                </button>
                <button class="danger" data-testid="partition-both" title="Cut the link both ways" on:click=move |_| inject(FaultKind::Partition, true)>
                    "Both ways"
                </button>
                <button data-testid="heal" title="Revert every fault on this link" disabled=move || on_link().is_empty() on:click=heal>
                    "Heal"
                </button>
            </div>
            <div class="actions secondary">
                <button data-testid="link-latency" on:click=move |_| inject(FaultKind::Latency, false)>
                    {format!("+{LATENCY_MS} ms")}
                </button>
                <button data-testid="link-errors" on:click=move |_| inject(FaultKind::Errors, false)>
                    {format!("{}% errors", ERROR_RATE * 100.0)}
                </button>
                <button
                    data-testid="delete"
                    class:hidden=move || live.observed.get()
                    title="Delete this link from the topology (Del)"
                    on:click=move |_| editor::delete_selected(live, edits)
                >
                    "Delete"
                </button>
            </div>
            {move || edge().map(|(from, to)| view! { <Properties target=Target::Dependency(from, to)/> })}
        </section>
    }
}

/// The selected service: health, instances, figures, and the chaos buttons.
#[component]
fn ServiceCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let edits = expect_context::<editor::Edits>();
    let selected = move || live.selected.get();
    let figures = move || -> Option<ServiceFigures> {
        let name = selected()?;
        live.tick
            .with(|t| t.as_ref().and_then(|t| t.services.get(&name).cloned()))
    };
    // Every fault on the selected service (whole or one instance): what revive undoes.
    let kills = move || -> Vec<FaultRecord> {
        let Some(name) = selected() else {
            return Vec::new();
        };
        faults_where(live, |f| {
            f.service.as_deref() == Some(name.as_str()) && f.kind != FaultKind::Monkey
        })
    };
    // Injects a fault of `kind` on the selected service, or on its selected instance.
    let inject = move |kind: FaultKind| {
        let Some(name) = selected() else { return };
        let mut fault = Fault {
            instance: live.selected_instance.get_untracked(),
            ..Fault::on_service(kind, &name)
        };
        match kind {
            FaultKind::Latency => fault.ms = Some(LATENCY_MS),
            FaultKind::Errors => fault.rate = Some(ERROR_RATE),
            FaultKind::Slow => fault.factor = Some(SLOW_FACTOR),
            _ => {}
        }
        post_fault(live, &fault);
    };
    let kill = move |_| inject(FaultKind::Kill);
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
    // The selected service's last minute: (rps, success rate, p99), one point per tick.
    let history = RwSignal::new(VecDeque::<Point>::new());
    Effect::new(move |_| {
        live.selected.track();
        history.set(VecDeque::new());
    });
    Effect::new(move |_| {
        let Some(f) = figures() else { return };
        history.update(|h| {
            h.push_back((f.rps, f.success_rate, f.p99_ms));
            while h.len() > HISTORY_LEN {
                h.pop_front();
            }
        });
    });
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
                            "Click a service or a link in the graph to see its live figures and break it."
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
                        <Prediction/>
                        <Instances/>
                        <dl class="figures" class:hidden=move || component().is_some()>
                            <div>
                                <dt>"Requests"</dt>
                                <dd>{move || figures().map(|f| format::rate(f.rps))}</dd>
                                <Sparkline history=history pick=|p| Some(p.0) share=false/>
                            </div>
                            <div>
                                <dt>"Success"</dt>
                                <dd>{move || format::percent(figures().and_then(|f| f.success_rate))}</dd>
                                <Sparkline history=history pick=|p| p.1 share=true/>
                            </div>
                            <div>
                                <dt>"p50"</dt>
                                <dd>{move || format::millis(figures().and_then(|f| f.p50_ms))}</dd>
                            </div>
                            <div>
                                <dt>"p99"</dt>
                                <dd>{move || format::millis(figures().and_then(|f| f.p99_ms))}</dd>
                                <Sparkline history=history pick=|p| p.2 share=false/>
                            </div>
                            <div class:hidden=move || live.observed.get()>
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
            <p class="observed-note" class:hidden=move || !live.observed.get() || selected().is_none() data-testid="observed-faults-note">
                "These buttons break the real system, through the fault proxies in front of it: \
                 real requests fail."
            </p>
            <div class="actions">
                <button
                    class="danger"
                    data-testid="kill"
                    title="Kill the selected service (or instance): it refuses connections"
                    disabled=move || !can_kill()
                    on:click=kill
                >
                    "Kill"
                </button>
                <button
                    class="danger"
                    data-testid="hang"
                    title="Hang it: it accepts requests and never answers (heartbeats go on)"
                    disabled=move || !can_kill()
                    on:click=move |_| inject(FaultKind::Hang)
                >
                    "Hang"
                </button>
                <button
                    data-testid="revive"
                    title="Revert every fault on the selected service"
                    disabled=move || !can_revive()
                    on:click=revive
                >
                    "Revive"
                </button>
            </div>
            <div
                class="actions secondary"
                class:hidden=move || component().is_some() || selected().is_none()
            >
                <button
                    data-testid="latency"
                    title=format!("Add {LATENCY_MS} ms to every answer")
                    on:click=move |_| inject(FaultKind::Latency)
                >
                    {format!("+{LATENCY_MS} ms")}
                </button>
                <button
                    data-testid="errors"
                    title=format!("Fail {}% of requests", ERROR_RATE * 100.0)
                    on:click=move |_| inject(FaultKind::Errors)
                >
                    {format!("{}% errors", ERROR_RATE * 100.0)}
                </button>
                <button
                    data-testid="slow"
                    title=format!("Multiply service time by {SLOW_FACTOR}")
                    on:click=move |_| inject(FaultKind::Slow)
                >
                    {format!("Slow ×{SLOW_FACTOR}")}
                </button>
                <button
                    data-testid="delete"
                    class:hidden=move || live.observed.get()
                    title="Delete this service and its links from the topology (Del)"
                    on:click=move |_| editor::delete_selected(live, edits)
                >
                    "Delete"
                </button>
            </div>
            {move || {
                // Services only: the routing components have no properties of their own.
                let name = selected()?;
                let is_service = live
                    .snapshot
                    .with(|s| s.as_ref().is_some_and(|s| s.topology.service(&name).is_some()));
                is_service.then(|| view! { <Properties target=Target::Service(name)/> })
            }}
        </section>
    }
}

/// One tick of a service's figures: requests per second, success rate, p99 (ms).
type Point = (f64, Option<f64>, Option<f64>);

/// A figure's last minute as a line under it: `share`s on a 0–100% scale, other figures
/// from zero to their highest.
#[component]
fn Sparkline(
    history: RwSignal<VecDeque<Point>>,
    pick: fn(&Point) -> Option<f64>,
    share: bool,
) -> impl IntoView {
    const WIDTH: f64 = 100.0;
    const HEIGHT: f64 = 24.0;
    let points = move || {
        history.with(|history| {
            let values: Vec<Option<f64>> = history.iter().map(pick).collect();
            let top = if share {
                1.0
            } else {
                values
                    .iter()
                    .flatten()
                    .copied()
                    .fold(0.0, f64::max)
                    .max(1e-9)
            };
            let first = HISTORY_LEN - values.len();
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let x = (first + i) as f64 / (HISTORY_LEN - 1) as f64 * WIDTH;
                    let y = HEIGHT - (*v)? / top * HEIGHT;
                    Some(format!("{x:.1},{y:.1}"))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    view! {
        <svg class="sparkline" viewBox=format!("0 -1 {WIDTH} {}", HEIGHT + 2.0) preserveAspectRatio="none" aria-hidden="true">
            <polyline points=points></polyline>
        </svg>
    }
}

/// What the static analysis predicts if the selected service were killed: the share of each
/// entry's requests that would still succeed.
#[component]
fn Prediction() -> impl IntoView {
    let live = expect_context::<Live>();
    let prediction = Memo::new(move |_| -> (Vec<(String, f64)>, usize) {
        let Some(name) = live.selected.get() else {
            return (Vec::new(), 0);
        };
        live.analysis.with(|a| {
            a.as_ref()
                .map(|a| predicted_shares(a, &name, MOST_ENTRIES))
                .unwrap_or_default()
        })
    });
    let shares = move || prediction.with(|p| p.0.clone());
    let unlisted =
        move || prediction.with(|(shares, unlisted)| unlisted_words(shares.len(), *unlisted));
    // Once it is down, what each entry does now, beside what was predicted.
    let down = move || {
        let Some(name) = live.selected.get() else {
            return false;
        };
        live.tick.with(|t| {
            t.as_ref()
                .and_then(|t| t.services.get(&name))
                .is_some_and(|f| f.up == 0)
        })
    };
    let observed = move |entry: &str| {
        live.tick.with(|t| {
            t.as_ref()
                .and_then(|t| t.entries.get(entry))
                .and_then(|e| e.availability)
        })
    };
    view! {
        <div class="prediction" data-testid="blast-radius" class:hidden=move || prediction.with(|p| p.0.is_empty() && p.1 == 0)>
            <span class="prediction-label" title="From the graph alone: required and optional calls, fractional calls, retries">
                {move || match (down(), live.observed.get()) {
                    (true, false) => "Killed: predicted → observed now:",
                    (false, false) => "If killed, still succeeding:",
                    (true, true) => "Down: the model predicted → really now:",
                    (false, true) => "If killed, the model of its traces predicts:",
                }}
            </span>
            <For each=shares key=|(entry, share)| (entry.clone(), share.to_bits()) let:item>
                <span class="prediction-item" data-level=crate::app::level(Some(item.1))>
                    {format!("{} {}", item.0, format::percent(Some(item.1)))}
                    <Show when=down>
                        <span class="observed" data-testid=format!("observed-{}", item.0)>
                            {
                                let entry = item.0.clone();
                                move || format!(" → {}", format::percent(observed(&entry)))
                            }
                        </span>
                    </Show>
                </span>
            </For>
            {move || unlisted().map(|words| view! { <span class="prediction-rest">{words}</span> })}
        </div>
    }
}

/// The number an instance's buttons aim at: its place (from 1) in a simulated service; in
/// an observed one, the `N` of its id `SERVICE#N` when it has one (as the proxies in front
/// of it are named), else its place.
fn instance_number(figures: &ServiceFigures, index: usize) -> u32 {
    figures
        .instance_ids
        .get(index)
        .and_then(|id| id.rsplit_once('#'))
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or(index as u32 + 1)
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
                .map(|f| {
                    f.instances
                        .iter()
                        .enumerate()
                        .map(|(i, state)| (instance_number(f, i), state.clone()))
                        .collect()
                })
                .unwrap_or_default()
        })
    };
    let target = live.selected_instance;
    view! {
        <ul class="instance-list">
            <For each=instances key=|instance| instance.clone() let:instance>
                {
                    let number = instance.0;
                    view! {
                        <li
                            class=instance.1.clone()
                            class:targeted=move || target.get() == Some(number)
                            data-testid=format!("instance-{number}")
                            title="Click to aim the buttons at this instance only"
                            on:click=move |_| {
                                target.update(|t| *t = if *t == Some(number) { None } else { Some(number) })
                            }
                        >
                            <span class="dot"></span>
                            {format!("#{number}")}
                        </li>
                    }
                }
            </For>
        </ul>
        <p class="target-hint">
            {move || match target.get() {
                Some(number) => format!("Buttons act on instance #{number} only."),
                None => "Buttons act on every instance; click one to aim at it.".to_string(),
            }}
        </p>
    }
}

/// Overall availability over the last minute, as a line over a 0–100% scale.
#[component]
fn Timeline() -> impl IntoView {
    let live = expect_context::<Live>();
    const WIDTH: f64 = 300.0;
    const HEIGHT: f64 = 80.0;
    // Placed by simulated time, the newest at the right edge; the span is what the history
    // holds (a minute at 1×, more when faster), at least a minute.
    let span = move || {
        live.history.with(|h| match (h.front(), h.back()) {
            (Some(first), Some(last)) => (last.0 - first.0).max(60.0),
            _ => 60.0,
        })
    };
    let newest = move || live.history.with(|h| h.back().map_or(0.0, |p| p.0));
    let x_of = move |t: f64| WIDTH - (newest() - t) / span() * WIDTH;
    let points = move || {
        live.history.with(|history| {
            history
                .iter()
                .filter_map(|(t, a)| {
                    let a = (*a)?;
                    Some(format!("{:.1},{:.1}", x_of(*t), (1.0 - a) * HEIGHT))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
    };
    let marks = move || {
        live.marks.with(|marks| {
            marks
                .iter()
                .map(|(start, _, what)| (x_of(*start), what.clone()))
                .collect::<Vec<_>>()
        })
    };
    view! {
        <svg class="timeline" viewBox=format!("0 -4 {WIDTH} {}", HEIGHT + 8.0) preserveAspectRatio="none">
            <line class="grid" x1="0" y1="0" x2=WIDTH y2="0"></line>
            <line class="grid" x1="0" y1=HEIGHT / 2.0 x2=WIDTH y2=HEIGHT / 2.0></line>
            <line class="grid" x1="0" y1=HEIGHT x2=WIDTH y2=HEIGHT></line>
            <line class="slo" x1="0" y1=(1.0 - SLO) * HEIGHT x2=WIDTH y2=(1.0 - SLO) * HEIGHT></line>
            {move || {
                marks()
                    .into_iter()
                    .map(|(x, what)| {
                        view! {
                            <line class="fault-mark" data-testid="fault-mark" x1=x y1="0" x2=x y2=HEIGHT>
                                <title>{what}</title>
                            </line>
                        }
                    })
                    .collect_view()
            }}
            <polyline class="availability-line" points=points></polyline>
        </svg>
        <div class="timeline-scale">
            <span>{move || format!("−{:.0} s", span())}</span>
            <span>"0% – 100% · dashes: 99%, faults"</span>
            <span>"now"</span>
        </div>
        <p class="outage" data-testid="outage">
            {move || {
                let outage = live.outage_s.get();
                if outage < 0.05 {
                    format!("No time under {}% this run.", SLO * 100.0)
                } else {
                    format!("{} under {}% this run.", format::duration(outage), SLO * 100.0)
                }
            }}
        </p>
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
