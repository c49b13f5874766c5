//! Fault proxies (SPEC "Faults on a real system"): TCP proxies the server runs, each on a
//! listen address forwarding to an upstream, with Toxiproxy's toxics. The registry here is
//! what the Toxiproxy API ([`crate::toxiproxy`]) and the graph's faults both act on: a
//! proxy named `SERVICE`, `SERVICE#N` or `FROM->TO` stands for that part of the graph, so
//! a toxic or a disabled proxy there is a fault in the graph, and a fault from the graph
//! is carried out as toxics and disabled proxies (see [`faults`]).
//!
//! Safety: proxies listen on loopback unless the server runs with a token; upstreams must
//! resolve to loopback unless `--proxy-allow` names their network (checked when a proxy is
//! made and at every connection, as a name may resolve elsewhere later); the number of
//! proxies and of open connections is capped. Proxies and their toxics are saved in the
//! database and come back when the server restarts.

pub mod faults;
pub mod link;
pub mod toxic;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use self::faults::GraphFault;
use self::link::Shared;
use self::toxic::{ApiError, Toxic, check_name};

/// Most proxies one server runs.
pub const MAX_PROXIES: usize = 5_000;

/// Most toxics on one proxy (a graph fault adds one or two).
pub const MAX_TOXICS: usize = 64;

/// Most connections open through all proxies at once (each holds two sockets and up to
/// ~64 KiB of buffers).
pub const MAX_CONNECTIONS: usize = 20_000;

/// Where proxies may listen and forward to.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Networks beyond loopback that upstreams may be in (`--proxy-allow`).
    pub allow: Vec<Cidr>,
    /// Whether proxies may listen off loopback: only when the server requires a token.
    pub open_listen: bool,
    pub max_connections: usize,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            allow: Vec::new(),
            open_listen: false,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

impl Policy {
    pub fn upstream_allowed(&self, ip: IpAddr) -> bool {
        ip.is_loopback() || self.allow.iter().any(|cidr| cidr.contains(ip))
    }
}

/// A network: `10.0.0.0/8`, `fd00::/8`, or one address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a network such as 10.0.0.0/8"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => bits,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("'{text}': the prefix must be 0 to {bits}"))?,
        };
        Ok(Cidr { network, prefix })
    }
}

/// A proxy as the API shows it (Toxiproxy's fields, then its toxics).
#[derive(Clone, Debug, Serialize)]
pub struct ProxyView {
    pub name: String,
    pub listen: String,
    pub upstream: String,
    pub enabled: bool,
    pub toxics: Vec<Value>,
}

/// A proxy to make or change, as `POST /proxies`, `/populate` and `POST /proxies/{name}`
/// take it; absent fields keep their value (or default).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProxyInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub upstream: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Addresses checked and resolved before the registry is locked.
#[derive(Clone, Debug)]
pub struct Checked {
    listen: SocketAddr,
    upstream: String,
}

/// One proxy.
struct Proxy {
    name: String,
    /// As bound (the port a `:0` got), or as given while disabled.
    listen: String,
    upstream: String,
    enabled: bool,
    toxics: Vec<Toxic>,
    /// The graph fault that disabled it, if one did (or its disabling was read as one).
    disabled_by: Option<u64>,
    /// When it was disabled, on the observed clock.
    disabled_s: f64,
    toxics_now: watch::Sender<Arc<[Toxic]>>,
    kill: watch::Sender<u64>,
    running: Option<Running>,
}

struct Running {
    listener: Arc<tokio::net::TcpListener>,
    accept: tokio::task::AbortHandle,
    shared: Arc<Shared>,
}

impl Proxy {
    fn view(&self) -> ProxyView {
        ProxyView {
            name: self.name.clone(),
            listen: self.listen.clone(),
            upstream: self.upstream.clone(),
            enabled: self.enabled,
            toxics: self.toxics.iter().map(Toxic::to_json).collect(),
        }
    }

    fn publish_toxics(&self) {
        self.toxics_now.send_replace(self.toxics.clone().into());
    }
}

/// The registry: every proxy, and the graph faults carried out through them.
#[derive(Default)]
struct Registry {
    proxies: BTreeMap<String, Proxy>,
    graph: BTreeMap<u64, GraphFault>,
    next_fault: u64,
    next_uid: u64,
}

/// A cheap, clonable handle on the server's fault proxies.
#[derive(Clone)]
pub struct Proxies {
    registry: Arc<Mutex<Registry>>,
    policy: Arc<RwLock<Arc<Policy>>>,
    open: Arc<AtomicUsize>,
    /// Unix nanoseconds the observed session's clock counts from (faults' `at_s`).
    epoch_ns: u64,
    saver: Arc<Mutex<Option<std::sync::mpsc::Sender<String>>>>,
    changes: Arc<AtomicU64>,
    /// The runtime proxies run on: the one they were made in, so that threads outside it
    /// (the session's, ending an experiment) can start them too.
    runtime: Option<tokio::runtime::Handle>,
    /// Whether the task that starts and ends timed faults runs.
    clock: Arc<std::sync::atomic::AtomicBool>,
}

impl Proxies {
    pub fn new(epoch_ns: u64) -> Proxies {
        Proxies {
            registry: Arc::default(),
            policy: Arc::new(RwLock::new(Arc::new(Policy::default()))),
            open: Arc::default(),
            epoch_ns,
            saver: Arc::default(),
            changes: Arc::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            clock: Arc::default(),
        }
    }

    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(policy);
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open through every proxy now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Bumped by every change (for whoever saves or announces them).
    pub fn version(&self) -> u64 {
        self.changes.load(Ordering::Relaxed)
    }

    /// Seconds on the observed session's clock now.
    pub fn now_s(&self) -> f64 {
        crate::observed::unix_now_ns().saturating_sub(self.epoch_ns) as f64 / 1e9
    }

    /// Checks and resolves `listen` and `upstream` against the policy (the only part that
    /// may wait, on name resolution).
    pub async fn check(&self, listen: &str, upstream: &str) -> Result<Checked, ApiError> {
        let policy = self.policy();
        let listen = if listen.trim().is_empty() {
            "127.0.0.1:0"
        } else {
            listen.trim()
        };
        let listen_at = resolve_one(listen, "listen").await?;
        if !listen_at.ip().is_loopback() && !policy.open_listen {
            return Err(ApiError::new(
                format!(
                    "listen: {listen} is not a loopback address; proxies listen on loopback \
                     unless the server runs with a token (--token), so no one else can use \
                     them"
                ),
                403,
            ));
        }
        let mut upstreams = Vec::new();
        for target in upstream.split(',').map(str::trim) {
            if target.is_empty() {
                return Err(ApiError::missing("upstream"));
            }
            let resolved = tokio::net::lookup_host(target).await.map_err(|err| {
                ApiError::bad_body(format!(
                    "upstream: cannot resolve '{target}' (host:port): {err}"
                ))
            })?;
            for address in resolved {
                if !policy.upstream_allowed(address.ip()) {
                    return Err(ApiError::new(
                        format!(
                            "upstream: {target} ({}) is not on loopback; a proxy may only \
                             forward to loopback unless the server runs with \
                             --proxy-allow naming its network",
                            address.ip()
                        ),
                        403,
                    ));
                }
            }
            upstreams.push(target.to_string());
        }
        Ok(Checked {
            listen: listen_at,
            upstream: upstreams.join(","),
        })
    }

    /// `POST /proxies`: a new proxy (started unless `enabled` is false).
    pub fn create(
        &self,
        name: &str,
        checked: Checked,
        enabled: bool,
    ) -> Result<ProxyView, ApiError> {
        check_name(name, "name")?;
        let mut registry = self.lock();
        if registry.proxies.contains_key(name) {
            return Err(ApiError::new("proxy already exists", 409));
        }
        if registry.proxies.len() >= MAX_PROXIES {
            return Err(ApiError::new(
                format!("this server runs {MAX_PROXIES} proxies already: delete some first"),
                409,
            ));
        }
        let mut proxy = self.new_proxy(name, &checked);
        if enabled {
            self.start(&mut proxy, checked.listen)?;
        }
        let view = proxy.view();
        registry.proxies.insert(name.to_string(), proxy);
        self.changed(&mut registry);
        Ok(view)
    }

    fn new_proxy(&self, name: &str, checked: &Checked) -> Proxy {
        Proxy {
            name: name.to_string(),
            listen: checked.listen.to_string(),
            upstream: checked.upstream.clone(),
            enabled: false,
            toxics: Vec::new(),
            disabled_by: None,
            disabled_s: 0.0,
            toxics_now: watch::channel(Arc::from(Vec::new())).0,
            kill: watch::channel(0).0,
            running: None,
        }
    }

    /// `POST /populate`: makes each proxy, or replaces one whose addresses differ (one
    /// that matches is kept as it is, toxics and all). Stops at the first error, with what
    /// it made so far.
    pub fn populate(
        &self,
        list: Vec<(String, Checked, bool)>,
    ) -> (Vec<ProxyView>, Option<ApiError>) {
        let mut views = Vec::new();
        for (name, checked, enabled) in list {
            let same = {
                let registry = self.lock();
                registry.proxies.get(&name).map(|p| {
                    (p.listen == checked.listen.to_string() || checked.listen.port() == 0)
                        && p.upstream == checked.upstream
                })
            };
            let outcome = match same {
                Some(true) => self.get(&name),
                Some(false) => {
                    let _ = self.delete(&name);
                    self.create(&name, checked, enabled)
                }
                None => self.create(&name, checked, enabled),
            };
            match outcome {
                Ok(view) => views.push(view),
                Err(err) => return (views, Some(err)),
            }
        }
        (views, None)
    }

    /// Binds and starts `proxy` on `at`.
    fn start(&self, proxy: &mut Proxy, at: SocketAddr) -> Result<(), ApiError> {
        let runtime = match (&self.runtime, tokio::runtime::Handle::try_current()) {
            (Some(runtime), _) => runtime.clone(),
            (None, Ok(current)) => current,
            (None, Err(_)) => {
                return Err(ApiError::new(
                    "proxies run on the server's runtime, and none is running",
                    500,
                ));
            }
        };
        let _entered = runtime.enter();
        let listener = std::net::TcpListener::bind(at)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
            .map_err(|err| ApiError::new(format!("listen: cannot listen on {at}: {err}"), 409))?;
        let bound = listener
            .local_addr()
            .map_err(|err| ApiError::new(err.to_string(), 500))?;
        let listener = Arc::new(listener);
        let shared = Arc::new(Shared {
            name: proxy.name.clone(),
            upstreams: proxy.upstream.split(',').map(str::to_string).collect(),
            cursor: AtomicUsize::new(0),
            toxics: proxy.toxics_now.subscribe(),
            kill: proxy.kill.subscribe(),
            policy: self.policy(),
            open: self.open.clone(),
            accepted: AtomicU64::new(0),
        });
        let accept = runtime.spawn(link::accept_loop_shared(listener.clone(), shared.clone()));
        proxy.listen = bound.to_string();
        proxy.enabled = true;
        proxy.disabled_by = None;
        proxy.running = Some(Running {
            listener,
            accept: accept.abort_handle(),
            shared,
        });
        Ok(())
    }

    /// Stops `proxy`: new connections are refused at once, open ones reset.
    fn stop(proxy: &mut Proxy) {
        if let Some(running) = proxy.running.take() {
            // Shutting a listening socket down makes Linux refuse new connections now,
            // rather than when the aborted task is dropped.
            let _ = socket2::SockRef::from(running.listener.as_ref())
                .shutdown(std::net::Shutdown::Both);
            running.accept.abort();
        }
        proxy.kill.send_modify(|n| *n += 1);
        proxy.enabled = false;
    }

    pub fn get(&self, name: &str) -> Result<ProxyView, ApiError> {
        self.lock()
            .proxies
            .get(name)
            .map(Proxy::view)
            .ok_or_else(ApiError::proxy_not_found)
    }

    pub fn list(&self) -> BTreeMap<String, ProxyView> {
        self.lock()
            .proxies
            .iter()
            .map(|(name, p)| (name.clone(), p.view()))
            .collect()
    }

    /// Connections each proxy has accepted since it last started.
    pub fn accepted(&self) -> BTreeMap<String, u64> {
        self.lock()
            .proxies
            .iter()
            .map(|(name, p)| {
                let n = p
                    .running
                    .as_ref()
                    .map_or(0, |r| r.shared.accepted.load(Ordering::Relaxed));
                (name.clone(), n)
            })
            .collect()
    }

    /// `POST /proxies/{name}`: new addresses restart it; `enabled` starts or stops it.
    pub fn update(
        &self,
        name: &str,
        checked: Option<Checked>,
        enabled: Option<bool>,
    ) -> Result<ProxyView, ApiError> {
        let mut registry = self.lock();
        let registry = &mut *registry;
        let disabling = next_fault(&mut registry.next_fault);
        let now_s = self.now_s();
        let proxy = registry
            .proxies
            .get_mut(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        if let Some(checked) = checked {
            let moved = checked.listen.to_string() != proxy.listen && checked.listen.port() != 0
                || checked.upstream != proxy.upstream;
            if moved {
                let was = proxy.enabled;
                Self::stop(proxy);
                proxy.listen = checked.listen.to_string();
                proxy.upstream = checked.upstream;
                if was {
                    self.start(proxy, checked.listen)?;
                }
            }
        }
        match enabled {
            Some(true) if !proxy.enabled => {
                let at = proxy.listen.parse().map_err(|_| {
                    ApiError::new(format!("listen: '{}' is not an address", proxy.listen), 500)
                })?;
                self.start(proxy, at)?;
            }
            Some(false) if proxy.enabled => {
                Self::stop(proxy);
                proxy.disabled_by = Some(disabling);
                proxy.disabled_s = now_s;
            }
            _ => {}
        }
        let view = proxy.view();
        self.changed(registry);
        Ok(view)
    }

    /// `DELETE /proxies/{name}`.
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        let mut registry = self.lock();
        let mut proxy = registry
            .proxies
            .remove(name)
            .ok_or_else(ApiError::proxy_not_found)?;
        Self::stop(&mut proxy);
        self.changed(&mut registry);
        Ok(())
    }

    /// `POST /reset`: every proxy enabled, every toxic gone (and so every graph fault).
    pub fn reset(&self) -> Result<(), ApiError> {
        let mut registry = self.lock();
        let mut failed = None;
        let names: Vec<String> = registry.proxies.keys().cloned().collect();
        for name in names {
            let proxy = registry.proxies.get_mut(&name).expect("listed");
            proxy.toxics.clear();
            proxy.publish_toxics();
            if !proxy.enabled {
                let at = proxy.listen.parse();
                match at {
                    Ok(at) => {
                        if let Err(err) = self.start(proxy, at) {
                            failed = Some(err);
                        }
                    }
                    Err(_) => failed = Some(ApiError::new("listen: not an address", 500)),
                }
            }
        }
        registry.graph.clear();
        self.changed(&mut registry);
        failed.map_or(Ok(()), Err)
    }

    pub fn toxics(&self, proxy: &str) -> Result<Vec<Value>, ApiError> {
        let registry = self.lock();
        let proxy = registry
            .proxies
            .get(proxy)
            .ok_or_else(ApiError::proxy_not_found)?;
        Ok(proxy.toxics.iter().map(Toxic::to_json).collect())
    }

    pub fn toxic(&self, proxy: &str, toxic: &str) -> Result<Value, ApiError> {
        let registry = self.lock();
        let proxy = registry
            .proxies
            .get(proxy)
            .ok_or_else(ApiError::proxy_not_found)?;
        proxy
            .toxics
            .iter()
            .find(|t| t.name == toxic)
            .map(Toxic::to_json)
            .ok_or_else(ApiError::toxic_not_found)
    }

    /// `POST /proxies/{name}/toxics`: the toxic acts on open connections too. On a proxy
    /// named after a part of the graph it is a fault there.
    pub fn add_toxic(&self, proxy: &str, body: &[u8]) -> Result<Value, ApiError> {
        let mut toxic = Toxic::parse(body)?;
        let mut registry = self.lock();
        let registry = &mut *registry;
        let found = registry
            .proxies
            .get_mut(proxy)
            .ok_or_else(ApiError::proxy_not_found)?;
        if found.toxics.iter().any(|t| t.name == toxic.name) {
            return Err(ApiError::new("toxic already exists", 409));
        }
        if found.toxics.len() >= MAX_TOXICS {
            return Err(ApiError::new(
                format!("this proxy has {MAX_TOXICS} toxics already: remove some first"),
                409,
            ));
        }
        registry.next_uid += 1;
        toxic.uid = registry.next_uid;
        toxic.fault = Some(next_fault(&mut registry.next_fault));
        toxic.added_s = self.now_s();
        let json = toxic.to_json();
        found.toxics.push(toxic);
        found.publish_toxics();
        self.changed(registry);
        Ok(json)
    }

    /// `POST`/`PATCH /proxies/{name}/toxics/{toxic}`.
    pub fn update_toxic(&self, proxy: &str, name: &str, body: &[u8]) -> Result<Value, ApiError> {
        let mut registry = self.lock();
        let registry = &mut *registry;
        let found = registry
            .proxies
            .get_mut(proxy)
            .ok_or_else(ApiError::proxy_not_found)?;
        let toxic = found
            .toxics
            .iter_mut()
            .find(|t| t.name == name)
            .ok_or_else(ApiError::toxic_not_found)?;
        toxic.update(body)?;
        registry.next_uid += 1;
        toxic.uid = registry.next_uid;
        let json = toxic.to_json();
        found.publish_toxics();
        self.changed(registry);
        Ok(json)
    }

    /// `DELETE /proxies/{name}/toxics/{toxic}`: what it held is let go at once.
    pub fn remove_toxic(&self, proxy: &str, name: &str) -> Result<(), ApiError> {
        let mut registry = self.lock();
        let found = registry
            .proxies
            .get_mut(proxy)
            .ok_or_else(ApiError::proxy_not_found)?;
        let before = found.toxics.len();
        found.toxics.retain(|t| t.name != name);
        if found.toxics.len() == before {
            return Err(ApiError::toxic_not_found());
        }
        found.publish_toxics();
        self.changed(&mut registry);
        Ok(())
    }

    /// After every change: graph faults left with nothing to carry them end, and the new
    /// state is saved.
    fn changed(&self, registry: &mut Registry) {
        faults::tidy(registry);
        self.changes.fetch_add(1, Ordering::Relaxed);
        if let Some(saver) = self
            .saver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let _ = saver.send(saved(registry, self.now_s()).to_string());
        }
    }

    /// Saves every change from now on to `store` (on a thread of its own, the latest state
    /// only when changes come faster than it writes).
    pub fn persist_to(&self, store: Arc<crate::store::Store>) {
        let (sender, receiver) = std::sync::mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("proxy-saver".into())
            .spawn(move || {
                while let Ok(mut latest) = receiver.recv() {
                    while let Ok(newer) = receiver.try_recv() {
                        latest = newer;
                    }
                    if let Err(err) = store.put_proxies(&latest) {
                        tracing::error!(%err, "cannot save the fault proxies");
                    }
                }
            })
            .expect("spawning the proxy saver");
        *self.saver.lock().unwrap_or_else(|p| p.into_inner()) = Some(sender);
    }

    /// Brings back proxies saved by [`Proxies::persist_to`]: each on its saved address,
    /// with its toxics; a proxy whose address is taken now comes back disabled (logged).
    pub async fn restore(&self, saved: &str) -> Result<usize, String> {
        let saved: Saved = serde_json::from_str(saved)
            .map_err(|err| format!("saved proxies unreadable: {err}"))?;
        let mut count = 0;
        for proxy in saved.proxies {
            let checked = match self.check(&proxy.listen, &proxy.upstream).await {
                Ok(checked) => checked,
                Err(err) => {
                    tracing::warn!(proxy = %proxy.name, error = %err.message, "saved proxy not restored");
                    continue;
                }
            };
            let view = self.create(&proxy.name, checked, false);
            if let Err(err) = view {
                tracing::warn!(proxy = %proxy.name, error = %err.message, "saved proxy not restored");
                continue;
            }
            count += 1;
            let mut registry = self.lock();
            let registry = &mut *registry;
            let found = registry.proxies.get_mut(&proxy.name).expect("just made");
            for toxic in &proxy.toxics {
                let body = serde_json::to_vec(toxic).expect("JSON values serialise");
                match Toxic::parse(&body) {
                    Ok(mut parsed) => {
                        registry.next_uid += 1;
                        parsed.uid = registry.next_uid;
                        parsed.fault = toxic.get("fault").and_then(Value::as_u64);
                        found.toxics.push(parsed);
                    }
                    Err(err) => {
                        tracing::warn!(proxy = %proxy.name, error = %err.message, "saved toxic not restored")
                    }
                }
            }
            found.publish_toxics();
            found.disabled_by = proxy.disabled_by;
            if proxy.enabled {
                let at = checked_listen(&found.listen);
                if let Err(err) = at.and_then(|at| self.start(found, at)) {
                    tracing::warn!(proxy = %proxy.name, error = %err.message, "saved proxy restored disabled");
                }
            }
        }
        let mut registry = self.lock();
        let top = registry
            .proxies
            .values()
            .flat_map(|p| p.toxics.iter().filter_map(|t| t.fault).chain(p.disabled_by))
            .chain(saved.faults.iter().map(|f| f.id))
            .max()
            .unwrap_or(0);
        registry.next_fault = registry.next_fault.max(top);
        let now_s = self.now_s();
        let timed = !saved.faults.is_empty();
        for fault in saved.faults {
            faults::restore(&mut registry, fault, now_s);
        }
        self.changed(&mut registry);
        drop(registry);
        if timed {
            self.run_clock();
        }
        Ok(count)
    }
}

fn checked_listen(listen: &str) -> Result<SocketAddr, ApiError> {
    listen
        .parse()
        .map_err(|_| ApiError::new(format!("listen: '{listen}' is not an address"), 500))
}

fn next_fault(counter: &mut u64) -> u64 {
    *counter += 1;
    *counter
}

/// Resolves `text` (`host:port`) to one address.
async fn resolve_one(text: &str, field: &str) -> Result<SocketAddr, ApiError> {
    tokio::net::lookup_host(text)
        .await
        .ok()
        .and_then(|mut addresses| addresses.next())
        .ok_or_else(|| {
            ApiError::bad_body(format!("{field}: '{text}' is not an address (host:port)"))
        })
}

/// What is saved: every proxy with its toxics, and the graph faults' own settings.
#[derive(Serialize, Deserialize)]
struct Saved {
    proxies: Vec<SavedProxy>,
    #[serde(default)]
    faults: Vec<faults::SavedFault>,
}

#[derive(Serialize, Deserialize)]
struct SavedProxy {
    name: String,
    listen: String,
    upstream: String,
    enabled: bool,
    #[serde(default)]
    disabled_by: Option<u64>,
    #[serde(default)]
    toxics: Vec<Value>,
}

fn saved(registry: &Registry, now_s: f64) -> Value {
    let proxies: Vec<SavedProxy> = registry
        .proxies
        .values()
        .map(|p| SavedProxy {
            name: p.name.clone(),
            listen: p.listen.clone(),
            upstream: p.upstream.clone(),
            enabled: p.enabled,
            disabled_by: p.disabled_by,
            toxics: p
                .toxics
                .iter()
                .map(|t| {
                    let mut json = t.to_json();
                    json["fault"] = json!(t.fault);
                    json
                })
                .collect(),
        })
        .collect();
    json!({ "proxies": proxies, "faults": faults::saved(registry, now_s) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses() {
        let net: Cidr = "10.1.0.0/16".parse().expect("a network");
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        let one: Cidr = "192.168.1.7".parse().expect("one address");
        assert!(one.contains("192.168.1.7".parse().unwrap()));
        assert!(!one.contains("192.168.1.8".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().expect("everything");
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Cidr = "fd00::/8".parse().expect("v6");
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nope".parse::<Cidr>().is_err());
    }
}
