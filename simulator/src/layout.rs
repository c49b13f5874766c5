//! Node positions for drawing a topology: a layered layout that puts entry points on the
//! left and each service one column right of its nearest caller, so requests read left to
//! right. Positions pinned in the topology's `layout` are kept as they are. A layer taller
//! than [`wrap_rows`] is folded into several columns side by side, so a large topology
//! (a scale-free one puts half its services in the first layer) stays about as wide as tall.

use std::collections::BTreeMap;

use petgraph::algo::dijkstra;
use petgraph::graph::DiGraph;

use crate::topology::Topology;

/// Horizontal distance between layers, vertical distance between rows (layout units).
pub const COLUMN_GAP: f64 = 230.0;
pub const ROW_GAP: f64 = 110.0;

/// Layers up to this many rows are never folded, whatever the topology's size.
const MIN_WRAP_ROWS: usize = 40;

/// Most rows a layer of a topology of `services` services keeps before it is folded:
/// about √(1.5 n), which makes `n` cards (230 × 110 units apart) a picture about 1.4 times
/// wider than tall, the shape of the graph's space on a laptop screen.
pub fn wrap_rows(services: usize) -> usize {
    ((1.5 * services as f64).sqrt().ceil() as usize).max(MIN_WRAP_ROWS)
}

/// A position for every service: its pinned one, or its place in the layered layout.
///
/// # Complexity
/// O((V + E) log V): one shortest-path search from a virtual source linked to every entry.
pub fn layered(topology: &Topology) -> BTreeMap<String, [f64; 2]> {
    let mut graph = DiGraph::<(), ()>::new();
    let nodes: Vec<_> = topology
        .services
        .iter()
        .map(|_| graph.add_node(()))
        .collect();
    let source = graph.add_node(());
    let index = topology.index_by_name();
    for (i, service) in topology.services.iter().enumerate() {
        if service.is_entry() {
            graph.add_edge(source, nodes[i], ());
        }
    }
    for dep in &topology.dependencies {
        if let (Some(&from), Some(&to)) = (index.get(dep.from.as_str()), index.get(dep.to.as_str()))
        {
            graph.add_edge(nodes[from], nodes[to], ());
        }
    }
    let distance = dijkstra(&graph, source, None, |_| 1usize);
    let deepest = distance.values().copied().max().unwrap_or(1);
    // Services no entry reaches go in a column of their own after the deepest one.
    let mut columns: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let column = distance.get(node).map_or(deepest, |d| d - 1);
        columns.entry(column).or_default().push(i);
    }
    // Each layer as one column, or folded into as few columns of equal height as fit.
    let most = wrap_rows(topology.services.len());
    let folded: Vec<(usize, usize)> = columns
        .values()
        .map(|members| {
            let parts = members.len().div_ceil(most).max(1);
            (parts, members.len().div_ceil(parts))
        })
        .collect();
    let tallest = folded.iter().map(|(_, rows)| *rows).max().unwrap_or(1);
    let mut positions = BTreeMap::new();
    let mut x = 0;
    for (members, (parts, rows)) in columns.values().zip(folded) {
        for (part, chunk) in members.chunks(rows).enumerate() {
            let offset = (tallest - chunk.len()) as f64 * ROW_GAP / 2.0;
            for (row, &i) in chunk.iter().enumerate() {
                let position = [
                    (x + part) as f64 * COLUMN_GAP,
                    offset + row as f64 * ROW_GAP,
                ];
                positions.insert(topology.services[i].name.clone(), position);
            }
        }
        x += parts;
    }
    for (name, position) in &topology.layout {
        positions.insert(name.clone(), *position);
    }
    positions
}

/// The distance the force-directed layout aims for between linked services.
pub const FORCE_DISTANCE: f64 = 1.3 * COLUMN_GAP;
/// The pull to the middle, against the attraction along a link (1).
const GRAVITY: f64 = 1.0;
/// The distance it spreads the nearest two services to (a card's width and a gap).
const MIN_APART: f64 = 1.6 * ROW_GAP;

/// Force-directed positions (Fruchterman–Reingold) for every service, pins ignored: linked
/// services pull together, all push apart, so clusters and hubs show. Starts from the
/// layered layout and cools over a fixed number of rounds: the same topology always gets
/// the same picture.
///
/// # Complexity
/// O(R · (V² + E)) for R rounds, with R shrinking as V grows (about 0.2 s at 2,000 services
/// in a release build).
pub fn force_directed(topology: &Topology) -> BTreeMap<String, [f64; 2]> {
    let n = topology.services.len();
    let mut unpinned = topology.clone();
    unpinned.layout.clear();
    let start = layered(&unpinned);
    // Nudged off the layered grid (deterministically): services in one row or column would
    // otherwise never leave it, as no force has a component across it.
    let mut position: Vec<[f64; 2]> = topology
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let [x, y] = start[&s.name];
            [
                x + ((i * 7) % 11) as f64 - 5.0,
                y + ((i * 13) % 17) as f64 - 8.0,
            ]
        })
        .collect();
    if n < 2 {
        return start;
    }
    let index = topology.index_by_name();
    let links: Vec<(usize, usize)> = topology
        .dependencies
        .iter()
        .filter_map(|d| Some((*index.get(d.from.as_str())?, *index.get(d.to.as_str())?)))
        .filter(|(a, b)| a != b)
        .collect();
    // The ideal distance between linked services: a little more than a column.
    let (lo, hi) = bounds(&position);
    let k = FORCE_DISTANCE;
    let rounds = (20_000_000 / (n * n)).clamp(30, 300);
    let mut temperature = (hi[0] - lo[0]).max(hi[1] - lo[1]).max(k) / 4.0;
    let cooling = temperature / rounds as f64;
    let mut shift = vec![[0.0_f64; 2]; n];
    for _ in 0..rounds {
        shift.iter_mut().for_each(|s| *s = [0.0, 0.0]);
        for a in 0..n {
            for b in a + 1..n {
                let (dx, dy, d) = apart(position[a], position[b], a, b);
                let push = k * k / d;
                shift[a][0] += dx / d * push;
                shift[a][1] += dy / d * push;
                shift[b][0] -= dx / d * push;
                shift[b][1] -= dy / d * push;
            }
        }
        for &(a, b) in &links {
            let (dx, dy, d) = apart(position[a], position[b], a, b);
            let pull = d * d / k;
            shift[a][0] -= dx / d * pull;
            shift[a][1] -= dy / d * pull;
            shift[b][0] += dx / d * pull;
            shift[b][1] += dy / d * pull;
        }
        // A weak pull to the middle keeps unlinked groups from drifting off.
        let centre = position.iter().fold([0.0, 0.0], |c, p| {
            [c[0] + p[0] / n as f64, c[1] + p[1] / n as f64]
        });
        for (p, s) in position.iter().zip(shift.iter_mut()) {
            let (dx, dy) = (p[0] - centre[0], p[1] - centre[1]);
            let d = (dx * dx + dy * dy).sqrt().max(0.01);
            let pull = GRAVITY * d * d / k;
            s[0] -= dx / d * pull;
            s[1] -= dy / d * pull;
        }
        for (p, s) in position.iter_mut().zip(&shift) {
            let length = (s[0] * s[0] + s[1] * s[1]).sqrt().max(1e-9);
            let step = length.min(temperature);
            p[0] += s[0] / length * step;
            p[1] += s[1] / length * step;
        }
        temperature = (temperature - cooling).max(k / 100.0);
    }
    // Spread out (never shrink) until the nearest pair is a card apart, at most 3× (a dense
    // cluster stays dense rather than blowing the rest of the picture up), and move to the
    // origin.
    let mut nearest = f64::MAX;
    for a in 0..n {
        for b in a + 1..n {
            nearest = nearest.min(apart(position[a], position[b], a, b).2);
        }
    }
    let scale = (MIN_APART / nearest).clamp(1.0, 3.0);
    let (lo, _) = bounds(&position);
    topology
        .services
        .iter()
        .zip(&position)
        .map(|(s, p)| {
            let at = |v: f64, origin: f64| ((v - origin) * scale).round();
            (s.name.clone(), [at(p[0], lo[0]), at(p[1], lo[1])])
        })
        .collect()
}

/// The offset from `b` to `a` and its length, never zero: two services on one spot are
/// told apart by their indices, deterministically.
fn apart(a: [f64; 2], b: [f64; 2], ia: usize, ib: usize) -> (f64, f64, f64) {
    let (mut dx, mut dy) = (a[0] - b[0], a[1] - b[1]);
    if dx == 0.0 && dy == 0.0 {
        dx = (ia as f64 - ib as f64) * 0.01;
        dy = 0.01;
    }
    (dx, dy, (dx * dx + dy * dy).sqrt().max(0.01))
}

fn bounds(points: &[[f64; 2]]) -> ([f64; 2], [f64; 2]) {
    points.iter().fold(
        ([f64::MAX, f64::MAX], [f64::MIN, f64::MIN]),
        |(lo, hi), p| {
            (
                [lo[0].min(p[0]), lo[1].min(p[1])],
                [hi[0].max(p[0]), hi[1].max(p[1])],
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::templates;

    #[test]
    fn entries_left_callees_right_and_pins_kept() {
        let mut topology = templates::demo();
        let positions = layered(&topology);
        assert_eq!(positions.len(), topology.services.len());
        assert_eq!(positions["web"][0], 0.0);
        assert!(positions["catalog"][0] > positions["web"][0]);
        assert!(positions["catalog-db"][0] > positions["catalog"][0]);
        topology.layout.insert("cart".into(), [5.0, 7.0]);
        assert_eq!(layered(&topology)["cart"], [5.0, 7.0]);
    }

    #[test]
    fn force_directed_places_everyone_apart_the_same_way_each_time() {
        for (name, size) in [("shop", None), ("star", Some(9)), ("scale-free", Some(60))] {
            let topology = templates::build(name, size, 3).unwrap();
            let positions = force_directed(&topology);
            assert_eq!(positions.len(), topology.services.len());
            assert_eq!(force_directed(&topology), positions, "{name}");
            let points: Vec<[f64; 2]> = positions.values().copied().collect();
            for (a, p) in points.iter().enumerate() {
                assert!(p[0].is_finite() && p[1].is_finite() && p[0] >= 0.0 && p[1] >= 0.0);
                for q in &points[a + 1..] {
                    let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt();
                    assert!(d >= ROW_GAP, "{name}: {p:?} and {q:?} overlap");
                }
            }
            // The topology validates with these as its pins (within the coordinate limits).
            let mut pinned = topology.clone();
            pinned.layout = positions;
            pinned.validate().unwrap();
        }
        // The hub of a star ends up nearer the middle than its leaves.
        let star = templates::build("star", Some(9), 1).unwrap();
        let positions = force_directed(&star);
        let centre = positions
            .values()
            .fold([0.0, 0.0], |c, p| [c[0] + p[0] / 9.0, c[1] + p[1] / 9.0]);
        let distance =
            |p: [f64; 2]| ((p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2)).sqrt();
        let hub = distance(positions["hub"]);
        assert!(
            positions
                .iter()
                .filter(|(n, _)| *n != "hub")
                .all(|(_, p)| distance(*p) > hub)
        );
    }

    #[test]
    fn a_tall_layer_is_folded_into_columns() {
        // 2,000 scale-free services put about 970 entry points in the first layer: unfolded,
        // the picture would be ~100 times taller than wide.
        let topology = templates::build("scale-free", Some(2000), 1).unwrap();
        let positions = layered(&topology);
        let (xs, ys): (Vec<f64>, Vec<f64>) = positions.values().map(|p| (p[0], p[1])).unzip();
        let span = |v: &[f64]| {
            v.iter().copied().fold(f64::MIN, f64::max) - v.iter().copied().fold(f64::MAX, f64::min)
        };
        let (width, height) = (span(&xs), span(&ys));
        assert!((0.7..3.0).contains(&(width / height)), "{width} x {height}");
        let distinct: std::collections::BTreeSet<_> = positions
            .values()
            .map(|p| (p[0] as i64, p[1] as i64))
            .collect();
        assert_eq!(distinct.len(), 2000, "two services share a place");
        // Small topologies keep one column per layer.
        let demo = layered(&templates::demo());
        assert!(demo.values().all(|p| p[0] <= 2.0 * COLUMN_GAP));
    }
}
