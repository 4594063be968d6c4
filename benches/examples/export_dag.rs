//! Writes a generated workload graph as a JSON edge list (the format of
//! `orchbench::workload::EdgeList`), optionally with orchbench's plan of it, so that
//! other tools — `scripts/compare_networkx.py` first — plan exactly the same graph.
//!
//! ```text
//! cargo run --release --example export_dag -- --kind random_forward --nodes 1000 \
//!     --seed 42 --with-plan --out target/networkx/random_forward-1000.json
//! ```
//! Exit codes: 0 written, 1 the graph could not be planned or the file not written,
//! 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use bench_gate::fsutil::write_atomic;
use clap::Parser;
use orchbench::planner::{NodeId, Plan};
use orchbench::workload::{self, DagKind, EdgeList};
use serde::Serialize;

/// Export a generated DAG as JSON.
#[derive(Parser)]
struct Args {
    /// Graph shape: random_forward, layered, chain or wide.
    #[arg(long, default_value = "random_forward")]
    kind: DagKind,
    /// Number of nodes.
    #[arg(long)]
    nodes: usize,
    /// Generator seed.
    #[arg(long, default_value_t = workload::DEFAULT_SEED)]
    seed: u64,
    /// Also write orchbench's plan of the graph under "plan".
    #[arg(long)]
    with_plan: bool,
    /// Output file (written atomically); standard output when absent.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Serialize)]
struct Export {
    #[serde(flatten)]
    graph: EdgeList,
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<PlanSummary>,
}

#[derive(Serialize)]
struct PlanSummary {
    levels: Vec<Vec<usize>>,
    critical_path: Vec<usize>,
    critical_path_cost: f64,
    reduced_edges: Vec<(usize, usize)>,
    max_parallelism: usize,
}

fn indices(nodes: &[NodeId]) -> Vec<usize> {
    nodes.iter().map(|n| n.index()).collect()
}

fn run(args: Args) -> Result<(), String> {
    let graph = workload::generate(args.kind, args.nodes, args.seed);
    let plan = if args.with_plan {
        let dag = graph.to_dag().map_err(|e| e.to_string())?;
        let plan = Plan::build(&dag).map_err(|e| e.to_string())?;
        Some(PlanSummary {
            levels: plan.levels().map(indices).collect(),
            critical_path: indices(plan.critical_path()),
            critical_path_cost: plan.critical_path_cost(),
            reduced_edges: plan
                .reduced_edges()
                .iter()
                .map(|(a, b)| (a.index(), b.index()))
                .collect(),
            max_parallelism: plan.max_parallelism(),
        })
    } else {
        None
    };
    let json = serde_json::to_vec(&Export { graph, plan }).map_err(|e| e.to_string())?;
    match args.out {
        Some(path) => write_atomic(&path, &json).map_err(|e| e.to_string()),
        None => {
            println!("{}", String::from_utf8_lossy(&json));
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("export_dag: {message}");
            ExitCode::FAILURE
        }
    }
}
