#!/usr/bin/env bash
# the history report in headless Chromium: the whole suite over 200 runs, with the PR workflow's ab verdict
set -euo pipefail
source .ci/lib.sh
# The page loads from file:// with no console error and no request leaving it, one chart
# per benchmark, hover shows a run's commit, <= 2 s and <= 5 MB; screenshots are kept.
rm -rf target/history-page
bounded 300 python3 scripts/check_history_page.py --bench-gate "$release/bench-gate" \
  --out target/history-page --runs 200 --verdict "$CI_TMP/pr-ab.json"
grep -q 'Latest verdict' target/history-page/history.html || fail "the history page shows no latest verdict"
