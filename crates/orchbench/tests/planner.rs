//! The planner against reference implementations (property tests over random graphs),
//! against NetworkX (committed fixtures written by `scripts/compare_networkx.py`), and
//! on bad input (cycles, missing nodes, bad costs): every input gives a plan or a
//! typed error, never a panic.

use std::collections::BTreeSet;

use orchbench::planner::stages::Topology;
use orchbench::planner::{Dag, NodeId, Plan, PlanCache, PlanError};
use orchbench::workload::{self, DagKind};
use proptest::prelude::*;
use serde::Deserialize;

use crate::util;

/// Costs with many ties (0 and 1 repeat) so tie-breaking paths get exercised.
fn cost() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..10.0f64]
}

/// A random DAG: edges go forward in a hidden random order, parallel edges included.
fn dag_input(max_nodes: usize) -> impl Strategy<Value = (Vec<f64>, Vec<(usize, usize)>)> {
    (0..=max_nodes).prop_flat_map(|n| {
        let hidden = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
        let pairs = prop::collection::vec((0..n.max(1), 0..n.max(1)), 0..=n * 3);
        (prop::collection::vec(cost(), n), hidden, pairs).prop_map(|(costs, hidden, pairs)| {
            let edges = pairs
                .into_iter()
                .filter(|(a, b)| a != b)
                .map(|(a, b)| (hidden[a.min(b)], hidden[a.max(b)]))
                .collect();
            (costs, edges)
        })
    })
}

/// Any directed graph: self-loops, cycles and parallel edges allowed.
fn any_graph(max_nodes: usize) -> impl Strategy<Value = (Vec<f64>, Vec<(usize, usize)>)> {
    (1..=max_nodes).prop_flat_map(|n| {
        (
            prop::collection::vec(cost(), n),
            prop::collection::vec((0..n, 0..n), 0..=n * 3),
        )
    })
}

fn index_edges(edges: &[(NodeId, NodeId)]) -> Vec<(usize, usize)> {
    edges.iter().map(|(a, b)| (a.index(), b.index())).collect()
}

/// Checks a cycle report: distinct nodes, each with an edge to the next, the last to the first.
fn assert_actual_cycle(nodes: &[NodeId], edges: &[(usize, usize)]) {
    assert!(!nodes.is_empty(), "a cycle names at least one node");
    let ids: Vec<usize> = nodes.iter().map(|n| n.index()).collect();
    let distinct: BTreeSet<usize> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "cycle nodes repeat: {ids:?}");
    for i in 0..ids.len() {
        let (a, b) = (ids[i], ids[(i + 1) % ids.len()]);
        assert!(
            edges.contains(&(a, b)),
            "cycle {ids:?} uses missing edge {a} -> {b}"
        );
    }
}

/// Checks every documented property of a plan against the reference implementations.
fn assert_plan_is_correct(costs: &[f64], edges: &[(usize, usize)], plan: &Plan) {
    let n = costs.len();
    // order: a permutation in which every edge goes forward.
    let mut position = vec![usize::MAX; n];
    for (i, node) in plan.order().iter().enumerate() {
        assert_eq!(
            position[node.index()],
            usize::MAX,
            "node {} twice in order",
            node.index()
        );
        position[node.index()] = i;
    }
    assert_eq!(plan.order().len(), n);
    for &(a, b) in edges {
        assert!(
            position[a] < position[b],
            "edge {a} -> {b} goes backwards in the order"
        );
    }

    // levels: a partition into waves equal to the longest-edge-path layer.
    let expected = util::reference_levels(n, edges);
    let mut seen = 0;
    for (k, wave) in plan.levels().enumerate() {
        assert!(!wave.is_empty(), "wave {k} is empty");
        for node in wave {
            assert_eq!(
                expected[node.index()],
                k,
                "node {} in wave {k}",
                node.index()
            );
            assert_eq!(plan.level_of(*node), Some(k));
        }
        seen += wave.len();
    }
    assert_eq!(seen, n, "waves must hold every node once");
    let widest = plan.levels().map(<[NodeId]>::len).max().unwrap_or(0);
    assert_eq!(plan.max_parallelism(), widest);

    // critical path: an actual path whose cost is the brute-force maximum.
    let best = util::brute_force_max_path_cost(costs, edges);
    assert_eq!(plan.critical_path_cost(), best);
    let path: Vec<usize> = plan.critical_path().iter().map(|n| n.index()).collect();
    assert_eq!(path.is_empty(), n == 0);
    for pair in path.windows(2) {
        assert!(
            edges.contains(&(pair[0], pair[1])),
            "critical path uses a missing edge {pair:?}"
        );
    }
    let sum = path.iter().fold(0.0, |acc, &v| acc + costs[v]);
    assert_eq!(
        sum,
        plan.critical_path_cost(),
        "path {path:?} does not add up"
    );

    // reduction: original edges, no duplicates, the same reachability, and minimal.
    let reduced = index_edges(plan.reduced_edges());
    let unique: BTreeSet<(usize, usize)> = reduced.iter().copied().collect();
    assert_eq!(unique.len(), reduced.len(), "duplicate reduced edges");
    assert!(
        reduced.iter().all(|e| edges.contains(e)),
        "a reduced edge is not an original edge"
    );
    let reach = util::reachability(n, edges);
    assert_eq!(
        util::reachability(n, &reduced),
        reach,
        "reduction changed reachability"
    );
    for skip in 0..reduced.len() {
        let mut fewer = reduced.clone();
        fewer.remove(skip);
        assert_ne!(
            util::reachability(n, &fewer),
            reach,
            "edge {:?} is redundant but was kept",
            reduced[skip]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn plans_match_the_reference((costs, edges) in dag_input(12)) {
        let dag = Dag::from_edges(&costs, &edges).unwrap();
        let plan = Plan::build(&dag).unwrap();
        assert_plan_is_correct(&costs, &edges, &plan);
    }

    #[test]
    fn larger_plans_keep_order_levels_and_reachability((costs, edges) in dag_input(150)) {
        // Too large for path enumeration and the minimality loop; the rest still holds.
        let n = costs.len();
        let plan = Plan::build(&Dag::from_edges(&costs, &edges).unwrap()).unwrap();
        let expected = util::reference_levels(n, &edges);
        for node in plan.order() {
            prop_assert_eq!(plan.level_of(*node), Some(expected[node.index()]));
        }
        let reduced = index_edges(plan.reduced_edges());
        prop_assert_eq!(util::reachability(n, &reduced), util::reachability(n, &edges));
    }

    #[test]
    fn every_reduction_budget_agrees((costs, edges) in dag_input(200), budget in 0usize..4096) {
        let topo = Topology::new(&Dag::from_edges(&costs, &edges).unwrap()).unwrap();
        let sorted = topo.toposort().unwrap();
        let ranked = sorted.rank();
        prop_assert_eq!(ranked.transitive_reduction_with_budget(budget), ranked.transitive_reduction());
    }

    #[test]
    fn any_graph_plans_or_names_a_real_cycle((costs, edges) in any_graph(12)) {
        let dag = Dag::from_edges(&costs, &edges).unwrap();
        match Plan::build(&dag) {
            Ok(plan) => {
                prop_assert!(util::is_acyclic(costs.len(), &edges));
                assert_plan_is_correct(&costs, &edges, &plan);
            }
            Err(PlanError::Cycle { nodes }) => {
                prop_assert!(!util::is_acyclic(costs.len(), &edges));
                assert_actual_cycle(&nodes, &edges);
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn no_input_panics(
        costs in prop::collection::vec(any::<f64>(), 0..20),
        edges in prop::collection::vec((0usize..25, 0usize..25), 0..40),
    ) {
        // Arbitrary costs (NaN, infinities, negatives) and edges past the last node.
        match Dag::from_edges(&costs, &edges) {
            Err(PlanError::MissingNode { missing, node_count, .. }) => {
                prop_assert!(missing >= node_count);
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
            Ok(dag) => match Plan::build(&dag) {
                Err(PlanError::InvalidCost { node, cost }) => {
                    prop_assert!(!(cost >= 0.0 && cost.is_finite()));
                    prop_assert_eq!(costs[node.index()].to_bits(), cost.to_bits());
                }
                Err(PlanError::Cycle { nodes }) => assert_actual_cycle(&nodes, &edges),
                Err(other) => prop_assert!(false, "unexpected error {other}"),
                Ok(plan) => prop_assert_eq!(plan.node_count(), costs.len()),
            },
        }
    }

    #[test]
    fn cache_returns_the_plan_a_fresh_build_gives((costs, edges) in dag_input(40)) {
        let dag = Dag::from_edges(&costs, &edges).unwrap();
        let cache = PlanCache::new(4);
        let first = cache.get_or_build(&dag).unwrap();
        let second = cache.get_or_build(&dag).unwrap();
        let fresh = Plan::build(&dag).unwrap();
        prop_assert_eq!(&*first, &fresh);
        prop_assert!(std::sync::Arc::ptr_eq(&first, &second));
    }
}

#[test]
fn generated_workloads_plan_correctly() {
    for kind in DagKind::ALL {
        let list = workload::generate(kind, 60, 11);
        let plan = Plan::build(&list.to_dag().unwrap()).unwrap();
        assert_plan_is_correct(&list.costs, &list.edges, &plan);
    }
}

#[test]
fn large_graph_reduction_keeps_reachability() {
    // 700 nodes: big enough for several bitset words per row and, with a 4 KiB budget,
    // many column blocks.
    let list = workload::generate(DagKind::RandomForward, 700, 3);
    let plan = Plan::build(&list.to_dag().unwrap()).unwrap();
    let reduced = index_edges(plan.reduced_edges());
    assert_eq!(
        util::reachability(700, &reduced),
        util::reachability(700, &list.edges)
    );
    let topo = Topology::new(&list.to_dag().unwrap()).unwrap();
    let sorted = topo.toposort().unwrap();
    let ranked = sorted.rank();
    let blocked: Vec<(usize, usize)> = ranked
        .transitive_reduction_with_budget(4096)
        .into_iter()
        .map(|(a, b)| (a as usize, b as usize))
        .collect();
    assert_eq!(blocked, reduced);
}

#[test]
fn cycle_error_message_names_the_cycle() {
    let dag = Dag::from_edges(&[1.0; 4], &[(0, 1), (1, 2), (2, 3), (3, 1)]).unwrap();
    let err = Plan::build(&dag).unwrap_err();
    assert_eq!(err.to_string(), "the graph has a cycle: 1 -> 2 -> 3 -> 1");
}

#[test]
fn bad_cost_message_names_node_and_value() {
    let dag = Dag::from_edges(&[1.0, -2.5], &[(0, 1)]).unwrap();
    let err = Plan::build(&dag).unwrap_err();
    assert_eq!(
        err.to_string(),
        "node 1 has cost -2.5; a cost must be finite and >= 0"
    );
}

#[test]
fn missing_node_message_names_edge_and_count() {
    let err = Dag::from_edges(&[1.0, 1.0], &[(0, 2)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "edge 0 -> 2 names node 2, but the graph has 2 nodes (ids 0..2)"
    );
}

/// A fixture written by `scripts/compare_networkx.py --write-fixtures`.
#[derive(Deserialize)]
struct Fixture {
    graph: workload::EdgeList,
    networkx: NetworkxAnswers,
}

#[derive(Deserialize)]
struct NetworkxAnswers {
    version: String,
    generations: Vec<Vec<usize>>,
    longest_path_cost: f64,
    reduced_edges: Vec<(usize, usize)>,
}

#[test]
fn agrees_with_networkx_on_committed_fixtures() {
    let dir = util::fixtures_dir().join("planner");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let fixture: Fixture = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not a fixture: {e}", path.display()));
        let name = &fixture.graph.name;
        let nx = &fixture.networkx;
        let plan = Plan::build(&fixture.graph.to_dag().unwrap()).unwrap();

        let ours: Vec<Vec<usize>> = plan
            .levels()
            .map(|wave| {
                let mut ids: Vec<usize> = wave.iter().map(|n| n.index()).collect();
                ids.sort_unstable();
                ids
            })
            .collect();
        assert_eq!(
            ours, nx.generations,
            "{name}: waves differ from NetworkX {}",
            nx.version
        );

        // NetworkX sums edge weights in its own order; allow for rounding differences.
        let cost = plan.critical_path_cost();
        let tolerance = 1e-9 * nx.longest_path_cost.abs().max(1.0);
        assert!(
            (cost - nx.longest_path_cost).abs() <= tolerance,
            "{name}: critical path {cost} vs NetworkX {}",
            nx.longest_path_cost
        );

        let mut reduced = index_edges(plan.reduced_edges());
        reduced.sort_unstable();
        assert_eq!(
            reduced, nx.reduced_edges,
            "{name}: reduction differs from NetworkX"
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "expected at least three fixtures in {}, found {checked}",
        dir.display()
    );
}
