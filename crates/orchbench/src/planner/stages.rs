//! The planning passes, each public so that benches can time it alone:
//! [`Topology::new`] compiles a [`Dag`] into compact successor arrays (CSR) and checks
//! costs; [`Topology::toposort`] (Kahn) yields a [`Sorted`] graph or a cycle;
//! [`Sorted::rank`] relabels the graph by topological rank ([`Ranked`]); on that,
//! [`Ranked::levels`], [`Ranked::critical_path`] and [`Ranked::transitive_reduction`]
//! each run one pass. [`super::Plan::build`] is exactly this sequence.
//!
//! Why the relabelling: in id order a pass in topological order jumps around its
//! per-node arrays, and from about 10 000 nodes on those arrays outgrow the L1 cache, so
//! every jump waits for L2 and time grows faster than the graph. In rank order each
//! pass reads its nodes front to back; only the writes to successors jump (forward).
//!
//! Node ids here are plain `u32` indices (the [`Dag`]'s `NodeId::index()`); the typed
//! results live in [`super::Plan`]. A [`Sorted`] can only come from `toposort` on its own
//! topology and a [`Ranked`] only from its `Sorted`, so no pass sees an order that does
//! not belong to its graph.

use std::cell::Cell;

use super::{Dag, NodeId, PlanError};

/// The transitive reduction's default memory budget for its reachability bitsets.
///
/// Graphs up to about 46 000 nodes are reduced in one pass within it; larger ones are
/// reduced in column blocks that each fit (more passes, same result), so no graph makes
/// the planner allocate more than this for bitsets.
pub const DEFAULT_REDUCTION_BUDGET_BYTES: usize = 256 << 20;

/// The most reachability-row memory a thread keeps from one reduction to the next (graphs
/// up to about 2 900 nodes). Freed after every plan, the rows made glibc hand the heap's
/// top back to the system and fault it in again on the next plan, at sizes that follow
/// glibc's trim heuristics rather than the graph (docs/results.md).
const KEPT_ROWS_BYTES: usize = 1 << 20;

thread_local! {
    /// This thread's rows from its last reduction, when they fit [`KEPT_ROWS_BYTES`].
    static KEPT_ROWS: Cell<Vec<u64>> = const { Cell::new(Vec::new()) };
}

/// A [`Dag`] compiled for planning: validated costs and successor lists in CSR form.
#[derive(Debug, Clone)]
pub struct Topology {
    costs: Vec<f64>,
    /// `targets[offsets[u]..offsets[u + 1]]` are the successors of `u`, in edge insertion order.
    offsets: Vec<u32>,
    targets: Vec<u32>,
    indegree: Vec<u32>,
}

impl Topology {
    /// Compiles `dag`; fails with [`PlanError::InvalidCost`] on a NaN, infinite or negative cost.
    pub fn new(dag: &Dag) -> Result<Topology, PlanError> {
        let graph = dag.graph();
        let n = graph.node_count();
        let mut costs = Vec::with_capacity(n);
        for (index, node) in graph.raw_nodes().iter().enumerate() {
            let cost = node.weight;
            // NaN fails both tests.
            let valid = cost.is_finite() && cost >= 0.0;
            if !valid {
                return Err(PlanError::InvalidCost {
                    node: NodeId::new(index),
                    cost,
                });
            }
            costs.push(cost);
        }
        let edges = graph.raw_edges();
        let mut offsets = vec![0u32; n + 1];
        let mut indegree = vec![0u32; n];
        for edge in edges {
            offsets[edge.source().index() + 1] += 1;
            indegree[edge.target().index()] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut cursor = offsets.clone();
        let mut targets = vec![0u32; edges.len()];
        for edge in edges {
            let slot = &mut cursor[edge.source().index()];
            targets[*slot as usize] = edge.target().index() as u32;
            *slot += 1;
        }
        Ok(Topology {
            costs,
            offsets,
            targets,
            indegree,
        })
    }

    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.costs.len()
    }

    /// The number of edges, parallel edges counted separately.
    pub fn edge_count(&self) -> usize {
        self.targets.len()
    }

    /// Each node's number of predecessors, parallel edges counted separately.
    pub fn indegrees(&self) -> &[u32] {
        &self.indegree
    }

    /// The successors of `node`, in edge insertion order.
    #[inline]
    pub fn successors(&self, node: u32) -> &[u32] {
        let u = node as usize;
        &self.targets[self.offsets[u] as usize..self.offsets[u + 1] as usize]
    }

    /// Hints the CPU to load the successor list of `node`; see [`prefetch`].
    #[inline(always)]
    fn prefetch_successors(&self, node: u32) {
        let start = self.offsets[node as usize] as usize;
        if let Some(first) = self.targets.get(start) {
            prefetch(first);
        }
    }

    /// The node costs, by node index.
    pub fn costs(&self) -> &[f64] {
        &self.costs
    }

    /// Sorts the graph topologically (Kahn's algorithm, FIFO, sources in id order), or
    /// returns [`PlanError::Cycle`] naming the nodes of one actual cycle.
    pub fn toposort(&self) -> Result<Sorted<'_>, PlanError> {
        let n = self.node_count();
        let mut remaining = self.indegree.clone();
        // The queue is the output: `order[..head]` is processed, `order[head..tail]` is
        // ready. A pre-sized buffer instead of `Vec::push` keeps the capacity check
        // (and its reallocation path) out of the inner loop. Sources are found without
        // a branch: every id is written and `tail` advances only for a source; which
        // ids are sources is data-dependent, and a branch on it mispredicts. The spare
        // slot takes the write after the last node.
        let mut order = vec![0u32; n + 1];
        let mut tail = 0;
        for (v, &count) in remaining.iter().enumerate() {
            order[tail] = v as u32;
            tail += usize::from(count == 0);
        }
        let mut head = 0;
        while head < tail {
            let u = order[head];
            if let Some(&ahead) = order[..tail].get(head + TARGETS_AHEAD) {
                self.prefetch_successors(ahead);
            }
            if let Some(&ahead) = order[..tail].get(head + OFFSETS_AHEAD) {
                prefetch(&self.offsets[ahead as usize]);
            }
            head += 1;
            for &s in self.successors(u) {
                let count = &mut remaining[s as usize];
                *count -= 1;
                if *count == 0 {
                    order[tail] = s;
                    tail += 1;
                }
            }
        }
        if tail < n {
            return Err(PlanError::Cycle {
                nodes: self.find_cycle(&remaining),
            });
        }
        order.truncate(n);
        Ok(Sorted { topo: self, order })
    }

    /// Finds one cycle among the nodes Kahn's algorithm could not emit (`remaining > 0`).
    ///
    /// Every such node has a predecessor that was not emitted either, so walking from
    /// any of them to such a predecessor must revisit a node: the walk's loop is a cycle.
    fn find_cycle(&self, remaining: &[u32]) -> Vec<NodeId> {
        const NONE: u32 = u32::MAX;
        let n = self.node_count();
        let mut stuck_pred = vec![NONE; n];
        for u in 0..n as u32 {
            if remaining[u as usize] > 0 {
                for &s in self.successors(u) {
                    if remaining[s as usize] > 0 {
                        stuck_pred[s as usize] = u;
                    }
                }
            }
        }
        let start = (0..n).find(|&v| remaining[v] > 0).map_or(0, |v| v as u32);
        let mut step_of = vec![NONE; n];
        let mut walk = Vec::new();
        let mut v = start;
        while step_of[v as usize] == NONE {
            step_of[v as usize] = walk.len() as u32;
            walk.push(v);
            v = stuck_pred[v as usize];
        }
        // The walk followed edges backwards; reverse the loop to list it in edge order.
        let mut cycle: Vec<NodeId> = walk[step_of[v as usize] as usize..]
            .iter()
            .map(|&u| NodeId::new(u as usize))
            .collect();
        cycle.reverse();
        // Start the cycle at its smallest id so the report is stable.
        if let Some(min_at) = (0..cycle.len()).min_by_key(|&i| cycle[i]) {
            cycle.rotate_left(min_at);
        }
        cycle
    }
}

/// A topology with a topological order of its nodes; the later passes run on it.
#[derive(Debug, Clone)]
pub struct Sorted<'a> {
    topo: &'a Topology,
    order: Vec<u32>,
}

/// Execution waves: `nodes[offsets[k]..offsets[k + 1]]` is wave `k`, in topological order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelTable {
    /// The wave of each node, by node index.
    pub level_of: Vec<u32>,
    /// All nodes grouped by wave.
    pub nodes: Vec<u32>,
    /// Wave boundaries in `nodes`; `offsets.len()` is the number of waves plus one.
    pub offsets: Vec<u32>,
}

impl LevelTable {
    /// The size of the widest wave (0 for an empty graph).
    pub fn max_width(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }
}

/// The maximum-cost path and its cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CriticalPath {
    /// The path's nodes from a source to its end; empty only for an empty graph.
    pub nodes: Vec<u32>,
    /// The sum of the path's node costs.
    pub cost: f64,
}

impl Sorted<'_> {
    /// The topological order (node indices).
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// The topology this order belongs to.
    pub fn topology(&self) -> &Topology {
        self.topo
    }

    /// Consumes the sorted view and returns the order.
    pub fn into_order(self) -> Vec<u32> {
        self.order
    }

    /// Relabels the graph by topological rank: rank `r` is `order()[r]`, each rank's
    /// parents are given as ranks in ascending order, and costs are listed by rank.
    ///
    /// Walking the ranks in ascending order and appending each rank to its children's
    /// parent lists yields every list already sorted, so no sort (and none of a
    /// comparison sort's data-dependent branches) is needed.
    pub fn rank(&self) -> Ranked<'_> {
        let topo = self.topo;
        let n = topo.node_count();
        let mut rank_of = vec![0u32; n];
        let mut parent_offsets = vec![0u32; n + 1];
        for (r, &u) in self.order.iter().enumerate() {
            rank_of[u as usize] = r as u32;
            parent_offsets[r + 1] = topo.indegree[u as usize];
        }
        for r in 0..n {
            parent_offsets[r + 1] += parent_offsets[r];
        }
        let mut cursor = parent_offsets[..n].to_vec();
        let mut parents = vec![0u32; topo.edge_count()];
        let mut costs = Vec::with_capacity(n);
        for (r, &u) in self.order.iter().enumerate() {
            // This is the one pass that still walks ids in topological order; the
            // order is known, so the next nodes' data is requested ahead of time.
            if let Some(&ahead) = self.order.get(r + TARGETS_AHEAD) {
                topo.prefetch_successors(ahead);
            }
            if let Some(&ahead) = self.order.get(r + OFFSETS_AHEAD) {
                prefetch(&topo.offsets[ahead as usize]);
                prefetch(&topo.costs[ahead as usize]);
            }
            costs.push(topo.costs[u as usize]);
            for &s in topo.successors(u) {
                let slot = &mut cursor[rank_of[s as usize] as usize];
                parents[*slot as usize] = r as u32;
                *slot += 1;
            }
        }
        Ranked {
            order: &self.order,
            parent_offsets,
            parents,
            costs,
        }
    }
}

/// A sorted graph relabelled by topological rank; the last three passes run on it.
///
/// The passes "pull": each rank reads what its parents (all earlier) computed, so a
/// pass reads its own nodes front to back and writes nothing out of order.
#[derive(Debug, Clone)]
pub struct Ranked<'a> {
    /// Rank to node id.
    order: &'a [u32],
    /// `parents[parent_offsets[r]..parent_offsets[r + 1]]` are the parents of rank `r`,
    /// as ranks, ascending (a parallel edge appears once per copy).
    parent_offsets: Vec<u32>,
    parents: Vec<u32>,
    /// Costs by rank.
    costs: Vec<f64>,
}

impl Ranked<'_> {
    /// The number of nodes.
    pub fn node_count(&self) -> usize {
        self.order.len()
    }

    /// The parents of rank `r`, as ranks, ascending.
    #[inline]
    pub fn parents(&self, r: usize) -> &[u32] {
        &self.parents[self.parent_offsets[r] as usize..self.parent_offsets[r + 1] as usize]
    }

    /// Execution waves: the level of a node is the number of edges on the longest path
    /// from any source to it (sources are level 0), one pass over the edges.
    pub fn levels(&self) -> LevelTable {
        let n = self.node_count();
        let mut level = vec![0u32; n]; // by rank
        let mut depth = 0u32;
        for r in 0..n {
            let mut here = 0u32;
            for &q in self.parents(r) {
                here = here.max(level[q as usize] + 1);
            }
            level[r] = here;
            depth = depth.max(here);
        }
        let waves = if n == 0 { 0 } else { depth as usize + 1 };
        let mut offsets = vec![0u32; waves + 1];
        for &l in &level {
            offsets[l as usize + 1] += 1;
        }
        for k in 0..waves {
            offsets[k + 1] += offsets[k];
        }
        let mut cursor = offsets.clone();
        let mut nodes = vec![0u32; n];
        let mut level_of = vec![0u32; n];
        for (r, &l) in level.iter().enumerate() {
            let u = self.order[r];
            level_of[u as usize] = l;
            let slot = &mut cursor[l as usize];
            nodes[*slot as usize] = u;
            *slot += 1;
        }
        LevelTable {
            level_of,
            nodes,
            offsets,
        }
    }

    /// The maximum-cost path (sum of node costs), one pass over the edges in topological
    /// order. Ties go to the lowest-ranked parent, then to the lowest-ranked end node.
    pub fn critical_path(&self) -> CriticalPath {
        const NONE: u32 = u32::MAX;
        let n = self.node_count();
        if n == 0 {
            return CriticalPath::default();
        }
        // finish[r]: the cost of the heaviest path ending at rank r; via[r]: its parent there.
        let mut finish = vec![0.0f64; n];
        let mut via = vec![NONE; n];
        let mut end = 0;
        let mut end_cost = f64::NEG_INFINITY;
        for r in 0..n {
            // Finish times are >= 0, so any parent beats -1. Selects, not branches:
            // which parent wins is data-dependent and a branch on it would mispredict.
            let mut best = -1.0f64;
            let mut best_parent = NONE;
            for &q in self.parents(r) {
                let candidate = finish[q as usize];
                let better = candidate > best;
                best = if better { candidate } else { best };
                best_parent = if better { q } else { best_parent };
            }
            let total = best.max(0.0) + self.costs[r];
            finish[r] = total;
            via[r] = best_parent;
            if total > end_cost {
                end_cost = total;
                end = r;
            }
        }
        let mut nodes = vec![self.order[end]];
        let mut r = end as u32;
        while via[r as usize] != NONE {
            r = via[r as usize];
            nodes.push(self.order[r as usize]);
        }
        nodes.reverse();
        CriticalPath {
            nodes,
            cost: end_cost,
        }
    }

    /// The transitive reduction: the edges not implied by other paths, each once
    /// (parallel edges collapse), sorted by the topological rank of target, then source.
    pub fn transitive_reduction(&self) -> Vec<(u32, u32)> {
        self.transitive_reduction_with_budget(DEFAULT_REDUCTION_BUDGET_BYTES)
    }

    /// [`Ranked::transitive_reduction`] with an explicit memory budget for the
    /// reachability bitsets; a smaller budget means more passes, never a different result.
    ///
    /// Ranks are visited first to last. For a rank `c`, its parents are taken in
    /// descending rank while `reach` accumulates the ancestors of the parents kept so
    /// far: a parent already in `reach` is an ancestor of a later parent, so its edge is
    /// implied by a path through that parent; otherwise the edge is kept and the
    /// parent's own ancestors are OR-ed in. At the end `reach` is exactly the ancestors
    /// of `c`. Bits are indexed by rank, so a row only needs the columns before its own
    /// rank. When `n × n` bits exceed the budget, the columns are processed in blocks
    /// from the right; a parent right of the block contributes only if it was kept in
    /// its own (earlier) block, which is enough because a dropped parent's ancestors
    /// are covered by a kept one.
    pub fn transitive_reduction_with_budget(&self, budget_bytes: usize) -> Vec<(u32, u32)> {
        let n = self.node_count();
        if n == 0 {
            return Vec::new();
        }
        let total_words = n.div_ceil(64);
        let block_words = (budget_bytes / 8 / n).clamp(1, total_words);
        // A kept block is cleared; a new one comes zeroed from the allocator.
        let mut rows = KEPT_ROWS.take();
        if rows.capacity() >= n * block_words {
            rows.clear();
            rows.resize(n * block_words, 0);
        } else {
            rows = vec![0u64; n * block_words];
        }
        let mut kept = vec![false; self.parents.len()];
        let blocks = total_words.div_ceil(block_words);

        for (pass, block) in (0..blocks).rev().enumerate() {
            let col_lo = block * block_words * 64;
            let col_hi = n.min(col_lo + block_words * 64);
            let words = (col_hi - col_lo).div_ceil(64);
            // One past the last word of a row that can hold a set bit in this block:
            // row `c` has bits only for ranks before `c`.
            let row_end = |c: usize| c.min(col_hi).saturating_sub(col_lo).div_ceil(64);
            // Ranks up to `col_lo` have no ancestors in this block.
            for c in col_lo + 1..n {
                let hi = row_end(c);
                let (head, tail) = rows.split_at_mut(c * block_words);
                let row = &mut tail[..words];
                if pass > 0 {
                    row[..hi].fill(0);
                }
                for slot in
                    (self.parent_offsets[c] as usize..self.parent_offsets[c + 1] as usize).rev()
                {
                    let q = self.parents[slot] as usize;
                    if q < col_lo {
                        break;
                    }
                    let to = if q >= col_hi {
                        if !kept[slot] {
                            continue;
                        }
                        hi
                    } else {
                        let bit = q - col_lo;
                        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
                        if row[word] & mask != 0 {
                            continue;
                        }
                        kept[slot] = true;
                        row[word] |= mask;
                        row_end(q)
                    };
                    // Rows before `c` live in `head`; `q < c`, so row `q` is there.
                    let parent_row = &head[q * block_words..][..words];
                    for (dst, src) in row[..to].iter_mut().zip(&parent_row[..to]) {
                        *dst |= *src;
                    }
                }
            }
        }

        if rows.capacity() * 8 <= KEPT_ROWS_BYTES {
            KEPT_ROWS.set(rows);
        }

        let mut reduced = Vec::new();
        for c in 0..n {
            let slots = self.parent_offsets[c] as usize..self.parent_offsets[c + 1] as usize;
            for (&q, &keep) in self.parents[slots.clone()].iter().zip(&kept[slots]) {
                if keep {
                    reduced.push((self.order[q as usize], self.order[c]));
                }
            }
        }
        reduced
    }
}

/// How many positions ahead the id-order passes (Kahn, ranking) prefetch successor
/// lists (whose offsets were prefetched earlier) and per-node data; tuned on the
/// 10 000-node bench graphs.
const TARGETS_AHEAD: usize = 4;
const OFFSETS_AHEAD: usize = 8;

/// Asks the CPU to start loading the cache line holding `value`.
///
/// Kahn's algorithm and the ranking pass visit nodes in topological order, which jumps
/// around the id-indexed arrays; from 10 000 nodes on those outgrow the L1 cache and
/// every jump would wait for L2. The next nodes are known ahead, so their loads are
/// issued early. A prefetch is only a hint: it reads nothing the program sees.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86_64 CPU has; it dereferences
    // nothing, and the pointer comes from a live reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (value as *const T).cast(),
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted_of(costs: &[f64], edges: &[(usize, usize)]) -> (Topology, Vec<u32>) {
        let topo = Topology::new(&Dag::from_edges(costs, edges).unwrap()).unwrap();
        let order = topo.toposort().unwrap().into_order();
        (topo, order)
    }

    #[test]
    fn diamond_with_shortcut() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3, plus the shortcut 0 -> 3 and a duplicate 0 -> 1.
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (0, 3), (0, 1)];
        let topo = Topology::new(&Dag::from_edges(&[1.0, 5.0, 2.0, 1.0], &edges).unwrap()).unwrap();
        let sorted = topo.toposort().unwrap();
        let ranked = sorted.rank();
        // Node 1 is released by the second (duplicate) edge 0 -> 1, after node 2.
        assert_eq!(sorted.order(), &[0, 2, 1, 3]);
        let levels = ranked.levels();
        assert_eq!(levels.level_of, vec![0, 1, 1, 2]);
        assert_eq!(levels.offsets, vec![0, 1, 3, 4]);
        assert_eq!(levels.max_width(), 2);
        let cp = ranked.critical_path();
        assert_eq!(cp.nodes, vec![0, 1, 3]);
        assert_eq!(cp.cost, 7.0);
        // Sorted by target rank, then source rank (order 0, 2, 1, 3); the shortcut and the
        // duplicate are gone.
        assert_eq!(
            ranked.transitive_reduction(),
            vec![(0, 2), (0, 1), (2, 3), (1, 3)]
        );
    }

    #[test]
    fn self_loop_is_a_cycle_of_one() {
        let topo =
            Topology::new(&Dag::from_edges(&[1.0, 1.0], &[(0, 1), (1, 1)]).unwrap()).unwrap();
        let err = topo.toposort().unwrap_err();
        assert_eq!(
            err,
            PlanError::Cycle {
                nodes: vec![NodeId::new(1)]
            }
        );
    }

    #[test]
    fn cycle_report_is_an_actual_cycle() {
        // 0 -> 1 -> 2 -> 3 -> 1, and 3 -> 4; the cycle is 1 -> 2 -> 3.
        let topo = Topology::new(
            &Dag::from_edges(&[1.0; 5], &[(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)]).unwrap(),
        )
        .unwrap();
        let err = topo.toposort().unwrap_err();
        let ids = [1, 2, 3].map(NodeId::new).to_vec();
        assert_eq!(err, PlanError::Cycle { nodes: ids });
        assert_eq!(err.to_string(), "the graph has a cycle: 1 -> 2 -> 3 -> 1");
    }

    #[test]
    fn invalid_costs_name_the_node() {
        for bad in [f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
            let err = Topology::new(&Dag::from_edges(&[1.0, bad], &[]).unwrap()).unwrap_err();
            assert!(matches!(err, PlanError::InvalidCost { node, .. } if node.index() == 1));
            assert!(err.to_string().starts_with("node 1 has cost"), "{err}");
        }
        // Negative zero is a valid zero cost.
        assert!(Topology::new(&Dag::from_edges(&[-0.0], &[]).unwrap()).is_ok());
    }

    #[test]
    fn empty_graph_has_empty_results() {
        let (topo, order) = sorted_of(&[], &[]);
        assert!(order.is_empty());
        let sorted = topo.toposort().unwrap();
        let ranked = sorted.rank();
        assert_eq!(
            ranked.levels(),
            LevelTable {
                offsets: vec![0],
                ..Default::default()
            }
        );
        assert_eq!(ranked.levels().max_width(), 0);
        assert_eq!(ranked.critical_path(), CriticalPath::default());
        assert!(ranked.transitive_reduction().is_empty());
    }

    #[test]
    fn every_budget_gives_the_same_reduction() {
        // A 300-node chain with every forward shortcut of length 2 and 3: the reduction
        // is the chain itself; blocks of one word force five passes.
        let n = 300;
        let mut edges = Vec::new();
        for i in 0..n {
            for step in 1..=3 {
                if i + step < n {
                    edges.push((i, i + step));
                }
            }
        }
        let (topo, _) = sorted_of(&vec![1.0; n], &edges);
        let sorted = topo.toposort().unwrap();
        let ranked = sorted.rank();
        let full = ranked.transitive_reduction();
        let chain: Vec<(u32, u32)> = (0..n as u32 - 1).map(|i| (i, i + 1)).collect();
        assert_eq!(full, chain);
        for budget in [0, 8 * n, 8 * n * 2, 8 * n * 3] {
            assert_eq!(
                ranked.transitive_reduction_with_budget(budget),
                chain,
                "budget {budget}"
            );
        }
    }
}
