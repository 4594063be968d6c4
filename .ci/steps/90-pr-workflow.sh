#!/usr/bin/env bash
# the PR workflow (bench-gate.yml) run step by step on a scratch repository: a comment-only PR from a fork
set -euo pipefail
source .ci/lib.sh
# A clone of this checkout (its origin a local bare clone) plus one commit, a comment in
# the planner, as a PR's head; the job runs through scripts/run-workflow.py with its env
# and expressions, on a small filter and a one-minute budget. The event names a fork,
# so the comment step is skipped and the fork's notice runs. The clone shares this
# checkout's target directory, and the history step below runs in it too (the PR,
# merged), so its builds are reused there.
pr="$CI_TMP/pr"
repo="$CI_TMP/repo"
mkdir -p "$pr"
git clone --quiet --bare . "$CI_TMP/origin.git"
git clone --quiet "$CI_TMP/origin.git" "$repo"
base_sha=$(git -C "$repo" rev-parse HEAD)
planner_file=$(git -C "$repo" ls-files 'crates/orchbench/src/planner/*.rs' | head -1)
printf '// A comment-only change: the PR workflow run by .ci/run.\n' >> "$repo/$planner_file"
git -C "$repo" -c user.name=ci -c user.email=ci@localhost commit --quiet -am "A comment"
head_sha=$(git -C "$repo" rev-parse HEAD)
cat > "$pr/event.json" <<JSON
{"pull_request": {"number": 1, "base": {"sha": "$base_sha"}, "head": {"sha": "$head_sha",
 "repo": {"full_name": "a-fork/orchbench"}}}}
JSON
CARGO_TARGET_DIR="$PWD/target" bounded 2400 python3 scripts/run-workflow.py .github/workflows/bench-gate.yml \
  --job gate --repo "$repo" --event "$pr/event.json" --artifacts "$pr/artifacts" \
  --env AB_BUDGET=60s --env 'AB_FILTER=^(graph_planning/plan/100|rate_limiters/token_bucket/try_acquire)$'
report="$pr/artifacts/bench-gate-report"
for f in gate.md ab.json instructions.md pr-number; do
  [[ -s "$report/$f" ]] || fail "the workflow's report has no $f"
done
grep -q 'graph_planning/plan/100' "$report/ab.json" || fail "the PR's ab report does not name graph_planning/plan/100"
# The history report step shows this verdict.
cp "$report/ab.json" "$CI_TMP/pr-ab.json"
