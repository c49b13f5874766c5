//! Property forms: edit a service's or a dependency's numbers and apply them to the live
//! topology. The server checks the edited topology; its message (which names the field)
//! shows under the form, and nothing changes until it is accepted.

use leptos::prelude::*;
use serde_json::Value;

use crate::app::Live;
use crate::editor;

/// What a form edits: a service, or the dependency `from → to`.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Service(String),
    Dependency(String, String),
}

impl Target {
    /// How the panel names it: `cart`, or `web → cart`.
    fn name(&self) -> String {
        match self {
            Target::Service(name) => name.clone(),
            Target::Dependency(from, to) => format!("{from} → {to}"),
        }
    }
}

/// The fields offered, with their labels and units.
const SERVICE_FIELDS: [(&str, &str, &str); 6] = [
    ("replicas", "Replicas", ""),
    ("concurrency", "Slots each", ""),
    ("service_time_ms", "Work", "ms"),
    ("queue_limit", "Queue", ""),
    ("ingress_rps", "Ingress", "rps"),
    ("error_rate", "Own errors", "0–1"),
];
const DEPENDENCY_FIELDS: [(&str, &str, &str); 6] = [
    ("calls", "Calls each", ""),
    ("latency_ms", "Latency", "ms"),
    ("timeout_ms", "Timeout", "ms"),
    ("retries", "Retries", ""),
    ("retry_backoff_ms", "Backoff", "ms"),
    ("required", "Required", "true/false"),
];

/// The topology as JSON and the index of the edited item in its list.
fn locate(topology: &Value, target: &Target) -> Option<(&'static str, usize)> {
    match target {
        Target::Service(name) => topology["services"]
            .as_array()?
            .iter()
            .position(|s| s["name"] == name.as_str())
            .map(|i| ("services", i)),
        Target::Dependency(from, to) => topology["dependencies"]
            .as_array()?
            .iter()
            .position(|d| d["from"] == from.as_str() && d["to"] == to.as_str())
            .map(|i| ("dependencies", i)),
    }
}

/// What a person typed, as JSON: a number or a boolean when it reads as one, else the text
/// itself (the server then says what it expected).
fn typed(text: &str) -> Value {
    let text = text.trim();
    if let Ok(int) = text.parse::<u64>() {
        return int.into();
    }
    if let Ok(number) = text.parse::<f64>()
        && let Some(number) = serde_json::Number::from_f64(number)
    {
        return Value::Number(number);
    }
    match text {
        "true" => true.into(),
        "false" => false.into(),
        _ => text.into(),
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The form for `target`, filled from the live topology; rebuilt when the topology changes.
#[component]
pub fn Properties(target: Target) -> impl IntoView {
    let live = expect_context::<Live>();
    let edits = expect_context::<editor::Edits>();
    let error = RwSignal::new(None::<String>);
    let fields = match target {
        Target::Service(_) => SERVICE_FIELDS,
        Target::Dependency(..) => DEPENDENCY_FIELDS,
    };
    let form = move || {
        let topology = live.snapshot.with(|s| {
            s.as_ref()
                .and_then(|s| serde_json::to_value(&s.topology).ok())
        })?;
        let (list, index) = locate(&topology, &target)?;
        let item = topology[list][index].clone();
        let inputs: Vec<(&'static str, &'static str, &'static str, RwSignal<String>)> = fields
            .iter()
            .map(|&(key, label, unit)| (key, label, unit, RwSignal::new(shown(&item[key]))))
            .collect();
        let values: Vec<(&'static str, RwSignal<String>)> = inputs
            .iter()
            .map(|(key, _, _, value)| (*key, *value))
            .collect();
        // Stored, so `apply` is `Copy` and every input's handler can hold it.
        let (target, values) = (StoredValue::new(target.clone()), StoredValue::new(values));
        // Through the editor's queue: applied to the topology as it will be once the edits
        // still on their way have landed, and sent after them.
        let apply = move || {
            editor::edit_json(live, edits, error, |topology| {
                let target = target.get_value();
                let Some((list, index)) = locate(topology, &target) else {
                    return Err(format!("{} is no longer in the topology", target.name()));
                };
                values.with_value(|values| {
                    for (key, value) in values {
                        topology[list][index][*key] = typed(&value.get_untracked());
                    }
                });
                Ok(())
            });
        };
        Some(view! {
            <div class="form-grid properties-grid">
                {inputs
                    .into_iter()
                    .map(|(key, label, unit, value)| {
                        view! {
                            <label>
                                <span>{label}</span>
                                <input
                                    data-testid=format!("property-{key}")
                                    prop:value=move || value.get()
                                    on:input=move |event| value.set(event_target_value(&event))
                                    on:keydown=move |event| {
                                        if event.key() == "Enter" {
                                            apply();
                                        }
                                    }
                                />
                                <em>{unit}</em>
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
            <div class="actions">
                <button data-testid="apply-properties" on:click=move |_| apply()>
                    "Apply to the live topology"
                </button>
            </div>
        })
    };
    view! {
        <details class="properties" data-testid="properties">
            <summary>"Properties"</summary>
            {form}
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="property-error" role="alert" data-testid="property-error">
                                {message}
                            </p>
                        }
                    })
            }}
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_input_becomes_json() {
        assert_eq!(typed(" 3 "), Value::from(3u64));
        assert_eq!(typed("2.5"), Value::from(2.5));
        assert_eq!(typed("true"), Value::from(true));
        assert_eq!(typed("three"), Value::from("three"));
        assert_eq!(typed("-1"), Value::from(-1.0));
    }
}
