#!/usr/bin/env python3
"""Tests of scripts/new_change_points.py, run as bench-history.yml runs it: a regression
is new once, the same one a few runs later is not, an improvement never is, another
machine's is its own, and a report that is not one is exit 2 naming the file.

Usage: scripts/test_new_change_points.py   (exit 0 when every case passed, 1 otherwise)
"""

import json
import os
import subprocess
import sys
import tempfile

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "new_change_points.py")


def point(bench, index, direction="regression", machine="m", change=0.05):
    return {"id": bench, "machine": machine, "commit": f"c{index}", "index": index,
            "before": 1.0, "after": 1.0 + change, "change": change, "p": 0.001,
            "direction": direction}


def run(tmp, current, previous=None, raw_previous=None):
    cur = os.path.join(tmp, "current.json")
    with open(cur, "w", encoding="utf-8") as f:
        json.dump({"change_points": current}, f)
    args = [sys.executable, SCRIPT, "--current", cur, "--markdown", os.path.join(tmp, "new.md")]
    if previous is not None or raw_previous is not None:
        prev = os.path.join(tmp, "previous.json")
        with open(prev, "w", encoding="utf-8") as f:
            f.write(raw_previous if raw_previous is not None else json.dumps({"change_points": previous}))
        args += ["--previous", prev]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    with open(os.path.join(tmp, "new.md"), encoding="utf-8") as f:
        md = f.read() if proc.returncode != 2 else ""
    return proc.returncode, proc.stdout + proc.stderr, md


def main():
    failures = []

    def expect(name, got, want):
        if got != want:
            failures.append(f"{name}: got {got!r}, want {want!r}")

    with tempfile.TemporaryDirectory() as tmp:
        code, _, md = run(tmp, [point("a/b", 40)])
        expect("no previous report: the regression is new", code, 1)
        expect("the issue body names it", "`a/b`" in md and "+5.00 %" in md, True)
        code, _, _ = run(tmp, [point("a/b", 43)], previous=[point("a/b", 40)])
        expect("the same regression, moved 3 runs, is not new", code, 0)
        code, _, _ = run(tmp, [point("a/b", 40), point("a/b", 90)], previous=[point("a/b", 40)])
        expect("a second regression of the same benchmark is new", code, 1)
        code, _, _ = run(tmp, [point("a/b", 40, "improvement")], previous=[])
        expect("an improvement is never new", code, 0)
        code, _, _ = run(tmp, [point("a/b", 40, machine="other")], previous=[point("a/b", 40)])
        expect("another machine's regression is its own", code, 1)
        code, out, _ = run(tmp, [point("a/b", 40)], raw_previous='{"change_points": [')
        expect("a previous report that is not JSON is exit 2", code, 2)
        expect("naming the file", "previous.json" in out, True)
        code, _, _ = run(tmp, [point("a/b", 40)], raw_previous="")
        expect("an empty previous report is no previous report", code, 1)
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    print(f"new_change_points: {len(failures)} of 10 checks failed" if failures else "new_change_points: all 10 checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
