//! Shared helpers for the integration tests: fixture paths and simple, obviously
//! correct reference implementations (quadratic or exponential) that the fast code is
//! checked against.

use std::path::PathBuf;

pub use orchbench_test_support::{assert_gone, wait_for_processes};

/// The directory holding committed test fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `reach[a][b]`: there is a path of one or more edges from `a` to `b`.
pub fn reachability(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<bool>> {
    let mut reach = vec![vec![false; n]; n];
    for &(a, b) in edges {
        reach[a][b] = true;
    }
    // Warshall's algorithm.
    for k in 0..n {
        let through_k = reach[k].clone();
        for row in reach.iter_mut() {
            if row[k] {
                for (cell, &via) in row.iter_mut().zip(&through_k) {
                    *cell |= via;
                }
            }
        }
    }
    reach
}

/// Whether the graph has no cycle (no node reaches itself).
pub fn is_acyclic(n: usize, edges: &[(usize, usize)]) -> bool {
    let reach = reachability(n, edges);
    (0..n).all(|v| !reach[v][v])
}

/// The level of each node: the edge count of the longest path ending at it, by plain
/// memoised recursion over predecessors. The graph must be acyclic.
pub fn reference_levels(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    fn level(v: usize, preds: &[Vec<usize>], memo: &mut [Option<usize>]) -> usize {
        if let Some(l) = memo[v] {
            return l;
        }
        let l = preds[v]
            .iter()
            .map(|&p| level(p, preds, memo) + 1)
            .max()
            .unwrap_or(0);
        memo[v] = Some(l);
        l
    }
    let mut preds = vec![Vec::new(); n];
    for &(a, b) in edges {
        preds[b].push(a);
    }
    let mut memo = vec![None; n];
    (0..n).map(|v| level(v, &preds, &mut memo)).collect()
}

/// The maximum over every path (enumerated one by one) of the sum of its node costs,
/// each sum taken from the path's first node to its last. Exponential: small graphs only.
pub fn brute_force_max_path_cost(costs: &[f64], edges: &[(usize, usize)]) -> f64 {
    fn walk(v: usize, sum: f64, costs: &[f64], succ: &[Vec<usize>], best: &mut f64) {
        let sum = sum + costs[v];
        if sum > *best {
            *best = sum;
        }
        for &s in &succ[v] {
            walk(s, sum, costs, succ, best);
        }
    }
    let mut succ = vec![Vec::new(); costs.len()];
    for &(a, b) in edges {
        if !succ[a].contains(&b) {
            succ[a].push(b);
        }
    }
    let mut best = 0.0;
    for v in 0..costs.len() {
        walk(v, 0.0, costs, &succ, &mut best);
    }
    best
}

/// Asserts that `events::connect` rejects each URL with an error containing the text
/// paired with it.
pub async fn assert_bad_bus_urls(cases: &[(&str, &str)]) {
    for &(url, expected) in cases {
        let err = orchbench::events::connect(url)
            .await
            .err()
            .unwrap_or_else(|| panic!("{url} accepted"))
            .to_string();
        assert!(err.contains(expected), "{url}: {err}");
    }
}

/// A two-thread tokio runtime (the machine's cores), timers and I/O on.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
