#!/usr/bin/env bash
# the README's test command, read from the README itself; the tests leave the checkout as they found it
set -euo pipefail
source .ci/lib.sh
test_command=$(readme_command test-command)
[[ -n "$test_command" ]] || fail "README.md has no test command after <!-- test-command -->"
echo "+ $test_command"
before=$(git status --porcelain --untracked-files=all)
bounded 1800 bash -c "$test_command"
# A test that renamed a file over /dev/null once turned it into a plain file.
[[ -c /dev/null ]] || fail "/dev/null is no longer a device after the tests"
# Each test writes into its own temp dir: a file left in the checkout shows in `git
# status` (the workspace's target/ is ignored; a crate's own target/ is not).
after=$(git status --porcelain --untracked-files=all)
if [[ "$after" != "$before" ]]; then
  diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
  fail "the tests changed the checkout (above)"
fi
