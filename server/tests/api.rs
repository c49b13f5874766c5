//! The HTTP API, route by route, without a socket (`tower::ServiceExt::oneshot`), and the SSE
//! stream over a real server on port 0.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use server::session::Session;
use server::{AppState, BODY_LIMIT, app};
use simulator::templates;
use simulator::wire::{Snapshot, Tick};
use tower::ServiceExt;

fn router(token: Option<&str>) -> Router {
    router_and_store(token).0
}

/// The app over the demo topology, and its (in-memory) database to look into.
fn router_and_store(token: Option<&str>) -> (Router, std::sync::Arc<server::store::Store>) {
    let state = demo_state(token);
    let store = state.store.clone();
    (app(state, None), store)
}

/// A session over the demo topology with an in-memory database.
fn demo_state(token: Option<&str>) -> AppState {
    let store = std::sync::Arc::new(server::store::Store::in_memory().unwrap());
    AppState {
        session: Session::start(templates::demo(), 1, store.clone()).unwrap(),
        store,
        token: token.map(str::to_string),
    }
}

/// Serves a fresh app on port 0 and follows its event stream until `done(name, data)`;
/// returns the router (to act on it) and the reader, which yields the event names seen.
/// The reader has 300 ms to connect before this returns.
async fn serve_and_follow(
    done: impl Fn(&str, &str) -> bool + Send + 'static,
) -> (Router, tokio::task::JoinHandle<Vec<String>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = router(None);
    tokio::spawn(server::run(
        listener,
        router.clone(),
        std::future::pending(),
    ));
    let reader = tokio::spawn(async move { read_events_until(&url, done).await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    (router, reader)
}

async fn call(router: &Router, method: &str, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    call_with(router, Request::builder().method(method).uri(uri), body).await
}

async fn call_with(
    router: &Router,
    builder: axum::http::request::Builder,
    body: Option<&str>,
) -> (StatusCode, Value) {
    let request = builder
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.unwrap_or_default().to_string()))
        .unwrap();
    let reply = fetch(router, request).await;
    let value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply.status, value)
}

/// A response as the tests look at it: its status, headers and whole body.
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }
}

async fn fetch(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// `GET uri` with no body.
async fn get(router: &Router, uri: &str) -> Reply {
    fetch(
        router,
        Request::builder().uri(uri).body(Body::empty()).unwrap(),
    )
    .await
}

#[tokio::test]
async fn health_is_ok() {
    let (status, body) = call(&router(None), "GET", "/api/health", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn topology_is_the_live_one_in_the_file_format() {
    let (status, body) = call(&router(None), "GET", "/api/topology", None).await;
    assert_eq!(status, StatusCode::OK);
    let topology = simulator::Topology::from_json(&body.to_string()).unwrap();
    assert_eq!(topology, templates::demo());
}

#[tokio::test]
async fn topology_exports_as_json_or_yaml_files() {
    let router = router(None);
    let reply = get(&router, "/api/topology?format=yaml").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/yaml");
    assert_eq!(
        reply.headers[header::CONTENT_DISPOSITION],
        "inline; filename=\"shop.yaml\""
    );
    assert_eq!(
        simulator::Topology::from_yaml(&reply.text()).unwrap(),
        templates::demo()
    );

    let reply = get(&router, "/api/topology?format=json&download=true").await;
    assert_eq!(
        reply.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"shop.json\""
    );
    let (status, error) = call(&router, "GET", "/api/topology?format=xml", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["path"], "format");
}

#[tokio::test]
async fn layout_pins_services_and_keeps_the_run() {
    let router = router(None);
    let (status, _) = call(&router, "PUT", "/api/faults", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    call(
        &router,
        "POST",
        "/api/faults",
        Some(r#"{"kind": "kill", "service": "cart"}"#),
    )
    .await;
    let (status, _) = call(
        &router,
        "PUT",
        "/api/layout",
        Some(r#"{"cart": [12.5, -40]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, topology) = call(&router, "GET", "/api/topology", None).await;
    assert_eq!(topology["layout"], json!({"cart": [12.5, -40.0]}));
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(
        faults.as_array().unwrap().len(),
        1,
        "the run goes on: {faults}"
    );
    for (body, path) in [
        (r#"{"nope": [1, 2]}"#, "layout.nope"),
        (r#"{"cart": [1e300, 2]}"#, "layout.cart"),
        (r#"{"cart": [1]}"#, "cart"),
    ] {
        let (status, error) = call(&router, "PUT", "/api/layout", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["path"], path, "{body}");
    }
    let (status, _) = call(&router, "PUT", "/api/layout", Some("{}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, topology) = call(&router, "GET", "/api/topology", None).await;
    assert!(
        topology.get("layout").is_none_or(|l| l == &json!({})),
        "{topology}"
    );
}

#[tokio::test]
async fn fault_inject_list_revert() {
    let router = router(None);
    let (status, body) = call(
        &router,
        "POST",
        "/api/faults",
        Some(r#"{"kind": "kill", "service": "cart", "instance": 2}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = body["id"].as_u64().unwrap();

    let (status, mut list) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(status, StatusCode::OK);
    // The simulation runs on while the test does: when the fault started is not fixed.
    assert!(list[0]["start_s"].as_f64().unwrap() >= 0.0);
    list[0].as_object_mut().unwrap().remove("start_s");
    assert_eq!(
        list,
        json!([{"id": id, "kind": "kill", "service": "cart", "instance": 2, "state": "active",
                "description": "kill cart#2"}])
    );

    let (status, _) = call(&router, "DELETE", &format!("/api/faults/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(list, json!([]));
    let (status, body) = call(&router, "DELETE", &format!("/api/faults/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains(&id.to_string()));
}

#[tokio::test]
async fn bad_faults_name_what_is_wrong() {
    let router = router(None);
    let cases = [
        (
            r#"{"kind": "kill", "service": "nope"}"#,
            422,
            Some("service"),
        ),
        (
            r#"{"kind": "kill", "service": "cart", "instance": 3}"#,
            422,
            Some("instance"),
        ),
        (r#"{"kind": "kill", "servce": "cart"}"#, 422, Some("servce")),
        (
            r#"{"kind": "explode", "service": "cart"}"#,
            422,
            Some("kind"),
        ),
        (r#"{"kind": "latency", "service": "cart"}"#, 422, Some("ms")),
        (
            r#"{"kind": "zone", "service": "cart", "zone": "a"}"#,
            422,
            Some("service"),
        ),
        (
            r#"{"kind": "kill", "service": "cart", "at_s": -1}"#,
            422,
            Some("at_s"),
        ),
        (
            r#"{"kind": "kill", "service": "cart", "at_s": 1e300}"#,
            422,
            Some("at_s"),
        ),
        (
            r#"{"kind": "latency", "service": "cart", "ms": 1e300}"#,
            422,
            Some("ms"),
        ),
        (
            r#"{"kind": "monkey", "services": ["cart"], "mean_interval_s": 1e-12, "down_s": 1}"#,
            422,
            Some("mean_interval_s"),
        ),
        (r#"{"kind": "kill", "#, 400, None),
        ("", 400, None),
    ];
    for (body, status, path) in cases {
        let (got, answer) = call(&router, "POST", "/api/faults", Some(body)).await;
        assert_eq!(got.as_u16(), status, "for {body}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
        assert_eq!(answer["path"].as_str(), path, "for {body}: {answer}");
    }
    let (status, body) = call(&router, "DELETE", "/api/faults/abc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("abc"));
    let (_, list) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(list, json!([]), "refused faults change nothing");
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let body = format!(
        r#"{{"kind": "kill", "service": "{}"}}"#,
        "x".repeat(BODY_LIMIT)
    );
    let (status, _) = call(&router(None), "POST", "/api/faults", Some(&body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_api_paths_are_json_404s() {
    let (status, body) = call(&router(None), "GET", "/api/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn with_a_token_changes_need_it_and_reads_do_not() {
    let router = router(Some("s3cret"));
    let kill = r#"{"kind": "kill", "service": "cart"}"#;
    let (status, body) = call(&router, "POST", "/api/faults", Some(kill)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].as_str().unwrap().contains("Bearer"));
    let wrong = Request::builder()
        .method("POST")
        .uri("/api/faults")
        .header(header::AUTHORIZATION, "Bearer nope");
    assert_eq!(
        call_with(&router, wrong, Some(kill)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let right = Request::builder()
        .method("POST")
        .uri("/api/faults")
        .header(header::AUTHORIZATION, "Bearer s3cret");
    assert_eq!(
        call_with(&router, right, Some(kill)).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        call(&router, "GET", "/api/faults", None).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn dashboard_missing_is_explained() {
    let reply = get(&router(None), "/").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    assert!(reply.text().contains("not built"));
}

/// The built dashboard goes out gzipped when the browser accepts it; its hashed files may be
/// kept for a year, `index.html` (and a client-side route it stands for) is checked again.
#[tokio::test]
async fn the_dashboard_is_served_compressed_and_cached_by_hash() {
    let dist = std::env::temp_dir().join(format!("blastradius-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    let page = "<!doctype html><title>blastradius</title>".repeat(40);
    std::fs::write(dist.join("index.html"), &page).unwrap();
    let module = vec![0u8; 100_000];
    std::fs::write(dist.join("app-0123456789abcdef_bg.wasm"), &module).unwrap();
    let router = app(demo_state(None), Some(&dist));
    let gzipped = |uri: &str| {
        let request = Request::builder()
            .uri(uri)
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap();
        fetch(&router, request)
    };

    let reply = gzipped("/app-0123456789abcdef_bg.wasm").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        reply.headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let sent = reply.body.len();
    assert!(sent < module.len() / 10, "{sent} bytes sent");

    for uri in ["/", "/compare"] {
        let reply = gzipped(uri).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-cache", "{uri}");
    }
    let reply = get(&router, "/").await;
    assert!(!reply.headers.contains_key(header::CONTENT_ENCODING));
    assert_eq!(reply.body, page.as_bytes());
    std::fs::remove_dir_all(&dist).unwrap();
}

/// Reads SSE events `(name, data)` from a live server until `count` have arrived.
async fn read_events(url: &str, count: usize) -> Vec<(String, String)> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request =
        format!("GET /api/events HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(stream).lines();
    let (mut events, mut name) = (Vec::new(), String::new());
    while events.len() < count {
        let line = lines.next_line().await.unwrap().expect("stream open");
        // Chunked transfer encoding: each event line sits between chunk-size lines.
        if let Some(rest) = line.strip_prefix("event: ") {
            name = rest.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((std::mem::take(&mut name), data.to_string()));
        }
    }
    events
}

#[tokio::test]
async fn events_stream_a_snapshot_then_ticks_at_10_hz() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = router(None);
    tokio::spawn(server::run(listener, router, std::future::pending()));

    let started = std::time::Instant::now();
    let events = tokio::time::timeout(std::time::Duration::from_secs(10), read_events(&url, 6))
        .await
        .expect("six events within 10 s");
    assert_eq!(events[0].0, "snapshot");
    let snapshot: Snapshot = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(snapshot.topology.name, "shop");
    assert_eq!(snapshot.positions.len(), snapshot.topology.services.len());
    let mut last_t = snapshot.state.t;
    for (name, data) in &events[1..] {
        assert_eq!(name, "tick");
        let tick: Tick = serde_json::from_str(data).unwrap();
        assert!(tick.t > last_t, "simulated time moves on");
        assert_eq!(tick.services.len(), 13);
        last_t = tick.t;
    }
    // Five ticks at 10 Hz take about 0.5 s; a generous bound keeps this from being flaky
    // while still failing if ticks came at 1 Hz.
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
}

/// The events of `path` on a live server over `for_ms`, asked for with
/// `Accept-Encoding: gzip`: whether the answer said gzip, and `(name, data)` as decoded.
async fn read_gzipped_events(url: &str, path: &str, for_ms: u64) -> (bool, Vec<(String, String)>) {
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\nAccept-Encoding: gzip\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(for_ms);
    let mut buffer = [0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..n]);
    }
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers")
        + 4;
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    // Chunked transfer encoding: a hex size line, the bytes, CRLF; a chunk cut off by the
    // deadline is left out.
    let mut body = Vec::new();
    let mut rest = &raw[split..];
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap(), 16).unwrap();
        let start = line_end + 2;
        if size == 0 || rest.len() < start + size + 2 {
            break;
        }
        body.extend_from_slice(&rest[start..start + size]);
        rest = &rest[start + size + 2..];
    }
    let gzip = head.contains("content-encoding: gzip");
    let text = if gzip {
        // Flushed after every event: what has come decodes, though the stream goes on.
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        decoder.write_all(&body).unwrap();
        decoder.flush().unwrap();
        String::from_utf8(decoder.get_ref().clone()).unwrap()
    } else {
        String::from_utf8(body).unwrap()
    };
    let mut events = Vec::new();
    let mut name = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("event: ") {
            name = rest.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            events.push((std::mem::take(&mut name), data.to_string()));
        }
    }
    (gzip, events)
}

#[tokio::test]
async fn both_streams_are_gzipped_for_a_client_that_asks_and_decode_event_by_event() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(server::run(listener, router(None), std::future::pending()));

    let (gzip, events) = read_gzipped_events(&url, "/api/events", 1_200).await;
    assert!(gzip);
    assert_eq!(events[0].0, "snapshot");
    let ticks: Vec<Tick> = events[1..]
        .iter()
        .filter(|(name, _)| name == "tick")
        .map(|(_, data)| serde_json::from_str(data).unwrap())
        .collect();
    assert!(ticks.len() >= 5, "{} ticks in 1.2 s", ticks.len());

    // The lean stream: a snapshot, a keyframe, then frames that apply to it.
    let (gzip, events) = read_gzipped_events(&url, "/api/stream", 1_200).await;
    assert!(gzip);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names[..2], ["snapshot", "keyframe"]);
    assert!(
        names[2..].iter().all(|n| *n == "frame") && names.len() >= 6,
        "{names:?}"
    );
    let mut held: Tick = serde_json::from_str(&events[1].1).unwrap();
    let mut decoder = simulator::lean::LeanDecoder::default();
    decoder.keyframe(&held);
    for (_, data) in &events[2..] {
        let frame: simulator::lean::Frame = serde_json::from_str(data).unwrap();
        decoder.apply(&mut held, &frame).unwrap();
    }
    assert!(held.t > serde_json::from_str::<Tick>(&events[1].1).unwrap().t);
}

#[tokio::test]
async fn a_new_topology_runs_and_a_bad_one_changes_nothing() {
    let router = router(None);
    let ring = simulator::templates::build("ring", Some(4), 1).unwrap();
    let (status, _) = call(
        &router,
        "POST",
        "/api/faults",
        Some(r#"{"kind": "kill", "service": "cart"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = call(
        &router,
        "PUT",
        "/api/topology",
        Some(&ring.to_json_pretty()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // `cart` is not in the ring: its kill was dropped.
    assert_eq!(body["dropped_faults"], json!([1]));
    let (_, live) = call(&router, "GET", "/api/topology", None).await;
    assert_eq!(live["name"], "ring");

    let mut bad = ring.clone();
    bad.services[2].replicas = 0;
    let bad = serde_json::to_string(&bad).unwrap();
    let (status, body) = call(&router, "PUT", "/api/topology", Some(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["path"], "services[2].replicas");
    let (status, _) = call(&router, "PUT", "/api/topology", Some("{\"name\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, live) = call(&router, "GET", "/api/topology", None).await;
    assert_eq!(live["name"], "ring", "refused topologies change nothing");
    assert_eq!(live["services"][2]["replicas"], 2);
}

#[tokio::test]
async fn topologies_can_be_sent_as_yaml() {
    let router = router(None);
    let yaml = "name: tiny\nservices:\n  - name: only\n    ingress_rps: 5\n";
    let request = Request::builder()
        .method("PUT")
        .uri("/api/topology")
        .header(header::CONTENT_TYPE, "application/yaml")
        .body(Body::from(yaml))
        .unwrap();
    assert_eq!(fetch(&router, request).await.status, StatusCode::OK);
    let (_, live) = call(&router, "GET", "/api/topology", None).await;
    assert_eq!(live["name"], "tiny");
}

#[tokio::test]
async fn session_controls_pause_step_speed_mode_and_reset() {
    let router = router(None);
    let (status, state) = call(&router, "PUT", "/api/session", Some(r#"{"paused": true}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["paused"], true);
    let t0 = state["t"].as_f64().unwrap();
    let (status, state) = call(
        &router,
        "POST",
        "/api/session/step",
        Some(r#"{"seconds": 2.5}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert!(
        (state["t"].as_f64().unwrap() - t0 - 2.5).abs() < 1e-6,
        "{state}"
    );

    let (status, body) = call(&router, "PUT", "/api/session", Some(r#"{"speed": 1000}"#)).await;
    assert_eq!(
        (status, body["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("speed"))
    );
    let (status, body) = call(
        &router,
        "PUT",
        "/api/session",
        Some(r#"{"speed": 2, "colour": 1}"#),
    )
    .await;
    assert_eq!(
        (status, body["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("colour"))
    );

    let (status, state) = call(
        &router,
        "PUT",
        "/api/session",
        Some(r#"{"routing_mode": "dns", "speed": 5}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (state["routing_mode"].as_str(), state["speed"].as_f64()),
        (Some("dns"), Some(5.0))
    );
    let (_, topology) = call(&router, "GET", "/api/topology", None).await;
    assert_eq!(topology["routing"]["mode"], "dns");

    call(
        &router,
        "POST",
        "/api/faults",
        Some(r#"{"kind": "kill", "service": "cart"}"#),
    )
    .await;
    let (status, state) = call(&router, "POST", "/api/session/reset", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["t"], 0.0);
    assert_eq!(
        state["routing_mode"], "dns",
        "a reset keeps the routing mode"
    );
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults, json!([]));

    call(&router, "PUT", "/api/session", Some(r#"{"paused": false}"#)).await;
    let (status, body) = call(
        &router,
        "POST",
        "/api/session/step",
        Some(r#"{"seconds": 1}"#),
    )
    .await;
    assert_eq!(
        (status, body["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("paused"))
    );
}

#[tokio::test]
async fn templates_are_listed_and_built() {
    let router = router(None);
    let (status, list) = call(&router, "GET", "/api/templates", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 9);
    let (status, star) = call(&router, "GET", "/api/templates/star?size=6", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(star["services"].as_array().unwrap().len(), 6);
    let (status, _) = call(&router, "GET", "/api/templates/donut", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(&router, "GET", "/api/templates/pipeline?size=1", None).await;
    assert_eq!(
        (status, body["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("size"))
    );
    let (status, _) = call(&router, "GET", "/api/templates/star?size=lots", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_new_topology_sends_a_new_snapshot_to_open_streams() {
    let (router, reader) =
        serve_and_follow(|name, data| name == "snapshot" && data.contains("\"name\":\"ring\""))
            .await;
    let ring = simulator::templates::build("ring", Some(4), 1).unwrap();
    let (status, _) = call(
        &router,
        "PUT",
        "/api/topology",
        Some(&ring.to_json_pretty()),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let names = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
        .await
        .expect("the new snapshot arrives within 10 s")
        .unwrap();
    assert_eq!(names.first().map(String::as_str), Some("snapshot"));
    assert!(
        names.iter().filter(|n| *n == "snapshot").count() == 2,
        "{names:?}"
    );
    let topology = names.iter().position(|n| n == "topology");
    assert!(
        topology.is_some() && topology < names.iter().rposition(|n| n == "snapshot"),
        "a topology event, then the new snapshot: {names:?}"
    );
}

#[tokio::test]
async fn streams_announce_each_fault_added_and_removed() {
    let (router, reader) = serve_and_follow(|name, _| name == "fault_removed").await;
    let (status, created) = call(
        &router,
        "POST",
        "/api/faults",
        Some(r#"{"kind": "kill", "service": "cart", "instance": 1}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["id"].as_u64().unwrap();
    let (status, _) = call(&router, "DELETE", &format!("/api/faults/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let names = tokio::time::timeout(std::time::Duration::from_secs(10), reader)
        .await
        .expect("both changes arrive within 10 s")
        .unwrap();
    let added = names.iter().position(|n| n == "fault_added");
    let removed = names.iter().position(|n| n == "fault_removed");
    assert!(
        added.is_some() && added < removed,
        "added, then removed: {names:?}"
    );
}

#[tokio::test]
async fn the_chaos_monkey_switches_on_and_off() {
    let router = router(None);
    let (status, monkey) = call(&router, "GET", "/api/monkey", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        monkey,
        json!({"enabled": false, "services": [], "mean_interval_s": 30.0, "down_s": 10.0})
    );

    let (status, monkey) = call(
        &router,
        "PUT",
        "/api/monkey",
        Some(r#"{"enabled": true, "services": ["cart", "search"], "mean_interval_s": 5}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{monkey}");
    assert_eq!(monkey["enabled"], true);
    assert_eq!(monkey["mean_interval_s"], 5.0);
    let id = monkey["fault_id"].as_u64().unwrap();
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults[0]["id"], id);
    assert_eq!(faults[0]["kind"], "monkey");
    assert_eq!(faults[0]["services"], json!(["cart", "search"]));

    // New settings while on replace its fault; bad ones change nothing.
    for (body, path) in [
        (r#"{"services": ["nope"]}"#, "services[0]"),
        (r#"{"mean_interval_s": 0.01}"#, "mean_interval_s"),
        (r#"{"down_s": -1}"#, "down_s"),
        (r#"{"enabeld": true}"#, ""),
    ] {
        let (status, error) = call(&router, "PUT", "/api/monkey", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        if !path.is_empty() {
            assert_eq!(error["path"], path, "{body}: {error}");
        }
    }
    let (_, unchanged) = call(&router, "GET", "/api/monkey", None).await;
    assert_eq!(unchanged["fault_id"], id);

    let (status, monkey) = call(&router, "PUT", "/api/monkey", Some(r#"{"enabled": false}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(monkey["enabled"], false);
    assert_eq!(
        monkey["services"],
        json!(["cart", "search"]),
        "settings kept"
    );
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults, json!([]));

    // Every service when none are named; reverting its fault switches it off.
    let (_, monkey) = call(
        &router,
        "PUT",
        "/api/monkey",
        Some(r#"{"enabled": true, "services": []}"#),
    )
    .await;
    let id = monkey["fault_id"].as_u64().unwrap();
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults[0]["services"].as_array().unwrap().len(), 13);
    call(&router, "DELETE", &format!("/api/faults/{id}"), None).await;
    let (_, monkey) = call(&router, "GET", "/api/monkey", None).await;
    assert_eq!(monkey["enabled"], false);
}

async fn pause(router: &Router) {
    let (status, _) = call(router, "PUT", "/api/session", Some(r#"{"paused": true}"#)).await;
    assert_eq!(status, StatusCode::OK);
}

async fn step(router: &Router, seconds: f64) {
    let body = format!(r#"{{"seconds": {seconds}}}"#);
    let (status, _) = call(router, "POST", "/api/session/step", Some(&body)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn an_experiment_runs_to_a_verdict_and_its_report_is_kept() {
    let (router, store) = router_and_store(None);
    pause(&router).await;
    let plan = r#"{"name": "one cart instance",
        "faults": [{"kind": "kill", "service": "cart", "instance": 1, "at_s": 1}],
        "hypothesis": {"entry": "web", "min_availability": 0.5, "over_s": 2},
        "duration_s": 4}"#;
    let (status, created) = call(&router, "POST", "/api/experiments", Some(plan)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_u64().unwrap();

    let (status, error) = call(&router, "POST", "/api/experiments", Some(plan)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error["error"].as_str().unwrap().contains("is running"),
        "{error}"
    );

    let (_, running) = call(&router, "GET", &format!("/api/experiments/{id}"), None).await;
    assert_eq!(running["verdict"], "running");
    assert_eq!(
        running["hypothesis_text"],
        "availability of web ≥ 50% over 2 s"
    );
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults[0]["state"], "pending", "starts 1 s in: {faults}");

    step(&router, 5.0).await;
    let (_, report) = call(&router, "GET", &format!("/api/experiments/{id}"), None).await;
    assert_eq!(report["verdict"], "passed", "{report}");
    assert_eq!(report["elapsed_s"], 4);
    assert_eq!(report["timeline"].as_array().unwrap().len(), 4);
    assert!(report["entries"]["web"]["arrivals"].as_u64().unwrap() > 0);
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults, json!([]), "an ended experiment reverts its faults");

    let (_, list) = call(&router, "GET", "/api/experiments", None).await;
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["verdict"], "passed");

    // The writer thread stores it a moment after it ends.
    let mut stored = None;
    for _ in 0..100 {
        stored = store.get_experiment(id).unwrap();
        if stored.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let stored = stored.expect("the report is stored");
    assert_eq!(serde_json::to_value(&stored).unwrap(), report);
}

#[tokio::test]
async fn an_experiment_aborts_when_its_hypothesis_breaks_or_when_stopped() {
    let (router, store) = router_and_store(None);
    pause(&router).await;
    let plan = r#"{"faults": [{"kind": "kill", "service": "checkout", "at_s": 1}],
        "hypothesis": {"min_availability": 0.99, "over_s": 2},
        "duration_s": 60, "abort_on_break": true}"#;
    let (_, created) = call(&router, "POST", "/api/experiments", Some(plan)).await;
    let id = created["id"].as_u64().unwrap();
    step(&router, 10.0).await;
    let (_, report) = call(&router, "GET", &format!("/api/experiments/{id}"), None).await;
    assert_eq!(report["verdict"], "aborted", "{report}");
    assert!(report["elapsed_s"].as_u64().unwrap() < 10);
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults, json!([]), "aborting reverts the faults");
    let (status, _) = call(
        &router,
        "POST",
        &format!("/api/experiments/{id}/stop"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "it has ended already");

    let (_, created) = call(
        &router,
        "POST",
        "/api/experiments",
        Some(plan.replace("0.99", "0.1").as_str()),
    )
    .await;
    let second = created["id"].as_u64().unwrap();
    assert_eq!(second, id + 1);
    step(&router, 3.0).await;
    let (status, stopped) = call(
        &router,
        "POST",
        &format!("/api/experiments/{second}/stop"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stopped["verdict"], "stopped");
    assert_eq!(stopped["elapsed_s"], 3);
    assert!(
        stopped["reason"]
            .as_str()
            .unwrap()
            .contains("stopped by request")
    );
    assert_eq!(
        store
            .get_experiment(second)
            .unwrap()
            .unwrap()
            .report
            .verdict
            .as_str(),
        "stopped",
        "stored when the stop is answered"
    );

    let (status, _) = call(&router, "GET", "/api/experiments/999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&router, "POST", "/api/experiments/999/stop", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&router, "GET", "/api/experiments/abc", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = call(
        &router,
        "DELETE",
        &format!("/api/experiments/{second}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(
        &router,
        "DELETE",
        &format!("/api/experiments/{second}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_experiments_name_what_is_wrong_and_start_nothing() {
    let router = router(None);
    for (body, status, path) in [
        ("{", StatusCode::BAD_REQUEST, ""),
        (
            r#"{"duration_s": 10}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            r#"{"hypothesis": {"entry": "cart", "min_availability": 0.9}, "duration_s": 10}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "hypothesis.entry",
        ),
        (
            r#"{"hypothesis": {"min_availability": 99}, "duration_s": 10}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "hypothesis.min_availability",
        ),
        (
            r#"{"faults": [{"kind": "kill", "service": "cart"}, {"kind": "kill", "service": "x"}],
                "hypothesis": {"min_availability": 0.9}, "duration_s": 10}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "faults[1].service",
        ),
    ] {
        let (got, error) = call(&router, "POST", "/api/experiments", Some(body)).await;
        assert_eq!(got, status, "{body}: {error}");
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));
        if !path.is_empty() {
            assert_eq!(error["path"], path, "{body}");
        }
    }
    let (_, faults) = call(&router, "GET", "/api/faults", None).await;
    assert_eq!(faults, json!([]), "a refused plan injects nothing");
    let (_, list) = call(&router, "GET", "/api/experiments", None).await;
    assert_eq!(list, json!([]));
}

/// Reads SSE events until `done(name, data)`; returns the event names seen.
async fn read_events_until(url: &str, done: impl Fn(&str, &str) -> bool) -> Vec<String> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET /api/events HTTP/1.1\r\nHost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut lines = BufReader::new(stream).lines();
    let (mut names, mut name) = (Vec::new(), String::new());
    loop {
        let line = lines.next_line().await.unwrap().expect("stream open");
        if let Some(rest) = line.strip_prefix("event: ") {
            name = rest.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            names.push(name.clone());
            if done(&name, data) {
                return names;
            }
        }
    }
}

#[tokio::test]
async fn topologies_are_saved_listed_loaded_and_deleted() {
    let router = router(None);
    let (status, list) = call(&router, "GET", "/api/topologies", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    let ring = simulator::templates::build("ring", Some(5), 1).unwrap();
    let (status, saved) = call(
        &router,
        "PUT",
        "/api/topologies/my-ring",
        Some(&ring.to_json_pretty()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["services"], 5);
    let (status, _) = call(
        &router,
        "PUT",
        "/api/topologies/my-ring",
        Some(&ring.to_json_pretty()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "a second save replaces");
    let (_, list) = call(&router, "GET", "/api/topologies", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "my-ring");
    let (status, loaded) = call(&router, "GET", "/api/topologies/my-ring", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        loaded["name"], "my-ring",
        "saved under the name it was given"
    );
    assert_eq!(loaded["services"].as_array().unwrap().len(), 5);
    let (status, _) = call(&router, "DELETE", "/api/topologies/my-ring", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&router, "GET", "/api/topologies/my-ring", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].as_str().unwrap().contains("my-ring"));
    let (status, _) = call(&router, "DELETE", "/api/topologies/my-ring", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_saves_change_nothing() {
    let router = router(None);
    let mut bad = templates::demo();
    bad.dependencies[0].to = "nowhere".into();
    let bad = serde_json::to_string(&bad).unwrap();
    let (status, body) = call(&router, "PUT", "/api/topologies/broken", Some(&bad)).await;
    assert_eq!(
        (status, body["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("dependencies[0].to"))
    );
    let (status, body) = call(
        &router,
        "PUT",
        "/api/topologies/.hidden",
        Some(&templates::demo().to_json_pretty()),
    )
    .await;
    assert_eq!(
        (status, body["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name"))
    );
    let (_, list) = call(&router, "GET", "/api/topologies", None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn metrics_are_in_the_prometheus_text_format() {
    let router = router(None);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let reply = get(&router, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply.headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = reply.text();
    for expected in [
        "# TYPE blastradius_service_requests_per_second gauge",
        "blastradius_service_instances_up{service=\"cart\"} 2",
        "blastradius_entry_requests_per_second{entry=\"web\"}",
        "blastradius_sse_clients 0",
        "# TYPE blastradius_ticks_total counter",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn every_route_is_documented_in_docs_api_md() {
    let routes = include_str!("../src/lib.rs");
    let docs = include_str!("../../docs/api.md");
    let paths: Vec<&str> = routes
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
        .collect();
    assert!(paths.len() >= 15, "found the routes: {paths:?}");
    for path in paths {
        // Served at the root: the metrics and the OTLP receiver; the rest under /api.
        let documented = match path {
            "/metrics" => "GET /metrics".to_string(),
            "/v1/traces" => "POST /v1/traces".to_string(),
            _ => format!("/api{path}"),
        };
        assert!(
            docs.contains(&documented),
            "{documented} is served but docs/api.md does not describe it"
        );
    }
}

#[tokio::test]
async fn the_live_run_replays_exactly_from_its_recording() {
    let router = router(None);
    pause(&router).await;
    step(&router, 2.5).await;
    let kill = r#"{"kind": "kill", "service": "cart", "instance": 1}"#;
    let (status, created) = call(&router, "POST", "/api/faults", Some(kill)).await;
    assert_eq!(status, StatusCode::CREATED);
    step(&router, 4.25).await;
    let uri = format!("/api/faults/{}", created["id"]);
    assert_eq!(
        call(&router, "DELETE", &uri, None).await.0,
        StatusCode::NO_CONTENT
    );
    step(&router, 3.0).await;

    let (status, live) = call(&router, "GET", "/api/runs/live", None).await;
    assert_eq!(status, StatusCode::OK);
    let last = live["last_s"].as_u64().unwrap();
    assert!(last >= 9, "{live}");
    assert_eq!(
        live["controls"], 2,
        "the kill and its revert (pausing is no control)"
    );
    let (status, recording) = call(&router, "GET", "/api/runs/live/recording", None).await;
    assert_eq!(status, StatusCode::OK);
    // Loaded (elsewhere, as from a file), it replays to the same frames, byte for byte.
    let (status, loaded) = call(&router, "POST", "/api/runs", Some(&recording.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{loaded}");
    let id = loaded["id"].as_str().unwrap().to_string();
    assert_eq!(loaded["last_s"], live["last_s"]);
    assert_eq!(loaded["epochs"], live["epochs"]);
    let (_, brief) = call(&router, "GET", "/api/runs/live?epochs=false", None).await;
    assert_eq!(brief["epochs"], json!([]));
    assert_eq!(brief["last_s"], live["last_s"]);
    for t in [1, 3, 5, last] {
        let original = call(&router, "GET", &format!("/api/runs/live/frames/{t}"), None).await;
        let replayed = call(&router, "GET", &format!("/api/runs/{id}/frames/{t}"), None).await;
        assert_eq!(original.0, StatusCode::OK);
        assert_eq!(original.1.to_string(), replayed.1.to_string(), "second {t}");
    }
    let (status, frame) = call(&router, "GET", "/api/runs/live/frames/5", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        frame["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "kill")
    );
    let (status, err) = call(&router, "GET", "/api/runs/live/frames/99999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        err["error"].as_str().unwrap().contains("seconds 1 to"),
        "{err}"
    );
    assert_eq!(
        call(&router, "GET", "/api/runs/42", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_recordings_name_what_is_wrong() {
    let router = router(None);
    let (status, _) = call(&router, "POST", "/api/runs", Some("{nope")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, recording) = call(&router, "GET", "/api/runs/live/recording", None).await;
    let mut bad = recording.clone();
    bad["topology"]["services"][0]["replicas"] = json!(0);
    let (status, err) = call(&router, "POST", "/api/runs", Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["path"], "topology.services[0].replicas", "{err}");
    let mut bad = recording;
    bad["seed"] = json!("seven");
    let (status, err) = call(&router, "POST", "/api/runs", Some(&bad.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["path"], "seed", "{err}");
}

#[tokio::test]
async fn the_live_comparison_mirrors_faults_until_closed() {
    let router = router(None);
    assert_eq!(
        call(&router, "GET", "/api/compare", None).await.0,
        StatusCode::NOT_FOUND
    );
    pause(&router).await;
    let (status, view) = call(&router, "POST", "/api/compare", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(view["t"], 0.0);
    step(&router, 3.0).await;
    let kill = r#"{"kind": "kill", "service": "cart", "instance": 1}"#;
    assert_eq!(
        call(&router, "POST", "/api/faults", Some(kill)).await.0,
        StatusCode::CREATED
    );
    step(&router, 5.0).await;
    let (status, view) = call(&router, "GET", "/api/compare", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["t"], 8.0);
    assert_eq!(view["first_fault_s"], 3.0);
    for mode in ["dns", "lb", "smart"] {
        let side = &view["modes"][mode];
        assert_eq!(side["timeline"].as_array().unwrap().len(), 8, "{mode}");
        assert_eq!(side["health"]["cart"], "degraded", "{mode}");
        assert!(side["summary"]["lost"].is_u64());
    }
    assert_eq!(
        call(&router, "DELETE", "/api/compare", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&router, "GET", "/api/compare", None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&router, "DELETE", "/api/compare", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_resilience_report_comes_as_json_or_markdown() {
    let router = router(None);
    let (status, report) = call(&router, "GET", "/api/report", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["topology"], "shop");
    assert!(
        report["spof"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "auth"),
        "{report}"
    );
    assert_eq!(
        report["worst_kill"]["summary"].as_object().unwrap().len(),
        3
    );
    let reply = get(&router, "/api/report?format=markdown&download=true").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"shop-resilience.md\""
    );
    let markdown = reply.text();
    assert!(
        markdown.starts_with("# Resilience report: shop"),
        "{markdown}"
    );
    let (status, err) = call(&router, "GET", "/api/report?format=pdf", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["path"], "format");

    // The report is kept for the topology it was made from, and made again for a new one.
    let star = serde_json::to_string(&templates::build("star", Some(5), 1).unwrap()).unwrap();
    assert_eq!(
        call(&router, "PUT", "/api/topology", Some(&star)).await.0,
        StatusCode::OK
    );
    let (status, report) = call(&router, "GET", "/api/report", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["topology"], "star", "{report}");
}

#[tokio::test]
async fn routing_tables_show_what_each_client_believes() {
    let router = router(None);
    pause(&router).await;
    let (status, body) = call(
        &router,
        "PUT",
        "/api/session",
        Some(r#"{"routing_mode": "dns"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    step(&router, 2.0).await;
    let kill = r#"{"kind": "kill", "service": "auth", "instance": 1}"#;
    assert_eq!(
        call(&router, "POST", "/api/faults", Some(kill)).await.0,
        StatusCode::CREATED
    );
    step(&router, 1.0).await;
    let (status, table) = call(&router, "GET", "/api/routing/auth", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(table["mode"], "dns");
    assert_eq!(table["instances"], json!(["down", "up"]));
    let views = table["views"].as_array().unwrap();
    // web's 3 instances and mobile-api's 2 call auth.
    assert_eq!(views.len(), 5, "{table}");
    assert!(
        views.iter().any(|v| v["stale"][0] == true),
        "a cached answer lists the dead one: {table}"
    );
    let (status, _) = call(&router, "GET", "/api/routing/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
