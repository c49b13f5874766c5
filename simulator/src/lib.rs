//! The pure core of blastradius: the topology model, built-in topologies, layout, and the
//! discrete-event engine that simulates requests flowing through a topology under faults.
//!
//! It does no I/O, never reads the wall clock and takes its seed from the caller, so the
//! same topology, seed and faults always give the same figures, and it compiles to
//! `wasm32` for the dashboard.
//!
//! # Layout
//! - [`analysis`]: static resilience analysis: SPOFs and predicted blast radius.
//! - [`topology`]: the topology file (SPEC contract), defaults, parsing and validation.
//! - [`fault`]: faults and their targets (SPEC contract).
//! - [`queue`]: the event queue (FIFO among equal times) and simulated time units.
//! - [`engine`]: the discrete-event simulation, with routing (`engine::routing`) and
//!   circuit breakers (`engine::breaker`).
//! - [`measure`]: counters per window and their rolling aggregate.
//! - [`experiment`]: chaos experiments: a fault timeline judged by a steady-state hypothesis.
//! - [`replay`]: recordings of runs, replaying them exactly, and per-second frames.
//! - [`resilience`]: the resilience report: SPOFs, worst blast radius, routing under the
//!   worst single kill.
//! - [`report`]: whole runs and their reports (`simulate`, `compare`).
//! - [`lean`]: the dashboard's lean form of the live stream: quantised figures, only what
//!   changed, in columns.
//! - [`wire`]: the API messages (snapshot, tick, fault records) shared with `server` and `app`.
//! - [`lockstep`]: the live routing comparison: three runs in step with the live one.
//! - [`twin`]: "Model this": the model of an observed system run beside it, given its
//!   real faults.
//! - [`layout`]: node positions for drawing.
//! - [`templates`]: built-in topologies.

pub mod analysis;
pub mod engine;
pub mod experiment;
pub mod fault;
pub mod layout;
pub mod lean;
pub mod lockstep;
pub mod measure;
pub mod queue;
pub mod replay;
pub mod report;
pub mod resilience;
pub mod templates;
pub mod topology;
pub mod twin;
pub mod wire;

pub use engine::{Engine, FaultId};
pub use fault::{Fault, FaultKind};
pub use topology::{Topology, TopologyError};
