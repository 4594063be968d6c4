#!/usr/bin/env bash
# instruction counts: two runs of one build identical, and gated against the committed baseline
set -euo pipefail
source .ci/lib.sh
rm -rf target/gungraun "$CI_TMP/gungraun-first"
cargo bench --locked --bench instructions
cp -r target/gungraun "$CI_TMP/gungraun-first"
cargo bench --locked --bench instructions
gate=("$release/bench-gate" check --no-color --criterion-dir none --perf-dir none)
"${gate[@]}" --gungraun-base "$CI_TMP/gungraun-first" --identical-counts
"${gate[@]}" --profile linux-2core-quick
