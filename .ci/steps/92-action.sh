#!/usr/bin/env bash
# the action (action/) on a project that is not ours: its PR gate, fork-safe comments, an accepted regression, shards
set -euo pipefail
source .ci/lib.sh
# A scratch Criterion crate with its own git history (a bare origin, three commits: the
# base, a comment, 3 % more work) uses this checkout's action as
# `orchbench/orchbench/action@main` in a workflow of at most 15 lines, run by
# scripts/run-workflow.py as GitHub would run it: a comment-only PR from a fork is green
# with a report and its job posts nothing; the companion workflow posts the report
# (through .ci/bin/gh, which records calls), edits it the next time, and refuses an
# artifact whose PR has another head; 3 % more work is red naming the benchmarks; the
# same PR with `accept … up to 10%` lines by an author the policy names is green,
# `accepted`; and the suite in 2 shards merged gives the unsharded run's verdicts.
# The runs build in this checkout's target directory, as the PR step's do: the action's
# `cargo install` there finds the comparator's dependencies compiled by that step's judge.
here=$PWD
act="$CI_TMP/action"
proj="$act/proj"
mkdir -p "$act/gh" "$act/cache" "$proj/benches" "$proj/src" "$proj/.github/workflows"

bench() {
  cat > "$proj/benches/work.rs" <<EOF
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

// $2
fn spin(n: u64) -> u64 {
    let mut x = 1u64;
    for i in 0..n {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
    }
    x
}

fn benches(c: &mut Criterion) {
    c.bench_function("work/spin", |b| b.iter(|| spin(black_box($1))));
    c.bench_function("work/spin_half", |b| b.iter(|| spin(black_box($1 / 2))));
}

criterion_group!(g, benches);
criterion_main!(g);
EOF
}
cat > "$proj/Cargo.toml" <<'EOF'
[package]
name = "scratch-spin"
version = "0.1.0"
edition = "2021"

[dev-dependencies]
criterion = { version = "0.8", default-features = false, features = ["cargo_bench_support"] }

[[bench]]
name = "work"
harness = false
EOF
echo '//! A project that is not orchbench.' > "$proj/src/lib.rs"
printf '/target\n' > "$proj/.gitignore"
cat > "$proj/thresholds.toml" <<'EOF'
[defaults]
warning = "5%"
critical = "8%"
[defaults.instructions]
warning = "0.5%"
critical = "2%"
[accept]
by = ["maintainer"]
EOF
cat > "$proj/.github/workflows/bench.yml" <<'EOF'
name: bench-gate
on: pull_request
permissions: {contents: read}
jobs:
  gate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
        with: {fetch-depth: 0}
      - uses: orchbench/orchbench/action@main
        with: {budget: 45s}
EOF
cat > "$proj/.github/workflows/bench-comment.yml" <<'EOF'
name: bench-gate comment
on:
  workflow_run: {workflows: [bench-gate], types: [completed]}
permissions: {actions: read, pull-requests: write}
jobs:
  comment:
    if: github.event.workflow_run.event == 'pull_request'
    runs-on: ubuntu-latest
    steps:
      - uses: orchbench/orchbench/action/comment@main
EOF
cat > "$proj/.github/workflows/bench-sharded.yml" <<'EOF'
name: bench-gate sharded
on: pull_request
jobs:
  measure:
    runs-on: ubuntu-latest
    strategy: {matrix: {shard: [1/2, 2/2]}}
    steps:
      - uses: actions/checkout@v4
        with: {fetch-depth: 0}
      - uses: orchbench/orchbench/action@main
        with: {budget: 45s, shard: "${{ matrix.shard }}"}
  judge:
    needs: measure
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/download-artifact@v4
        with: {pattern: bench-gate-report-*, path: shards}
      - uses: orchbench/orchbench/action@main
        with: {merge: shards}
EOF
lines=$(wc -l < "$proj/.github/workflows/bench.yml")
(( lines <= 15 )) || fail "the scratch project's workflow has $lines lines (at most 15)"

# The history: the base on main, then two PR heads on branches of their own.
g() { git -C "$proj" -c user.name=ci -c user.email=ci@localhost "$@"; }
bench 100000 'work per iteration'
g init --quiet --initial-branch=main
g add -A
g commit --quiet -m "A project that is not orchbench"
base=$(g rev-parse HEAD)
bench 100000 'the work per iteration, in spin below'
g commit --quiet -am "A comment"
comment=$(g rev-parse HEAD)
g checkout --quiet -b slower "$base"
bench 103000 'work per iteration'
g commit --quiet -am "3 % more work"
slower=$(g rev-parse HEAD)
g checkout --quiet main
git clone --quiet --bare "$proj" "$act/origin.git"
g remote add origin "$act/origin.git"

# A pull_request event: number 7, its head, its author, its description.
event() {
  python3 - "$act/$1.json" "$base" "$2" "$3" "$4" <<'EOF'
import json, sys
path, base, head, author, body = sys.argv[1:]
json.dump({"pull_request": {"number": 7, "body": body, "user": {"login": author}, "labels": [],
           "base": {"sha": base}, "head": {"sha": head, "repo": {"full_name": "a-fork/scratch-spin"}}}},
          open(path, "w"))
EOF
}
run() {
  local workflow=$1; shift
  PATH="$here/.ci/bin:$PATH" GH_CALLS="$act/gh" CARGO_TARGET_DIR="$here/target" bounded 1800 \
    python3 "$here/scripts/run-workflow.py" "$proj/.github/workflows/$workflow" --repo "$proj" \
    --action "orchbench/orchbench=$here" --cache "$act/cache" "$@"
}
verdict() { python3 -c 'import json, sys; print(" ".join(sorted(c["id"] + "=" + c["verdict"] for c in json.load(open(sys.argv[1]))["comparisons"])))' "$1"; }
touch "$act/gh/calls"

echo "--- a comment-only PR from a fork: green, a report, no comment from its job"
event comment "$comment" contributor "Explains the loop."
run bench.yml --job gate --event "$act/comment.json" --artifacts "$act/art-comment" \
  || fail "a comment-only PR failed the action's gate"
report="$act/art-comment/bench-gate-report"
for f in gate.md ab.md ab.json pr-number head-sha; do
  [[ -s "$report/$f" ]] || fail "the action's report has no $f"
done
grep -q 'work/spin' "$report/gate.md" || fail "the report does not name work/spin"
[[ ! -s "$act/gh/calls" ]] || fail "the PR's own job called gh: $(cat "$act/gh/calls")"

echo "--- the companion posts it, edits it the next time, and refuses another PR's artifact"
cat > "$act/run.json" <<EOF
{"workflow_run": {"id": 1, "event": "pull_request", "conclusion": "success", "head_sha": "$comment"}}
EOF
echo "$comment" > "$act/gh/pull-7-head"
comment_job() {
  run bench-comment.yml --job comment --event-name workflow_run --event "$act/run.json" --artifacts "$act/art-comment"
}
comment_job || fail "the companion did not post the report"
grep -q -- '--method POST repos/local/repository/issues/7/comments' "$act/gh/calls" || fail "no comment posted: $(cat "$act/gh/calls")"
cmp -s "$act/gh/body-$(grep -n -- '--method POST' "$act/gh/calls" | cut -d: -f1)" "$report/gate.md" \
  || fail "the comment posted is not the report"
echo 4242 > "$act/gh/comment-ids"
comment_job || fail "the companion did not edit its comment"
grep -q -- '--method PATCH repos/local/repository/issues/comments/4242' "$act/gh/calls" || fail "the earlier comment was not edited"
git -C "$proj" rev-parse "$slower" > "$act/gh/pull-7-head"
calls=$(wc -l < "$act/gh/calls")
if comment_job; then fail "the companion posted a report whose PR has another head"; fi
if tail -n +"$((calls + 1))" "$act/gh/calls" | grep -q -- '--method'; then fail "a refused report was posted"; fi

echo "--- 3 % more work: red, naming the benchmarks"
event slower "$slower" contributor "Does more work."
if run bench.yml --job gate --event "$act/slower.json" --artifacts "$act/art-slower"; then
  fail "3 % more work passed the action's gate"
fi
grep -q 'critical' "$act/art-slower/bench-gate-report/gate.md" || fail "the red report names no critical benchmark"
whole=$(verdict "$act/art-slower/bench-gate-report/ab.json")
echo "unsharded: $whole"
[[ $whole == *"instructions/work/spin=critical"* ]] || fail "work/spin's counts are not critical: $whole"

echo "--- the same with accept lines by a maintainer: green, accepted"
event accepted "$slower" maintainer "$(printf 'Does more work, on purpose.\n\nbench-gate: accept work/spin up to 10%%\nbench-gate: accept work/spin_half up to 10%%\n')"
run bench.yml --job gate --event "$act/accepted.json" --artifacts "$act/art-accepted" \
  || fail "accepted regressions failed the action's gate"
accepted=$(verdict "$act/art-accepted/bench-gate-report/ab.json")
echo "accepted: $accepted"
[[ $accepted == *"instructions/work/spin=accepted"* && $accepted != *critical* ]] \
  || fail "the accept lines did not accept: $accepted"
grep -q 'by @maintainer' "$act/art-accepted/bench-gate-report/ab.md" || fail "the report does not say who accepted"

echo "--- the suite in 2 shards, merged: the unsharded run's verdicts"
for shard in 1/2 2/2; do
  run bench-sharded.yml --job measure --matrix "shard=$shard" --event "$act/slower.json" --artifacts "$act/art-shards" \
    || fail "shard $shard failed"
done
if run bench-sharded.yml --job judge --event "$act/slower.json" --artifacts "$act/art-shards"; then
  fail "the merged shards passed 3 % more work"
fi
merged=$(verdict "$act/art-shards/bench-gate-report/ab.json")
echo "merged: $merged"
[[ $merged == "$whole" ]] || fail "the merged shards' verdicts ($merged) are not the unsharded run's ($whole)"
