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
