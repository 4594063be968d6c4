//! Wall-time benchmarks of DAG planning, for regression testing and for the comparison
//! with petgraph (measured here, in the same run) and NetworkX (`scripts/compare_networkx.py`).
//!
//! Inputs are `workload::generate` graphs (random forward DAG with ~5 edges per node
//! unless the id says otherwise, seed `DEFAULT_SEED`), built outside the timed closures.
//! Ids (`docs/benchmarks.md` lists them with what each times):
//! - `graph_planning/plan/{100,500,1000,2000,10000}`: `Plan::build`, everything included;
//! - `graph_planning/{compile,toposort,rank,levels,critical_path,transitive_reduction}/{100,1000,10000}`:
//!   one pass each, its inputs prepared outside the timing;
//! - `graph_planning/transitive_reduction_petgraph/1000` and `toposort_petgraph/{1000,10000}`:
//!   petgraph's stock algorithms on the same graphs, the yardstick;
//! - `graph_planning/replan_cached/1000`: `PlanCache::get_or_build` on an unchanged graph;
//! - `graph_planning/plan_layered/1000`: `Plan::build` on the layered fan-out/fan-in shape.
//!
//! Quick mode (CI): `ORCHBENCH_QUICK=1 cargo bench --bench graph_planning`, or Criterion's `--quick`.

use std::hint::black_box;

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use orchbench::planner::stages::Topology;
use orchbench::planner::{Dag, Plan, PlanCache};
use orchbench::workload::{self, DEFAULT_SEED, DagKind};
use petgraph::algo::tred::{dag_to_toposorted_adjacency_list, dag_transitive_reduction_closure};
use petgraph::graph::NodeIndex;

const PLAN_SIZES: [usize; 5] = [100, 500, 1000, 2000, 10_000];
const STAGE_SIZES: [usize; 3] = [100, 1000, 10_000];

/// Slow benches (milliseconds per iteration) take the same iteration count per sample,
/// so the sample count fits the measurement time; fast ones keep linear sampling.
fn prepare(group: &mut BenchmarkGroup<'_, WallTime>, nodes: usize) {
    group.throughput(Throughput::Elements(nodes as u64));
    let mode = if nodes >= 10_000 {
        SamplingMode::Flat
    } else {
        SamplingMode::Auto
    };
    group.sampling_mode(mode);
}

fn dag(nodes: usize) -> Dag {
    workload::random_forward_dag(nodes, DEFAULT_SEED)
}

fn bench_plan(group: &mut BenchmarkGroup<'_, WallTime>) {
    for nodes in PLAN_SIZES {
        let dag = dag(nodes);
        prepare(group, nodes);
        group.bench_with_input(BenchmarkId::new("plan", nodes), &dag, |b, dag| {
            b.iter(|| Plan::build(dag).expect("generated graphs are acyclic"))
        });
    }
    let layered = workload::generate(DagKind::Layered, 1000, DEFAULT_SEED)
        .to_dag()
        .expect("generated edges name existing nodes");
    prepare(group, 1000);
    group.bench_with_input(
        BenchmarkId::new("plan_layered", 1000),
        &layered,
        |b, dag| b.iter(|| Plan::build(dag).expect("generated graphs are acyclic")),
    );
}

fn bench_stages(group: &mut BenchmarkGroup<'_, WallTime>) {
    for nodes in STAGE_SIZES {
        let dag = dag(nodes);
        let topo = Topology::new(&dag).expect("generated costs are valid");
        let sorted = topo.toposort().expect("generated graphs are acyclic");
        let ranked = sorted.rank();
        prepare(group, nodes);
        group.bench_with_input(BenchmarkId::new("compile", nodes), &dag, |b, dag| {
            b.iter(|| Topology::new(dag).expect("generated costs are valid"))
        });
        group.bench_with_input(BenchmarkId::new("toposort", nodes), &topo, |b, topo| {
            b.iter(|| topo.toposort().expect("generated graphs are acyclic"))
        });
        group.bench_with_input(BenchmarkId::new("rank", nodes), &sorted, |b, sorted| {
            b.iter(|| sorted.rank())
        });
        group.bench_with_input(BenchmarkId::new("levels", nodes), &ranked, |b, ranked| {
            b.iter(|| ranked.levels())
        });
        group.bench_with_input(BenchmarkId::new("critical_path", nodes), &ranked, |b, r| {
            b.iter(|| r.critical_path())
        });
        group.bench_with_input(
            BenchmarkId::new("transitive_reduction", nodes),
            &ranked,
            |b, ranked| b.iter(|| ranked.transitive_reduction()),
        );
    }
}

fn bench_petgraph(group: &mut BenchmarkGroup<'_, WallTime>) {
    for nodes in [1000, 10_000] {
        let dag = dag(nodes);
        prepare(group, nodes);
        group.bench_with_input(
            BenchmarkId::new("toposort_petgraph", nodes),
            dag.graph(),
            |b, graph| b.iter(|| petgraph::algo::toposort(graph, None).expect("acyclic")),
        );
    }
    // petgraph's reduction needs a toposorted adjacency list; building it is part of
    // using the stock algorithm, as our reduction's cost includes its own index build.
    let dag = dag(1000);
    let order: Vec<NodeIndex<u32>> = petgraph::algo::toposort(dag.graph(), None).expect("acyclic");
    prepare(group, 1000);
    group.bench_with_input(
        BenchmarkId::new("transitive_reduction_petgraph", 1000),
        &(dag.graph(), order),
        |b, (graph, order)| {
            b.iter(|| {
                let (list, _) = dag_to_toposorted_adjacency_list::<_, u32>(*graph, order);
                dag_transitive_reduction_closure(&list)
            })
        },
    );
}

fn bench_cache(group: &mut BenchmarkGroup<'_, WallTime>) {
    let dag = dag(1000);
    let cache = PlanCache::default();
    cache
        .get_or_build(&dag)
        .expect("generated graphs are acyclic");
    prepare(group, 1000);
    group.bench_with_input(BenchmarkId::new("replan_cached", 1000), &dag, |b, dag| {
        b.iter(|| cache.get_or_build(black_box(dag)).expect("cached"))
    });
}

fn graph_planning(c: &mut Criterion) {
    let mut group = c.benchmark_group("graph_planning");
    bench_plan(&mut group);
    bench_stages(&mut group);
    bench_petgraph(&mut group);
    bench_cache(&mut group);
    group.finish();
}

criterion_group! {
    name = benches;
    config = orchbench_benches::config();
    targets = graph_planning
}
criterion_main!(benches);
