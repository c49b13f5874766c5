//! Editing the live topology from the graph: add a service, connect two, delete what is
//! selected, and undo or redo any of it (property edits included). Every edit sends a whole
//! topology with `PUT /api/topology`, so the server checks it as it checks a file, and the
//! simulation carries on with it.

use std::collections::VecDeque;

use leptos::prelude::*;
use serde_json::Value;
use simulator::topology::{Dependency, Service, Topology};

use crate::api;
use crate::app::Live;

/// Edits kept for undo.
const HISTORY: usize = 50;

/// This browser's edits: topologies to go back to, and to go forward to again, and the
/// topologies sent but perhaps not yet live, sent one at a time in order.
#[derive(Clone, Copy)]
pub struct Edits {
    undo: RwSignal<Vec<Topology>>,
    redo: RwSignal<Vec<Topology>>,
    /// What the live topology is once everything sent has landed (`None`: the snapshot's).
    present: StoredValue<Option<Topology>>,
    outbox: StoredValue<VecDeque<Outgoing>>,
    sending: StoredValue<bool>,
}

/// A topology on its way to the server.
struct Outgoing {
    /// The request's body: a topology, or the property form's JSON with perhaps a mistake
    /// in it for the server to name.
    body: String,
    /// Where a refusal is told: the form that made the edit, else the page's notice.
    refusal: Option<RwSignal<Option<String>>>,
    /// The undo step the edit added, taken back if the server refuses it (the property
    /// form's edits: a mistake there should leave nothing to undo).
    undo_step: Option<Topology>,
}

impl Edits {
    pub fn new() -> Edits {
        Edits {
            undo: RwSignal::new(Vec::new()),
            redo: RwSignal::new(Vec::new()),
            present: StoredValue::new(None),
            outbox: StoredValue::new(VecDeque::new()),
            sending: StoredValue::new(false),
        }
    }

    pub fn can_undo(self) -> bool {
        self.undo.with(|u| !u.is_empty())
    }

    pub fn can_redo(self) -> bool {
        self.redo.with(|r| !r.is_empty())
    }

    /// The topology the next edit starts from: the last one sent, else the live one.
    fn present(self, live: Live) -> Option<Topology> {
        self.present.get_value().or_else(|| current(live))
    }

    /// Forgets what was sent once the server has answered everything (call on each new
    /// snapshot): from then on the snapshot is the truth, whoever changed it.
    pub fn settle(self) {
        if !self.sending.get_value() && self.outbox.with_value(VecDeque::is_empty) {
            self.present.set_value(None);
        }
    }

    /// Sends `topology`, after whatever is still on its way.
    fn submit(self, live: Live, topology: Topology) {
        let body = serde_json::to_string(&topology).expect("topologies serialise");
        let outgoing = Outgoing {
            body,
            refusal: None,
            undo_step: None,
        };
        self.send_after_the_rest(live, topology, outgoing);
    }

    /// Queues `outgoing` behind what is still on its way; `present` is what the live
    /// topology will be once it lands.
    fn send_after_the_rest(self, live: Live, present: Topology, outgoing: Outgoing) {
        self.present.set_value(Some(present));
        self.outbox
            .update_value(|outbox| outbox.push_back(outgoing));
        if self.sending.get_value() {
            return;
        }
        self.sending.set_value(true);
        leptos::task::spawn_local(async move {
            while let Some(next) = self.outbox.try_update_value(VecDeque::pop_front).flatten() {
                if let Err(message) = api::send("PUT", "/api/topology", Some(next.body)).await {
                    // Refused: what is live is what the snapshot says.
                    self.present.set_value(None);
                    if let Some(step) = next.undo_step {
                        self.undo.update(|undo| {
                            if undo.last() == Some(&step) {
                                undo.pop();
                            }
                        });
                    }
                    match next.refusal {
                        Some(refusal) => refusal.set(Some(message)),
                        None => live.notice.set(Some(message)),
                    }
                }
            }
            self.sending.set_value(false);
        });
    }
}

/// The live topology as this page last heard of it.
fn current(live: Live) -> Option<Topology> {
    live.snapshot
        .with_untracked(|s| s.as_ref().map(|s| s.topology.clone()))
}

/// Changes the live topology with `change` and keeps the one before for undo. `change`
/// may refuse with a message for the notice. (A change the server refuses leaves an undo
/// step that changes nothing.)
pub fn edit(
    live: Live,
    edits: Edits,
    change: impl FnOnce(&mut Topology) -> Result<(), String> + 'static,
) {
    let Some(before) = edits.present(live) else {
        return;
    };
    let mut after = before.clone();
    if let Err(message) = change(&mut after) {
        live.notice.set(Some(message));
        return;
    }
    live.notice.set(None);
    remember(edits, before);
    edits.submit(live, after);
}

/// Changes the JSON of the live topology with `change` (the property form's edit, which
/// may hold a mistake for the server to name in `refusal`), after every edit still on its
/// way, and keeps the one before for undo (taken back if the server refuses it).
pub fn edit_json(
    live: Live,
    edits: Edits,
    refusal: RwSignal<Option<String>>,
    change: impl FnOnce(&mut Value) -> Result<(), String>,
) {
    let Some(before) = edits.present(live) else {
        return;
    };
    let mut edited = serde_json::to_value(&before).expect("topologies serialise");
    if let Err(message) = change(&mut edited) {
        refusal.set(Some(message));
        return;
    }
    refusal.set(None);
    // What will be live: the edit, or, with a mistake the server will refuse (text for a
    // number), what was there before.
    let present = serde_json::from_value::<Topology>(edited.clone()).unwrap_or(before.clone());
    remember(edits, before.clone());
    let outgoing = Outgoing {
        body: edited.to_string(),
        refusal: Some(refusal),
        undo_step: Some(before),
    };
    edits.send_after_the_rest(live, present, outgoing);
}

/// Keeps `before` for undo.
fn remember(edits: Edits, before: Topology) {
    edits.undo.update(|undo| {
        undo.push(before);
        if undo.len() > HISTORY {
            undo.remove(0);
        }
    });
    edits.redo.update(Vec::clear);
}

/// Goes back to the topology before the last edit (or forward again with `redo`).
pub fn step(live: Live, edits: Edits, redo: bool) {
    let (from, to) = if redo {
        (edits.redo, edits.undo)
    } else {
        (edits.undo, edits.redo)
    };
    let Some(now) = edits.present(live) else {
        return;
    };
    let Some(target) = from.try_update(Vec::pop).flatten() else {
        return;
    };
    to.update(|stack| stack.push(now));
    live.notice.set(None);
    edits.submit(live, target);
}

/// A name no service has yet: `service-1`, `service-2`, …
fn fresh_name(topology: &Topology) -> String {
    (1..)
        .map(|n| format!("service-{n}"))
        .find(|name| topology.service(name).is_none())
        .expect("some name is free")
}

/// Adds a service with the documented defaults, pinned at `at`; selects it.
pub fn add_service(live: Live, edits: Edits, at: [f64; 2]) {
    // A name free after the edits still on their way too.
    let Some(topology) = edits.present(live) else {
        return;
    };
    let name = fresh_name(&topology);
    let selected = name.clone();
    edit(live, edits, move |topology| {
        let service: Service = serde_json::from_value(serde_json::json!({ "name": name }))
            .map_err(|err| err.to_string())?;
        topology.services.push(service);
        topology.layout.insert(name, at);
        Ok(())
    });
    live.selected_edge.set(None);
    live.selected.set(Some(selected));
}

/// Adds the dependency `from → to` with the documented defaults.
pub fn connect(live: Live, edits: Edits, from: String, to: String) {
    if from == to {
        return;
    }
    edit(live, edits, move |topology| {
        if topology
            .dependencies
            .iter()
            .any(|d| d.from == from && d.to == to)
        {
            return Err(format!("{from} already calls {to}"));
        }
        let dependency: Dependency =
            serde_json::from_value(serde_json::json!({ "from": from, "to": to }))
                .map_err(|err| err.to_string())?;
        topology.dependencies.push(dependency);
        Ok(())
    });
}

/// Deletes the selected service (with its dependencies) or the selected dependency.
pub fn delete_selected(live: Live, edits: Edits) {
    if let Some((from, to)) = live.selected_edge.get_untracked() {
        live.selected_edge.set(None);
        edit(live, edits, move |topology| {
            topology
                .dependencies
                .retain(|d| !(d.from == from && d.to == to));
            Ok(())
        });
        return;
    }
    let Some(name) = live.selected.get_untracked() else {
        return;
    };
    if current(live).is_some_and(|t| t.service(&name).is_none()) {
        live.notice.set(Some(format!(
            "{name} is part of the routing mode, not a service: it cannot be deleted"
        )));
        return;
    }
    live.selected.set(None);
    edit(live, edits, move |topology| {
        topology.services.retain(|s| s.name != name);
        topology
            .dependencies
            .retain(|d| d.from != name && d.to != name);
        topology.layout.remove(&name);
        Ok(())
    });
}

/// Undo and redo buttons for the toolbar.
#[component]
pub fn UndoRedo() -> impl IntoView {
    let live = expect_context::<Live>();
    let edits = expect_context::<Edits>();
    view! {
        <button
            data-testid="undo"
            class="glyph"
            aria-label="Undo"
            title="Undo the last edit (Ctrl+Z)"
            disabled=move || !edits.can_undo()
            on:click=move |_| step(live, edits, false)
        >
            "↶"
        </button>
        <button
            data-testid="redo"
            class="glyph"
            aria-label="Redo"
            title="Redo the last undone edit (Ctrl+Shift+Z)"
            disabled=move || !edits.can_redo()
            on:click=move |_| step(live, edits, true)
        >
            "↷"
        </button>
    }
}
