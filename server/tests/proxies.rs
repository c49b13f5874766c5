//! Fault proxies on real sockets: a real HTTP upstream (and a raw TCP one) behind proxies
//! the server runs, driven through its Toxiproxy API and the graph's fault API, as a
//! client on the wire sees them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};
use server::session::{Session, Source};
use server::{AppState, app};
use simulator::templates;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server showing the observed source, on a port of its own; its base URL.
async fn serve(token: Option<&str>) -> (String, AppState) {
    let store = std::sync::Arc::new(server::store::Store::in_memory().unwrap());
    let observed = server::observed::Observed::start(tracegraph::Config::default());
    let state = AppState {
        session: Session::start_with(
            templates::demo(),
            1,
            store.clone(),
            observed,
            Source::Observed,
        )
        .unwrap(),
        store,
        token: token.map(str::to_string),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = app(state.clone(), None);
    tokio::spawn(server::run(listener, router, std::future::pending()));
    (base, state)
}

/// A real HTTP upstream: `/` answers at once, `/slow` after 100 ms.
async fn upstream() -> SocketAddr {
    let router = Router::new().route("/", get(|| async { "hello" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            "slowly"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(server::run(listener, router, std::future::pending()));
    address
}

/// A raw TCP echo upstream (not HTTP).
async fn echo() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    address
}

fn client() -> reqwest::Client {
    // A connection per request, so each sees the proxy as it is now.
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap()
}

async fn send(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let request = client().request(method.parse().unwrap(), url);
    let request = match body {
        Some(body) => request.body(body.to_string()),
        None => request,
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Makes proxy `name` in front of `upstream`; where it listens.
async fn proxy(base: &str, name: &str, upstream: SocketAddr) -> String {
    let (status, made) = send(
        "POST",
        &format!("{base}/toxiproxy/proxies"),
        Some(json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream.to_string()})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    made["listen"].as_str().unwrap().to_string()
}

/// GET through `address`: the status and body, or the error's words.
async fn through(address: &str, path: &str) -> Result<(u16, String), String> {
    match client().get(format!("http://{address}{path}")).send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            Ok((status, response.text().await.unwrap_or_default()))
        }
        Err(err) => Err(format!("{err:?}")),
    }
}

async fn fault(base: &str, fault: Value) -> u64 {
    let (status, created) = send("POST", &format!("{base}/api/faults"), Some(fault)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_u64().unwrap()
}

async fn revert(base: &str, id: u64) {
    let (status, _) = send("DELETE", &format!("{base}/api/faults/{id}"), None).await;
    assert_eq!(status, 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_faults_act_on_the_wire() {
    let (base, _) = serve(None).await;
    let api = proxy(&base, "api#1", upstream().await).await;
    assert_eq!(through(&api, "/").await, Ok((200, "hello".into())));

    // errors: HTTP 503 for every request at rate 1; reverted, through again.
    let id = fault(
        &base,
        json!({"kind": "errors", "service": "api", "instance": 1, "rate": 1.0}),
    )
    .await;
    let (status, body) = through(&api, "/").await.unwrap();
    assert_eq!(status, 503);
    assert!(body.contains("injected"), "{body}");
    revert(&base, id).await;
    assert_eq!(through(&api, "/").await, Ok((200, "hello".into())));

    // slow ×4: an answer that took 100 ms takes 400 ms.
    let id = fault(
        &base,
        json!({"kind": "slow", "service": "api", "factor": 4.0}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(through(&api, "/slow").await, Ok((200, "slowly".into())));
    assert!(
        started.elapsed() >= Duration::from_millis(390),
        "{:?}",
        started.elapsed()
    );
    revert(&base, id).await;

    // latency: 200 ms more on every answer.
    let id = fault(
        &base,
        json!({"kind": "latency", "service": "api", "ms": 200.0}),
    )
    .await;
    let started = Instant::now();
    assert_eq!(through(&api, "/").await, Ok((200, "hello".into())));
    assert!(started.elapsed() >= Duration::from_millis(200));
    revert(&base, id).await;

    // hang: accepted, never answered (the client gives up); reverted, answered.
    let id = fault(&base, json!({"kind": "hang", "service": "api"})).await;
    let hung = through(&api, "/").await.unwrap_err();
    assert!(
        hung.contains("TimedOut") || hung.contains("timed out"),
        "{hung}"
    );
    revert(&base, id).await;
    assert_eq!(through(&api, "/").await, Ok((200, "hello".into())));

    // kill: an open connection is reset, new ones refused; revived, through again.
    let mut open = tokio::net::TcpStream::connect(&api).await.unwrap();
    open.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 256];
    assert!(open.read(&mut answer).await.unwrap() > 0);
    let id = fault(
        &base,
        json!({"kind": "kill", "service": "api", "instance": 1}),
    )
    .await;
    let read = open.read(&mut answer).await;
    assert!(
        matches!(&read, Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
    let refused = tokio::net::TcpStream::connect(&api).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // The fault shows as a disabled proxy in the Toxiproxy API.
    let (_, shown) = send("GET", &format!("{base}/toxiproxy/proxies/api%231"), None).await;
    assert_eq!(shown["enabled"], false);
    revert(&base, id).await;
    assert_eq!(through(&api, "/").await, Ok((200, "hello".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_partition_and_timed_faults_keep_the_wall_clock() {
    let (base, _) = serve(None).await;
    let link = proxy(&base, "web->api", upstream().await).await;

    // partition: the link's calls go unanswered.
    let id = fault(
        &base,
        json!({"kind": "partition", "from": "web", "to": "api", "both": true}),
    )
    .await;
    let (_, toxics) = send(
        "GET",
        &format!("{base}/toxiproxy/proxies/web-%3Eapi/toxics"),
        None,
    )
    .await;
    assert_eq!(toxics.as_array().unwrap().len(), 2, "{toxics}");
    assert!(through(&link, "/").await.is_err());
    revert(&base, id).await;
    assert_eq!(through(&link, "/").await, Ok((200, "hello".into())));

    // at_s a second from now: pending, then active; duration_s: it reverts itself.
    let (_, session) = send("GET", &format!("{base}/api/faults"), None).await;
    assert_eq!(session, json!([]));
    let now = {
        let (_, observed) = send("GET", &format!("{base}/api/runs/observed"), None).await;
        observed["duration_s"].as_f64().unwrap()
    };
    let id = fault(
        &base,
        json!({"kind": "errors", "from": "web", "to": "api", "rate": 1.0, "at_s": now + 1.0, "duration_s": 1.0}),
    )
    .await;
    let (_, faults) = send("GET", &format!("{base}/api/faults"), None).await;
    assert_eq!(faults[0]["id"], id);
    assert_eq!(faults[0]["state"], "pending");
    assert_eq!(through(&link, "/").await, Ok((200, "hello".into())));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, faults) = send("GET", &format!("{base}/api/faults"), None).await;
        if faults[0]["state"] == "active" {
            break;
        }
        assert!(Instant::now() < deadline, "never started: {faults}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(through(&link, "/").await.unwrap().0, 503);
    loop {
        let (_, faults) = send("GET", &format!("{base}/api/faults"), None).await;
        if faults == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "never ended: {faults}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(through(&link, "/").await, Ok((200, "hello".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_protocols_are_reset_rather_than_answered() {
    let (base, _) = serve(None).await;
    let cache = proxy(&base, "cache", echo().await).await;
    let mut stream = tokio::net::TcpStream::connect(&cache).await.unwrap();
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    let mut back = [0u8; 14];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"*1\r\n$4\r\nPING\r\n");
    fault(
        &base,
        json!({"kind": "errors", "service": "cache", "rate": 1.0}),
    )
    .await;
    let mut stream = tokio::net::TcpStream::connect(&cache).await.unwrap();
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    let read = stream.read(&mut back).await;
    assert!(
        matches!(&read, Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_what_is_wrong_and_change_nothing() {
    let (base, state) = serve(Some("sesame")).await;
    let upstream = upstream().await;
    let proxies = format!("{base}/toxiproxy/proxies");
    let body = json!({"name": "api", "listen": "127.0.0.1:0", "upstream": upstream.to_string()});
    // The token rule.
    let (status, _) = send("POST", &proxies, Some(body.clone())).await;
    assert_eq!(status, 401);
    // A browser is refused, as Toxiproxy refuses it.
    let response = client()
        .get(&proxies)
        .header("user-agent", "Mozilla/5.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let authorized = |method: &str, url: &str, body: Value| {
        client()
            .request(method.parse().unwrap(), url)
            .bearer_auth("sesame")
            .body(body.to_string())
            .send()
    };
    let cases = [
        (
            json!({"name": "x", "upstream": "10.1.2.3:80"}),
            403,
            "not on loopback",
        ),
        (
            json!({"name": "x", "upstream": "127.0.0.1:80", "listen": "0.0.0.0:0"}),
            403,
            "listen",
        ),
        (
            json!({"name": "x"}),
            400,
            "missing required field: upstream",
        ),
        (json!({"name": 7, "upstream": "127.0.0.1:80"}), 400, "name"),
        (json!({"name": "x", "upstream": "nowhere"}), 400, "upstream"),
    ];
    for (body, status, words) in cases {
        let response = authorized("POST", &proxies, body.clone()).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{body}");
        let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(answer["status"], status);
        assert!(
            answer["error"].as_str().unwrap().contains(words),
            "{answer}"
        );
    }
    assert_eq!(state.session.observed.proxies().list().len(), 0);
    // Made once; a second time is a conflict.
    assert_eq!(
        authorized("POST", &proxies, body.clone())
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        authorized("POST", &proxies, body).await.unwrap().status(),
        409
    );
    let toxics = format!("{proxies}/api/toxics");
    let bad = authorized(
        "POST",
        &toxics,
        json!({"type": "latency", "attributes": {"latency": "a lot"}}),
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("attributes.latency"));
    let missing = authorized("GET", &format!("{proxies}/nope"), json!(null))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        serde_json::from_str::<Value>(&missing.text().await.unwrap()).unwrap()["error"],
        "proxy not found"
    );
    // A graph fault on a part with no proxy: 422 naming it and how to add one.
    let response = authorized(
        "POST",
        &format!("{base}/api/faults"),
        json!({"kind": "kill", "service": "cart"}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 422);
    let answer: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(answer["path"], "service");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("add one named 'cart'"),
        "{answer}"
    );
    // A toxic from a Toxiproxy client is a fault in the graph.
    let added = authorized(
        "POST",
        &toxics,
        json!({"type": "latency", "attributes": {"latency": 50}}),
    )
    .await
    .unwrap();
    assert_eq!(added.status(), 200);
    let (_, faults) = send("GET", &format!("{base}/api/faults"), None).await;
    assert_eq!(faults[0]["kind"], "latency");
    assert_eq!(faults[0]["service"], "api");
    assert_eq!(faults[0]["ms"], 50.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_networks_open_the_upstream_rule() {
    let (base, state) = serve(None).await;
    state
        .session
        .observed
        .proxies()
        .set_policy(server::proxy::Policy {
            allow: vec!["10.0.0.0/8".parse().unwrap()],
            ..server::proxy::Policy::default()
        });
    let (status, made) = send(
        "POST",
        &format!("{base}/toxiproxy/proxies"),
        Some(json!({"name": "far", "upstream": "10.1.2.3:80"})),
    )
    .await;
    assert_eq!(status, 201, "{made}");
    let (status, _) = send(
        "POST",
        &format!("{base}/toxiproxy/proxies"),
        Some(json!({"name": "farther", "upstream": "192.168.1.1:80"})),
    )
    .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chaos_monkey_kills_real_instances_and_they_come_back() {
    let (base, _) = serve(None).await;
    // No instance proxy yet: nothing to strike, and it says so.
    let (status, refused) = send(
        "PUT",
        &format!("{base}/api/monkey"),
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("SERVICE#N"),
        "{refused}"
    );
    let api = proxy(&base, "api#1", upstream().await).await;
    let (status, on) = send(
        "PUT",
        &format!("{base}/api/monkey"),
        Some(json!({"enabled": true, "mean_interval_s": 0.2, "down_s": 0.5})),
    )
    .await;
    assert_eq!(status, 200, "{on}");
    assert_eq!(on["enabled"], true);
    // A strike: api#1 killed for real (refused), then back by itself.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, faults) = send("GET", &format!("{base}/api/faults"), None).await;
        if faults
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["description"] == "kill api#1 duration=0.5s")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the monkey never struck");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, off) = send(
        "PUT",
        &format!("{base}/api/monkey"),
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!((status, &off["enabled"]), (200, &json!(false)));
    loop {
        let (_, faults) = send("GET", &format!("{base}/api/faults"), None).await;
        if faults == json!([]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the struck instance never came back: {faults}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(through(&api, "/").await, Ok((200, "hello".into())));
}
