#!/usr/bin/env bash
# Refreshes a committed baseline (monthly, or after a deliberate performance change):
#   1. runs the whole bench suite N times on this machine (A/A runs: the same code;
#      Criterion wall time, gungraun instruction counts),
#   2. calibrates each benchmark's noise band as the largest change between any two
#      runs (bench-gate calibrate) and prints the false alarms the current thresholds
#      would have raised,
#   3. archives the previous baseline as baselines/history/<profile>/<YYYY-MM>.json,
#   4. saves baselines/<profile>.json: each wall-time benchmark from its median run,
#      with the noise bands; instruction counts and perf reports from the last run,
#   5. prints the drift from the previous baseline to the new one.
# One baseline file holds one machine profile's figures: before anything runs, a
# baseline recorded on another machine profile (CPU, caches, cores: `bench-gate baseline
# machine`) is refused, exit 2, rather than replaced by this machine's numbers.
#
# Usage: scripts/refresh-baselines.sh [--profile NAME] [--per-machine] [--replace-machine]
#                                     [--quick] [--runs N] [--keep DIR] [--filter REGEX]
#                                     [--cargo-arg ARG]...
#   --profile NAME  the runner profile (default: $ORCHBENCH_PROFILE, else linux-2core-quick)
#   --per-machine   the file is NAME-<this machine's profile id>.json, so every machine
#                   profile a runner label lands on keeps a baseline of its own (the
#                   monthly workflow's way; `check --profile NAME` picks this machine's)
#   --replace-machine  replace a baseline that another machine profile recorded (when
#                   that machine is gone for good)
#   --quick         quick mode (ORCHBENCH_QUICK=1), as the README's main job runs the suite
#   --runs N        how many runs (default 10, at least 2): more runs catch benchmarks
#                   that switch between speeds from run to run (docs/gate.md: with
#                   fewer than ~10, rare slow modes escape calibration)
#   --keep DIR      keep the runs (DIR/run1 …) and the noise bands for later analysis
#   --filter REGEX  only the Criterion benchmarks matching REGEX (`cargo bench -- REGEX`),
#                   plus the whole instruction-count bench: a baseline of a part of the
#                   suite (the workflow's test in .ci/run)
#   --cargo-arg ARG one more argument for `cargo bench` (repeatable), e.g. `--bench
#                   graph_planning`: only those bench targets are built and run
set -euo pipefail
cd "$(dirname "$0")/.."

profile="${ORCHBENCH_PROFILE:-linux-2core-quick}"
keep=""
filter=""
runs=10
cargo_args=()
per_machine=0
replace_machine=0
# Option $1 needs a value, $2 (exit 2 when it has none, as for any other bad argument).
needs_value() {
  if [[ $# -lt 2 || -z "$2" ]]; then
    echo "refresh-baselines: $1 needs a value (see --help)" >&2
    exit 2
  fi
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) needs_value "$@"; profile="$2"; shift 2 ;;
    --per-machine) per_machine=1; shift ;;
    --replace-machine) replace_machine=1; shift ;;
    --quick) export ORCHBENCH_QUICK=1; shift ;;
    --keep) needs_value "$@"; keep="$2"; shift 2 ;;
    --runs) needs_value "$@"; runs="$2"; shift 2 ;;
    --filter) needs_value "$@"; filter="$2"; shift 2 ;;
    --cargo-arg) needs_value "$@"; cargo_args+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "refresh-baselines: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [[ ! "$runs" =~ ^[0-9]+$ ]] || (( runs < 2 )); then
  echo "refresh-baselines: --runs $runs: need a count of at least 2" >&2
  exit 2
fi
if [[ ! "$profile" =~ ^[A-Za-z0-9._-]+$ ]]; then
  echo "refresh-baselines: profile \"$profile\" must be a plain file name" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Cargo's target directory: CARGO_TARGET_DIR when set, as cargo and Criterion use it.
target="${CARGO_TARGET_DIR:-target}"
gate="$target/release/bench-gate"
# The comparator's own features (-p), as gate.sh and the workflows build it: one build
# serves them all.
cargo build --locked --release -p bench-gate

if (( per_machine )); then
  profile="$profile-$("$gate" baseline machine)"
fi
if [[ -f "baselines/$profile.json" ]] && (( ! replace_machine )); then
  status=0
  found=$("$gate" baseline machine --of "baselines/$profile.json") || status=$?
  case "$status" in
    0) echo "=== baselines/$profile.json: $found" ;;
    1)
      echo "refresh-baselines: baselines/$profile.json holds another machine profile's figures ($found)." >&2
      echo "  One baseline per machine profile: refresh it on its machine, give this one its own" >&2
      echo "  (--per-machine, or another --profile), or --replace-machine if that machine is gone." >&2
      exit 2 ;;
    *) echo "refresh-baselines: cannot read baselines/$profile.json (above)" >&2; exit 2 ;;
  esac
fi

run_suite() {
  # A fresh tree per run, so benchmarks removed since the last refresh do not linger.
  rm -rf "$target/criterion" "$target/perf" "$target/gungraun"
  if [[ -n "$filter" ]]; then
    GUNGRAUN_SAVE_SUMMARY=json cargo bench --locked "${cargo_args[@]}" -- "$filter"
    GUNGRAUN_SAVE_SUMMARY=json cargo bench --locked --bench instructions
  else
    GUNGRAUN_SAVE_SUMMARY=json cargo bench --locked "${cargo_args[@]}"
  fi
  cp -r "$target/criterion" "$work/$1"
  for kind in perf gungraun; do
    if [[ -d "$target/$kind" ]]; then cp -r "$target/$kind" "$work/$1-$kind"; else mkdir -p "$work/$1-$kind"; fi
  done
}

later=()
others=()
for i in $(seq 1 "$runs"); do
  echo "=== run $i of $runs"
  run_suite "run$i"
  if (( i > 1 )); then later+=(--b "$work/run$i"); fi
  if (( i < runs )); then others+=(--median-of "$work/run$i"); fi
done
last="run$runs"

echo "=== calibration (every run against run 1; bands from every pair)"
"$gate" calibrate --a "$work/run1" "${later[@]}" --save "$work/noise.json"

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
  --criterion-dir "$work/$last" "${others[@]}" \
  --perf-dir "$work/$last-perf" --gungraun-dir "$work/$last-gungraun"

if [[ -n "$previous" ]]; then
  echo "=== drift: the new baseline against the previous one"
  # Exit 1 (a critical drift) is information here, not a failure of the refresh.
  status=0
  "$gate" check --baseline "$previous" --criterion-dir "$work/$last" --perf-dir "$work/$last-perf" \
    --gungraun-dir "$work/$last-gungraun" || status=$?
  if [[ $status -eq 2 ]]; then
    echo "refresh-baselines: the drift report could not be made (see above); the new baseline is saved" >&2
  fi
fi
if [[ -n "$keep" ]]; then
  mkdir -p "$keep"
  for i in $(seq 1 "$runs"); do cp -r "$work/run$i" "$work/run$i-perf" "$work/run$i-gungraun" "$keep/"; done
  cp "$work/noise.json" "$keep/"
  echo "=== kept the runs and noise bands in $keep"
fi
echo "=== saved $baseline"
