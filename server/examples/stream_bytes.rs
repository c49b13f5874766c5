//! Bytes a second the live stream costs one viewer, without a browser: the JSON `tick`
//! (the contract), the lean frames (`simulator::lean`), each as sent plain and through one
//! gzip stream flushed after every event (what `/api/stream` does), for `shop` and
//! `scale-free` topologies of several sizes (and 2,000 services with 10,000 links), ticks at 10 Hz over
//! a 1 s rolling window as the session makes them, a kill a few seconds in; and the server's
//! time: quantising a tick (once, shared by every lean stream) and each viewer's frame.
//!
//! `cargo run --release -p server --example stream_bytes [-- shop,100,500,2000,2000x10000]`

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use simulator::engine::Engine;
use simulator::fault::Fault;
use simulator::lean::{Lean, LeanEncoder};
use simulator::measure::Rolling;
use simulator::queue::secs;
use simulator::templates;
use simulator::topology::{Dependency, Topology};
use simulator::wire::Tick;

const SECONDS: u64 = 12;

/// `scale-free` of `services` (or the template `name`), with optional low-traffic links
/// added up to `links`.
fn topology(name: &str, services: Option<usize>, links: Option<usize>) -> Topology {
    let mut topology = templates::build(name, services, 1).expect("a template");
    let Some(links) = links else {
        return topology;
    };
    let mut rng = Pcg64Mcg::seed_from_u64(7);
    let names: Vec<String> = topology.services.iter().map(|s| s.name.clone()).collect();
    let mut have: std::collections::BTreeSet<(String, String)> = topology
        .dependencies
        .iter()
        .map(|d| (d.from.clone(), d.to.clone()))
        .collect();
    while topology.dependencies.len() < links {
        let a = rng.random_range(10..names.len());
        let b = rng.random_range(0..a);
        if have.insert((names[a].clone(), names[b].clone())) {
            let mut dependency = Dependency::new(&names[a], &names[b]);
            dependency.calls = 0.02;
            dependency.required = false;
            topology.dependencies.push(dependency);
        }
    }
    topology
}

/// One SSE event's bytes.
fn event(name: &str, data: &str) -> Vec<u8> {
    format!("event: {name}\ndata: {data}\n\n").into_bytes()
}

/// Bytes through one gzip stream flushed after each event.
struct Gz(GzEncoder<Vec<u8>>);

impl Gz {
    fn new() -> Gz {
        Gz(GzEncoder::new(Vec::new(), Compression::fast()))
    }

    fn send(&mut self, bytes: &[u8]) -> usize {
        self.0.write_all(bytes).expect("in memory");
        self.0.flush().expect("in memory");
        let out = self.0.get_mut();
        let sent = out.len();
        out.clear();
        sent
    }
}

fn main() {
    let sizes = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "shop,100,500,2000,2000x10000".into());
    println!(
        "{:<12} {:>9} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12} {:>12}",
        "topology",
        "links",
        "tick KiB/s",
        "tick gz",
        "lean KiB/s",
        "lean gz",
        "lean gz/tick",
        "ms/tick",
        "ms/viewer"
    );
    for size in sizes.split(',') {
        let (services, links) = match size.split_once('x') {
            Some((s, l)) => (s.parse().ok(), Some(l.parse().expect("links"))),
            None => (size.parse().ok(), None),
        };
        let topology = match services {
            Some(_) => topology("scale-free", services, links),
            None => topology(size, None, None),
        };
        let link_count = topology.dependencies.len();
        let victim = topology.services[1].name.clone();
        let mut engine = Engine::new(topology, 1);
        let mut rolling = Rolling::new(secs(1.0));
        let mut encoder = LeanEncoder::default();
        let (mut gz_tick, mut gz_lean) = (Gz::new(), Gz::new());
        let (mut tick_bytes, mut tick_gz, mut lean_bytes, mut lean_gz) = (0, 0, 0, 0);
        let (mut encode_time, mut quantise_time) =
            (std::time::Duration::ZERO, std::time::Duration::ZERO);
        // The first 2 s settle (and send the keyframe); the last 10 are measured.
        for n in 1..=SECONDS * 10 {
            if n == 50 {
                engine.inject(Fault::kill(&victim)).expect("a service");
            }
            engine.run_until(secs(n as f64 / 10.0));
            rolling.push(engine.take_window());
            let tick = Tick::from_window(&engine, rolling.sum().expect("a window"), 1.0);
            let json = event("tick", &serde_json::to_string(&tick).expect("serialises"));
            let quantising = std::time::Instant::now();
            let quantised = std::sync::Arc::new(simulator::lean::quantised(&tick));
            let shared = quantising.elapsed();
            let encoding = std::time::Instant::now();
            let encoded = encoder.encode_quantised(quantised);
            let lean = match encoded {
                Lean::Keyframe(tick) => event("keyframe", &serde_json::to_string(&tick).unwrap()),
                Lean::Frame(frame) => event("frame", &serde_json::to_string(&frame).unwrap()),
            };
            let b = gz_lean.send(&lean);
            let took = encoding.elapsed();
            let a = gz_tick.send(&json);
            if n > 20 {
                tick_bytes += json.len();
                tick_gz += a;
                lean_bytes += lean.len();
                lean_gz += b;
                encode_time += took;
                quantise_time += shared;
            }
        }
        let per_s = |bytes: usize| bytes as f64 / 10.0 / 1024.0;
        println!(
            "{:<12} {:>9} {:>12.0} {:>12.0} {:>12.0} {:>12.0} {:>10.3} {:>12.2} {:>12.2}",
            services.map_or(size.to_string(), |n| format!("sf-{n}")),
            link_count,
            per_s(tick_bytes),
            per_s(tick_gz),
            per_s(lean_bytes),
            per_s(lean_gz),
            lean_gz as f64 / tick_bytes as f64,
            // Quantising, once a tick for every viewer.
            quantise_time.as_secs_f64() * 1e3 / 100.0,
            // Diffing, serialising and compressing one viewer's event.
            encode_time.as_secs_f64() * 1e3 / 100.0
        );
    }
}
