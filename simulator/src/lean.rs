//! The dashboard's lean form of the live stream (SPEC "The live stream at fleet size"):
//! the same figures as the JSON `tick`, at the precision the page shows them, and only what
//! changed since the last frame the stream sent.
//!
//! A stream starts (and starts again after a new snapshot or when the set of services and
//! links changes) with a **keyframe**: the whole tick, its figures quantised. Each later
//! tick is a [`Frame`]: the scalars, then the services, entries and links whose quantised
//! figures changed, by their index in the keyframe's order (services and entries in name
//! order, links as the tick lists them), in columns. [`LeanEncoder`] (server) makes them,
//! one per stream; [`LeanDecoder`] (page) applies them to the tick it holds, so it never
//! re-reads what did not change.
//!
//! Quantising: shares (success, error, availability, utilisation) to 0.1 percentage point,
//! rates to 0.1/s under 10/s and whole ones above, milliseconds to 0.1 ms under 10 ms,
//! whole ones under 10 s and 0.1 s above — rounded by the same formatting `app::format`
//! writes them with, so a quantised figure is written exactly as the exact one. What the
//! page decides from a figure stays as it was: a value that rounding would carry across
//! one of the page's thresholds ([`SHARE_THRESHOLDS`], zero, and where a format changes
//! its precision) keeps more places.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::BreakerState;
use crate::topology::RoutingMode;
use crate::wire::{
    EntryFigures, ExperimentSummary, FaultRecord, Health, LinkFigures, ServiceFigures, Tick,
};

/// Shares the page compares figures with: anything above zero erring, over 5% failing,
/// availability levels at 95% and 99.9%, the 99% objective.
pub const SHARE_THRESHOLDS: [f64; 5] = [0.0, 0.05, 0.95, 0.99, 0.999];

/// `value` as the page writes it: `value × scale` to `decimals` places (what
/// `format!("{:.decimals$}")` shows), divided back. Where that carries it across one of
/// `thresholds` (or, rounded again, would be written otherwise), a place more, up to four
/// more; then twelve.
fn quantise(value: f64, decimals: usize, scale: f64, thresholds: &[f64]) -> f64 {
    if !value.is_finite() {
        return value;
    }
    if let Some(rounded) = quantise_fast(value, decimals, scale, thresholds) {
        return rounded;
    }
    // Places of the value itself once divided back (scale is a power of ten).
    let shift = scale.log10().round() as i64;
    let at = |places: usize| -> f64 {
        let shown: f64 = format!("{:.places$}", value * scale)
            .parse()
            .unwrap_or(value);
        let back = shown / scale;
        // Written as the short decimal it is (0.9990000000000001 → 0.999): fewer bytes in
        // JSON, read back as the same number.
        let places_back = (places as i64 + shift).max(0) as usize;
        format!("{back:.places_back$}").parse().unwrap_or(back)
    };
    let shown = |v: f64| format!("{:.decimals$}", v * scale);
    // Read as the value is, and on the same side of every threshold.
    let faithful = |rounded: f64| {
        shown(rounded) == shown(value)
            && thresholds
                .iter()
                .all(|&t| (value > t) == (rounded > t) && (value < t) == (rounded < t))
    };
    (decimals..=decimals + 4)
        .map(at)
        .find(|&rounded| faithful(rounded))
        .unwrap_or_else(|| at(12))
}

/// [`quantise`] by arithmetic, where that is sure to agree with the formatting: the value
/// is not within a hair of halfway between two shown values, and crosses no threshold.
/// `None` otherwise (then the formatting decides).
fn quantise_fast(value: f64, decimals: usize, scale: f64, thresholds: &[f64]) -> Option<f64> {
    // Shown steps per unit of the value: 1,000 for a share to 0.1 point, 0.01 for
    // milliseconds shown as 0.1 s.
    let per_unit = scale * 10f64.powi(decimals as i32);
    let steps = value * per_unit;
    let fraction = steps - steps.floor();
    if (fraction - 0.5).abs() < 1e-6 || steps.abs() > 1e15 {
        return None;
    }
    let whole = steps.round();
    // Divided (or multiplied) by an exact power of ten: the double nearest the decimal.
    let rounded = if per_unit >= 1.0 {
        whole / per_unit.round()
    } else {
        whole * (1.0 / per_unit).round()
    };
    let keeps_sides = thresholds
        .iter()
        .all(|&t| (value > t) == (rounded > t) && (value < t) == (rounded < t));
    keeps_sides.then_some(rounded)
}

/// A share at the page's precision (`99.9%`).
pub fn share(value: f64) -> f64 {
    quantise(value, 1, 100.0, &SHARE_THRESHOLDS)
}

/// Requests per second at the page's precision (`9.5/s`, `120/s`).
pub fn rate(value: f64) -> f64 {
    if value < 10.0 {
        quantise(value, 1, 1.0, &[0.0, 10.0])
    } else {
        quantise(value, 0, 1.0, &[10.0])
    }
}

/// Milliseconds at the page's precision (`4.2 ms`, `120 ms`, `12.5 s`).
pub fn millis(value: f64) -> f64 {
    if value < 10.0 {
        quantise(value, 1, 1.0, &[0.0, 10.0])
    } else if value < 10_000.0 {
        quantise(value, 0, 1.0, &[10.0, 10_000.0])
    } else {
        // Shown as seconds (`ms / 1000.0` to one place): rounded in seconds the same way.
        let seconds = quantise(value / 1000.0, 1, 1.0, &[10.0]);
        let ms: f64 = format!("{:.6}", seconds * 1000.0).parse().unwrap_or(value);
        let shown = |ms: f64| format!("{:.1}", ms / 1000.0);
        if shown(ms) == shown(value) && ms >= 10_000.0 {
            ms
        } else {
            value
        }
    }
}

/// `tick` with every figure at the page's precision.
pub fn quantised(tick: &Tick) -> Tick {
    let mut tick = tick.clone();
    tick.availability = tick.availability.map(share);
    for figures in tick.services.values_mut() {
        quantise_service(figures);
    }
    for figures in tick.entries.values_mut() {
        quantise_entry(figures);
    }
    for figures in &mut tick.links {
        quantise_link(figures);
    }
    tick
}

fn quantise_service(figures: &mut ServiceFigures) {
    figures.rps = rate(figures.rps);
    figures.success_rate = figures.success_rate.map(share);
    figures.p50_ms = figures.p50_ms.map(millis);
    figures.p99_ms = figures.p99_ms.map(millis);
    figures.utilization = share(figures.utilization);
}

fn quantise_entry(figures: &mut EntryFigures) {
    figures.availability = figures.availability.map(share);
    figures.rps = rate(figures.rps);
    figures.p99_ms = figures.p99_ms.map(millis);
}

fn quantise_link(figures: &mut LinkFigures) {
    figures.rps = rate(figures.rps);
    figures.error_rate = figures.error_rate.map(share);
}

/// The services whose figures changed, in columns: `i[k]`'s figures are `rps[k]`, ….
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceColumns {
    pub i: Vec<u32>,
    pub rps: Vec<f64>,
    pub ok: Vec<Option<f64>>,
    pub p50: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
    pub util: Vec<f64>,
    /// 0 healthy, 1 degraded, 2 down.
    pub health: Vec<u8>,
    pub up: Vec<u32>,
    /// The services whose instances changed (rarely): their index and instances.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<Instances>,
}

/// One service's instances, as the tick lists them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instances {
    pub i: u32,
    pub replicas: u32,
    pub instances_up: Vec<bool>,
    pub instances: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instance_ids: Vec<String>,
}

/// The links whose figures changed, in columns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkColumns {
    pub i: Vec<u32>,
    pub rps: Vec<f64>,
    pub err: Vec<Option<f64>>,
    /// Breaker states and partitions, of the changed links that have either (rare).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breaker: Vec<(u32, Option<BreakerState>)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partitioned: Vec<(u32, bool)>,
}

/// The entries whose figures changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EntryColumns {
    pub i: Vec<u32>,
    pub availability: Vec<Option<f64>>,
    pub rps: Vec<f64>,
    pub p99: Vec<Option<f64>>,
}

/// One tick after the keyframe: what changed since the last frame.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub t: f64,
    pub availability: Option<f64>,
    pub speed: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_ms: Option<u64>,
    /// Sent when changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_mode: Option<RoutingMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<Vec<FaultRecord>>,
    /// Sent when changed: `[summary]`, or `[]` when the tick no longer has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Vec<ExperimentSummary>>,
    #[serde(default, skip_serializing_if = "is_empty_services")]
    pub services: ServiceColumns,
    #[serde(default, skip_serializing_if = "is_empty_entries")]
    pub entries: EntryColumns,
    #[serde(default, skip_serializing_if = "is_empty_links")]
    pub links: LinkColumns,
}

fn is_empty_services(columns: &ServiceColumns) -> bool {
    columns.i.is_empty() && columns.instances.is_empty()
}

fn is_empty_entries(columns: &EntryColumns) -> bool {
    columns.i.is_empty()
}

fn is_empty_links(columns: &LinkColumns) -> bool {
    columns.i.is_empty()
}

/// What the stream sends for one tick.
#[derive(Clone, Debug, PartialEq)]
pub enum Lean {
    /// The whole tick, quantised: the page replaces what it holds.
    Keyframe(Box<Tick>),
    Frame(Box<Frame>),
}

/// Which services and links a tick has, in order: frames index into it.
#[derive(Clone, Debug, Default, PartialEq)]
struct Shape {
    services: Vec<String>,
    entries: Vec<String>,
    links: Vec<(String, String)>,
}

impl Shape {
    fn of(tick: &Tick) -> Shape {
        Shape {
            services: tick.services.keys().cloned().collect(),
            entries: tick.entries.keys().cloned().collect(),
            links: tick
                .links
                .iter()
                .map(|l| (l.from.clone(), l.to.clone()))
                .collect(),
        }
    }

    fn fits(&self, tick: &Tick) -> bool {
        self.services.len() == tick.services.len()
            && self.entries.len() == tick.entries.len()
            && self.links.len() == tick.links.len()
            && self
                .services
                .iter()
                .zip(tick.services.keys())
                .all(|(a, b)| a == b)
            && self
                .entries
                .iter()
                .zip(tick.entries.keys())
                .all(|(a, b)| a == b)
            && self
                .links
                .iter()
                .zip(&tick.links)
                .all(|((from, to), l)| *from == l.from && *to == l.to)
    }
}

/// Makes one stream's lean ticks: remembers the last it sent.
#[derive(Default)]
pub struct LeanEncoder {
    last: Option<(Shape, Arc<Tick>)>,
}

impl LeanEncoder {
    /// Starts afresh: the next tick is a keyframe (after a snapshot, whose figures the
    /// page took as they were).
    pub fn restart(&mut self) {
        self.last = None;
    }

    pub fn encode(&mut self, tick: &Tick) -> Lean {
        self.encode_quantised(Arc::new(quantised(tick)))
    }

    /// [`LeanEncoder::encode`] of a tick already [`quantised`] — once for every stream.
    pub fn encode_quantised(&mut self, now: Arc<Tick>) -> Lean {
        match self.last.as_mut() {
            Some((shape, last)) if shape.fits(&now) => {
                let frame = diff(last, &now);
                *last = now;
                Lean::Frame(Box::new(frame))
            }
            _ => {
                let keyframe = Box::new(Tick::clone(&now));
                self.last = Some((Shape::of(&now), now));
                Lean::Keyframe(keyframe)
            }
        }
    }
}

fn health_code(health: Health) -> u8 {
    match health {
        Health::Healthy => 0,
        Health::Degraded => 1,
        Health::Down => 2,
    }
}

fn health_of(code: u8) -> Health {
    match code {
        1 => Health::Degraded,
        2 => Health::Down,
        _ => Health::Healthy,
    }
}

/// What changed from `last` to `now` (both quantised, of one shape).
fn diff(last: &Tick, now: &Tick) -> Frame {
    let mut frame = Frame {
        t: now.t,
        availability: now.availability,
        speed: now.speed,
        published_ms: now.published_ms,
        routing_mode: (now.routing_mode != last.routing_mode).then_some(now.routing_mode),
        components: (now.components != last.components).then(|| now.components.clone()),
        faults: (now.faults != last.faults).then(|| now.faults.clone()),
        experiment: (now.experiment != last.experiment)
            .then(|| now.experiment.iter().cloned().collect()),
        ..Frame::default()
    };
    let services = &mut frame.services;
    for (i, (was, is)) in last
        .services
        .values()
        .zip(now.services.values())
        .enumerate()
    {
        let i = i as u32;
        let figures_changed = was.rps != is.rps
            || was.success_rate != is.success_rate
            || was.p50_ms != is.p50_ms
            || was.p99_ms != is.p99_ms
            || was.utilization != is.utilization
            || was.health != is.health
            || was.up != is.up;
        if figures_changed {
            services.i.push(i);
            services.rps.push(is.rps);
            services.ok.push(is.success_rate);
            services.p50.push(is.p50_ms);
            services.p99.push(is.p99_ms);
            services.util.push(is.utilization);
            services.health.push(health_code(is.health));
            services.up.push(is.up);
        }
        if was.replicas != is.replicas
            || was.instances_up != is.instances_up
            || was.instances != is.instances
            || was.instance_ids != is.instance_ids
        {
            services.instances.push(Instances {
                i,
                replicas: is.replicas,
                instances_up: is.instances_up.clone(),
                instances: is.instances.clone(),
                instance_ids: is.instance_ids.clone(),
            });
        }
    }
    let entries = &mut frame.entries;
    for (i, (was, is)) in last.entries.values().zip(now.entries.values()).enumerate() {
        if was != is {
            entries.i.push(i as u32);
            entries.availability.push(is.availability);
            entries.rps.push(is.rps);
            entries.p99.push(is.p99_ms);
        }
    }
    let links = &mut frame.links;
    for (i, (was, is)) in last.links.iter().zip(&now.links).enumerate() {
        if was != is {
            let i = i as u32;
            links.i.push(i);
            links.rps.push(is.rps);
            links.err.push(is.error_rate);
            if was.breaker != is.breaker {
                links.breaker.push((i, is.breaker));
            }
            if was.partitioned != is.partitioned {
                links.partitioned.push((i, is.partitioned));
            }
        }
    }
    frame
}

/// A frame that does not fit the tick the page holds (an index past its end): the page
/// should reconnect for a fresh keyframe.
#[derive(Debug, PartialEq)]
pub struct Misfit(pub String);

/// The page's side: the service and entry names of the keyframe, in order.
#[derive(Default)]
pub struct LeanDecoder {
    services: Vec<String>,
    entries: Vec<String>,
}

impl LeanDecoder {
    /// Takes a keyframe (or a snapshot's tick): frames from now on index into it.
    pub fn keyframe(&mut self, tick: &Tick) {
        self.services = tick.services.keys().cloned().collect();
        self.entries = tick.entries.keys().cloned().collect();
    }

    /// Applies `frame` to `tick` (the keyframe and every frame since, applied in order).
    pub fn apply(&self, tick: &mut Tick, frame: &Frame) -> Result<(), Misfit> {
        tick.t = frame.t;
        tick.availability = frame.availability;
        tick.speed = frame.speed;
        tick.published_ms = frame.published_ms;
        if let Some(mode) = frame.routing_mode {
            tick.routing_mode = mode;
        }
        if let Some(components) = &frame.components {
            tick.components = components.clone();
        }
        if let Some(faults) = &frame.faults {
            tick.faults = faults.clone();
        }
        if let Some(experiment) = &frame.experiment {
            tick.experiment = experiment.first().cloned();
        }
        let s = &frame.services;
        let n = s.i.len();
        if [
            s.rps.len(),
            s.ok.len(),
            s.p50.len(),
            s.p99.len(),
            s.util.len(),
            s.health.len(),
            s.up.len(),
        ]
        .iter()
        .any(|&len| len != n)
        {
            return Err(Misfit("the service columns differ in length".into()));
        }
        for (k, &i) in s.i.iter().enumerate() {
            let figures = named(&self.services, &mut tick.services, i)?;
            figures.rps = s.rps[k];
            figures.success_rate = s.ok[k];
            figures.p50_ms = s.p50[k];
            figures.p99_ms = s.p99[k];
            figures.utilization = s.util[k];
            figures.health = health_of(s.health[k]);
            figures.up = s.up[k];
        }
        for instances in &s.instances {
            let figures = named(&self.services, &mut tick.services, instances.i)?;
            figures.replicas = instances.replicas;
            figures.instances_up = instances.instances_up.clone();
            figures.instances = instances.instances.clone();
            figures.instance_ids = instances.instance_ids.clone();
        }
        let e = &frame.entries;
        let n = e.i.len();
        if e.availability.len() != n || e.rps.len() != n || e.p99.len() != n {
            return Err(Misfit("the entry columns differ in length".into()));
        }
        for (k, &i) in e.i.iter().enumerate() {
            let figures = named(&self.entries, &mut tick.entries, i)?;
            figures.availability = e.availability[k];
            figures.rps = e.rps[k];
            figures.p99_ms = e.p99[k];
        }
        let l = &frame.links;
        if l.rps.len() != l.i.len() || l.err.len() != l.i.len() {
            return Err(Misfit("the link columns differ in length".into()));
        }
        for (k, &i) in l.i.iter().enumerate() {
            let figures = tick
                .links
                .get_mut(i as usize)
                .ok_or_else(|| Misfit(format!("no link {i} in the keyframe")))?;
            figures.rps = l.rps[k];
            figures.error_rate = l.err[k];
        }
        for &(i, breaker) in &l.breaker {
            if let Some(figures) = tick.links.get_mut(i as usize) {
                figures.breaker = breaker;
            }
        }
        for &(i, partitioned) in &l.partitioned {
            if let Some(figures) = tick.links.get_mut(i as usize) {
                figures.partitioned = partitioned;
            }
        }
        Ok(())
    }
}

/// The figures named `names[i]` in `map`.
fn named<'a, T>(
    names: &[String],
    map: &'a mut BTreeMap<String, T>,
    i: u32,
) -> Result<&'a mut T, Misfit> {
    names
        .get(i as usize)
        .and_then(|name| map.get_mut(name))
        .ok_or_else(|| Misfit(format!("no {i} in the keyframe")))
}
