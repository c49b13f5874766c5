//! Peak memory of a big simulation: a 1,000-service scale-free topology loaded until at
//! least 100,000 requests and calls are in flight. Prints the in-flight count and the
//! process's peak resident memory (Linux `VmHWM`).
//!
//! `cargo run --release -p simulator --example memory`

use simulator::engine::Engine;
use simulator::queue::secs;
use simulator::templates;

/// The allocator the `blastradius` binary runs the simulator with (see server/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut topology = templates::build("scale-free", Some(1000), 1).expect("template");
    // Slow services with room for everyone: requests pile up in flight, not in rejections.
    for service in &mut topology.services {
        service.service_time_ms = 2000.0;
        service.concurrency = 20_000;
        if service.ingress_rps > 0.0 {
            service.ingress_rps *= 20.0;
        }
    }
    for dependency in &mut topology.dependencies {
        dependency.timeout_ms = 60_000.0;
    }
    let mut engine = Engine::new(topology, 1);
    let mut most = 0;
    for tenth in 1..=600 {
        engine.run_until(secs(f64::from(tenth) / 10.0));
        most = most.max(engine.in_flight());
        if most >= 100_000 {
            break;
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|line| line.starts_with("VmHWM"))
        .unwrap_or("VmHWM: unknown");
    println!(
        "1,000 services: {most} requests and calls in flight at t = {:.1} s, {} hops; peak {peak}",
        engine.now() as f64 / 1e9,
        engine.hops()
    );
}
