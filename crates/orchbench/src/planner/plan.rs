//! The execution plan of a [`Dag`]: what [`Plan::build`] computes and the typed views on it.

use super::stages::Topology;
use super::{Dag, NodeId, PlanError};

/// The execution plan of a DAG: topological order, execution waves, critical path,
/// transitive reduction and the widest wave.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    order: Vec<NodeId>,
    level_of: Vec<u32>,
    level_nodes: Vec<NodeId>,
    level_offsets: Vec<u32>,
    critical_path: Vec<NodeId>,
    critical_path_cost: f64,
    reduced_edges: Vec<(NodeId, NodeId)>,
    max_parallelism: usize,
}

fn ids(indices: Vec<u32>) -> Vec<NodeId> {
    indices
        .into_iter()
        .map(|i| NodeId::new(i as usize))
        .collect()
}

impl Plan {
    /// Plans `dag`: fails with [`PlanError::InvalidCost`] on a NaN, infinite or negative
    /// cost and with [`PlanError::Cycle`] (naming one cycle) if the graph is not acyclic.
    /// An empty graph gives an empty plan with a critical-path cost of 0.
    pub fn build(dag: &Dag) -> Result<Plan, PlanError> {
        let topo = Topology::new(dag)?;
        let sorted = topo.toposort()?;
        let ranked = sorted.rank();
        #[cfg(feature = "extra-work")]
        crate::extra_work::plan(dag.node_count());
        let levels = ranked.levels();
        let critical = ranked.critical_path();
        let reduced = ranked.transitive_reduction();
        let max_parallelism = levels.max_width();
        drop(ranked);
        Ok(Plan {
            order: ids(sorted.into_order()),
            level_of: levels.level_of,
            level_nodes: ids(levels.nodes),
            level_offsets: levels.offsets,
            critical_path: ids(critical.nodes),
            critical_path_cost: critical.cost,
            reduced_edges: reduced
                .into_iter()
                .map(|(a, b)| (NodeId::new(a as usize), NodeId::new(b as usize)))
                .collect(),
            max_parallelism,
        })
    }

    /// A topological order: every edge goes from an earlier node to a later one.
    pub fn order(&self) -> &[NodeId] {
        &self.order
    }

    /// The execution waves in order: wave `k` holds the nodes whose longest path from a
    /// source has `k` edges, so every node's dependencies are in earlier waves.
    pub fn levels(&self) -> Levels<'_> {
        Levels {
            nodes: &self.level_nodes,
            offsets: &self.level_offsets,
            next: 0,
        }
    }

    /// The number of waves (0 for an empty graph).
    pub fn level_count(&self) -> usize {
        self.level_offsets.len() - 1
    }

    /// The nodes of wave `k`, or `None` past the last wave.
    pub fn level(&self, k: usize) -> Option<&[NodeId]> {
        let start = *self.level_offsets.get(k)? as usize;
        let end = *self.level_offsets.get(k + 1)? as usize;
        Some(&self.level_nodes[start..end])
    }

    /// The wave of `node`, or `None` if the graph has no such node.
    pub fn level_of(&self, node: NodeId) -> Option<usize> {
        self.level_of.get(node.index()).map(|&l| l as usize)
    }

    /// The maximum-cost path (sum of node costs), from a source to its last node.
    pub fn critical_path(&self) -> &[NodeId] {
        &self.critical_path
    }

    /// The cost of [`Plan::critical_path`]: the shortest possible makespan with unlimited workers.
    pub fn critical_path_cost(&self) -> f64 {
        self.critical_path_cost
    }

    /// The transitive reduction: the edges no other path implies, each once, sorted by
    /// the target's position in [`Plan::order`], then the source's.
    pub fn reduced_edges(&self) -> &[(NodeId, NodeId)] {
        &self.reduced_edges
    }

    /// The size of the widest wave: how many workers the plan can keep busy at once.
    pub fn max_parallelism(&self) -> usize {
        self.max_parallelism
    }

    /// The number of nodes planned.
    pub fn node_count(&self) -> usize {
        self.order.len()
    }
}

/// Iterator over a plan's execution waves, each a slice of node ids.
#[derive(Debug, Clone)]
pub struct Levels<'a> {
    nodes: &'a [NodeId],
    offsets: &'a [u32],
    next: usize,
}

impl<'a> Iterator for Levels<'a> {
    type Item = &'a [NodeId];

    fn next(&mut self) -> Option<Self::Item> {
        let start = *self.offsets.get(self.next)? as usize;
        let end = *self.offsets.get(self.next + 1)? as usize;
        self.next += 1;
        Some(&self.nodes[start..end])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.offsets.len() - 1).saturating_sub(self.next);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Levels<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: usize) -> NodeId {
        NodeId::new(i)
    }

    #[test]
    fn plans_a_fan_out_fan_in() {
        // 0 fans out to 1, 2, 3, which fan in to 4; 0 -> 4 is implied.
        let dag = Dag::from_edges(
            &[1.0, 2.0, 3.0, 1.0, 0.5],
            &[(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 4), (0, 4)],
        )
        .unwrap();
        let plan = Plan::build(&dag).unwrap();
        assert_eq!(plan.order(), &[id(0), id(1), id(2), id(3), id(4)]);
        let waves: Vec<&[NodeId]> = plan.levels().collect();
        assert_eq!(waves, vec![&[id(0)][..], &[id(1), id(2), id(3)], &[id(4)]]);
        assert_eq!(plan.levels().len(), 3);
        assert_eq!(plan.level_count(), 3);
        assert_eq!(plan.level(1), Some(&[id(1), id(2), id(3)][..]));
        assert_eq!(plan.level(3), None);
        assert_eq!(plan.level_of(id(4)), Some(2));
        assert_eq!(plan.level_of(id(9)), None);
        assert_eq!(plan.critical_path(), &[id(0), id(2), id(4)]);
        assert_eq!(plan.critical_path_cost(), 4.5);
        assert_eq!(plan.max_parallelism(), 3);
        assert_eq!(plan.reduced_edges().len(), 6);
        assert!(!plan.reduced_edges().contains(&(id(0), id(4))));
    }

    #[test]
    fn empty_graph_gives_an_empty_plan() {
        let plan = Plan::build(&Dag::new()).unwrap();
        assert!(plan.order().is_empty());
        assert_eq!(plan.levels().count(), 0);
        assert_eq!(plan.level_count(), 0);
        assert!(plan.critical_path().is_empty());
        assert_eq!(plan.critical_path_cost(), 0.0);
        assert!(plan.reduced_edges().is_empty());
        assert_eq!(plan.max_parallelism(), 0);
        assert_eq!(plan.node_count(), 0);
    }

    #[test]
    fn bad_cost_is_reported_before_a_cycle() {
        let dag = Dag::from_edges(&[1.0, f64::NAN], &[(0, 1), (1, 0)]).unwrap();
        assert!(matches!(
            Plan::build(&dag),
            Err(PlanError::InvalidCost { .. })
        ));
    }
}
