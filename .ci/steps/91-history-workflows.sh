#!/usr/bin/env bash
# the history workflow (bench-history.yml) and the baseline refresh (baseline-refresh.yml), run step by step on a scratch repository
set -euo pipefail
source .ci/lib.sh
# In the PR step's scratch repository, its head now pushed to main: the origin is a
# local bare clone, so the history branch is really fetched and pushed. The branch is
# seeded with 16 runs on this machine's profile id (a +43 % step of
# graph_planning/plan/100 at run 10, 1 % noise) and the workflow appends a real run of a
# small filter, its two bench targets alone built (as in the PR step, whose builds it
# reuses). GitHub's CLI cannot reach GitHub here: .ci/bin/gh records each call and
# the body it was given, and the issue it was asked to open is checked.
hist="$CI_TMP/history"
repo="$CI_TMP/repo"
origin="$CI_TMP/origin.git"
mkdir -p "$hist/gh"
git -C "$repo" push --quiet origin HEAD:refs/heads/main
machine=$("$release/bench-gate" baseline machine)
python3 .ci/history_fixture.py seed "$hist/seed.jsonl" "$machine"
(
  cd "$repo"
  blob=$(git hash-object -w "$hist/seed.jsonl")
  tree=$(printf '100644 blob %s\thistory.jsonl\n' "$blob" | git mktree)
  seed=$(git -c user.name=ci -c user.email=ci@localhost commit-tree "$tree" -m "a seeded history")
  git push --quiet origin "$seed:refs/heads/bench-history"
)
filter='^(graph_planning/plan/100|rate_limiters/token_bucket/try_acquire)$'
workflow() {
  PATH="$PWD/.ci/bin:$PATH" GH_CALLS="$hist/gh" CARGO_TARGET_DIR="$PWD/target" bounded 2400 \
    python3 scripts/run-workflow.py "$@"
}
workflow .github/workflows/bench-history.yml --job history --repo "$repo" \
  --event-name push --artifacts "$hist/artifacts" --env "BENCH_FILTER=$filter" \
  --env "BENCH_CARGO_ARGS=--bench graph_planning --bench rate_limiters"
for f in history.html change-points.json change-points.md; do
  [[ -s "$hist/artifacts/bench-history-report/$f" ]] || fail "the history report has no $f"
done
[[ $(git -C "$origin" show bench-history:history.jsonl | wc -l) -eq 17 ]] \
  || fail "the bench-history branch does not hold the 16 seeded runs and this one"
git -C "$origin" show bench-history:history.jsonl | tail -1 \
  | grep -q '"instructions/graph_planning/plan/100":' \
  || fail "the appended run has no instruction count of graph_planning/plan/100 (bench-gate count)"
git -C "$origin" show bench-history:change-points.json | grep -q '"commit": "seed10' \
  || fail "the seeded step at run 10 is not among the kept change points"
grep -q '^issue create' "$hist/gh/calls" || fail "no issue was opened for the new regression"
grep -l 'graph_planning/plan/100' "$hist"/gh/body-* >/dev/null || fail "the issue's body does not name the regression"

# The refresh's PR body lists the change points since the last baseline. The previous
# baseline is this machine's, saved from the run above and dated at the seeded run 8,
# so the history's change points after it (the step at run 10) are listed. The refresh
# measures the same filter with the same two bench targets built.
profile="github-ubuntu-quick-$machine"
(
  cd "$repo"
  "$OLDPWD/$release/bench-gate" baseline save --profile "$profile" \
    --criterion-dir "$OLDPWD/target/criterion" --gungraun-dir "$OLDPWD/target/gungraun" --perf-dir none
  python3 "$OLDPWD/.ci/history_fixture.py" date-baseline "baselines/$profile.json" 8
  git add baselines
  git -c user.name=ci -c user.email=ci@localhost commit --quiet -m "A previous baseline"
)
: > "$hist/gh/calls"
workflow .github/workflows/baseline-refresh.yml --job refresh --repo "$repo" \
  --event-name schedule --env REFRESH_RUNS=2 --env "REFRESH_FILTER=$filter" \
  --env "REFRESH_CARGO_ARGS=--bench graph_planning --bench rate_limiters"
grep -q '^pr create' "$hist/gh/calls" || fail "the refresh proposed no pull request"
body="$hist/gh/body-$(grep -n '^pr create' "$hist/gh/calls" | head -1 | cut -d: -f1)"
if ! grep -q 'since `seed08' "$body" || ! grep -q 'graph_planning/plan/100' "$body"; then
  cat "$body" >&2
  fail "the refresh's PR body does not list the change points since the last baseline (above)"
fi
git -C "$origin" rev-parse --verify --quiet \
  "refs/heads/baseline-refresh/$profile/$(date -u +%Y-%m)" >/dev/null || fail "the refresh branch was not pushed"
