//! Running a planned DAG: which nodes may start as others end. [`Readiness`] keeps, per
//! node, how many predecessors it still waits for, over the planner's [`Topology`]: a
//! node is ready when its last predecessor completes, and a failed node's descendants
//! are skipped, since none of them can ever become ready. One `Readiness` per run of
//! the DAG; the topology is shared between runs.

use std::sync::Arc;

use super::stages::Topology;

/// Where a node stands in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for predecessors, or ready and not yet ended.
    Open,
    /// Ended: completed or failed.
    Ended,
    /// Never to run: a predecessor failed (directly or further up).
    Skipped,
}

/// One run's readiness counters over a DAG's topology.
#[derive(Clone, Debug)]
pub struct Readiness {
    topology: Arc<Topology>,
    waiting: Vec<u32>,
    state: Vec<State>,
}

impl Readiness {
    /// Counters for a fresh run of `topology`'s DAG: nothing ended yet.
    pub fn new(topology: Arc<Topology>) -> Readiness {
        let n = topology.node_count();
        Readiness {
            waiting: topology.indegrees().to_vec(),
            state: vec![State::Open; n],
            topology,
        }
    }

    /// The nodes that wait for nothing, in id order.
    pub fn roots(&self) -> Vec<u32> {
        (0..self.waiting.len() as u32)
            .filter(|&u| self.waiting[u as usize] == 0)
            .collect()
    }

    /// `node` completed: the successors whose last predecessor it was, now ready, in
    /// edge order. A node that already ended (or an id out of range) releases nothing.
    pub fn complete(&mut self, node: u32) -> Vec<u32> {
        if !self.end(node) {
            return Vec::new();
        }
        let mut ready = Vec::new();
        for &s in self.topology.successors(node) {
            let w = &mut self.waiting[s as usize];
            *w -= 1;
            if *w == 0 && self.state[s as usize] == State::Open {
                ready.push(s);
            }
        }
        ready
    }

    /// `node` failed: every descendant not skipped before, now skipped (none of them
    /// can have started: each waits, directly or further up, for `node`). A node that
    /// already ended (or an id out of range) skips nothing.
    pub fn fail(&mut self, node: u32) -> Vec<u32> {
        if !self.end(node) {
            return Vec::new();
        }
        let mut skipped = Vec::new();
        let mut stack = vec![node];
        while let Some(u) = stack.pop() {
            for &s in self.topology.successors(u) {
                if self.state[s as usize] == State::Open {
                    self.state[s as usize] = State::Skipped;
                    skipped.push(s);
                    stack.push(s);
                }
            }
        }
        skipped
    }

    /// Marks `node` ended; false when it had ended or been skipped, or is out of range.
    fn end(&mut self, node: u32) -> bool {
        match self.state.get_mut(node as usize) {
            Some(s) if *s == State::Open => {
                *s = State::Ended;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::Dag;

    /// 0 → 1 → 3, 0 → 2 → 3, 3 → 4; 5 alone.
    fn diamond() -> Readiness {
        let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4)];
        let dag = Dag::from_edges(&[1.0; 6], &edges).unwrap();
        Readiness::new(Arc::new(Topology::new(&dag).unwrap()))
    }

    #[test]
    fn a_node_is_ready_when_its_last_predecessor_completes() {
        let mut r = diamond();
        assert_eq!(r.roots(), vec![0, 5]);
        assert_eq!(r.complete(0), vec![1, 2]);
        assert_eq!(r.complete(1), Vec::<u32>::new());
        assert_eq!(r.complete(2), vec![3]);
        assert_eq!(r.complete(3), vec![4]);
        assert_eq!(
            r.complete(3),
            Vec::<u32>::new(),
            "a second end releases nothing"
        );
        assert_eq!(r.complete(99), Vec::<u32>::new(), "out of range");
    }

    #[test]
    fn a_failure_skips_every_descendant_once() {
        let mut r = diamond();
        r.complete(0);
        let mut skipped = r.fail(1);
        skipped.sort_unstable();
        assert_eq!(skipped, vec![3, 4]);
        assert_eq!(
            r.complete(2),
            Vec::<u32>::new(),
            "3 waits for a failed node"
        );
        assert_eq!(r.fail(2), Vec::<u32>::new(), "already ended");
        assert_eq!(r.fail(3), Vec::<u32>::new(), "a skipped node ends nothing");
        assert_eq!(r.complete(5), Vec::<u32>::new());
    }

    #[test]
    fn completing_every_ready_node_releases_each_node_exactly_once() {
        for fan in [1, 3, 8] {
            // Each node points to up to `fan` later ones, spread by a fixed stride.
            let n = 500;
            let edges: Vec<(usize, usize)> = (0..n)
                .flat_map(|i| (0..fan).map(move |k| (i, i + 1 + (i * 31 + k * 17) % 23)))
                .filter(|&(_, j)| j < n)
                .collect();
            let dag = Dag::from_edges(&vec![1.0; n], &edges).unwrap();
            let mut r = Readiness::new(Arc::new(Topology::new(&dag).unwrap()));
            let mut ready = r.roots();
            let mut released = vec![0u32; dag.node_count()];
            while let Some(u) = ready.pop() {
                released[u as usize] += 1;
                ready.extend(r.complete(u));
            }
            assert!(released.iter().all(|&k| k == 1), "fan {fan}: {released:?}");
        }
    }
}
