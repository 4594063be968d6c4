# shellcheck shell=bash
# Helpers the steps of .ci/run share (sourced, not run).

# Runs a command with a time limit: a hang (a lost wake-up, a dead server) fails the
# step with a message naming it, instead of running into CI's 90-minute limit.
bounded() {
  local limit=$1; shift
  local rc=0
  timeout --kill-after=30 "$limit" "$@" || rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    echo "TIMED OUT after ${limit}s: $*" >&2
  fi
  return "$rc"
}

# Fails the step with a message.
fail() {
  echo "$*" >&2
  exit 1
}

# The first line of the README's code block after the marker <!-- NAME -->.
readme_command() {
  awk -v marker="<!-- $1 -->" '$0 == marker {found=1; next}
    found && /^```/ {if (inblock) exit; inblock=1; next}
    found && inblock {print; exit}' README.md
}

# The release binaries the steps run (built once by the benches step, with the whole
# workspace's features, so no later `cargo run` rebuilds a dependency).
# shellcheck disable=SC2034  # read by the steps that source this file
release=target/release
