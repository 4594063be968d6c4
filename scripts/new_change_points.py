#!/usr/bin/env python3
"""The regression change points that a `bench-gate history check --json` report has and
the previous report (the last push's, kept beside the history) did not: what
bench-history.yml opens or updates an issue for, so one regression is reported once,
not on every push after it.

A change point is the same as an earlier one when both are regressions of the same
benchmark on the same machine and their runs are at most --reach runs apart (a change
point's run can move a little as runs after it arrive). A missing or empty previous
report means every regression is new.

Usage:
  scripts/new_change_points.py --current NEW.json [--previous OLD.json]
                               [--reach 5] [--markdown OUT.md]
Exit 0 when no regression is new, 1 when some are (listed, and in OUT.md), 2 when a
report cannot be read (the message names it).
"""

import argparse
import json
import os
import sys


def load(path, required):
    if not path or not os.path.exists(path) or os.path.getsize(path) == 0:
        if required:
            sys.exit(f"new_change_points: {path}: no such report")
        return []
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
        points = report["change_points"]
        for p in points:
            for key in ("id", "machine", "commit", "index", "change", "direction"):
                if key not in p:
                    raise KeyError(key)
        return points
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"new_change_points: {path}: not a history check report ({e!r})", file=sys.stderr)
        sys.exit(2)


def new_regressions(previous, current, reach):
    """The regressions of `current` with no regression of `previous` within `reach` runs."""
    known = {}
    for p in previous:
        if p["direction"] == "regression":
            known.setdefault((p["id"], p["machine"]), []).append(p["index"])
    return [
        c for c in current
        if c["direction"] == "regression"
        and not any(abs(c["index"] - i) <= reach for i in known.get((c["id"], c["machine"]), []))
    ]


def markdown(points):
    lines = [
        f"`bench-gate history check` found {len(points)} new regression change point"
        f"{'' if len(points) == 1 else 's'} on main:",
        "",
        "| benchmark | machine | first run after | change | before | after | p |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for p in points:
        lines.append(
            f"| `{p['id']}` | {p['machine']} | `{p['commit']}` (run {p['index']}) | "
            f"{100 * p['change']:+.2f} % | {p.get('before', float('nan')):.6g} | "
            f"{p.get('after', float('nan')):.6g} | {p.get('p', float('nan')):.4f} |"
        )
    lines += ["", "The first run after the change is where to look: that commit or one shortly before it."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--current", required=True)
    ap.add_argument("--previous")
    ap.add_argument("--reach", type=int, default=5)
    ap.add_argument("--markdown")
    args = ap.parse_args()
    if args.reach < 0:
        print(f"new_change_points: --reach {args.reach}: must be 0 or more", file=sys.stderr)
        return 2
    fresh = new_regressions(load(args.previous, False), load(args.current, True), args.reach)
    if args.markdown:
        tmp = args.markdown + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(markdown(fresh) if fresh else "No new regression change point.\n")
        os.replace(tmp, args.markdown)
    for p in fresh:
        print(f"new regression: {p['id']} [{p['machine']}] at {p['commit']} (run {p['index']}): "
              f"{100 * p['change']:+.2f} %")
    print(f"{len(fresh)} new regression change point(s)")
    return 1 if fresh else 0


if __name__ == "__main__":
    sys.exit(main())
