//! Node positions for drawing a topology: a layered layout that puts entry points on the
//! left and each service one column right of its nearest caller, so requests read left to
//! right. Positions pinned in the topology's `layout` are kept as they are.

use std::collections::BTreeMap;

use petgraph::algo::dijkstra;
use petgraph::graph::DiGraph;

use crate::topology::Topology;

/// Horizontal distance between layers, vertical distance between rows (layout units).
pub const COLUMN_GAP: f64 = 230.0;
pub const ROW_GAP: f64 = 110.0;

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
    let tallest = columns.values().map(Vec::len).max().unwrap_or(1);
    let mut positions = BTreeMap::new();
    for (column, members) in &columns {
        let offset = (tallest - members.len()) as f64 * ROW_GAP / 2.0;
        for (row, &i) in members.iter().enumerate() {
            let position = [*column as f64 * COLUMN_GAP, offset + row as f64 * ROW_GAP];
            positions.insert(topology.services[i].name.clone(), position);
        }
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
}
