#!/usr/bin/env python3
"""Side-by-side comparison of orchbench's DAG planner with NetworkX, in one run.

1. Runs the Criterion bench `graph_planning` (unless --no-bench) for the compared sizes.
2. Exports the same generated graphs with `cargo run --example export_dag --with-plan`.
3. Times NetworkX on them: topological_sort, topological_generations, dag_longest_path
   (node costs, via a super-source; see docs/results.md) and transitive_reduction.
4. Checks that both give the same waves, critical-path cost and reduced edges.
5. Prints a table of medians and ratios (NetworkX / orchbench); --markdown writes it.

Each orchbench figure is the full pipeline from a `Dag` to that answer (e.g. waves =
compile + toposort + rank + levels), so the comparison never favours us by leaving out
our index build; NetworkX's own graph object plays the role of our compiled index.

With --write-fixtures DIR it instead writes small graphs with NetworkX's answers, the
fixtures `tests/planner.rs` checks the planner against.

Exit codes: 0 done and in agreement, 1 the answers disagree, 2 the comparison could not
run (NetworkX missing, cargo failed, a Criterion result missing or unreadable).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 42
# The fixtures the Rust tests compare against: (kind, nodes, seed).
FIXTURE_GRAPHS = [("random_forward", 100, 42), ("layered", 200, 7), ("chain", 50, 1), ("wide", 30, 1)]


class CompareError(Exception):
    """The comparison could not run; the message says why."""


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(cmd: list[str], env: dict | None = None) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    if result.returncode != 0:
        raise CompareError(f"`{' '.join(cmd)}` failed with exit code {result.returncode}")


def export(kind: str, nodes: int, seed: int, out: Path, with_plan: bool) -> dict:
    cmd = ["cargo", "run", "--release", "--quiet", "--example", "export_dag", "--",
           "--kind", kind, "--nodes", str(nodes), "--seed", str(seed), "--out", str(out)]
    if with_plan:
        cmd.append("--with-plan")
    run(cmd)
    try:
        return json.loads(out.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CompareError(f"cannot read exported graph {out}: {e}") from e


def build_networkx(graph: dict):
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(len(graph["costs"])))
    g.add_edges_from(map(tuple, graph["edges"]))
    # Node-cost longest path as an edge-weight longest path: every edge into v weighs
    # cost(v), and a super-source reaches every node with that node's cost.
    weighted = nx.DiGraph()
    source = -1
    for v, c in enumerate(graph["costs"]):
        weighted.add_edge(source, v, w=c)
    for a, b in graph["edges"]:
        weighted.add_edge(a, b, w=graph["costs"][b])
    return g, weighted


def networkx_answers(graph: dict) -> dict:
    import networkx as nx

    g, weighted = build_networkx(graph)
    return {
        "version": nx.__version__,
        "generations": [sorted(gen) for gen in nx.topological_generations(g)],
        "longest_path_cost": float(nx.dag_longest_path_length(weighted, weight="w")) if len(g) else 0.0,
        "reduced_edges": sorted([a, b] for a, b in nx.transitive_reduction(g).edges()),
    }


def time_median(fn, min_total: float, max_runs: int) -> float:
    """Median seconds of `fn()`: at least 3 runs (1 if a run takes over 5 s), until
    `min_total` seconds have passed or `max_runs` runs were made."""
    times = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        if times[-1] > 5.0 or len(times) >= max_runs:
            break
        if len(times) >= 3 and elapsed >= min_total:
            break
    return statistics.median(times)


def time_networkx(graph: dict, max_tr_nodes: int, min_total: float) -> dict:
    import networkx as nx

    g, weighted = build_networkx(graph)
    out = {
        "toposort": time_median(lambda: list(nx.topological_sort(g)), min_total, 200),
        "levels": time_median(lambda: list(nx.topological_generations(g)), min_total, 200),
        "critical_path": time_median(lambda: nx.dag_longest_path(weighted, weight="w"), min_total, 200),
    }
    if len(g) <= max_tr_nodes:
        out["transitive_reduction"] = time_median(lambda: nx.transitive_reduction(g), min_total, 50)
    return out


def criterion_median(bench_id: str) -> float:
    path = ROOT / "target" / "criterion" / bench_id / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"] * 1e-9
    except (OSError, json.JSONDecodeError, KeyError) as e:
        raise CompareError(f"no Criterion result for {bench_id} at {path}: {e}") from e


def ours(nodes: int) -> dict:
    stage = {name: criterion_median(f"graph_planning/{name}/{nodes}")
             for name in ("compile", "toposort", "rank", "levels", "critical_path", "transitive_reduction")}
    base = stage["compile"] + stage["toposort"]
    ranked = base + stage["rank"]
    return {
        "toposort": base,
        "levels": ranked + stage["levels"],
        "critical_path": ranked + stage["critical_path"],
        "transitive_reduction": ranked + stage["transitive_reduction"],
        "plan": criterion_median(f"graph_planning/plan/{nodes}"),
    }


def disagreements(graph: dict, nx_answers: dict) -> list[str]:
    plan = graph["plan"]
    problems = []
    if [sorted(w) for w in plan["levels"]] != nx_answers["generations"]:
        problems.append("waves differ")
    cost, nx_cost = plan["critical_path_cost"], nx_answers["longest_path_cost"]
    if abs(cost - nx_cost) > 1e-9 * max(1.0, abs(nx_cost)):
        problems.append(f"critical path {cost} vs {nx_cost}")
    if sorted(map(list, plan["reduced_edges"])) != nx_answers["reduced_edges"]:
        problems.append("reduced edges differ")
    return problems


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import networkx as nx
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores; {rustc}; Python {platform.python_version()}, "
            f"NetworkX {nx.__version__}; {datetime.date.today().isoformat()}")


def compare(args) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    if not args.no_bench:
        env = dict(os.environ)
        if args.quick:
            env["ORCHBENCH_QUICK"] = "1"
        ids = "compile|toposort|rank|levels|critical_path|transitive_reduction|plan"
        pattern = f"^graph_planning/({ids})/({'|'.join(map(str, sizes))})$"
        run(["cargo", "bench", "--bench", "graph_planning", "--", pattern], env)

    workdir = ROOT / "target" / "networkx"
    rows, failures = [], []
    for n in sizes:
        graph = export("random_forward", n, SEED, workdir / f"random_forward-{n}.json", with_plan=True)
        problems = disagreements(graph, networkx_answers(graph)) if n <= args.max_tr_nodes else []
        if problems:
            failures.append(f"{graph['name']}: {', '.join(problems)}")
        theirs = time_networkx(graph, args.max_tr_nodes, args.min_time)
        if "transitive_reduction" in theirs:
            theirs["plan"] = sum(theirs.values())
        mine = ours(n)
        for op in ("toposort", "levels", "critical_path", "transitive_reduction", "plan"):
            t, o = theirs.get(op), mine[op]
            ratio = f"{t / o:,.0f}×" if t is not None else "—"
            rows.append((n, op, fmt_time(o), fmt_time(t), ratio))

    header = "| nodes | operation | orchbench | NetworkX | NetworkX / orchbench |\n|---:|---|---:|---:|---:|\n"
    table = header + "".join(f"| {n} | {op} | {o} | {t} | {r} |\n" for n, op, o, t, r in rows)
    agreement = ("Answers agree (waves, critical-path cost, reduced edges) on every compared graph."
                 if not failures else "DISAGREEMENT: " + "; ".join(failures))
    text = f"Machine: {machine()}\n\n{table}\n{agreement}\n"
    print(text)
    if args.markdown:
        write_atomic(Path(args.markdown), text)
    return 1 if failures else 0


def write_fixtures(directory: Path) -> int:
    graphs = []
    workdir = ROOT / "target" / "networkx"
    for kind, nodes, seed in FIXTURE_GRAPHS:
        graph = export(kind, nodes, seed, workdir / f"fixture-{kind}-{nodes}.json", with_plan=False)
        graphs.append(graph)
    # A hand-drawn case: a diamond with a shortcut edge and a parallel edge.
    graphs.append({"name": "diamond-shortcut", "costs": [1.0, 5.0, 2.0, 1.0],
                   "edges": [[0, 1], [0, 2], [1, 3], [2, 3], [0, 3], [0, 1]]})
    for graph in graphs:
        plain = {k: graph[k] for k in ("name", "costs", "edges")}
        # One line per section: small diffs, and no 3000-line files for 500 edges.
        text = (f'{{\n "graph": {json.dumps(plain)},\n'
                f' "networkx": {json.dumps(networkx_answers(graph))}\n}}\n')
        path = directory / f"{graph['name']}.json"
        write_atomic(path, text)
        print(f"wrote {path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="node counts to compare (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="run the Criterion bench in quick mode (ORCHBENCH_QUICK=1)")
    parser.add_argument("--no-bench", action="store_true", help="reuse the Criterion results already in target/criterion")
    parser.add_argument("--max-tr-nodes", type=int, default=10_000,
                        help="largest graph for NetworkX's transitive_reduction (13 s and 0.7 GB at 10 000)")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds to spend timing each NetworkX operation")
    parser.add_argument("--markdown", help="also write the table to this file (atomically)")
    parser.add_argument("--write-fixtures", metavar="DIR", help="write the planner agreement fixtures to DIR and exit")
    args = parser.parse_args()
    try:
        import networkx  # noqa: F401
    except ImportError:
        print("compare_networkx: NetworkX is not installed; run `pip install -r scripts/requirements.txt`",
              file=sys.stderr)
        return 2
    try:
        if args.write_fixtures:
            return write_fixtures(Path(args.write_fixtures))
        return compare(args)
    except CompareError as e:
        print(f"compare_networkx: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
