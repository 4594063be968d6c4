#!/usr/bin/env python3
"""Runs one job of a GitHub Actions workflow on this machine, step by step.

    scripts/run-workflow.py WORKFLOW --job JOB [--repo DIR] [--event FILE]
        [--event-name NAME] [--set github.KEY=VALUE ...] [--env NAME=VALUE ...]
        [--matrix NAME=VALUE ...] [--artifacts DIR] [--action OWNER/REPO=DIR ...]
        [--cache DIR]

Each `run:` step runs in order in DIR (default: the current directory), with bash as
GitHub's runner starts it (`bash -e` by default, `bash --noprofile --norc -eo pipefail`
for `shell: bash`), its `env:` (workflow, job, then step; `--env` overrides the job's),
and every `${{ }}` expression substituted: `github.*` (the event payload from `--event`,
plus `--set` values), `env.*`, `runner.temp`, `steps.<id>.outputs.*` / `.outcome`,
`secrets.*` (empty), literals, `== != < <= > >= && || !`, and `always() success()
failure() cancelled() contains() startsWith() endsWith() format() toJSON()`. `if:` is
evaluated as GitHub does (implicitly `success() && ...`). `GITHUB_OUTPUT`, `GITHUB_ENV`,
`GITHUB_PATH` and `GITHUB_STEP_SUMMARY` work as on a runner; `continue-on-error`,
`working-directory` and `timeout-minutes` are honoured.

`uses:` runs composite actions (`./path` in the checkout, or `OWNER/REPO[/path]@ref`
from a directory given with `--action OWNER/REPO=DIR`) step by step, with their
`inputs`, `github.action_path`, steps of their own and `outputs`; and has local
equivalents for the actions these workflows use: `actions/checkout` (DIR is the
checkout; it must be a git repository), `dtolnay/rust-toolchain` (cargo must be on
PATH), `actions/upload-artifact` / `actions/download-artifact` (copies under
`--artifacts`, by name or pattern; a `run-id` finds them there too) and `actions/cache`
(kept under `--cache`, saved when the job succeeds). Any event runs (`--event-name`,
`workflow_run` included: its payload is `github.event`); `--matrix` sets the job's
`matrix` values. Any other action, an unknown
context, a reference to a step id the job does not have, or an expression this runner
cannot evaluate is an error (exit 2) — a workflow this runner cannot run faithfully is
never reported as passing. Exit 0 when the job succeeded, 1 when a step failed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import yaml


class WorkflowError(Exception):
    """The workflow cannot be run faithfully here (exit 2)."""


# ---------------------------------------------------------------- expressions

TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>-?\d+(?:\.\d+)?)
      | '(?P<str>(?:[^']|'')*)'
      | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, Any]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise WorkflowError(f"cannot parse expression {text!r} at {text[pos:]!r}")
        pos = m.end()
        if m.group("num") is not None:
            tokens.append(("lit", float(m.group("num")) if "." in m.group("num") else int(m.group("num"))))
        elif m.group("str") is not None:
            tokens.append(("lit", m.group("str").replace("''", "'")))
        elif m.group("op") is not None:
            tokens.append(("op", m.group("op")))
        else:
            name = m.group("name")
            literal = {"true": True, "false": False, "null": None}
            tokens.append(("lit", literal[name]) if name in literal else ("name", name))
    return tokens


def truthy(v: Any) -> bool:
    return v not in (None, False, 0, "", 0.0)


def to_str(v: Any) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def coerce(v: Any) -> Any:
    """GitHub's loose equality: compare strings case-insensitively, else as numbers."""
    if isinstance(v, str):
        return v.lower()
    return v


class Evaluator:
    """A recursive-descent evaluator of one `${{ }}` expression."""

    PRECEDENCE = [("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">=")]

    def __init__(self, contexts: dict[str, Any], functions: dict[str, Any], step_ids: set[str]):
        self.contexts = contexts
        self.functions = functions
        self.step_ids = step_ids

    def evaluate(self, text: str) -> Any:
        self.tokens, self.i, self.text = tokenize(text), 0, text
        value = self.binary(0)
        if self.i != len(self.tokens):
            raise WorkflowError(f"unexpected {self.tokens[self.i][1]!r} in expression {text!r}")
        return value

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, op: str) -> bool:
        if self.peek() == ("op", op):
            self.i += 1
            return True
        return False

    def expect(self, op: str) -> None:
        if not self.take(op):
            raise WorkflowError(f"expected {op!r} in expression {self.text!r}")

    def binary(self, level: int) -> Any:
        if level == len(self.PRECEDENCE):
            return self.unary()
        left = self.binary(level + 1)
        while (tok := self.peek()) and tok[0] == "op" and tok[1] in self.PRECEDENCE[level]:
            self.i += 1
            right = self.binary(level + 1)
            op = tok[1]
            if op == "||":
                left = left if truthy(left) else right
            elif op == "&&":
                left = right if truthy(left) else left
            elif op == "==":
                left = coerce(left) == coerce(right)
            elif op == "!=":
                left = coerce(left) != coerce(right)
            else:
                a, b = coerce(left), coerce(right)
                left = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        return left

    def unary(self) -> Any:
        if self.take("!"):
            return not truthy(self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise WorkflowError(f"expression {self.text!r} ends too early")
        self.i += 1
        self.path = []
        if tok[0] == "lit":
            return tok[1]
        if tok == ("op", "("):
            v = self.binary(0)
            self.expect(")")
            return v
        if tok[0] != "name":
            raise WorkflowError(f"unexpected {tok[1]!r} in expression {self.text!r}")
        name = tok[1]
        if self.take("("):
            args = []
            if not self.take(")"):
                args.append(self.binary(0))
                while self.take(","):
                    args.append(self.binary(0))
                self.expect(")")
            if name not in self.functions:
                raise WorkflowError(f"function {name}() is not supported by this runner ({self.text!r})")
            return self.functions[name](*args)
        if name not in self.contexts:
            raise WorkflowError(f"unknown context {name!r} in expression {self.text!r}")
        self.path = [name]
        return self.contexts[name]

    def postfix(self, value: Any) -> Any:
        while True:
            if self.take("."):
                tok = self.peek()
                if not tok or tok[0] not in ("name", "lit"):
                    raise WorkflowError(f"a property name must follow '.' in {self.text!r}")
                self.i += 1
                value = self.member(value, to_str(tok[1]))
            elif self.take("["):
                key = self.binary(0)
                self.expect("]")
                value = self.member(value, key)
            else:
                return value

    def member(self, value: Any, key: Any) -> Any:
        path = getattr(self, "path", [])
        if path == ["steps"] and key not in self.step_ids:
            raise WorkflowError(f"steps.{key}: the job has no step with id {key!r} ({self.text!r})")
        self.path = [*path, key]
        if isinstance(value, dict):
            return value.get(key)
        if isinstance(value, list) and isinstance(key, (int, float)):
            k = int(key)
            return value[k] if 0 <= k < len(value) else None
        return None


def substitute(text: Any, evaluator: Evaluator) -> Any:
    """Replaces every `${{ expr }}` in a string value (other values pass through)."""
    if not isinstance(text, str):
        return text
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: to_str(evaluator.evaluate(m.group(1))), text, flags=re.S)


# ---------------------------------------------------------------- the runner


def parse_kv_file(path: str) -> dict[str, str]:
    """`NAME=value` lines and `NAME<<DELIM` ... `DELIM` blocks (GITHUB_OUTPUT/ENV)."""
    out: dict[str, str] = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            block = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                block.append(lines[i])
                i += 1
            if i == len(lines):
                raise WorkflowError(f"{path}: {name}<<{delim} has no closing {delim}")
            out[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        elif line.strip():
            raise WorkflowError(f"{path}: line {i + 1} is neither NAME=value nor NAME<<DELIM: {line!r}")
        i += 1
    return out


class Job:
    """One job's state as its steps run."""

    def __init__(self, args: argparse.Namespace, workflow: dict[str, Any], job: dict[str, Any]):
        self.args = args
        self.workflow = workflow
        self.job = job
        self.repo = os.path.abspath(args.repo)
        self.temp = tempfile.mkdtemp(prefix="run-workflow-")
        self.tool_cache = os.path.join(self.temp, "tool-cache")
        self.artifacts = os.path.abspath(args.artifacts or os.path.join(self.temp, "artifacts"))
        self.summary = os.path.join(self.temp, "step-summary.md")
        open(self.summary, "w").close()
        self.steps: dict[str, dict[str, Any]] = {}
        self.failed = False
        self.extra_path: list[str] = []
        self.post: list[Any] = []
        event = {}
        if args.event:
            with open(args.event, encoding="utf-8") as f:
                event = json.load(f)
        github: dict[str, Any] = {
            "event": event,
            "event_name": args.event_name,
            "workspace": self.repo,
            "repository": "local/repository",
            "token": "",
            "run_id": "0",
            "sha": git(self.repo, "rev-parse", "HEAD"),
        }
        for item in args.set or []:
            key, _, value = item.partition("=")
            if not key.startswith("github."):
                raise WorkflowError(f"--set {item!r}: only github.* values can be set")
            node = github
            parts = key.split(".")[1:]
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = value
        self.github = github
        step_ids = {s["id"] for s in job.get("steps", []) if "id" in s}
        self.env: dict[str, str] = {}
        self.contexts = {
            "github": github,
            "env": self.env,
            "runner": {"temp": self.temp, "os": "Linux", "arch": "X64", "workspace": self.repo},
            "steps": self.steps,
            "secrets": {},
            "vars": {},
            "inputs": event.get("inputs", {}),
            "job": {"status": "success"},
            "matrix": dict(item.partition("=")[::2] for item in args.matrix or []),
        }
        self.functions = {
            "always": lambda: True,
            "success": lambda: not self.failed,
            "failure": lambda: self.failed,
            "cancelled": lambda: False,
            "contains": lambda a, b: (coerce(to_str(b)) in coerce(to_str(a))) if not isinstance(a, list)
            else any(coerce(x) == coerce(b) for x in a),
            "startsWith": lambda a, b: coerce(to_str(a)).startswith(coerce(to_str(b))),
            "endsWith": lambda a, b: coerce(to_str(a)).endswith(coerce(to_str(b))),
            "format": lambda f, *xs: re.sub(r"\{(\d+)\}", lambda m: to_str(xs[int(m.group(1))]), f),
            "toJSON": lambda v: json.dumps(v, indent=2),
        }
        self.evaluator = Evaluator(self.contexts, self.functions, step_ids)
        # Workflow env, then job env (each substituted), then the --env overrides.
        for scope in (workflow.get("env") or {}, job.get("env") or {}):
            for k, v in scope.items():
                self.env[k] = to_str(substitute(v, self.evaluator))
        for item in args.env or []:
            k, sep, v = item.partition("=")
            if not sep:
                raise WorkflowError(f"--env {item!r}: use NAME=VALUE")
            self.env[k] = v

    def condition(self, expr: Any) -> bool:
        if expr is None:
            return not self.failed
        text = str(expr).strip()
        m = re.fullmatch(r"\$\{\{(.*)\}\}", text, flags=re.S)
        if m:
            text = m.group(1)
        if not re.search(r"\b(always|success|failure|cancelled)\s*\(", text):
            text = f"success() && ({text})"
        return truthy(self.evaluator.evaluate(text))

    def process_env(self, step_env: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.env)
        env.update(step_env)
        env.update(
            {
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                "GITHUB_WORKSPACE": self.repo,
                "GITHUB_EVENT_NAME": self.args.event_name,
                "GITHUB_REPOSITORY": self.github["repository"],
                "GITHUB_STEP_SUMMARY": self.summary,
                "RUNNER_TEMP": self.temp,
                "RUNNER_OS": "Linux",
                "RUNNER_TOOL_CACHE": self.tool_cache,
            }
        )
        if self.extra_path:
            env["PATH"] = os.pathsep.join([*reversed(self.extra_path), env.get("PATH", "")])
        return env

    def run_step(self, n: int | str, step: dict[str, Any], outer_env: dict[str, str] | None = None) -> None:
        name = step.get("name") or step.get("uses") or (step.get("run", "").splitlines() or [""])[0]
        if not self.condition(step.get("if")):
            print(f"\n--- step {n}: {name} (skipped: if: {step.get('if')})", flush=True)
            self.record(step, "skipped", {})
            return
        print(f"\n--- step {n}: {name}", flush=True)
        step_env = dict(outer_env or {})
        step_env.update({k: to_str(substitute(v, self.evaluator)) for k, v in (step.get("env") or {}).items()})
        start = time.monotonic()
        if "uses" in step:
            ok, outputs = self.uses(step, step_env, n)
        else:
            ok, outputs = self.run(step, step_env)
        outcome = "success" if ok else "failure"
        print(f"--- step {n}: {outcome} in {time.monotonic() - start:.1f} s", flush=True)
        if not ok and not truthy(substitute(step.get("continue-on-error", False), self.evaluator)):
            self.failed = True
        self.record(step, outcome, outputs)

    def record(self, step: dict[str, Any], outcome: str, outputs: dict[str, str]) -> None:
        if "id" in step:
            self.steps[step["id"]] = {"outcome": outcome, "conclusion": outcome, "outputs": outputs}

    def run(self, step: dict[str, Any], step_env: dict[str, str]) -> tuple[bool, dict[str, str]]:
        script = substitute(step["run"], self.evaluator)
        shell = step.get("shell") or ((self.job.get("defaults") or {}).get("run") or {}).get("shell") \
            or ((self.workflow.get("defaults") or {}).get("run") or {}).get("shell")
        if shell in (None, "bash"):
            argv = ["bash", "-e"] if shell is None else ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
        else:
            raise WorkflowError(f"shell {shell!r} is not supported by this runner (bash only)")
        files = {}
        for kind in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"):
            fd, files[kind] = tempfile.mkstemp(prefix=kind.lower() + "-", dir=self.temp)
            os.close(fd)
        script_path = os.path.join(self.temp, f"step-{len(os.listdir(self.temp))}.sh")
        with open(script_path, "w", encoding="utf-8") as f:
            f.write(script)
        cwd = os.path.join(self.repo, substitute(step.get("working-directory", "."), self.evaluator))
        env = self.process_env(step_env)
        env.update(files)
        limit = step.get("timeout-minutes") or self.job.get("timeout-minutes")
        try:
            rc = subprocess.call([*argv, script_path], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                 timeout=float(limit) * 60 if limit else None)
        except subprocess.TimeoutExpired:
            print(f"step timed out after {limit} minutes", file=sys.stderr)
            rc = 124
        if rc != 0:
            print(f"Error: Process completed with exit code {rc}.", flush=True)
        for k, v in parse_kv_file(files["GITHUB_ENV"]).items():
            self.env[k] = v
        with open(files["GITHUB_PATH"], encoding="utf-8") as f:
            self.extra_path += [line.strip() for line in f if line.strip()]
        return rc == 0, parse_kv_file(files["GITHUB_OUTPUT"])

    def uses(self, step: dict[str, Any], step_env: dict[str, str], n: int | str) -> tuple[bool, dict[str, str]]:
        action = step["uses"].split("@")[0]
        with_ = {k: to_str(substitute(v, self.evaluator)) for k, v in (step.get("with") or {}).items()}
        local = self.action_dir(action)
        if local:
            return self.composite(local, with_, step_env, n)
        if action == "actions/cache":
            return True, self.cache(with_)
        return self.builtin(action, with_), {}

    def action_dir(self, action: str) -> str | None:
        """The directory of a composite action: `./path` in the checkout, or one mapped
        with --action OWNER/REPO=DIR (`OWNER/REPO/path` is DIR/path)."""
        if action.startswith("./"):
            return os.path.join(self.repo, action)
        for item in self.args.action or []:
            name, _, directory = item.partition("=")
            if action == name or action.startswith(name + "/"):
                return os.path.join(directory, action[len(name):].lstrip("/"))
        return None

    def composite(self, path: str, with_: dict[str, str], step_env: dict[str, str],
                  n: int | str) -> tuple[bool, dict[str, str]]:
        """Runs a composite action's steps with its inputs, `github.action_path` and
        steps of its own; returns whether they succeeded and the action's outputs."""
        file = next((os.path.join(path, f) for f in ("action.yml", "action.yaml")
                     if os.path.exists(os.path.join(path, f))), None)
        if not file:
            raise WorkflowError(f"uses: {path}: no action.yml there")
        with open(file, encoding="utf-8") as f:
            action = yaml.safe_load(f)
        runs = action.get("runs") or {}
        if runs.get("using") != "composite":
            raise WorkflowError(f"{file}: only composite actions run here (using: {runs.get('using')})")
        declared = action.get("inputs") or {}
        unknown = sorted(set(with_) - set(declared))
        if unknown:
            raise WorkflowError(f"{file}: no input named {', '.join(unknown)}")
        saved = (self.steps, self.contexts["inputs"], self.evaluator.step_ids, self.failed,
                 self.github.get("action_path"))
        inputs: dict[str, str] = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name in with_:
                inputs[name] = with_[name]
            elif spec.get("required") and "default" not in spec:
                raise WorkflowError(f"{file}: the input {name} is required")
            else:
                inputs[name] = to_str(substitute(spec.get("default", ""), self.evaluator))
        self.steps = {}
        self.contexts.update({"steps": self.steps, "inputs": inputs})
        self.evaluator.step_ids = {s["id"] for s in runs.get("steps") or [] if "id" in s}
        self.failed = False
        self.github["action_path"] = os.path.abspath(path)
        env = {**step_env, "GITHUB_ACTION_PATH": os.path.abspath(path)}
        try:
            for k, inner in enumerate(runs.get("steps") or [], start=1):
                if "run" in inner and "shell" not in inner:
                    raise WorkflowError(f"{file}: step {k}: a composite action's run step needs a shell")
                self.run_step(f"{n}.{k}", inner, env)
            ok = not self.failed
            outputs = {k: to_str(substitute((v or {}).get("value", ""), self.evaluator))
                       for k, v in (action.get("outputs") or {}).items()}
        finally:
            (self.steps, self.contexts["inputs"], self.evaluator.step_ids, self.failed,
             self.github["action_path"]) = saved
            self.contexts["steps"] = self.steps
        return ok, outputs

    def cache(self, with_: dict[str, str]) -> dict[str, str]:
        """actions/cache: restores `path` from --cache DIR/<key> when saved there, else
        saves it there when the job succeeds (GitHub's post step)."""
        if not self.args.cache:
            print("(local) actions/cache: no --cache directory: a miss, nothing saved")
            return {"cache-hit": "false"}
        stored = os.path.join(self.args.cache, re.sub(r"[^A-Za-z0-9._-]", "_", with_["key"]))
        path = with_["path"].strip()
        if os.path.isdir(stored):
            shutil.copytree(stored, path, dirs_exist_ok=True)
            print(f"(local) actions/cache: restored {path} from {stored}")
            return {"cache-hit": "true"}
        self.post.append(lambda: None if self.failed or not os.path.isdir(path)
                         else shutil.copytree(path, stored, dirs_exist_ok=True))
        print(f"(local) actions/cache: a miss; {path} is saved to {stored} if the job succeeds")
        return {"cache-hit": "false"}

    def builtin(self, action: str, with_: dict[str, str]) -> bool:
        """The local equivalents of the actions these workflows use."""
        if action == "actions/checkout":
            if not os.path.isdir(os.path.join(self.repo, ".git")) and git(self.repo, "rev-parse", "--git-dir") == "":
                raise WorkflowError(f"actions/checkout: {self.repo} is not a git repository")
            if with_.get("ref"):
                subprocess.check_call(["git", "checkout", "--quiet", with_["ref"]], cwd=self.repo)
            print(f"(local) the checkout is {self.repo} at {git(self.repo, 'rev-parse', '--short', 'HEAD')}")
            return True
        if action == "dtolnay/rust-toolchain":
            if not shutil.which("cargo"):
                raise WorkflowError("dtolnay/rust-toolchain: cargo is not on PATH")
            print("(local) " + subprocess.check_output(["cargo", "--version"], text=True).strip())
            return True
        if action == "actions/upload-artifact":
            dest = os.path.join(self.artifacts, with_["name"])
            os.makedirs(dest, exist_ok=True)
            found = 0
            patterns = [p.strip() for p in with_.get("path", "").splitlines() if p.strip()]
            for pattern in patterns:
                for src in glob.glob(os.path.join(self.repo, os.path.expanduser(pattern))):
                    found += 1
                    if os.path.isdir(src) and len(patterns) == 1:
                        # One directory: its contents are the artifact's root, as on GitHub.
                        shutil.copytree(src, dest, dirs_exist_ok=True)
                    elif os.path.isdir(src):
                        shutil.copytree(src, os.path.join(dest, os.path.basename(src)), dirs_exist_ok=True)
                    else:
                        shutil.copy2(src, os.path.join(dest, os.path.basename(src)))
            if found == 0 and with_.get("if-no-files-found", "warn") == "error":
                print(f"upload-artifact: no files match {with_.get('path')!r}", file=sys.stderr)
                return False
            print(f"(local) artifact {with_['name']}: {found} path(s) copied to {dest}")
            return True
        if action == "actions/download-artifact":
            # `run-id` and `github-token` name another run's artifacts: here every
            # run's are under --artifacts.
            dest = os.path.join(self.repo, with_.get("path") or ".")
            if with_.get("name"):
                src = os.path.join(self.artifacts, with_["name"])
                if not os.path.isdir(src):
                    print(f"download-artifact: no artifact {with_['name']!r} under {self.artifacts}", file=sys.stderr)
                    return False
                shutil.copytree(src, dest, dirs_exist_ok=True)
                return True
            names = sorted(glob.glob(os.path.join(self.artifacts, with_.get("pattern") or "*")))
            merge = with_.get("merge-multiple") == "true"
            for src in names:
                shutil.copytree(src, dest if merge else os.path.join(dest, os.path.basename(src)), dirs_exist_ok=True)
            print(f"(local) download-artifact: {len(names)} artifact(s) to {dest}")
            return True
        raise WorkflowError(f"uses: {action}: this runner has no local equivalent for that action")

    def close(self) -> None:
        for post in self.post:
            post()
        with open(self.summary, encoding="utf-8") as f:
            summary = f.read()
        if summary.strip():
            print("\n--- job summary (GITHUB_STEP_SUMMARY)\n" + summary)
        if not self.args.keep_temp:
            shutil.rmtree(self.temp, ignore_errors=True)


def git(repo: str, *args: str) -> str:
    r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workflow")
    p.add_argument("--job", required=True)
    p.add_argument("--repo", default=".")
    p.add_argument("--event", help="the event payload (JSON), as github.event")
    p.add_argument("--event-name", default="pull_request")
    p.add_argument("--set", action="append", metavar="github.KEY=VALUE")
    p.add_argument("--env", action="append", metavar="NAME=VALUE", help="overrides the job's env")
    p.add_argument("--artifacts", help="where upload-artifact copies to (default: a temp dir)")
    p.add_argument("--keep-temp", action="store_true", help="keep RUNNER_TEMP afterwards")
    p.add_argument("--action", action="append", metavar="OWNER/REPO=DIR",
                   help="run `uses: OWNER/REPO[/path]@ref` from DIR[/path] (a composite action)")
    p.add_argument("--matrix", action="append", metavar="NAME=VALUE", help="the job's matrix values")
    p.add_argument("--cache", help="where actions/cache keeps what it saves (default: nothing is kept)")
    args = p.parse_args()
    try:
        with open(args.workflow, encoding="utf-8") as f:
            workflow = yaml.safe_load(f)
        jobs = workflow.get("jobs") or {}
        if args.job not in jobs:
            raise WorkflowError(f"{args.workflow}: no job {args.job!r} (jobs: {', '.join(jobs)})")
        job_def = jobs[args.job]
        job = Job(args, workflow, job_def)
        try:
            if "if" in job_def and not job.condition(job_def["if"]):
                print(f"job {args.job} skipped (if: {job_def['if']})")
                return 0
            for n, step in enumerate(job_def.get("steps") or [], start=1):
                job.run_step(n, step)
        finally:
            job.close()
    except WorkflowError as e:
        print(f"run-workflow: {e}", file=sys.stderr)
        return 2
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as e:
        print(f"run-workflow: {e}", file=sys.stderr)
        return 2
    print(f"\njob {args.job}: {'failed' if job.failed else 'succeeded'}")
    return 1 if job.failed else 0


if __name__ == "__main__":
    sys.exit(main())
