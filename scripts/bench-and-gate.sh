#!/usr/bin/env bash
# Runs the bench suite and gates it, confirming wall-time regressions once:
#   1. `cargo bench` (Criterion wall time, gungraun instruction counts);
#   2. `bench-gate check CHECK_ARGS...`;
#   3. if that found critical wall-time regressions, measures exactly those benchmarks
#      again and judges once more: a regression the code causes is there again, a
#      stall of a shared machine that hit one benchmark for a second is not. Instruction
#      counts and absolute bounds are never re-measured (they do not depend on luck).
# The exit code is the last check's: 0 no critical, 1 critical, 2 could not judge.
#
# Usage: scripts/bench-and-gate.sh [--quick] [--no-confirm] [--no-bench] [--] CHECK_ARGS...
#   --quick       quick mode (ORCHBENCH_QUICK=1), as the README's main job
#   --no-confirm  judge once, without measuring critical benchmarks again
#   --no-bench    judge the results already in target/ (skip step 1)
# Example: scripts/bench-and-gate.sh --quick -- --profile linux-2core-quick
set -euo pipefail
cd "$(dirname "$0")/.."

confirm=1
bench=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) export ORCHBENCH_QUICK=1; shift ;;
    --no-confirm) confirm=0; shift ;;
    --no-bench) bench=0; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
if [[ $# -eq 0 ]]; then
  echo "bench-and-gate: no check arguments (e.g. -- --profile linux-2core-quick; see --help)" >&2
  exit 2
fi

cargo build --locked --release --bin bench-gate
gate=target/release/bench-gate
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if (( bench )); then
  cargo bench --locked
fi

status=0
"$gate" check "$@" --rerun-filter "$work/rerun" || status=$?
if (( status == 1 && confirm )) && [[ -s "$work/rerun" ]]; then
  filter="$(cat "$work/rerun")"
  echo
  echo "=== bench-and-gate: critical wall-time results; measuring them again to confirm: $filter"
  cargo bench --locked -- "$filter"
  status=0
  "$gate" check "$@" || status=$?
  echo "=== bench-and-gate: the verdict above is the confirmed one (exit $status)"
fi
exit "$status"
