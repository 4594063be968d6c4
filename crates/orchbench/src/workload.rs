//! Deterministic workload generators shared by the benches, the tests and the tools, so
//! that every consumer measures exactly the same inputs: DAG shapes with seeded costs
//! and the JSON edge-list format the comparison scripts read. Nothing here measures,
//! runs or configures anything: the bench profile lives with the benches, the runtime
//! with the scheduler.
//!
//! The generators draw from [`SplitMix64`], a fixed, published algorithm (Steele, Lea,
//! Flood 2014; `rand_xoshiro`'s implementation, checked against the reference values
//! below) rather than `rand`'s `StdRng`, because a committed baseline compares runs
//! months apart: the graph behind `graph_planning/plan/1000` must stay bit-identical
//! across dependency upgrades, and `rand` does not promise value stability for `StdRng`.

use std::fmt;
use std::str::FromStr;

use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::planner::{Dag, PlanError};

/// The seed every bench and committed fixture uses unless it says otherwise.
pub const DEFAULT_SEED: u64 = 42;

/// The mean edge count per node of [`DagKind::RandomForward`] graphs.
pub const RANDOM_FORWARD_DEGREE: usize = 5;

/// The width of the parallel layers of [`DagKind::Layered`] graphs.
pub const LAYERED_WIDTH: usize = 50;

/// SplitMix64: a tiny, fast generator with a fixed output sequence for a seed, used so
/// generated workloads never change between versions; adds the draws the generators
/// need (unbiased bounded integers, unit floats, shuffles).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    inner: rand_xoshiro::SplitMix64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 {
            inner: rand_xoshiro::SplitMix64::seed_from_u64(seed),
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// A uniform integer in `0..bound` (Lemire's unbiased multiply-shift); `bound` must be > 0.
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "SplitMix64::below needs a bound > 0");
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let wide = u128::from(self.next_u64()) * u128::from(bound);
            if (wide as u64) >= threshold {
                return (wide >> 64) as u64;
            }
        }
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// A generated graph in the JSON form the scripts and fixtures use:
/// `{"name": …, "costs": [f64; n], "edges": [[from, to], …]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeList {
    /// What the graph is, e.g. `random_forward-1000-seed42`.
    pub name: String,
    /// Node costs in seconds; node `i` has `costs[i]`.
    pub costs: Vec<f64>,
    /// Edges `(from, to)`: `to` depends on `from`.
    pub edges: Vec<(usize, usize)>,
}

impl EdgeList {
    /// Builds the planner's [`Dag`] from this edge list.
    pub fn to_dag(&self) -> Result<Dag, PlanError> {
        Dag::from_edges(&self.costs, &self.edges)
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.costs.len()
    }
}

/// The DAG shapes the generators produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DagKind {
    /// Each node has edges to up to [`RANDOM_FORWARD_DEGREE`] distinct nodes drawn
    /// uniformly from those after it in a hidden random order; ids are shuffled so that
    /// id order is not a topological order.
    RandomForward,
    /// Map-reduce stages: a split node fans out to a layer of [`LAYERED_WIDTH`] nodes,
    /// each node of a second layer depends on two random nodes of the first, and the
    /// second layer fans in to a join node that splits the next stage. Ids are shuffled.
    Layered,
    /// A single chain `0 -> 1 -> … -> n-1`: no parallelism at all.
    Chain,
    /// `n` independent nodes: all parallelism, no edges.
    Wide,
}

impl DagKind {
    /// Every kind, in a fixed order.
    pub const ALL: [DagKind; 4] = [
        DagKind::RandomForward,
        DagKind::Layered,
        DagKind::Chain,
        DagKind::Wide,
    ];

    /// The kind's name as used on command lines and in graph names.
    pub fn name(self) -> &'static str {
        match self {
            DagKind::RandomForward => "random_forward",
            DagKind::Layered => "layered",
            DagKind::Chain => "chain",
            DagKind::Wide => "wide",
        }
    }
}

impl fmt::Display for DagKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DagKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DagKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = DagKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown DAG kind `{s}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// Generates a graph of `kind` with `nodes` nodes; the same arguments always give the same graph.
pub fn generate(kind: DagKind, nodes: usize, seed: u64) -> EdgeList {
    let mut rng = SplitMix64::new(seed);
    let edges = match kind {
        DagKind::RandomForward => random_forward_edges(nodes, RANDOM_FORWARD_DEGREE, &mut rng),
        DagKind::Layered => layered_edges(nodes, LAYERED_WIDTH, &mut rng),
        DagKind::Chain => (1..nodes).map(|i| (i - 1, i)).collect(),
        DagKind::Wide => Vec::new(),
    };
    EdgeList {
        name: format!("{kind}-{nodes}-seed{seed}"),
        costs: task_costs(nodes, seed),
        edges,
    }
}

/// Shorthand for the benches' main input: a [`DagKind::RandomForward`] graph as a [`Dag`].
pub fn random_forward_dag(nodes: usize, seed: u64) -> Dag {
    generate(DagKind::RandomForward, nodes, seed)
        .to_dag()
        .expect("generated edges only name existing nodes")
}

/// Node costs in seconds: exponential with mean 1 s (many short tasks, a few long ones),
/// drawn from a stream independent of the structure's.
pub fn task_costs(nodes: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed ^ 0xC057_C057_C057_C057);
    (0..nodes).map(|_| -(1.0 - rng.unit()).ln()).collect()
}

/// A random relabelling, so that node ids carry no hint of a topological order.
fn relabel(nodes: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut label: Vec<usize> = (0..nodes).collect();
    rng.shuffle(&mut label);
    label
}

fn random_forward_edges(nodes: usize, degree: usize, rng: &mut SplitMix64) -> Vec<(usize, usize)> {
    let label = relabel(nodes, rng);
    let mut edges = Vec::with_capacity(nodes * degree);
    let mut picked = Vec::with_capacity(degree);
    for rank in 0..nodes {
        let later = nodes - 1 - rank;
        picked.clear();
        if later <= degree {
            picked.extend(rank + 1..nodes);
        } else {
            while picked.len() < degree {
                let target = rank + 1 + rng.below(later as u64) as usize;
                if !picked.contains(&target) {
                    picked.push(target);
                }
            }
        }
        edges.extend(picked.iter().map(|&t| (label[rank], label[t])));
    }
    edges
}

fn layered_edges(nodes: usize, width: usize, rng: &mut SplitMix64) -> Vec<(usize, usize)> {
    // Layer sizes 1, w, w, 1, w, w, 1, … truncated to `nodes` in total.
    let width = width.max(1);
    let mut layers: Vec<std::ops::Range<usize>> = Vec::new();
    let mut next = 0;
    let mut k = 0;
    while next < nodes {
        let size = if k % 3 == 0 { 1 } else { width }.min(nodes - next);
        layers.push(next..next + size);
        next += size;
        k += 1;
    }
    let label = relabel(nodes, rng);
    let mut edges = Vec::new();
    for pair in layers.windows(2) {
        let (prev, cur) = (pair[0].clone(), pair[1].clone());
        if prev.len() == 1 || cur.len() == 1 {
            // Fan-out from a split node, or fan-in to a join node.
            for a in prev.clone() {
                for b in cur.clone() {
                    edges.push((label[a], label[b]));
                }
            }
        } else {
            // Each node depends on two distinct random nodes of the layer before.
            for b in cur {
                let first = prev.start + rng.below(prev.len() as u64) as usize;
                edges.push((label[first], label[b]));
                let mut second = prev.start + rng.below(prev.len() as u64) as usize;
                while second == first {
                    second = prev.start + rng.below(prev.len() as u64) as usize;
                }
                edges.push((label[second], label[b]));
            }
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::Plan;

    #[test]
    fn generators_are_deterministic() {
        for kind in DagKind::ALL {
            assert_eq!(generate(kind, 300, 7), generate(kind, 300, 7), "{kind}");
        }
        assert_ne!(
            generate(DagKind::RandomForward, 300, 7),
            generate(DagKind::RandomForward, 300, 8)
        );
    }

    #[test]
    fn splitmix_sequence_is_pinned() {
        // The published SplitMix64 reference values for seed 1234567; if these change,
        // every committed baseline and fixture would silently measure another graph.
        let mut rng = SplitMix64::new(1234567);
        let first: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            first,
            vec![
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
    }

    #[test]
    fn shapes_have_their_documented_structure() {
        let random = generate(DagKind::RandomForward, 1000, DEFAULT_SEED);
        let mean_degree = random.edges.len() as f64 / 1000.0;
        assert!((4.9..=5.0).contains(&mean_degree), "{mean_degree}");
        let plan = Plan::build(&random.to_dag().unwrap()).unwrap();
        assert_eq!(plan.node_count(), 1000);
        // Ids are shuffled: the identity is not a topological order.
        assert!(random.edges.iter().any(|&(a, b)| a > b));

        let layered = Plan::build(&generate(DagKind::Layered, 1000, 1).to_dag().unwrap()).unwrap();
        assert_eq!(layered.max_parallelism(), LAYERED_WIDTH);

        let chain = Plan::build(&generate(DagKind::Chain, 100, 1).to_dag().unwrap()).unwrap();
        assert_eq!((chain.level_count(), chain.max_parallelism()), (100, 1));

        let wide = Plan::build(&generate(DagKind::Wide, 100, 1).to_dag().unwrap()).unwrap();
        assert_eq!((wide.level_count(), wide.max_parallelism()), (1, 100));
    }

    #[test]
    fn costs_are_positive_with_mean_near_one() {
        let costs = task_costs(20_000, DEFAULT_SEED);
        assert!(costs.iter().all(|&c| c >= 0.0 && c.is_finite()));
        let mean = costs.iter().sum::<f64>() / costs.len() as f64;
        assert!((0.97..1.03).contains(&mean), "{mean}");
    }

    #[test]
    fn below_is_in_range_and_kind_parses() {
        let mut rng = SplitMix64::new(3);
        assert!((0..10_000).all(|_| rng.below(7) < 7));
        assert_eq!("layered".parse::<DagKind>(), Ok(DagKind::Layered));
        let err = "tree".parse::<DagKind>().unwrap_err();
        assert!(
            err.contains("`tree`") && err.contains("random_forward"),
            "{err}"
        );
    }

    #[test]
    fn edge_list_round_trips_through_json() {
        let list = generate(DagKind::Layered, 120, 5);
        let json = serde_json::to_string(&list).unwrap();
        let back: EdgeList = serde_json::from_str(&json).unwrap();
        assert_eq!(back, list);
    }
}
