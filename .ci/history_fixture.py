#!/usr/bin/env python3
"""The scratch history .ci/run's workflow rehearsals start from.

  history_fixture.py seed FILE MACHINE
      16 runs of two benchmarks on MACHINE, written to FILE as history.jsonl lines: the
      committed quick baseline's values with 1 % noise, and a +43 % step of
      graph_planning/plan/100 at run 10 (commits seed00.. seed15).
  history_fixture.py date-baseline FILE RUN
      dates a saved baseline at seeded run RUN (its fingerprint's commit), atomically.
"""
import json
import math
import os
import random
import sys

STEP_BENCH = "graph_planning/plan/100"
BENCHES = (STEP_BENCH, "rate_limiters/token_bucket/try_acquire")


def commit(run):
    """The seeded run's commit: seed00000… (40 characters)."""
    return f"seed{int(run):02d}" + "0" * 34


def seed(path, machine):
    with open("baselines/linux-2core-quick.json", encoding="utf-8") as f:
        base = json.load(f)["benchmarks"]
    rng = random.Random(20261202)
    lines = []
    for run in range(16):
        values = {}
        for bench in BENCHES:
            level = 0.7 if bench == STEP_BENCH and run < 10 else 1.0
            values[bench] = base[bench]["value"] * level * math.exp(rng.gauss(0, 0.01))
        lines.append({"commit": commit(run), "date": f"2026-11-{run + 1:02d}T00:00:00Z",
                      "machine": machine, "values": values, "units": {k: "nanoseconds" for k in values}})
    write(path, "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))


def date_baseline(path, run):
    with open(path, encoding="utf-8") as f:
        baseline = json.load(f)
    baseline["fingerprint"]["commit"] = commit(run)
    write(path, json.dumps(baseline, indent=2) + "\n")


def write(path, text):
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    commands = {"seed": seed, "date-baseline": date_baseline}
    if len(sys.argv) != 4 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](*sys.argv[2:])
