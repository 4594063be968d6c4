#!/usr/bin/env python3
"""The history report (`bench-gate history check --html`) in a real headless Chromium.

Builds a history of the whole suite (every benchmark of the committed baseline, with
its unit and value) over --runs runs: lognormal noise of 1 %, 1 % of runs at 2x, a few
planted steps and one improvement; instruction counts exact, with one step. Or takes
--history FILE as it is. Then runs `bench-gate history check --html` as users run it
(with --verdict when given), and loads the page from file:// in Chromium (Debian's
package, driven by Playwright with its own browser download turned off):

- no console error or warning, no uncaught exception, no request leaving the page;
- one chart per series (`figure.chart`, each with its SVG and its points), and the
  page's own count equal to the series in the report;
- the page loads (navigation start to the end of the load event) in at most
  --max-load-ms (2000), and the file is at most --max-mb (5) MB;
- hovering a chart shows the run's commit and value;
- a screenshot of the top of the page and one of a hovered chart are written to --out.

Usage:
  scripts/check_history_page.py --bench-gate PATH --out DIR [--runs 200] [--history F]
                                [--verdict AB_OR_CHECK.json] [--chromium PATH]
Exit 0 when every check passed, 1 when one failed (each failure printed), 2 when it
could not run (no Chromium, no Playwright, bench-gate failed).
"""

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def cannot(message):
    print(f"check_history_page: {message}", file=sys.stderr)
    sys.exit(2)


def suite_history(path, runs, seed):
    """A history of every benchmark in the committed baseline; returns the planted changes."""
    with open(os.path.join(ROOT, "baselines", "linux-2core-quick.json"), encoding="utf-8") as f:
        baseline = json.load(f)
    benchmarks = baseline["benchmarks"]
    rng = random.Random(seed)
    ids = sorted(benchmarks)
    walls = [i for i in ids if benchmarks[i]["source"] == "wall_time"]
    counts = [i for i in ids if benchmarks[i]["unit"] == "count"]
    planted = {}
    at = lambda: rng.randrange(runs // 4, runs - runs // 4)  # noqa: E731
    for bench in rng.sample(walls, 3):
        planted[bench] = (at(), 1.05)
    planted[rng.choice([w for w in walls if w not in planted])] = (at(), 0.94)
    if counts:
        planted[rng.choice(counts)] = (at(), 1.03)
    with open(path, "w", encoding="utf-8") as out:
        for run in range(runs):
            values, units, directions = {}, {}, {}
            for bench in ids:
                b = benchmarks[bench]
                value = b["value"]
                step = planted.get(bench)
                if step and run >= step[0]:
                    value *= step[1]
                if b["unit"] != "count":
                    value *= math.exp(rng.gauss(0.0, 0.01))
                    if rng.random() < 0.01:
                        value *= 2.0
                values[bench] = round(value, 3)
                units[bench] = b["unit"]
                if b["direction"] != "lower_is_better":
                    directions[bench] = b["direction"]
            line = {
                "commit": f"{rng.getrandbits(160):040x}",
                "date": f"2026-{1 + run * 11 // runs:02d}-{1 + run % 28:02d}T03:00:00Z",
                "machine": "linux-2core",
                "values": values,
                "units": units,
                "directions": directions,
            }
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
    return planted


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-gate", default=os.path.join(ROOT, "target", "release", "bench-gate"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--history")
    ap.add_argument("--verdict")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    ap.add_argument("--max-load-ms", type=float, default=2000.0)
    ap.add_argument("--max-mb", type=float, default=5.0)
    args = ap.parse_args()

    if not args.chromium or not os.path.exists(args.chromium):
        cannot("no Chromium found (apt-get install chromium, or --chromium PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        cannot("Playwright is not installed (pip install -r scripts/requirements.txt)")
    if not os.access(args.bench_gate, os.X_OK):
        cannot(f"{args.bench_gate}: not an executable (cargo build --release -p bench-gate)")

    os.makedirs(args.out, exist_ok=True)
    history = args.history
    planted = {}
    if history is None:
        history = os.path.join(args.out, "history.jsonl")
        planted = suite_history(history, args.runs, args.seed)
    page_path = os.path.join(args.out, "history.html")
    report_path = os.path.join(args.out, "change-points.json")
    command = [args.bench_gate, "history", "check", "--file", history, "--json", report_path,
               "--html", page_path]
    if args.verdict:
        command += ["--verdict", args.verdict]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        cannot(f"bench-gate failed ({proc.returncode}): {proc.stderr.strip()}")
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    series = report["judged"] + len(report["too_short"])
    size_mb = os.path.getsize(page_path) / 1e6
    print(f"bench-gate history check --html: {series} series, {report['runs']} runs, "
          f"{len(report['change_points'])} change points, {took:.2f} s, page {size_mb:.2f} MB")

    failures = []
    if size_mb > args.max_mb:
        failures.append(f"the page is {size_mb:.2f} MB, over {args.max_mb} MB")
    found = {(c["id"], c["direction"]) for c in report["change_points"]}
    for bench, (run, factor) in sorted(planted.items()):
        direction = "regression" if factor > 1 else "improvement"
        if (bench, direction) not in found:
            failures.append(f"the planted {direction} of {bench} at run {run} was not found")
    if planted and proc.returncode != 1:
        failures.append(f"bench-gate exited {proc.returncode} with planted regressions (want 1)")

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.on("console", lambda m: m.type in ("error", "warning")
                    and problems.append(f"console {m.type}: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
            page.on("request", lambda r: r.url.startswith("file://")
                    or problems.append(f"request leaves the page: {r.url}"))
            url = "file://" + os.path.abspath(page_path)
            wall = time.perf_counter()
            page.goto(url, wait_until="load")
            wall_ms = 1000 * (time.perf_counter() - wall)
            load_ms = page.evaluate(
                "() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n.loadEventEnd - n.startTime; }")
            charts = page.locator("figure.chart").count()
            with_points = page.evaluate(
                "() => [...document.querySelectorAll('figure.chart')]"
                ".filter(f => f.querySelector('svg circle, svg polygon')).length")
            counted = page.evaluate("() => document.documentElement.dataset.charts")
            print(f"Chromium {browser.version}: loaded in {load_ms:.0f} ms (navigation timing; "
                  f"{wall_ms:.0f} ms around goto), {charts} charts, {with_points} with points")
            if charts != series:
                failures.append(f"{charts} charts for {series} series")
            if with_points != charts:
                failures.append(f"{charts - with_points} charts have no points")
            if counted != str(charts):
                failures.append(f"the page's script counted {counted} charts, not {charts}")
            if load_ms > args.max_load_ms:
                failures.append(f"the page took {load_ms:.0f} ms to load, over {args.max_load_ms:.0f}")
            page.screenshot(path=os.path.join(args.out, "history-top.png"))
            pairs = page.locator(".pair")
            print(f"{pairs.count()} wall-time charts with their instruction counts beside them")
            if pairs.count():
                pairs.first.screenshot(path=os.path.join(args.out, "history-pair.png"))
            # Hover the middle of the first chart with a change point (else the first).
            target = page.locator("figure.chart:has(.badge.regression)").first
            if target.count() == 0:
                target = page.locator("figure.chart").first
            target.scroll_into_view_if_needed()
            box = target.locator("svg").bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)
            tip = page.locator("#tip")
            text = tip.inner_text() if tip.is_visible() else ""
            if "commit " not in text or "run " not in text:
                failures.append(f"hovering a chart shows {text!r}, not its run's commit and value")
            else:
                print("hover: " + " | ".join(text.splitlines()))
            page.screenshot(path=os.path.join(args.out, "history-hover.png"),
                            clip={"x": box["x"] - 10, "y": box["y"] - 60,
                                  "width": min(1260, box["width"] + 300), "height": box["height"] + 140})
        finally:
            browser.close()
    failures.extend(problems)
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    print(f"screenshots: {args.out}/history-top.png, {args.out}/history-hover.png")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
