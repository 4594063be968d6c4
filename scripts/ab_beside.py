#!/usr/bin/env python3
"""What other gates would have said on the data of one `bench-gate ab` run.

`bench-gate ab --keep-runs DIR --json AB.json` keeps every run's Criterion output. On
exactly those runs this script asks:

- **Criterion itself**: for each benchmark and round, the head's run against the base's
  run of that round, judged by the head's own bench binary
  (`--load-baseline new --baseline base`: Criterion's t-test and noise threshold, its
  defaults). Counted: pairs Criterion calls "Performance has regressed".
- **A fixed 10 %**: a benchmark whose head is more than 10 % slower than its base, on one
  pair (round 1, what a one-shot gate sees) and on the medians of all rounds.
- **`bench-gate check --criterion-baseline base`**, the sequential mode, on round 1's
  pairs (the base's run saved as Criterion's baseline `base`, the head's as `new`),
  without its confirmation re-run.

Usage: scripts/ab_beside.py KEEP_DIR AB.json [--gate PATH] [--thresholds FILE] [--json OUT]
Prints one summary line per gate; --json writes the counts and the benchmarks named.
Exit 0, or 2 when the inputs cannot be read.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile


def stem(bench_id: str) -> str:
    """The run directory's name for an id (bench-gate ab's layout)."""
    return "".join(
        chr(b) if chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_") else f"%{b:02X}"
        for b in bench_id.encode()
    )


def pair_home(keep: str, r: int, bench_id: str, into: str) -> bool:
    """Builds a CRITERION_HOME in `into` holding the head's run of round r as `new` and
    the base's as `base`; False when either side has no run."""
    head = os.path.join(keep, "head", f"round-{r}", stem(bench_id))
    base = os.path.join(keep, "base", f"round-{r}", stem(bench_id))
    if not (os.path.isdir(head) and os.path.isdir(base)):
        return False
    found = False
    for root, dirs, _ in os.walk(head):
        if os.path.basename(root) == "new":
            rel = os.path.relpath(os.path.dirname(root), head)
            src_base = os.path.join(base, rel, "new")
            if os.path.isdir(src_base):
                shutil.copytree(root, os.path.join(into, rel, "new"), dirs_exist_ok=True)
                shutil.copytree(src_base, os.path.join(into, rel, "base"), dirs_exist_ok=True)
                found = True
            dirs.clear()
    return found


def criterion_verdict(binary: dict, home: str, bench_id: str) -> str:
    """Criterion's own verdict on the pair in `home`."""
    out = subprocess.run(
        [binary["path"], "--bench", "--load-baseline", "new", "--baseline", "base",
         "--noplot", "^" + re.escape(bench_id) + "$"],
        cwd=binary["dir"], env={**os.environ, "CRITERION_HOME": home},
        capture_output=True, text=True, timeout=300,
    )
    text = out.stdout + out.stderr
    if "Performance has regressed" in text:
        return "regressed"
    if "Performance has improved" in text:
        return "improved"
    if out.returncode != 0:
        return "error"
    return "unchanged"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("keep")
    ap.add_argument("ab_json")
    ap.add_argument("--gate", default="target/release/bench-gate")
    ap.add_argument("--thresholds", default=None)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    try:
        with open(os.path.join(a.keep, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        with open(a.ab_json, encoding="utf-8") as f:
            ab = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"ab_beside: {e}", file=sys.stderr)
        return 2
    comparisons = [c for c in ab["comparisons"] if c.get("paired")]
    rounds = max((c["paired"]["rounds"] for c in comparisons), default=0)
    result = {
        "ab": {
            "critical": [c["id"] for c in ab["comparisons"] if c["verdict"] == "critical"],
            "warning": [c["id"] for c in ab["comparisons"] if c["verdict"] == "warning"],
        },
        "criterion": {"pairs": 0, "regressed": [], "improved": 0, "errors": []},
        "fixed_10": {"round_1": [], "medians": []},
        "check_round_1": {},
    }
    with tempfile.TemporaryDirectory(prefix="ab-beside-") as tmp:
        combined = os.path.join(tmp, "round-1")
        os.makedirs(combined)
        for c in comparisons:
            bench_id = c["id"]
            binary = manifest["head"].get(manifest["benchmarks"].get(bench_id, ""))
            base_v, head_v = c["paired"]["base_rounds"], c["paired"]["head_rounds"]
            if statistics.median(head_v) > 1.10 * statistics.median(base_v):
                result["fixed_10"]["medians"].append(bench_id)
            if head_v and head_v[0] > 1.10 * base_v[0]:
                result["fixed_10"]["round_1"].append(bench_id)
            pair_home(a.keep, 1, bench_id, combined)
            if binary is None:
                continue
            for r in range(1, rounds + 1):
                home = os.path.join(tmp, f"pair-{r}")
                if not pair_home(a.keep, r, bench_id, home):
                    continue
                verdict = criterion_verdict(binary, home, bench_id)
                shutil.rmtree(home)
                result["criterion"]["pairs"] += 1
                if verdict == "regressed":
                    result["criterion"]["regressed"].append(f"{bench_id} (round {r})")
                elif verdict == "improved":
                    result["criterion"]["improved"] += 1
                elif verdict == "error":
                    result["criterion"]["errors"].append(f"{bench_id} (round {r})")
        out = os.path.join(tmp, "check.json")
        cmd = [a.gate, "check", "--criterion-dir", combined, "--criterion-baseline", "base",
               "--perf-dir", "none", "--gungraun-dir", "none", "--json", out, "--no-color"]
        if a.thresholds:
            cmd += ["--thresholds", a.thresholds]
        run = subprocess.run(cmd, capture_output=True, text=True)
        if os.path.exists(out):
            with open(out, encoding="utf-8") as f:
                check = json.load(f)
            result["check_round_1"] = {
                "exit": run.returncode,
                "critical": [c["id"] for c in check["comparisons"] if c["verdict"] == "critical"],
                "warning": [c["id"] for c in check["comparisons"] if c["verdict"] == "warning"],
                "verdicts": {v: sum(c["verdict"] == v for c in check["comparisons"])
                             for v in sorted({c["verdict"] for c in check["comparisons"]})},
            }
        else:
            result["check_round_1"] = {"exit": run.returncode, "error": run.stderr.strip()[-500:]}
    n = len(comparisons)
    cr = result["criterion"]
    ck = result["check_round_1"]
    print(f"benchmarks: {n}, rounds: {rounds}")
    print(f"bench-gate ab (paired): {len(result['ab']['critical'])} critical, "
          f"{len(result['ab']['warning'])} warning")
    print(f"Criterion's own verdict per pair: {len(cr['regressed'])} of {cr['pairs']} pairs "
          f"'regressed', {cr['improved']} 'improved'" +
          (f", {len(cr['errors'])} errors" if cr["errors"] else ""))
    print(f"fixed 10 %: {len(result['fixed_10']['round_1'])} on round 1's pair, "
          f"{len(result['fixed_10']['medians'])} on the medians of all rounds")
    if "critical" in ck:
        print(f"bench-gate check --criterion-baseline (round 1, no re-run): "
              f"{len(ck['critical'])} critical, {len(ck['warning'])} warning (exit {ck['exit']}; "
              f"verdicts {ck['verdicts']})")
    else:
        print(f"bench-gate check --criterion-baseline: could not run: {ck.get('error')}")
    if a.json:
        tmp_out = a.json + ".partial"
        with open(tmp_out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
        os.replace(tmp_out, a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
