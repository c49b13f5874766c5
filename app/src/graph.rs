//! The live topology graph, drawn in SVG: services as cards coloured by health with their
//! instances as dots, dependencies as curves whose width follows traffic and whose colour
//! follows errors. A click on a service selects it.

use std::collections::BTreeMap;

use leptos::prelude::*;
use simulator::topology::RoutingMode;
use simulator::wire::{Health, LinkFigures, ServiceFigures};

use crate::app::Live;
use crate::format;

/// Size of a service card, in layout units.
const NODE_WIDTH: f64 = 160.0;
const NODE_HEIGHT: f64 = 60.0;
/// Instance dots drawn on a card at most; more are summarised as `+N`.
const MAX_DOTS: usize = 8;

#[derive(Clone, PartialEq)]
struct NodeView {
    name: String,
    x: f64,
    y: f64,
    entry: bool,
}

#[derive(Clone, PartialEq)]
struct EdgeView {
    from: String,
    to: String,
    path: String,
    required: bool,
}

/// The routing component calls depend on in `mode`, and what to call it on screen.
pub fn component_of(mode: RoutingMode) -> (&'static str, &'static str) {
    match mode {
        RoutingMode::Dns => ("dns", "DNS server"),
        RoutingMode::Lb => ("lb", "load balancer"),
        RoutingMode::Smart => ("registry", "service registry"),
    }
}

/// How a routing component's state (`up`, `down`, `hung`) is drawn.
pub fn component_health(state: &str) -> Health {
    match state {
        "up" => Health::Healthy,
        "hung" => Health::Degraded,
        _ => Health::Down,
    }
}

/// Where the routing component sits: above the first column.
fn component_position(positions: &BTreeMap<String, [f64; 2]>) -> [f64; 2] {
    let min_x = positions.values().map(|p| p[0]).fold(f64::MAX, f64::min);
    let min_y = positions.values().map(|p| p[1]).fold(f64::MAX, f64::min);
    [min_x, min_y - NODE_HEIGHT - 50.0]
}

/// The topology as a live graph, fitted to the space it has.
#[component]
pub fn Graph() -> impl IntoView {
    let live = expect_context::<Live>();
    let nodes = move || {
        live.snapshot.with(|s| {
            let Some(s) = s else { return Vec::new() };
            s.topology
                .services
                .iter()
                .map(|service| {
                    let [x, y] = s.positions.get(&service.name).copied().unwrap_or_default();
                    NodeView {
                        name: service.name.clone(),
                        x,
                        y,
                        entry: service.is_entry(),
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    let edges = move || {
        live.snapshot.with(|s| {
            let Some(s) = s else { return Vec::new() };
            s.topology
                .dependencies
                .iter()
                .filter_map(|dep| {
                    let from = s.positions.get(&dep.from)?;
                    let to = s.positions.get(&dep.to)?;
                    Some(EdgeView {
                        from: dep.from.clone(),
                        to: dep.to.clone(),
                        path: curve(*from, *to),
                        required: dep.required,
                    })
                })
                .collect::<Vec<_>>()
        })
    };
    let mode = Memo::new(move |_| {
        live.tick
            .with(|t| t.as_ref().map_or(RoutingMode::Smart, |t| t.routing_mode))
    });
    let component = move || {
        let (name, label) = component_of(mode.get());
        let position = live
            .snapshot
            .with(|s| s.as_ref().map(|s| component_position(&s.positions)))?;
        Some((name, label, position))
    };
    let view_box = move || {
        live.snapshot.with(|s| match s {
            Some(s) => {
                let mut positions = s.positions.clone();
                positions.insert(String::new(), component_position(&s.positions));
                fit(&positions)
            }
            None => "0 0 100 100".to_string(),
        })
    };
    view! {
        <Show
            when=move || live.snapshot.with(Option::is_some)
            fallback=|| view! { <div class="empty">"Connecting to the simulation…"</div> }
        >
            <svg
                data-testid="graph"
                class="graph"
                viewBox=view_box
                on:click=move |_| {
                    live.selected.set(None);
                    live.selected_edge.set(None);
                }
            >
                <defs>
                    <marker
                        id="arrow"
                        viewBox="0 0 10 10"
                        refX="9"
                        refY="5"
                        markerUnits="userSpaceOnUse"
                        markerWidth="9"
                        markerHeight="9"
                        orient="auto-start-reverse"
                    >
                        <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead"></path>
                    </marker>
                </defs>
                <g class="edges">
                    <For
                        each=edges
                        key=|edge| (edge.from.clone(), edge.to.clone(), edge.path.clone())
                        let:edge
                    >
                        <Edge edge=edge/>
                    </For>
                </g>
                <g class="components">
                    {move || {
                        component()
                            .map(|(name, label, [x, y])| {
                                view! { <Component name=name label=label x=x y=y/> }
                            })
                    }}
                </g>
                <g class="nodes">
                    <For
                        each=nodes
                        key=|node| (node.name.clone(), node.x.to_bits(), node.y.to_bits())
                        let:node
                    >
                        <Node node=node/>
                    </For>
                </g>
            </svg>
        </Show>
    }
}

/// One dependency: a curve from the caller's right side to the callee's left side.
#[component]
fn Edge(edge: EdgeView) -> impl IntoView {
    let live = expect_context::<Live>();
    let EdgeView {
        from,
        to,
        path,
        required,
    } = edge;
    let testid = format!("edge-{from}-{to}");
    let key = (from.clone(), to.clone());
    let selected = {
        let key = key.clone();
        move || live.selected_edge.with(|s| s.as_ref() == Some(&key))
    };
    let figures = Memo::new(move |_| -> Option<LinkFigures> {
        live.tick.with(|t| t.as_ref()?.link(&from, &to).cloned())
    });
    let width = move || {
        let rps = figures.get().map_or(0.0, |f| f.rps);
        format!("{:.2}", 1.0 + (1.0 + rps / 10.0).log2())
    };
    let state = move || match figures.get() {
        Some(f) if f.error_rate.unwrap_or(0.0) > 0.05 => "failing",
        Some(f) if f.error_rate.unwrap_or(0.0) > 0.0 => "erring",
        Some(f) if f.rps > 0.0 => "flowing",
        _ => "idle",
    };
    let title = move || match figures.get() {
        Some(f) => format!(
            "{} → {}: {} calls, {} failing",
            f.from,
            f.to,
            format::rate(f.rps),
            format::percent(f.error_rate)
        ),
        None => String::new(),
    };
    view! {
        <g
            class="edge"
            data-testid=testid
            data-state=state
            class:optional=!required
            class:selected=selected
            class:cut=move || figures.get().is_some_and(|f| f.partitioned)
            class:open=move || {
                figures
                    .get()
                    .is_some_and(|f| {
                        f.breaker.is_some_and(|b| b != simulator::engine::BreakerState::Closed)
                    })
            }
            on:click=move |event| {
                event.stop_propagation();
                live.selected.set(None);
                live.selected_edge.set(Some(key.clone()));
            }
        >
            <title>{title}</title>
            <path class="edge-hit" d=path.clone()></path>
            <path class="edge-line" d=path.clone() stroke-width=width marker-end="url(#arrow)"></path>
            <path class="edge-flow" d=path stroke-width=width></path>
        </g>
    }
}

/// The routing component of the current mode (`dns`, `lb` or `registry`): every call
/// depends on it, so it can be selected and killed like a service.
#[component]
fn Component(name: &'static str, label: &'static str, x: f64, y: f64) -> impl IntoView {
    let live = expect_context::<Live>();
    let state = move || {
        live.tick.with(|t| {
            t.as_ref()
                .and_then(|t| t.components.get(name).cloned())
                .unwrap_or_else(|| "up".to_string())
        })
    };
    let selected = move || live.selected.with(|s| s.as_deref() == Some(name));
    let (left, top) = (-NODE_WIDTH / 2.0, -NODE_HEIGHT / 2.0);
    view! {
        <g
            class="node component"
            class:selected=selected
            data-testid=format!("node-{name}")
            data-health=move || component_health(&state()).as_str()
            transform=format!("translate({x},{y})")
            on:click=move |event| {
                event.stop_propagation();
                live.selected_edge.set(None);
                live.selected.set(Some(name.to_string()));
            }
        >
            <title>{format!("{label}: every call depends on it in this routing mode")}</title>
            <rect class="card" x=left y=top width=NODE_WIDTH height=NODE_HEIGHT rx="28"></rect>
            <text class="node-name" x=left + 18.0 y=top + 23.0>
                {name}
            </text>
            <text class="node-figures" x=left + 18.0 y=top + 44.0>
                {move || format!("{label} · {}", state())}
            </text>
            <text class="spof-tag" x=NODE_WIDTH / 2.0 - 10.0 y=top - 6.0 text-anchor="end">
                {move || {
                    live.analysis
                        .with(|a| a.as_ref().is_some_and(|a| a.spof.iter().any(|s| s == name)))
                        .then_some("single point of failure")
                }}
            </text>
        </g>
    }
}

/// One service: name, live figures, instance dots; coloured by health.
#[component]
fn Node(node: NodeView) -> impl IntoView {
    let live = expect_context::<Live>();
    let NodeView { name, x, y, entry } = node;
    let key = name.clone();
    let figures = Memo::new(move |_| -> Option<ServiceFigures> {
        live.tick
            .with(|t| t.as_ref().and_then(|t| t.services.get(&key).cloned()))
    });
    let health = move || figures.get().map_or(Health::Healthy, |f| f.health).as_str();
    let line = move || match figures.get() {
        Some(f) if f.up == 0 => "no instance up".to_string(),
        Some(f) => format!("{} · p99 {}", format::rate(f.rps), format::millis(f.p99_ms)),
        None => String::new(),
    };
    let dots = move || {
        let Some(f) = figures.get() else {
            return Vec::new();
        };
        f.instances_up
            .iter()
            .take(MAX_DOTS)
            .enumerate()
            .map(|(i, up)| (i, *up))
            .collect::<Vec<_>>()
    };
    let more = move || {
        figures.get().and_then(|f| {
            (f.instances_up.len() > MAX_DOTS)
                .then(|| format!("+{}", f.instances_up.len() - MAX_DOTS))
        })
    };
    let selected_name = name.clone();
    let selected = move || {
        live.selected
            .with(|s| s.as_deref() == Some(selected_name.as_str()))
    };
    let spof_name = name.clone();
    let spof = Memo::new(move |_| {
        live.analysis
            .with(|a| a.as_ref().is_some_and(|a| a.spof.contains(&spof_name)))
    });
    let click_name = name.clone();
    let (left, top) = (-NODE_WIDTH / 2.0, -NODE_HEIGHT / 2.0);
    view! {
        <g
            class="node"
            class:selected=selected
            class:entry=entry
            class:spof=move || spof.get()
            data-testid=format!("node-{name}")
            data-health=health
            transform=format!("translate({x},{y})")
            on:click=move |event| {
                event.stop_propagation();
                live.selected_edge.set(None);
                live.selected.set(Some(click_name.clone()));
            }
        >
            {entry
                .then(|| {
                    view! {
                        <path
                            class="ingress"
                            d=format!("M {} 0 L {} 0", left - 48.0, left - 4.0)
                            marker-end="url(#arrow)"
                        ></path>
                    }
                })}
            <rect
                class="card"
                x=left
                y=top
                width=NODE_WIDTH
                height=NODE_HEIGHT
                rx="10"
            ></rect>
            <rect class="health-bar" x=left y=top width="5" height=NODE_HEIGHT rx="2"></rect>
            <text class="node-name" x=left + 14.0 y=top + 23.0>
                {name.clone()}
            </text>
            <text class="node-figures" x=left + 14.0 y=top + 44.0>
                {line}
            </text>
            <text class="spof-tag" x=NODE_WIDTH / 2.0 - 10.0 y=top - 6.0 text-anchor="end">
                {move || spof.get().then_some("single point of failure")}
            </text>
            <g class="instances">
                <For each=dots key=|dot| *dot let:dot>
                    <circle
                        class=if dot.1 { "instance up" } else { "instance down" }
                        cx=NODE_WIDTH / 2.0 - 12.0 - dot.0 as f64 * 10.0
                        cy=top + 18.0
                        r="3.5"
                    ></circle>
                </For>
                <text class="more" x=NODE_WIDTH / 2.0 - 10.0 y=top + 44.0 text-anchor="end">
                    {more}
                </text>
            </g>
        </g>
    }
}

/// A cubic curve from the caller's card at `from` to the callee's card at `to`: right side to
/// left side when the callee is further right; an arc out of the right sides between cards
/// of one column; and a loop under the cards for calls back to the left (rings, cycles).
fn curve(from: [f64; 2], to: [f64; 2]) -> String {
    let right = NODE_WIDTH / 2.0;
    let (x1, y1) = (from[0] + right, from[1]);
    if to[0] > from[0] + NODE_WIDTH {
        let (x2, y2) = (to[0] - right - 2.0, to[1]);
        let bend = ((x2 - x1) / 2.0).max(40.0);
        return format!(
            "M {x1:.1} {y1:.1} C {:.1} {y1:.1}, {:.1} {y2:.1}, {x2:.1} {y2:.1}",
            x1 + bend,
            x2 - bend
        );
    }
    if (to[0] - from[0]).abs() < 1.0 {
        let (x2, y2) = (to[0] + right + 2.0, to[1]);
        let out = x1.max(x2) + 40.0 + (y2 - y1).abs() * 0.15;
        return format!("M {x1:.1} {y1:.1} C {out:.1} {y1:.1}, {out:.1} {y2:.1}, {x2:.1} {y2:.1}");
    }
    let (x2, y2) = (to[0] - right - 2.0, to[1]);
    let drop = NODE_HEIGHT + 30.0 + (x1 - x2).abs() * 0.08;
    let low = y1.max(y2) + drop;
    format!(
        "M {x1:.1} {y1:.1} C {:.1} {low:.1}, {:.1} {low:.1}, {x2:.1} {y2:.1}",
        x1 + 80.0,
        x2 - 80.0
    )
}

/// A viewBox that holds every card with a margin (room for ingress arrows on the left).
fn fit(positions: &BTreeMap<String, [f64; 2]>) -> String {
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for [x, y] in positions.values() {
        min_x = min_x.min(*x);
        min_y = min_y.min(*y);
        max_x = max_x.max(*x);
        max_y = max_y.max(*y);
    }
    if positions.is_empty() {
        return "0 0 100 100".to_string();
    }
    let margin = 30.0;
    let left = min_x - NODE_WIDTH / 2.0 - 60.0 - margin;
    let top = min_y - NODE_HEIGHT / 2.0 - margin;
    // Room on the right for arcs between cards of the last column.
    let width = max_x - min_x + NODE_WIDTH + 60.0 + 80.0 + 2.0 * margin;
    // Room below for loops of calls back to the left.
    let height = max_y - min_y + NODE_HEIGHT + 2.0 * margin + 60.0;
    format!("{left:.0} {top:.0} {width:.0} {height:.0}")
}
