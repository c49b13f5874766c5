//! The model of an observed system against the file it was run from: `blastradius serve
//! --observe` and `blastradius demo` (real processes, real HTTP through the fault proxies,
//! spans from the OpenTelemetry SDK) on a small system whose every parameter is known,
//! then `GET /api/observed/model`, and the model run beside the real system ("Model this")
//! through a real kill.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A system with what the estimators must find: replicas, fractional calls, retries after
/// a callee's own errors, and an optional callee that fails often.
const SYSTEM: &str = r#"{
  "name": "known",
  "services": [
    {"name": "front", "replicas": 2, "ingress_rps": 60, "service_time_ms": 4, "service_time_dist": "constant"},
    {"name": "back", "replicas": 3, "service_time_ms": 6, "error_rate": 0.1},
    {"name": "extra", "service_time_ms": 3, "error_rate": 0.4}
  ],
  "dependencies": [
    {"from": "front", "to": "back", "calls": 1.5, "retries": 1, "retry_backoff_ms": 5},
    {"from": "front", "to": "extra", "calls": 1, "required": false, "retries": 0}
  ]
}"#;

/// Kills the child when dropped (a failed assertion still stops it).
struct Stopping(Child);

impl Drop for Stopping {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One demo system at a time: each runs a process per instance, and two at once on a
/// small machine would slow both past their timeouts.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `blastradius serve --observe` in `dir`, once it says it serves: the process and its
/// base URL.
fn serve(dir: &std::path::Path) -> (Stopping, String) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(["serve", "--observe", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut server = Stopping(server);
    // Read what it prints to the end (a reader that went away would close its stdout).
    let (first, lines) = std::sync::mpsc::channel();
    let stdout = server.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = first.send(line);
        }
    });
    let line = lines.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(line.contains("serving on"), "{line}");
    (server, base)
}

/// The service `name` of a model (a topology file as JSON).
fn service_in(model: &Value, name: &str) -> Value {
    model["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{name} not modelled: {model}"))
        .clone()
}

/// The dependency `from` → `to` of a model.
fn dependency_in(model: &Value, from: &str, to: &str) -> Value {
    model["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["from"] == from && d["to"] == to)
        .unwrap_or_else(|| panic!("{from}->{to} not modelled: {model}"))
        .clone()
}

/// `got` is within `share` of `want` (`context` printed if not).
fn assert_within(got: &Value, want: f64, share: f64, context: &Value) {
    let got = got.as_f64().unwrap();
    assert!(
        (got - want).abs() <= share * want,
        "{got} is not within {share} of {want}: {context}"
    );
}

/// A directory of its own holding `system` as `name.json`.
fn system_file(name: &str, system: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("blastradius-model-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, system).unwrap();
    (dir, file)
}

#[test]
fn a_demo_system_is_modelled_from_its_spans() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (dir, file) = system_file("known", SYSTEM);
    let (server, base) = serve(&dir);
    let client = reqwest::blocking::Client::new();
    // No traces, no model to run.
    let refused = client
        .post(format!("{base}/api/observed/twin"))
        .send()
        .unwrap();
    assert_eq!(refused.status(), 409);
    assert!(refused.text().unwrap().contains("no model yet"));
    let demo = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .arg("demo")
        .arg(&file)
        .args(["--server", &base, "--duration", "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = Stopping(demo);
    std::thread::sleep(Duration::from_secs(16));
    let started = Instant::now();
    let answer: Value = serde_json::from_str(
        &reqwest::blocking::get(format!("{base}/api/observed/model?evidence=true"))
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    let model = &answer["topology"];
    let service = |name: &str| service_in(model, name);
    let dependency = |to: &str| dependency_in(model, "front", to);
    let within = |got: &Value, want: f64, share: f64| assert_within(got, want, share, &answer);
    // Replicas exact; ingress and calls within 15%.
    assert_eq!(service("front")["replicas"], 2);
    assert_eq!(service("back")["replicas"], 3);
    assert_eq!(service("extra")["replicas"], 1);
    within(&service("front")["ingress_rps"], 60.0, 0.15);
    within(&dependency("back")["calls"], 1.5, 0.15);
    within(&dependency("extra")["calls"], 1.0, 0.15);
    // Own failures, not those passed up: back's and extra's, and none of front's.
    within(&service("back")["error_rate"], 0.1, 0.35);
    within(&service("extra")["error_rate"], 0.4, 0.2);
    assert!(
        service("front")["error_rate"].as_f64().unwrap() < 0.02,
        "{answer}"
    );
    // Extra is optional (front succeeds without it), back required. Retries exactly: the
    // demo's clients say which attempt each call is (`http.request.resend_count`).
    assert_eq!(dependency("back")["retries"], 1, "{answer}");
    assert_eq!(dependency("extra")["required"], false);
    assert_eq!(dependency("back")["required"], true);
    // Self time: the file's work plus what the process adds (debug builds: ~1–2 ms).
    within(&service("back")["service_time_ms"], 6.0, 0.6);
    assert!(
        !answer["evidence"]["services"]["front"]["server_spans"]["thin"]
            .as_bool()
            .unwrap()
    );
    // The model is a topology file the simulator runs.
    let text = serde_json::to_string(model).unwrap();
    let topology = simulator::topology::Topology::from_json(&text).expect("a valid topology");
    let run = simulator::report::Run {
        topology,
        duration_s: 30.0,
        seed: 1,
        faults: Vec::new(),
    };
    let report = run.simulate().expect("it simulates");
    assert!(report.entries["front"].availability.unwrap() > 0.9);

    // "Model this": the model runs beside the real system and takes its real faults.
    let twin = |client: &reqwest::blocking::Client| -> Value {
        let answer = client
            .get(format!("{base}/api/observed/twin"))
            .send()
            .unwrap();
        assert_eq!(answer.status(), 200);
        serde_json::from_str(&answer.text().unwrap()).unwrap()
    };
    let started = client
        .post(format!("{base}/api/observed/twin"))
        .send()
        .unwrap();
    assert_eq!(started.status(), 201);
    std::thread::sleep(Duration::from_secs(3));
    // A real kill of the optional callee: the model, having seen it fail, predicts that
    // front keeps its requests; so does the real system.
    let kill: Value = serde_json::from_str(
        &client
            .post(format!("{base}/api/faults"))
            .header("content-type", "application/json")
            .body(r#"{"kind": "kill", "service": "extra"}"#)
            .send()
            .unwrap()
            .text()
            .unwrap(),
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(9));
    let view = twin(&client);
    assert_eq!(view["faults"][0]["description"], "kill extra", "{view}");
    assert!(view["faults"][0].get("not_in_model").is_none(), "{view}");
    assert_eq!(view["model"]["health"]["extra"], "down", "{view}");
    let share = |side: &str| view[side]["entries"]["front"].as_f64().unwrap();
    let (predicted, real) = (share("model"), share("real"));
    assert!(
        (predicted - real).abs() <= 0.08 && real > 0.9,
        "predicted {predicted}, really {real}: {view}"
    );
    assert!(view["real"]["timeline"].as_array().unwrap().len() >= 10);
    // Reverted for real: reverted in the model.
    let id = kill["id"].as_u64().unwrap();
    let reverted = client
        .delete(format!("{base}/api/faults/{id}"))
        .send()
        .unwrap();
    assert_eq!(reverted.status(), 204);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(twin(&client)["faults"], serde_json::json!([]));
    // The model it runs, as a file.
    let file = client
        .get(format!("{base}/api/observed/twin/model?format=yaml"))
        .send()
        .unwrap();
    assert_eq!(file.status(), 200);
    let model = simulator::topology::Topology::from_yaml(&file.text().unwrap()).unwrap();
    assert_eq!(model.name, "observed-model");
    assert_eq!(
        model.services.len() as u64,
        twin(&client)["services"].as_u64().unwrap()
    );
    // The resilience report runs on the model.
    let report = client
        .get(format!("{base}/api/observed/twin/report?format=markdown"))
        .send()
        .unwrap();
    assert_eq!(report.status(), 200);
    assert!(report.text().unwrap().contains("observed-model"));
    let stopped = client
        .delete(format!("{base}/api/observed/twin"))
        .send()
        .unwrap();
    assert_eq!(stopped.status(), 204);
    let gone = client
        .get(format!("{base}/api/observed/twin"))
        .send()
        .unwrap();
    assert_eq!(gone.status(), 404);
    // The demo stops on SIGTERM, its children with it.
    let _ = Command::new("kill").arg(demo.0.id().to_string()).status();
    let status = demo.0.wait().unwrap();
    assert!(status.success() || status.code().is_none(), "{status}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second shape: a chain two deep with fractional fan-out, an optional callee that fails
/// on its own and is retried twice with backoff, and replicas at every level.
const CHAIN: &str = r#"{
  "name": "chain",
  "services": [
    {"name": "api", "ingress_rps": 40, "service_time_ms": 3},
    {"name": "orders", "replicas": 2, "service_time_ms": 5},
    {"name": "stock", "replicas": 2, "service_time_ms": 4, "error_rate": 0.25},
    {"name": "db", "replicas": 3, "service_time_ms": 2}
  ],
  "dependencies": [
    {"from": "api", "to": "orders", "calls": 2, "retries": 0},
    {"from": "orders", "to": "stock", "calls": 0.5, "required": false, "retries": 2, "retry_backoff_ms": 10},
    {"from": "orders", "to": "db", "calls": 1, "retries": 0}
  ]
}"#;

#[test]
fn a_chain_with_an_optional_retried_callee_is_modelled_and_its_kills_predicted() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (dir, file) = system_file("chain", CHAIN);
    let (server, base) = serve(&dir);
    let demo = Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .arg("demo")
        .arg(&file)
        .args(["--server", &base, "--duration", "16"])
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    // The last traces settle.
    std::thread::sleep(Duration::from_secs(4));
    let get = |path: &str| -> Value {
        serde_json::from_str(
            &reqwest::blocking::get(format!("{base}{path}"))
                .unwrap()
                .text()
                .unwrap(),
        )
        .unwrap()
    };
    let model = get("/api/observed/model");
    let service = |name: &str| service_in(&model, name);
    let dependency = |from: &str, to: &str| dependency_in(&model, from, to);
    let within = |got: &Value, want: f64, share: f64| assert_within(got, want, share, &model);
    for (name, replicas) in [("api", 1), ("orders", 2), ("stock", 2), ("db", 3)] {
        assert_eq!(service(name)["replicas"], replicas, "{name}: {model}");
    }
    within(&service("api")["ingress_rps"], 40.0, 0.15);
    within(&dependency("api", "orders")["calls"], 2.0, 0.15);
    within(&dependency("orders", "stock")["calls"], 0.5, 0.15);
    within(&dependency("orders", "db")["calls"], 1.0, 0.15);
    within(&service("stock")["error_rate"], 0.25, 0.3);
    assert_eq!(dependency("orders", "stock")["retries"], 2, "{model}");
    within(
        &dependency("orders", "stock")["retry_backoff_ms"],
        10.0,
        0.4,
    );
    assert_eq!(dependency("orders", "stock")["required"], false, "{model}");
    assert_eq!(dependency("orders", "db")["required"], true, "{model}");
    // What the model predicts a kill of each does to api's requests.
    let analysis = get("/api/observed/analysis");
    let kept = |killed: &str| {
        analysis["blast_radius"][killed]["api"]
            .as_f64()
            .unwrap_or(1.0)
    };
    assert!(kept("db") < 0.01, "{analysis}");
    assert!(kept("orders") < 0.01, "{analysis}");
    assert!(kept("stock") > 0.99, "{analysis}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
