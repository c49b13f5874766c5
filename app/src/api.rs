//! Talking to the server: the SSE stream that feeds the view, and JSON requests for actions.

use leptos::prelude::*;
use simulator::wire::{ApiError, Snapshot, Tick};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{EventSource, MessageEvent, Request, RequestInit, Response};

use crate::app::Live;

/// Whether the stream from the server is flowing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

/// Opens `/api/events` and keeps the live view's snapshot, tick and connection up to date
/// (while a replay shows other ones, only [`Live::latest`], to go back to). The browser's
/// EventSource reconnects by itself; the server answers each connection with a fresh
/// snapshot, so the view resynchronises after a restart.
pub fn follow_events(live: Live) -> Result<(), String> {
    let (snapshot, tick, connection) = (live.snapshot, live.tick, live.connection);
    let replaying = move || live.screen.get_untracked() == crate::app::Screen::Replay;
    let source = EventSource::new("/api/events").map_err(js_message)?;
    let on_snapshot = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        match serde_json::from_str::<Snapshot>(&text) {
            Ok(new) => {
                connection.set(Connection::Live);
                if replaying() {
                    live.latest.update_value(|latest| {
                        latest.1 = Some(new.state.clone());
                        latest.0 = Some(new);
                    });
                    return;
                }
                tick.set(Some(new.state.clone()));
                snapshot.set(Some(new));
            }
            Err(err) => web_sys::console::error_1(&format!("bad snapshot: {err}").into()),
        }
    });
    let on_tick = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        let Some(text) = event.data().as_string() else {
            return;
        };
        match serde_json::from_str::<Tick>(&text) {
            Ok(new) if replaying() => live.latest.update_value(|latest| latest.1 = Some(new)),
            Ok(new) => tick.set(Some(new)),
            Err(err) => web_sys::console::error_1(&format!("bad tick: {err}").into()),
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        connection.set(Connection::Reconnecting);
    });
    for (name, callback) in [
        ("snapshot", on_snapshot.as_ref()),
        ("tick", on_tick.as_ref()),
        ("error", on_error.as_ref()),
    ] {
        source
            .add_event_listener_with_callback(name, callback.unchecked_ref())
            .map_err(js_message)?;
    }
    // The stream lives as long as the page: hand the callbacks to the browser for good.
    on_snapshot.forget();
    on_tick.forget();
    on_error.forget();
    std::mem::forget(source);
    Ok(())
}

/// Runs `work` in the background; its error, if any, becomes the notice on screen.
pub fn in_background(live: Live, work: impl Future<Output = Result<(), String>> + 'static) {
    live.notice.set(None);
    leptos::task::spawn_local(async move {
        if let Err(message) = work.await {
            live.notice.set(Some(message));
        }
    });
}

/// Fetches `url` in the background and hands the decoded answer to `done`. For reads that
/// refresh what is on screen: a failure goes to the console, not the notice (the
/// connection badge already says when the server is gone).
pub fn load<T: serde::de::DeserializeOwned + 'static>(
    url: impl Into<String>,
    done: impl FnOnce(T) + 'static,
) {
    let url = url.into();
    leptos::task::spawn_local(async move {
        let decoded = request("GET", &url, None)
            .await
            .and_then(|text| serde_json::from_str(&text).map_err(|err| err.to_string()));
        match decoded {
            Ok(value) => done(value),
            Err(err) => web_sys::console::warn_1(&format!("GET {url}: {err}").into()),
        }
    });
}

/// Sends a JSON request; on failure, the server's own error message.
pub async fn send(method: &str, url: &str, body: Option<String>) -> Result<(), String> {
    request(method, url, body).await.map(drop)
}

/// Sends a request and returns the answer's text; on failure, the server's own message.
pub async fn request(method: &str, url: &str, body: Option<String>) -> Result<String, String> {
    request_as(method, url, body, "application/json").await
}

/// [`request`] with a body of another type (`application/yaml`).
pub async fn request_as(
    method: &str,
    url: &str,
    body: Option<String>,
    content_type: &str,
) -> Result<String, String> {
    let init = RequestInit::new();
    init.set_method(method);
    if let Some(body) = &body {
        init.set_body(&JsValue::from_str(body));
    }
    let request = Request::new_with_str_and_init(url, &init).map_err(js_message)?;
    if body.is_some() {
        request
            .headers()
            .set("content-type", content_type)
            .map_err(js_message)?;
    }
    let window = web_sys::window().ok_or("no window")?;
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| "the server cannot be reached".to_string())?
        .dyn_into()
        .map_err(js_message)?;
    let status = response.status();
    let text = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    if response.ok() {
        return Ok(text);
    }
    Err(match serde_json::from_str::<ApiError>(&text) {
        Ok(ApiError {
            error,
            path: Some(path),
        }) => format!("{path}: {error}"),
        Ok(ApiError { error, path: None }) => error,
        Err(_) => format!("the server answered {status}"),
    })
}

/// The file a file input's `change` event chose; clears the input, so choosing the same
/// file again (after fixing it) fires `change` again.
pub fn chosen_file(event: &web_sys::Event) -> Option<web_sys::File> {
    let element = event
        .target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())?;
    let file = element.files().and_then(|files| files.get(0))?;
    element.set_value("");
    Some(file)
}

/// The text of a file the person chose.
pub async fn file_text(file: &web_sys::File) -> Result<String, String> {
    JsFuture::from(file.text())
        .await
        .ok()
        .and_then(|text| text.as_string())
        .ok_or_else(|| format!("{} cannot be read", file.name()))
}

fn js_message(value: JsValue) -> String {
    value
        .as_string()
        .or_else(|| {
            value
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
        })
        .unwrap_or_else(|| format!("{value:?}"))
}
