#!/usr/bin/env python3
"""The fleet files in contrib/ (docs/fleet.md), checked without the
schedulers they are for (none runs here): every YAML, TOML and JSON file
parses; every osrun command line in them is accepted by the built osrun's
option parser (OSRUN_PARSE_ONLY=1: an unknown or misspelt option, a
missing value or a bad number fails); the Kubernetes manifests ask for
/dev/kvm from the KVM device plugin and are never privileged; the Nomad
jobs are docker tasks with /dev/kvm passed as a device; osrun-labels turns
a real `osrun host-info --json` into each scheduler's form.

  OSRUN=build/osrun python3 tests/fleet/check.py      (TAP on stdout)"""
import glob
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import tomllib

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OSRUN = os.environ.get("OSRUN") or os.path.join(ROOT, "build", "osrun")
# osrun's subcommands; any other first word must be an option (a run).
SUBCOMMANDS = {"provision", "snapshot", "pool", "session", "image", "build", "gitlab-driver", "doctor", "selftest",
               "host-info"}
KVM = "devices.kubevirt.io/kvm"
n = failed = 0


def ok(cond, what, detail=""):
    global n, failed
    n += 1
    failed += not cond
    print("%sok %d - %s" % ("" if cond else "not ", n, what))
    if not cond and detail:
        print("#   " + str(detail).replace("\n", "\n#   "))


def rel(p):
    return os.path.relpath(p, ROOT)


def files(*patterns):
    return sorted(set(f for p in patterns for f in glob.glob(os.path.join(ROOT, p), recursive=True)))


def osrun_accepts(argv, where):
    """The built osrun's own parser judges argv (nothing runs)."""
    first_ok = argv and (argv[0] in SUBCOMMANDS or argv[0].startswith("-"))
    env = dict(os.environ, OSRUN_PARSE_ONLY="1", OSRUN_CACHE=tempfile.gettempdir() + "/osrun-fleet-none")
    r = subprocess.run([OSRUN] + argv, env=env, capture_output=True, text=True, timeout=30)
    ok(first_ok and r.returncode == 0, "%s: osrun %s" % (where, shlex.join(argv)),
       r.stderr.strip() or "not a subcommand nor an option: %r" % argv[:1])


def pod_specs(doc):
    spec = (doc or {}).get("spec", {})
    if doc and doc.get("kind") in ("Job", "DaemonSet", "Deployment"):
        return [spec["template"]["spec"]]
    return [spec] if doc and doc.get("kind") == "Pod" else []


def check_kubernetes():
    lines = 0
    for f in files("contrib/kubernetes/*.yaml"):
        docs = list(yaml.safe_load_all(open(f)))
        ok(docs and all(isinstance(d, dict) for d in docs), "%s parses" % rel(f))
        text = open(f).read()
        ok(not re.search(r"privileged\s*:\s*true", text), "%s has no privileged: true" % rel(f))
        for spec in (s for d in docs for s in pod_specs(d)):
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                if "osrun" not in c.get("image", ""):
                    continue
                limits = c.get("resources", {}).get("limits", {})
                ok(str(limits.get(KVM)) == "1", "%s: %s asks for %s: 1" % (rel(f), c["name"], KVM), limits)
                ok(not c.get("command"), "%s: %s keeps the image's entrypoint (osrun)" % (rel(f), c["name"]))
                ok(not c.get("securityContext", {}).get("privileged"), "%s: %s not privileged" % (rel(f), c["name"]))
                osrun_accepts(c.get("args", []), "%s %s" % (rel(f), c["name"]))
                lines += 1
            sel = spec.get("nodeSelector", {})
            ok(sel.get("osrun.io/kvm") == "true" and all(k.startswith("osrun.io/") for k in sel),
               "%s: nodeSelector on host-info's labels" % rel(f), sel)
    return lines


def nomad_meta(job, s):
    """${NOMAD_META_k} as a dispatch fills it: the job's Meta, else a word."""
    return re.sub(r"\$\{NOMAD_META_([A-Za-z0-9_]+)\}", lambda m: job.get("Meta", {}).get(m.group(1), "word"), s)


def check_nomad():
    lines = 0
    for f in files("contrib/nomad/*.json"):
        job = json.load(open(f)).get("Job", {})
        ok(job.get("Type") in ("system", "batch") and job.get("TaskGroups"), "%s: a Nomad JSON job" % rel(f))
        for c in job.get("Constraints", []):
            m = re.fullmatch(r"\$\{meta\.([A-Za-z0-9_]+)\}", c.get("LTarget", ""))
            ok(m and m.group(1).startswith("osrun_io_"), "%s: constraint on osrun-labels --nomad meta" % rel(f), c)
        for tg in job.get("TaskGroups", []):
            for t in tg.get("Tasks", []):
                cfg = t.get("Config", {})
                ok(t.get("Driver") == "docker" and "osrun" in cfg.get("image", ""), "%s: docker task" % rel(f))
                ok({"host_path": "/dev/kvm", "container_path": "/dev/kvm"} in cfg.get("devices", []),
                   "%s: /dev/kvm passed as a device" % rel(f), cfg.get("devices"))
                ok(not cfg.get("privileged"), "%s: not privileged" % rel(f))
                osrun_accepts([nomad_meta(job, a) for a in cfg.get("args", [])], "%s %s" % (rel(f), t["Name"]))
                lines += 1
    return lines


def check_toml():
    lines = 0
    for f in files("contrib/gitlab-runner/**/*.toml"):
        conf = tomllib.load(open(f, "rb"))
        ok(conf.get("runners"), "%s parses, with [[runners]]" % rel(f))
        for r in conf.get("runners", []):
            custom = r.get("custom", {})
            for stage in ("config", "prepare", "run", "cleanup"):
                ok(os.path.basename(custom.get(stage + "_exec", "")) == "osrun", "%s: %s_exec" % (rel(f), stage))
                osrun_accepts(custom.get(stage + "_args", []), "%s %s_args" % (rel(f), stage))
                lines += 1
    return lines


def shell_lines(f):
    """Each line that runs osrun (or $osrun), joined with its
    continuations, split as the shell would split its words."""
    text = re.sub(r"\\\n\s*", " ", open(f).read())
    for line in text.splitlines():
        m = re.match(r"\s*(?:exec\s+|\S+\s*\|\|\s*)?(?:osrun|\$osrun)\s+(.*)", line)
        if m:
            words = shlex.split(re.sub(r"\s*(\|\||&&|>|2>|\|).*$", "", m.group(1)))
            yield words


def check_shell():
    lines = 0
    for f in files("contrib/**/*.sh", "contrib/gitlab-runner/fleet/*.sh", "contrib/github-actions/ephemeral/*"):
        if f.endswith((".yaml", ".yml", ".md")):
            continue
        r = subprocess.run(["sh", "-n", f], capture_output=True, text=True)
        ok(r.returncode == 0, "%s: sh -n" % rel(f), r.stderr)
        for argv in shell_lines(f):
            osrun_accepts(argv, rel(f))
            lines += 1
    return lines


def check_yaml_elsewhere():
    for f in files("contrib/github-actions/**/*.yml", "contrib/github-actions/**/*.yaml"):
        ok(list(yaml.safe_load_all(open(f))), "%s parses" % rel(f))


def check_labels():
    """osrun-labels on a real host-info of an empty store."""
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, OSRUN_CACHE=d, OSRUN=OSRUN)
        info = json.loads(subprocess.run([OSRUN, "host-info", "--json"], env=env, capture_output=True,
                                         text=True, check=True).stdout)
        pairs = sorted("%s=%s" % kv for kv in info["labels"].items())
        script = os.path.join(ROOT, "contrib", "fleet", "osrun-labels")
        out = {}
        for form in ("--gitlab", "--github", "--kubectl", "--nomad"):
            r = subprocess.run([sys.executable, script, form], env=env, capture_output=True, text=True)
            out[form] = r.stdout.strip()
        ok(out["--gitlab"].split(",") == pairs, "osrun-labels --gitlab: host-info's labels", out["--gitlab"])
        ok(json.loads(out["--github"] or "null") == pairs, "osrun-labels --github", out["--github"])
        ok(out["--kubectl"].split() == pairs, "osrun-labels --kubectl", out["--kubectl"])
        nomad = dict(p.split("=", 1) for p in out["--nomad"].split())
        ok("osrun_io_kvm" in nomad and all(re.fullmatch(r"[A-Za-z0-9_]+", k) for k in nomad),
           "osrun-labels --nomad: meta keys", out["--nomad"])


def main():
    counts = {"kubernetes": check_kubernetes(), "nomad": check_nomad(), "gitlab toml": check_toml(),
              "shell": check_shell()}
    check_yaml_elsewhere()
    check_labels()
    # A check that found nothing to check would pass for nothing.
    for k, c in counts.items():
        ok(c >= 2, "%d osrun command lines found in the %s files" % (c, k))
    print("1..%d\n# fleet: %d passed, %d failed" % (n, n - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
