#!/usr/bin/env bash
# every bench once (cargo bench -- --test), and the release binaries the later steps run
set -euo pipefail
source .ci/lib.sh
bounded 1200 cargo bench --locked -- --test
# Built once for the whole workspace (the features the benches unify), so the steps
# below run them without a rebuild.
cargo build --locked --release --workspace --bins --examples
