//! Runs a template for a while and prints the hops executed and the wall time: a target for
//! profilers (`valgrind --tool=callgrind`, `perf record`). Given a number of runs, repeats the
//! criterion benchmark's shape — make an engine, simulate, cut the window, drop it — in one
//! process and prints the best run and all runs together: for comparing two builds on a
//! shared machine by alternating them, when criterion's own figures swing with the host.
//!
//! `cargo run --release -p simulator --example profile -- shop 20`, or with a size (0: the
//! template's own), a routing mode and a number of runs: `-- scale-free 30 1000 smart 30`.

use std::sync::Arc;
use std::time::Instant;

use simulator::engine::Engine;
use simulator::queue::secs;
use simulator::templates;
use simulator::topology::RoutingMode;

/// The allocator the `blastradius` binary runs the simulator with (see server/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "shop".into());
    let seconds: f64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let size = args
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|&s: &usize| s > 0);
    let mut topology = templates::build(&name, size, 1).expect("a known template");
    if let Some(mode) = args.next() {
        topology.routing.mode = *RoutingMode::ALL
            .iter()
            .find(|m| m.name() == mode)
            .expect("smart, dns or lb");
    }
    let runs: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let topology = Arc::new(topology);
    let (mut best, mut hops, mut events, mut elapsed) = (0.0f64, 0, 0, 0.0);
    for _ in 0..runs {
        let started = Instant::now();
        let mut engine = Engine::new(Arc::clone(&topology), 1);
        engine.run_until(secs(seconds));
        std::hint::black_box(engine.take_window());
        let (run_hops, run_events) = (engine.hops(), engine.events());
        drop(engine);
        let run_elapsed = started.elapsed().as_secs_f64();
        best = best.max(run_hops as f64 / run_elapsed / 1e6);
        (hops, events, elapsed) = (hops + run_hops, events + run_events, elapsed + run_elapsed);
    }
    let rate = |count: u64| count as f64 / elapsed / 1e6;
    if runs == 1 {
        println!(
            "{name}: {hops} hops, {events} events in {elapsed:.3} s: {:.2} M hops/s, {:.2} M events/s",
            rate(hops),
            rate(events)
        );
    } else {
        println!(
            "{name}: {runs} runs, best {best:.2} M hops/s, overall {:.2} M hops/s",
            rate(hops)
        );
    }
}
