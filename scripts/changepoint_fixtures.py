#!/usr/bin/env python3
"""Writes the committed change-point fixtures: benchmark histories with known steps, in
the history format `bench-gate history` reads (one run per JSON line).

- steps.jsonl: 200 benchmarks (`step/000` ...) over 100 runs; each has its own level
  (1 us to 1 ms), lognormal noise of 1 % per run, 1 % of runs at 2x (a noisy
  neighbour), and one +3 % step at a run drawn uniformly from 5..95 (at least 5 runs
  on either side: bench-gate's minimum segment; a step with fewer runs after it has not
  been seen yet by any detector that needs a segment on each side).
- steps-truth.json: each benchmark's step run (the index of the first run after it).
- noise.jsonl: 200 benchmarks (`noise/000` ...) over 100 runs with the same noise and
  outliers and no step.

The draws come from Python's `random.Random` with a fixed seed, so running this again
writes the same files. Usage: scripts/changepoint_fixtures.py [OUT_DIR]
(default: crates/bench-gate/tests/fixtures/history).
"""

import json
import math
import os
import random
import sys

RUNS = 100
SERIES = 200
NOISE_SD = 0.01
OUTLIER_SHARE = 0.01
STEP = 1.03
MIN_SEGMENT = 5


def history(prefix, rng, with_steps):
    """The runs (one dict per line) and, with steps, each benchmark's step run."""
    levels = {f"{prefix}/{i:03}": 10 ** rng.uniform(3, 6) for i in range(SERIES)}
    steps = {}
    if with_steps:
        steps = {k: rng.randint(MIN_SEGMENT, RUNS - MIN_SEGMENT) for k in levels}
    runs = []
    for r in range(RUNS):
        values = {}
        for k, level in levels.items():
            v = level * math.exp(rng.gauss(0.0, NOISE_SD))
            if with_steps and r >= steps[k]:
                v *= STEP
            if rng.random() < OUTLIER_SHARE:
                v *= 2.0
            values[k] = float(f"{v:.8g}")
        runs.append(
            {
                "commit": f"{prefix}{r:03}",
                "date": f"2026-{1 + r // 28:02}-{1 + r % 28:02}T00:00:00Z",
                "machine": "synthetic",
                "values": values,
            }
        )
    return runs, steps


def write(path, text):
    """Atomically: a temporary file beside it, then a rename."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "crates/bench-gate/tests/fixtures/history"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261202)
    steps_runs, truth = history("step", rng, True)
    noise_runs, _ = history("noise", rng, False)
    for name, runs in (("steps.jsonl", steps_runs), ("noise.jsonl", noise_runs)):
        write(os.path.join(out, name), "".join(json.dumps(r, sort_keys=True) + "\n" for r in runs))
    write(os.path.join(out, "steps-truth.json"), json.dumps(truth, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}/steps.jsonl, noise.jsonl, steps-truth.json")


if __name__ == "__main__":
    main()
