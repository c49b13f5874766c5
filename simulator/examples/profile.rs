//! Runs a template for a while and prints the hops executed and the wall time: a target for
//! profilers (`valgrind --tool=callgrind`, `perf record`).
//!
//! `cargo run --release -p simulator --example profile -- shop 20`, or with a size and a
//! routing mode: `-- scale-free 30 1000 dns`.

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
    let size = args.next().and_then(|s| s.parse().ok());
    let mut topology = templates::build(&name, size, 1).expect("a known template");
    if let Some(mode) = args.next() {
        topology.routing.mode = *RoutingMode::ALL
            .iter()
            .find(|m| m.name() == mode)
            .expect("smart, dns or lb");
    }
    let started = Instant::now();
    let mut engine = Engine::new(topology, 1);
    engine.run_until(secs(seconds));
    std::hint::black_box(engine.take_window());
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{name}: {} hops, {} events in {elapsed:.3} s: {:.2} M hops/s, {:.2} M events/s",
        engine.hops(),
        engine.events(),
        engine.hops() as f64 / elapsed / 1e6,
        engine.events() as f64 / elapsed / 1e6
    );
}
