#!/usr/bin/env bash
# Installs what the suite and its tests need beyond a Rust toolchain, only what is
# missing, so that both README commands work on a fresh machine and no test can pass by
# skipping its real dependency:
#   - redis-server (Debian's package): the Redis event-bus tests and benches and the
#     distributed load tests start their own servers on free loopback ports; the
#     package's system service is stopped again if installing it started one;
#   - valgrind and gungraun-runner (scripts/install-gungraun-runner.sh): the
#     instruction-count benches and the gate's regression demonstration.
# Root installs directly; anyone else through sudo. Exit 0 when all is there, 2 when
# something could not be installed (the message says what).
#
# Usage: scripts/install-deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "install-deps: redis-server missing: installing Debian's redis-server package"
  if ! { $sudo apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends redis-server >/dev/null; }; then
    echo "install-deps: could not install redis-server (apt-get failed); install it and run again" >&2
    exit 2
  fi
  # The package may start a system service on port 6379; the tests start their own.
  $sudo service redis-server stop >/dev/null 2>&1 || true
fi
redis-server --version

bash scripts/install-gungraun-runner.sh
