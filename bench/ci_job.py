#!/usr/bin/env python3
"""A CI job's costs (issue 15), every figure measured in this run:

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/ci_job.py

- copy-in of a tree of 10,000 small files and of one 200 MB file, against
  piping a tar of the same into `osrun 'tar x'` (the baseline);
- reading a shared folder in the guest (--volume, `cat` of every file)
  against reading the same tree after --copy-in;
- a session's exec of `true` against a plain run and a pool run;
- a GitLab-style job of 6 stages through contrib/gitlab-runner/osrun-driver.
Medians of 3 (1 for the 200 MB cases).
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "..", "contrib", "gitlab-runner", "osrun-driver")
work = tempfile.mkdtemp(prefix="osrun-bench.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg",
           TMPDIR=os.path.join(work, "tmp"), OSRUN=OSRUN)
os.makedirs(env["TMPDIR"])


def cleanup(*_):
    subprocess.run(["pkill", "-KILL", "-f", work + "/"], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)


signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))


def osrun(*args, stdin=subprocess.DEVNULL, extra_env=None):
    t0 = time.monotonic()
    r = subprocess.run([OSRUN, *args], env=dict(env, **(extra_env or {})), stdin=stdin, capture_output=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: osrun {args!r} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    return dt, r.stdout.decode(errors="replace")


def median(f, n=3):
    return statistics.median(f() for _ in range(n))


def make_tree():
    tree = os.path.join(work, "tree")
    for d in range(100):
        os.makedirs(os.path.join(tree, f"d{d:02}"))
        for i in range(100):
            with open(os.path.join(tree, f"d{d:02}", f"f{i:02}.txt"), "w") as f:
                f.write(f"file {d} {i}\n" * 8)
    big = os.path.join(work, "big")
    os.makedirs(big)
    with open(os.path.join(big, "blob.bin"), "wb") as f:
        f.write(os.urandom(200 * 1024 * 1024))
    return tree, big


def tar_pipe(path, dest="/x"):
    """The baseline: a tar of path piped into the guest's tar."""
    p = subprocess.Popen(["tar", "-C", os.path.dirname(path), "-cf", "-", os.path.basename(path)],
                         stdout=subprocess.PIPE)
    dt, _ = osrun(f"mkdir -p {dest} && tar -x -C {dest}", stdin=p.stdout)
    p.wait()
    return dt


def row(name, t, base, size=None):
    mbs = f"{size / t / 1e6:8.1f} MB/s" if size else " " * 13
    print(f"{name:44} {t:7.2f} s {mbs}   baseline {base:6.2f} s   ratio {t / base:5.2f}x")


def main():
    print("bench: provisioning the test guest", file=sys.stderr)
    osrun("provision")
    tree, big = make_tree()
    tree_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tree) for f in fs)
    plain = median(lambda: osrun("true")[0])
    print(f"(a plain run of 'true': {plain:.2f} s; every copy figure includes one)")
    t = median(lambda: osrun("--copy-in", f"{tree}:/x", "true")[0])
    row("copy-in, 10,000 files of 100 B", t, median(lambda: tar_pipe(tree)), tree_bytes)
    # 200 MB does not fit the guest's RAM-backed root: its disk takes it.
    t = osrun("--copy-in", f"{big}:/data/x", "true")[0]
    row("copy-in, one 200 MB file", t, tar_pipe(big, "/data/x"), 200 * 1024 * 1024)
    out = os.path.join(work, "out")
    def copy_out():
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        return osrun("--copy-in", f"{tree}:/x", "--copy-out", f"/x:{out}", "true")[0]
    row("copy-in + copy-out, 10,000 files", median(copy_out), median(lambda: osrun("--copy-in", f"{tree}:/x", "true")[0]))
    cat = "find /t -type f -exec cat {} + | wc -c"
    t = median(lambda: osrun("--volume", f"{tree}:/t:ro", cat)[0])
    base = median(lambda: osrun("--copy-in", f"{tree}:/t", cat)[0])
    row("read a shared folder (cat every file)", t, base)

    _, name = osrun("session", "start", "--name", "bench")
    name = name.strip()
    t = median(lambda: osrun("session", "exec", name, "true")[0], 5)
    osrun("session", "stop", name)
    row("session exec 'true'", t, plain)
    pool = subprocess.Popen([OSRUN, "pool", "-j", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)
    pool_t = median(lambda: (osrun("true")[0], time.sleep(2))[0], 3)
    pool.terminate()
    pool.wait()
    row("  (pool run 'true', for comparison)", pool_t, plain)

    scripts = os.path.join(work, "stages")
    os.makedirs(scripts)
    stages = ["prepare_script", "get_sources", "restore_cache", "step_script", "archive_cache",
              "upload_artifacts_on_success"]
    for s in stages:
        with open(os.path.join(scripts, s), "w") as f:
            f.write(f"echo {s}\n")
    jenv = dict(env, CUSTOM_ENV_CI_JOB_ID="1", CUSTOM_ENV_CI_PROJECT_ID="1")
    t0 = time.monotonic()
    for args in [["prepare"]] + [["run", os.path.join(scripts, s), s] for s in stages] + [["cleanup"]]:
        r = subprocess.run(["sh", DRIVER, *args], env=jenv, capture_output=True)
        if r.returncode:
            sys.exit(f"bench: driver {args}: {r.stderr.decode()}")
    job = time.monotonic() - t0
    row("GitLab-style job, 6 stages (driver)", job, plain * 6)
    print("(job baseline: 6 plain runs)")


try:
    main()
finally:
    cleanup()
