#!/usr/bin/env python3
"""Summarises a campaign of `bench-gate ab --json` reports: A/A runs (no change) and
power runs (a known slower head).

    scripts/ab_campaign.py --aa A1.json A2.json ... [--power NAME:P1.json,P2.json,...]
                           [--affected REGEX] [--mde NAME:R1.json,R2.json,...]
                           [--markdown OUT]

- A/A: per run, the critical, warning, improved and inconclusive counts and the median
  pair SD; in
  all, the critical total and the warnings per run. Each benchmark's A/A spread is the
  median over the A/A runs of the standard deviation of its per-round ln(head/base).
- Power (one `--power` per slower build, e.g. `3%:p3-1.json,p3-2.json`): for every
  benchmark matching `--affected`, in how many runs it was critical, its mean measured
  change, and its A/A spread.
- MDE (one `--mde` per column, e.g. `ab defaults:aa-full-2.json,fresh-1.json`): every
  benchmark of those runs with the median of its minimum detectable effect over them,
  and per column the median over all benchmarks and over `--family` (a regex on ids,
  the planner's by default), with how many are at most 1.5 % and 1 %.
Exit 0, or 2 when a report cannot be read.
"""
import argparse
import json
import math
import os
import re
import statistics
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pair_sd(c):
    p = c.get("paired")
    if not p or p["rounds"] < 3:
        return None
    d = [math.log(h / b) for b, h in zip(p["base_rounds"], p["head_rounds"])]
    return statistics.stdev(d)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--aa", nargs="*", default=[])
    ap.add_argument("--power", action="append", default=[])
    ap.add_argument("--affected", default=".")
    ap.add_argument("--mde", action="append", default=[])
    ap.add_argument("--family", default="^graph_planning/")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    lines = []
    try:
        aa = [(p, load(p)) for p in a.aa]
        power = []
        for spec in a.power:
            name, files = spec.split(":", 1)
            power.append((name, [(p, load(p)) for p in files.split(",") if p]))
        mde_cols = []
        for spec in a.mde:
            name, files = spec.split(":", 1)
            mde_cols.append((name, [load(p) for p in files.split(",") if p]))
    except (OSError, json.JSONDecodeError, ValueError) as e:
        print(f"ab_campaign: {e}", file=sys.stderr)
        return 2

    spread = {}
    if aa:
        lines += ["| A/A run | benchmarks | critical | warning | improved | inconclusive | median pair SD | median MDE | measuring |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        crit = warn = 0
        for path, r in aa:
            cs = [c for c in r["comparisons"] if c.get("paired")]
            v = [c["verdict"] for c in cs]
            sds = [s for s in (pair_sd(c) for c in cs) if s is not None]
            mdes = [c["mde"] for c in cs if c.get("mde") is not None]
            for c in cs:
                s = pair_sd(c)
                if s is not None:
                    spread.setdefault(c["id"], []).append(s)
            crit += v.count("critical")
            warn += v.count("warning")
            name = path.rsplit("/", 1)[-1].removesuffix(".json")
            lines.append(
                f"| {name} | {len(cs)} | {v.count('critical')} | {v.count('warning')} | "
                f"{v.count('improved')} | {v.count('inconclusive')} | "
                f"{100 * statistics.median(sds):.2f} % | "
                f"{100 * statistics.median(mdes):.2f} % | {r.get('measured_seconds', 0):.0f} s |")
        lines.append(f"\nA/A in all: {len(aa)} runs, {crit} critical, {warn} warnings "
                     f"({warn / len(aa):.2f} per run).\n")
    aa_spread = {k: statistics.median(v) for k, v in spread.items()}

    affected = re.compile(a.affected)
    for name, runs in power:
        ids = sorted({c["id"] for _, r in runs for c in r["comparisons"]
                      if affected.search(c["id"]) and c.get("paired")})
        lines += [f"| {name} build: benchmark | A/A spread | critical | mean change | median MDE |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for i in ids:
            cs = [c for _, r in runs for c in r["comparisons"] if c["id"] == i]
            k = sum(c["verdict"] == "critical" for c in cs)
            ch = statistics.mean(c["change"] for c in cs if c.get("change") is not None)
            md = statistics.median(c["mde"] for c in cs if c.get("mde") is not None)
            s = aa_spread.get(i)
            lines.append(f"| `{i}` | {'%.2f %%' % (100 * s) if s is not None else 'n/a'} | "
                         f"{k}/{len(cs)} | {100 * ch:+.2f} % | {100 * md:.2f} % |")
        lines.append("")
    if mde_cols:
        per = []
        for _, runs in mde_cols:
            col = {}
            for r in runs:
                for c in r["comparisons"]:
                    if c.get("mde") is not None:
                        col.setdefault(c["id"], []).append(c["mde"])
            per.append({k: statistics.median(v) for k, v in col.items()})
        ids = sorted(set().union(*per))
        lines += ["| benchmark | " + " | ".join(f"MDE, {n}" for n, _ in mde_cols) + " |",
                  "| --- |" + " ---: |" * len(mde_cols)]
        for i in ids:
            cells = [f"{100 * col[i]:.2f} %" if i in col else "n/a" for col in per]
            lines.append(f"| `{i}` | " + " | ".join(cells) + " |")
        lines.append("")
        family = re.compile(a.family)
        for (name, _), col in zip(mde_cols, per):
            values = sorted(col.values())
            fam = [v for k, v in col.items() if family.search(k)]
            lines.append(
                f"{name}: median MDE {100 * statistics.median(values):.2f} % over "
                f"{len(values)} benchmarks ({sum(v <= 0.015 for v in values)} at most 1.5 %, "
                f"{sum(v <= 0.01 for v in values)} at most 1 %); `{a.family}`: "
                f"{100 * statistics.median(fam):.2f} % over {len(fam)}." if fam else "")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if a.markdown:
        tmp = a.markdown + ".partial"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        os.replace(tmp, a.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
