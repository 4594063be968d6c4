//! DAG planning: turns a workflow graph (tasks with an expected cost, dependency edges)
//! into an execution plan — a topological order, execution waves, the critical path,
//! the transitive reduction and the widest wave — and caches plans of unchanged graphs.
//!
//! The graph is stored in a petgraph [`petgraph::graph::DiGraph`] (see [`Dag::graph`]),
//! so every petgraph algorithm works on it. Planning itself does not use petgraph's
//! algorithms: [`Plan::build`] compiles the graph once into compact arrays
//! ([`stages::Topology`]) and runs hand-written passes over them, because that is what
//! makes planning fast (see `docs/results.md` for the ratios against petgraph and
//! NetworkX). The passes are public in [`stages`] so that benches can time each one.
//!
//! [`Readiness`] follows one run of a planned graph: which nodes a completion makes
//! ready and which a failure skips. Not here: running the tasks (that is the
//! scheduler's job) and any I/O.

mod cache;
mod dag;
mod plan;
mod readiness;
pub mod stages;

pub use cache::{CacheStats, PlanCache};
pub use dag::{Dag, NodeId};
pub use plan::{Levels, Plan};
pub use readiness::Readiness;

/// Why a graph cannot be built or planned. Every message names the offending nodes or values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The graph has a cycle; `nodes` lists one actual cycle in edge order
    /// (each node has an edge to the next, and the last to the first).
    #[error("the graph has a cycle: {}", format_cycle(nodes))]
    Cycle {
        /// The nodes of one cycle, in edge order.
        nodes: Vec<NodeId>,
    },
    /// An edge names a node that does not exist.
    #[error(
        "edge {from} -> {to} names node {missing}, but the graph has {node_count} nodes (ids 0..{node_count})"
    )]
    MissingNode {
        /// The edge's source index.
        from: usize,
        /// The edge's target index.
        to: usize,
        /// The index that does not exist (`from` or `to`).
        missing: usize,
        /// How many nodes the graph has.
        node_count: usize,
    },
    /// A node's cost is NaN, infinite or negative.
    #[error("node {} has cost {cost}; a cost must be finite and >= 0", node.index())]
    InvalidCost {
        /// The node with the bad cost.
        node: NodeId,
        /// The rejected value.
        cost: f64,
    },
    /// More nodes than a 32-bit node index can name.
    #[error("{count} nodes is more than the planner's limit of {} (32-bit node ids)", u32::MAX - 1)]
    TooManyNodes {
        /// The number of nodes requested.
        count: usize,
    },
}

fn format_cycle(nodes: &[NodeId]) -> String {
    let mut text: Vec<String> = nodes.iter().map(|n| n.index().to_string()).collect();
    if let Some(first) = nodes.first() {
        text.push(first.index().to_string());
    }
    text.join(" -> ")
}
