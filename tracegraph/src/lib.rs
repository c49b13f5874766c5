//! blastradius's pure core for observed systems: OpenTelemetry spans in, the live service
//! graph and its figures out, in the same topology, snapshot and tick types the simulation
//! produces, so every view of the dashboard works on a real system too.
//!
//! # Layout
//! - [`span`]: the parts of a span the graph needs, grouped by the resource that sent them.
//! - [`graph`]: pairing client and server spans into links, virtual services, entry points,
//!   instances, and the figures of the last second.
//! - [`edges`]: the same graph from per-link rates (the servicegraph connector's, Tempo's
//!   or Istio's metrics, read from Prometheus by the server).
//!
//! Like `simulator`, it does no I/O and never reads the wall clock: time comes with the
//! spans and from the caller, so the same spans in the same order give the same figures.

mod counts;
pub mod edges;
pub mod graph;
pub mod model;
pub mod span;

pub use graph::{Config, Graph, Stats};
pub use span::{Batch, ResourceSpans, Span, SpanKind};
