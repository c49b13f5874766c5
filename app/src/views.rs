//! The screens beside the live graph: the routing comparison (three small graphs, their
//! availability overlaid, a summary table), the replay bar that scrubs a run second by
//! second, and the resilience report.

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use simulator::engine::RoutingTable;
use simulator::lockstep::CompareView;
use simulator::resilience::ResilienceReport;
use simulator::topology::RoutingMode;
use simulator::wire::{Health, RunInfo, Snapshot, Tick};

use crate::api;
use crate::app::{Live, Screen};
use crate::chrome::{Dialog, FilePicker};
use crate::format;
use crate::graph::{CANVAS_LINKS, CANVAS_SERVICES, canvas};

const MODES: [RoutingMode; 3] = [RoutingMode::Dns, RoutingMode::Lb, RoutingMode::Smart];

/// How often the compare view asks for the three runs.
const COMPARE_POLL: Duration = Duration::from_millis(500);
/// Seconds the overlaid chart shows.
const CHART_S: f64 = 120.0;

/// Live / Compare / Replay, in the top bar.
#[component]
pub fn ScreenSwitch() -> impl IntoView {
    let live = expect_context::<Live>();
    let button = move |screen: Screen, label: &'static str, test_id: &'static str, title| {
        view! {
            <button
                data-testid=test_id
                title=title
                class:active=move || live.screen.get() == screen
                // Comparing routing designs is the simulation's: a real system has one.
                class:hidden=move || screen == Screen::Compare && live.observed.get()
                aria-pressed=move || (live.screen.get() == screen).to_string()
                on:click=move |_| switch_to(live, screen)
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="screens" role="group" aria-label="View">
            {button(Screen::Live, "Live", "screen-live", "The live run")}
            {button(Screen::Compare, "Compare", "screen-compare", "The live topology under dns, lb and smart side by side")}
            {button(Screen::Replay, "Replay", "screen-replay", "Scrub back through this run, export it, or load another")}
        </div>
    }
}

/// Leaves the current screen for `screen`; leaving a replay shows the live run again.
fn switch_to(live: Live, screen: Screen) {
    let was = live.screen.get_untracked();
    if was == screen {
        return;
    }
    if was == Screen::Replay {
        let (snapshot, tick) = live.latest.get_value();
        if snapshot.is_some() {
            live.snapshot.set(snapshot);
        }
        if tick.is_some() {
            live.tick.set(tick);
        }
    }
    if screen == Screen::Replay {
        live.latest
            .set_value((live.snapshot.get_untracked(), live.tick.get_untracked()));
    }
    live.screen.set(screen);
}

/// The colour class of a routing mode in the compare view.
fn mode_class(mode: RoutingMode) -> &'static str {
    match mode {
        RoutingMode::Dns => "mode-dns",
        RoutingMode::Lb => "mode-lb",
        RoutingMode::Smart => "mode-smart",
    }
}

/// The routing comparison: opens it on the server if it is not open, follows it, and
/// closes it when the person leaves.
#[component]
pub fn CompareScreen() -> impl IntoView {
    let live = expect_context::<Live>();
    let compare = RwSignal::new(None::<CompareView>);
    let restart = move || {
        api::in_background(live, async move {
            let text = api::request("POST", "/api/compare", None).await?;
            compare.set(serde_json::from_str(&text).ok());
            Ok(())
        });
    };
    // Join a comparison already open (another viewer's), else open one.
    leptos::task::spawn_local(async move {
        match api::request("GET", "/api/compare", None).await {
            Ok(text) => compare.set(serde_json::from_str(&text).ok()),
            Err(_) => restart(),
        }
    });
    let poll = set_interval_with_handle(
        move || {
            leptos::task::spawn_local(async move {
                // Closed by someone else, or the server restarted: say so (None).
                let view = api::request("GET", "/api/compare", None)
                    .await
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok());
                compare.set(view);
            });
        },
        COMPARE_POLL,
    )
    .ok();
    on_cleanup(move || {
        if let Some(poll) = poll {
            poll.clear();
        }
        leptos::task::spawn_local(async move {
            // Nothing to do if it was closed already.
            let _ = api::send("DELETE", "/api/compare", None).await;
        });
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
                when=move || compare.with(Option::is_some)
                fallback=|| view! { <p class="empty">"Starting the comparison…"</p> }
            >
                <div class="compare-graphs">
                    {MODES.map(|mode| view! { <MiniGraph mode=mode compare=compare/> }).collect_view()}
                </div>
                <div class="compare-bottom">
                    <CompareChart compare=compare/>
                    <CompareTable compare=compare/>
                </div>
            </Show>
        </div>
    }
}

/// One routing mode's run as a small graph: each service a dot coloured by its health.
#[component]
fn MiniGraph(mode: RoutingMode, compare: RwSignal<Option<CompareView>>) -> impl IntoView {
    let live = expect_context::<Live>();
    let name = mode.name();
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
    let health = move |service: &str| {
        compare.with(|c| {
            c.as_ref()
                .and_then(|c| c.modes.get(&mode))
                .and_then(|m| m.health.get(service))
                .map_or("healthy", |h| h.as_str())
        })
    };
    let availability = move || {
        compare.with(|c| {
            c.as_ref()
                .and_then(|c| c.modes.get(&mode))
                .and_then(|m| m.availability)
        })
    };
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
            compare.with(|c| {
                let health = c
                    .as_ref()
                    .and_then(|c| c.modes.get(&mode))
                    .map(|m| &m.health);
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
                                            data-testid=format!("compare-node-{name}-{service}")
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
        <figure class=format!("mini {}", mode_class(mode)) data-testid=format!("compare-graph-{name}")>
            <figcaption>
                <span class="mode-name">{name}</span>
                <span class="value" data-level=move || crate::app::level(availability())>
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

/// The three runs' availability overlaid, second by second, with the first fault marked.
#[component]
fn CompareChart(compare: RwSignal<Option<CompareView>>) -> impl IntoView {
    const WIDTH: f64 = 600.0;
    const HEIGHT: f64 = 160.0;
    // Shown from `floor` (at most 90%, lower when a run fell lower) to 100%.
    let scale = Memo::new(move |_| {
        compare.with(|c| {
            let Some(c) = c else {
                return (0.0, 1.0, 0.9);
            };
            let end = c.t.max(1.0);
            let start = (end - CHART_S).max(0.0);
            let lowest = c
                .modes
                .values()
                .flat_map(|m| m.timeline.iter())
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
    let line = move |mode: RoutingMode| {
        compare.with(|c| {
            let (start, _, _) = scale.get();
            c.as_ref()
                .and_then(|c| c.modes.get(&mode))
                .map(|m| {
                    m.timeline
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
        compare
            .with(|c| c.as_ref().and_then(|c| c.first_fault_s))
            .filter(|t| *t >= scale.get().0)
            .map(x)
    };
    let slo_y = move || {
        compare
            .with(|c| c.as_ref().map_or(0.99, |c| c.slo))
            .max(scale.get().2)
    };
    view! {
        <figure class="compare-chart" data-testid="compare-chart">
            <figcaption>
                "Availability, each second"
                {MODES
                    .map(|m| view! { <span class=format!("legend {}", mode_class(m))>{m.name()}</span> })
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
                {MODES
                    .map(|m| {
                        view! {
                            <polyline
                                class=format!("compare-line {}", mode_class(m))
                                data-testid=format!("compare-line-{}", m.name())
                                points=move || line(m)
                            ></polyline>
                        }
                    })
                    .collect_view()}
            </svg>
        </figure>
    }
}

/// Requests lost, outage and recovery of each run since the comparison started.
#[component]
fn CompareTable(compare: RwSignal<Option<CompareView>>) -> impl IntoView {
    let row = move |mode: RoutingMode| {
        let summary = move || {
            compare.with(|c| {
                c.as_ref()
                    .and_then(|c| c.modes.get(&mode))
                    .map(|m| m.summary.clone())
            })
        };
        let name = mode.name();
        view! {
            <tr class=mode_class(mode)>
                <th scope="row"><span class="legend-dot"></span>{name}</th>
                <td>{move || format::percent(summary().and_then(|s| s.availability))}</td>
                <td data-testid=format!("compare-lost-{name}")>
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
        compare.with(|c| {
            c.as_ref().map_or(String::new(), |c| {
                format!(
                    "over {} compared (outage: seconds under {})",
                    format::clock(c.t),
                    format::percent(Some(c.slo))
                )
            })
        })
    };
    view! {
        <div class="compare-table">
            <table data-testid="compare-summary">
                <thead>
                    <tr>
                        <th>"routing"</th>
                        <th>"availability"</th>
                        <th>"lost"</th>
                        <th>"outage"</th>
                        <th title="Seconds from the first fault until availability stays at or above the objective">"recovery"</th>
                    </tr>
                </thead>
                <tbody>{MODES.map(row).collect_view()}</tbody>
            </table>
            <p class="hint">{since}</p>
        </div>
    }
}

/// Scrubs a run second by second: the live one (from its start, as far as the server keeps
/// frames) or one loaded from a recording file. The graph and panel show that second.
#[component]
pub fn ReplayBar() -> impl IntoView {
    let live = expect_context::<Live>();
    let run = RwSignal::new(None::<RunInfo>);
    let position = RwSignal::new(0_u64);
    let playing = RwSignal::new(false);
    let shown_epoch = StoredValue::new(None::<(String, usize)>);
    // The run the live view shows: the simulation's, or the observed system's frames.
    let live_id = move || {
        if live.observed.get_untracked() {
            "observed"
        } else {
            "live"
        }
    };
    let follows_live = move |id: &str| id == "live" || id == "observed";
    let refresh_live = move |jump_to_end: bool| {
        api::load(format!("/api/runs/{}", live_id()), move |info: RunInfo| {
            if jump_to_end || position.get_untracked() == 0 {
                position.set(info.last_s.unwrap_or(0));
            }
            run.set(Some(info));
        });
    };
    refresh_live(true);
    // The live run grows while it is scrubbed: its range follows (asked for without the
    // drawings, which change only with a control that changes the topology or its layout).
    let refresh = set_interval_with_handle(
        move || {
            let Some((id, controls)) = run.with_untracked(|r| {
                r.as_ref()
                    .filter(|r| follows_live(&r.id))
                    .map(|r| (r.id.clone(), r.controls))
            }) else {
                return;
            };
            api::load(
                format!("/api/runs/{id}?epochs=false"),
                move |brief: RunInfo| {
                    if brief.controls != controls {
                        refresh_live(false);
                        return;
                    }
                    run.update(|r| {
                        if let Some(r) = r {
                            (r.first_s, r.last_s, r.duration_s) =
                                (brief.first_s, brief.last_s, brief.duration_s);
                        }
                    });
                },
            );
        },
        Duration::from_secs(2),
    )
    .ok();
    let player = set_interval_with_handle(
        move || {
            if !playing.get_untracked() {
                return;
            }
            let last = run.with_untracked(|r| r.as_ref().and_then(|r| r.last_s).unwrap_or(0));
            if position.get_untracked() >= last {
                playing.set(false);
            } else {
                position.update(|p| *p += 1);
            }
        },
        Duration::from_millis(250),
    )
    .ok();
    on_cleanup(move || {
        for handle in [refresh, player].into_iter().flatten() {
            handle.clear();
        }
    });
    // Show the chosen second: its frame, on the topology in force then.
    Effect::new(move |_| {
        let t = position.get();
        let Some((id, snapshot)) = run.with(|r| {
            r.as_ref().map(|r| {
                let epoch = r
                    .epochs
                    .iter()
                    .rposition(|e| e.from_s <= t as f64)
                    .unwrap_or(0);
                (r.id.clone(), (epoch, r.epochs.get(epoch).cloned()))
            })
        }) else {
            return;
        };
        if t == 0 {
            return;
        }
        leptos::task::spawn_local(async move {
            let url = format!("/api/runs/{id}/frames/{t}");
            let frame = match api::request("GET", &url, None).await {
                Ok(text) => serde_json::from_str::<Tick>(&text).map_err(|e| e.to_string()),
                Err(err) => Err(err),
            };
            let frame = match frame {
                Ok(frame) => frame,
                Err(err) => {
                    live.notice.set(Some(format!("second {t}: {err}")));
                    return;
                }
            };
            if live.screen.get_untracked() != Screen::Replay {
                return;
            }
            let (epoch, drawn) = snapshot;
            let key = (id.clone(), epoch);
            if shown_epoch.with_value(|shown| shown.as_ref() != Some(&key))
                && let Some(drawn) = drawn
            {
                shown_epoch.set_value(Some(key));
                live.snapshot.set(Some(Snapshot {
                    topology: drawn.topology,
                    positions: drawn.positions,
                    analysis: drawn.analysis,
                    state: frame.clone(),
                    observed: id == "observed",
                }));
            }
            live.tick.set(Some(frame));
        });
    });
    let load = move |event: web_sys::Event| {
        let Some(file) = api::chosen_file(&event) else {
            return;
        };
        let name = file.name();
        api::in_background(live, async move {
            let text = api::file_text(&file).await?;
            let answer = api::request("POST", "/api/runs", Some(text))
                .await
                .map_err(|err| format!("{name} was not loaded: {err}"))?;
            let info: RunInfo =
                serde_json::from_str(&answer).map_err(|err| format!("bad answer: {err}"))?;
            playing.set(false);
            position.set(info.first_s.unwrap_or(0));
            run.set(Some(info));
            Ok(())
        });
    };
    let first = move || run.with(|r| r.as_ref().and_then(|r| r.first_s).unwrap_or(0));
    let last = move || run.with(|r| r.as_ref().and_then(|r| r.last_s).unwrap_or(0));
    let label = move || {
        run.with(|r| {
            r.as_ref().map_or("Loading the run…".to_string(), |r| {
                let which = if r.id == "observed" {
                    return "the observed system, second by second".to_string();
                } else if r.id == "live" {
                    "this run".to_string()
                } else {
                    format!("loaded run {}", r.id)
                };
                format!("{which} · seed {} · {} controls", r.seed, r.controls)
            })
        })
    };
    // A real system's run has frames, but no recording to replay.
    let export = move || {
        run.with(|r| {
            r.as_ref()
                .filter(|r| r.id != "observed")
                .map(|r| format!("/api/runs/{}/recording?download=true", r.id))
        })
    };
    view! {
        <div class="replay-bar" data-testid="replay-bar">
            <button
                data-testid="replay-play"
                title="Play the run from here, four seconds a second"
                on:click=move |_| {
                    if position.get_untracked() >= last() {
                        position.set(first());
                    }
                    playing.update(|p| *p = !*p);
                }
            >
                {move || if playing.get() { "❚❚" } else { "▶" }}
            </button>
            <input
                type="range"
                data-testid="replay-scrub"
                aria-label="Simulated second shown"
                min=first
                max=last
                prop:value=move || position.get().to_string()
                on:input=move |event| {
                    playing.set(false);
                    if let Ok(t) = event_target_value(&event).parse() {
                        position.set(t);
                    }
                }
            />
            <span class="replay-time" data-testid="replay-time">
                {move || format!("t = {} of {}", format::clock(position.get() as f64), format::clock(last() as f64))}
            </span>
            <span class="hint replay-run">{label}</span>
            <a
                class="button"
                data-testid="replay-export"
                class:hidden=move || export().is_none()
                title="Save this run to replay it exactly elsewhere"
                href=move || export().unwrap_or_default()
            >
                "Export run"
            </a>
            <FilePicker
                label="Load run…"
                title="Load a run someone exported, and scrub through it here"
                test_id="replay-load"
                input_test_id="replay-file"
                accept=".json,application/json"
                chosen=load
            />
            <button data-testid="replay-exit" on:click=move |_| switch_to(live, Screen::Live)>
                "Back to live"
            </button>
        </div>
    }
}

/// The resilience report of the live topology, in an overlay, with a Markdown download.
#[component]
pub fn ReportButton() -> impl IntoView {
    let open = RwSignal::new(false);
    let report = RwSignal::new(None::<Result<ResilienceReport, String>>);
    let show = move || {
        open.set(true);
        report.set(None);
        leptos::task::spawn_local(async move {
            let answer = api::request("GET", "/api/report", None)
                .await
                .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()));
            report.set(Some(answer));
        });
    };
    view! {
        <button
            class="small"
            data-testid="open-report"
            title="Single points of failure, worst blast radius, routing under the worst kill"
            on:click=move |_| show()
        >
            "Report"
        </button>
        <Dialog
            open=open
            title="Resilience report"
            class="report"
            test_id="report"
            header=|| view! {
                <a class="button small" data-testid="report-markdown" href="/api/report?format=markdown&download=true">
                    "Download Markdown"
                </a>
            }
        >
            {move || match report.get() {
                None => view! { <p class="empty">"Simulating the worst kills under each routing mode…"</p> }.into_any(),
                Some(Err(err)) => view! { <p class="error">{err}</p> }.into_any(),
                Some(Ok(report)) => view! { <ReportBody report=report/> }.into_any(),
            }}
        </Dialog>
    }
}

#[component]
fn ReportBody(report: ResilienceReport) -> impl IntoView {
    let percent = |share: f64| format::percent(Some(share));
    let spof = if report.spof.is_empty() {
        "None: no single service's loss takes an entry point down.".to_string()
    } else {
        report.spof.join(", ")
    };
    let kill = report.worst_kill.clone();
    let entries = report.entries.len();
    view! {
        <p class="hint">
            {format!(
                "{}: {} services, {} dependencies, routing {}, entry points {}.",
                report.topology,
                report.services,
                report.dependencies,
                report.routing_mode.name(),
                report.entries.join(", ")
            )}
        </p>
        <h3>"Single points of failure"</h3>
        <p data-testid="report-spof">{spof}</p>
        <h3>"Worst blast radius"</h3>
        <table class="report-table" data-testid="report-ranking">
            <thead>
                <tr><th>"service killed"</th><th>"worst-hit entry"</th><th>"still succeeding"</th><th>"entries hit"</th></tr>
            </thead>
            <tbody>
                {report
                    .ranking
                    .into_iter()
                    .map(|r| view! {
                        <tr>
                            <td>{r.service}</td>
                            <td>{r.entry}</td>
                            <td data-level=crate::app::level(Some(r.share))>{percent(r.share)}</td>
                            <td>{format!("{} of {entries}", r.entries_hit)}</td>
                        </tr>
                    })
                    .collect_view()}
            </tbody>
        </table>
        <h3>"Routing under the worst single kill"</h3>
        {match kill {
            None => view! { <p>"Nothing to compare: no single kill hurts."</p> }.into_any(),
            Some(kill) => {
                let rows: BTreeMap<_, _> = kill.summary.clone();
                view! {
                    <p class="hint">
                        {format!(
                            "{}: one instance killed for good at {} s of a {} s run, same seed under each mode.",
                            kill.fault, kill.at_s, kill.run_s
                        )}
                    </p>
                    <table class="report-table" data-testid="report-kill">
                        <thead>
                            <tr><th>"routing"</th><th>"availability"</th><th>"lost"</th><th>"outage"</th><th>"recovered after"</th></tr>
                        </thead>
                        <tbody>
                            {rows
                                .into_iter()
                                .map(|(mode, s)| view! {
                                    <tr class=mode_class(mode)>
                                        <th scope="row"><span class="legend-dot"></span>{mode.name()}</th>
                                        <td>{format::percent(s.availability)}</td>
                                        <td>{s.lost}</td>
                                        <td>{format!("{} s", s.outage_s)}</td>
                                        <td>{s.recover_s.map_or("never (in this run)".to_string(), |r| format!("{r} s"))}</td>
                                    </tr>
                                })
                                .collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }
        }}
    }
}

/// Rows of a routing table shown before "… and N more".
const TABLE_ROWS: usize = 12;

/// The selected service's routing tables: which instances each client would call now, the
/// stale entries marked. Refreshed every second while a service is selected.
#[component]
pub fn RoutingTableCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let table = RwSignal::new(None::<RoutingTable>);
    let fetch = move || {
        let Some(service) = live.selected.get_untracked() else {
            table.set(None);
            return;
        };
        // The simulation's routing tables say nothing of a real system's.
        if live.screen.get_untracked() == Screen::Replay
            || live.observed.get_untracked()
            || simulator::engine::COMPONENTS.contains(&service.as_str())
        {
            table.set(None);
            return;
        }
        leptos::task::spawn_local(async move {
            let url = format!("/api/routing/{service}");
            let fresh = api::request("GET", &url, None)
                .await
                .ok()
                .and_then(|text| serde_json::from_str::<RoutingTable>(&text).ok());
            // A later selection may have answered first.
            if live.selected.get_untracked().as_deref() == Some(service.as_str()) {
                table.set(fresh);
            }
        });
    };
    Effect::new(move |_| {
        live.selected.track();
        live.screen.track();
        live.observed.track();
        fetch();
    });
    let poll = set_interval_with_handle(fetch, Duration::from_secs(1)).ok();
    on_cleanup(move || {
        if let Some(poll) = poll {
            poll.clear();
        }
    });
    let rows = move || {
        table.with(|t| {
            t.as_ref()
                .map(|t| t.views.iter().take(TABLE_ROWS).cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    };
    let more = move || {
        table.with(|t| {
            t.as_ref()
                .map_or(0, |t| t.views.len().saturating_sub(TABLE_ROWS))
        })
    };
    let replicas = move || table.with(|t| t.as_ref().map_or(0, |t| t.instances.len()));
    let stale_count = move || {
        table.with(|t| {
            t.as_ref().map_or(0, |t| {
                t.views
                    .iter()
                    .filter(|v| v.stale.iter().any(|s| *s))
                    .count()
            })
        })
    };
    let mode = move || table.with(|t| t.as_ref().map(|t| t.mode.name()).unwrap_or_default());
    view! {
        <section class="panel-card routing-card" data-testid="routing-table" class:hidden=move || table.with(Option::is_none)>
            <h3>"Routing table"</h3>
            <p class="hint">
                {move || {
                    let stale = stale_count();
                    let what = match mode() {
                        "dns" => "Each caller's cached DNS answer",
                        "lb" => "The load balancer's health-checked set",
                        _ => "Each caller's table from the registry, minus its ejections",
                    };
                    if stale == 0 {
                        format!("{what}; every table is right")
                    } else {
                        format!("{what}; {stale} still wrong about an instance (marked)")
                    }
                }}
            </p>
            <table class="routing">
                <thead>
                    <tr>
                        <th>"client"</th>
                        {move || {
                            table.with(|t| {
                                t.as_ref()
                                    .map(|t| {
                                        t.instances
                                            .iter()
                                            .enumerate()
                                            .map(|(i, state)| {
                                                view! { <th class=format!("instance-head {state}") title=format!("#{} is {state}", i + 1)>{format!("#{}", i + 1)}</th> }
                                            })
                                            .collect_view()
                                    })
                            })
                        }}
                    </tr>
                </thead>
                <tbody>
                    <For each=rows key=|v| (v.client.clone(), v.listed.clone(), v.ejected.clone(), v.stale.clone(), v.source.clone()) let:row>
                        <tr title=row.source.clone()>
                            <th scope="row">{row.client.clone()}</th>
                            {(0..replicas())
                                .map(|i| {
                                    let (listed, ejected, stale) = (
                                        row.listed.get(i).copied().unwrap_or(false),
                                        row.ejected.get(i).copied().unwrap_or(false),
                                        row.stale.get(i).copied().unwrap_or(false),
                                    );
                                    let (mark, what) = match (listed, ejected) {
                                        (true, false) => ("●", "listed"),
                                        (true, true) => ("⊘", "ejected by this client"),
                                        (false, _) => ("·", "not listed"),
                                    };
                                    view! {
                                        <td
                                            class:stale=stale
                                            data-testid=stale.then_some("stale-entry")
                                            title=if stale { format!("{what} — stale: wrong about #{}", i + 1) } else { what.to_string() }
                                        >
                                            {mark}
                                        </td>
                                    }
                                })
                                .collect_view()}
                        </tr>
                    </For>
                </tbody>
            </table>
            <p class="hint" class:hidden=move || more() == 0>{move || format!("… and {} more clients", more())}</p>
        </section>
    }
}
