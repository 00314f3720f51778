#!/usr/bin/env python3
"""Soak (issues 11, 33): many jobs at once, above the core count, plain and
through a pool, some of their clients interrupted on purpose; sessions
and builds among them; optionally a burst of many clones at once.

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/soak.py [JOBS] [PARALLEL]
      [--sessions N] [--builds N] [--burst CLONES [--burst-memory MIB] [--burst-dirty MIB] [--burst-sleep S]]

Each job runs `echo job N; sleep S; echo done N` (S random, up to 1 s),
half from a snapshot no pool serves, half from the pool's. One in ten
clients gets SIGINT, SIGTERM or SIGKILL while it runs. Among them (default
JOBS/25 each, at least 3 and 2): sessions (start, two execs, a failing
one, then stop, stop -n with the new snapshot run, or the keeper
SIGKILLed: it must leave the list and refuse an exec) and builds (a build
file with a cached and an uncached step; half built twice, the second
"up to date"; the result run). bench/soakjobs.py has them. --burst: then
CLONES runs of `sleep S` (default 30) started at once from a snapshot of a
MIB-MiB guest (default 2048) with DIRTY MiB written (default 55%): must
all succeed; the host's peak memory and the median run are printed.
Counted:
- failed: a job not signalled whose exit code is not 0 or whose output is
  not its own two lines; a signalled one that exits other than 130/143/-9
  (or 0, when it had ended before the signal came);
- leaked processes (QEMU, smbd, websockify with the soak's paths) when
  everything has ended;
- run directories, before any sweep can hide them: every osrun start
  sweeps its TMPDIR, so a SIGKILLed client (which legitimately leaves its
  directory) gets a TMPDIR of its own, and the rest share the soak's. A
  directory in the shared one, or one a start there swept during the soak
  (osrun -v: "removed N run directories"), was left by a client that was
  not SIGKILLed or by the pool: must be 0. The SIGKILLed clients' ones are
  counted apart, then one plain start sweeps them all: none may be left;
- restore-to-output: from the client's start to the first line, p50/p99,
  by what served the job (osrun -v: "running in a warm clone"), not by the
  snapshot it asked for: plain runs, pool runs, and pool misses (asked for
  the pool's snapshot, found no clone ready and restored their own).
Exit status 1 when anything failed or leaked, or no warm clone served a job.
"""
import argparse, os, random, re, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

import soakjobs
from poolwait import Pool, PoolError, served_warm

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
ap = argparse.ArgumentParser()
ap.add_argument("jobs", type=int, nargs="?", default=300)
ap.add_argument("par", type=int, nargs="?", default=4)
ap.add_argument("--sessions", type=int)
ap.add_argument("--builds", type=int)
ap.add_argument("--burst", type=int, default=0)
ap.add_argument("--burst-memory", type=int, default=2048)
ap.add_argument("--burst-dirty", type=int)
ap.add_argument("--burst-sleep", type=int, default=30)
ARGS = ap.parse_args()
JOBS, PAR = ARGS.jobs, ARGS.par
SESSIONS = ARGS.sessions if ARGS.sessions is not None else max(3, JOBS // 25)
BUILDS = ARGS.builds if ARGS.builds is not None else max(2, JOBS // 25)
CLONES = 2
RUNDIR = "osrun-run."  # runner/lib/rundir.c
SWEPT = re.compile(r"removed (\d+) run directories")  # runner/job.c, with -v
work = tempfile.mkdtemp(prefix="osrun-soak.")
TMP = os.path.join(work, "tmp")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg", TMPDIR=TMP)
os.makedirs(TMP)
random.seed(int(os.environ.get("SOAK_SEED", "11")))
lock = threading.Lock()
results = []


def job_tmp(n, sig):
    """The shared TMPDIR, or for a client about to be SIGKILLed one of its
    own (named so no sweep of the shared one takes it)."""
    if sig != signal.SIGKILL:
        return TMP
    d = os.path.join(TMP, f"killed-{n}")
    os.makedirs(d)
    return d


def other(n, kind, job):
    """A session or build job (soakjobs.py), recorded like a run."""
    sig = signal.SIGKILL if kind == "session kill" else None
    tmp = job_tmp(n, sig)
    try:
        ok, why, swept = job(tmp)
    except Exception as e:  # a bug in the soak is a failure, not a hang
        ok, why, swept = False, f"{type(e).__name__}: {e}", 0
    with lock:
        results.append(dict(n=n, served=kind.split()[0], kind=kind, sig=None, rc=None, ok=ok, first=None,
                            swept=swept, tmp=tmp, why=[why] if why else []))


def one(n, snap):
    sleep = random.choice(["0", "0.2", "0.5", "1"])
    sig = random.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL]) if random.random() < 0.1 else None
    tmp = job_tmp(n, sig)
    args = [OSRUN, "-v", "-s", snap, f"echo job {n}; sleep {sleep}; echo done {n}"]
    t0 = time.monotonic()
    p = subprocess.Popen(args, env=dict(env, TMPDIR=tmp), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    if sig:
        threading.Timer(random.uniform(0.2, 2.0), lambda: p.poll() is None and p.send_signal(sig)).start()
    # stderr in a thread: with -v it can outgrow a pipe while stdout is read.
    err = []
    reader = threading.Thread(target=lambda: err.append(p.stderr.read().decode(errors="replace")))
    reader.start()
    line = p.stdout.readline()
    first = time.monotonic() - t0 if line else None
    out = line + p.stdout.read()
    rc = p.wait()
    reader.join()
    err = err[0]
    want = f"job {n}\ndone {n}\n".encode()
    ok = rc == 0 and out == want if sig is None else rc in (130, 143, -9) or (rc == 0 and out == want)
    served = "pool" if served_warm(err) else "plain" if snap == "plain" else "miss"
    swept = sum(int(m) for m in SWEPT.findall(err)) if tmp == TMP else 0
    why = [l for l in err.strip().splitlines() if "osrun: " in l][-1:] if not ok else []
    with lock:
        results.append(dict(n=n, served=served, sig=sig, rc=rc, ok=ok, first=first, swept=swept, tmp=tmp,
                            why=why))


def rundirs(d):
    return [e for e in os.listdir(d) if e.startswith(RUNDIR)]


def leaked_procs():
    procs = subprocess.run(["pgrep", "-a", "-f", work + "/"], capture_output=True, text=True).stdout.splitlines()
    procs = [p for p in procs if "soak.py" not in p]
    # Zombies of reaped-elsewhere children on a container's init are not ours to count.
    live = []
    for p in procs:
        pid = p.split()[0]
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    live.append(p)
        except OSError:
            pass
    return live


def tasks(build_dir):
    """The runs, with the sessions and builds spread among them."""
    ctx = soakjobs.Ctx(OSRUN, env, TMP, work)
    todo = [(one, (n, "base" if n % 2 else "plain")) for n in range(JOBS)]
    rnd = random.Random(33)
    for i, end in enumerate(soakjobs.pick_ends(SESSIONS, rnd)):
        n = JOBS + i
        job = lambda tmp, n=n, end=end: soakjobs.session_job(ctx, n, "base", end, tmp)
        todo.insert(rnd.randrange(len(todo) + 1), (other, (n, "session " + end, job)))
    for i in range(BUILDS):
        n = JOBS + SESSIONS + i
        job = lambda tmp, n=n: soakjobs.build_job(ctx, n, build_dir, tmp)
        todo.insert(rnd.randrange(len(todo) + 1), (other, (n, "build", job)))
    return todo


def run_all(todo):
    threads = []
    while todo or threads:
        threads = [t for t in threads if t.is_alive()]
        while todo and len(threads) < PAR:
            fn, args = todo.pop(0)
            t = threading.Thread(target=fn, args=args)
            t.start()
            threads.append(t)
        time.sleep(0.05)


def count_rundirs(pool_log):
    """Run directories before any sweep, then after one plain start's: a
    dict of those of SIGKILLed clients, those of others (still there, or
    swept during the soak by a client's start or a pool clone's, which
    sweeps too), what that start swept and what it left."""
    present = len(rundirs(TMP))
    others = present + sum(r["swept"] for r in results) + sum(int(m) for m in SWEPT.findall(pool_log))
    killed = 0
    for r in results:
        if r["tmp"] != TMP:
            # Into the shared TMPDIR, where the next start looks.
            for d in rundirs(r["tmp"]):
                os.rename(os.path.join(r["tmp"], d), os.path.join(TMP, d))
                killed += 1
    s = subprocess.run([OSRUN, "-v", "-s", "plain", "true"], env=env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True)
    if s.returncode:
        sys.exit(f"soak: the sweeping run failed ({s.returncode}): {s.stderr.strip()}")
    swept = sum(int(m) for m in SWEPT.findall(s.stderr))
    after = len(rundirs(TMP)) + sum(len(rundirs(r["tmp"])) for r in results if r["tmp"] != TMP)
    return dict(killed=killed, others=others, swept=swept, expected=killed + present, after=after)


def run_burst():
    """--burst: its snapshot made after the other jobs, then the clones."""
    dirty = ARGS.burst_dirty if ARGS.burst_dirty is not None else int(ARGS.burst_memory * 0.55)
    ctx = soakjobs.Ctx(OSRUN, env, TMP, work)
    print(f"soak: burst: making a {ARGS.burst_memory} MiB snapshot with {dirty} MiB dirtied", flush=True)
    snap, (ok, why, swept) = soakjobs.burst_snapshot(ctx, ARGS.burst_memory, dirty)
    b = dict(failed=[f"making its snapshot: {why}"], swept=0, peak_mib=0, median=0, longest=0)
    if ok:
        print(f"soak: burst: {ARGS.burst} clones at once", flush=True)
        b = soakjobs.burst(ctx, snap, ARGS.burst, ARGS.burst_sleep)
    b["dirty"] = dirty
    b["swept"] += swept
    with lock:
        results.append(dict(n=-1, served="burst", kind="burst", sig=None, rc=None, ok=True, first=None,
                            swept=b["swept"], tmp=TMP, why=[]))
    return b


def percentiles(name, served):
    t = sorted(r["first"] for r in results if r["served"] == served and r["first"] is not None and not r["sig"])
    if not t:
        print(f"soak: {name:9} restore-to-output: no job")
        return
    p99 = t[min(len(t) - 1, int(len(t) * 0.99))]
    print(f"soak: {name:9} restore-to-output p50 {statistics.median(t):.2f} s, p99 {p99:.2f} s ({len(t)} jobs)")


def main():
    print(f"soak: {JOBS} jobs, {PAR} at once on {os.cpu_count()} cores; provisioning", flush=True)
    for cmd in (["provision"], ["-n", "plain", "true"], ["-n", "base", "true"]):
        r = subprocess.run([OSRUN, *cmd], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"soak: osrun {' '.join(cmd)} failed: {r.stderr.strip()}")
    build_dir, (ok, why, swept) = soakjobs.build_prepare(soakjobs.Ctx(OSRUN, env, TMP, work), "base")
    if not ok:
        sys.exit(f"soak: the first build failed: {why}")
    results.append(dict(n=-2, served="prepare", kind="prepare", sig=None, rc=None, ok=True, first=None, swept=swept,
                        tmp=TMP, why=[]))
    pool = Pool(OSRUN, env, os.path.join(work, "pool.err"), snap="base", clones=CLONES)
    try:
        pool.wait_ready(CLONES)
    except PoolError as e:
        print(f"soak: {e}")
    print(f"soak: {JOBS} runs, {SESSIONS} sessions, {BUILDS} builds", flush=True)
    t0 = time.monotonic()
    run_all(tasks(build_dir))
    wall = time.monotonic() - t0
    pool.stop()
    b = run_burst() if ARGS.burst else None
    time.sleep(1)
    procs = leaked_procs()
    d = count_rundirs(pool.log())
    failed = [r for r in results if not r["ok"]]
    jobs = [r for r in results if r["served"] not in ("prepare", "burst")]
    sigs = [r for r in results if r["sig"]]
    n_kill = sum(1 for r in sigs if r["sig"] == signal.SIGKILL)
    print(f"soak: {len(jobs)} jobs in {wall:.0f} s, {len(sigs)} clients signalled ({n_kill} SIGKILL); "
          f"failed {len(failed)}; leaked processes {len(procs)}")
    for kind in ("session", "build"):
        mine = [r for r in results if r["served"] == kind]
        ends = {}
        for r in mine:
            ends[r["kind"]] = ends.get(r["kind"], 0) + 1
        print(f"soak: {kind}s {len(mine)} ({', '.join(f'{k}: {v}' for k, v in sorted(ends.items()))}), "
              f"failed {sum(1 for r in mine if not r['ok'])}")
    if b:
        print(f"soak: burst of {ARGS.burst} clones of a {ARGS.burst_memory} MiB guest ({b['dirty']} MiB dirtied), "
              f"each `sleep {ARGS.burst_sleep}`, on {os.cpu_count()} cores: failed {len(b['failed'])}; host memory "
              f"at peak +{b['peak_mib']} MiB ({b['peak_mib'] / ARGS.burst:.0f} MiB a clone); run median "
              f"{b['median']:.0f} s, longest {b['longest']:.0f} s")
        for why in b["failed"][:10]:
            print(f"soak:   failed burst run: {why}")
    print(f"soak: run directories before any sweep: {d['killed']} of SIGKILLed clients, {d['others']} of other"
          f" clients or the pool (must be 0); one plain start then swept {d['swept']} (of {d['expected']}),"
          f" {d['after']} left (must be 0)")
    for name, served in (("plain", "plain"), ("pool", "pool"), ("pool miss", "miss")):
        percentiles(name, served)
    warm = sum(1 for r in results if r["served"] == "pool")
    if not warm:
        print("soak: no job was served by a warm clone: the pool figures are missing, not fast")
    for r in failed[:10]:
        print(f"soak:   failed job {r['n']} ({r['served']}, signal {r['sig']}): exit {r['rc']} {r['why']}")
    for p in procs[:10]:
        print(f"soak:   leaked {p}")
    bad_dirs = d["others"] or d["after"] or d["swept"] != d["expected"]
    return 1 if failed or procs or bad_dirs or not warm or (b and b["failed"]) else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        subprocess.run(["pkill", "-KILL", "-f", work + "/"], stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(rc)
