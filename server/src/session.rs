//! The live session every viewer shares: one engine advanced in real time × speed on its own
//! thread, so HTTP handlers never wait on the simulation, and a tick published to all
//! viewers at [`TICK_HZ`]. Each tick is serialised once; viewers read the latest through a
//! `watch` channel, so a slow one skips ticks instead of holding anyone up.
//!
//! Controls (pause, speed, step, reset, routing mode, a new topology) take the lock for as
//! long as the change takes and show in the next tick; a new topology bumps the topology
//! version, which tells every stream to send a fresh snapshot.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use simulator::analysis::{self, Analysis};
use simulator::engine::{Engine, FaultId};
use simulator::fault::{Fault, FaultError};
use simulator::layout;
use simulator::measure::{Rolling, Window};
use simulator::queue::secs;
use simulator::topology::{RoutingMode, Topology};
use simulator::wire::{FaultRecord, Snapshot, Tick};
use tokio::sync::watch;

/// Ticks per real second.
pub const TICK_HZ: u32 = 10;

/// Slowest and fastest simulated seconds per real second.
pub const SPEED_RANGE: (f64, f64) = (0.1, 100.0);

/// Longest single step while paused, in simulated seconds.
pub const MAX_STEP_S: f64 = 3600.0;

/// Most real time one tick simulates, however long it was since the last one.
const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// Simulated time the live figures cover (a rolling window).
const FIGURES_SPAN_S: f64 = 1.0;

/// A tick ready to send: its sequence number (the SSE `id`), the topology version it
/// belongs to, and its JSON.
#[derive(Debug)]
pub struct TickMessage {
    pub seq: u64,
    pub topology_version: u64,
    pub json: String,
}

/// The session's controls, as `GET`/`PUT /api/session` show them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// Simulated seconds since the run started.
    pub t: f64,
    pub paused: bool,
    /// Simulated seconds per real second while running.
    pub speed: f64,
    pub routing_mode: RoutingMode,
    pub seed: u64,
    /// Bumped by every new topology, routing mode and reset.
    pub topology_version: u64,
}

/// A change to the controls: every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionChange {
    pub paused: Option<bool>,
    pub speed: Option<f64>,
    pub routing_mode: Option<RoutingMode>,
}

/// A control request that cannot be carried out, with the field at fault.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ControlError {
    pub path: String,
    pub message: String,
}

/// The engine and what the live view keeps beside it.
struct Live {
    engine: Engine,
    rolling: Rolling,
    speed: f64,
    paused: bool,
    seed: u64,
    topology_version: u64,
    /// The analysis of the topology at `.0`'s version, computed once per version.
    analysis: Option<(u64, Analysis)>,
}

impl Live {
    fn new(topology: Topology, seed: u64) -> Live {
        Live {
            engine: Engine::new(topology, seed),
            rolling: Rolling::new(secs(FIGURES_SPAN_S)),
            speed: 1.0,
            paused: false,
            seed,
            topology_version: 1,
            analysis: None,
        }
    }

    /// The analysis of the current topology and routing mode (cached per version).
    fn analysis(&mut self) -> Analysis {
        match &self.analysis {
            Some((version, analysis)) if *version == self.topology_version => analysis.clone(),
            _ => {
                let analysis = analysis::analyze(self.engine.topology());
                self.analysis = Some((self.topology_version, analysis.clone()));
                analysis
            }
        }
    }

    fn figures(&self) -> Window {
        self.rolling.merged().unwrap_or_else(|| {
            let topology = self.engine.topology();
            Window::new(
                self.engine.now(),
                topology.services.len(),
                self.engine.entries().len(),
                topology.dependencies.len(),
            )
        })
    }

    fn tick(&self) -> Tick {
        let speed = if self.paused { 0.0 } else { self.speed };
        Tick::from_window(&self.engine, &self.figures(), speed)
    }

    /// Simulates `seconds` more and cuts a window for the live figures.
    fn advance(&mut self, seconds: f64) {
        let until = self.engine.now() + secs(seconds);
        self.engine.run_until(until);
        let window = self.engine.take_window();
        self.rolling.push(window);
    }

    fn state(&self) -> SessionState {
        SessionState {
            t: self.engine.now() as f64 / 1e9,
            paused: self.paused,
            speed: self.speed,
            routing_mode: self.engine.routing_mode(),
            seed: self.seed,
            topology_version: self.topology_version,
        }
    }
}

/// The server's own figures, for `/metrics`.
#[derive(Default)]
pub struct ServerStats {
    /// Event streams open now.
    pub clients: AtomicUsize,
    /// Wall time the last tick took to simulate, measure and serialise, in nanoseconds.
    pub last_tick_ns: AtomicU64,
    pub ticks: AtomicU64,
}

/// Counts an open event stream while it lives.
pub struct ClientGuard(Arc<ServerStats>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A cheap, clonable handle on the live session.
#[derive(Clone)]
pub struct Session {
    live: Arc<Mutex<Live>>,
    ticks: watch::Receiver<Arc<TickMessage>>,
    sender: Arc<watch::Sender<Arc<TickMessage>>>,
    pub stats: Arc<ServerStats>,
}

impl Session {
    /// Starts simulating `topology` from `seed` and publishing ticks from a thread of its own.
    pub fn start(topology: Topology, seed: u64) -> Session {
        let live = Live::new(topology, seed);
        let first = Arc::new(TickMessage {
            seq: 0,
            topology_version: live.topology_version,
            json: serde_json::to_string(&live.tick()).expect("ticks serialise"),
        });
        let (sender, ticks) = watch::channel(first);
        let session = Session {
            live: Arc::new(Mutex::new(live)),
            ticks,
            sender: Arc::new(sender),
            stats: Arc::default(),
        };
        let ticker = session.clone();
        std::thread::Builder::new()
            .name("simulation".into())
            .spawn(move || ticker.run_ticks())
            .expect("spawning the simulation thread");
        session
    }

    fn lock(&self) -> MutexGuard<'_, Live> {
        // A panic in the simulation thread would poison the lock; the state is still the
        // last consistent one, so keep serving it rather than failing every request.
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Advances the simulation every 1/TICK_HZ s, for as long as the process runs.
    fn run_ticks(self) {
        let period = Duration::from_secs(1) / TICK_HZ;
        let mut next = Instant::now() + period;
        let mut last = Instant::now();
        loop {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next += period;
            let now = Instant::now();
            // After a stall (a suspended laptop, a debugger), skip the lost time rather than
            // hold the lock for as long as simulating all of it would take.
            let elapsed = (now - last).min(MAX_CATCH_UP);
            last = now;
            let mut live = self.lock();
            if !live.paused {
                let seconds = elapsed.as_secs_f64() * live.speed;
                live.advance(seconds);
            }
            self.publish(live);
            let took = now.elapsed().as_nanos() as u64;
            self.stats.last_tick_ns.store(took, Ordering::Relaxed);
            self.stats.ticks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Serialises the current tick and hands it to every stream. Takes the lock's guard so
    /// the tick is built under it and sent after it is released.
    fn publish(&self, live: MutexGuard<'_, Live>) {
        let mut tick = live.tick();
        let topology_version = live.topology_version;
        drop(live);
        tick.published_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_millis() as u64);
        let json = serde_json::to_string(&tick).expect("ticks serialise");
        self.sender.send_modify(|latest| {
            *latest = Arc::new(TickMessage {
                seq: latest.seq + 1,
                topology_version,
                json,
            });
        });
    }

    /// The latest tick, to follow, and a guard that counts the follower until dropped.
    pub fn subscribe(&self) -> (watch::Receiver<Arc<TickMessage>>, ClientGuard) {
        self.stats.clients.fetch_add(1, Ordering::Relaxed);
        (self.ticks.clone(), ClientGuard(self.stats.clone()))
    }

    /// The current figures, for `/metrics`.
    pub fn tick(&self) -> Tick {
        self.lock().tick()
    }

    /// Everything a new viewer needs: topology, positions and the current figures.
    pub fn snapshot(&self) -> (Snapshot, u64) {
        let mut live = self.lock();
        let topology = live.engine.topology().clone();
        let snapshot = Snapshot {
            positions: layout::layered(&topology),
            analysis: live.analysis(),
            topology,
            state: live.tick(),
        };
        (snapshot, live.topology_version)
    }

    pub fn topology(&self) -> Topology {
        self.lock().engine.topology().clone()
    }

    /// Runs the new (validated) topology from now on; returns the faults that no longer fit
    /// and were dropped.
    pub fn replace_topology(&self, topology: Topology) -> Vec<FaultId> {
        let mut live = self.lock();
        let dropped = live.engine.replace_topology(topology);
        live.rolling.clear();
        live.topology_version += 1;
        self.publish(live);
        dropped
    }

    pub fn state(&self) -> SessionState {
        self.lock().state()
    }

    /// Applies a change of controls, all or nothing.
    pub fn change(&self, change: SessionChange) -> Result<SessionState, ControlError> {
        if let Some(speed) = change.speed
            && !(speed.is_finite() && (SPEED_RANGE.0..=SPEED_RANGE.1).contains(&speed))
        {
            return Err(ControlError {
                path: "speed".into(),
                message: format!(
                    "must be between {} and {} simulated seconds per second, not {speed}",
                    SPEED_RANGE.0, SPEED_RANGE.1
                ),
            });
        }
        let mut live = self.lock();
        if let Some(speed) = change.speed {
            live.speed = speed;
        }
        if let Some(paused) = change.paused {
            live.paused = paused;
        }
        if let Some(mode) = change.routing_mode
            && mode != live.engine.routing_mode()
        {
            live.engine.set_routing_mode(mode);
            // The topology file now says another mode, and the analysis changes with it:
            // every stream gets a fresh snapshot.
            live.topology_version += 1;
        }
        let state = live.state();
        self.publish(live);
        Ok(state)
    }

    /// Simulates `seconds` at once while paused (to inspect a run frame by frame).
    pub fn step(&self, seconds: f64) -> Result<SessionState, ControlError> {
        if !(seconds.is_finite() && seconds > 0.0 && seconds <= MAX_STEP_S) {
            return Err(ControlError {
                path: "seconds".into(),
                message: format!("must be above 0 and at most {MAX_STEP_S}, not {seconds}"),
            });
        }
        let mut live = self.lock();
        if !live.paused {
            return Err(ControlError {
                path: "paused".into(),
                message: "pause the session before stepping it".into(),
            });
        }
        live.advance(seconds);
        let state = live.state();
        self.publish(live);
        Ok(state)
    }

    /// Starts the run again from time zero with the same topology (and routing mode in
    /// force) and seed, without faults.
    pub fn reset(&self) -> SessionState {
        let mut live = self.lock();
        let topology = live.engine.topology().clone();
        let (speed, paused, version) = (live.speed, live.paused, live.topology_version);
        *live = Live::new(topology, live.seed);
        (live.speed, live.paused, live.topology_version) = (speed, paused, version + 1);
        let state = live.state();
        self.publish(live);
        state
    }

    pub fn inject(&self, fault: Fault) -> Result<FaultId, FaultError> {
        self.lock().engine.inject(fault)
    }

    pub fn revert(&self, id: FaultId) -> bool {
        self.lock().engine.revert(id)
    }

    pub fn faults(&self) -> Vec<FaultRecord> {
        self.lock()
            .engine
            .faults()
            .map(FaultRecord::from_active)
            .collect()
    }
}
