//! Runs side by side: the routing comparison (the live topology under dns, lb and smart)
//! and "Model this" (the real system beside the model of its traces). Both draw a small
//! graph per run coloured by health, the runs' availability overlaid second by second, and
//! a summary table; the model's screen adds each entry's predicted and real share.

use std::collections::BTreeSet;
use std::time::Duration;

use leptos::prelude::*;
use simulator::lockstep::{CompareView, SideView};
use simulator::topology::RoutingMode;
use simulator::twin::TwinView;
use simulator::wire::Health;

use crate::api;
use crate::app::Live;
use crate::format;
use crate::graph::{CANVAS_LINKS, CANVAS_SERVICES, canvas};

const MODES: [RoutingMode; 3] = [RoutingMode::Dns, RoutingMode::Lb, RoutingMode::Smart];

/// How often a side-by-side screen asks for its runs.
const POLL: Duration = Duration::from_millis(500);
/// Seconds the overlaid chart shows.
const CHART_S: f64 = 120.0;

/// The colour class of a routing mode in the compare view (and the report's table).
pub fn mode_class(mode: RoutingMode) -> &'static str {
    match mode {
        RoutingMode::Dns => "mode-dns",
        RoutingMode::Lb => "mode-lb",
        RoutingMode::Smart => "mode-smart",
    }
}

/// One run of a side-by-side screen: its name in test ids, its label and colour class.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Lane {
    name: &'static str,
    label: &'static str,
    class: &'static str,
}

/// The runs side by side, in the form the graphs, the chart and the table draw.
#[derive(Clone, Debug, PartialEq)]
struct Sides {
    /// Seconds run so far.
    t: f64,
    slo: f64,
    first_fault_s: Option<f64>,
    runs: Vec<(Lane, SideView)>,
}

impl Sides {
    fn run(&self, name: &str) -> Option<&SideView> {
        self.runs
            .iter()
            .find(|(lane, _)| lane.name == name)
            .map(|(_, side)| side)
    }
}

const COMPARE_LANES: [Lane; 3] = [
    Lane {
        name: "dns",
        label: "dns",
        class: "mode-dns",
    },
    Lane {
        name: "lb",
        label: "lb",
        class: "mode-lb",
    },
    Lane {
        name: "smart",
        label: "smart",
        class: "mode-smart",
    },
];

const MODEL_LANES: [Lane; 2] = [
    Lane {
        name: "real",
        label: "real system",
        class: "side-real",
    },
    Lane {
        name: "model",
        label: "model",
        class: "side-model",
    },
];

/// Follows a run on the server at `url` while the screen is open: joins one already
/// running (another viewer's), else starts one (`POST`); asks again every [`POLL`]; stops
/// it (`DELETE`) when the person leaves. `restart` starts it afresh.
fn follow<T>(
    url: &'static str,
    into: RwSignal<Option<T>>,
    error: RwSignal<Option<String>>,
) -> impl Fn() + Copy
where
    T: serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let restart = move || {
        leptos::task::spawn_local(async move {
            match api::request("POST", url, None).await {
                Ok(text) => {
                    error.set(None);
                    into.set(serde_json::from_str(&text).ok());
                }
                Err(message) => error.set(Some(message)),
            }
        });
    };
    leptos::task::spawn_local(async move {
        match api::request("GET", url, None).await {
            Ok(text) => into.set(serde_json::from_str(&text).ok()),
            Err(_) => restart(),
        }
    });
    let poll = set_interval_with_handle(
        move || {
            leptos::task::spawn_local(async move {
                // Closed by someone else, or the server restarted: say so (None).
                let view = api::request("GET", url, None)
                    .await
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok());
                into.set(view);
            });
        },
        POLL,
    )
    .ok();
    on_cleanup(move || {
        if let Some(poll) = poll {
            poll.clear();
        }
        leptos::task::spawn_local(async move {
            // Nothing to do if it was closed already.
            let _ = api::send("DELETE", url, None).await;
        });
    });
    restart
}

/// The routing comparison: opens it on the server if it is not open, follows it, and
/// closes it when the person leaves.
#[component]
pub fn CompareScreen() -> impl IntoView {
    let compare = RwSignal::new(None::<CompareView>);
    let error = RwSignal::new(None::<String>);
    let restart = follow("/api/compare", compare, error);
    let sides = Memo::new(move |_| {
        compare.with(|c| {
            c.as_ref().map(|c| Sides {
                t: c.t,
                slo: c.slo,
                first_fault_s: c.first_fault_s,
                runs: MODES
                    .iter()
                    .zip(COMPARE_LANES)
                    .filter_map(|(mode, lane)| Some((lane, c.modes.get(mode)?.clone())))
                    .collect(),
            })
        })
    });
    view! {
        <div class="compare" data-testid="compare">
            <header class="compare-head">
                <h2>"Routing comparison"</h2>
                <p class="hint">
                    "The live topology under dns, lb and smart, side by side from the same seed and in step with the live run. Every fault you inject reaches all three at the same moment: select a service here and use the panel to kill it."
                </p>
                <button data-testid="compare-restart" title="Start the three runs afresh from now" on:click=move |_| restart()>
                    "Restart"
                </button>
            </header>
            <Show
                when=move || sides.with(Option::is_some)
                fallback=move || view! { <p class="empty">{move || error.get().unwrap_or_else(|| "Starting the comparison…".into())}</p> }
            >
                <div class="compare-graphs">
                    {COMPARE_LANES.map(|lane| view! { <MiniGraph prefix="compare" lane=lane sides=sides/> }).collect_view()}
                </div>
                <div class="compare-bottom">
                    <SidesChart prefix="compare" lanes=&COMPARE_LANES sides=sides/>
                    <SummaryTable prefix="compare" heading="routing" lanes=&COMPARE_LANES sides=sides/>
                </div>
            </Show>
        </div>
    }
}

/// "Model this": the model estimated from the real system's traces, run as a simulation
/// beside it and given its real faults; both graphs, both availability curves, and each
/// entry's predicted share against the real one.
#[component]
pub fn ModelScreen() -> impl IntoView {
    let live = expect_context::<Live>();
    let twin = RwSignal::new(None::<TwinView>);
    let error = RwSignal::new(None::<String>);
    let restart = follow("/api/observed/twin", twin, error);
    // The model runs beside the observed system only: a switch to the simulation (by any
    // viewer) ends it, and this screen with it.
    Effect::new(move |_| {
        if !live.observed.get() {
            live.screen.set(crate::app::Screen::Live);
        }
    });
    let sides = Memo::new(move |_| {
        twin.with(|twin| {
            twin.as_ref().map(|twin| Sides {
                t: twin.t,
                slo: twin.slo,
                first_fault_s: twin.first_fault_s,
                runs: vec![
                    (MODEL_LANES[0], twin.real.clone()),
                    (MODEL_LANES[1], twin.model.clone()),
                ],
            })
        })
    });
    let about = move || {
        twin.with(|twin| {
            twin.as_ref().map_or(String::new(), |twin| {
                format!(
                    "The model estimated from the real system's traces ({} services, {} dependencies), run as a simulation beside it since {} and given every real fault at the moment it was made — from the panel, the Chaos tab or a Toxiproxy client. Select a service and break it for real from the panel.",
                    twin.services, twin.dependencies,
                    format::clock(twin.started_at_s)
                )
            })
        })
    };
    view! {
        <div class="compare model" data-testid="model">
            <header class="compare-head">
                <h2>"Model this"</h2>
                <p class="hint">{about}</p>
                <a
                    class="button small"
                    data-testid="model-download"
                    href="/api/observed/twin/model?format=yaml&download=true"
                    title="The model it runs, as a topology file: simulate, analyze or compare it"
                >
                    "Download"
                </a>
                <crate::views::ReportButton
                    url="/api/observed/twin/report"
                    label="Report"
                    title="The resilience report of the model: single points of failure, worst blast radius"
                    test_id="model-report"
                />
                <button data-testid="model-restart" title="Estimate the model again from the traces so far and run it afresh from now" on:click=move |_| restart()>
                    "Estimate again"
                </button>
            </header>
            <Show
                when=move || sides.with(Option::is_some)
                fallback=move || view! {
                    <p class="empty" data-testid="model-waiting">
                        {move || error.get().unwrap_or_else(|| "Estimating the model from the traces…".into())}
                    </p>
                }
            >
                <div class="compare-graphs two">
                    {MODEL_LANES.map(|lane| view! { <MiniGraph prefix="model" lane=lane sides=sides/> }).collect_view()}
                </div>
                <div class="compare-bottom">
                    <SidesChart prefix="model" lanes=&MODEL_LANES sides=sides/>
                    <div class="model-tables">
                        <EntryTable twin=twin/>
                        <SummaryTable prefix="model" heading="run" lanes=&MODEL_LANES sides=sides/>
                        <RealFaults twin=twin/>
                    </div>
                </div>
            </Show>
        </div>
    }
}

/// Each entry's share of requests kept over the last seconds: what the model predicts,
/// what the real system did, and the gap.
#[component]
fn EntryTable(twin: RwSignal<Option<TwinView>>) -> impl IntoView {
    let entries = Memo::new(move |_| {
        twin.with(|twin| {
            twin.as_ref().map_or(Vec::new(), |twin| {
                let names: BTreeSet<&String> = twin
                    .model
                    .entries
                    .keys()
                    .chain(twin.real.entries.keys())
                    .collect();
                names
                    .into_iter()
                    .map(|name| {
                        let model = twin.model.entries.get(name).copied().flatten();
                        let real = twin.real.entries.get(name).copied().flatten();
                        (name.clone(), model, real)
                    })
                    .collect::<Vec<_>>()
            })
        })
    });
    view! {
        <div class="compare-table">
        <table class="entries" data-testid="model-entries">
            <thead>
                <tr>
                    <th title="Entry points: the services outside requests arrive at">"entry"</th>
                    <th title="Share of its requests the model keeps, over the last 5 s">"model predicts"</th>
                    <th title="Share of its requests the real system kept, over the last 5 s">"really"</th>
                    <th title="Really minus predicted">"gap"</th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    entries
                        .get()
                        .into_iter()
                        .map(|(name, model, real)| {
                            let gap = model
                                .zip(real)
                                .map(|(m, r)| format!("{:+.1} pts", (r - m) * 100.0));
                            view! {
                                <tr data-testid=format!("model-entry-{name}")>
                                    <th scope="row">{name.clone()}</th>
                                    <td data-testid=format!("model-predicted-{name}")>{format::percent(model)}</td>
                                    <td data-testid=format!("model-real-{name}")>{format::percent(real)}</td>
                                    <td data-testid=format!("model-gap-{name}")>{gap.unwrap_or_default()}</td>
                                </tr>
                            }
                        })
                        .collect_view()
                }}
            </tbody>
        </table>
        </div>
    }
}

/// The real system's faults now, and whether the model could take each.
#[component]
fn RealFaults(twin: RwSignal<Option<TwinView>>) -> impl IntoView {
    let faults = move || twin.with(|t| t.as_ref().map_or(Vec::new(), |t| t.faults.clone()));
    view! {
        <ul class="model-faults" data-testid="model-faults">
            {move || {
                let faults = faults();
                if faults.is_empty() {
                    return view! {
                        <li class="hint">"No real fault now: the two curves should agree. Break something from the panel and watch both."</li>
                    }
                    .into_any();
                }
                faults
                    .into_iter()
                    .map(|fault| {
                        let taken = match &fault.not_in_model {
                            None => "in the model too".to_string(),
                            Some(why) => format!("not in the model: {why}"),
                        };
                        view! {
                            <li data-testid=format!("model-fault-{}", fault.id)>
                                <strong>{fault.description}</strong>
                                " (real) — "
                                {taken}
                            </li>
                        }
                    })
                    .collect_view()
                    .into_any()
            }}
        </ul>
    }
}

/// One run as a small graph: each service a dot coloured by its health there.
#[component]
fn MiniGraph(prefix: &'static str, lane: Lane, sides: Memo<Option<Sides>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let name = lane.name;
    let drawing = Memo::new(move |_| {
        live.snapshot.with(|s| {
            s.as_ref().map(|s| {
                let position = |name: &str| s.positions.get(name).copied();
                let edges: Vec<([f64; 2], [f64; 2])> = s
                    .topology
                    .dependencies
                    .iter()
                    .filter_map(|d| Some((position(&d.from)?, position(&d.to)?)))
                    .collect();
                let nodes: Vec<(String, [f64; 2])> = s
                    .topology
                    .services
                    .iter()
                    .filter_map(|service| Some((service.name.clone(), position(&service.name)?)))
                    .collect();
                (edges, nodes)
            })
        })
    });
    let view_box = move || {
        drawing.with(|d| {
            let Some((_, nodes)) = d else {
                return "0 0 100 100".to_string();
            };
            let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for (_, [x, y]) in nodes {
                (x0, y0, x1, y1) = (x0.min(*x), y0.min(*y), x1.max(*x), y1.max(*y));
            }
            if nodes.is_empty() {
                return "0 0 100 100".to_string();
            }
            // Room for a dot's radius around, and for the labels under the lowest dots.
            let (pad, below) = (40.0, 70.0);
            format!(
                "{} {} {} {}",
                x0 - pad,
                y0 - pad,
                x1 - x0 + 2.0 * pad,
                y1 - y0 + pad + below
            )
        })
    };
    // A service this run has no figures for while it has others' (a part the model has
    // not learnt yet) is drawn as absent.
    let health = move |service: &str| {
        sides.with(|s| {
            let Some(side) = s.as_ref().and_then(|s| s.run(name)) else {
                return "healthy";
            };
            match side.health.get(service) {
                Some(health) => health.as_str(),
                None if side.health.is_empty() => "healthy",
                None => "absent",
            }
        })
    };
    let availability = move || sides.with(|s| s.as_ref().and_then(|s| s.run(name)?.availability));
    // Large topologies are painted on a canvas, as the main graph is: thousands of SVG
    // groups per small graph, three graphs, kept the page under 7 frames a second.
    let large = Memo::new(move |_| {
        drawing.with(|d| {
            d.as_ref().is_some_and(|(edges, nodes)| {
                nodes.len() > CANVAS_SERVICES || edges.len() > CANVAS_LINKS
            })
        })
    });
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    let fit = StoredValue::new([1.0, 0.0, 0.0]);
    Effect::new(move |_| {
        if !large.get() {
            return;
        }
        let selected = live.selected.get();
        let Some(canvas) = canvas_ref.get() else {
            return;
        };
        drawing.with(|d| {
            let Some((edges, nodes)) = d else {
                return;
            };
            sides.with(|s| {
                let health = s
                    .as_ref()
                    .and_then(|s| s.run(name))
                    .map(|side| &side.health);
                let health_of = |service: &str| {
                    health
                        .and_then(|h| h.get(service))
                        .copied()
                        .unwrap_or(Health::Healthy)
                };
                let down = nodes
                    .iter()
                    .filter(|(n, _)| health_of(n) == Health::Down)
                    .count();
                let _ = canvas.set_attribute("data-down", &down.to_string());
                fit.set_value(canvas::paint_mini(
                    &canvas,
                    edges,
                    nodes,
                    &health_of,
                    selected.as_deref(),
                ));
            })
        });
    });
    let on_canvas_click = move |event: leptos::ev::MouseEvent| {
        let hit = drawing.with_untracked(|d| {
            let (_, nodes) = d.as_ref()?;
            canvas::mini_hit(
                nodes,
                fit.get_value(),
                f64::from(event.offset_x()),
                f64::from(event.offset_y()),
            )
        });
        if let Some(service) = hit {
            live.selected_edge.set(None);
            live.selected.set(Some(service));
        }
    };
    let small_graph = move || {
        view! {
            <svg viewBox=view_box preserveAspectRatio="xMidYMid meet">
                {move || {
                    drawing
                        .get()
                        .map(|(edges, nodes)| {
                            let edges = edges
                                .into_iter()
                                .map(|([x1, y1], [x2, y2])| {
                                    view! { <line class="mini-edge" x1=x1 y1=y1 x2=x2 y2=y2></line> }
                                })
                                .collect_view();
                            let nodes = nodes
                                .into_iter()
                                .map(|(service, [x, y])| {
                                    let key = service.clone();
                                    let selected = service.clone();
                                    let label = service.clone();
                                    view! {
                                        <g
                                            class="mini-node"
                                            data-testid=format!("{prefix}-node-{name}-{service}")
                                            data-health=move || health(&key)
                                            class:selected=move || live.selected.get().as_deref() == Some(selected.as_str())
                                            on:click=move |_| {
                                                live.selected_edge.set(None);
                                                live.selected.set(Some(service.clone()));
                                            }
                                        >
                                            <title>{label.clone()}</title>
                                            <circle cx=x cy=y r="22"></circle>
                                            <text x=x y=y + 44.0>{label}</text>
                                        </g>
                                    }
                                })
                                .collect_view();
                            view! { {edges} {nodes} }
                        })
                }}
            </svg>
        }
    };
    view! {
        <figure class=format!("mini {}", lane.class) data-testid=format!("{prefix}-graph-{name}")>
            <figcaption>
                <span class="mode-name">{lane.label}</span>
                <span class="value" data-testid=format!("{prefix}-availability-{name}") data-level=move || crate::app::level(availability())>
                    {move || format::percent(availability())}
                </span>
            </figcaption>
            <Show when=move || large.get() fallback=small_graph>
                <canvas
                    class="mini-canvas"
                    data-renderer="canvas"
                    node_ref=canvas_ref
                    title="Click a service to select it"
                    on:click=on_canvas_click
                ></canvas>
            </Show>
        </figure>
    }
}

/// The runs' availability overlaid, second by second, with the first fault marked.
#[component]
fn SidesChart(
    prefix: &'static str,
    lanes: &'static [Lane],
    sides: Memo<Option<Sides>>,
) -> impl IntoView {
    const WIDTH: f64 = 600.0;
    const HEIGHT: f64 = 160.0;
    // Shown from `floor` (at most 90%, lower when a run fell lower) to 100%.
    let scale = Memo::new(move |_| {
        sides.with(|s| {
            let Some(s) = s else {
                return (0.0, 1.0, 0.9);
            };
            let end = s.t.max(1.0);
            let start = (end - CHART_S).max(0.0);
            let lowest = s
                .runs
                .iter()
                .flat_map(|(_, side)| side.timeline.iter())
                .filter(|p| p.t >= start)
                .filter_map(|p| p.availability)
                .fold(1.0_f64, f64::min);
            (start, end, ((lowest * 10.0).floor() / 10.0).min(0.9))
        })
    });
    let x = move |t: f64| {
        let (start, end, _) = scale.get();
        (t - start) / (end - start).max(1.0) * WIDTH
    };
    let y = move |a: f64| {
        let (_, _, floor) = scale.get();
        (1.0 - (a - floor) / (1.0 - floor)) * HEIGHT
    };
    let line = move |name: &'static str| {
        sides.with(|s| {
            let (start, _, _) = scale.get();
            s.as_ref()
                .and_then(|s| s.run(name))
                .map(|side| {
                    side.timeline
                        .iter()
                        .filter(|p| p.t >= start)
                        .filter_map(|p| Some(format!("{:.1},{:.1}", x(p.t), y(p.availability?))))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        })
    };
    let fault_x = move || {
        sides
            .with(|s| s.as_ref().and_then(|s| s.first_fault_s))
            .filter(|t| *t >= scale.get().0)
            .map(x)
    };
    let slo_y = move || {
        sides
            .with(|s| s.as_ref().map_or(0.99, |s| s.slo))
            .max(scale.get().2)
    };
    view! {
        <figure class="compare-chart" data-testid=format!("{prefix}-chart")>
            <figcaption>
                "Availability, each second"
                {lanes
                    .iter()
                    .map(|lane| view! { <span class=format!("legend {}", lane.class)>{lane.label}</span> })
                    .collect_view()}
            </figcaption>
            <svg viewBox=format!("-44 -6 {} {}", WIDTH + 50.0, HEIGHT + 24.0) preserveAspectRatio="none">
                <text class="axis" x="-6" y="4" text-anchor="end">"100%"</text>
                <text class="axis" x="-6" y=HEIGHT text-anchor="end">
                    {move || format!("{:.0}%", scale.get().2 * 100.0)}
                </text>
                <line class="slo" x1="0" x2=WIDTH y1=move || y(slo_y()) y2=move || y(slo_y())></line>
                {move || fault_x().map(|fx| view! {
                    <line class="fault-mark" x1=fx x2=fx y1="0" y2=HEIGHT></line>
                    <text class="axis" x=fx + 4.0 y=HEIGHT + 16.0>"first fault"</text>
                })}
                {lanes
                    .iter()
                    .map(|lane| {
                        let name = lane.name;
                        view! {
                            <polyline
                                class=format!("compare-line {}", lane.class)
                                data-testid=format!("{prefix}-line-{name}")
                                points=move || line(name)
                            ></polyline>
                        }
                    })
                    .collect_view()}
            </svg>
        </figure>
    }
}

/// Requests lost, outage and recovery of each run since it started.
#[component]
fn SummaryTable(
    prefix: &'static str,
    heading: &'static str,
    lanes: &'static [Lane],
    sides: Memo<Option<Sides>>,
) -> impl IntoView {
    let row = move |lane: &Lane| {
        let name = lane.name;
        let summary = move || {
            sides.with(|s| {
                s.as_ref()
                    .and_then(|s| s.run(name))
                    .map(|side| side.summary.clone())
            })
        };
        view! {
            <tr class=lane.class>
                <th scope="row"><span class="legend-dot"></span>{lane.label}</th>
                <td>{move || format::percent(summary().and_then(|s| s.availability))}</td>
                <td data-testid=format!("{prefix}-lost-{name}")>
                    {move || summary().map_or(String::new(), |s| s.lost.to_string())}
                </td>
                <td>{move || summary().map_or(String::new(), |s| format!("{} s", s.outage_s))}</td>
                <td>
                    {move || {
                        summary()
                            .map(|s| match s.recover_s {
                                Some(r) => format!("{r:.0} s"),
                                None => "not yet".to_string(),
                            })
                            .unwrap_or_default()
                    }}
                </td>
            </tr>
        }
    };
    let since = move || {
        sides.with(|s| {
            s.as_ref().map_or(String::new(), |s| {
                format!(
                    "over {} side by side (outage: seconds under {})",
                    format::clock(s.t),
                    format::percent(Some(s.slo))
                )
            })
        })
    };
    view! {
        <div class="compare-table">
            <table data-testid=format!("{prefix}-summary")>
                <thead>
                    <tr>
                        <th>{heading}</th>
                        <th>"availability"</th>
                        <th>"lost"</th>
                        <th>"outage"</th>
                        <th title="Seconds from the first fault until availability stays at or above the objective">"recovery"</th>
                    </tr>
                </thead>
                <tbody>{lanes.iter().map(row).collect_view()}</tbody>
            </table>
            <p class="hint">{since}</p>
        </div>
    }
}
