//! The page: a top bar with the overall and per-entry availability, the live graph, and the
//! side panel for the selected service and the active faults.

use std::collections::{HashMap, VecDeque};

use leptos::prelude::*;
use simulator::analysis::Analysis;
use simulator::wire::{Snapshot, Tick};

use crate::api::{self, Connection};
use crate::format;
use crate::graph::Graph;
use crate::panel::Panel;
use crate::toolbar::Toolbar;

/// Availability points kept for the timeline chart (one per tick: 60 s at 10 Hz).
pub const HISTORY_LEN: usize = 600;

/// The availability objective outage-seconds are counted against.
pub const SLO: f64 = 0.99;

/// What the main area shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The live graph.
    Live,
    /// The live topology under each routing mode side by side.
    Compare,
    /// A run (the live one or a loaded one) second by second, scrubbed on a timeline.
    Replay,
    /// The model of the observed system's traces run beside it ("Model this").
    Model,
}

/// The state every component reads, provided as context by [`App`].
#[derive(Clone, Copy)]
pub struct Live {
    pub snapshot: RwSignal<Option<Snapshot>>,
    pub tick: RwSignal<Option<Tick>>,
    pub connection: RwSignal<Connection>,
    /// The service (or routing component) a click selected.
    pub selected: RwSignal<Option<String>>,
    /// The dependency `(from, to)` a click selected; exclusive with `selected`.
    pub selected_edge: RwSignal<Option<(String, String)>>,
    /// One instance (counted from 1) of the selected service that actions target.
    pub selected_instance: RwSignal<Option<u32>>,
    /// The last action's error, shown until the next action.
    pub notice: RwSignal<Option<String>>,
    /// `(simulated second, overall availability)`, oldest first.
    pub history: RwSignal<VecDeque<(f64, Option<f64>)>>,
    /// Faults as they started: `(simulated second, id, plain words)`, oldest first.
    pub marks: RwSignal<VecDeque<(f64, u64, String)>>,
    /// Simulated seconds of this run with overall availability under [`SLO`].
    pub outage_s: RwSignal<f64>,
    /// The static resilience analysis of the live topology in the live routing mode (sent
    /// with each snapshot: computing it here would double the WASM bundle).
    pub analysis: Memo<Option<Analysis>>,
    pub screen: RwSignal<Screen>,
    /// The live view shows a real system seen through its traces (not the simulation).
    pub observed: Memo<bool>,
    /// The newest snapshot and tick from the stream while a replay shows past ones; the
    /// live view comes back to them. Ticks only: the stream's own, never a replay's.
    pub latest: StoredValue<(Option<Snapshot>, Option<Tick>)>,
}

/// The whole dashboard.
#[component]
pub fn App() -> impl IntoView {
    let snapshot = RwSignal::new(None::<Snapshot>);
    let tick = RwSignal::new(None::<Tick>);
    let observed = Memo::new(move |_| snapshot.with(|s| s.as_ref().is_some_and(|s| s.observed)));
    // An observed system's predictions come from the model of its traces, fetched anew as
    // it learns; the simulation's come with each snapshot.
    let predicted = RwSignal::new(None::<Analysis>);
    let analysis = Memo::new(move |_| {
        if observed.get()
            && let Some(predicted) = predicted.get()
        {
            return Some(predicted);
        }
        snapshot.with(|s| s.as_ref().map(|s| s.analysis.clone()))
    });
    let live = Live {
        snapshot,
        tick,
        analysis,
        connection: RwSignal::new(Connection::Connecting),
        selected: RwSignal::new(None),
        selected_edge: RwSignal::new(None),
        selected_instance: RwSignal::new(None),
        notice: RwSignal::new(None),
        history: RwSignal::new(VecDeque::new()),
        marks: RwSignal::new(VecDeque::new()),
        outage_s: RwSignal::new(0.0),
        screen: RwSignal::new(Screen::Live),
        observed,
        latest: StoredValue::new((None, None)),
    };
    provide_context(live);
    let edits = crate::editor::Edits::new();
    provide_context(edits);
    Effect::new(move |_| {
        live.snapshot.track();
        edits.settle();
    });
    // A new selection starts with the whole service as the target.
    Effect::new(move |_| {
        live.selected.track();
        live.selected_instance.set(None);
    });
    follow_model(live, predicted);
    if let Err(err) = api::follow_events(live) {
        live.notice
            .set(Some(format!("cannot open the live stream: {err}")));
    }
    Effect::new(move |_| {
        // A replay's frames are the past: the chart and counts follow the live run only.
        if live.screen.get_untracked() == Screen::Replay {
            live.tick.track();
            return;
        }
        let Some((t, availability, faults)) = live.tick.with(|t| {
            t.as_ref().map(|t| {
                let faults: Vec<(f64, u64, String)> = t
                    .faults
                    .iter()
                    .filter(|f| f.state == "active")
                    .map(|f| (f.start_s, f.id, f.description.clone()))
                    .collect();
                (t.t, t.availability, faults)
            })
        }) else {
            return;
        };
        let last = live
            .history
            .with_untracked(|h| h.back().map(|&(last, _)| last));
        // A restarted server or a reset starts again from t = 0: so do the chart and counts.
        if last.is_some_and(|last| t < last) {
            live.history.update(VecDeque::clear);
            live.marks.update(VecDeque::clear);
            live.outage_s.set(0.0);
        }
        if let (Some(last), Some(a)) = (last.filter(|&last| t >= last), availability)
            && a < SLO
        {
            live.outage_s.update(|o| *o += t - last);
        }
        live.history.update(|history| {
            history.push_back((t, availability));
            while history.len() > HISTORY_LEN {
                history.pop_front();
            }
        });
        live.marks.update(|marks| {
            for (start, id, what) in faults {
                if !marks.iter().any(|(_, seen, _)| *seen == id) {
                    marks.push_back((start, id, what));
                }
            }
            let oldest = live
                .history
                .with_untracked(|h| h.front().map_or(0.0, |p| p.0));
            while marks.front().is_some_and(|(start, _, _)| *start < oldest) {
                marks.pop_front();
            }
        });
    });
    view! {
        <header class="topbar">
            <div class="brand">
                <span class="logo" aria-hidden="true"></span>
                <span>"blastradius"</span>
            </div>
            <div class="topology-name">
                {move || live.snapshot.with(|s| s.as_ref().map(|s| s.topology.name.clone()))}
            </div>
            <ConnectionBadge/>
            <SourceSwitch/>
            <div
                class="clock"
                title=move || if live.observed.get() { "time since the server began observing" } else { "simulated time" }
            >
                {move || live.tick.with(|t| t.as_ref().map(|t| format!("t = {}", format::clock(t.t))))}
            </div>
            <crate::views::ScreenSwitch/>
            <Show when=move || !live.observed.get()>
                <crate::views::ReportButton
                    url="/api/report"
                    label="Report"
                    title="Single points of failure, worst blast radius, routing under the worst kill"
                    test_id="report"
                />
            </Show>
            <Availability/>
            <div class="chrome">
                <crate::chrome::ThemeToggle/>
                <crate::chrome::Help/>
            </div>
        </header>
        <Toolbar/>
        <main class="layout" class:replaying=move || live.screen.get() == Screen::Replay>
            <section class="canvas">
                <div class="screen" class:hidden=move || matches!(live.screen.get(), Screen::Compare | Screen::Model)>
                    <Graph/>
                    <Show when=move || {
                        live.observed.get()
                            && live.snapshot.with(|s| s.as_ref().is_some_and(|s| s.topology.services.is_empty()))
                    }>
                        <ObserveHelp/>
                    </Show>
                </div>
                <Show when=move || live.screen.get() == Screen::Compare>
                    <crate::sides::CompareScreen/>
                </Show>
                <Show when=move || live.screen.get() == Screen::Model>
                    <crate::sides::ModelScreen/>
                </Show>
                <Show when=move || live.screen.get() == Screen::Replay>
                    <crate::views::ReplayBar/>
                </Show>
            </section>
            <aside class="side">
                <Panel/>
            </aside>
        </main>
    }
}

/// The switch between the simulation and the observed system: both keep running on the
/// server, and every viewer follows the one chosen.
#[component]
fn SourceSwitch() -> impl IntoView {
    let live = expect_context::<Live>();
    let button = move |observed: bool, label: &'static str, test_id: &'static str, title| {
        view! {
            <button
                data-testid=test_id
                title=title
                class:active=move || live.observed.get() == observed
                aria-pressed=move || (live.observed.get() == observed).to_string()
                on:click=move |_| {
                    let source = if observed { "observed" } else { "simulated" };
                    live.selected.set(None);
                    live.selected_edge.set(None);
                    if live.screen.get_untracked() != Screen::Live {
                        live.screen.set(Screen::Live);
                    }
                    api::in_background(live, async move {
                        let body = serde_json::json!({ "source": source }).to_string();
                        api::send("PUT", "/api/session", Some(body)).await
                    });
                }
            >
                {label}
            </button>
        }
    };
    view! {
        <div class="source-switch" role="group" aria-label="What the live view shows" data-testid="source">
            {button(false, "Simulated", "source-simulated", "The simulation: design a topology and break it")}
            {button(true, "Observed", "source-observed", "A real system, live from its OpenTelemetry traces")}
        </div>
    }
}

/// What to do when the observed graph is empty: how to send traces here.
#[component]
fn ObserveHelp() -> impl IntoView {
    let origin = web_sys::window()
        .and_then(|w| w.location().origin().ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    view! {
        <div class="observe-help" data-testid="observe-empty">
            <h2>"No spans yet"</h2>
            <p>"Point your services' OpenTelemetry SDKs (or a Collector's OTLP/HTTP exporter) here:"</p>
            <pre>{format!("OTEL_EXPORTER_OTLP_ENDPOINT={origin}")}</pre>
            <p>"or run a real demo system that sends its traces here, in a second terminal:"</p>
            <pre>{format!("blastradius template shop > shop.json\nblastradius demo shop.json --server {origin}")}</pre>
            <p class="hint">"A service appears within a second of its first span."</p>
        </div>
    }
}

/// Whether the view is live, and says so when it is not.
#[component]
fn ConnectionBadge() -> impl IntoView {
    let live = expect_context::<Live>();
    let state = move || match live.connection.get() {
        Connection::Connecting => ("connecting", "Connecting…"),
        // The stream is fine, but what is on screen is the past: say so.
        Connection::Live if live.screen.get() == Screen::Replay => ("live", "Replaying the past"),
        Connection::Live => ("live", "Live"),
        Connection::Reconnecting => ("reconnecting", "Reconnecting…"),
    };
    view! {
        <div class="connection" data-testid="connection" data-state=move || state().0>
            <span class="dot"></span>
            {move || state().1}
        </div>
    }
}

/// Overall availability and each entry point's, over the last second of simulated time.
#[component]
fn Availability() -> impl IntoView {
    let live = expect_context::<Live>();
    let entries = Memo::new(move |_| {
        live.tick.with(|t| {
            t.as_ref()
                .map(|t| t.entries.keys().cloned().collect::<Vec<_>>())
                .unwrap_or_default()
        })
    });
    // Each entry's figure as shown, in a signal of its own that one effect sets only when
    // the text changes: a large topology has hundreds of entry points, and a memo each on
    // the tick made every tick re-run and re-subscribe hundreds of nodes (removing a
    // subscriber is linear in their number) and rewrite hundreds of texts.
    let figures = StoredValue::new(HashMap::<String, ArcRwSignal<EntryFigure>>::new());
    let figure_of = move |name: &str| {
        figures
            .try_update_value(|figures| {
                figures
                    .entry(name.to_string())
                    .or_insert_with(|| ArcRwSignal::new(EntryFigure::of(None)))
                    .clone()
            })
            .unwrap_or_else(|| ArcRwSignal::new(EntryFigure::of(None)))
    };
    Effect::new(move |_| {
        live.tick.with(|t| {
            let Some(t) = t else { return };
            figures.update_value(|figures| figures.retain(|name, _| t.entries.contains_key(name)));
            for (name, figures) in &t.entries {
                let shown = EntryFigure::of(figures.availability);
                let signal = figure_of(name);
                if signal.with_untracked(|now| *now != shown) {
                    signal.set(shown);
                }
            }
        })
    });
    let overall = move || live.tick.with(|t| t.as_ref().and_then(|t| t.availability));
    view! {
        <div class="kpis">
            <For each=move || entries.get() key=|name| name.clone() let:name>
                <EntryAvailability figure=figure_of(&name) name=name/>
            </For>
            <div class="kpi overall" data-level=move || level(overall())>
                <span class="label">"Availability"</span>
                <span class="value" data-testid="availability">
                    {move || format::percent(overall())}
                </span>
            </div>
        </div>
    }
}

/// An entry point's availability as shown: its text and colour class.
#[derive(Clone, Debug, PartialEq)]
struct EntryFigure {
    text: String,
    level: &'static str,
}

impl EntryFigure {
    fn of(share: Option<f64>) -> EntryFigure {
        EntryFigure {
            text: format::percent(share),
            level: level(share),
        }
    }
}

/// One entry point's availability.
#[component]
fn EntryAvailability(
    /// The entry point's service name.
    name: String,
    /// Its figure, kept up to date by [`Availability`].
    figure: ArcRwSignal<EntryFigure>,
) -> impl IntoView {
    let level = {
        let figure = figure.clone();
        move || figure.with(|f| f.level)
    };
    view! {
        <div class="kpi" data-level=level>
            <span class="label">{name.clone()}</span>
            <span class="value" data-testid=format!("availability-{name}")>
                {move || figure.with(|f| f.text.clone())}
            </span>
        </div>
    }
}

/// The colour class of an availability figure.
pub fn level(share: Option<f64>) -> &'static str {
    match share {
        None => "none",
        Some(s) if s >= 0.999 => "good",
        Some(s) if s >= 0.95 => "warn",
        Some(_) => "bad",
    }
}

/// While an observed system is shown, fetches what the model of its traces predicts now,
/// and again every 5 s as it learns.
fn follow_model(live: Live, predicted: RwSignal<Option<Analysis>>) {
    let fetch = move || {
        if live.observed.get_untracked() && live.screen.get_untracked() != Screen::Replay {
            api::load("/api/observed/analysis", move |analysis| {
                predicted.set(Some(analysis))
            });
        }
    };
    Effect::new(move |_| {
        if live.observed.get() {
            fetch();
        } else {
            predicted.set(None);
        }
    });
    let poll =
        leptos::prelude::set_interval_with_handle(fetch, std::time::Duration::from_secs(5)).ok();
    leptos::prelude::on_cleanup(move || {
        if let Some(poll) = poll {
            poll.clear();
        }
    });
}
