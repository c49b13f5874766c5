//! The event log in plain words: each fault injected or reverted, when, and what it did to
//! overall availability — "0:12 kill catalog-db — availability 100.0% → 0.0%", or on a real
//! system "0:42 kill cart#2 (real) — availability 99.9% → 66.0%". The effect
//! is read a few simulated seconds after the change, once the rolling figures have caught up.

use std::collections::{BTreeMap, VecDeque};

use leptos::prelude::*;
use simulator::engine::FaultId;
use simulator::wire::Tick;

use crate::app::Live;
use crate::format;

/// Lines kept, newest first.
const LOG_LEN: usize = 50;
/// Simulated seconds after a change at which its effect is read.
const SETTLE_S: f64 = 3.0;

/// One line of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub seq: u64,
    pub t: f64,
    pub what: String,
    pub before: Option<f64>,
    /// Filled in `SETTLE_S` after the change.
    pub after: Option<Option<f64>>,
}

impl LogLine {
    fn text(&self) -> String {
        let effect = match self.after {
            Some(after) => format!(
                "availability {} → {}",
                format::percent(self.before),
                format::percent(after)
            ),
            None => format!("availability {} → …", format::percent(self.before)),
        };
        format!("{} {} — {effect}", format::clock(self.t), self.what)
    }
}

/// Watches ticks and keeps `lines` up to date. Call once, from the app.
pub fn follow(live: Live, lines: RwSignal<VecDeque<LogLine>>) {
    let state = StoredValue::new(Seen::default());
    Effect::new(move |_| {
        live.tick.with(|tick| {
            let Some(tick) = tick else { return };
            let real = live.observed.get_untracked();
            state.update_value(|seen| record(tick, real, seen, lines));
        });
    });
}

/// What the log remembers between ticks.
#[derive(Default)]
struct Seen {
    /// Active faults at the last tick; `None` before the first.
    faults: Option<BTreeMap<FaultId, String>>,
    /// Availability at the last tick: the "before" of a change seen in this one, whose own
    /// figures already include a moment of the change.
    availability: Option<f64>,
    next_seq: u64,
}

/// Notes the faults that came and went since the last tick; a real system's (through its
/// fault proxies) are marked so.
fn record(tick: &Tick, real: bool, seen: &mut Seen, lines: RwSignal<VecDeque<LogLine>>) {
    let now: BTreeMap<FaultId, String> = tick
        .faults
        .iter()
        .filter(|f| f.state == "active")
        .map(|f| {
            let what = if real {
                format!("{} (real)", f.description)
            } else {
                f.description.clone()
            };
            (f.id, what)
        })
        .collect();
    let before = seen.faults.replace(now.clone());
    let availability_before = std::mem::replace(&mut seen.availability, tick.availability);
    let mut changes = Vec::new();
    if let Some(before) = before {
        for (id, what) in &now {
            if !before.contains_key(id) {
                changes.push(what.clone());
            }
        }
        for (id, what) in &before {
            if !now.contains_key(id) {
                changes.push(format!("ended: {what}"));
            }
        }
    }
    lines.update(|lines| {
        // A restarted run goes back in time: its log starts afresh.
        if lines.front().is_some_and(|l| l.t > tick.t + 1.0) {
            lines.clear();
        }
        for line in lines.iter_mut() {
            if line.after.is_none() && tick.t >= line.t + SETTLE_S {
                line.after = Some(tick.availability);
            }
        }
        for what in changes {
            seen.next_seq += 1;
            lines.push_front(LogLine {
                seq: seen.next_seq,
                t: tick.t,
                what,
                before: availability_before,
                after: None,
            });
        }
        lines.truncate(LOG_LEN);
    });
}

/// The log as a panel card.
#[component]
pub fn EventLog() -> impl IntoView {
    let live = expect_context::<Live>();
    let lines = RwSignal::new(VecDeque::<LogLine>::new());
    follow(live, lines);
    view! {
        <section class="panel-card">
            <h3>"Event log"</h3>
            <ol class="event-log" data-testid="event-log">
                <For
                    each=move || lines.get()
                    key=|line| (line.seq, line.after.map(|a| a.map(f64::to_bits)))
                    let:line
                >
                    <li>{line.text()}</li>
                </For>
            </ol>
            <Show when=move || lines.with(VecDeque::is_empty)>
                <p class="hint">"Faults and their effect on availability will be listed here."</p>
            </Show>
        </section>
    }
}
