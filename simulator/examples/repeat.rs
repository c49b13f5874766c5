//! Runs the criterion benchmark's shape — make an engine, simulate, cut the window, drop it —
//! many times in one process and prints the best and the overall hops per second: for
//! comparing two builds on a shared machine, alternating them, when criterion's own runs
//! swing with the host's load.
//!
//! `cargo run --release -p simulator --example repeat -- scale-free 30 1000 30` (template,
//! simulated seconds, size or 0 for the template's own, runs, and optionally a routing mode).

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
    let runs: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut topology = templates::build(&name, size, 1).expect("a known template");
    if let Some(mode) = args.next() {
        topology.routing.mode = *RoutingMode::ALL
            .iter()
            .find(|m| m.name() == mode)
            .expect("smart, dns or lb");
    }
    let topology = Arc::new(topology);
    let (mut best, mut hops, mut elapsed) = (0.0f64, 0u64, 0.0f64);
    for _ in 0..runs {
        let started = Instant::now();
        let mut engine = Engine::new(Arc::clone(&topology), 1);
        engine.run_until(secs(seconds));
        std::hint::black_box(engine.take_window());
        let run_hops = engine.hops();
        drop(engine);
        let run_elapsed = started.elapsed().as_secs_f64();
        best = best.max(run_hops as f64 / run_elapsed / 1e6);
        (hops, elapsed) = (hops + run_hops, elapsed + run_elapsed);
    }
    println!(
        "{name}: {runs} runs, best {best:.2} M hops/s, overall {:.2} M hops/s",
        hops as f64 / elapsed / 1e6
    );
}
