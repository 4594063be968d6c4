#!/usr/bin/env bash
# perf-test's load tests, tools, rate limits, speculation, coordination and overload, gated on thresholds.toml's targets less what the machine itself added
set -euo pipefail
source .ci/lib.sh
# Each report carries wakeup_max: how late a 1 ms sleep woke beside the run on any CPU,
# the machine's own scheduling delay (a stall of a VM's CPU delays the sampler pinned
# there at real-time priority and the run's tasks there alike). The gate takes it off
# each report's times before judging them, so a stall of a busy host is not read as a
# regression and no attempt is repeated; a change that adds its own delay to the tail
# is still over the bound. Efficiency, RSS and the overload's counts are judged as
# measured.
rm -rf target/perf
perf=("$release/perf-test")
bounded 300 "${perf[@]}" --config standard
bounded 300 "${perf[@]}" --config memory
bounded 300 "${perf[@]}" tools --probe 0
bounded 300 "${perf[@]}" ratelimit --seconds 3
bounded 300 "${perf[@]}" speculate
bounded 300 "${perf[@]}" coordinate
bounded 300 "${perf[@]}" profile overload --svg target/perf/overload.svg
"$release/bench-gate" check --no-color --profile linux-2core-quick \
  --criterion-dir none --gungraun-dir none --perf-dir target/perf --allowance-from wakeup_max
