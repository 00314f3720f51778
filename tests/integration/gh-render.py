#!/usr/bin/env python3
"""Runs one workflow step that uses an action, the way a GitHub runner does,
for the parts of Actions that osrun's action (and the composite action it
replaced) use. No real runner is involved; each rule below follows GitHub's
documentation:

- Expressions: `${{ X }}` is replaced by X's value as plain text, with no
  quoting or escaping, before the shell sees the script (the risk that
  "Security hardening for GitHub Actions", "Understanding the risk of
  script injections", describes). The text put in is not scanned again.
  X may be a context property (inputs, env, github, runner, matrix,
  secrets, steps.ID.outputs) or, in `if:`, always(), success(), failure(),
  cancelled() and !cancelled(). Anything else is refused: this is not a
  general evaluator.
- The step's `with:` is evaluated first (matrix, github including
  github.event from GITHUB_EVENT_PATH, env, runner, secrets), then the
  action's defaults fill in the inputs that were not given.
- Composite actions: each step's `run:` is written to a file and run with
  its `shell:` (bash: `bash --noprofile --norc -eo pipefail {0}`, sh:
  `sh -e {0}`) in GITHUB_WORKSPACE; `if:` defaults to success(). They get
  no INPUT_* variables (metadata syntax: only `${{ inputs }}`).
- JavaScript actions (node*): main, then post if `post-if` (default
  always()) holds, each `node FILE` in GITHUB_WORKSPACE with INPUT_<NAME>
  (upper case, spaces as _, hyphens kept) for every input; what main wrote
  to GITHUB_STATE comes back to post as STATE_<name>.
- File commands: GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STATE are fresh
  files per step, read afterwards in both forms (NAME=VALUE and
  NAME<<DELIMITER ... DELIMITER).
- Cancellation (--cancel-on TEXT: when the step prints TEXT): SIGINT to
  the step's entry process, SIGTERM 7.5 s later, the process tree killed
  2.5 s after that (the "Workflow cancellation reference"); then only what
  always()/cancelled() allows runs, post steps included.

Usage: gh-render.py --action DIR --step STEP.yml --workspace DIR --temp DIR
  [--matrix JSON] [--set NAME=VALUE]... [--secret NAME=VALUE]...
  [--event FILE] [--cancel-on TEXT] [--result FILE]
STEP.yml holds the workflow step's `with:` and `env:`. --set sets or
overrides a GITHUB_*/RUNNER_* variable or adds a job env variable. The
result file gets {"conclusion", "outputs", "steps"}; the exit status is 0
when the conclusion is success, 1 otherwise, 3 for a renderer error.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

import yaml


class RenderError(Exception):
    pass


def as_text(v):
    """An expression's value as it is put into a string (a null is '')."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*")
STATUS_FUNCS = {"always()", "success()", "failure()", "cancelled()", "!cancelled()"}


class Contexts:
    def __init__(self):
        self.data = {}
        self.status = "success"  # success, failure or cancelled

    def lookup(self, expr):
        parts = expr.split(".")
        v = self.data
        for p in parts:
            if not isinstance(v, dict):
                return None
            # Property names are case-insensitive in Actions.
            v = next((v[k] for k in v if k.lower() == p.lower()), None)
        return v

    def evaluate(self, expr):
        e = expr.strip()
        if e in STATUS_FUNCS:
            return {
                "always()": True,
                "success()": self.status == "success",
                "failure()": self.status == "failure",
                "cancelled()": self.status == "cancelled",
                "!cancelled()": self.status != "cancelled",
            }[e]
        if PATH_RE.fullmatch(e) and e.split(".")[0] in self.data:
            return self.lookup(e)
        raise RenderError(f"expression not supported by this renderer: {e!r}")

    def substitute(self, text):
        """Every ${{ }} replaced by its value as text, in one pass."""
        if not isinstance(text, str):
            return as_text(text)
        return re.sub(r"\$\{\{(.*?)\}\}", lambda m: as_text(self.evaluate(m.group(1))), text, flags=re.S)

    def condition(self, cond, default):
        c = (cond if cond is not None else default).strip()
        m = re.fullmatch(r"\$\{\{(.*)\}\}", c, flags=re.S)
        v = self.evaluate(m.group(1) if m else c)
        return bool(v) and v != "false"


def read_file_command(path):
    """NAME=VALUE and NAME<<DELIM lines..DELIM, as the runner reads them."""
    out = {}
    if not os.path.exists(path):
        return out
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value = []
            while i < len(lines) and lines[i] != delim:
                value.append(lines[i])
                i += 1
            if i >= len(lines):
                raise RenderError(f"{path}: no closing delimiter for {name}")
            i += 1
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            raise RenderError(f"{path}: not a file command line: {line!r}")
    return out


class Runner:
    def __init__(self, args):
        self.args = args
        self.action_dir = os.path.abspath(args.action)
        self.action = yaml.safe_load(open(os.path.join(self.action_dir, "action.yml")))
        self.step = yaml.safe_load(open(args.step)) or {}
        self.workspace = os.path.abspath(args.workspace)
        self.temp = os.path.abspath(args.temp)
        os.makedirs(self.temp, exist_ok=True)
        self.cancel_on = args.cancel_on
        self.cancelled = False
        self.steps_log = []

        env = dict(os.environ)
        env.update({
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_RUN_NUMBER": "7", "GITHUB_JOB": "build", "GITHUB_REPOSITORY": "example/project",
            "GITHUB_REPOSITORY_ID": "123456", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_ACTION": "__self",
            "GITHUB_WORKSPACE": self.workspace, "RUNNER_NAME": "runner-1", "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64", "RUNNER_TEMP": self.temp,
        })
        if args.event:
            env["GITHUB_EVENT_PATH"] = os.path.abspath(args.event)
        for kv in args.set:
            k, v = kv.split("=", 1)
            env[k] = v
        self.base_env = env
        self.ctx = Contexts()
        self.ctx.data["secrets"] = dict(kv.split("=", 1) for kv in args.secret)
        self.ctx.data["matrix"] = json.loads(args.matrix) if args.matrix else {}
        self.refresh_contexts(env)

    def refresh_contexts(self, env):
        github = {k[7:].lower(): v for k, v in env.items() if k.startswith("GITHUB_")}
        if env.get("GITHUB_EVENT_PATH"):
            github["event"] = json.load(open(env["GITHUB_EVENT_PATH"]))
        github["action_path"] = self.action_dir
        self.ctx.data["github"] = github
        self.ctx.data["runner"] = {k[7:].lower(): v for k, v in env.items() if k.startswith("RUNNER_")}

    def inputs(self):
        # The workflow's with: first (its expressions are the workflow's),
        # then the action's defaults for what it did not set.
        step_env = {k: self.ctx.substitute(v) for k, v in (self.step.get("env") or {}).items()}
        self.ctx.data["env"] = step_env
        given = {k.lower(): self.ctx.substitute(v) for k, v in (self.step.get("with") or {}).items()}
        declared = self.action.get("inputs") or {}
        for k in given:
            if k not in {d.lower() for d in declared}:
                print(f"gh-render: warning: unexpected input {k!r}", file=sys.stderr)
        inputs = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name.lower() in given:
                inputs[name] = given[name.lower()]
            else:
                inputs[name] = self.ctx.substitute(spec.get("default", ""))
        self.ctx.data["inputs"] = inputs
        return inputs, step_env

    def run_process(self, argv, env, label):
        """One step's entry process; its output goes through us, so
        --cancel-on can see it. Returns its exit status."""
        p = subprocess.Popen(argv, cwd=self.workspace, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        timers = []

        def cancel():
            # The runner's sequence: SIGINT, 7.5 s, SIGTERM, 2.5 s, the tree.
            self.cancelled = True
            print(f"gh-render: cancelling {label}: SIGINT", flush=True)
            try:
                os.kill(p.pid, signal.SIGINT)
            except ProcessLookupError:
                return
            timers.append(threading.Timer(7.5, lambda: p.poll() is None and os.kill(p.pid, signal.SIGTERM)))
            timers.append(threading.Timer(10.0, lambda: p.poll() is None and os.killpg(p.pid, signal.SIGKILL)))
            for t in timers:
                t.start()

        for raw in iter(p.stdout.readline, b""):
            sys.stdout.buffer.write(raw)
            sys.stdout.flush()
            if self.cancel_on and not self.cancelled and self.cancel_on.encode() in raw:
                cancel()
        rc = p.wait()
        for t in timers:
            t.cancel()
        # A cancelled step's leftovers go with it (the runner kills the tree).
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return rc

    def file_commands(self):
        files = {}
        for n in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STATE", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"):
            files[n] = os.path.join(self.temp, f"{n.lower()}_{uuid.uuid4()}")
            open(files[n], "w").close()
        return files

    def record(self, name, rc):
        if self.cancelled:
            self.ctx.status = "cancelled"
        elif rc != 0 and self.ctx.status == "success":
            self.ctx.status = "failure"
        self.steps_log.append({"step": name, "exit": rc})

    def node(self, inputs, step_env):
        runs = self.action["runs"]
        if runs.get("pre"):
            raise RenderError("pre: is not supported by this renderer")
        env = dict(self.base_env)
        env.update(step_env)
        for name, value in inputs.items():
            env["INPUT_" + name.replace(" ", "_").upper()] = value
        files = self.file_commands()
        env.update(files)
        rc = self.run_process(["node", os.path.join(self.action_dir, runs["main"])], env, "main")
        self.record("main", rc)
        outputs = read_file_command(files["GITHUB_OUTPUT"])
        state = read_file_command(files["GITHUB_STATE"])
        env_added = read_file_command(files["GITHUB_ENV"])
        if runs.get("post") and self.ctx.condition(runs.get("post-if"), "always()"):
            env = dict(self.base_env)
            env.update(step_env)
            env.update(env_added)
            for name, value in inputs.items():
                env["INPUT_" + name.replace(" ", "_").upper()] = value
            env.update({"STATE_" + k: v for k, v in state.items()})
            env.update(self.file_commands())
            saved, self.cancel_on = self.cancel_on, None  # a cancel is delivered once
            prc = self.run_process(["node", os.path.join(self.action_dir, runs["post"])], env, "post")
            self.cancel_on = saved
            self.steps_log.append({"step": "post", "exit": prc})
            if prc != 0 and self.ctx.status == "success":
                self.ctx.status = "failure"
        return outputs

    def composite(self, inputs, step_env):
        env_added = {}
        steps_ctx = {}
        self.ctx.data["steps"] = steps_ctx
        for i, s in enumerate(self.action["runs"]["steps"]):
            sid = s.get("id", f"__{i}")
            if "uses" in s:
                raise RenderError("uses: inside a composite action is not supported by this renderer")
            env = dict(self.base_env)
            env.update(step_env)
            env.update(env_added)
            env["GITHUB_ACTION_PATH"] = self.action_dir
            self.ctx.data["env"] = {**step_env, **env_added}
            if not self.ctx.condition(s.get("if"), "success()"):
                self.steps_log.append({"step": sid, "skipped": True})
                continue
            env.update({k: self.ctx.substitute(v) for k, v in (s.get("env") or {}).items()})
            files = self.file_commands()
            env.update(files)
            script = self.ctx.substitute(s["run"])
            shell = s.get("shell")
            path = os.path.join(self.temp, f"{uuid.uuid4()}.sh")
            with open(path, "w") as f:
                f.write(script)
            if shell == "bash":
                argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail", path]
            elif shell == "sh":
                argv = ["sh", "-e", path]
            else:
                raise RenderError(f"shell {shell!r} is not supported by this renderer (bash, sh)")
            rc = self.run_process(argv, env, sid)
            self.record(sid, rc)
            steps_ctx[sid] = {"outputs": read_file_command(files["GITHUB_OUTPUT"]),
                              "outcome": "success" if rc == 0 else "failure"}
            env_added.update(read_file_command(files["GITHUB_ENV"]))
        outputs = {}
        for name, spec in (self.action.get("outputs") or {}).items():
            outputs[name] = self.ctx.substitute((spec or {}).get("value", ""))
        return outputs

    def run(self):
        inputs, step_env = self.inputs()
        using = self.action["runs"]["using"]
        if using == "composite":
            outputs = self.composite(inputs, step_env)
        elif re.fullmatch(r"node\d+", using):
            outputs = self.node(inputs, step_env)
        else:
            raise RenderError(f"runs.using {using!r} is not supported by this renderer")
        return {"conclusion": self.ctx.status, "outputs": outputs, "steps": self.steps_log}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--action", required=True)
    ap.add_argument("--step", required=True)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--temp", required=True)
    ap.add_argument("--matrix")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--secret", action="append", default=[])
    ap.add_argument("--event")
    ap.add_argument("--cancel-on")
    ap.add_argument("--result")
    args = ap.parse_args()
    try:
        result = Runner(args).run()
    except (RenderError, yaml.YAMLError) as e:
        print(f"gh-render: {e}", file=sys.stderr)
        return 3
    print(f"gh-render: {json.dumps(result)}", flush=True)
    if args.result:
        with open(args.result, "w") as f:
            json.dump(result, f)
    return 0 if result["conclusion"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
