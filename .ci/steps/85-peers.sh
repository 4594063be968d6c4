#!/usr/bin/env bash
# answers side by side with the peers: NetworkX on the planner's graphs, MongoDB's E-Divisive on the change-point histories
set -euo pipefail
source .ci/lib.sh
python3 scripts/compare_networkx.py --quick --sizes 100,1000 --min-time 0.2
python3 scripts/compare_changepoints.py --bench-gate "$release/bench-gate"
python3 scripts/test_run_workflow.py
