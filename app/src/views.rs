//! The screens beside the live graph: the switch between them, the replay bar that scrubs
//! a run second by second, and the resilience report. The side-by-side screens (the routing
//! comparison, "Model this") are in `sides`.

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use simulator::engine::RoutingTable;
use simulator::resilience::ResilienceReport;
use simulator::wire::{RunInfo, Snapshot, Tick};

use crate::api;
use crate::app::{Live, Screen};
use crate::chrome::{Dialog, FilePicker};
use crate::format;

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
                class:hidden=move || match screen {
                    Screen::Compare => live.observed.get(),
                    // The model of a real system's traces: nothing to model in a simulation.
                    Screen::Model => !live.observed.get(),
                    _ => false,
                }
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
            {button(Screen::Model, "Model this", "screen-model", "The model estimated from the traces, run as a simulation beside the real system and given its real faults")}
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

/// A resilience report (`url`: the live topology's, or the model's), in an overlay, with a
/// Markdown download.
#[component]
pub fn ReportButton(
    url: &'static str,
    label: &'static str,
    title: &'static str,
    test_id: &'static str,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let report = RwSignal::new(None::<Result<ResilienceReport, String>>);
    let show = move || {
        open.set(true);
        report.set(None);
        leptos::task::spawn_local(async move {
            let answer = api::request("GET", url, None)
                .await
                .and_then(|text| serde_json::from_str(&text).map_err(|e| e.to_string()));
            report.set(Some(answer));
        });
    };
    view! {
        <button
            class="small"
            data-testid=format!("open-{test_id}")
            title=title
            on:click=move |_| show()
        >
            {label}
        </button>
        <Dialog
            open=open
            title="Resilience report"
            class="report"
            test_id=test_id
            header=move || view! {
                <a class="button small" data-testid=format!("{test_id}-markdown") href=format!("{url}?format=markdown&download=true")>
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
                                    <tr class=crate::sides::mode_class(mode)>
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
