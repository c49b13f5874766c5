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
/// second; a large snapshot on a slow link may take seconds, so this is generous, and it
/// doubles (to [`STALL_MAX_MS`]) each time a stream is reopened without a word heard.
const STALL_MS: f64 = 10_000.0;
const STALL_MAX_MS: f64 = 80_000.0;

type Handler = Closure<dyn FnMut(web_sys::Event)>;

/// The stream open now: its EventSource and handlers, when it was last heard from, and
/// the names its frames index into.
#[derive(Clone, Copy)]
struct Stream {
    source: StoredValue<Option<EventSource>, LocalStorage>,
    heard_ms: StoredValue<f64>,
    stall_ms: StoredValue<f64>,
    decoder: StoredValue<LeanDecoder, LocalStorage>,
    /// This stream's handlers, and the last one's (kept until the next reopen: a handler
    /// may be the one reopening, and must not be dropped while it runs).
    handlers: StoredValue<(Vec<Handler>, Vec<Handler>), LocalStorage>,
}

/// Follows the lean live stream (`/api/stream`: a snapshot, then a keyframe and frames of
/// what changed, `simulator::lean`), keeping the live view's snapshot, tick and connection
/// up to date (while a replay shows other ones, only [`Live::latest`], to go back to). A
/// frame is applied to the tick held, in place: nothing that did not change is read again.
/// The browser's EventSource reconnects by itself after an error; a stream silent for
/// [`STALL_MS`], or an event that cannot be read or does not fit, is opened afresh. Each
/// connection starts with a snapshot and keyframe, so the view resynchronises.
pub fn follow_events(live: Live) -> Result<(), String> {
    let stream = Stream {
        source: StoredValue::new_local(None),
        heard_ms: StoredValue::new(js_sys::Date::now()),
        stall_ms: StoredValue::new(STALL_MS),
        decoder: StoredValue::new_local(LeanDecoder::default()),
        handlers: StoredValue::new_local((Vec::new(), Vec::new())),
    };
    open_stream(live, stream)?;
    // It watches for as long as the page lives (never cleared).
    set_interval_with_handle(
        move || {
            let stall_ms = stream.stall_ms.get_value();
            if js_sys::Date::now() - stream.heard_ms.get_value() > stall_ms {
                web_sys::console::warn_1(&"the live stream went silent: opening it again".into());
                stream
                    .stall_ms
                    .set_value((stall_ms * 2.0).min(STALL_MAX_MS));
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

/// Reads what an event carries as `T`; `None` (the stream reopened) if it cannot.
fn read<T: serde::de::DeserializeOwned>(
    live: Live,
    stream: Stream,
    event: &web_sys::Event,
) -> Option<T> {
    let text = event.dyn_ref::<MessageEvent>()?.data().as_string()?;
    match serde_json::from_str(&text) {
        Ok(value) => Some(value),
        Err(err) => {
            web_sys::console::error_1(
                &format!("bad {}: {err}, reconnecting", event.type_()).into(),
            );
            reopen_stream(live, stream);
            None
        }
    }
}

fn open_stream(live: Live, stream: Stream) -> Result<(), String> {
    let (snapshot, tick, connection) = (live.snapshot, live.tick, live.connection);
    let replaying = move || live.screen.get_untracked() == crate::app::Screen::Replay;
    stream.heard_ms.set_value(js_sys::Date::now());
    let source = EventSource::new("/api/stream").map_err(js_message)?;
    stream.source.set_value(Some(source.clone()));
    let heard = move || {
        stream.heard_ms.set_value(js_sys::Date::now());
        stream.stall_ms.set_value(STALL_MS);
    };
    let decoder = stream.decoder;
    let on_snapshot = Handler::new(move |event: web_sys::Event| {
        heard();
        let Some(new) = read::<Snapshot>(live, stream, &event) else {
            return;
        };
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
    });
    let on_keyframe = Handler::new(move |event: web_sys::Event| {
        heard();
        let Some(new) = read::<Tick>(live, stream, &event) else {
            return;
        };
        decoder.update_value(|d| d.keyframe(&new));
        if replaying() {
            live.latest.update_value(|latest| latest.1 = Some(new));
        } else {
            tick.set(Some(new));
        }
    });
    let on_frame = Handler::new(move |event: web_sys::Event| {
        heard();
        let Some(frame) = read::<Frame>(live, stream, &event) else {
            return;
        };
        let apply = |held: &mut Option<Tick>| {
            decoder.with_value(|d| match held {
                Some(held) => d.apply(held, &frame).map_err(|misfit| misfit.0),
                None => Err("a frame before any keyframe".to_string()),
            })
        };
        let mut applied = Ok(());
        if replaying() {
            live.latest
                .update_value(|latest| applied = apply(&mut latest.1));
        } else {
            tick.update(|held| applied = apply(held));
        }
        if let Err(why) = applied {
            // What the page holds no longer matches the stream: start again from a fresh
            // snapshot and keyframe.
            web_sys::console::error_1(&format!("frame not applied, reconnecting: {why}").into());
            reopen_stream(live, stream);
        }
    });
    let on_error = Handler::new(move |_| connection.set(Connection::Reconnecting));
    // The answer's headers: the server is there, a snapshot on its way.
    let on_open = Handler::new(move |_| heard());
    let handlers = vec![
        ("snapshot", on_snapshot),
        ("keyframe", on_keyframe),
        ("frame", on_frame),
        ("error", on_error),
        ("open", on_open),
    ];
    for (name, handler) in &handlers {
        source
            .add_event_listener_with_callback(name, handler.as_ref().unchecked_ref())
            .map_err(js_message)?;
    }
    // The last stream's handlers go now (that stream is closed: none of them runs again);
    // this one's are kept while it is open.
    stream.handlers.update_value(|(current, retired)| {
        *retired = std::mem::replace(current, handlers.into_iter().map(|(_, h)| h).collect());
    });
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
