//! `blastradius demo FILE` (SPEC "A real system to observe"): a topology file run as a real
//! system on this machine. Every instance of every service is an OS process of its own
//! (`blastradius demo-instance … SERVICE#N`) serving HTTP on loopback; each dependency is
//! a real HTTP call made `calls` times with its timeout, retries and backoff, W3C
//! `traceparent` propagated; the work takes `service_time_ms` and fails at `error_rate`;
//! every process exports its spans with the OpenTelemetry SDK over OTLP/HTTP. The parent
//! runs a load generator at each entry's `ingress_rps` and stops every process it started,
//! by its own id, on Ctrl-C, SIGTERM or `--duration`. A process also exits when its
//! parent's end of its standard input closes, so none outlives the demo.
//!
//! Every call goes through the server's fault proxies, which the demo registers with the
//! server's Toxiproxy API before it starts anything (and deletes when it stops): one per
//! instance (`cart#2`, in front of that process) and one per link (`web->cart`, which
//! spreads the caller's connections over the callee's instance proxies in turn, as an L4
//! balancer without health checks would). Callers keep their connections alive, as HTTP
//! clients do (a connection per call would leave ~100,000 sockets in TIME_WAIT within a
//! minute and slow every connect); toxics act on open connections, and a kill resets
//! them, so faults from the graph reach the demo at once: a kill of `cart#2` disables its
//! proxy, the callers' connections through it are reset, and those that reconnect there
//! are refused.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use rand::{Rng, SeedableRng};
use rand_distr::Exp1;
use rand_pcg::Pcg64Mcg;
use serde::{Deserialize, Serialize};
use simulator::topology::{Dependency, Service, Topology};

/// Most processes one demo starts: each is a real process with threads of its own.
pub const MAX_PROCESSES: u32 = 200;

/// How often each process exports its spans (an SDK's default is 5 s).
const EXPORT_EVERY: Duration = Duration::from_millis(200);

/// What every process of one demo is told: where to send spans, the system, and where each
/// instance listens.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The OTLP/HTTP traces endpoint (`…/v1/traces`).
    pub endpoint: String,
    pub topology: Topology,
    /// Each service's instances' ports on 127.0.0.1, instance 1 first.
    pub ports: BTreeMap<String, Vec<u16>>,
    /// The fault proxy in front of each instance (`cart#2`) and carrying each link
    /// (`web->cart`), by name.
    pub proxies: BTreeMap<String, SocketAddr>,
}

impl Plan {
    /// The addresses `dependency`'s caller calls: the link's proxy.
    fn targets(&self, dependency: &Dependency) -> Vec<SocketAddr> {
        let name = format!("{}->{}", dependency.from, dependency.to);
        self.proxies.get(&name).copied().into_iter().collect()
    }

    /// The proxies in front of `service`'s instances, instance 1 first.
    fn instance_proxies(&self, service: &str) -> Vec<SocketAddr> {
        let count = self.ports.get(service).map_or(0, Vec::len);
        (1..=count)
            .filter_map(|n| self.proxies.get(&format!("{service}#{n}")).copied())
            .collect()
    }
}

/// The server's Toxiproxy API, as the demo uses it to register its proxies.
struct ProxyApi {
    base: String,
    client: reqwest::blocking::Client,
    token: Option<String>,
}

impl ProxyApi {
    fn new(server: &str) -> Result<ProxyApi, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|err| err.to_string())?;
        Ok(ProxyApi {
            base: format!("{}/toxiproxy", server.trim_end_matches('/')),
            client,
            token: std::env::var("BLASTRADIUS_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        })
    }

    fn authorized(
        &self,
        request: reqwest::blocking::RequestBuilder,
    ) -> reqwest::blocking::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Makes (or replaces) `proxies` (name, upstream), each on a free loopback port;
    /// where each listens.
    fn populate(
        &self,
        proxies: &[(String, String)],
    ) -> Result<BTreeMap<String, SocketAddr>, String> {
        let body: Vec<serde_json::Value> = proxies
            .iter()
            .map(|(name, upstream)| {
                serde_json::json!({"name": name, "listen": "127.0.0.1:0", "upstream": upstream})
            })
            .collect();
        let url = format!("{}/populate", self.base);
        let response = self
            .authorized(
                self.client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(serde_json::to_vec(&body).expect("JSON values serialise")),
            )
            .send()
            .map_err(|err| format!("cannot reach the server's Toxiproxy API at {url}: {err}"))?;
        let status = response.status();
        let answer: serde_json::Value = response
            .bytes()
            .ok()
            .and_then(|body| serde_json::from_slice(&body).ok())
            .ok_or_else(|| format!("{url} answered {status}, not with JSON: is it blastradius?"))?;
        if !status.is_success() {
            return Err(format!(
                "the server refused the demo's fault proxies ({status}): {}",
                answer["error"].as_str().unwrap_or("no reason given")
            ));
        }
        let mut listening = BTreeMap::new();
        for proxy in answer["proxies"].as_array().into_iter().flatten() {
            let name = proxy["name"].as_str().unwrap_or_default().to_string();
            let listen = proxy["listen"]
                .as_str()
                .and_then(|l| l.parse().ok())
                .ok_or_else(|| format!("proxy {name} has no listen address"))?;
            listening.insert(name, listen);
        }
        Ok(listening)
    }

    /// Deletes the demo's proxies (a proxy already gone is fine).
    fn delete(&self, names: impl Iterator<Item = String>) {
        for name in names {
            let url = format!("{}/proxies/{}", self.base, percent_encode(&name));
            if let Err(err) = self.authorized(self.client.delete(&url)).send() {
                tracing::warn!(proxy = %name, %err, "could not delete a fault proxy");
            }
        }
    }
}

/// `name` with every byte a URL path segment cannot carry as is percent-encoded (proxy
/// names hold `#` and `>`).
fn percent_encode(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Registers the demo's fault proxies with the server: one per instance, then one per
/// link spreading over the callee's instance proxies.
fn register_proxies(
    api: &ProxyApi,
    topology: &Topology,
    ports: &BTreeMap<String, Vec<u16>>,
) -> Result<BTreeMap<String, SocketAddr>, String> {
    let instances: Vec<(String, String)> = ports
        .iter()
        .flat_map(|(service, ports)| {
            ports
                .iter()
                .enumerate()
                .map(move |(i, port)| (format!("{service}#{}", i + 1), format!("127.0.0.1:{port}")))
        })
        .collect();
    let mut proxies = api.populate(&instances)?;
    let links: Vec<(String, String)> = topology
        .dependencies
        .iter()
        .map(|d| {
            let count = ports.get(&d.to).map_or(0, Vec::len);
            let upstream: Vec<String> = (1..=count)
                .filter_map(|n| proxies.get(&format!("{}#{n}", d.to)))
                .map(SocketAddr::to_string)
                .collect();
            (format!("{}->{}", d.from, d.to), upstream.join(","))
        })
        .collect();
    proxies.extend(api.populate(&links)?);
    Ok(proxies)
}

/// One started process.
struct Process {
    label: String,
    child: Child,
}

/// Runs `topology` as a real system until Ctrl-C, SIGTERM or `duration_s`, sending spans
/// to the blastradius server at `server` (e.g. `http://127.0.0.1:8080`).
pub fn run(topology: Topology, server: &str, duration_s: Option<f64>) -> Result<(), String> {
    let processes: u32 = topology.services.iter().map(|s| s.replicas).sum();
    if processes > MAX_PROCESSES {
        return Err(format!(
            "'{}' has {processes} instances; the demo runs one process each, at most \
             {MAX_PROCESSES}: lower some replicas",
            topology.name
        ));
    }
    let endpoint = format!("{}/v1/traces", server.trim_end_matches('/'));
    let (ports, held) = free_ports(&topology)?;
    let api = ProxyApi::new(server)?;
    // The instances' ports stay held while the proxies take free ports of their own, so no
    // proxy lands on an instance's port (the instance would then fail to listen, and its
    // callers reach whatever that proxy forwards to).
    let proxies = register_proxies(&api, &topology, &ports)?;
    drop(held);
    let plan = Plan {
        endpoint: endpoint.clone(),
        topology,
        ports,
        proxies,
    };
    let plan_path = plan_path_for(std::process::id());
    std::fs::write(
        &plan_path,
        serde_json::to_vec(&plan).expect("plans serialise"),
    )
    .map_err(|err| format!("cannot write {}: {err}", plan_path.display()))?;
    let result = run_plan(&plan, &plan_path, duration_s);
    let _ = std::fs::remove_file(&plan_path);
    api.delete(plan.proxies.keys().cloned());
    result
}

fn run_plan(plan: &Plan, plan_path: &Path, duration_s: Option<f64>) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|err| format!("cannot find this program: {err}"))?;
    let mut processes = Vec::new();
    println!(
        "blastradius demo: '{}' as real processes, spans to {}",
        plan.topology.name, plan.endpoint
    );
    for service in &plan.topology.services {
        for (i, port) in plan.ports[&service.name].iter().enumerate() {
            let label = format!("{}#{}", service.name, i + 1);
            let spawned = Command::new(&exe)
                .arg("demo-instance")
                .arg("--plan")
                .arg(plan_path)
                .arg("--instance")
                .arg(&label)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn();
            match spawned {
                Ok(child) => {
                    println!(
                        "  {label:<24} pid {:<8} http://127.0.0.1:{port}",
                        child.id()
                    );
                    processes.push(Process { label, child });
                }
                Err(err) => {
                    stop(&mut processes);
                    return Err(format!("cannot start {label}: {err}"));
                }
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|err| err.to_string())?;
    let started = runtime
        .block_on(wait_until_listening(plan))
        .and_then(|()| all_running(&mut processes));
    if let Err(err) = started {
        drop(runtime);
        stop(&mut processes);
        return Err(err);
    }
    let outcome = runtime.block_on(async {
        let load = Load::default();
        let entries: Vec<&Service> = plan
            .topology
            .services
            .iter()
            .filter(|s| s.is_entry())
            .collect();
        println!(
            "  {} fault proxies registered with the server (one per instance, one per link)",
            plan.proxies.len()
        );
        for entry in &entries {
            println!(
                "  load: {:.1} requests/s to {}",
                entry.ingress_rps, entry.name
            );
        }
        println!("Ctrl-C stops every process.");
        let generators: Vec<_> = entries
            .iter()
            .map(|entry| {
                tokio::spawn(generate(
                    entry.ingress_rps,
                    plan.instance_proxies(&entry.name),
                    load.clone(),
                ))
            })
            .collect();
        let started = Instant::now();
        stopped(duration_s).await;
        for generator in generators {
            generator.abort();
        }
        Ok::<_, String>((load, started.elapsed()))
    });
    drop(runtime);
    stop(&mut processes);
    let (load, elapsed) = outcome?;
    let sent = load.sent.load(Ordering::Relaxed);
    let ok = load.ok.load(Ordering::Relaxed);
    println!(
        "stopped after {:.0} s: {sent} requests sent, {ok} answered 2xx ({:.1}%); every process stopped",
        elapsed.as_secs_f64(),
        if sent > 0 {
            ok as f64 * 100.0 / sent as f64
        } else {
            100.0
        }
    );
    Ok(())
}

/// Picks a free loopback port for every instance (all held at once, so none repeats), and
/// the listeners holding them.
type Held = Vec<TcpListener>;

fn free_ports(topology: &Topology) -> Result<(BTreeMap<String, Vec<u16>>, Held), String> {
    let mut held = Vec::new();
    let mut ports = BTreeMap::new();
    for service in &topology.services {
        let mut list = Vec::new();
        for _ in 0..service.replicas {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .map_err(|err| format!("cannot find a free port: {err}"))?;
            list.push(listener.local_addr().map_err(|err| err.to_string())?.port());
            held.push(listener);
        }
        ports.insert(service.name.clone(), list);
    }
    Ok((ports, held))
}

/// Waits (10 s at most) until every instance accepts connections.
async fn wait_until_listening(plan: &Plan) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    for (service, ports) in &plan.ports {
        for (i, port) in ports.iter().enumerate() {
            while tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, *port))
                .await
                .is_err()
            {
                if Instant::now() > deadline {
                    return Err(format!(
                        "{service}#{} did not start listening on port {port}",
                        i + 1
                    ));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Ok(())
}

/// Fails naming the first process that has already exited (one that could not listen on
/// its port, say: something else answering there would look like it).
fn all_running(processes: &mut [Process]) -> Result<(), String> {
    for process in processes.iter_mut() {
        if let Ok(Some(status)) = process.child.try_wait() {
            return Err(format!("{} exited as it started ({status})", process.label));
        }
    }
    Ok(())
}

/// Completes on Ctrl-C, SIGTERM, or after `duration_s`.
async fn stopped(duration_s: Option<f64>) {
    let duration = async {
        match duration_s {
            Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
            None => std::future::pending().await,
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = duration => {}
    }
}

/// Stops every process: closes its standard input (it flushes its spans and exits), waits
/// up to 3 s, then kills what is left; each by its own id.
fn stop(processes: &mut Vec<Process>) {
    for process in processes.iter_mut() {
        drop(process.child.stdin.take());
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    for process in processes.iter_mut() {
        loop {
            match process.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    tracing::warn!(instance = %process.label, "did not stop in time: killed");
                    let _ = process.child.kill();
                    let _ = process.child.wait();
                    break;
                }
            }
        }
    }
    processes.clear();
}

/// What the load generator sent and got back.
#[derive(Clone, Default)]
struct Load {
    sent: Arc<AtomicU64>,
    ok: Arc<AtomicU64>,
}

/// Poisson arrivals at `rps`, spread over the entry's instances (their proxies) in turn.
async fn generate(rps: f64, targets: Vec<SocketAddr>, load: Load) {
    if targets.is_empty() {
        return;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a plain HTTP client builds");
    let mut rng = Pcg64Mcg::seed_from_u64(u64::from(std::process::id()) ^ rps.to_bits());
    let mut next = tokio::time::Instant::now();
    for n in 0usize.. {
        let gap: f64 = rng.sample::<f64, _>(Exp1) / rps;
        next += Duration::from_secs_f64(gap);
        tokio::time::sleep_until(next).await;
        let url = format!("http://{}/", targets[n % targets.len()]);
        let client = client.clone();
        let load = load.clone();
        load.sent.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            if let Ok(response) = client.get(url).send().await
                && response.status().is_success()
            {
                load.ok.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// One instance's process: serves `label` (`SERVICE#N`) of the plan until its standard
/// input closes.
pub fn run_instance(plan_path: &Path, label: &str) -> Result<(), String> {
    let text = std::fs::read(plan_path)
        .map_err(|err| format!("cannot read the plan {}: {err}", plan_path.display()))?;
    let plan: Plan = serde_json::from_slice(&text).map_err(|err| format!("bad plan: {err}"))?;
    let (name, number) = label
        .rsplit_once('#')
        .and_then(|(name, n)| Some((name, n.parse::<usize>().ok()?)))
        .ok_or_else(|| format!("'{label}' is not SERVICE#N"))?;
    let service = plan
        .topology
        .service(name)
        .ok_or_else(|| format!("the plan has no service '{name}'"))?
        .clone();
    let port = *plan
        .ports
        .get(name)
        .and_then(|ports| ports.get(number.wrapping_sub(1)))
        .ok_or_else(|| format!("the plan has no instance {label}"))?;
    let provider = crate::telemetry::tracer_provider(&plan.endpoint, name, label, EXPORT_EVERY)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|err| err.to_string())?;
    let calls = plan
        .topology
        .dependencies
        .iter()
        .filter(|d| d.from == name)
        .map(|d| Call {
            targets: plan.targets(d),
            dependency: d.clone(),
            cursor: AtomicUsize::new(number),
        })
        .collect();
    let instance = Arc::new(Instance {
        slots: tokio::sync::Semaphore::new(service.concurrency as usize),
        waiting: AtomicUsize::new(0),
        rng: Mutex::new(Pcg64Mcg::seed_from_u64(u64::from(std::process::id()))),
        tracer: provider.tracer("blastradius-demo"),
        client: reqwest::Client::new(),
        service,
        calls,
    });
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|err| format!("{label} cannot listen on port {port}: {err}"))?;
        let router = Router::new().fallback(handle).with_state(instance);
        crate::run(listener, router, parent_gone())
            .await
            .map_err(|err| err.to_string())
    });
    drop(runtime);
    // Flush what is left before going.
    let _ = provider.shutdown();
    served
}

/// Completes when the parent closes our standard input (or dies).
async fn parent_gone() {
    let (sender, receiver) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut sink = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
        let _ = sender.send(());
    });
    let _ = receiver.await;
}

/// One dependency as its caller makes it.
struct Call {
    dependency: Dependency,
    targets: Vec<SocketAddr>,
    /// Round robin over the targets.
    cursor: AtomicUsize,
}

/// What one instance's handler shares.
struct Instance {
    service: Service,
    calls: Vec<Call>,
    slots: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    rng: Mutex<Pcg64Mcg>,
    tracer: SdkTracer,
    client: reqwest::Client,
}

struct HeaderReader<'a>(&'a HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderWriter<'a>(&'a mut reqwest::header::HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(key.as_bytes()),
            reqwest::header::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// Serves one request: a SERVER span around a slot, the work, and the calls.
async fn handle(State(instance): State<Arc<Instance>>, headers: HeaderMap) -> StatusCode {
    let parent = TraceContextPropagator::new().extract(&HeaderReader(&headers));
    let span = instance
        .tracer
        .span_builder(format!("GET /{}", instance.service.name))
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new("http.request.method", "GET")])
        .start_with_context(&instance.tracer, &parent);
    let cx = parent.with_span(span);
    let (status, why) = instance.serve(&cx).await;
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    if let Some(why) = why {
        span.set_status(Status::error(why));
    }
    span.end();
    status
}

impl Instance {
    async fn serve(&self, cx: &Context) -> (StatusCode, Option<String>) {
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.service.queue_limit as usize {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return (StatusCode::SERVICE_UNAVAILABLE, Some("queue full".into()));
        }
        let slot = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        let Ok(_slot) = slot else {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("shutting down".into()),
            );
        };
        let (work, fails, counts) = {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            let work = work_time(&self.service, &mut rng);
            let fails = rng.random::<f64>() < self.service.error_rate;
            // `calls` 2.5: two calls, and a third in half of the requests.
            let counts: Vec<u32> = self
                .calls
                .iter()
                .map(|c| {
                    let whole = c.dependency.calls.floor();
                    whole as u32 + u32::from(rng.random::<f64>() < c.dependency.calls - whole)
                })
                .collect();
            (work, fails, counts)
        };
        tokio::time::sleep(work).await;
        if fails {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("its own error".into()),
            );
        }
        let attempts = self
            .calls
            .iter()
            .zip(&counts)
            .flat_map(|(call, &n)| (0..n).map(move |_| call))
            .map(|call| async move { (call.dependency.required, self.call(call, cx).await) });
        let outcomes = futures_util::future::join_all(attempts).await;
        match outcomes.iter().find(|(required, ok)| *required && !*ok) {
            Some(_) => (
                StatusCode::BAD_GATEWAY,
                Some("a required call failed".into()),
            ),
            None => (StatusCode::OK, None),
        }
    }

    /// One dependency call with its retries; true if it finally succeeded.
    async fn call(&self, call: &Call, cx: &Context) -> bool {
        let dependency = &call.dependency;
        if call.targets.is_empty() {
            return false;
        }
        for attempt in 0..=dependency.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_secs_f64(dependency.retry_backoff_ms / 1e3))
                    .await;
            }
            let target =
                call.targets[call.cursor.fetch_add(1, Ordering::Relaxed) % call.targets.len()];
            let span = self
                .tracer
                .span_builder(format!("GET {}", dependency.to))
                .with_kind(SpanKind::Client)
                .with_attributes([
                    KeyValue::new("peer.service", dependency.to.clone()),
                    KeyValue::new("server.address", target.ip().to_string()),
                    KeyValue::new("server.port", i64::from(target.port())),
                    KeyValue::new("http.request.resend_count", i64::from(attempt)),
                ])
                .start_with_context(&self.tracer, cx);
            let call_cx = cx.with_span(span);
            let mut headers = reqwest::header::HeaderMap::new();
            TraceContextPropagator::new().inject_context(&call_cx, &mut HeaderWriter(&mut headers));
            let timeout = Duration::from_secs_f64(dependency.timeout_ms / 1e3);
            let latency = Duration::from_secs_f64(dependency.latency_ms / 1e3);
            let outcome = tokio::time::timeout(timeout, async {
                // The link's round trip, as the simulator adds it.
                tokio::time::sleep(latency).await;
                self.client
                    .get(format!("http://{target}/"))
                    .headers(headers)
                    .send()
                    .await
            })
            .await;
            let span = call_cx.span();
            let ok = match outcome {
                Ok(Ok(response)) => {
                    let status = response.status();
                    span.set_attribute(KeyValue::new(
                        "http.response.status_code",
                        i64::from(status.as_u16()),
                    ));
                    if !status.is_success() {
                        span.set_status(Status::error(format!("HTTP {status}")));
                    }
                    status.is_success()
                }
                Ok(Err(err)) => {
                    span.set_status(Status::error(format!("{err}")));
                    false
                }
                Err(_) => {
                    span.set_status(Status::error("timed out"));
                    false
                }
            };
            span.end();
            if ok {
                return true;
            }
        }
        false
    }
}

/// A draw of `service`'s work time, as the simulator draws it.
fn work_time(service: &Service, rng: &mut Pcg64Mcg) -> Duration {
    let seconds = service
        .service_time_dist
        .sample(service.service_time_ms / 1e3, rng);
    Duration::from_secs_f64(seconds.clamp(0.0, 3600.0))
}

/// Where the demo run by process `pid` keeps its plan while it runs.
fn plan_path_for(pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("blastradius-demo-{pid}.json"))
}
