#!/usr/bin/env bash
# bench-gate alone: packaged, then built with its tests and unit-tested outside the workspace
set -euo pipefail
source .ci/lib.sh
# The invariant of the crate split: the comparator needs nothing of the engine. The
# packaged crate (its manifest resolved, its own lock file) is unpacked into a scratch
# directory and built there, every target, with its own target directory; its unit
# tests run there (its integration tests ran in the test step, on the same sources).
alone="$CI_TMP/alone"
mkdir -p "$alone"
cargo package --locked --allow-dirty --no-verify -p bench-gate --quiet
tar -xzf target/package/bench-gate-*.crate -C "$alone"
(cd "$alone"/bench-gate-* && export CARGO_TARGET_DIR="$alone/target" \
  && bounded 900 cargo test --locked --quiet --lib --bins \
  && bounded 900 cargo build --locked --quiet --all-targets)
if cargo tree --locked -p bench-gate -e normal --prefix none | grep -E '^(orchbench|tokio|redis|petgraph|sysinfo) '; then
  fail "bench-gate depends on the engine or its stack (above)"
fi
