//! Talking to the server: the SSE stream that feeds the view, and JSON requests for actions.

use leptos::prelude::*;
use simulator::lean::{Frame, LeanDecoder};
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

/// Silence after which the stream counts as stalled (a connection cut without a word: a
/// sleeping laptop, a proxy, a lost network) and is opened again. Ticks come 10 times a
/// second; a large snapshot on a slow link may take seconds, so this is generous.
const STALL_MS: f64 = 10_000.0;

/// The stream open now, and when it was last heard from.
#[derive(Clone, Copy)]
struct Stream {
    source: StoredValue<Option<EventSource>, LocalStorage>,
    heard_ms: StoredValue<f64>,
}

/// Follows the lean live stream (`/api/stream`: a snapshot, then a keyframe and frames of
/// what changed, `simulator::lean`), keeping the live view's snapshot, tick and connection
/// up to date (while a replay shows other ones, only [`Live::latest`], to go back to). A
/// frame is applied to the tick held, in place: nothing that did not change is read again.
/// The browser's EventSource reconnects by itself after an error; a stream silent for
/// [`STALL_MS`], or a frame that does not fit, is opened afresh. Each connection starts
/// with a snapshot and keyframe, so the view resynchronises.
pub fn follow_events(live: Live) -> Result<(), String> {
    let stream = Stream {
        source: StoredValue::new_local(None),
        heard_ms: StoredValue::new(js_sys::Date::now()),
    };
    open_stream(live, stream)?;
    // It watches for as long as the page lives (never cleared).
    set_interval_with_handle(
        move || {
            if js_sys::Date::now() - stream.heard_ms.get_value() > STALL_MS {
                web_sys::console::warn_1(&"the live stream went silent: opening it again".into());
                reopen_stream(live, stream);
            }
        },
        std::time::Duration::from_secs(1),
    )
    .map_err(js_message)?;
    Ok(())
}

/// Closes the stream open now and opens another.
fn reopen_stream(live: Live, stream: Stream) {
    if let Some(source) = stream.source.get_value() {
        source.close();
    }
    live.connection.set(Connection::Reconnecting);
    if let Err(err) = open_stream(live, stream) {
        live.notice.set(Some(err));
    }
}

fn open_stream(live: Live, stream: Stream) -> Result<(), String> {
    let (snapshot, tick, connection) = (live.snapshot, live.tick, live.connection);
    let replaying = move || live.screen.get_untracked() == crate::app::Screen::Replay;
    stream.heard_ms.set_value(js_sys::Date::now());
    let source = EventSource::new("/api/stream").map_err(js_message)?;
    stream.source.set_value(Some(source.clone()));
    let heard = move || stream.heard_ms.set_value(js_sys::Date::now());
    let decoder = StoredValue::new_local(LeanDecoder::default());
    let on_snapshot = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        heard();
        let Some(text) = event.data().as_string() else {
            return;
        };
        match serde_json::from_str::<Snapshot>(&text) {
            Ok(new) => {
                connection.set(Connection::Live);
                decoder.update_value(|d| d.keyframe(&new.state));
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
    let on_keyframe = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        heard();
        let Some(text) = event.data().as_string() else {
            return;
        };
        match serde_json::from_str::<Tick>(&text) {
            Ok(new) => {
                decoder.update_value(|d| d.keyframe(&new));
                if replaying() {
                    live.latest.update_value(|latest| latest.1 = Some(new));
                } else {
                    tick.set(Some(new));
                }
            }
            Err(err) => web_sys::console::error_1(&format!("bad keyframe: {err}").into()),
        }
    });
    let on_frame = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        heard();
        let Some(text) = event.data().as_string() else {
            return;
        };
        let frame = match serde_json::from_str::<Frame>(&text) {
            Ok(frame) => frame,
            Err(err) => {
                web_sys::console::error_1(&format!("bad frame: {err}").into());
                return;
            }
        };
        let apply = |held: &mut Option<Tick>| {
            decoder.with_value(|d| match held {
                Some(held) => d.apply(held, &frame).map_err(|misfit| misfit.0),
                None => Err("a frame before any keyframe".to_string()),
            })
        };
        let applied = if replaying() {
            let mut result = Ok(());
            live.latest
                .update_value(|latest| result = apply(&mut latest.1));
            result
        } else {
            let mut result = Ok(());
            tick.update(|held| result = apply(held));
            result
        };
        if let Err(why) = applied {
            // What the page holds no longer matches the stream: start again from a fresh
            // snapshot and keyframe.
            web_sys::console::error_1(&format!("frame not applied, reconnecting: {why}").into());
            reopen_stream(live, stream);
        }
    });
    let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
        connection.set(Connection::Reconnecting);
    });
    // The answer's headers: the server is there, a snapshot on its way.
    let on_open = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| heard());
    for (name, callback) in [
        ("snapshot", on_snapshot.as_ref()),
        ("keyframe", on_keyframe.as_ref()),
        ("frame", on_frame.as_ref()),
        ("error", on_error.as_ref()),
        ("open", on_open.as_ref()),
    ] {
        source
            .add_event_listener_with_callback(name, callback.unchecked_ref())
            .map_err(js_message)?;
    }
    // The stream lives as long as the page: hand the callbacks to the browser for good.
    on_snapshot.forget();
    on_keyframe.forget();
    on_frame.forget();
    on_error.forget();
    on_open.forget();
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
