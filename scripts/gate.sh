#!/usr/bin/env bash
# The gate: is the working tree slower than a base revision, on this machine? The main
# job runs it against HEAD; the PR workflow (.github/workflows/bench-gate.yml) against
# the PR's merge-base, with --judge-from-base. Two parts, both measured here:
#   1. Wall time: `bench-gate ab --base REV --budget B`, the working tree against REV in
#      lockstep pairs (both sides built with bench-gate's harness in place of
#      criterion, their samples alternating one side at a time under a barrier), until
#      each benchmark's minimum detectable effect (MDE) is at the target or the budget
#      is spent; then the same benchmarks' instructions, both sides counted under
#      Callgrind and judged exactly, each verdict saying whether the work or only the
#      time moved. On an unchanged tree both sides are one build: an A/A run.
#   2. Instruction counts of the gungraun benches (the routines Criterion's cannot
#      count: docs/benchmarks.md), of REV and of the working tree, judged exactly
#      (`bench-gate check --gungraun-base`). Same machine, same toolchain: always
#      comparable. On an unchanged tree they are counted once.
# Exit: 2 if either part could not judge, else 1 if either found a critical regression,
# else 0. Reports in DIR (default target/gate/): gate.md (both parts, for a PR comment
# or a job summary), ab.md, ab.json, ab.xml, instructions.md, instructions.json,
# instructions.xml.
#
# Usage: scripts/gate.sh [--base REV] [--budget D] [--target-mde PCT] [--full]
#                        [--judge-from-base] [--only-instructions] [--out DIR] [-- FILTER]
#   --base REV         what the working tree is compared with (default HEAD)
#   --budget D         the most time measuring wall time may take (default 5m; 90s, 1h)
#   --target-mde PCT   the MDE at which a benchmark has been measured enough (default 1)
#   --full             the full suite's sizes instead of quick mode (ORCHBENCH_QUICK=1)
#   --judge-from-base  bench-gate built, and thresholds.toml read, from REV: a change
#                      cannot loosen the gate that judges it (the PR workflow's mode)
#   --out DIR          where the reports go (default target/gate)
#   -- FILTER          a Criterion filter (regex on benchmark ids) for the wall-time part
set -euo pipefail
cd "$(dirname "$0")/.."

base=HEAD budget=5m mde=1 quick=1 from_base=0 wall=1 out=target/gate
filter=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base) base=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --target-mde) mde=$2; shift 2 ;;
    --full) quick=0; shift ;;
    --judge-from-base) from_base=1; shift ;;
    --only-instructions) wall=0; shift ;;
    --out) out=$2; shift 2 ;;
    --) if [[ -n "${2:-}" ]]; then filter=(-- "$2"); fi; shift $(( $# > 1 ? 2 : 1 )) ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "gate: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
if (( quick )); then export ORCHBENCH_QUICK=1; fi
if ! base_sha=$(git rev-parse --verify --quiet "$base^{commit}"); then
  echo "gate: revision $base does not exist in this repository" >&2
  exit 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
target="${CARGO_TARGET_DIR:-$PWD/target}"
scratch=$(mktemp -d)
worktrees=()
# shellcheck disable=SC2329  # run by the EXIT trap
cleanup() {
  for tree in "${worktrees[@]}"; do git worktree remove --force "$tree" 2>/dev/null || true; done
  rm -rf "$scratch"
}
trap cleanup EXIT
notes="$out/notes.md"
: > "$notes"

# A worktree of the base at $scratch/$1, removed on exit.
base_tree() {
  git worktree add --quiet --detach "$scratch/$1" "$base_sha"
  worktrees+=("$scratch/$1")
}

# Whether the working tree's PATHS are the base's.
same_as_base() {
  git diff --quiet "$base_sha" -- "$@" && [[ -z "$(git status --porcelain -- "$@")" ]]
}

unchanged=0
if same_as_base .; then unchanged=1; fi
if (( unchanged )); then
  what="the working tree is $base (${base_sha:0:12}): one build measured as both sides, an A/A run"
else
  what="the working tree against $base (${base_sha:0:12})"
fi
cat <<EOF
=== gate: what it compares, and for how long
  wall time: $what,
    in lockstep pairs on this machine, until each benchmark's MDE is ${mde} % or $budget is spent,
    then both sides' instructions per benchmark under Callgrind (about 5 min)
  instruction counts: the gungraun benches of both sides, on this machine (about a minute)
  how long (a 2-core VM, the quick suite): building about 6 min from scratch (each side's
    workspace crates again with the lockstep harness, about 3 min), 1-3 min after an edit;
    measuring at most $budget
EOF
if (( ! wall )); then echo "  (wall time left out: --only-instructions)"; fi

echo
echo "=== gate: the judge"
judge_args=()
if (( from_base )) && ! same_as_base crates/bench-gate Cargo.lock thresholds.toml; then
  base_tree judge-src
  cargo build --locked --release --manifest-path "$scratch/judge-src/Cargo.toml" -p bench-gate \
    --target-dir "$target/gate-judge"
  judge="$target/gate-judge/release/bench-gate"
  judge_args=(--thresholds "$scratch/judge-src/thresholds.toml")
  if ! same_as_base crates/bench-gate Cargo.lock; then
    echo "- This change touches bench-gate: it was judged by $base's." >> "$notes"
  fi
  if ! same_as_base thresholds.toml; then
    echo "- This change touches thresholds.toml: it was judged by $base's." >> "$notes"
  fi
else
  # Without --judge-from-base, or when bench-gate, Cargo.lock and thresholds.toml are
  # the base's: the working tree's build is the judge.
  cargo build --locked --release -p bench-gate
  judge="$target/release/bench-gate"
fi
echo "judge: $judge"

# The head's instruction counts come first: that build of the working tree, in the
# project's target, is what ab's head side starts from (a crate whose sources it has
# not changed is not rebuilt there).
echo
echo "=== gate: instruction counts (gungraun) of the working tree"
in_status=0
count() {
  local home=$1; shift
  GUNGRAUN_HOME="$home" GUNGRAUN_SAVE_SUMMARY=json "$@" cargo bench --locked --bench instructions \
    > "$home.log" 2>&1 || { tail -n 40 "$home.log" >&2; echo "gate: the instruction benches failed ($home.log)" >&2; return 2; }
}
count "$scratch/gungraun-head" || in_status=$?

ab_status=0
if (( wall )); then
  echo
  echo "=== gate: wall time (bench-gate ab)"
  "$judge" ab --base "$base_sha" --budget "$budget" --target-mde "$mde" --no-color "${judge_args[@]}" \
    --markdown "$out/ab.md" --json "$out/ab.json" --junit "$out/ab.xml" "${filter[@]}" || ab_status=$?
fi

echo
echo "=== gate: instruction counts (gungraun) of $base"
if (( in_status == 0 )) && (( unchanged )); then
  echo "- Instruction counts: the working tree is $base, counted once." >> "$notes"
  cp -r "$scratch/gungraun-head" "$scratch/gungraun-base"
elif (( in_status == 0 )); then
  base_tree base-src
  # The base is counted in its own target directory, seeded afresh from the working
  # tree's build that was just counted: a file the base shares with the working tree
  # takes the working tree's time, so cargo judges it as it did there and keeps its
  # compiled unit; every other file is dated now, and the crates it belongs to are
  # built from it. A kept directory would hold an earlier base's units, which such
  # dating could mistake for this base's.
  base_target="$target/gate-base"
  rm -rf "$base_target"
  if [[ -d "$target/release" ]]; then
    mkdir -p "$base_target/release"
    for part in .fingerprint build deps; do
      if [[ -d "$target/release/$part" ]]; then cp -a "$target/release/$part" "$base_target/release/"; fi
    done
    git -C "$scratch/base-src" ls-files -z | (cd "$scratch/base-src" && xargs -0 touch --no-create)
    git -C "$scratch/base-src" ls-files -z | sort -z \
      | comm -z -23 - <(git diff --no-renames --name-only -z "$base_sha" | sort -z) \
      | while IFS= read -r -d '' file; do
          if [[ -f "$file" ]]; then touch -r "$file" "$scratch/base-src/$file"; fi
        done
  fi
  (cd "$scratch/base-src" && count "$scratch/gungraun-base" env CARGO_TARGET_DIR="$base_target") \
    || in_status=$?
fi
if (( in_status == 0 )); then
  "$judge" check --no-color --criterion-dir none --perf-dir none "${judge_args[@]}" \
    --gungraun-base "$scratch/gungraun-base" --gungraun-dir "$scratch/gungraun-head" \
    --markdown "$out/instructions.md" --json "$out/instructions.json" \
    --junit "$out/instructions.xml" || in_status=$?
fi

{
  if (( wall )); then echo "## bench-gate"; else echo "### Instruction counts of the gungraun benches"; fi
  echo
  cat "$notes"
  for part in ab instructions; do
    if [[ -f "$out/$part.md" ]]; then echo; cat "$out/$part.md"; fi
  done
} > "$out/gate.md.tmp"
mv "$out/gate.md.tmp" "$out/gate.md"

echo
status=0
parts=("instruction counts:$in_status")
if (( wall )); then parts=("wall time:$ab_status" "${parts[@]}"); fi
for part in "${parts[@]}"; do
  name=${part%%:*}; code=${part#*:}
  case "$code" in
    0) echo "gate, $name: no critical regression" ;;
    1) echo "gate, $name: CRITICAL regression (above; $out/)"; (( status == 2 )) || status=1 ;;
    *) echo "gate, $name: could not judge (exit $code, above)"; status=2 ;;
  esac
done
exit "$status"
