#!/usr/bin/env python3
"""bench-gate's change points beside MongoDB's E-Divisive (`signal-processing-algorithms`,
the peer) on the same series, in one run: the committed fixtures of
scripts/changepoint_fixtures.py (steps with known runs, and pure noise), or any history
file. For each side: steps found within +-1 run, change points elsewhere, false change
points on pure noise, the time taken; and how often the two agree.

bench-gate runs as users run it (`bench-gate history check --json`); the peer runs its
`e_divisive` on each series' values, at its own defaults (p 0.05, 100 permutations) and,
with --peer-strict, also at bench-gate's level (p 0.001, 999 permutations).

Usage:
  scripts/compare_changepoints.py [--bench-gate PATH] [--fixtures DIR] [--peer-strict]
                                  [--json OUT]
Exit 0 when both ran, 2 when either could not (the message says which).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def series_of(path):
    """{id: [values in run order]} of a history file (one machine, every run has every id)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                for k, v in json.loads(line)["values"].items():
                    out.setdefault(k, []).append(v)
    return out


def ours(bench_gate, path):
    """{id: [indices]} and seconds, from `bench-gate history check --json`."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "cp.json")
        start = time.perf_counter()
        proc = subprocess.run(
            [bench_gate, "history", "check", "--file", path, "--json", report],
            capture_output=True,
            text=True,
            check=False,
        )
        took = time.perf_counter() - start
        if proc.returncode not in (0, 1):
            sys.exit(f"compare_changepoints: bench-gate failed ({proc.returncode}): {proc.stderr}")
        with open(report, encoding="utf-8") as f:
            found = json.load(f)["change_points"]
    out = {}
    for c in found:
        out.setdefault(c["id"], []).append(c["index"])
    return out, took


def peer(series, pvalue, permutations):
    """{id: [indices]} and seconds, from signal-processing-algorithms' e_divisive."""
    try:
        import numpy as np
        from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive
    except ImportError as e:
        sys.exit(f"compare_changepoints: {e}; pip install -r scripts/requirements.txt")
    np.random.seed(1)
    out = {}
    start = time.perf_counter()
    for k, values in series.items():
        out[k] = sorted(e_divisive(values, pvalue=pvalue, permutations=permutations))
    return out, time.perf_counter() - start


def score(found, truth, ids):
    """Steps found within +-1 run, change points elsewhere, and per-id hit flags."""
    hits, elsewhere, flags = 0, 0, {}
    for k in ids:
        points = found.get(k, [])
        step = truth.get(k)
        hit = step is not None and any(abs(p - step) <= 1 for p in points)
        hits += hit
        elsewhere += sum(1 for p in points if step is None or abs(p - step) > 1)
        flags[k] = (hit, len(points))
    return hits, elsewhere, flags


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench-gate", default="target/release/bench-gate")
    ap.add_argument("--fixtures", default="crates/bench-gate/tests/fixtures/history")
    ap.add_argument("--peer-strict", action="store_true")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    with open(os.path.join(args.fixtures, "steps-truth.json"), encoding="utf-8") as f:
        truth = json.load(f)
    peers = [("signal-processing-algorithms (p 0.05, 100 perm.)", 0.05, 100)]
    if args.peer_strict:
        peers.append(("signal-processing-algorithms (p 0.001, 999 perm.)", 0.001, 999))
    figures = {}
    rows = []
    for name in ("steps.jsonl", "noise.jsonl"):
        path = os.path.join(args.fixtures, name)
        series = series_of(path)
        ids = sorted(series)
        t = truth if name == "steps.jsonl" else {}
        sides = [("bench-gate history check", *ours(args.bench_gate, path))]
        sides += [(label, *peer(series, p, n)) for label, p, n in peers]
        scored = []
        for label, found, took in sides:
            hits, elsewhere, flags = score(found, t, ids)
            scored.append(flags)
            figures.setdefault(label, {})[name] = {
                "series": len(ids),
                "steps_found": hits if t else None,
                "other_change_points": elsewhere,
                "seconds": round(took, 3),
            }
            rows.append((name, label, len(ids), f"{hits}/{len(ids)}" if t else "-", elsewhere, took))
        # Agreement with the first peer: the same hit or miss (steps), the same "none" (noise).
        a, b = scored[0], scored[1]
        if t:
            same = sum(a[k][0] == b[k][0] for k in ids)
        else:
            same = sum((a[k][1] == 0) == (b[k][1] == 0) for k in ids)
        figures.setdefault("agreement", {})[name] = f"{same}/{len(ids)}"
    print("| fixture | detector | series | steps found within ±1 run | other change points | time |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name, label, n, hits, other, took in rows:
        print(f"| {name} | {label} | {n} | {hits} | {other} | {took:.2f} s |")
    for name, agreed in figures["agreement"].items():
        print(f"agreement on {name} (bench-gate vs the peer at its defaults): {agreed} series")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=1)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
