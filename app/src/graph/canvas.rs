//! The graph drawn on a `<canvas>` for large topologies (see [`super::CANVAS_SERVICES`]):
//! SVG keeps one element and several reactive closures per service and link, and at a few
//! thousand of them every tick costs a style recalculation over ~10,000 elements. Here the
//! topology is indexed once per snapshot ([`Scene`]) and the whole picture is painted in one
//! animation frame per change (a tick, the camera, the selection, the search, the hover),
//! reading the signals untracked.
//!
//! What it draws follows the SVG renderer: cards coloured by health, links whose width
//! follows traffic and whose colour follows errors, the selection and the search. Detail
//! falls off with the zoom: below a few pixels per card a service is a block of its health
//! colour (degraded and down ones kept visible), text shows only once it is legible.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use leptos::prelude::*;
use simulator::analysis::Analysis;
use simulator::engine::BreakerState;
use simulator::wire::{Health, LinkFigures, ServiceFigures, Snapshot, Tick};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement};

use super::{
    NODE_HEIGHT, NODE_WIDTH, Positions, component_health, component_of, component_position,
    curve_points,
};
use crate::app::Live;
use crate::format;

/// The topology indexed for drawing and hit testing: services by number, links by the
/// numbers of their ends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scene {
    /// Counts scenes built, so a picture cached for one is never shown for another.
    generation: u64,
    pub names: Vec<String>,
    position: Vec<[f64; 2]>,
    entry: Vec<bool>,
    /// An observed callee that sends no spans: drawn dashed, as in SVG.
    is_virtual: Vec<bool>,
    spof: Vec<bool>,
    index: HashMap<String, usize>,
    links: Vec<SceneLink>,
}

#[derive(Clone, Debug, PartialEq)]
struct SceneLink {
    from: usize,
    to: usize,
    required: bool,
    /// The cubic curve's four points, as the SVG renderer draws it.
    curve: [[f64; 2]; 4],
    /// Its bounding box `[min x, min y, max x, max y]` (the curve lies in its points' hull).
    bounds: [f64; 4],
}

/// What is under the pointer.
#[derive(Clone, Debug, PartialEq)]
pub enum Hit {
    /// A service, or the routing component (`dns`, `lb`, `registry`).
    Service(String),
    /// A service's port, the handle at the middle of its card's right side: dragged onto
    /// another service, it makes this one call that one.
    Port(String),
    Link(String, String),
}

impl Hit {
    /// The service hit, on its card or on its port.
    pub fn service(&self) -> Option<&str> {
        match self {
            Hit::Service(name) | Hit::Port(name) => Some(name),
            Hit::Link(..) => None,
        }
    }
}

/// A port's radius, as the SVG renderer draws it (layout units).
const PORT_RADIUS: f64 = 6.0;

impl Scene {
    pub fn build(snapshot: &Snapshot, positions: &Positions, analysis: Option<&Analysis>) -> Scene {
        let services = &snapshot.topology.services;
        let names: Vec<String> = services.iter().map(|s| s.name.clone()).collect();
        let index: HashMap<String, usize> = names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        let position = names
            .iter()
            .map(|name| positions.get(name).copied().unwrap_or_default())
            .collect::<Vec<_>>();
        let mut spof = vec![false; names.len()];
        for name in analysis.map(|a| a.spof.as_slice()).unwrap_or_default() {
            if let Some(&i) = index.get(name) {
                spof[i] = true;
            }
        }
        let links = snapshot
            .topology
            .dependencies
            .iter()
            .filter_map(|dep| {
                let (from, to) = (*index.get(&dep.from)?, *index.get(&dep.to)?);
                let curve = curve_points(position[from], position[to]);
                let mut bounds = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
                for [x, y] in curve {
                    bounds = [
                        bounds[0].min(x),
                        bounds[1].min(y),
                        bounds[2].max(x),
                        bounds[3].max(y),
                    ];
                }
                Some(SceneLink {
                    from,
                    to,
                    required: dep.required,
                    curve,
                    bounds,
                })
            })
            .collect();
        static GENERATION: AtomicU64 = AtomicU64::new(1);
        Scene {
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            entry: services.iter().map(|s| s.is_entry()).collect(),
            is_virtual: services.iter().map(|s| s.is_virtual).collect(),
            names,
            position,
            spof,
            index,
            links,
        }
    }

    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// The service whose card holds the layout point `(x, y)`, else the nearest one within
    /// a few pixels (`scale`: layout units per pixel), so tiny cards can still be picked.
    fn service_at(&self, x: f64, y: f64, scale: f64) -> Option<usize> {
        let (half_w, half_h) = (NODE_WIDTH / 2.0, NODE_HEIGHT / 2.0);
        // Later cards are painted over earlier ones: the topmost wins.
        if let Some(i) = self
            .position
            .iter()
            .rposition(|[px, py]| (x - px).abs() <= half_w && (y - py).abs() <= half_h)
        {
            return Some(i);
        }
        let reach = 6.0 * scale;
        self.position
            .iter()
            .enumerate()
            .map(|(i, [px, py])| {
                let dx = ((x - px).abs() - half_w).max(0.0);
                let dy = ((y - py).abs() - half_h).max(0.0);
                (i, dx.hypot(dy))
            })
            .filter(|(_, d)| *d <= reach)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }

    /// The service whose port is at the layout point `(x, y)`, within a few pixels; none
    /// while cards are too small to show ports.
    fn port_at(&self, x: f64, y: f64, scale: f64) -> Option<usize> {
        if NODE_WIDTH / scale < BLOCKS_BELOW_PX {
            return None;
        }
        let reach = PORT_RADIUS + 3.0 * scale;
        self.position
            .iter()
            .rposition(|[px, py]| (x - px - NODE_WIDTH / 2.0).hypot(y - py) <= reach)
    }

    /// The link passing nearest the layout point `(x, y)`, within a few pixels.
    fn link_at(&self, x: f64, y: f64, scale: f64) -> Option<usize> {
        let reach = (5.0 * scale).max(6.0);
        let mut best: Option<(usize, f64)> = None;
        for (i, link) in self.links.iter().enumerate() {
            let [x0, y0, x1, y1] = link.bounds;
            if x < x0 - reach || x > x1 + reach || y < y0 - reach || y > y1 + reach {
                continue;
            }
            let d = distance_to_curve(&link.curve, [x, y]);
            if d <= reach && best.is_none_or(|(_, b)| d < b) {
                best = Some((i, d));
            }
        }
        best.map(|(i, _)| i)
    }

    /// What is at the layout point `(x, y)`: the routing component at `component`, a
    /// service's port, a service, else a link.
    pub fn hit(
        &self,
        x: f64,
        y: f64,
        scale: f64,
        component: Option<(&str, [f64; 2])>,
    ) -> Option<Hit> {
        if let Some((name, [cx, cy])) = component
            && (x - cx).abs() <= NODE_WIDTH / 2.0
            && (y - cy).abs() <= NODE_HEIGHT / 2.0
        {
            return Some(Hit::Service(name.to_string()));
        }
        if let Some(i) = self.port_at(x, y, scale) {
            return Some(Hit::Port(self.names[i].clone()));
        }
        if let Some(i) = self.service_at(x, y, scale) {
            return Some(Hit::Service(self.names[i].clone()));
        }
        self.link_at(x, y, scale).map(|i| {
            let link = &self.links[i];
            Hit::Link(self.names[link.from].clone(), self.names[link.to].clone())
        })
    }
}

/// Distance from `p` to a cubic Bézier curve, measured on a 16-segment polyline of it.
fn distance_to_curve(curve: &[[f64; 2]; 4], p: [f64; 2]) -> f64 {
    const STEPS: usize = 16;
    let mut best = f64::MAX;
    let mut last = curve[0];
    for step in 1..=STEPS {
        let t = step as f64 / STEPS as f64;
        let next = bezier(curve, t);
        best = best.min(distance_to_segment(p, last, next));
        last = next;
    }
    best
}

fn bezier(c: &[[f64; 2]; 4], t: f64) -> [f64; 2] {
    let u = 1.0 - t;
    let (a, b, cc, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
    [
        a * c[0][0] + b * c[1][0] + cc * c[2][0] + d * c[3][0],
        a * c[0][1] + b * c[1][1] + cc * c[2][1] + d * c[3][1],
    ]
}

fn distance_to_segment(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let length2 = dx * dx + dy * dy;
    let t = if length2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (p[0] - a[0] - t * dx).hypot(p[1] - a[1] - t * dy)
}

/// Everything a paint reads besides the scene and the tick.
pub struct Frame<'a> {
    /// The part of the plane on screen, `[x, y, width, height]`, shown whole and centred.
    pub view: [f64; 4],
    pub selected: Option<&'a str>,
    pub selected_link: Option<(&'a str, &'a str)>,
    /// The services a search matches (`None`: no search).
    pub matches: Option<&'a [String]>,
    pub hovered: Option<&'a str>,
    /// Whether the pointer is on the hovered service's port.
    pub on_port: bool,
    /// A link being drawn from a service's port: the service and the loose end.
    pub loose_link: Option<(&'a str, [f64; 2])>,
    /// The routing component: name, label, position.
    pub component: Option<(&'static str, &'static str, [f64; 2])>,
}

/// The theme's colours, read from the CSS variables so the canvas follows the theme.
struct Palette {
    card: String,
    border: String,
    good: String,
    warn: String,
    bad: String,
    edge: String,
    text: String,
    muted: String,
    accent: String,
    hover: String,
    down_fill: String,
    component_fill: String,
}

impl Palette {
    fn of(element: &web_sys::Element) -> Palette {
        let style = web_sys::window().and_then(|w| w.get_computed_style(element).ok().flatten());
        let read = |name: &str, fallback: &str| {
            style
                .as_ref()
                .and_then(|s| s.get_property_value(name).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| fallback.to_string())
        };
        Palette {
            card: read("--surface-2", "#1c2430"),
            border: read("--border", "#2a3441"),
            good: read("--good", "#3fb950"),
            warn: read("--warn", "#d29922"),
            bad: read("--bad", "#f85149"),
            edge: read("--edge", "#4b5a6d"),
            text: read("--text", "#e6edf3"),
            muted: read("--muted", "#8b98a8"),
            accent: read("--accent", "#f97316"),
            hover: read("--hover-border", "#52637a"),
            down_fill: read("--down-fill", "#2a1618"),
            component_fill: read("--component-fill", "#18202b"),
        }
    }

    fn health(&self, health: Health) -> &str {
        match health {
            Health::Healthy => &self.good,
            Health::Degraded => &self.warn,
            Health::Down => &self.bad,
        }
    }
}

/// How a link is drawn, in the order they are painted (later ones on top).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum LinkLook {
    Idle,
    Flowing,
    Erring,
    Open,
    Failing,
    Cut,
    Selected,
}

/// `detailed`: zoomed in far enough to tell an idle link from a flowing one (zoomed out,
/// both look alike, so quiet links flickering between the two never redraw the links).
fn link_look(figures: Option<&LinkFigures>, selected: bool, detailed: bool) -> LinkLook {
    let Some(f) = figures else {
        return if selected {
            LinkLook::Selected
        } else {
            LinkLook::Idle
        };
    };
    let errors = f.error_rate.unwrap_or(0.0);
    if selected {
        LinkLook::Selected
    } else if f.partitioned {
        LinkLook::Cut
    } else if errors > 0.05 {
        LinkLook::Failing
    } else if f.breaker.is_some_and(|b| b != BreakerState::Closed) {
        LinkLook::Open
    } else if errors > 0.0 {
        LinkLook::Erring
    } else if f.rps > 0.0 || !detailed {
        LinkLook::Flowing
    } else {
        LinkLook::Idle
    }
}

/// A link's width in layout units, as the SVG renderer has it.
fn link_width(rps: f64) -> f64 {
    1.0 + (1.0 + rps / 10.0).log2()
}

/// Cards narrower than this on screen (pixels) are drawn as blocks of their health colour:
/// at that size a card's outline and bar only blur its health.
const BLOCKS_BELOW_PX: f64 = 40.0;

/// Paints the whole graph on `canvas` (resized to its box at the device's pixel ratio).
pub fn paint(canvas: &HtmlCanvasElement, scene: &Scene, tick: Option<&Tick>, frame: &Frame) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let (css_w, css_h) = (
        f64::from(canvas.client_width()),
        f64::from(canvas.client_height()),
    );
    if css_w <= 0.0 || css_h <= 0.0 {
        return;
    }
    let ratio = window.device_pixel_ratio().max(1.0);
    let (w, h) = (
        (css_w * ratio).round() as u32,
        (css_h * ratio).round() as u32,
    );
    if canvas.width() != w {
        canvas.set_width(w);
    }
    if canvas.height() != h {
        canvas.set_height(h);
    }
    let Some(ctx) = context(canvas) else {
        return;
    };
    let palette = Palette::of(canvas);
    let _ = ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, f64::from(w), f64::from(h));

    // Layout units per CSS pixel, and where the view's corner lands ("meet", centred).
    let [vx, vy, vw, vh] = frame.view;
    let scale = (vw / css_w).max(vh / css_h);
    let left = (css_w - vw / scale) / 2.0;
    let top = (css_h - vh / scale) / 2.0;
    let k = ratio / scale;
    let transform = [
        k,
        0.0,
        0.0,
        k,
        (left - vx / scale) * ratio,
        (top - vy / scale) * ratio,
    ];
    set_transform(&ctx, transform);
    // The visible part of the plane, with a card's margin.
    let visible = [
        vx - left * scale - NODE_WIDTH,
        vy - top * scale - NODE_HEIGHT,
        vx - left * scale + css_w * scale + NODE_WIDTH,
        vy - top * scale + css_h * scale + NODE_HEIGHT,
    ];
    let shown =
        |x: f64, y: f64| x >= visible[0] && x <= visible[2] && y >= visible[1] && y <= visible[3];

    // This tick's figures by service and by link (links come in topology order; a lookup
    // by name covers a tick that does not match the snapshot).
    let services: Vec<Option<&ServiceFigures>> = scene
        .names
        .iter()
        .map(|name| tick.and_then(|t| t.services.get(name)))
        .collect();
    let link_figures: Vec<Option<&LinkFigures>> = scene
        .links
        .iter()
        .enumerate()
        .map(|(i, link)| {
            let tick = tick?;
            let (from, to) = (&scene.names[link.from], &scene.names[link.to]);
            match tick.links.get(i) {
                Some(f) if &f.from == from && &f.to == to => Some(f),
                _ => tick.link(from, to),
            }
        })
        .collect();
    let faded: Vec<bool> = match frame.matches {
        None => vec![false; scene.names.len()],
        Some(matches) => {
            let mut faded = vec![true; scene.names.len()];
            for name in matches {
                if let Some(&i) = scene.index.get(name) {
                    faded[i] = false;
                }
            }
            faded
        }
    };

    let painter = Painter {
        ctx: &ctx,
        scene,
        frame,
        palette: &palette,
        scale,
        faded: &faded,
    };
    painter.links(&link_figures, transform, &visible);
    if let Some((name, label, [x, y])) = frame.component
        && shown(x, y)
    {
        let state = tick
            .and_then(|t| t.components.get(name).cloned())
            .unwrap_or_else(|| "up".to_string());
        painter.component(name, label, &state, [x, y]);
    }
    painter.services(&services, &shown);
    // A test hook: how many services the last paint had (fps.mjs waits for all of them).
    let painted = scene.names.len().to_string();
    if canvas.get_attribute("data-painted").as_deref() != Some(painted.as_str()) {
        let _ = canvas.set_attribute("data-painted", &painted);
    }
}

/// What every part of one paint draws with.
#[derive(Clone, Copy)]
struct Painter<'a> {
    ctx: &'a CanvasRenderingContext2d,
    scene: &'a Scene,
    frame: &'a Frame<'a>,
    palette: &'a Palette,
    /// Layout units per CSS pixel.
    scale: f64,
    /// Services a search leaves out, by number.
    faded: &'a [bool],
}

impl Painter<'_> {
    fn links(&self, figures: &[Option<&LinkFigures>], transform: Transform, visible: &[f64; 4]) {
        let Painter {
            ctx,
            scene,
            frame,
            palette,
            scale,
            faded,
        } = *self;
        // Dashes, arrowheads and idle links only where they can be seen.
        let detailed = scale < 2.0;
        // One path per look and width step (half pixels on screen): a few dozen strokes
        // instead of thousands.
        let mut batches: Vec<(LinkLook, u32, bool, bool, usize)> = scene
            .links
            .iter()
            .enumerate()
            .filter(|(_, link)| {
                let [x0, y0, x1, y1] = link.bounds;
                x1 >= visible[0] && x0 <= visible[2] && y1 >= visible[1] && y0 <= visible[3]
            })
            .map(|(i, link)| {
                let selected = frame.selected_link.is_some_and(|(from, to)| {
                    scene.names[link.from] == from && scene.names[link.to] == to
                });
                let f = figures[i];
                let look = link_look(f, selected, detailed);
                // Never thinner than about half a pixel, or zoomed-out links vanish.
                let width_px = (link_width(f.map_or(0.0, |f| f.rps)) / scale).max(0.6);
                let dim = faded[link.from] && faded[link.to];
                (
                    look,
                    (width_px * 2.0).round() as u32,
                    !link.required,
                    dim,
                    i,
                )
            })
            .collect();
        batches.sort_unstable();
        // Stroking thousands of long curves costs tens of milliseconds in software: the links
        // are drawn on a layer of their own, redrawn only when they look different.
        let mut key = std::collections::hash_map::DefaultHasher::new();
        (scene.generation, &batches, layer_size(ctx)).hash(&mut key);
        for v in frame.view {
            v.to_bits().hash(&mut key);
        }
        (&palette.edge, &palette.warn, &palette.bad, &palette.accent).hash(&mut key);
        let key = key.finish();
        LINK_LAYER.with_borrow_mut(|layer| {
            if layer.is_none() {
                *layer = LinkLayer::new();
            }
            let Some(layer) = layer.as_mut() else {
                // No layer: draw straight on the canvas.
                stroke_links(ctx, scene, &batches, scale, detailed, palette);
                return;
            };
            if layer.key != key {
                layer.key = key;
                let (w, h) = layer_size(ctx);
                if layer.canvas.width() != w || layer.canvas.height() != h {
                    layer.canvas.set_width(w);
                    layer.canvas.set_height(h);
                }
                let _ = layer.ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
                layer.ctx.clear_rect(0.0, 0.0, f64::from(w), f64::from(h));
                set_transform(&layer.ctx, transform);
                stroke_links(&layer.ctx, scene, &batches, scale, detailed, palette);
            }
            let _ = ctx.set_transform(1.0, 0.0, 0.0, 1.0, 0.0, 0.0);
            let _ = ctx.draw_image_with_html_canvas_element(&layer.canvas, 0.0, 0.0);
            set_transform(ctx, transform);
        });
    }
}

/// Layout units to device pixels: `[a, b, c, d, e, f]` as `setTransform` takes them.
type Transform = [f64; 6];

fn set_transform(ctx: &CanvasRenderingContext2d, [a, b, c, d, e, f]: Transform) {
    let _ = ctx.set_transform(a, b, c, d, e, f);
}

/// The canvas's size in device pixels.
fn layer_size(ctx: &CanvasRenderingContext2d) -> (u32, u32) {
    ctx.canvas().map_or((0, 0), |c| (c.width(), c.height()))
}

/// The links as last drawn, and what they were drawn from.
struct LinkLayer {
    canvas: HtmlCanvasElement,
    ctx: CanvasRenderingContext2d,
    key: u64,
}

impl LinkLayer {
    fn new() -> Option<LinkLayer> {
        let canvas: HtmlCanvasElement = web_sys::window()?
            .document()?
            .create_element("canvas")
            .ok()?
            .dyn_into()
            .ok()?;
        let ctx = canvas.get_context("2d").ok()??.dyn_into().ok()?;
        Some(LinkLayer {
            canvas,
            ctx,
            key: 0,
        })
    }
}

thread_local! {
    static LINK_LAYER: RefCell<Option<LinkLayer>> = const { RefCell::new(None) };
}

/// Strokes `batches` (sorted by look, width, dash, dimming), one path per run of equals.
fn stroke_links(
    ctx: &CanvasRenderingContext2d,
    scene: &Scene,
    batches: &[(LinkLook, u32, bool, bool, usize)],
    scale: f64,
    detailed: bool,
    palette: &Palette,
) {
    let mut start = 0;
    while start < batches.len() {
        let (look, width, optional, dim, _) = batches[start];
        let end = batches[start..]
            .iter()
            .position(|b| (b.0, b.1, b.2, b.3) != (look, width, optional, dim))
            .map_or(batches.len(), |n| start + n);
        // Zoomed out, thousands of healthy links would bury everything else: they recede.
        let quiet = if detailed { 1.0 } else { 0.45 };
        let (colour, alpha) = match look {
            LinkLook::Idle => (&palette.edge, 0.35 * quiet),
            LinkLook::Flowing => (&palette.edge, 0.75 * quiet),
            LinkLook::Erring => (&palette.warn, 0.9),
            LinkLook::Open => (&palette.warn, 0.9),
            LinkLook::Failing | LinkLook::Cut => (&palette.bad, 0.9),
            LinkLook::Selected => (&palette.accent, 1.0),
        };
        let dash: &[f64] = match look {
            LinkLook::Cut => &[2.0, 7.0],
            LinkLook::Open if detailed => &[10.0, 5.0],
            _ if optional && detailed => &[6.0, 5.0],
            _ => &[],
        };
        ctx.set_global_alpha(if dim { alpha * 0.25 } else { alpha });
        ctx.set_stroke_style_str(colour);
        ctx.set_fill_style_str(colour);
        ctx.set_line_width(f64::from(width) / 2.0 * scale);
        let _ = ctx.set_line_dash(&dash_array(dash));
        ctx.begin_path();
        for &(.., i) in &batches[start..end] {
            let [a, b, c, d] = scene.links[i].curve;
            ctx.move_to(a[0], a[1]);
            ctx.bezier_curve_to(b[0], b[1], c[0], c[1], d[0], d[1]);
        }
        ctx.stroke();
        if detailed {
            ctx.begin_path();
            for &(.., i) in &batches[start..end] {
                let [_, _, c, d] = scene.links[i].curve;
                arrowhead(ctx, c, d);
            }
            ctx.fill();
        }
        start = end;
    }
    ctx.set_global_alpha(1.0);
    let _ = ctx.set_line_dash(&dash_array(&[]));
}

fn dash_array(dash: &[f64]) -> JsValue {
    dash.iter()
        .map(|d| JsValue::from_f64(*d))
        .collect::<js_sys::Array>()
        .into()
}

/// A 9-unit arrowhead at `tip`, pointing away from `from`.
fn arrowhead(ctx: &CanvasRenderingContext2d, from: [f64; 2], tip: [f64; 2]) {
    let (dx, dy) = (tip[0] - from[0], tip[1] - from[1]);
    let length = dx.hypot(dy).max(1e-9);
    let (ux, uy) = (dx / length, dy / length);
    let (back, half) = (9.0, 4.5);
    ctx.move_to(tip[0], tip[1]);
    ctx.line_to(
        tip[0] - ux * back - uy * half,
        tip[1] - uy * back + ux * half,
    );
    ctx.line_to(
        tip[0] - ux * back + uy * half,
        tip[1] - uy * back - ux * half,
    );
    ctx.close_path();
}

impl Painter<'_> {
    fn services(&self, figures: &[Option<&ServiceFigures>], shown: &dyn Fn(f64, f64) -> bool) {
        let Painter {
            ctx,
            scene,
            frame,
            palette,
            scale,
            faded,
        } = *self;
        let health = |i: usize| figures[i].map_or(Health::Healthy, |f| f.health);
        let card_px = NODE_WIDTH / scale;
        let (half_w, half_h) = (NODE_WIDTH / 2.0, NODE_HEIGHT / 2.0);
        let visible: Vec<usize> = (0..scene.names.len())
            .filter(|&i| shown(scene.position[i][0], scene.position[i][1]))
            .collect();
        if card_px < BLOCKS_BELOW_PX {
            // Blocks of health colour, healthy first (and softer) so trouble is painted on top,
            // and never smaller than a few pixels for a service in trouble.
            for (level, min_px, alpha) in [
                (Health::Healthy, 1.5, 0.55),
                (Health::Degraded, 4.0, 1.0),
                (Health::Down, 5.0, 1.0),
            ] {
                for dim in [true, false] {
                    ctx.set_global_alpha(if dim { 0.2 * alpha } else { alpha });
                    ctx.set_fill_style_str(palette.health(level));
                    ctx.begin_path();
                    for &i in &visible {
                        if health(i) != level || faded[i] != dim {
                            continue;
                        }
                        let [x, y] = scene.position[i];
                        let (hw, hh) = (
                            half_w.max(min_px * scale / 2.0),
                            half_h.max(min_px * scale / 2.0),
                        );
                        ctx.rect(x - hw, y - hh, hw * 2.0, hh * 2.0);
                    }
                    ctx.fill();
                }
            }
            ctx.set_global_alpha(1.0);
        } else {
            for &i in &visible {
                self.card(i, figures[i], card_px);
            }
        }
        // Rings that stay visible at any zoom: the selection, the hovered service and what a
        // search found.
        let ring = |i: usize, colour: &str, width_px: f64| {
            let [x, y] = scene.position[i];
            let (hw, hh) = (half_w + 4.0 * scale, half_h + 4.0 * scale);
            ctx.set_stroke_style_str(colour);
            ctx.set_line_width(width_px * scale);
            ctx.begin_path();
            if card_px < BLOCKS_BELOW_PX {
                ctx.rect(
                    x - hw.max(6.0 * scale),
                    y - hh.max(6.0 * scale),
                    2.0 * hw.max(6.0 * scale),
                    2.0 * hh.max(6.0 * scale),
                );
            } else {
                ctx.rect(x - hw, y - hh, 2.0 * hw, 2.0 * hh);
            }
            ctx.stroke();
        };
        if let Some(matches) = frame.matches
            && card_px < BLOCKS_BELOW_PX
        {
            for name in matches {
                if let Some(&i) = scene.index.get(name) {
                    ring(i, &palette.accent, 1.0);
                }
            }
        }
        if let Some(&i) = frame.hovered.and_then(|n| scene.index.get(n)) {
            ring(i, &palette.hover, 2.0);
        }
        if let Some(&i) = frame.selected.and_then(|n| scene.index.get(n)) {
            ring(i, &palette.accent, 2.5);
        }
        if card_px >= BLOCKS_BELOW_PX {
            self.ports_and_loose_link();
        }
    }

    /// The ports of the hovered and the selected service, and the link being drawn from one,
    /// as the SVG renderer shows them.
    fn ports_and_loose_link(&self) {
        let Painter {
            ctx,
            scene,
            frame,
            palette,
            ..
        } = *self;
        let port_of = |name: &str| {
            let &i = scene.index.get(name)?;
            let [x, y] = scene.position[i];
            Some([x + NODE_WIDTH / 2.0, y])
        };
        if let Some((from, end)) = frame.loose_link
            && let Some(start) = port_of(from)
        {
            ctx.set_stroke_style_str(&palette.accent);
            ctx.set_fill_style_str(&palette.accent);
            ctx.set_line_width(2.0);
            let _ = ctx.set_line_dash(&dash_array(&[5.0, 4.0]));
            ctx.begin_path();
            ctx.move_to(start[0], start[1]);
            ctx.line_to(end[0], end[1]);
            ctx.stroke();
            let _ = ctx.set_line_dash(&dash_array(&[]));
            ctx.begin_path();
            arrowhead(ctx, start, end);
            ctx.fill();
        }
        let mut shown: Vec<(&str, bool)> = Vec::new();
        if let Some(name) = frame.selected {
            shown.push((name, false));
        }
        if let Some(name) = frame.hovered {
            shown.push((name, frame.on_port));
        }
        if let Some((name, _)) = frame.loose_link {
            shown.push((name, true));
        }
        for (name, hot) in shown {
            let Some([x, y]) = port_of(name) else {
                continue;
            };
            ctx.begin_path();
            let _ = ctx.arc(x, y, PORT_RADIUS, 0.0, std::f64::consts::TAU);
            ctx.set_fill_style_str(if hot { &palette.accent } else { &palette.card });
            ctx.fill();
            ctx.set_stroke_style_str(if hot { &palette.accent } else { &palette.muted });
            ctx.set_line_width(1.5);
            ctx.stroke();
        }
    }

    /// One service card, as the SVG renderer draws it, with its text once it is legible.
    fn card(&self, i: usize, figures: Option<&ServiceFigures>, card_px: f64) {
        let Painter {
            ctx,
            scene,
            frame,
            palette,
            faded,
            ..
        } = *self;
        let faded = faded[i];
        let [x, y] = scene.position[i];
        let (left, top) = (x - NODE_WIDTH / 2.0, y - NODE_HEIGHT / 2.0);
        let health = figures.map_or(Health::Healthy, |f| f.health);
        let selected = frame.selected == Some(scene.names[i].as_str());
        ctx.set_global_alpha(if faded { 0.25 } else { 1.0 });
        if scene.entry[i] && card_px >= 40.0 {
            ctx.set_stroke_style_str(&palette.edge);
            ctx.set_line_width(1.5);
            ctx.begin_path();
            ctx.move_to(left - 48.0, y);
            ctx.line_to(left - 4.0, y);
            ctx.stroke();
        }
        ctx.begin_path();
        let _ = ctx.round_rect_with_f64(left, top, NODE_WIDTH, NODE_HEIGHT, 10.0);
        ctx.set_fill_style_str(if health == Health::Down {
            &palette.down_fill
        } else {
            &palette.card
        });
        ctx.fill();
        ctx.set_stroke_style_str(if selected {
            &palette.accent
        } else {
            match health {
                Health::Healthy => &palette.border,
                Health::Degraded => &palette.warn,
                Health::Down => &palette.bad,
            }
        });
        ctx.set_line_width(if selected { 2.5 } else { 1.5 });
        let dashed = scene.is_virtual.get(i).copied().unwrap_or(false);
        if dashed {
            let _ = ctx.set_line_dash(&dash_array(&[6.0, 4.0]));
        }
        ctx.stroke();
        if dashed {
            let _ = ctx.set_line_dash(&dash_array(&[]));
        }
        ctx.set_fill_style_str(palette.health(health));
        ctx.fill_rect(left, top, 5.0, NODE_HEIGHT);
        if card_px >= 70.0 {
            ctx.set_fill_style_str(&palette.text);
            ctx.set_font("650 14px Inter, \"Segoe UI\", system-ui, sans-serif");
            let _ = ctx.fill_text_with_max_width(
                &scene.names[i],
                left + 14.0,
                top + 23.0,
                NODE_WIDTH - 60.0,
            );
            let line = match figures {
                Some(f) if f.up == 0 => "no instance up".to_string(),
                Some(f) => format!("{} · p99 {}", format::rate(f.rps), format::millis(f.p99_ms)),
                None => String::new(),
            };
            ctx.set_fill_style_str(if health == Health::Down {
                &palette.bad
            } else {
                &palette.muted
            });
            ctx.set_font("12px Inter, \"Segoe UI\", system-ui, sans-serif");
            let _ = ctx.fill_text_with_max_width(&line, left + 14.0, top + 44.0, NODE_WIDTH - 20.0);
            if let Some(f) = figures {
                for (k, up) in f.instances_up.iter().take(super::MAX_DOTS).enumerate() {
                    ctx.set_fill_style_str(if *up { &palette.good } else { &palette.bad });
                    ctx.begin_path();
                    let _ = ctx.arc(
                        x + NODE_WIDTH / 2.0 - 12.0 - k as f64 * 10.0,
                        top + 18.0,
                        3.5,
                        0.0,
                        std::f64::consts::TAU,
                    );
                    ctx.fill();
                }
            }
            if scene.spof[i] {
                ctx.set_fill_style_str(&palette.accent);
                ctx.set_font("600 10px Inter, \"Segoe UI\", system-ui, sans-serif");
                ctx.set_text_align("end");
                let _ = ctx.fill_text(
                    "single point of failure",
                    x + NODE_WIDTH / 2.0 - 10.0,
                    top - 6.0,
                );
                ctx.set_text_align("start");
            }
        }
        ctx.set_global_alpha(1.0);
    }

    /// The routing component's card: dashed, rounder, coloured by its state.
    fn component(&self, name: &str, label: &str, state: &str, [x, y]: [f64; 2]) {
        let Painter {
            ctx,
            frame,
            palette,
            scale,
            ..
        } = *self;
        let health = component_health(state);
        let (left, top) = (x - NODE_WIDTH / 2.0, y - NODE_HEIGHT / 2.0);
        ctx.begin_path();
        let _ = ctx.round_rect_with_f64(left, top, NODE_WIDTH, NODE_HEIGHT, 28.0);
        ctx.set_fill_style_str(if health == Health::Down {
            &palette.down_fill
        } else {
            &palette.component_fill
        });
        ctx.fill();
        ctx.set_stroke_style_str(if frame.selected == Some(name) {
            &palette.accent
        } else {
            match health {
                Health::Healthy => &palette.border,
                Health::Degraded => &palette.warn,
                Health::Down => &palette.bad,
            }
        });
        ctx.set_line_width(1.5_f64.max(scale));
        let _ = ctx.set_line_dash(&dash_array(&[6.0, 4.0]));
        ctx.stroke();
        let _ = ctx.set_line_dash(&dash_array(&[]));
        if NODE_WIDTH / scale >= 70.0 {
            ctx.set_fill_style_str(&palette.text);
            ctx.set_font("650 14px Inter, \"Segoe UI\", system-ui, sans-serif");
            let _ = ctx.fill_text(name, left + 18.0, top + 23.0);
            ctx.set_fill_style_str(&palette.muted);
            ctx.set_font("12px Inter, \"Segoe UI\", system-ui, sans-serif");
            let _ = ctx.fill_text(&format!("{label} · {state}"), left + 18.0, top + 44.0);
        }
    }
}

/// Keeps `canvas` painted while `active`: any change to what it shows (a tick, the scene,
/// the camera, the selection, the search, the hover, the canvas's size) schedules one paint
/// in the next animation frame; changes before it share it.
pub fn keep_painted(
    canvas: NodeRef<leptos::html::Canvas>,
    active: Memo<bool>,
    scene: Memo<Scene>,
    view: Memo<[f64; 4]>,
    matches: Memo<Option<Vec<String>>>,
    hovered: RwSignal<Option<Hit>>,
    loose_end: RwSignal<Option<(String, [f64; 2])>>,
) {
    let live = expect_context::<Live>();
    let resized = Trigger::new();
    let handle = window_event_listener(leptos::ev::resize, move |_| resized.notify());
    on_cleanup(move || handle.remove());
    let pending = StoredValue::new(false);
    Effect::new(move |_| {
        if !active.get() {
            return;
        }
        live.tick.track();
        live.selected.track();
        live.selected_edge.track();
        scene.track();
        view.track();
        matches.track();
        hovered.track();
        loose_end.track();
        resized.track();
        if canvas.get().is_none() || pending.get_value() {
            return;
        }
        pending.set_value(true);
        request_animation_frame(move || {
            pending.set_value(false);
            let Some(element) = canvas.get_untracked() else {
                return;
            };
            let mode = live
                .tick
                .with_untracked(|t| t.as_ref().map(|t| t.routing_mode))
                .unwrap_or(simulator::topology::RoutingMode::Smart);
            let (name, label) = component_of(mode);
            let selected = live.selected.get_untracked();
            let selected_edge = live.selected_edge.get_untracked();
            let hovered = hovered.get_untracked();
            let loose_end = loose_end.get_untracked();
            scene.with_untracked(|scene| {
                matches.with_untracked(|matches| {
                    live.tick.with_untracked(|tick| {
                        let frame = Frame {
                            view: view.get_untracked(),
                            selected: selected.as_deref(),
                            selected_link: selected_edge
                                .as_ref()
                                .map(|(a, b)| (a.as_str(), b.as_str())),
                            matches: matches.as_deref(),
                            hovered: hovered.as_ref().and_then(Hit::service),
                            on_port: matches!(hovered, Some(Hit::Port(_))),
                            loose_link: loose_end.as_ref().map(|(from, end)| (from.as_str(), *end)),
                            component: (!scene.position.is_empty())
                                .then(|| (name, label, component_position(&scene.position))),
                        };
                        paint(&element, scene, tick.as_ref(), &frame);
                    })
                })
            });
        });
    });
}

/// The canvas's 2D context.
fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten()?.dyn_into().ok()
}

/// A small graph of the compare view for a large topology: links as hairlines, services as
/// dots in their health colour, the selected one ringed. Returns where it put the drawing
/// (`[scale, dx, dy]`, in CSS pixels: a point `p` is at `p · scale + d`) for hit testing.
pub fn paint_mini(
    canvas: &HtmlCanvasElement,
    edges: &[([f64; 2], [f64; 2])],
    nodes: &[(String, [f64; 2])],
    health: &dyn Fn(&str) -> Health,
    selected: Option<&str>,
) -> [f64; 3] {
    let ratio = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let (width, height) = (canvas.client_width() as f64, canvas.client_height() as f64);
    canvas.set_width((width * ratio) as u32);
    canvas.set_height((height * ratio) as u32);
    let Some(ctx) = context(canvas) else {
        return [1.0, 0.0, 0.0];
    };
    let palette = Palette::of(canvas);
    let fit = mini_fit(nodes, width, height);
    let [scale, dx, dy] = fit;
    let at = |[x, y]: [f64; 2]| (x * scale + dx, y * scale + dy);
    let _ = ctx.set_transform(ratio, 0.0, 0.0, ratio, 0.0, 0.0);
    ctx.clear_rect(0.0, 0.0, width, height);
    ctx.set_stroke_style_str(&palette.edge);
    ctx.set_global_alpha(0.35);
    ctx.set_line_width(0.6);
    ctx.begin_path();
    for (from, to) in edges {
        let ((x1, y1), (x2, y2)) = (at(*from), at(*to));
        ctx.move_to(x1, y1);
        ctx.line_to(x2, y2);
    }
    ctx.stroke();
    ctx.set_global_alpha(1.0);
    // Healthy first, so a degraded or down dot is never hidden under a healthy one.
    let radius = (scale * 22.0).clamp(1.5, 6.0);
    for shown in [Health::Healthy, Health::Degraded, Health::Down] {
        ctx.set_fill_style_str(palette.health(shown));
        ctx.begin_path();
        for (name, position) in nodes {
            if health(name) == shown {
                let (x, y) = at(*position);
                ctx.move_to(x + radius, y);
                let _ = ctx.arc(x, y, radius, 0.0, std::f64::consts::TAU);
            }
        }
        ctx.fill();
    }
    if let Some((_, position)) = nodes
        .iter()
        .find(|(name, _)| Some(name.as_str()) == selected)
    {
        let (x, y) = at(*position);
        ctx.set_stroke_style_str(&palette.accent);
        ctx.set_line_width(2.0);
        ctx.begin_path();
        let _ = ctx.arc(x, y, radius + 4.0, 0.0, std::f64::consts::TAU);
        ctx.stroke();
    }
    fit
}

/// The scale and offset that fit `nodes` into `width` × `height` CSS pixels with a margin.
fn mini_fit(nodes: &[(String, [f64; 2])], width: f64, height: f64) -> [f64; 3] {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (_, [x, y]) in nodes {
        (x0, y0, x1, y1) = (x0.min(*x), y0.min(*y), x1.max(*x), y1.max(*y));
    }
    if nodes.is_empty() {
        return [1.0, 0.0, 0.0];
    }
    const MARGIN: f64 = 10.0;
    let scale = ((width - 2.0 * MARGIN) / (x1 - x0).max(1.0))
        .min((height - 2.0 * MARGIN) / (y1 - y0).max(1.0))
        .max(1e-6);
    let dx = (width - (x1 - x0) * scale) / 2.0 - x0 * scale;
    let dy = (height - (y1 - y0) * scale) / 2.0 - y0 * scale;
    [scale, dx, dy]
}

/// The service of a small graph nearest to `(x, y)` (CSS pixels in the canvas), within a
/// few pixels.
pub fn mini_hit(
    nodes: &[(String, [f64; 2])],
    [scale, dx, dy]: [f64; 3],
    x: f64,
    y: f64,
) -> Option<String> {
    const REACH: f64 = 8.0;
    nodes
        .iter()
        .map(|(name, [px, py])| (name, (px * scale + dx - x).hypot(py * scale + dy - y)))
        .filter(|(_, distance)| *distance <= REACH)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(name, _)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two cards side by side, `a` calling nothing yet.
    fn two_cards() -> Scene {
        let names = vec!["a".to_string(), "b".to_string()];
        Scene {
            index: names.iter().cloned().zip(0..).collect(),
            names,
            position: vec![[0.0, 0.0], [400.0, 0.0]],
            entry: vec![true, false],
            spof: vec![false, false],
            ..Scene::default()
        }
    }

    #[test]
    fn a_port_is_hit_on_the_right_side_of_a_card_in_full() {
        let scene = two_cards();
        let port = NODE_WIDTH / 2.0;
        let at = |x: f64, y: f64, scale: f64| scene.hit(x, y, scale, None);
        // On the port, and just outside the card on its far half.
        assert_eq!(at(port, 0.0, 1.0), Some(Hit::Port("a".into())));
        assert_eq!(at(port + 7.0, 2.0, 1.0), Some(Hit::Port("a".into())));
        // Inside the card, away from the port: the card.
        assert_eq!(at(port - 20.0, 0.0, 1.0), Some(Hit::Service("a".into())));
        assert_eq!(at(port, -25.0, 1.0), Some(Hit::Service("a".into())));
        // Past the port's reach: nothing; on the other card, that one.
        assert_eq!(at(port + 20.0, 0.0, 1.0), None);
        assert_eq!(at(400.0, 0.0, 1.0), Some(Hit::Service("b".into())));
        // Zoomed out until cards are blocks of colour: no ports, only cards.
        let blocks = NODE_WIDTH / (BLOCKS_BELOW_PX - 1.0);
        assert_eq!(at(port, 0.0, blocks), Some(Hit::Service("a".into())));
        // Either way the hit names its service.
        assert_eq!(Hit::Port("a".into()).service(), Some("a"));
        assert_eq!(Hit::Link("a".into(), "b".into()).service(), None);
    }
}
