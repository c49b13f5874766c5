//! The live session every viewer shares: one engine advanced in real time × speed on its own
//! thread, so HTTP handlers never wait on the simulation, and a tick published to all
//! viewers at [`TICK_HZ`]. Each tick is serialised once; viewers read the latest through a
//! `watch` channel, so a slow one skips ticks instead of holding anyone up.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use simulator::engine::{Engine, FaultId};
use simulator::fault::{Fault, FaultError};
use simulator::layout;
use simulator::measure::{Rolling, Window};
use simulator::queue::{Nanos, secs};
use simulator::topology::Topology;
use simulator::wire::{FaultRecord, Snapshot, Tick};
use tokio::sync::watch;

/// Ticks per real second.
pub const TICK_HZ: u32 = 10;

/// Most real time one tick simulates, however long it was since the last one.
const MAX_CATCH_UP: Duration = Duration::from_secs(1);

/// Simulated time the live figures cover (a rolling window).
const FIGURES_SPAN_S: f64 = 1.0;

/// A tick ready to send: its sequence number (the SSE `id`) and its JSON.
#[derive(Debug)]
pub struct TickMessage {
    pub seq: u64,
    pub json: String,
}

/// The engine and what the live view keeps beside it.
struct Live {
    engine: Engine,
    rolling: Rolling,
    speed: f64,
}

impl Live {
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
        Tick::from_window(&self.engine, &self.figures(), self.speed)
    }
}

/// A cheap, clonable handle on the live session.
#[derive(Clone)]
pub struct Session {
    live: Arc<Mutex<Live>>,
    ticks: watch::Receiver<Arc<TickMessage>>,
}

impl Session {
    /// Starts simulating `topology` from `seed` and publishing ticks from a thread of its own.
    pub fn start(topology: Topology, seed: u64) -> Session {
        let live = Live {
            engine: Engine::new(topology, seed),
            rolling: Rolling::new(secs(FIGURES_SPAN_S)),
            speed: 1.0,
        };
        let first = Arc::new(TickMessage {
            seq: 0,
            json: serde_json::to_string(&live.tick()).expect("ticks serialise"),
        });
        let (sender, ticks) = watch::channel(first);
        let live = Arc::new(Mutex::new(live));
        let session = Session { live, ticks };
        let ticker = session.clone();
        std::thread::Builder::new()
            .name("simulation".into())
            .spawn(move || ticker.run_ticks(sender))
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

    /// Advances the simulation every 1/TICK_HZ s until every receiver is gone.
    fn run_ticks(self, sender: watch::Sender<Arc<TickMessage>>) {
        let period = Duration::from_secs(1) / TICK_HZ;
        let mut next = Instant::now() + period;
        let mut last = Instant::now();
        for seq in 1.. {
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
            next += period;
            let now = Instant::now();
            // After a stall (a suspended laptop, a debugger), skip the lost time rather than
            // hold the lock for as long as simulating all of it would take.
            let elapsed = (now - last).min(MAX_CATCH_UP);
            last = now;
            let tick = {
                let mut live = self.lock();
                let advance: Nanos = (elapsed.as_secs_f64() * live.speed * 1e9) as Nanos;
                let until = live.engine.now() + advance;
                live.engine.run_until(until);
                let window = live.engine.take_window();
                live.rolling.push(window);
                live.tick()
            };
            let json = serde_json::to_string(&tick).expect("ticks serialise");
            if sender.send(Arc::new(TickMessage { seq, json })).is_err() {
                break;
            }
        }
    }

    /// The latest tick, to follow.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TickMessage>> {
        self.ticks.clone()
    }

    /// Everything a new viewer needs: topology, positions and the current figures.
    pub fn snapshot(&self) -> Snapshot {
        let live = self.lock();
        let topology = live.engine.topology().clone();
        Snapshot {
            positions: layout::layered(&topology),
            topology,
            state: live.tick(),
        }
    }

    pub fn topology(&self) -> Topology {
        self.lock().engine.topology().clone()
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
