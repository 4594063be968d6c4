#!/usr/bin/env bash
# Refreshes a committed baseline (monthly, or after a deliberate performance change):
#   1. runs the whole bench suite twice on this machine (an A/A pair: same code),
#   2. calibrates each benchmark's noise band from the pair (bench-gate calibrate) and
#      prints the false alarms the current thresholds would have raised,
#   3. archives the previous baseline as baselines/history/<profile>/<YYYY-MM>.json,
#   4. saves the second run as baselines/<profile>.json with the noise bands,
#   5. prints the drift from the previous baseline to the new one.
#
# Usage: scripts/refresh-baselines.sh [--profile NAME] [--quick] [--keep DIR]
#   --profile NAME  the runner profile (default: $ORCHBENCH_PROFILE, else linux-2core-quick)
#   --quick         quick mode (ORCHBENCH_QUICK=1), as the README's main job runs the suite
#   --keep DIR      keep the two runs (DIR/a, DIR/b) and the noise bands for later analysis
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${ORCHBENCH_PROFILE:-linux-2core-quick}"
keep=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    --quick) export ORCHBENCH_QUICK=1; shift ;;
    --keep) keep="${2:?--keep needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "refresh-baselines: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ ! "$profile" =~ ^[A-Za-z0-9._-]+$ ]]; then
  echo "refresh-baselines: profile \"$profile\" must be a plain file name" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
gate=target/release/bench-gate
cargo build --locked --release --bin bench-gate

run_suite() {
  # A fresh tree per run, so benchmarks removed since the last refresh do not linger.
  rm -rf target/criterion target/perf
  cargo bench --locked
  cp -r target/criterion "$work/$1"
  if [[ -d target/perf ]]; then cp -r target/perf "$work/$1-perf"; else mkdir -p "$work/$1-perf"; fi
}

echo "=== run A"; run_suite a
echo "=== run B"; run_suite b

echo "=== calibration (B against A)"
"$gate" calibrate --a "$work/a" --b "$work/b" --save "$work/noise.json"

baseline="baselines/$profile.json"
previous=""
if [[ -f "$baseline" ]]; then
  archive="baselines/history/$profile/$(date -u +%Y-%m).json"
  mkdir -p "$(dirname "$archive")"
  cp "$baseline" "$archive"
  previous="$archive"
  echo "=== archived the previous baseline as $archive"
fi

"$gate" baseline save --profile "$profile" --calibration "$work/noise.json" \
  --criterion-dir "$work/b" --perf-dir "$work/b-perf"

if [[ -n "$previous" ]]; then
  echo "=== drift: the new baseline against the previous one"
  # Exit 1 (a critical drift) is information here, not a failure of the refresh.
  status=0
  "$gate" check --baseline "$previous" --criterion-dir "$work/b" --perf-dir "$work/b-perf" || status=$?
  if [[ $status -eq 2 ]]; then
    echo "refresh-baselines: the drift report could not be made (see above); the new baseline is saved" >&2
  fi
fi
if [[ -n "$keep" ]]; then
  mkdir -p "$keep"
  cp -r "$work/a" "$work/b" "$work/noise.json" "$keep/"
  echo "=== kept the runs and noise bands in $keep"
fi
echo "=== saved $baseline"
