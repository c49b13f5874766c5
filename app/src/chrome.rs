//! What frames the dashboard: the dark/light theme switch, the keyboard shortcuts and the
//! help overlay that lists them.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::app::Live;

/// Where the chosen theme is remembered between visits.
const THEME_KEY: &str = "blastradius.theme";

/// Keyboard shortcuts: the keys, what they do, and the control they press (by test id).
const SHORTCUTS: [(&str, &str, &str); 12] = [
    ("k", "Kill the selected service or instance", "kill"),
    ("h", "Hang it (answers nothing, heartbeats go on)", "hang"),
    ("r", "Revive it (revert its faults)", "revive"),
    ("p", "Pause or resume the simulation", "pause"),
    (
        "n",
        "Add a service (or double-click the background)",
        "add-service",
    ),
    ("+", "Zoom in", "zoom-in"),
    ("−", "Zoom out", "zoom-out"),
    ("0", "Fit the whole topology", "fit"),
    ("c", "Chaos tab: monkey and experiments", "tab-chaos"),
    (
        "i",
        "Inspect tab: the selection, faults, event log",
        "tab-inspect",
    ),
    ("t", "Switch between dark and light", "theme"),
    ("?", "Show or hide this help", "help"),
];

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The theme a visitor chose before, or the one their system prefers.
fn initial_theme() -> &'static str {
    let saved = storage().and_then(|s| s.get_item(THEME_KEY).ok().flatten());
    match saved.as_deref() {
        Some("light") => "light",
        Some("dark") => "dark",
        _ => {
            let prefers_light = web_sys::window()
                .and_then(|w| {
                    w.match_media("(prefers-color-scheme: light)")
                        .ok()
                        .flatten()
                })
                .is_some_and(|m| m.matches());
            if prefers_light { "light" } else { "dark" }
        }
    }
}

fn apply_theme(theme: &str) {
    if let Some(root) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.document_element())
    {
        let _ = root.set_attribute("data-theme", theme);
    }
}

/// The dark/light switch in the top bar.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = RwSignal::new(initial_theme());
    Effect::new(move |_| apply_theme(theme.get()));
    view! {
        <button
            class="icon-button"
            data-testid="theme"
            data-theme=move || theme.get()
            title=move || if theme.get() == "dark" { "Light theme (t)" } else { "Dark theme (t)" }
            on:click=move |_| {
                let next = if theme.get_untracked() == "dark" { "light" } else { "dark" };
                theme.set(next);
                if let Some(storage) = storage() {
                    let _ = storage.set_item(THEME_KEY, next);
                }
            }
        >
            {move || if theme.get() == "dark" { "☀" } else { "☾" }}
        </button>
    }
}

/// The `?` button, the overlay it opens, and the keyboard shortcuts.
#[component]
pub fn Help() -> impl IntoView {
    let live = expect_context::<Live>();
    let open = RwSignal::new(false);
    let handle = window_event_listener(leptos::ev::keydown, move |event| {
        if typing_in_a_field(&event) || event.alt_key() {
            return;
        }
        let key = event.key();
        if event.ctrl_key() || event.meta_key() {
            match key.as_str() {
                "z" | "Z" if event.shift_key() => press("redo"),
                "z" => press("undo"),
                "y" => press("redo"),
                _ => return,
            }
            event.prevent_default();
            return;
        }
        if key == "Delete" || key == "Backspace" {
            event.prevent_default();
            press("delete");
            return;
        }
        // Esc closes an open dialog (each closes itself) or else clears the selection.
        if key == "Escape" {
            if !a_dialog_is_open() {
                live.selected.set(None);
                live.selected_edge.set(None);
            }
            return;
        }
        let key = match key.as_str() {
            "=" => "+",
            "-" => "−",
            other => other,
        };
        if let Some((_, _, target)) = SHORTCUTS.iter().find(|(k, _, _)| *k == key) {
            event.prevent_default();
            press(target);
        }
    });
    on_cleanup(move || handle.remove());
    view! {
        <button
            class="icon-button"
            data-testid="help"
            title="Keyboard shortcuts (?)"
            on:click=move |_| open.update(|o| *o = !*o)
        >
            "?"
        </button>
        <Dialog open=open title="Keyboard shortcuts" class="help" test_id="help-overlay">
                    <dl class="shortcuts">
                        {SHORTCUTS
                            .iter()
                            .map(|(key, what, _)| {
                                view! {
                                    <dt><kbd>{*key}</kbd></dt>
                                    <dd>{*what}</dd>
                                }
                            })
                            .collect_view()}
                        <dt><kbd>"Del"</kbd></dt>
                        <dd>"Delete the selected service or link"</dd>
                        <dt><kbd>"Ctrl+Z"</kbd></dt>
                        <dd>"Undo the last edit (Ctrl+Shift+Z: redo)"</dd>
                        <dt><kbd>"Esc"</kbd></dt>
                        <dd>"Clear the selection (or close this)"</dd>
                    </dl>
                    <p class="hint">
                        "Mouse: click a service or a link to select it, drag a service to pin it, drag from the round handle on a card's right edge onto another card to connect them, drag the background to pan, wheel to zoom."
                    </p>
        </Dialog>
    }
}

/// A dialog over the page, closed by its Close button, a click beside it or Esc.
#[component]
pub fn Dialog(
    open: RwSignal<bool>,
    title: &'static str,
    /// The dialog box's class (its width).
    class: &'static str,
    test_id: &'static str,
    /// Controls beside Close in the header.
    #[prop(optional, into)]
    header: ViewFn,
    children: ChildrenFn,
) -> impl IntoView {
    let header = StoredValue::new(header);
    let children = StoredValue::new(children);
    let escape = window_event_listener(leptos::ev::keydown, move |event| {
        if event.key() == "Escape" && open.get_untracked() {
            // Closing is all this Esc does: the selection behind stays.
            event.stop_immediate_propagation();
            open.set(false);
        }
    });
    on_cleanup(move || escape.remove());
    view! {
        <Show when=move || open.get()>
            <div class="overlay" on:click=move |_| open.set(false)>
                <div
                    class=class
                    role="dialog"
                    aria-label=title
                    data-testid=test_id
                    on:click=|event| event.stop_propagation()
                >
                    <header class="card-head">
                        <h2>{title}</h2>
                        {header.with_value(|h| h.run())}
                        <button class="small" on:click=move |_| open.set(false)>"Close"</button>
                    </header>
                    {children.with_value(|c| c())}
                </div>
            </div>
        </Show>
    }
}

/// A button that opens the browser's file picker; `chosen` gets the `change` event.
#[component]
pub fn FilePicker(
    label: &'static str,
    title: &'static str,
    test_id: &'static str,
    /// The hidden input's test id (tests hand it files directly).
    input_test_id: &'static str,
    accept: &'static str,
    chosen: impl Fn(web_sys::Event) + 'static,
) -> impl IntoView {
    let input = NodeRef::<leptos::html::Input>::new();
    view! {
        <button
            data-testid=test_id
            title=title
            on:click=move |_| {
                if let Some(input) = input.get() {
                    input.click();
                }
            }
        >
            {label}
        </button>
        <input
            class="hidden"
            type="file"
            accept=accept
            data-testid=input_test_id
            node_ref=input
            on:change=chosen
        />
    }
}

/// Whether a dialog is open (it takes Esc for itself).
fn a_dialog_is_open() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.query_selector("[role=\"dialog\"]").ok().flatten())
        .is_some()
}

/// Whether a key press is meant for a form field rather than for the dashboard.
fn typing_in_a_field(event: &web_sys::KeyboardEvent) -> bool {
    event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "SELECT" | "TEXTAREA"))
}

/// Clicks the control with `data-testid` = `test_id`, if it is on screen and enabled: a
/// shortcut does exactly what its button does.
fn press(test_id: &str) {
    let button = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| {
            d.query_selector(&format!("[data-testid=\"{test_id}\"]"))
                .ok()
                .flatten()
        })
        .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(button) = button {
        button.click();
    }
}
