#!/usr/bin/env python3
"""Tests of scripts/run-workflow.py: its expressions against GitHub's documented
semantics, and small workflows run end to end in a scratch git repository (outputs,
env files, `if:` with status functions, continue-on-error, and the errors for what it
cannot run faithfully). Run: python3 scripts/test_run_workflow.py"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "run-workflow.py")
spec = importlib.util.spec_from_file_location("run_workflow", RUNNER)
rw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rw)


def evaluate(text, contexts=None, step_ids=()):
    functions = {"always": lambda: True, "success": lambda: True, "contains": lambda a, b: b in a}
    return rw.Evaluator(contexts or {}, functions, set(step_ids)).evaluate(text)


class Expressions(unittest.TestCase):
    def test_literals_and_operators(self):
        self.assertEqual(evaluate("'a' == 'A'"), True)  # strings compare case-insensitively
        self.assertEqual(evaluate("1 < 2 && 'x'"), "x")
        self.assertEqual(evaluate("'' || 'fallback'"), "fallback")
        self.assertEqual(evaluate("!(1 == 1)"), False)
        self.assertEqual(evaluate("'it''s'"), "it's")
        self.assertIsNone(evaluate("null"))

    def test_contexts_and_members(self):
        ctx = {"github": {"event": {"pull_request": {"number": 7, "head": {"sha": "abc"}}}}, "steps": {}}
        self.assertEqual(evaluate("github.event.pull_request.number", ctx), 7)
        self.assertEqual(evaluate("github.event.pull_request['head'].sha", ctx), "abc")
        self.assertIsNone(evaluate("github.event.missing.deeper", ctx))
        with self.assertRaisesRegex(rw.WorkflowError, "unknown context 'gihtub'"):
            evaluate("gihtub.sha", ctx)
        with self.assertRaisesRegex(rw.WorkflowError, "no step with id 'judge'"):
            evaluate("steps.judge.outputs.bin", ctx, step_ids={"ab"})
        with self.assertRaisesRegex(rw.WorkflowError, "not supported"):
            evaluate("hashFiles('x')", ctx)

    def test_key_value_files(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("a=1\nb=x=y\nbody<<EOF\nline 1\nline 2\nEOF\n")
        self.assertEqual(rw.parse_kv_file(f.name), {"a": "1", "b": "x=y", "body": "line 1\nline 2"})
        os.unlink(f.name)


class Workflows(unittest.TestCase):
    def run_workflow(self, text, *extra, event=None, files=None):
        with tempfile.TemporaryDirectory() as repo:
            for name, body in (files or {}).items():
                os.makedirs(os.path.dirname(os.path.join(repo, name)), exist_ok=True)
                with open(os.path.join(repo, name), "w") as f:
                    f.write(textwrap.dedent(body))
            subprocess.check_call(["git", "init", "--quiet", repo])
            subprocess.check_call(["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t",
                                   "commit", "--quiet", "--allow-empty", "-m", "one"])
            path = os.path.join(repo, "wf.yml")
            with open(path, "w") as f:
                f.write(textwrap.dedent(text))
            args = [sys.executable, RUNNER, path, "--job", "j", "--repo", repo, *extra]
            if event is not None:
                ev = os.path.join(repo, "event.json")
                with open(ev, "w") as f:
                    json.dump(event, f)
                args += ["--event", ev]
            r = subprocess.run(args, capture_output=True, text=True)
            return r.returncode, r.stdout + r.stderr

    def test_outputs_env_and_conditions(self):
        rc, out = self.run_workflow(
            """
            env: {TOP: top}
            jobs:
              j:
                env: {JOB: "${{ github.event.pull_request.number }}", OVER: job}
                steps:
                  - id: first
                    run: |
                      echo "value=$TOP-$JOB-$OVER" >> "$GITHUB_OUTPUT"
                      echo "LATER=from-env-file" >> "$GITHUB_ENV"
                  - run: test "${{ steps.first.outputs.value }}" = top-7-cli && test "$LATER" = from-env-file
                  - id: broken
                    continue-on-error: true
                    run: exit 3
                  - if: steps.broken.outcome == 'failure'
                    run: echo "saw the failure"
                  - run: echo "# summary line" >> "$GITHUB_STEP_SUMMARY"
            """,
            "--env", "OVER=cli",
            event={"pull_request": {"number": 7}},
        )
        self.assertEqual(rc, 0, out)
        self.assertIn("saw the failure", out)
        self.assertIn("# summary line", out)

    ACTION = """
        inputs:
          greeting: {default: "hello ${{ github.event.pull_request.number }}"}
          name: {required: true}
        outputs:
          said: {value: "${{ steps.say.outputs.said }}"}
        runs:
          using: composite
          steps:
            - id: say
              shell: bash
              env: {NAME: "${{ inputs.name }}"}
              run: |
                test -f "$GITHUB_ACTION_PATH/action.yml"
                test "${{ github.action_path }}" = "$GITHUB_ACTION_PATH"
                echo "said=${{ inputs.greeting }}, $NAME ($OUTER)" >> "$GITHUB_OUTPUT"
            - if: inputs.name == 'fail'
              shell: bash
              run: exit 4
        """

    def test_a_composite_action_runs_with_its_inputs_and_gives_its_outputs(self):
        workflow = """
            jobs:
              j:
                steps:
                  - id: act
                    uses: ./act
                    env: {OUTER: from the caller}
                    with: {name: "${{ matrix.who }}"}
                  - run: test "${{ steps.act.outputs.said }}" = "hello 7, ann (from the caller)"
            """
        rc, out = self.run_workflow(workflow, "--matrix", "who=ann", event={"pull_request": {"number": 7}},
                                    files={"act/action.yml": self.ACTION})
        self.assertEqual(rc, 0, out)
        rc, out = self.run_workflow(workflow, "--matrix", "who=fail", event={"pull_request": {"number": 7}},
                                    files={"act/action.yml": self.ACTION})
        self.assertEqual(rc, 1, out)
        rc, out = self.run_workflow(workflow.replace("name:", "nmae:"), "--matrix", "who=x",
                                    files={"act/action.yml": self.ACTION})
        self.assertEqual(rc, 2, out)
        self.assertIn("no input named nmae", out)

    def test_a_cache_is_restored_only_after_a_job_that_saved_it(self):
        workflow = """
            jobs:
              j:
                steps:
                  - id: c
                    uses: actions/cache@v4
                    with: {path: "${{ runner.temp }}/kept", key: k-1}
                  - run: |
                      if [ "${{ steps.c.outputs.cache-hit }}" = true ]; then cat "$RUNNER_TEMP/kept/f"; fi
                      mkdir -p "$RUNNER_TEMP/kept" && echo restored-content > "$RUNNER_TEMP/kept/f"
            """
        with tempfile.TemporaryDirectory() as cache:
            rc, out = self.run_workflow(workflow, "--cache", cache)
            self.assertEqual(rc, 0, out)
            self.assertNotIn("restored-content\n", out)
            rc, out = self.run_workflow(workflow, "--cache", cache)
            self.assertEqual(rc, 0, out)
            self.assertIn("restored-content", out)

    def test_a_failed_step_fails_the_job_and_skips_the_rest_but_always(self):
        rc, out = self.run_workflow(
            """
            jobs:
              j:
                steps:
                  - run: "false"
                  - run: echo "must not run"
                  - if: always()
                    run: echo "cleanup ran"
            """
        )
        self.assertEqual(rc, 1, out)
        self.assertNotIn("must not run\n", out.replace("echo \"must not run\"", ""))
        self.assertIn("cleanup ran", out)

    def test_pipefail_only_with_an_explicit_bash_shell(self):
        rc, out = self.run_workflow(
            """
            jobs:
              j:
                steps:
                  - shell: bash
                    run: "false | true"
            """
        )
        self.assertEqual(rc, 1, out)

    def test_an_uploaded_directory_is_the_artifact_root(self):
        with tempfile.TemporaryDirectory() as artifacts:
            rc, out = self.run_workflow(
                """
                jobs:
                  j:
                    steps:
                      - run: mkdir -p "$RUNNER_TEMP/report" && echo body > "$RUNNER_TEMP/report/gate.md"
                      - uses: actions/upload-artifact@v4
                        with:
                          name: report
                          path: ${{ runner.temp }}/report
                """,
                "--artifacts", artifacts,
            )
            self.assertEqual(rc, 0, out)
            with open(os.path.join(artifacts, "report", "gate.md")) as f:
                self.assertEqual(f.read(), "body\n")

    def test_what_it_cannot_run_is_an_error(self):
        rc, out = self.run_workflow(
            """
            jobs:
              j:
                steps:
                  - uses: some/unknown-action@v1
            """
        )
        self.assertEqual(rc, 2, out)
        self.assertIn("no local equivalent", out)
        rc, out = self.run_workflow(
            """
            jobs:
              j:
                steps:
                  - run: echo "${{ steps.nope.outputs.x }}"
            """
        )
        self.assertEqual(rc, 2, out)
        self.assertIn("no step with id 'nope'", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
