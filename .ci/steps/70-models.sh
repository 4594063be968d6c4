#!/usr/bin/env bash
# the exact models: rate limits on the virtual clock, the published queueing study's table, the pool against the run as it happened
set -euo pipefail
source .ci/lib.sh
"$release/examples/ratelimit_scenarios" --virtual
"$release/perf-test" model --max-workers 4 --arrival-rate 100 --service-rate 120 --network-delay 0.005
# Measured vs model, judged against the run as it happened: the pool beside an ideal
# FCFS queue fed the submissions and run times as they were recorded, so neither
# sampling (short runs miss the M/M/c mean by up to ~20 %) nor a late timer wake-up of a
# busy VM (it stretches every task, and the ideal queue's too) moves the ratio. What is
# left is the pool's own dispatch and queueing: within 2 % here, quiet or with both
# cores loaded; a 50 us dispatch delay (10 % of a task) makes it 1.07-1.21 and fails.
# A worker's stall between tasks longer than a fifth of a task, up to the worst
# wake-up the run's samplers saw, counts as the machine's (docs/scheduler.md).
bounded 300 "$release/examples/queue_model_check" --quick --against realized --tolerance 0.1
