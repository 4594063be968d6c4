#!/usr/bin/env python3
"""Where the noise of a paired comparison comes from, from A/A runs of `bench-gate ab`
(both sides the same code).

    scripts/noise_sources.py [--lockstep NAME:KEEP_DIR ...] [--rounds NAME:AB.json ...]
                             [--markdown OUT]

- `--lockstep NAME:DIR`: a lockstep run's `--keep-runs` directory (its `pairs.json`
  holds every pair's samples). Per benchmark it splits the noise of a pair's estimate
  into its parts:
  - *neighbour*: the spread of one process's samples against its neighbours in time
    (successive differences / sqrt 2), what alternating samples could reach at best;
  - *sample*: the spread of the per-sample log-ratios inside a pair, and what it adds
    to the pair's estimate (divided by the square root of the samples);
  - *process*: what the pairs' estimates vary beyond that: each pair is two fresh
    processes, so this is what differs between processes of one binary (layout, page
    placement) and what changes between pairs in a way the barrier does not cancel;
  - *common*: the variation of the pairs' levels that both sides share (the covariance
    of the two sides' means over pairs): host-state drift between pairs, which the
    pairing cancels.
  - the pair's SD, its seconds, and SD x sqrt(seconds): the noise of one second of
    measuring, to compare designs of different cost.
- `--rounds NAME:FILE`: an `ab --json` report of process rounds (`shared-cpu` or
  `sequential`): the SD of the per-round log-ratios and the seconds per round.

Exit 0, or 2 when an input cannot be read.
"""
import argparse
import json
import math
import statistics
import sys


def hodges_lehmann(d):
    walsh = [(d[i] + d[j]) / 2 for i in range(len(d)) for j in range(i, len(d))]
    return statistics.median(walsh)


def lockstep_parts(runs):
    """The noise parts of one benchmark's pairs (per cent), or None with too few."""
    if len(runs) < 3:
        return None
    estimates, within, neighbour, levels, secs = [], [], [], [], []
    for r in runs:
        n = r["iters"]
        base = [math.log(s["value"] / n) for s in r["samples"][0]]
        head = [math.log(s["value"] / n) for s in r["samples"][1]]
        d = [h - b for b, h in zip(base, head)]
        if len(d) < 3:
            continue
        estimates.append(hodges_lehmann(d))
        # A robust spread (MAD), as the estimate is: one interrupted sample would
        # otherwise stand for the whole pair's noise. Hodges-Lehmann's variance is
        # pi/3 sigma^2/n for normal noise.
        m = statistics.median(d)
        mad = 1.4826 * statistics.median([abs(x - m) for x in d])
        within.append(math.pi / 3 * mad**2 / len(d))
        for side in (base, head):
            steps = [(side[i + 1] - side[i]) / math.sqrt(2) for i in range(len(side) - 1)]
            neighbour.append(statistics.median([abs(x) for x in steps]) * 1.4826)
        levels.append((statistics.mean(base), statistics.mean(head)))
        secs.append(r["seconds"])
    if len(estimates) < 3:
        return None
    pair_sd = statistics.stdev(estimates)
    sample_part = math.sqrt(statistics.mean(within))
    process = math.sqrt(max(0.0, pair_sd**2 - sample_part**2))
    xs, ys = [x for x, _ in levels], [y for _, y in levels]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    cov = sum((x - mx) * (y - my) for x, y in levels) / (len(levels) - 1)
    seconds = statistics.mean(secs)
    return {
        "pairs": len(estimates),
        "neighbour": 100 * statistics.median(neighbour),
        "sample": 100 * sample_part,
        "process": 100 * process,
        "common": 100 * math.sqrt(max(cov, 0.0)),
        "pair_sd": 100 * pair_sd,
        "seconds": seconds,
        "per_second": 100 * pair_sd * math.sqrt(seconds),
    }


def rounds_parts(comparison, seconds):
    p = comparison.get("paired")
    if not p or p["rounds"] < 3:
        return None
    d = [math.log(h / b) for b, h in zip(p["base_rounds"], p["head_rounds"])]
    sd = statistics.stdev(d)
    return {"pair_sd": 100 * sd, "seconds": seconds, "per_second": 100 * sd * math.sqrt(seconds)}


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lockstep", action="append", default=[])
    ap.add_argument("--rounds", action="append", default=[])
    ap.add_argument("--markdown")
    a = ap.parse_args()
    columns = []  # (name, kind, {id: parts})
    try:
        for spec in a.lockstep:
            name, path = spec.split(":", 1)
            pairs = load(f"{path}/pairs.json")
            columns.append((name, "lockstep", {i: lockstep_parts(r) for i, r in pairs.items()}))
        for spec in a.rounds:
            name, path = spec.split(":", 1)
            report = load(path)
            cost = {c["id"]: c["seconds"] / max(c["rounds"], 1) for c in report.get("cost", [])}
            columns.append(
                (name, "rounds", {c["id"]: rounds_parts(c, cost.get(c["id"], float("nan")))
                                  for c in report["comparisons"]})
            )
    except (OSError, ValueError, KeyError) as e:
        print(f"noise_sources: {e}", file=sys.stderr)
        return 2
    ids = sorted({i for _, _, by in columns for i in by})
    lines = ["Noise of one pair's estimate of ln(head / base), per cent (A/A); per second: "
             "pair SD x sqrt(seconds per pair)", ""]
    for name, kind, by in columns:
        if kind != "lockstep":
            continue
        lines += [f"### {name}: the parts", "",
                  "| benchmark | pairs | neighbour | sample | process | common (cancelled) | pair SD | s/pair | per second |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for i in ids:
            p = by.get(i)
            if p:
                lines.append(f"| `{i}` | {p['pairs']} | {p['neighbour']:.2f} | {p['sample']:.2f} | "
                             f"{p['process']:.2f} | {p['common']:.2f} | {p['pair_sd']:.2f} | "
                             f"{p['seconds']:.2f} | {p['per_second']:.2f} |")
        lines.append("")
    lines += ["### every mode: noise of one second of measuring (pair SD x sqrt(s))", "",
              "| benchmark | " + " | ".join(n for n, _, _ in columns) + " |",
              "| --- |" + " ---: |" * len(columns)]
    for i in ids:
        cells = []
        for _, _, by in columns:
            p = by.get(i)
            cells.append("" if not p else f"{p['per_second']:.2f} ({p['pair_sd']:.2f} % in {p['seconds']:.2f} s)")
        lines.append(f"| `{i}` | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
