//! The workflow graph: nodes with a cost, directed dependency edges, stored in a petgraph
//! `DiGraph`, plus a structural hash kept up to date on every insertion so that
//! [`super::PlanCache`] can recognise an unchanged graph without rehashing it.
//! Validation of costs and acyclicity happens when planning, not here; an edge to a
//! missing node is refused here because petgraph cannot store it.

use petgraph::graph::{DiGraph, NodeIndex};

use super::PlanError;

/// A node of a [`Dag`]: petgraph's 32-bit node index, so ids work with [`Dag::graph`] directly.
pub type NodeId = NodeIndex<u32>;

/// A workflow graph: nodes with a cost (e.g. expected seconds) and directed edges
/// `from -> to` meaning "`to` depends on `from`".
#[derive(Debug, Clone, Default)]
pub struct Dag {
    graph: DiGraph<f64, (), u32>,
    node_hash: u64,
    edge_hash: u64,
}

// Multiplier from the 64-bit golden ratio, as in FxHash: a fast mix whose quality only
// affects how often the plan cache compares graphs that differ, never correctness
// (the cache verifies equality before it returns a plan).
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline]
fn mix(hash: u64, value: u64) -> u64 {
    (hash.rotate_left(23) ^ value).wrapping_mul(MIX)
}

impl Dag {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty graph with room for `nodes` nodes and `edges` edges.
    pub fn with_capacity(nodes: usize, edges: usize) -> Self {
        Dag {
            graph: DiGraph::with_capacity(nodes, edges),
            ..Self::default()
        }
    }

    /// Adds a node with the given cost and returns its id (ids are 0, 1, 2, … in insertion order).
    ///
    /// Costs are checked when planning: NaN, infinite or negative costs make
    /// [`super::Plan::build`] return [`PlanError::InvalidCost`]. Ids are 32-bit (petgraph's
    /// index type), so a graph holds at most 2^32 − 2 nodes, about 64 GiB of petgraph
    /// storage; [`Dag::from_edges`] reports more as [`PlanError::TooManyNodes`].
    pub fn add_node(&mut self, cost: f64) -> NodeId {
        self.node_hash = mix(self.node_hash, cost.to_bits());
        self.graph.add_node(cost)
    }

    /// Adds the edge `from -> to` (`to` depends on `from`). Parallel edges and self-loops
    /// are stored as given; a self-loop is reported as a cycle when planning.
    pub fn add_edge(&mut self, from: NodeId, to: NodeId) -> Result<(), PlanError> {
        let node_count = self.graph.node_count();
        for missing in [from.index(), to.index()] {
            if missing >= node_count {
                return Err(PlanError::MissingNode {
                    from: from.index(),
                    to: to.index(),
                    missing,
                    node_count,
                });
            }
        }
        self.push_edge(from.index() as u32, to.index() as u32);
        Ok(())
    }

    fn push_edge(&mut self, from: u32, to: u32) {
        self.edge_hash = mix(self.edge_hash, (u64::from(from) << 32) | u64::from(to));
        self.graph.add_edge(
            NodeIndex::new(from as usize),
            NodeIndex::new(to as usize),
            (),
        );
    }

    /// Builds a graph from node costs (node `i` has cost `costs[i]`) and edges given as
    /// index pairs. Fails on an edge naming a node outside `0..costs.len()`.
    pub fn from_edges(costs: &[f64], edges: &[(usize, usize)]) -> Result<Dag, PlanError> {
        if costs.len() >= u32::MAX as usize {
            return Err(PlanError::TooManyNodes { count: costs.len() });
        }
        let mut dag = Dag::with_capacity(costs.len(), edges.len());
        for &cost in costs {
            dag.add_node(cost);
        }
        let node_count = costs.len();
        for &(from, to) in edges {
            if from >= node_count || to >= node_count {
                let missing = if from >= node_count { from } else { to };
                return Err(PlanError::MissingNode {
                    from,
                    to,
                    missing,
                    node_count,
                });
            }
            dag.push_edge(from as u32, to as u32);
        }
        Ok(dag)
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    /// The number of edges, parallel edges counted separately.
    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// The cost of `node`, or `None` if there is no such node.
    pub fn cost(&self, node: NodeId) -> Option<f64> {
        self.graph.node_weight(node).copied()
    }

    /// The edges as `(from, to)` pairs in insertion order.
    pub fn edges(&self) -> impl ExactSizeIterator<Item = (NodeId, NodeId)> + '_ {
        self.graph
            .raw_edges()
            .iter()
            .map(|edge| (edge.source(), edge.target()))
    }

    /// The underlying petgraph graph (node weight = cost), for petgraph's own algorithms.
    pub fn graph(&self) -> &DiGraph<f64, (), u32> {
        &self.graph
    }

    /// A 64-bit hash of the node costs (bit patterns, in id order) and the edges (in
    /// insertion order), maintained incrementally so reading it costs nothing.
    /// Equal graphs have equal hashes; the converse is verified by [`Dag::same_structure`].
    pub fn structural_hash(&self) -> u64 {
        mix(
            mix(self.node_hash, self.edge_hash),
            self.edge_count() as u64,
        )
    }

    /// Whether `other` has the same node costs (bit for bit) and the same edges in the same order.
    pub fn same_structure(&self, other: &Dag) -> bool {
        let (a, b) = (&self.graph, &other.graph);
        a.node_count() == b.node_count()
            && a.edge_count() == b.edge_count()
            && a.raw_nodes()
                .iter()
                .zip(b.raw_nodes())
                .all(|(x, y)| x.weight.to_bits() == y.weight.to_bits())
            && a.raw_edges()
                .iter()
                .zip(b.raw_edges())
                .all(|(x, y)| x.source() == y.source() && x.target() == y.target())
    }
}

impl PartialEq for Dag {
    /// Structural equality: the same costs (bit for bit) and the same edges in the same order.
    fn eq(&self, other: &Self) -> bool {
        self.same_structure(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_to_missing_node_is_an_error_naming_it() {
        let mut dag = Dag::new();
        let a = dag.add_node(1.0);
        let err = dag.add_edge(a, NodeIndex::new(5)).unwrap_err();
        assert_eq!(
            err,
            PlanError::MissingNode {
                from: 0,
                to: 5,
                missing: 5,
                node_count: 1
            }
        );
        assert!(err.to_string().contains("names node 5"), "{err}");
        assert_eq!(dag.edge_count(), 0);

        let err = Dag::from_edges(&[1.0, 2.0], &[(0, 1), (7, 1)]).unwrap_err();
        assert!(
            matches!(err, PlanError::MissingNode { missing: 7, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn structural_hash_tracks_costs_and_edges() {
        let a = Dag::from_edges(&[1.0, 2.0, 3.0], &[(0, 1), (1, 2)]).unwrap();
        let b = Dag::from_edges(&[1.0, 2.0, 3.0], &[(0, 1), (1, 2)]).unwrap();
        let other_cost = Dag::from_edges(&[1.0, 2.5, 3.0], &[(0, 1), (1, 2)]).unwrap();
        let other_edge = Dag::from_edges(&[1.0, 2.0, 3.0], &[(0, 1), (0, 2)]).unwrap();
        assert_eq!(a.structural_hash(), b.structural_hash());
        assert_eq!(a, b);
        assert_ne!(a.structural_hash(), other_cost.structural_hash());
        assert_ne!(a.structural_hash(), other_edge.structural_hash());
        assert_ne!(a, other_cost);
        assert_ne!(a, other_edge);
    }

    #[test]
    fn incremental_and_bulk_construction_agree() {
        let mut dag = Dag::new();
        let n: Vec<NodeId> = (0..3).map(|i| dag.add_node(i as f64)).collect();
        dag.add_edge(n[0], n[2]).unwrap();
        dag.add_edge(n[1], n[2]).unwrap();
        let bulk = Dag::from_edges(&[0.0, 1.0, 2.0], &[(0, 2), (1, 2)]).unwrap();
        assert_eq!(dag, bulk);
        assert_eq!(dag.structural_hash(), bulk.structural_hash());
        assert_eq!(dag.cost(n[1]), Some(1.0));
        assert_eq!(dag.cost(NodeIndex::new(9)), None);
    }
}
