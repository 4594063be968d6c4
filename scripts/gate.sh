#!/usr/bin/env bash
# The main job: is this checkout slower than its last commit, on this machine?
#   1. Instruction counts (gungraun, exact) against the committed baseline
#      (`baselines/PROFILE.json`); judged when this machine's rustc and valgrind are the
#      baseline's, otherwise reported as not comparable (which toolchain differs). It
#      runs first: the wall-time step's builds start from its dependencies.
#   2. Wall time, measured and judged here: `bench-gate ab --base REV --budget B`, the
#      working tree against REV (default HEAD) in lockstep pairs (both sides built with
#      bench-gate's harness in place of criterion, their samples alternating one side at
#      a time under a barrier), measuring until each benchmark's minimum detectable
#      effect (MDE) is at the target or the budget is spent; then the same benchmarks'
#      instructions, both sides counted under Callgrind and judged exactly, each
#      wall-time verdict saying whether the work or only the time moved. On an unchanged
#      checkout both sides are one build: an A/A run, so the verdict is what this
#      machine's noise does to unchanged code.
# Exit: 1 if either finds a critical regression, 2 if either could not judge, else 0.
# The reports land in target/gate/ (ab.md, ab.json, instructions.md, instructions.json).
#
# Usage: scripts/gate.sh [--base REV] [--budget DURATION] [--target-mde PCT] [--profile NAME] [--full] [-- FILTER]
#   --base REV        what the working tree is compared with (default HEAD)
#   --budget D        the most time measuring wall time may take (default 5m; 90s, 10m, 1h)
#   --target-mde PCT  the MDE at which a benchmark has been measured enough (default 1)
#   --profile NAME    the committed baseline for instruction counts (linux-2core-quick)
#   --full            the full suite's sizes instead of quick mode (ORCHBENCH_QUICK=1)
#   -- FILTER         a Criterion filter (regex on benchmark ids) for the wall-time part
set -euo pipefail
cd "$(dirname "$0")/.."

base=HEAD budget=5m target=1 profile=linux-2core-quick quick=1
filter=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --target-mde) target=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --full) quick=0; shift ;;
    --) filter=(-- "$2"); shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "gate: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if (( quick )); then export ORCHBENCH_QUICK=1; fi
if ! base_sha=$(git rev-parse --verify --quiet "$base^{commit}"); then
  echo "gate: revision $base does not exist in this repository" >&2
  exit 2
fi
out=target/gate
mkdir -p "$out"

if [[ -z "$(git status --porcelain)" && "$(git rev-parse "HEAD^{tree}")" == "$(git rev-parse "$base_sha^{tree}")" ]]; then
  what="the working tree is $base (${base_sha:0:12}): one build measured as both sides, an A/A run"
else
  what="the working tree (with its uncommitted changes) against $base (${base_sha:0:12})"
fi
cat <<EOF
=== gate: what it compares, and for how long
  instruction counts: the gungraun benches against baselines/$profile.json (under a minute)
  wall time: $what,
    in lockstep pairs on this machine, until each benchmark's MDE is ${target} % or $budget is spent,
    then both sides' instructions per benchmark under Callgrind (about 5 min)
  how long (a 2-core VM, the quick suite): building about 6 min from scratch (each side's
    workspace crates again with the lockstep harness, about 3 min), 1-3 min after an edit;
    measuring at most $budget
EOF

cargo build --locked --release -p bench-gate
gate=target/release/bench-gate

echo
echo "=== gate: instruction counts against baselines/$profile.json"
in_status=0
cargo bench --locked --bench instructions > "$out/instructions.log" 2>&1 || {
  tail -n 40 "$out/instructions.log" >&2
  echo "gate: the instruction-count benches failed (log: $out/instructions.log)" >&2
  in_status=2
}
if (( in_status == 0 )); then
  "$gate" check --profile "$profile" --criterion-dir none --perf-dir none \
    --markdown "$out/instructions.md" --json "$out/instructions.json" || in_status=$?
  # Counts from another rustc or valgrind are not comparable with the committed ones:
  # every verdict is `incomparable` (the table above says which tool differs). That is
  # not judged, and said so, rather than failed.
  total=$(grep -c '"verdict":' "$out/instructions.json" || true)
  incomparable=$(grep -c '"verdict": "incomparable"' "$out/instructions.json" || true)
  if (( in_status == 2 && total > 0 && total == incomparable )); then
    echo "gate: instruction counts not judged: this machine's toolchain is not the baseline's (above)"
    in_status=0
  fi
fi

echo
echo "=== gate: wall time (bench-gate ab)"
ab_status=0
"$gate" ab --base "$base" --budget "$budget" --target-mde "$target" \
  --markdown "$out/ab.md" --json "$out/ab.json" "${filter[@]}" || ab_status=$?

echo
status=0
for part in "wall time:$ab_status" "instruction counts:$in_status"; do
  name=${part%%:*}; code=${part#*:}
  case "$code" in
    0) echo "gate, $name: no critical regression" ;;
    1) echo "gate, $name: CRITICAL regression (above; $out/)"; (( status == 2 )) || status=1 ;;
    *) echo "gate, $name: could not judge (exit $code, above)"; status=2 ;;
  esac
done
exit "$status"
