#!/usr/bin/env bash
# The bench-gate action's measuring step (action.yml passes its inputs as INPUT_* and
# the PR as PR_*): finds the head and its merge-base, runs `bench-gate ab` (or `merge`
# over shards' reports) with the PR's accept lines, and writes the report directory the
# artifact holds: gate.md (the PR comment and job summary, marked for the companion
# to find and edit), ab.md, ab.json, ab.xml, ab.log, pr-number and head-sha. Its
# outputs: status (the exit code the action ends with), verdict, critical, warnings,
# accepted, report, artifact. It exits 0 once the report is written, whatever the
# verdict: the action's last step turns the status into the job's result.
set -euo pipefail

report="$RUNNER_TEMP/bench-gate-report"
rm -rf "$report"
mkdir -p "$report"
cd "${INPUT_WORKING_DIRECTORY:-.}"

output() { echo "$1=$2" >> "$GITHUB_OUTPUT"; }
artifact=${INPUT_ARTIFACT:-bench-gate-report}
if [[ -n ${INPUT_SHARD:-} ]]; then artifact="$artifact-${INPUT_SHARD/\//-of-}"; fi
output artifact "$artifact"
output report "$report"

# The report of a run that could not start: exit 2 with the reason.
cannot() {
  echo "::error title=bench-gate::$1"
  printf '<!-- bench-gate -->\n### bench-gate\n\nCould not judge: %s\n' "$1" > "$report/gate.md"
  cat "$report/gate.md" >> "$GITHUB_STEP_SUMMARY"
  output status 2
  output verdict cannot-judge
  exit 0
}

# A commit, fetched from origin when the checkout lacks it.
commit() {
  git cat-file -e "$1^{commit}" 2>/dev/null || git fetch --quiet --no-tags origin "$1" 2>/dev/null || true
  git rev-parse --verify --quiet "$1^{commit}"
}

head=${INPUT_HEAD:-${PR_HEAD_SHA:-HEAD}}
head_sha=$(commit "$head") || cannot "the head revision $head is not in this repository"
if [[ -n ${INPUT_BASE:-} ]]; then
  base=$(commit "$INPUT_BASE") || cannot "the base revision $INPUT_BASE is not in this repository"
elif [[ -n ${PR_BASE_SHA:-} ]]; then
  pr_base=$(commit "$PR_BASE_SHA") || cannot "the PR's base $PR_BASE_SHA is not in this repository"
  if ! base=$(git merge-base "$pr_base" "$head_sha"); then
    # A shallow checkout: its history is fetched once to find the merge-base.
    git fetch --quiet --unshallow --no-tags origin 2>/dev/null || true
    base=$(git merge-base "$pr_base" "$head_sha") || cannot "no merge-base of $PR_BASE_SHA and $head_sha"
  fi
else
  cannot "no base: outside a pull_request event, give the action's base input"
fi
echo "bench-gate: the head ${head_sha:0:12} against its merge-base ${base:0:12}"
echo "${PR_NUMBER:-}" > "$report/pr-number"
echo "$head_sha" > "$report/head-sha"

# The PR's description, author and labels, for accept lines (a shard leaves them to
# the merge).
pr=()
if [[ -z ${INPUT_SHARD:-} && -n ${PR_NUMBER:-} ]]; then
  printf '%s\n' "${PR_BODY:-}" > "$report/pr-body.md"
  pr+=(--pr-body "$report/pr-body.md")
  if [[ -n ${PR_AUTHOR:-} ]]; then pr+=(--pr-author "$PR_AUTHOR"); fi
  while IFS= read -r label; do
    if [[ -n $label ]]; then pr+=(--pr-label "$label"); fi
  done < <(python3 -c 'import json, sys; [print(l["name"]) for l in json.loads(sys.argv[1] or "[]") or []]' "${PR_LABELS:-[]}")
fi

files=(--markdown "$report/ab.md" --json "$report/ab.json" --junit "$report/ab.xml")
status=0
if [[ -n ${INPUT_MERGE:-} ]]; then
  mapfile -t shards < <(find "$INPUT_MERGE" -name ab.json | sort)
  if (( ${#shards[@]} == 0 )); then cannot "no shard reports (ab.json) under $INPUT_MERGE"; fi
  bench-gate merge --no-color "${shards[@]}" "${pr[@]}" "${files[@]}" 2>&1 | tee "$report/ab.log" \
    || status=${PIPESTATUS[0]}
else
  args=(--base "$base" --head "$head_sha" --no-color "${files[@]}" "${pr[@]}")
  if [[ -n ${INPUT_ROUNDS:-} ]]; then args+=(--rounds "$INPUT_ROUNDS"); else args+=(--budget "${INPUT_BUDGET:-10m}"); fi
  args+=(--target-mde "${INPUT_TARGET_MDE:-1}")
  if [[ -n ${INPUT_SHARD:-} ]]; then args+=(--shard "$INPUT_SHARD"); fi
  if [[ -n ${INPUT_SHARD_COSTS:-} ]]; then args+=(--shard-costs "$INPUT_SHARD_COSTS"); fi
  read -ra more <<< "${INPUT_CARGO_ARGS:-}"
  for arg in "${more[@]}"; do args+=("--cargo-arg=$arg"); done
  read -ra more <<< "${INPUT_ARGS:-}"
  args+=("${more[@]}")
  if [[ -n ${INPUT_FILTER:-} ]]; then args+=(-- "$INPUT_FILTER"); fi
  bench-gate ab "${args[@]}" 2>&1 | tee "$report/ab.log" || status=${PIPESTATUS[0]}
fi

# Another gate's report and exit code join this one: 2 over 1 over 0.
extra=${INPUT_EXTRA_STATUS:-0}
if (( extra == 2 || status == 2 )); then status=2; elif (( extra == 1 )); then status=1; fi
{
  echo '<!-- bench-gate -->'
  if [[ -f "$report/ab.md" ]]; then
    cat "$report/ab.md"
  else
    echo '### bench-gate'
    echo
    echo 'Could not judge: bench-gate said'
    echo
    echo '```'
    tail -n 30 "$report/ab.log"
    echo '```'
  fi
  if [[ -n ${INPUT_EXTRA_REPORT:-} && -f $INPUT_EXTRA_REPORT ]]; then echo; cat "$INPUT_EXTRA_REPORT"; fi
} > "$report/gate.md"
cat "$report/gate.md" >> "$GITHUB_STEP_SUMMARY"

count() {
  if [[ -f "$report/ab.json" ]]; then
    python3 -c 'import json, sys; print(sum(c["verdict"] == sys.argv[2] for c in json.load(open(sys.argv[1]))["comparisons"]))' \
      "$report/ab.json" "$1"
  else
    echo 0
  fi
}
output status "$status"
output critical "$(count critical)"
output warnings "$(count warning)"
output accepted "$(count accepted)"
case "$status" in
  0) output verdict "$([[ -n ${INPUT_SHARD:-} ]] && echo measured || echo pass)" ;;
  1) output verdict critical ;;
  *) output verdict cannot-judge ;;
esac
