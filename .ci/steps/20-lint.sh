#!/usr/bin/env bash
# formatting, module circles, clippy with warnings denied, the workflows and shell scripts
set -euo pipefail
cargo fmt --all -- --check
python3 scripts/module-circles.py
cargo clippy --locked --workspace --all-targets -- -D warnings
python3 scripts/lint_workflows.py
shellcheck .ci/run .ci/lib.sh .ci/steps/*.sh .ci/bin/* scripts/*.sh action/*.sh action/*/*.sh
