#!/usr/bin/env python3
"""Checks a `bench-gate check --json` report of one instruction-count run against
another run of the same binary: every instruction benchmark must have changed by
exactly 0 (callgrind counts are deterministic; any difference is a bug in a bench,
e.g. a measured path that depends on time, addresses or thread scheduling).

Usage: scripts/identical_counts.py REPORT.json
"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = sys.argv[1]
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"{path}: cannot read the gate report: {e}", file=sys.stderr)
        return 2
    counts = [c for c in report.get("comparisons", []) if c.get("source") == "instructions"]
    if not counts:
        print(f"{path}: no instruction benchmarks were compared", file=sys.stderr)
        return 2
    moved = [(c["id"], c.get("change")) for c in counts if c.get("change") != 0]
    if moved:
        for bench, change in moved:
            print(f"{bench}: {change!r} between two runs of the same binary", file=sys.stderr)
        return 1
    print(f"{len(counts)} instruction benchmarks: identical counts in both runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
