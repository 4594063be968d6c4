#!/usr/bin/env bash
# The comment action's one step: the report artifact in $REPORT came from a gate run
# on commit $RUN_HEAD_SHA. Its pr-number is only a claim (a fork's job wrote it), so
# it is checked: the PR it names must exist in $REPO and have that commit as its head,
# and the artifact's head-sha must be that commit too; otherwise nothing is posted and
# this step fails. The comment is gate.md, edited in place when the PR has one from an
# earlier run (found by the `<!-- bench-gate -->` mark it starts with).
set -euo pipefail

refuse() {
  echo "::error title=bench-gate comment::$1"
  exit 1
}

[[ ${RUN_EVENT:-} == pull_request ]] || refuse "the gate run was a ${RUN_EVENT:-?} event, not a pull_request: nothing to comment on"
for f in pr-number head-sha gate.md; do
  [[ -s "$REPORT/$f" ]] || refuse "the report artifact has no $f"
done
pr=$(tr -d '[:space:]' < "$REPORT/pr-number")
[[ $pr =~ ^[0-9]+$ ]] || refuse "the report artifact's pr-number is not a number"
claimed=$(tr -d '[:space:]' < "$REPORT/head-sha")
[[ $claimed == "$RUN_HEAD_SHA" ]] \
  || refuse "the report was measured on $claimed, but the run that uploaded it was on $RUN_HEAD_SHA"
actual=$(gh api "repos/$REPO/pulls/$pr" --jq .head.sha) || refuse "PR #$pr of $REPO could not be read"
[[ $actual == "$RUN_HEAD_SHA" ]] \
  || refuse "the report names PR #$pr, whose head is $actual, not the gate run's $RUN_HEAD_SHA: not posted"

echo "pr=$pr" >> "$GITHUB_OUTPUT"
mark='<!-- bench-gate -->'
earlier=$(gh api "repos/$REPO/issues/$pr/comments" --paginate \
  --jq ".[] | select(.body | startswith(\"$mark\")) | .id" | tail -n 1)
if [[ -n $earlier ]]; then
  gh api --method PATCH "repos/$REPO/issues/comments/$earlier" -F "body=@$REPORT/gate.md" > /dev/null
  echo "bench-gate comment: edited comment $earlier on PR #$pr"
else
  gh api --method POST "repos/$REPO/issues/$pr/comments" -F "body=@$REPORT/gate.md" > /dev/null
  echo "bench-gate comment: commented on PR #$pr"
fi
