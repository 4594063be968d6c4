#!/usr/bin/env bash
# Installs the gungraun-runner binary that benches/instructions.rs needs: the version
# of the `gungraun` crate locked in Cargo.lock (the runner and the library must match),
# only when it is missing or another version. Also checks that valgrind is installed,
# installing Debian's package when possible.
#
# Usage: scripts/install-gungraun-runner.sh
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(awk '/^name = "gungraun"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [[ -z "$want" ]]; then
  echo "install-gungraun-runner: no gungraun package in Cargo.lock" >&2
  exit 2
fi

if ! command -v valgrind >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends valgrind >/dev/null
fi
valgrind --version

have=""
if command -v gungraun-runner >/dev/null 2>&1; then
  have=$(gungraun-runner --version 2>/dev/null | awk '{ print $NF }')
fi
if [[ "$have" != "$want" ]]; then
  echo "gungraun-runner ${have:-missing}: installing $want"
  cargo install --locked --quiet gungraun-runner --version "$want"
fi
echo "gungraun-runner $(gungraun-runner --version 2>/dev/null | awk '{ print $NF }') (gungraun $want)"
