//! The live topology graph: services as cards coloured by health with their instances as
//! dots, dependencies as curves whose width follows traffic and whose colour follows errors.
//! A click on a service selects it. Drawn in SVG (one element per service and link, with the
//! SPEC's test ids) up to [`CANVAS_SERVICES`] services and [`CANVAS_LINKS`] links; larger
//! topologies go to the canvas renderer in [`canvas`], behind the same camera, gestures,
//! search and selection.

pub mod canvas;

use std::collections::{BTreeMap, HashMap};

use leptos::prelude::*;
use simulator::analysis::Analysis;
use simulator::topology::RoutingMode;
use simulator::wire::{Health, LinkFigures, ServiceFigures};

use crate::api;
use crate::app::Live;
use crate::editor;
use crate::format;

/// Size of a service card, in layout units.
const NODE_WIDTH: f64 = 160.0;
const NODE_HEIGHT: f64 = 60.0;
/// Instance dots drawn on a card at most; more are summarised as `+N`.
const MAX_DOTS: usize = 8;

/// Positions of every service, by name, in layout units.
type Positions = BTreeMap<String, [f64; 2]>;

/// The spot nearest `at`, on a grid a card and a margin apart, where a new card covers no
/// card at `taken`: a service added at the middle of the view must not hide one there.
fn free_spot(at: [f64; 2], taken: impl Iterator<Item = [f64; 2]> + Clone) -> [f64; 2] {
    const MARGIN: f64 = 20.0;
    let (step_x, step_y) = (NODE_WIDTH + MARGIN, NODE_HEIGHT + MARGIN);
    let free = |[x, y]: [f64; 2]| {
        taken
            .clone()
            .all(|[tx, ty]| (tx - x).abs() >= step_x || (ty - y).abs() >= step_y)
    };
    // Rings of grid spots around `at`, nearest first within each ring.
    for ring in 0..=20i32 {
        let mut spots: Vec<[f64; 2]> = (-ring..=ring)
            .flat_map(|i| (-ring..=ring).map(move |j| (i, j)))
            .filter(|(i, j)| i.abs().max(j.abs()) == ring)
            .map(|(i, j)| [at[0] + f64::from(i) * step_x, at[1] + f64::from(j) * step_y])
            .collect();
        spots.sort_by(|a, b| {
            let distance = |p: &[f64; 2]| (p[0] - at[0]).hypot(p[1] - at[1]);
            distance(a).total_cmp(&distance(b))
        });
        if let Some(spot) = spots.into_iter().find(|&spot| free(spot)) {
            return spot;
        }
    }
    at
}

#[derive(Clone, PartialEq)]
struct NodeView {
    name: String,
    entry: bool,
    /// An observed callee that sends no spans of its own (a database, an outside API).
    is_virtual: bool,
}

#[derive(Clone, PartialEq)]
struct EdgeView {
    from: String,
    to: String,
    required: bool,
}

/// What the pointer is doing on the graph.
#[derive(Clone, Copy)]
enum Gesture {
    /// Dragging the background: the view moves.
    Pan { from: (f64, f64), view: [f64; 4] },
    /// Dragging from a card's handle: a new link from it to the card it is dropped on.
    Connect,
    /// Dragging a service: it moves, and is pinned where it is dropped.
    Drag {
        from: (f64, f64),
        start: [f64; 2],
        moved: bool,
    },
}

/// Above this many services, or links, the graph is painted on a canvas rather than built
/// in SVG: at 500 services the SVG view manages about 17 frames per second, at 2,000 about 2.
pub const CANVAS_SERVICES: usize = 300;
pub const CANVAS_LINKS: usize = 1500;

/// Above this many links the flow animation stops: animating thousands of dashed SVG
/// paths costs more frames than it is worth.
const LARGE_EDGES: usize = 400;
/// Above this many links the flow moves in 20 steps a cycle instead of every frame: each
/// step repaints the graph, and at 100 services (197 links) smooth flows took headless
/// Chromium from ~57 to 24–34 frames a second, stepped ones to ~50.
const BUSY_EDGES: usize = 100;

/// Zoom step of the buttons (and per 100 wheel units).
const ZOOM_STEP: f64 = 1.25;
/// Pointer travel, in pixels, that makes a press a drag rather than a click.
const DRAG_THRESHOLD_PX: f64 = 4.0;

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
fn component_position<'a>(positions: impl IntoIterator<Item = &'a [f64; 2]>) -> [f64; 2] {
    let (min_x, min_y) = positions
        .into_iter()
        .fold((f64::MAX, f64::MAX), |(x, y), p| (x.min(p[0]), y.min(p[1])));
    [min_x, min_y - NODE_HEIGHT - 50.0]
}

/// The topology as a live graph: fitted to the space it has until a person zooms (wheel,
/// buttons) or pans (drags the background); dragging a service pins it where it is dropped.
#[component]
pub fn Graph() -> impl IntoView {
    let live = expect_context::<Live>();
    let edits = expect_context::<editor::Edits>();
    // The part of the plane on screen once a person zoomed or panned; `None`: fit it all.
    let camera = RwSignal::new(None::<[f64; 4]>);
    // Services being dragged, where they are now (until the server's snapshot has them).
    let dragged = RwSignal::new(Positions::new());
    let gesture = StoredValue::new(None::<(String, Gesture)>);
    // A pan ends in a click on the background, which must not clear the selection.
    let swallow_click = StoredValue::new(false);
    let svg_ref = NodeRef::<leptos::svg::Svg>::new();
    let canvas_ref = NodeRef::<leptos::html::Canvas>::new();
    let use_canvas = Memo::new(move |_| {
        live.snapshot.with(|s| {
            s.as_ref().is_some_and(|s| {
                s.topology.services.len() > CANVAS_SERVICES
                    || s.topology.dependencies.len() > CANVAS_LINKS
            })
        })
    });
    // The element the graph is drawn on, whichever renderer is in use.
    let surface = move || -> Option<web_sys::Element> {
        if use_canvas.get_untracked() {
            canvas_ref.get_untracked().map(web_sys::Element::from)
        } else {
            svg_ref.get_untracked().map(web_sys::Element::from)
        }
    };
    Effect::new(move |_| {
        live.snapshot.track();
        dragged.set(Positions::new());
    });
    let positions = Memo::new(move |_| {
        let mut positions = live
            .snapshot
            .with(|s| s.as_ref().map(|s| s.positions.clone()).unwrap_or_default());
        dragged.with(|d| positions.extend(d.iter().map(|(k, v)| (k.clone(), *v))));
        positions
    });
    let nodes = move || {
        live.snapshot.with(|s| {
            let Some(s) = s else { return Vec::new() };
            s.topology
                .services
                .iter()
                .map(|service| NodeView {
                    name: service.name.clone(),
                    entry: service.is_entry(),
                    is_virtual: service.is_virtual,
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
                .map(|dep| EdgeView {
                    from: dep.from.clone(),
                    to: dep.to.clone(),
                    required: dep.required,
                })
                .collect::<Vec<_>>()
        })
    };
    // Each link's figures by `(from, to)`, indexed once per tick rather than searched by
    // every edge (quadratic in the number of links).
    let links = Memo::new(move |_| {
        live.tick.with(|t| {
            t.as_ref()
                .map(|t| {
                    t.links
                        .iter()
                        .map(|l| ((l.from.clone(), l.to.clone()), l.clone()))
                        .collect::<HashMap<_, _>>()
                })
                .unwrap_or_default()
        })
    });
    let link_count = move || {
        live.snapshot
            .with(|s| s.as_ref().map_or(0, |s| s.topology.dependencies.len()))
    };
    let large = move || link_count() > LARGE_EDGES;
    let busy = move || link_count() > BUSY_EDGES;
    let mode = Memo::new(move |_| {
        live.tick
            .with(|t| t.as_ref().map_or(RoutingMode::Smart, |t| t.routing_mode))
    });
    let component = move || {
        // A real system has no simulated routing component to draw.
        if live.observed.get() {
            return None;
        }
        let (name, label) = component_of(mode.get());
        let position =
            positions.with(|p| (!p.is_empty()).then(|| component_position(p.values())))?;
        Some((name, label, position))
    };
    let fitted = move || {
        positions.with(|p| {
            let mut all = p.clone();
            if !p.is_empty() {
                all.insert(String::new(), component_position(p.values()));
            }
            fit(&all)
        })
    };
    let view = Memo::new(move |_| camera.get().unwrap_or_else(fitted));
    // Pixels to layout units: both renderers show `view` scaled to fit and centred ("meet").
    let to_layout = move |client: (f64, f64), view: [f64; 4]| -> Option<(f64, f64, f64)> {
        let rect = surface()?.get_bounding_client_rect();
        if rect.width() <= 0.0 || rect.height() <= 0.0 {
            return None;
        }
        let scale = (view[2] / rect.width()).max(view[3] / rect.height());
        let left = rect.left() + (rect.width() - view[2] / scale) / 2.0;
        let top = rect.top() + (rect.height() - view[3] / scale) / 2.0;
        Some((
            view[0] + (client.0 - left) * scale,
            view[1] + (client.1 - top) * scale,
            scale,
        ))
    };
    let zoom = move |factor: f64, around: Option<(f64, f64)>| {
        let view = camera.get_untracked().unwrap_or_else(fitted);
        let (cx, cy) = around.and_then(|client| to_layout(client, view)).map_or(
            (view[0] + view[2] / 2.0, view[1] + view[3] / 2.0),
            |(x, y, _)| (x, y),
        );
        let (w, h) = (view[2] * factor, view[3] * factor);
        if !(40.0..=1.0e6).contains(&w) {
            return;
        }
        camera.set(Some([
            cx - (cx - view[0]) * factor,
            cy - (cy - view[1]) * factor,
            w,
            h,
        ]));
    };
    // The canvas renderer: the topology indexed once per snapshot (or drag), hit tests
    // against it, and one paint per animation frame when anything shown changes.
    let scene = Memo::new(move |_| {
        if !use_canvas.get() {
            return canvas::Scene::default();
        }
        live.snapshot.with(|s| {
            s.as_ref()
                .map(|s| {
                    positions.with(|p| {
                        live.analysis
                            .with(|a| canvas::Scene::build(s, p, a.as_ref()))
                    })
                })
                .unwrap_or_default()
        })
    });
    let hit_at = move |client: (f64, f64)| -> Option<canvas::Hit> {
        let (x, y, scale) = to_layout(client, view.get_untracked())?;
        let component = positions
            .with_untracked(|p| (!p.is_empty()).then(|| component_position(p.values())))
            .map(|at| (component_of(mode.get_untracked()).0, at));
        scene.with_untracked(|s| s.hit(x, y, scale, component))
    };
    // The loose end of a link being drawn from a card's handle.
    let loose_end = RwSignal::new(None::<(String, [f64; 2])>);
    let start_drag = move |name: String, event: web_sys::PointerEvent, connecting: bool| {
        let Some(start) = positions.with_untracked(|p| p.get(&name).copied()) else {
            return;
        };
        if connecting {
            if camera.get_untracked().is_none() {
                camera.set(Some(fitted()));
            }
            gesture.set_value(Some((name, Gesture::Connect)));
            swallow_click.set_value(false);
            return;
        }
        // Freeze the view while a card moves, or the fit would chase it.
        if camera.get_untracked().is_none() {
            camera.set(Some(fitted()));
        }
        let from = (f64::from(event.client_x()), f64::from(event.client_y()));
        gesture.set_value(Some((
            name,
            Gesture::Drag {
                from,
                start,
                moved: false,
            },
        )));
        swallow_click.set_value(false);
    };
    // Once a press moves, the graph follows the pointer even off the SVG, and the click
    // that ends the gesture selects nothing. (Capturing at the press would send every
    // plain click to the SVG rather than to the card under it.)
    let capture = move |event: &web_sys::PointerEvent| {
        if !swallow_click.get_value() {
            swallow_click.set_value(true);
            if let Some(surface) = surface() {
                let _ = surface.set_pointer_capture(event.pointer_id());
            }
        }
    };
    let on_down = move |event: web_sys::PointerEvent| {
        if event.button() != 0 {
            return;
        }
        let from = (f64::from(event.client_x()), f64::from(event.client_y()));
        let view = camera.get_untracked().unwrap_or_else(fitted);
        gesture.set_value(Some((String::new(), Gesture::Pan { from, view })));
        swallow_click.set_value(false);
    };
    let on_move = move |event: web_sys::PointerEvent| {
        let Some((name, now)) = gesture.get_value() else {
            return;
        };
        let at = (f64::from(event.client_x()), f64::from(event.client_y()));
        let view = camera.get_untracked().unwrap_or_else(fitted);
        let Some((_, _, scale)) = to_layout(at, view) else {
            return;
        };
        match now {
            Gesture::Pan { from, view } => {
                let (dx, dy) = (at.0 - from.0, at.1 - from.1);
                if dx.hypot(dy) < DRAG_THRESHOLD_PX && !swallow_click.get_value() {
                    return;
                }
                capture(&event);
                camera.set(Some([
                    view[0] - dx * scale,
                    view[1] - dy * scale,
                    view[2],
                    view[3],
                ]));
            }
            Gesture::Connect => {
                capture(&event);
                if let Some((x, y, _)) = to_layout(at, view) {
                    loose_end.set(Some((name, [x, y])));
                }
            }
            Gesture::Drag { from, start, moved } => {
                let (dx, dy) = (at.0 - from.0, at.1 - from.1);
                if !moved && dx.hypot(dy) < DRAG_THRESHOLD_PX {
                    return;
                }
                capture(&event);
                let position = [start[0] + dx * scale, start[1] + dy * scale];
                dragged.update(|d| {
                    d.insert(name.clone(), position);
                });
                gesture.set_value(Some((
                    name,
                    Gesture::Drag {
                        from,
                        start,
                        moved: true,
                    },
                )));
            }
        }
    };
    // The service a link being drawn is dropped on: a card (not the routing component).
    let drop_target = move |event: &web_sys::PointerEvent| {
        if !use_canvas.get_untracked() {
            return card_at(event.client_x(), event.client_y());
        }
        let client = (f64::from(event.client_x()), f64::from(event.client_y()));
        let (x, y, scale) = to_layout(client, view.get_untracked())?;
        let hit = scene.with_untracked(|s| s.hit(x, y, scale, None))?;
        hit.service().map(str::to_string)
    };
    let on_up = move |event: web_sys::PointerEvent| {
        if let Some((from, Gesture::Connect)) = gesture.get_value() {
            gesture.set_value(None);
            loose_end.set(None);
            if let Some(to) = drop_target(&event) {
                editor::connect(live, edits, from, to);
            }
            return;
        }
        let Some((name, Gesture::Drag { moved: true, .. })) = gesture.get_value() else {
            gesture.set_value(None);
            return;
        };
        gesture.set_value(None);
        let Some(position) = dragged.with_untracked(|d| d.get(&name).copied()) else {
            return;
        };
        let mut layout = live.snapshot.with_untracked(|s| {
            s.as_ref()
                .map(|s| s.topology.layout.clone())
                .unwrap_or_default()
        });
        layout.insert(name, position);
        let body = serde_json::to_string(&layout).expect("positions serialise");
        api::in_background(live, async move {
            let sent = api::send("PUT", "/api/layout", Some(body)).await;
            if sent.is_err() {
                dragged.set(Positions::new());
            }
            sent
        });
    };
    // Search: cards whose name holds the text stand out, the rest fade; Enter selects the
    // first and brings it to the middle of the view.
    let search = RwSignal::new(String::new());
    let matches = Memo::new(move |_| {
        let text = search.get().trim().to_lowercase();
        if text.is_empty() {
            return None;
        }
        let names = live.snapshot.with(|s| {
            s.as_ref()
                .map(|s| {
                    s.topology
                        .services
                        .iter()
                        .filter(|service| service.name.to_lowercase().contains(&text))
                        .map(|service| service.name.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        });
        Some(names)
    });
    let go_to_first = move || {
        let Some(first) = matches.with_untracked(|m| m.as_ref().and_then(|m| m.first().cloned()))
        else {
            return;
        };
        if let Some([x, y]) = positions.with_untracked(|p| p.get(&first).copied()) {
            let view = camera.get_untracked().unwrap_or_else(fitted);
            let (w, h) = (view[2].min(900.0), view[3].min(600.0));
            camera.set(Some([x - w / 2.0, y - h / 2.0, w, h]));
        }
        live.selected_edge.set(None);
        live.selected.set(Some(first));
    };
    let add_here = move |client: Option<(f64, f64)>| {
        // An observed system's services come from its traces.
        if live.observed.get_untracked() {
            return;
        }
        let view = camera.get_untracked().unwrap_or_else(fitted);
        let at = client.and_then(|client| to_layout(client, view)).map_or(
            [view[0] + view[2] / 2.0, view[1] + view[3] / 2.0],
            |(x, y, _)| [x, y],
        );
        let at = positions.with_untracked(|p| free_spot(at, p.values().copied()));
        editor::add_service(live, edits, at);
    };
    provide_context(SearchMatches(matches));
    provide_context(DragStart(StoredValue::new(Box::new(start_drag))));
    let hovered = RwSignal::new(None::<canvas::Hit>);
    // Where the tooltip goes: the pointer, in pixels from the graph's corner.
    let hover_at = RwSignal::new((0.0, 0.0));
    canvas::keep_painted(
        canvas_ref, use_canvas, scene, view, matches, hovered, loose_end,
    );
    let tooltip = move || {
        let text = match hovered.get()? {
            canvas::Hit::Service(name) => {
                let (component, label) = component_of(mode.get());
                if name == component {
                    format!("{label}: every call depends on it in this routing mode")
                } else {
                    live.tick.with(|t| {
                        live.analysis.with(|a| {
                            service_tooltip(
                                &name,
                                t.as_ref().and_then(|t| t.services.get(&name)),
                                a.as_ref(),
                            )
                        })
                    })
                }
            }
            canvas::Hit::Port(name) => {
                format!("Drag onto another service to make {name} call it")
            }
            canvas::Hit::Link(from, to) => live
                .tick
                .with(|t| t.as_ref().and_then(|t| t.link(&from, &to)).map(link_title))
                .unwrap_or_else(|| format!("{from} → {to}")),
        };
        let (x, y) = hover_at.get();
        Some(view! {
            <div
                class="graph-tooltip"
                data-testid="graph-tooltip"
                style:left=format!("{:.0}px", x + 14.0)
                style:top=format!("{:.0}px", y + 14.0)
            >
                {text}
            </div>
        })
    };
    let client =
        |event: &web_sys::MouseEvent| (f64::from(event.client_x()), f64::from(event.client_y()));
    let canvas_view = move || {
        view! {
            <canvas
                data-testid="graph"
                data-renderer="canvas"
                data-services=move || scene.with(|s| s.names.len())
                data-links=move || scene.with(canvas::Scene::link_count)
                class="graph graph-canvas"
                class:pointing=move || hovered.with(Option::is_some)
                class:on-port=move || hovered.with(|h| matches!(h, Some(canvas::Hit::Port(_))))
                node_ref=canvas_ref
                on:pointerdown=move |event: web_sys::PointerEvent| {
                    if event.button() != 0 {
                        return;
                    }
                    hovered.set(None);
                    match hit_at(client(&event)) {
                        Some(canvas::Hit::Service(name)) => start_drag(name, event, false),
                        Some(canvas::Hit::Port(name)) => start_drag(name, event, true),
                        _ => on_down(event),
                    }
                }
                on:pointermove=move |event: web_sys::PointerEvent| {
                    if gesture.with_value(Option::is_some) {
                        on_move(event);
                        return;
                    }
                    let at = client(&event);
                    let hit = hit_at(at);
                    if let Some(rect) = surface().map(|s| s.get_bounding_client_rect()) {
                        hover_at.set((at.0 - rect.left(), at.1 - rect.top()));
                    }
                    if hovered.with_untracked(|h| *h != hit) {
                        hovered.set(hit);
                    }
                }
                on:pointerup=on_up
                on:pointercancel=move |_| {
                    gesture.set_value(None);
                    loose_end.set(None);
                }
                on:pointerleave=move |_| hovered.set(None)
                on:dblclick=move |event: web_sys::MouseEvent| {
                    let at = client(&event);
                    if hit_at(at).is_none() {
                        add_here(Some(at));
                    }
                }
                on:wheel=move |event: web_sys::WheelEvent| {
                    event.prevent_default();
                    let factor = ZOOM_STEP.powf(event.delta_y() / 100.0);
                    zoom(factor, Some((f64::from(event.client_x()), f64::from(event.client_y()))));
                }
                on:click=move |event: web_sys::MouseEvent| {
                    if swallow_click.get_value() {
                        swallow_click.set_value(false);
                        return;
                    }
                    match hit_at(client(&event)) {
                        Some(canvas::Hit::Service(name) | canvas::Hit::Port(name)) => {
                            live.selected_edge.set(None);
                            live.selected.set(Some(name));
                        }
                        Some(canvas::Hit::Link(from, to)) => {
                            live.selected.set(None);
                            live.selected_edge.set(Some((from, to)));
                        }
                        None => {
                            live.selected.set(None);
                            live.selected_edge.set(None);
                        }
                    }
                }
            ></canvas>
            {tooltip}
        }
    };
    view! {
        <Show
            when=move || live.snapshot.with(Option::is_some)
            fallback=|| view! { <div class="empty">"Connecting to the simulation…"</div> }
        >
            {move || {
                if use_canvas.get() {
                    return canvas_view().into_any();
                }
                view! {
            <svg
                data-testid="graph"
                data-renderer="svg"
                class="graph"
                class:large=large
                class:busy=busy
                node_ref=svg_ref
                viewBox=move || {
                    let [x, y, w, h] = view.get();
                    format!("{x:.1} {y:.1} {w:.1} {h:.1}")
                }
                on:pointerdown=on_down
                on:pointermove=on_move
                on:pointerup=on_up
                on:pointercancel=move |_| {
                    gesture.set_value(None);
                    loose_end.set(None);
                }
                on:dblclick=move |event: web_sys::MouseEvent| {
                    add_here(Some((f64::from(event.client_x()), f64::from(event.client_y()))));
                }
                on:wheel=move |event: web_sys::WheelEvent| {
                    event.prevent_default();
                    let factor = ZOOM_STEP.powf(event.delta_y() / 100.0);
                    zoom(factor, Some((f64::from(event.client_x()), f64::from(event.client_y()))));
                }
                on:click=move |_| {
                    if swallow_click.get_value() {
                        swallow_click.set_value(false);
                        return;
                    }
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
                    <For each=edges key=|edge| (edge.from.clone(), edge.to.clone()) let:edge>
                        <Edge edge=edge positions=positions links=links/>
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
                {move || {
                    let (from, [x2, y2]) = loose_end.get()?;
                    let [x1, y1] = positions.with(|p| p.get(&from).copied())?;
                    Some(view! {
                        <line
                            class="loose-link"
                            x1=x1 + NODE_WIDTH / 2.0
                            y1=y1
                            x2=x2
                            y2=y2
                            marker-end="url(#arrow)"
                        ></line>
                    })
                }}
                <g class="nodes">
                    <For each=nodes key=|node| node.name.clone() let:node>
                        <Node node=node positions=positions/>
                    </For>
                </g>
            </svg>
                }
                .into_any()
            }}
            <div class="graph-search">
                <input
                    type="search"
                    data-testid="search"
                    placeholder="Find a service…"
                    aria-label="Find a service"
                    prop:value=move || search.get()
                    on:input=move |event| search.set(event_target_value(&event))
                    on:keydown=move |event| {
                        if event.key() == "Enter" {
                            go_to_first();
                        } else if event.key() == "Escape" {
                            search.set(String::new());
                        }
                    }
                />
                <span class="hint" data-testid="search-count">
                    {move || {
                        matches
                            .get()
                            .map(|m| match m.len() {
                                0 => "no match".to_string(),
                                1 => "1 match · Enter".to_string(),
                                n => format!("{n} matches · Enter: first"),
                            })
                    }}
                </span>
            </div>
            <div class="graph-controls" role="toolbar" aria-label="View">
                <button data-testid="zoom-in" title="Zoom in (+)" on:click=move |_| zoom(1.0 / ZOOM_STEP, None)>
                    "+"
                </button>
                <button data-testid="zoom-out" title="Zoom out (−)" on:click=move |_| zoom(ZOOM_STEP, None)>
                    "−"
                </button>
                <button
                    data-testid="add-service"
                    class:hidden=move || live.observed.get()
                    title="Add a service (n, or double-click the background)" on:click=move |_| add_here(None)>
                    "+ Service"
                </button>
                <button data-testid="fit" title="Fit the whole topology (0)" on:click=move |_| camera.set(None)>
                    "Fit"
                </button>
                <button
                    data-testid="relayout-force"
                    class:hidden=move || live.observed.get()
                    title="Lay every service out by its links (linked services together, hubs in the middle) and pin them there"
                    on:click=move |_| {
                        camera.set(None);
                        api::in_background(live, async move {
                            api::send("POST", "/api/layout/force", None).await
                        });
                    }
                >
                    "Force"
                </button>
                <button
                    data-testid="relayout"
                    title="Unpin every service and lay them out again: entry points left, stores right"
                    on:click=move |_| {
                        camera.set(None);
                        api::in_background(live, async move {
                            api::send("PUT", "/api/layout", Some("{}".into())).await
                        });
                    }
                >
                    "Layered"
                </button>
            </div>
        </Show>
    }
}

/// The services a search matches (`None`: no search), for the cards to stand out or fade.
#[derive(Clone, Copy)]
struct SearchMatches(Memo<Option<Vec<String>>>);

/// Starts dragging a service card (given to the cards by [`Graph`]).
#[derive(Clone, Copy)]
struct DragStart(StoredValue<Box<StartGesture>>);

/// Starts a gesture on a card: `(service, the press, connect rather than move)`.
type StartGesture = dyn Fn(String, web_sys::PointerEvent, bool) + Send + Sync;

/// The service whose card is under the pointer at `(x, y)` (client pixels), if any.
fn card_at(x: i32, y: i32) -> Option<String> {
    let document = web_sys::window()?.document()?;
    let hit = document.element_from_point(x as f32, y as f32)?;
    let card = hit.closest("[data-testid^=\"node-\"]").ok()??;
    let name = card
        .get_attribute("data-testid")?
        .strip_prefix("node-")?
        .to_string();
    // Routing components are no service: nothing calls them by name.
    (!card.class_list().contains("component")).then_some(name)
}

/// One dependency: a curve from the caller's right side to the callee's left side.
#[component]
fn Edge(
    edge: EdgeView,
    positions: Memo<Positions>,
    links: Memo<HashMap<(String, String), LinkFigures>>,
) -> impl IntoView {
    let live = expect_context::<Live>();
    let EdgeView { from, to, required } = edge;
    let path = {
        let (from, to) = (from.clone(), to.clone());
        Memo::new(move |_| {
            positions.with(|p| match (p.get(&from), p.get(&to)) {
                (Some(a), Some(b)) => curve(*a, *b),
                _ => String::new(),
            })
        })
    };
    let testid = format!("edge-{from}-{to}");
    let key = (from.clone(), to.clone());
    let selected = {
        let key = key.clone();
        move || live.selected_edge.with(|s| s.as_ref() == Some(&key))
    };
    let figures = Memo::new(move |_| -> Option<LinkFigures> {
        links.with(|links| links.get(&(from.clone(), to.clone())).cloned())
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
    let title = move || figures.get().as_ref().map(link_title).unwrap_or_default();
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
            <path class="edge-hit" d=path></path>
            <path class="edge-line" d=path stroke-width=width marker-end="url(#arrow)"></path>
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
fn Node(node: NodeView, positions: Memo<Positions>) -> impl IntoView {
    let live = expect_context::<Live>();
    let DragStart(start_drag) = expect_context::<DragStart>();
    let SearchMatches(matches) = expect_context::<SearchMatches>();
    let NodeView {
        name,
        entry,
        is_virtual,
    } = node;
    let search_name = name.clone();
    let faded = move || matches.with(|m| m.as_ref().is_some_and(|m| !m.contains(&search_name)));
    let position_name = name.clone();
    let transform = move || {
        let [x, y] = positions.with(|p| p.get(&position_name).copied().unwrap_or_default());
        format!("translate({x:.1},{y:.1})")
    };
    let drag_name = name.clone();
    let port_name = name.clone();
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
    let tooltip_name = name.clone();
    // Live figures, and what the analysis predicts if it were killed (its blast radius).
    let tooltip = move || {
        let figures = figures.get();
        live.analysis
            .with(|a| service_tooltip(&tooltip_name, figures.as_ref(), a.as_ref()))
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
            class:virtual=is_virtual
            class:spof=move || spof.get()
            class:faded=faded
            data-testid=format!("node-{name}")
            data-health=health
            transform=transform
            on:pointerdown=move |event: web_sys::PointerEvent| {
                if event.button() == 0 {
                    event.stop_propagation();
                    start_drag.with_value(|start| start(drag_name.clone(), event, false));
                }
            }
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
            <title>{tooltip}</title>
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
            <circle
                class="port"
                data-testid=format!("port-{name}")
                cx=NODE_WIDTH / 2.0
                cy="0"
                r="6"
                on:pointerdown=move |event: web_sys::PointerEvent| {
                    if event.button() == 0 {
                        event.stop_propagation();
                        start_drag.with_value(|start| start(port_name.clone(), event, true));
                    }
                }
            >
                <title>"Drag onto another service to make this one call it"</title>
            </circle>
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

/// A link's figures in words: `web → cart: 36/s calls, 0.0% failing`.
fn link_title(f: &LinkFigures) -> String {
    format!(
        "{} → {}: {} calls, {} failing",
        f.from,
        f.to,
        format::rate(f.rps),
        format::percent(f.error_rate)
    )
}

/// A service's live figures, and what the analysis predicts if it were killed (its blast
/// radius): the hover text of a card in either renderer.
fn service_tooltip(
    name: &str,
    figures: Option<&ServiceFigures>,
    analysis: Option<&Analysis>,
) -> String {
    let live_figures = match figures {
        Some(f) => format!(
            "{name} — {}: {} of {} instances up · {} · {} succeeding · p50 {} · p99 {} · {} busy",
            f.health.as_str(),
            f.up,
            f.replicas,
            format::rate(f.rps),
            format::percent(f.success_rate),
            format::millis(f.p50_ms),
            format::millis(f.p99_ms),
            format::percent(Some(f.utilization)),
        ),
        None => name.to_string(),
    };
    let predicted = analysis.map(|a| {
        let (shares, unlisted) = predicted_shares(a, name, MOST_ENTRIES);
        let mut words = shares
            .iter()
            .map(|(entry, share)| format!("{entry} {}", format::percent(Some(*share))))
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(rest) = unlisted_words(shares.len(), unlisted) {
            let sep = if words.is_empty() { "" } else { "; " };
            words.push_str(&format!("{sep}{rest}"));
        }
        words
    });
    match predicted {
        Some(predicted) => format!("{live_figures}\nIf killed, still succeeding: {predicted}"),
        None => live_figures,
    }
}

/// Entries listed in a prediction when there are many (a large topology has hundreds).
pub const MOST_ENTRIES: usize = 8;

/// What killing `service` leaves of each entry's requests, as a tooltip or the panel lists
/// it: every entry when there are at most `most`, else the `most` hardest hit (the snapshot
/// carries affected entries only); and how many entries are not listed.
pub fn predicted_shares(
    analysis: &Analysis,
    service: &str,
    most: usize,
) -> (Vec<(String, f64)>, usize) {
    if analysis.entries.len() <= most {
        let all = analysis
            .entries
            .iter()
            .map(|entry| (entry.clone(), analysis.share(service, entry)))
            .collect();
        return (all, 0);
    }
    let mut hit: Vec<(String, f64)> = analysis
        .blast_radius
        .get(service)
        .map(|by_entry| by_entry.iter().map(|(e, s)| (e.clone(), *s)).collect())
        .unwrap_or_default();
    hit.sort_by(|a, b| a.1.total_cmp(&b.1));
    hit.truncate(most);
    let unlisted = analysis.entries.len() - hit.len();
    (hit, unlisted)
}

/// What a prediction listing `listed` entries (of at most [`MOST_ENTRIES`]) says of the
/// `unlisted` others: when fewer than the most were listed, no other entry is touched.
pub fn unlisted_words(listed: usize, unlisted: usize) -> Option<String> {
    match (listed, unlisted) {
        (_, 0) => None,
        (0, n) => Some(format!("all {n} entries untouched")),
        (listed, n) if listed < MOST_ENTRIES => Some(format!("{n} other entries untouched")),
        (_, n) => Some(format!("{n} other entries less hit or untouched")),
    }
}

/// A cubic curve from the caller's card at `from` to the callee's card at `to`: right side to
/// left side when the callee is further right; an arc out of the right sides between cards
/// of one column; and a loop under the cards for calls back to the left (rings, cycles).
fn curve(from: [f64; 2], to: [f64; 2]) -> String {
    let [[x1, y1], [c1x, c1y], [c2x, c2y], [x2, y2]] = curve_points(from, to);
    format!("M {x1:.1} {y1:.1} C {c1x:.1} {c1y:.1}, {c2x:.1} {c2y:.1}, {x2:.1} {y2:.1}")
}

/// The four points of [`curve`]: start, two controls, end.
fn curve_points(from: [f64; 2], to: [f64; 2]) -> [[f64; 2]; 4] {
    let right = NODE_WIDTH / 2.0;
    let (x1, y1) = (from[0] + right, from[1]);
    if to[0] > from[0] + NODE_WIDTH {
        let (x2, y2) = (to[0] - right - 2.0, to[1]);
        let bend = ((x2 - x1) / 2.0).max(40.0);
        return [[x1, y1], [x1 + bend, y1], [x2 - bend, y2], [x2, y2]];
    }
    if (to[0] - from[0]).abs() < 1.0 {
        let (x2, y2) = (to[0] + right + 2.0, to[1]);
        let out = x1.max(x2) + 40.0 + (y2 - y1).abs() * 0.15;
        return [[x1, y1], [out, y1], [out, y2], [x2, y2]];
    }
    let (x2, y2) = (to[0] - right - 2.0, to[1]);
    let drop = NODE_HEIGHT + 30.0 + (x1 - x2).abs() * 0.08;
    let low = y1.max(y2) + drop;
    [[x1, y1], [x1 + 80.0, low], [x2 - 80.0, low], [x2, y2]]
}

/// A viewBox (`[x, y, width, height]`) that holds every card with a margin (room for ingress
/// arrows on the left).
fn fit(positions: &BTreeMap<String, [f64; 2]>) -> [f64; 4] {
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for [x, y] in positions.values() {
        min_x = min_x.min(*x);
        min_y = min_y.min(*y);
        max_x = max_x.max(*x);
        max_y = max_y.max(*y);
    }
    if positions.is_empty() {
        return [0.0, 0.0, 100.0, 100.0];
    }
    let margin = 30.0;
    let left = min_x - NODE_WIDTH / 2.0 - 60.0 - margin;
    let top = min_y - NODE_HEIGHT / 2.0 - margin;
    // Room on the right for arcs between cards of the last column.
    let width = max_x - min_x + NODE_WIDTH + 60.0 + 80.0 + 2.0 * margin;
    // Room below for loops of calls back to the left.
    let height = max_y - min_y + NODE_HEIGHT + 2.0 * margin + 60.0;
    [left, top, width, height]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_card_goes_where_it_covers_none() {
        // Nothing there: where asked.
        assert_eq!(free_spot([10.0, 20.0], std::iter::empty()), [10.0, 20.0]);
        // A card right there: the nearest free spot a card and a margin away (above is
        // still 75 from it, below 85).
        let taken = [[0.0, 0.0]];
        let spot = free_spot([5.0, 5.0], taken.iter().copied());
        assert_eq!(spot, [5.0, 5.0 + NODE_HEIGHT + 20.0]);
        // Surrounded on the first ring too: the second ring, still clear of every card.
        let crowd: Vec<[f64; 2]> = (-1..=1)
            .flat_map(|i| (-1..=1).map(move |j| [f64::from(i) * 180.0, f64::from(j) * 80.0]))
            .collect();
        let spot = free_spot([0.0, 0.0], crowd.iter().copied());
        for [x, y] in &crowd {
            assert!(
                (x - spot[0]).abs() >= 180.0 || (y - spot[1]).abs() >= 80.0,
                "{spot:?}"
            );
        }
        assert!(spot[0].abs() <= 360.0 && spot[1].abs() <= 160.0, "{spot:?}");
    }
}
