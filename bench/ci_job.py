#!/usr/bin/env python3
"""A CI job's costs (issue 15), every figure measured in this run:

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/ci_job.py [--quick]

- copy-in of a tree of 10,000 small files and of one 200 MB file, against
  piping a tar of the same into `osrun 'tar x'` (the baseline);
- reading a shared folder in the guest (--volume, `cat` of every file)
  against reading the same tree after --copy-in;
- a session's exec of `true` against a plain run and a pool run (each
  pool run given a clone the pool said was ready, and checked to have been
  served by it: bench/poolwait.py);
- a GitLab-style job of 6 stages through contrib/gitlab-runner/osrun-driver.
Medians of 3 (1 for the 200 MB cases). --quick: one sample of each copy
and volume case and no 200 MB case (the session and pool rows keep theirs).
Every timed run checks its exit status and what it printed (the copies:
the guest counts the files it got); a check that fails is printed as a
failure in place of the figure, and the exit status is 1.
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time

from poolwait import Pool, PoolError, time_served
from workdir import remove

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "..", "contrib", "gitlab-runner", "osrun-driver")
work = tempfile.mkdtemp(prefix="osrun-bench.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg",
           TMPDIR=os.path.join(work, "tmp"), OSRUN=OSRUN)
os.makedirs(env["TMPDIR"])


def cleanup(*_):
    remove(work)


QUICK = "--quick" in sys.argv
failed = []
signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))


def osrun(*args, stdin=subprocess.DEVNULL, want=None):
    """Seconds of one osrun run, which must exit 0 and, when want is given,
    print exactly that."""
    t0 = time.monotonic()
    r = subprocess.run([OSRUN, *args], env=env, stdin=stdin, capture_output=True)
    dt = time.monotonic() - t0
    out = r.stdout.decode(errors="replace")
    if r.returncode != 0:
        sys.exit(f"bench: osrun {args!r} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    if want is not None and out != want:
        sys.exit(f"bench: osrun {args!r} printed {out!r}, expected {want!r}")
    return dt, out


def median(f, n=3):
    return statistics.median(f() for _ in range(n))


def samples(n=3):
    return 1 if QUICK else n


# Run in the guest after a copy: the copy is timed with the count of what
# arrived, so a copy that lost files is a failure, not a fast figure.
COUNT = "find {d} -type f | wc -l"


def make_tree():
    tree = os.path.join(work, "tree")
    for d in range(100):
        os.makedirs(os.path.join(tree, f"d{d:02}"))
        for i in range(100):
            with open(os.path.join(tree, f"d{d:02}", f"f{i:02}.txt"), "w") as f:
                f.write(f"file {d} {i}\n" * 8)
    big = os.path.join(work, "big")
    os.makedirs(big)
    if not QUICK:
        with open(os.path.join(big, "blob.bin"), "wb") as f:
            f.write(os.urandom(200 * 1024 * 1024))
    return tree, big


def tar_pipe(path, files, dest="/x"):
    """The baseline: a tar of path piped into the guest's tar (which counts
    the files it got, as the copy-in runs do)."""
    p = subprocess.Popen(["tar", "-C", os.path.dirname(path), "-cf", "-", os.path.basename(path)],
                         stdout=subprocess.PIPE)
    dt, _ = osrun(f"mkdir -p {dest} && tar -x -C {dest} && " + COUNT.format(d=dest), stdin=p.stdout,
                  want=f"{files}\n")
    if p.wait() != 0:
        sys.exit(f"bench: tar of {path} failed ({p.returncode})")
    return dt


def row(name, t, base, size=None):
    mbs = f"{size / t / 1e6:8.1f} MB/s" if size else " " * 13
    print(f"{name:44} {t:7.2f} s {mbs}   baseline {base:6.2f} s   ratio {t / base:5.2f}x")


def copy_rows(tree, big, n_files, tree_bytes):
    copy_in = lambda: osrun("--copy-in", f"{tree}:/x", COUNT.format(d="/x"), want=f"{n_files}\n")[0]
    n = samples()
    row("copy-in, 10,000 files of 100 B", median(copy_in, n), median(lambda: tar_pipe(tree, n_files), n),
        tree_bytes)
    if not QUICK:
        # 200 MB does not fit the guest's RAM-backed root: its disk takes it.
        # stat, not a read: reading 200 MB back would cost more than the copy.
        size = f"{200 * 1024 * 1024}\n"
        t = osrun("--copy-in", f"{big}:/data/x", "find /data/x -type f -exec stat -c %s {} +", want=size)[0]
        row("copy-in, one 200 MB file", t, tar_pipe(big, 1, "/data/x"), 200 * 1024 * 1024)
    out = os.path.join(work, "out")

    def copy_out():
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        dt = osrun("--copy-in", f"{tree}:/x", "--copy-out", f"/x:{out}", COUNT.format(d="/x"),
                   want=f"{n_files}\n")[0]
        got = sum(len(fs) for _, _, fs in os.walk(out))
        if got != n_files:
            sys.exit(f"bench: copy-out brought {got} files back, expected {n_files}")
        return dt

    row("copy-in + copy-out, 10,000 files", median(copy_out, n), median(copy_in, n))
    cat = "find /t -type f -exec cat {} + | wc -c"
    t = median(lambda: osrun("--volume", f"{tree}:/t:ro", cat, want=f"{tree_bytes}\n")[0], n)
    base = median(lambda: osrun("--copy-in", f"{tree}:/t", cat, want=f"{tree_bytes}\n")[0], n)
    row("read a shared folder (cat every file)", t, base)


def pool_row(plain):
    """Pool runs of 'true', each on a clone the pool said was ready and
    checked to have been served by one; else a failure in the row."""
    pool = Pool(OSRUN, env, os.path.join(work, "pool.err"))

    def run():
        dt, out, err, rc = timed([OSRUN, "-v", "true"])
        return dt, rc, out, err

    try:
        row("  (pool run 'true', for comparison)", time_served(pool, 3, run, ""), plain)
    except PoolError as e:
        fail("  (pool run 'true', for comparison)", str(e))
    finally:
        pool.stop()


def timed(args):
    t0 = time.monotonic()
    r = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    dt = time.monotonic() - t0
    return dt, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"), r.returncode


def fail(name, why):
    failed.append(name)
    print(f"{name:44} FAILED: {why}")


def main():
    print("bench: provisioning the test guest", file=sys.stderr)
    osrun("provision")
    tree, big = make_tree()
    n_files = sum(len(fs) for _, _, fs in os.walk(tree))
    tree_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(tree) for f in fs)
    plain = median(lambda: osrun("true", want="")[0])
    print(f"(a plain run of 'true': {plain:.2f} s; every copy figure includes one)")
    copy_rows(tree, big, n_files, tree_bytes)

    _, name = osrun("session", "start", "--name", "bench")
    name = name.strip()
    t = median(lambda: osrun("session", "exec", name, "true", want="")[0], 5)
    osrun("session", "stop", name)
    row("session exec 'true'", t, plain)
    pool_row(plain)

    scripts = os.path.join(work, "stages")
    os.makedirs(scripts)
    stages = ["prepare_script", "get_sources", "restore_cache", "step_script", "archive_cache",
              "upload_artifacts_on_success"]
    for s in stages:
        with open(os.path.join(scripts, s), "w") as f:
            f.write(f"echo {s}\n")
    # The runner's account of the job, which the driver trusts for its ids.
    response = os.path.join(work, "response.json")
    with open(response, "w") as f:
        f.write('{"id": 1, "job_info": {"project_id": 1}, "runner_info": {"timeout": 3600}, "services": null}\n')
    jenv = dict(env, JOB_RESPONSE_FILE=response)
    t0 = time.monotonic()
    for args in [["prepare"]] + [["run", os.path.join(scripts, s), s] for s in stages] + [["cleanup"]]:
        r = subprocess.run(["sh", DRIVER, *args], env=jenv, capture_output=True)
        if r.returncode:
            sys.exit(f"bench: driver {args}: {r.stderr.decode()}")
        # Each stage's script echoes its name: a stage that ran nothing fails.
        if args[0] == "run" and r.stdout.decode() != f"{args[2]}\n":
            sys.exit(f"bench: driver stage {args[2]} printed {r.stdout.decode()!r}")
    job = time.monotonic() - t0
    row("GitLab-style job, 6 stages (driver)", job, plain * 6)
    print("(job baseline: 6 plain runs)")
    if failed:
        sys.exit(f"bench: {len(failed)} row(s) failed their checks: {', '.join(n.strip() for n in failed)}")


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
