//! Throughput of the simulator: the event queue alone, and whole simulations measured in
//! service-level executions ("request-hops") per second of wall time, on one core.
//!
//! `cargo bench -p simulator --bench engine`; figures are recorded in docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use simulator::engine::Engine;
use simulator::queue::{EventQueue, secs};
use simulator::templates;
use simulator::topology::{RoutingMode, Topology};

/// Push one event and pop the earliest, with `pending` events queued: the steady state of
/// a simulation.
fn event_queue(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_queue");
    for pending in [1_024u64, 65_536] {
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("push_pop", pending),
            &pending,
            |b, &pending| {
                let mut queue = EventQueue::default();
                let mut state = 0x9E37_79B9_7F4A_7C15u64;
                let mut next = move || {
                    // xorshift: cheap, varied times.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % 1_000_000
                };
                for _ in 0..pending {
                    queue.push(next(), 0u64);
                }
                let mut now = 0;
                b.iter(|| {
                    queue.push(now + next(), 1u64);
                    let (time, event) = queue.pop().expect("never empty");
                    now = time;
                    black_box(event);
                });
            },
        );
    }
    group.finish();
}

/// Simulates `seconds` of `topology` (which the engine shares, as the server's engines do),
/// cuts the window (its histograms are complete then), and returns the hops executed.
fn run(topology: &Arc<Topology>, seconds: f64) -> u64 {
    let mut engine = Engine::new(Arc::clone(topology), 1);
    engine.run_until(secs(seconds));
    black_box(engine.take_window());
    engine.hops()
}

fn simulation(c: &mut Criterion) {
    let mut group = c.benchmark_group("simulate");
    group.sample_size(10);
    let scale_free = templates::build("scale-free", Some(1000), 1).expect("template");
    let cases = [
        ("shop", templates::demo(), 20.0),
        ("scale-free-1000", scale_free, 30.0),
    ];
    for (name, topology, seconds) in cases {
        for mode in [RoutingMode::Smart, RoutingMode::Dns, RoutingMode::Lb] {
            let mut topology = topology.clone();
            topology.routing.mode = mode;
            let topology = Arc::new(topology);
            let hops = run(&topology, seconds);
            group.throughput(Throughput::Elements(hops));
            group.bench_function(BenchmarkId::new(name, mode.name()), |b| {
                b.iter(|| run(black_box(&topology), seconds))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, event_queue, simulation);
criterion_main!(benches);
