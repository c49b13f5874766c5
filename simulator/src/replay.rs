//! Deterministic replay: a run's [`Recording`] (its seed, the topology it started from, and
//! every control applied to it with the simulated nanosecond it was applied at) and the
//! per-second [`Frames`] a viewer scrubs through.
//!
//! The engine records its own controls (see [`Engine::recording`]), so whatever drives it —
//! the live session, an experiment, a test — leaves a complete recording. Replaying feeds the
//! same controls at the same simulated times to a fresh engine with the same seed; the engine
//! is deterministic and windows merge exactly, so the frames come out byte-identical to the
//! ones the original run cut (test: `tests/replay.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::{Engine, FaultId};
use crate::fault::Fault;
use crate::measure::Window;
use crate::queue::{NANOS_PER_SEC, Nanos};
use crate::topology::{RoutingMode, Topology};
use crate::wire::Tick;

/// The version of the recording file this build writes and reads.
pub const RECORDING_FORMAT: u32 = 1;

/// The longest run a recording may cover: replaying simulates all of it again.
pub const MAX_REPLAY_S: f64 = 6.0 * 3600.0;

const SECOND: Nanos = NANOS_PER_SEC as Nanos;

/// Everything needed to run a live run again, exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// [`RECORDING_FORMAT`].
    pub format: u32,
    pub seed: u64,
    /// The topology the run started from (time zero); shared with the engine that runs it.
    pub topology: Arc<Topology>,
    /// Controls in the order they were applied.
    pub controls: Vec<Control>,
    /// The simulated nanosecond the run had reached when this was taken.
    pub end_ns: Nanos,
}

/// One control applied to a running engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Control {
    /// Simulated nanosecond it was applied at (after every event up to and including it).
    /// (Unknown fields are refused by [`Action`]: serde cannot do both with `flatten`.)
    pub at_ns: Nanos,
    #[serde(flatten)]
    pub action: Action,
}

/// What a control did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A fault was injected (and got the next fault id).
    Inject {
        fault: Box<Fault>,
    },
    /// Fault `id` was reverted.
    Revert {
        id: FaultId,
    },
    RoutingMode {
        mode: RoutingMode,
    },
    /// The topology was replaced.
    Topology {
        topology: Box<Topology>,
    },
    /// Services were pinned elsewhere (drawing only).
    Layout {
        layout: BTreeMap<String, [f64; 2]>,
    },
}

impl Recording {
    /// A run of `topology` from `seed` with nothing applied yet.
    pub fn new(topology: Arc<Topology>, seed: u64) -> Recording {
        Recording {
            format: RECORDING_FORMAT,
            seed,
            topology,
            controls: Vec::new(),
            end_ns: 0,
        }
    }

    /// Parses a recording file and checks what can be checked without running it.
    pub fn from_json(text: &str) -> Result<Recording, ReplayError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let recording: Recording = serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            ReplayError {
                path: if path == "." { String::new() } else { path },
                message: err.inner().to_string(),
            }
        })?;
        recording.check()?;
        Ok(recording)
    }

    /// Format, topologies, time order and length; faults are checked as they are replayed.
    pub fn check(&self) -> Result<(), ReplayError> {
        if self.format != RECORDING_FORMAT {
            return Err(ReplayError::at(
                "format",
                format!(
                    "this build reads recordings of format {RECORDING_FORMAT}, not {}",
                    self.format
                ),
            ));
        }
        self.topology
            .validate()
            .map_err(|err| ReplayError::at(format!("topology.{}", err.path), err.message))?;
        if self.end_ns as f64 > MAX_REPLAY_S * NANOS_PER_SEC {
            return Err(ReplayError::at(
                "end_ns",
                format!("a recording covers at most {MAX_REPLAY_S} simulated seconds"),
            ));
        }
        let mut last = 0;
        for (k, control) in self.controls.iter().enumerate() {
            if control.at_ns < last || control.at_ns > self.end_ns {
                return Err(ReplayError::at(
                    format!("controls[{k}].at_ns"),
                    format!(
                        "must not go back in time nor pass end_ns ({} after {last})",
                        control.at_ns
                    ),
                ));
            }
            last = control.at_ns;
            if let Action::Topology { topology } = &control.action {
                topology.validate().map_err(|err| {
                    ReplayError::at(format!("controls[{k}].topology.{}", err.path), err.message)
                })?;
            }
        }
        Ok(())
    }

    /// The topology as drawn from each simulated nanosecond on: `(from_ns, topology)`, the
    /// first from zero; a new one at each change of topology, routing mode or layout.
    pub fn epochs(&self) -> Vec<(Nanos, Topology)> {
        let mut epochs = vec![(0, Topology::clone(&self.topology))];
        for control in &self.controls {
            let mut topology = epochs.last().expect("starts with one").1.clone();
            match &control.action {
                Action::Inject { .. } | Action::Revert { .. } => continue,
                Action::RoutingMode { mode } => topology.routing.mode = *mode,
                Action::Topology { topology: new } => topology = (**new).clone(),
                Action::Layout { layout } => topology.layout = layout.clone(),
            }
            match epochs.last_mut() {
                Some((from, last)) if *from == control.at_ns => *last = topology,
                _ => epochs.push((control.at_ns, topology)),
            }
        }
        epochs
    }
}

/// A recording that cannot be replayed, with the field to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ReplayError {
    pub path: String,
    pub message: String,
}

impl ReplayError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> ReplayError {
        ReplayError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Windows cut since the last whole simulated second, merged; whole once the clock is on a
/// second. Merging is exact, so a second comes out the same however it was sliced.
#[derive(Default)]
pub struct SecondWindow {
    pending: Option<Window>,
}

impl SecondWindow {
    /// Adds a window just cut at `now`; the whole second's window when `now` ends one.
    pub fn add(&mut self, window: &Window, now: Nanos) -> Option<Window> {
        match &mut self.pending {
            Some(pending) => pending.merge(window),
            None => self.pending = Some(window.clone()),
        }
        (now > 0 && now.is_multiple_of(SECOND)).then(|| self.pending.take().expect("just merged"))
    }

    /// Forgets the part of a second counted under a topology that was just replaced.
    pub fn discard(&mut self) {
        self.pending = None;
    }
}

/// Runs `engine` to `until`, cutting a window at every whole second on the way and handing
/// each to `cut`.
pub fn run_by_seconds(engine: &mut Engine, until: Nanos, mut cut: impl FnMut(&Engine, Window)) {
    while engine.now() < until {
        let stop = Frames::next_boundary(engine.now()).min(until);
        engine.run_until(stop);
        let window = engine.take_window();
        cut(engine, window);
    }
}

/// The per-second frames of a run: windows cut at whole simulated seconds, each second's
/// merged into the tick a viewer would have seen at its end. Keeps the latest `capacity`.
pub struct Frames {
    second: SecondWindow,
    kept: VecDeque<Tick>,
    capacity: usize,
}

impl Frames {
    pub fn new(capacity: usize) -> Frames {
        Frames {
            second: SecondWindow::default(),
            kept: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// How many frames to keep for `topology` so they take about `budget` figures in all
    /// (a service or a link is one figure a frame), between 20 seconds and an hour.
    pub fn capacity_for(topology: &Topology, budget: usize) -> usize {
        let per_frame = topology.services.len() + topology.dependencies.len() + 1;
        (budget / per_frame).clamp(20, 3600)
    }

    /// The next whole second after `now`: drivers cut a window there.
    pub fn next_boundary(now: Nanos) -> Nanos {
        (now / SECOND + 1) * SECOND
    }

    /// Adds a window just cut from `engine`; at a whole second, the second's frame.
    pub fn observe(&mut self, engine: &Engine, window: &Window) {
        if let Some(second) = self.second.add(window, engine.now()) {
            self.kept.push_back(Tick::from_window(engine, &second, 1.0));
            while self.kept.len() > self.capacity {
                self.kept.pop_front();
            }
        }
    }

    /// Adds the frame of a whole second that was measured elsewhere (an observed system's),
    /// `tick.t` being that second; seconds may be missing (the server stalled), never go
    /// back.
    pub fn push(&mut self, tick: Tick) {
        if self
            .last()
            .is_some_and(|last| tick.t.round() as u64 <= last)
        {
            return;
        }
        self.kept.push_back(tick);
        while self.kept.len() > self.capacity {
            self.kept.pop_front();
        }
    }

    /// Keeps at most `capacity` frames from now on (the latest ones).
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        while self.kept.len() > self.capacity {
            self.kept.pop_front();
        }
    }

    /// Forgets the part of a second counted under a topology that was just replaced.
    pub fn discard_partial(&mut self) {
        self.second.discard();
    }

    /// The frame at the end of simulated second `t` (1, 2, …), if kept.
    pub fn at(&self, t: u64) -> Option<&Tick> {
        let first = self.first()?;
        let second = |tick: &Tick| tick.t.round() as u64;
        match self.kept.get(t.checked_sub(first)? as usize) {
            Some(tick) if second(tick) == t => Some(tick),
            // Pushed frames may skip seconds: look it up.
            _ => {
                let at = self.kept.binary_search_by_key(&t, second).ok()?;
                self.kept.get(at)
            }
        }
    }

    /// The first and last seconds kept.
    pub fn first(&self) -> Option<u64> {
        self.kept.front().map(|tick| tick.t.round() as u64)
    }

    pub fn last(&self) -> Option<u64> {
        self.kept.back().map(|tick| tick.t.round() as u64)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tick> {
        self.kept.iter()
    }
}

/// Runs `engine` to `until`, cutting a window at every whole second on the way.
pub fn run_framed(engine: &mut Engine, frames: &mut Frames, until: Nanos) {
    run_by_seconds(engine, until, |engine, window| {
        frames.observe(engine, &window)
    });
}

/// A replayed run: its frames and the topology in force from each simulated nanosecond on.
pub struct Replay {
    pub frames: Frames,
    /// `(from_ns, topology)`, oldest first; the first is from zero.
    pub epochs: Vec<(Nanos, Topology)>,
    pub end_ns: Nanos,
    pub seed: u64,
    /// The engine as the run ended.
    pub engine: Engine,
}

/// Replays `recording`, keeping up to `capacity` frames.
///
/// # Complexity
/// Simulates the whole recorded run again: as long as the run itself took to simulate.
pub fn replay(recording: &Recording, capacity: usize) -> Result<Replay, ReplayError> {
    recording.check()?;
    let mut engine = Engine::new(Arc::clone(&recording.topology), recording.seed);
    let mut frames = Frames::new(capacity);
    for (k, control) in recording.controls.iter().enumerate() {
        run_framed(&mut engine, &mut frames, control.at_ns);
        match &control.action {
            Action::Inject { fault } => {
                engine.inject((**fault).clone()).map_err(|err| {
                    ReplayError::at(format!("controls[{k}].fault.{}", err.path), err.message)
                })?;
            }
            Action::Revert { id } => {
                if !engine.revert(*id) {
                    return Err(ReplayError::at(
                        format!("controls[{k}].id"),
                        format!("no fault {id} is in force at this point of the run"),
                    ));
                }
            }
            Action::RoutingMode { mode } => engine.set_routing_mode(*mode),
            Action::Topology { topology } => {
                engine.replace_topology((**topology).clone());
                frames.discard_partial();
            }
            Action::Layout { layout } => engine.set_layout(layout.clone()),
        }
    }
    run_framed(&mut engine, &mut frames, recording.end_ns);
    Ok(Replay {
        frames,
        epochs: recording.epochs(),
        end_ns: recording.end_ns,
        seed: recording.seed,
        engine,
    })
}
