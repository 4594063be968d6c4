#!/usr/bin/env bash
# the PR workflow (bench-gate.yml, through the merge-base's action/) run step by step on a scratch repository: a comment-only PR from a fork
set -euo pipefail
source .ci/lib.sh
# A clone of this checkout (its origin a local bare clone) plus one commit, a comment in
# the planner, as a PR's head; the job runs through scripts/run-workflow.py with its env
# and expressions, on a small filter (only its two bench targets built) and a 30 s
# budget. Its wall-time part is the merge-base's action/ (a composite action); the
# artifact is one report, the instruction counts' part inside. The event names a fork;
# the job comments on nothing either way (bench-gate-comment.yml does:
# .ci/steps/92-action.sh). The clone shares this checkout's target directory, and the
# history step next (91) runs in it too (the PR, merged), so its builds are reused there
# before the action's scratch project (92) builds other sides in the same directory.
pr="$CI_TMP/pr"
repo="$CI_TMP/repo"
mkdir -p "$pr"
git clone --quiet --bare . "$CI_TMP/origin.git"
git clone --quiet "$CI_TMP/origin.git" "$repo"
# A clone dates every file now, newer than every unit this checkout built, so cargo
# would compile every workspace crate again for the shared target directory. A file
# this checkout holds as committed takes its time (one edited here keeps the clone's).
declare -A edited=()
while IFS= read -r -d '' file; do edited[$file]=1; done < <(git diff --name-only -z HEAD)
while IFS= read -r -d '' file; do
  if [[ -z "${edited[$file]:-}" && -f "$file" ]]; then touch -r "$file" "$repo/$file"; fi
done < <(git -C "$repo" ls-files -z)
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
  --env AB_BUDGET=30s --env 'AB_FILTER=^(graph_planning/plan/100|rate_limiters/token_bucket/try_acquire)$' \
  --env 'AB_CARGO_ARGS=--bench graph_planning --bench rate_limiters'
report="$pr/artifacts/bench-gate-report"
for f in gate.md ab.json pr-number head-sha; do
  [[ -s "$report/$f" ]] || fail "the workflow's report has no $f"
done
grep -q 'Instruction counts of the gungraun benches' "$report/gate.md" \
  || fail "the workflow's report lacks the instruction counts' part"
grep -q 'graph_planning/plan/100' "$report/ab.json" || fail "the PR's ab report does not name graph_planning/plan/100"
# The history report step shows this verdict.
cp "$report/ab.json" "$CI_TMP/pr-ab.json"
