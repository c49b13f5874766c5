//! The chaos tab: the Chaos Monkey's switch and settings, and the experiment runner (faults
//! on a timeline, a steady-state hypothesis, run, live verdict, past reports).

use leptos::prelude::*;
use simulator::fault::Fault;
use simulator::wire::{ExperimentSummary, MonkeySettings};

use crate::api;
use crate::app::Live;
use crate::format;

/// The Chaos Monkey: a switch, how often it strikes, how long a victim stays down, and
/// which services it picks from.
#[component]
pub fn MonkeyCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let monkey = RwSignal::new(None::<MonkeySettings>);
    let interval = RwSignal::new(String::from("30"));
    let down = RwSignal::new(String::from("10"));
    let services = RwSignal::new(String::new());
    // Another browser (or the fault list) may switch it: follow the monkey faults in the
    // ticks and fetch the settings again whenever they change.
    let monkey_faults = Memo::new(move |_| {
        live.tick.with(|t| {
            t.as_ref()
                .map(|t| {
                    t.faults
                        .iter()
                        .filter(|f| f.fault.kind == simulator::fault::FaultKind::Monkey)
                        .map(|f| f.id)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    Effect::new(move |_| {
        let _ = monkey_faults.get();
        // Each source has a monkey of its own.
        live.observed.track();
        api::load("/api/monkey", move |settings| monkey.set(Some(settings)));
    });
    Effect::new(move |_| {
        if let Some(settings) = monkey.get() {
            interval.set(settings.mean_interval_s.to_string());
            down.set(settings.down_s.to_string());
            services.set(settings.services.join(", "));
        }
    });
    let enabled = move || monkey.with(|m| m.as_ref().is_some_and(|m| m.enabled));
    let apply = move |enable: bool| {
        let mean_interval_s = interval.get_untracked().trim().parse::<f64>();
        let down_s = down.get_untracked().trim().parse::<f64>();
        let (Ok(mean_interval_s), Ok(down_s)) = (mean_interval_s, down_s) else {
            live.notice.set(Some(
                "The monkey needs a number of seconds between strikes and for how long.".into(),
            ));
            return;
        };
        let targets: Vec<String> = services
            .get_untracked()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let body = serde_json::json!({
            "enabled": enable,
            "mean_interval_s": mean_interval_s,
            "down_s": down_s,
            "services": targets,
        });
        api::in_background(live, async move {
            let text = api::request("PUT", "/api/monkey", Some(body.to_string())).await?;
            let settings =
                serde_json::from_str(&text).map_err(|err| format!("bad monkey: {err}"))?;
            monkey.set(Some(settings));
            Ok(())
        });
    };
    let target_count = move || {
        let named = services.with(|s| s.split(',').filter(|s| !s.trim().is_empty()).count());
        if named > 0 {
            format!("any of the {named} named services")
        } else {
            let all = live
                .snapshot
                .with(|s| s.as_ref().map_or(0, |s| s.topology.services.len()));
            format!("any of the {all} services")
        }
    };
    view! {
        <section class="panel-card monkey" data-enabled=move || enabled().to_string()>
            <div class="card-head">
                <h3>"Chaos Monkey"</h3>
                <label class="switch" title="Kill a random instance every so often, and revive it later">
                    <input
                        type="checkbox"
                        data-testid="monkey-toggle"
                        prop:checked=enabled
                        on:change=move |event| apply(event_target_checked(&event))
                    />
                    <span>{move || if enabled() { "On" } else { "Off" }}</span>
                </label>
            </div>
            <div class="form-grid">
                <label>
                    <span>"Strike every"</span>
                    <input
                        type="number"
                        min="0.1"
                        step="any"
                        data-testid="monkey-interval"
                        prop:value=move || interval.get()
                        on:input=move |event| interval.set(event_target_value(&event))
                        on:change=move |_| if enabled() { apply(true) }
                    />
                    <em>"s on average"</em>
                </label>
                <label>
                    <span>"Keep down"</span>
                    <input
                        type="number"
                        min="0.1"
                        step="any"
                        data-testid="monkey-down"
                        prop:value=move || down.get()
                        on:input=move |event| down.set(event_target_value(&event))
                        on:change=move |_| if enabled() { apply(true) }
                    />
                    <em>"s"</em>
                </label>
                <label class="wide">
                    <span>"Targets"</span>
                    <input
                        placeholder="every service"
                        data-testid="monkey-services"
                        prop:value=move || services.get()
                        on:input=move |event| services.set(event_target_value(&event))
                        on:change=move |_| if enabled() { apply(true) }
                    />
                </label>
            </div>
            <p class="hint">
                {move || {
                    if enabled() {
                        format!("On: kills a random instance ({}) about every {} s, for {} s.", target_count(), interval.get(), down.get())
                    } else {
                        format!("Off. When on, it kills a random instance ({}) now and then.", target_count())
                    }
                }}
            </p>
        </section>
    }
}

/// Fault kinds the experiment form offers, with the parameter each needs (CLI form).
const KINDS: [(&str, &str); 6] = [
    ("kill", ""),
    ("hang", ""),
    ("slow", " factor=4"),
    ("latency", " ms=200"),
    ("errors", " rate=0.3"),
    ("partition", " both=true"),
];

/// One fault row of the experiment form.
#[derive(Clone, Debug)]
struct FaultRow {
    key: u32,
    at_s: RwSignal<String>,
    kind: RwSignal<String>,
    target: RwSignal<String>,
    duration_s: RwSignal<String>,
}

impl FaultRow {
    fn new(key: u32, target: String) -> FaultRow {
        FaultRow {
            key,
            at_s: RwSignal::new("5".into()),
            kind: RwSignal::new("kill".into()),
            target: RwSignal::new(target),
            duration_s: RwSignal::new("20".into()),
        }
    }

    /// The fault, read through the CLI's `AT KIND TARGET key=value` form so a person gets
    /// the same checks and messages as on the command line.
    fn fault(&self, index: usize) -> Result<Fault, String> {
        let kind = self.kind.get_untracked();
        let extra = KINDS
            .iter()
            .find(|(name, _)| *name == kind)
            .map_or("", |(_, extra)| extra);
        let duration = self.duration_s.get_untracked();
        let duration = match duration.trim() {
            "" => String::new(),
            d => format!(" duration={d}s"),
        };
        let text = format!(
            "{}s {kind} {}{extra}{duration}",
            self.at_s.get_untracked().trim(),
            self.target.get_untracked().trim()
        );
        Fault::parse_cli(&text).map_err(|err| format!("fault {}: {err}", index + 1))
    }
}

/// A service worth breaking by default: the selected one, or the first that is not an
/// entry point.
fn default_target(live: Live) -> String {
    if let Some(selected) = live.selected.get_untracked() {
        return selected;
    }
    live.snapshot.with_untracked(|s| {
        s.as_ref()
            .and_then(|s| s.topology.services.iter().find(|s| !s.is_entry()))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    })
}

/// The experiment runner: the plan form, the running experiment's live verdict, and the
/// reports of past ones.
#[component]
pub fn ExperimentCard() -> impl IntoView {
    let live = expect_context::<Live>();
    let name = RwSignal::new(String::from("experiment"));
    let next_key = RwSignal::new(1u32);
    let rows = RwSignal::new(vec![FaultRow::new(0, default_target(live))]);
    let entry = RwSignal::new(String::new());
    let min_percent = RwSignal::new(String::from("99"));
    let over_s = RwSignal::new(String::from("10"));
    let duration_s = RwSignal::new(String::from("60"));
    let abort = RwSignal::new(true);
    let current = Memo::new(move |_| {
        live.tick
            .with(|t| t.as_ref().and_then(|t| t.experiment.clone()))
    });
    let running =
        move || current.with(|c| c.as_ref().is_some_and(|c| c.verdict.as_str() == "running"));
    let entries = move || {
        live.snapshot.with(|s| {
            s.as_ref()
                .map(|s| s.analysis.entries.clone())
                .unwrap_or_default()
        })
    };
    let run = move || {
        let faults: Result<Vec<Fault>, String> = rows
            .get_untracked()
            .iter()
            .enumerate()
            .map(|(i, row)| row.fault(i))
            .collect();
        let faults = match faults {
            Ok(faults) => faults,
            Err(message) => {
                live.notice.set(Some(message));
                return;
            }
        };
        let numbers = (
            min_percent.get_untracked().trim().parse::<f64>(),
            over_s.get_untracked().trim().parse::<u32>(),
            duration_s.get_untracked().trim().parse::<u32>(),
        );
        let (Ok(min_percent), Ok(over_s), Ok(duration_s)) = numbers else {
            live.notice.set(Some(
                "The hypothesis needs a percentage and whole seconds, and the experiment a duration in whole seconds.".into(),
            ));
            return;
        };
        let mut hypothesis = serde_json::json!({
            "min_availability": min_percent / 100.0,
            "over_s": over_s,
        });
        let entry = entry.get_untracked();
        if !entry.is_empty() {
            hypothesis["entry"] = entry.into();
        }
        let plan = serde_json::json!({
            "name": name.get_untracked(),
            "faults": faults,
            "hypothesis": hypothesis,
            "duration_s": duration_s,
            "abort_on_break": abort.get_untracked(),
        });
        api::in_background(live, async move {
            api::send("POST", "/api/experiments", Some(plan.to_string())).await
        });
    };
    view! {
        <section class="panel-card experiment" data-testid="experiment-card">
            <h3>"Experiment"</h3>
            {move || current.get().map(|summary| view! { <ExperimentStatus summary=summary/> })}
            <Show when=move || !running()>
                <div class="form-grid">
                    <label class="wide">
                        <span>"Name"</span>
                        <input
                            data-testid="experiment-name"
                            prop:value=move || name.get()
                            on:input=move |event| name.set(event_target_value(&event))
                        />
                    </label>
                </div>
                <p class="form-label">"Faults (from the start)"</p>
                <ul class="fault-rows">
                    <For each=move || rows.get() key=|row| row.key let:row>
                        <FaultRowView row=row.clone() on_remove=move || rows.update(|rows| rows.retain(|r| r.key != row.key))/>
                    </For>
                </ul>
                <button
                    class="small"
                    data-testid="experiment-add-fault"
                    on:click=move |_| {
                        let key = next_key.get_untracked();
                        next_key.set(key + 1);
                        rows.update(|rows| rows.push(FaultRow::new(key, default_target(live))));
                    }
                >
                    "+ Add fault"
                </button>
                <p class="form-label">"Hypothesis: it holds while"</p>
                <div class="form-grid">
                    <label class="wide">
                        <span>"Availability of"</span>
                        <select
                            data-testid="experiment-entry"
                            prop:value=move || entry.get()
                            on:change=move |event| entry.set(event_target_value(&event))
                        >
                            <option value="">"all entries"</option>
                            <For each=entries key=|e| e.clone() let:e>
                                <option value=e.clone()>{e.clone()}</option>
                            </For>
                        </select>
                    </label>
                    <NumberField label="is at least" test_id="experiment-min" value=min_percent unit="%" min="0"/>
                    <NumberField label="over" test_id="experiment-over" value=over_s unit="s" min="1"/>
                    <NumberField label="Run for" test_id="experiment-duration" value=duration_s unit="s" min="1"/>
                    <label class="check">
                        <input
                            type="checkbox"
                            data-testid="experiment-abort"
                            prop:checked=move || abort.get()
                            on:change=move |event| abort.set(event_target_checked(&event))
                        />
                        <span>"Abort when it breaks"</span>
                    </label>
                </div>
                <div class="actions">
                    <button class="danger" data-testid="experiment-run" on:click=move |_| run()>
                        "Run experiment"
                    </button>
                </div>
            </Show>
        </section>
        <PastExperiments/>
    }
}

/// A labelled number input with its unit, bound to `value` (the text as typed).
#[component]
fn NumberField(
    label: &'static str,
    test_id: &'static str,
    value: RwSignal<String>,
    unit: &'static str,
    min: &'static str,
) -> impl IntoView {
    view! {
        <label>
            <span>{label}</span>
            <input
                type="number"
                min=min
                step="any"
                data-testid=test_id
                prop:value=move || value.get()
                on:input=move |event| value.set(event_target_value(&event))
            />
            <em>{unit}</em>
        </label>
    }
}

/// One fault row: when, what, where, for how long.
#[component]
fn FaultRowView(row: FaultRow, on_remove: impl Fn() + 'static) -> impl IntoView {
    view! {
        <li class="fault-row" data-testid="experiment-fault">
            <input
                class="at"
                type="number"
                min="0"
                step="any"
                aria-label="Starts at (s)"
                title="Starts this many seconds into the experiment"
                prop:value=move || row.at_s.get()
                on:input=move |event| row.at_s.set(event_target_value(&event))
            />
            <select
                aria-label="Fault kind"
                prop:value=move || row.kind.get()
                on:change=move |event| row.kind.set(event_target_value(&event))
            >
                {KINDS.iter().map(|(kind, _)| view! { <option value=*kind>{*kind}</option> }).collect_view()}
            </select>
            <input
                class="target"
                aria-label="Target"
                title="A service (cart), one instance (cart#2) or a link (web->cart)"
                placeholder="cart#1"
                prop:value=move || row.target.get()
                on:input=move |event| row.target.set(event_target_value(&event))
            />
            <input
                class="duration"
                type="number"
                min="0"
                step="any"
                aria-label="Lasts (s)"
                title="Reverts itself after this many seconds (empty: until the end)"
                prop:value=move || row.duration_s.get()
                on:input=move |event| row.duration_s.set(event_target_value(&event))
            />
            <button class="small" title="Remove this fault" on:click=move |_| on_remove()>"×"</button>
        </li>
    }
}

/// The running (or last) experiment: progress, what the hypothesis sees, the verdict.
#[component]
fn ExperimentStatus(summary: ExperimentSummary) -> impl IntoView {
    let live = expect_context::<Live>();
    let verdict = summary.verdict.as_str();
    let progress = f64::from(summary.elapsed_s) / f64::from(summary.duration_s.max(1)) * 100.0;
    let id = summary.id;
    view! {
        <div class="experiment-status" data-verdict=verdict>
            <div class="card-head">
                <strong>{summary.name.clone()}</strong>
                <span class="verdict" data-testid="experiment-verdict" data-verdict=verdict>
                    {verdict.to_uppercase()}
                </span>
            </div>
            <p class="hint">
                {summary.hypothesis_text.clone()}
                {summary.real.then_some(" · on the real system")}
            </p>
            <div class="progress" title=format!("{} of {} s", summary.elapsed_s, summary.duration_s)>
                <span style=format!("width: {progress:.1}%")></span>
            </div>
            <p class="figures-line">
                {format!(
                    "{} / {} s · now {}",
                    summary.elapsed_s,
                    summary.duration_s,
                    format::percent(summary.trailing)
                )}
            </p>
            <p class="reason" data-testid="experiment-reason">{summary.reason.clone()}</p>
            {(verdict == "running").then(|| view! {
                <button
                    class="small"
                    data-testid="experiment-stop"
                    on:click=move |_| {
                        api::in_background(live, async move {
                            api::send("POST", &format!("/api/experiments/{id}/stop"), None).await
                        })
                    }
                >
                    "Stop"
                </button>
            })}
        </div>
    }
}

/// The stored reports, newest first, each a link to its full JSON.
#[component]
fn PastExperiments() -> impl IntoView {
    let live = expect_context::<Live>();
    let list = RwSignal::new(Vec::<ExperimentSummary>::new());
    // Fetch again whenever an experiment starts or ends.
    let marker = Memo::new(move |_| {
        live.tick.with(|t| {
            t.as_ref()
                .and_then(|t| t.experiment.as_ref())
                .map(|e| (e.id, e.verdict))
        })
    });
    Effect::new(move |_| {
        let _ = marker.get();
        api::load("/api/experiments", move |summaries| list.set(summaries));
    });
    view! {
        <section class="panel-card">
            <h3>"Past experiments"</h3>
            <ul class="experiment-list" data-testid="experiment-list">
                <For each=move || list.get() key=|e| (e.id, e.verdict, e.elapsed_s) let:e>
                    <li data-verdict=e.verdict.as_str()>
                        <span class="verdict" data-verdict=e.verdict.as_str()>{e.verdict.as_str()}</span>
                        <a href=format!("/api/experiments/{}", e.id) target="_blank" title=e.reason.clone()>
                            {format!("#{} {}", e.id, e.name)}
                        </a>
                        <span class="hint">{e.hypothesis_text.clone()}</span>
                    </li>
                </For>
            </ul>
            <Show when=move || list.with(Vec::is_empty)>
                <p class="hint">"No experiment has run yet. Plan one above: faults, a hypothesis, run."</p>
            </Show>
        </section>
    }
}
