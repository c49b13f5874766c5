//! The toolbar under the top bar: load a template, switch the routing mode, and drive the
//! simulation clock (pause, speed, reset).

use leptos::prelude::*;
use simulator::templates;
use simulator::topology::RoutingMode;
use simulator::wire::SavedTopology;

use crate::api;
use crate::app::Live;
use crate::picture::{Picture, save_view};

/// Speeds offered, in simulated seconds per real second.
const SPEEDS: [f64; 7] = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0];

use api::in_background as run;

/// Changes the session's controls with `PUT /api/session`.
fn change_session(live: Live, change: serde_json::Value) {
    run(live, async move {
        api::send("PUT", "/api/session", Some(change.to_string())).await
    });
}

/// Fetches the list of saved topologies into `saved`.
fn refresh_saved(live: Live, saved: RwSignal<Vec<SavedTopology>>) {
    run(live, async move {
        let text = api::request("GET", "/api/topologies", None).await?;
        let list = serde_json::from_str(&text).map_err(|err| format!("bad list: {err}"))?;
        saved.set(list);
        Ok(())
    });
}

/// Save the live topology under a name, and load saved ones.
#[component]
fn SavedTopologies() -> impl IntoView {
    let live = expect_context::<Live>();
    let saved = RwSignal::new(Vec::<SavedTopology>::new());
    let name = RwSignal::new(String::new());
    refresh_saved(live, saved);
    let save = move || {
        let target = name.get_untracked().trim().to_string();
        if target.is_empty() {
            live.notice
                .set(Some("Give the topology a name to save it under.".into()));
            return;
        }
        run(live, async move {
            let topology = api::request("GET", "/api/topology", None).await?;
            api::send("PUT", &format!("/api/topologies/{target}"), Some(topology)).await?;
            name.set(String::new());
            refresh_saved(live, saved);
            Ok(())
        });
    };
    view! {
        <label class="control">
            <select
                data-testid="saved-select"
                aria-label="Saved topologies"
                prop:value=""
                on:focus=move |_| refresh_saved(live, saved)
                on:change=move |event| {
                    let chosen = event_target_value(&event);
                    if chosen.is_empty() {
                        return;
                    }
                    run(live, async move {
                        let topology = api::request("GET", &format!("/api/topologies/{chosen}"), None)
                            .await?;
                        api::send("PUT", "/api/topology", Some(topology)).await?;
                        live.selected.set(None);
                        Ok(())
                    });
                }
            >
                <option value="">
                    {move || if saved.with(Vec::is_empty) { "None saved" } else { "Saved…" }}
                </option>
                <For each=move || saved.get() key=|t| (t.name.clone(), t.updated_at) let:topology>
                    <option value=topology.name.clone()>
                        {format!("{} ({} services)", topology.name, topology.services)}
                    </option>
                </For>
            </select>
        </label>
        <input
            class="save-name"
            data-testid="save-name"
            placeholder="name"
            aria-label="Name to save the live topology under"
            prop:value=move || name.get()
            on:input=move |event| name.set(event_target_value(&event))
            on:keydown=move |event| {
                if event.key() == "Enter" {
                    save();
                }
            }
        />
        <button data-testid="save" title="Save the live topology under this name" on:click=move |_| save()>
            "Save"
        </button>
    }
}

/// Import a topology file (JSON or YAML) as the live topology; export the live one.
#[component]
fn ImportExport() -> impl IntoView {
    let live = expect_context::<Live>();
    let import = move |event: web_sys::Event| {
        let Some(file) = api::chosen_file(&event) else {
            return;
        };
        let name = file.name();
        let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        run(live, async move {
            let text = api::file_text(&file).await?;
            let content_type = if yaml {
                "application/yaml"
            } else {
                "application/json"
            };
            api::request_as("PUT", "/api/topology", Some(text), content_type)
                .await
                .map_err(|err| format!("{name} was not imported: {err}"))?;
            live.selected.set(None);
            Ok(())
        });
    };
    view! {
        <crate::chrome::FilePicker
            label="Import"
            title="Run a topology file (JSON or YAML) from your disk"
            test_id="import"
            input_test_id="import-file"
            accept=".json,.yaml,.yml,application/json,application/yaml"
            chosen=import
        />
        <label class="control">
            <select
                data-testid="export"
                aria-label="Export the live topology"
                title="Download the live topology as a file"
                prop:value=""
                on:change=move |event| {
                    let format = event_target_value(&event);
                    let stem = live
                        .snapshot
                        .with_untracked(|s| s.as_ref().map(|s| s.topology.name.clone()))
                        .unwrap_or_else(|| "blastradius".into());
                    let picture = match format.as_str() {
                        "" => return,
                        "svg" => Some(Picture::Svg),
                        "png" => Some(Picture::Png),
                        _ => None,
                    };
                    if let Some(picture) = picture {
                        live.notice.set(save_view(picture, &stem).err());
                    } else if let Some(window) = web_sys::window() {
                        // The server answers with an attachment: the browser saves it and stays.
                        let url = format!("/api/topology?format={format}&download=true");
                        let _ = window.location().set_href(&url);
                    }
                    if let Some(select) = event
                        .target()
                        .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlSelectElement>(t).ok())
                    {
                        select.set_value("");
                    }
                }
            >
                <option value="">"Export…"</option>
                <option value="json">"JSON file"</option>
                <option value="yaml">"YAML file"</option>
                <option value="svg">"View as SVG"</option>
                <option value="png">"View as PNG"</option>
            </select>
        </label>
    }
}

/// Template, routing mode and clock controls.
#[component]
pub fn Toolbar() -> impl IntoView {
    let live = expect_context::<Live>();
    let template = RwSignal::new(String::new());
    let size = RwSignal::new(String::new());
    let load = move || {
        let name = template.get_untracked();
        if name.is_empty() {
            return;
        }
        let size = size.get_untracked();
        let query = if size.trim().is_empty() {
            String::new()
        } else {
            format!("?size={}", size.trim())
        };
        run(live, async move {
            let topology =
                api::request("GET", &format!("/api/templates/{name}{query}"), None).await?;
            api::send("PUT", "/api/topology", Some(topology)).await?;
            live.selected.set(None);
            Ok(())
        });
    };
    let mode = move || {
        live.tick
            .with(|t| t.as_ref().map(|t| t.routing_mode.name()).unwrap_or("smart"))
    };
    let paused = move || {
        live.tick
            .with(|t| t.as_ref().is_some_and(|t| t.speed == 0.0))
    };
    let speed = RwSignal::new(1.0f64);
    let simulated = move || !live.observed.get();
    view! {
        <Show when=move || live.observed.get()>
            <nav class="toolbar observing" aria-label="Observed system" data-testid="observing">
                <span class="observing-note">
                    "Observing a real system through its traces. Templates, editing, the routing \
                     mode and the clock belong to the simulation: switch to Simulated for them."
                </span>
            </nav>
        </Show>
        <nav class="toolbar" class:hidden=move || !simulated() aria-label="Simulation controls">
            <label class="control">
                <select
                    data-testid="template-select"
                    aria-label="Template"
                    prop:value=move || template.get()
                    on:change=move |event| {
                        template.set(event_target_value(&event));
                        load();
                    }
                >
                    <option value="" disabled=true selected=true>"Template…"</option>
                    {templates::NAMES
                        .iter()
                        .map(|name| view! { <option value=*name>{*name}</option> })
                        .collect_view()}
                </select>
            </label>
            <label class="control">
                <input
                    aria-label="Template size (services)"
                    title="Number of services (empty: the template's default)"
                    class="size"
                    data-testid="template-size"
                    type="number"
                    min="2"
                    max="5000"
                    placeholder="size"
                    prop:value=move || size.get()
                    on:input=move |event| size.set(event_target_value(&event))
                    on:keydown=move |event| {
                        if event.key() == "Enter" {
                            load();
                        }
                    }
                />
            </label>
            <span class="divider"></span>
            <SavedTopologies/>
            <ImportExport/>
            <crate::editor::UndoRedo/>
            <span class="divider"></span>
            <label class="control">
                <select
                    data-testid="routing-mode"
                    aria-label="Routing mode"
                    title="Routing mode: how callers find an instance"
                    prop:value=mode
                    on:change=move |event| {
                        let value = event_target_value(&event);
                        change_session(live, serde_json::json!({ "routing_mode": value }));
                    }
                >
                    {RoutingMode::ALL
                        .iter()
                        .map(|m| {
                            let (label, title) = match m {
                                RoutingMode::Dns => ("DNS", "Clients cache health-checked DNS answers for dns_ttl_s"),
                                RoutingMode::Lb => ("Load balancer", "Every call goes through one central load balancer"),
                                RoutingMode::Smart => ("Smart clients", "Service discovery: a registry feeds each client's routing table"),
                            };
                            view! { <option value=m.name() title=title>{label}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <span class="divider"></span>
            <button
                data-testid="pause"
                class="icon"
                title=move || if paused() { "Resume the simulation" } else { "Pause the simulation" }
                on:click=move |_| change_session(live, serde_json::json!({ "paused": !paused() }))
            >
                {move || if paused() { "Resume" } else { "Pause" }}
            </button>
            <label class="control">
                <span>"Speed"</span>
                <select
                    data-testid="speed"
                    prop:value=move || {
                        let running = live.tick.with(|t| t.as_ref().map_or(0.0, |t| t.speed));
                        if running > 0.0 { running } else { speed.get() }.to_string()
                    }
                    on:change=move |event| {
                        if let Ok(value) = event_target_value(&event).parse::<f64>() {
                            speed.set(value);
                            change_session(live, serde_json::json!({ "speed": value }));
                        }
                    }
                >
                    {SPEEDS
                        .iter()
                        .map(|s| view! { <option value=s.to_string()>{format!("{s}×")}</option> })
                        .collect_view()}
                </select>
            </label>
            <button
                data-testid="reset"
                title="Start again from t = 0 with the same topology and seed, without faults"
                on:click=move |_| {
                    run(live, async move { api::send("POST", "/api/session/reset", None).await })
                }
            >
                "Reset"
            </button>
        </nav>
    }
}
