#!/usr/bin/env bash
# Installs bench-gate for the action from the action's own checkout (the repository
# and ref named in `uses:`), once per source: `key` names the build (a hash of the
# comparator's sources and the lock file) and where it goes, for actions/cache;
# `install` builds it there unless the cache restored it, and puts it on PATH.
set -euo pipefail
src=$(cd "$GITHUB_ACTION_PATH/.." && pwd)
case "${1:-}" in
  key)
    hash=$(cd "$src" && find crates/bench-gate Cargo.lock Cargo.toml -type f \
      -not -path '*/tests/*' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
    root="${RUNNER_TOOL_CACHE:-$HOME/.cache}/bench-gate/$hash"
    echo "key=bench-gate-${RUNNER_OS:-Linux}-$(uname -m)-$hash" >> "$GITHUB_OUTPUT"
    echo "root=$root" >> "$GITHUB_OUTPUT"
    ;;
  install)
    root=${ROOT:?the key step names the root}
    if [[ -x "$root/bin/bench-gate" ]]; then
      echo "bench-gate: $("$root/bin/bench-gate" --version), cached in $root"
    else
      cargo install --locked --quiet --path "$src/crates/bench-gate" --root "$root"
      echo "bench-gate: $("$root/bin/bench-gate" --version), built from $src"
    fi
    echo "$root/bin" >> "$GITHUB_PATH"
    ;;
  *)
    echo "install.sh: say key or install" >&2
    exit 2
    ;;
esac
