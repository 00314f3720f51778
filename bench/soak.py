#!/usr/bin/env python3
"""Soak (issue 11): many jobs at once, above the core count, plain and
through a pool, some of their clients interrupted on purpose.

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/soak.py [JOBS] [PARALLEL]

Each job runs `echo job N; sleep S; echo done N` (S random, up to 1 s).
One in ten clients gets SIGINT, SIGTERM or SIGKILL while it runs. Counted:
- failed: a job not signalled whose exit code is not 0 or whose output is
  not its own two lines; a signalled one that exits other than 130/143/-9
  (or 0, when it had ended before the signal came);
- leaked processes (QEMU, smbd, websockify with the soak's paths) and run
  directories left when everything has ended (after one plain run, whose
  start sweeps what SIGKILLed clients left, as any later osrun does);
- restore-to-output: from the client's start to the first line, p50/p99,
  for plain runs and pool runs.
Exit status 1 when anything failed or leaked.
"""
import os, random, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
JOBS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
PAR = int(sys.argv[2]) if len(sys.argv) > 2 else 4
work = tempfile.mkdtemp(prefix="osrun-soak.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg", TMPDIR=os.path.join(work, "tmp"))
os.makedirs(env["TMPDIR"])
random.seed(int(os.environ.get("SOAK_SEED", "11")))
lock = threading.Lock()
results = []


def one(n, pooled):
    sleep = random.choice(["0", "0.2", "0.5", "1"])
    sig = random.choice([signal.SIGINT, signal.SIGTERM, signal.SIGKILL]) if random.random() < 0.1 else None
    args = [OSRUN, "-s", "base" if pooled else "plain", f"echo job {n}; sleep {sleep}; echo done {n}"]
    t0 = time.monotonic()
    p = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = None
    if sig:
        threading.Timer(random.uniform(0.2, 2.0), lambda: p.poll() is None and p.send_signal(sig)).start()
    out = b""
    line = p.stdout.readline()
    if line:
        first = time.monotonic() - t0
    out = line + p.stdout.read()
    err = p.stderr.read().decode(errors="replace")
    rc = p.wait()
    want = f"job {n}\ndone {n}\n".encode()
    if sig is None:
        ok = rc == 0 and out == want
    else:
        ok = rc in (130, 143, -9) or (rc == 0 and out == want)
    with lock:
        results.append((n, pooled, sig, rc, ok, first, err.strip().splitlines()[-1:] if not ok else []))


def leaks():
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
    return live, os.listdir(env["TMPDIR"])


def main():
    print(f"soak: {JOBS} jobs, {PAR} at once on {os.cpu_count()} cores; provisioning", flush=True)
    for cmd in (["provision"], ["-n", "plain", "true"], ["-n", "base", "true"]):
        r = subprocess.run([OSRUN, *cmd], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"soak: osrun {' '.join(cmd)} failed: {r.stderr.strip()}")
    pool = subprocess.Popen([OSRUN, "pool", "-s", "base", "-j", "2"], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "pool.err"), "w"))
    time.sleep(8)
    t0 = time.monotonic()
    todo = list(range(JOBS))
    threads = []
    while todo or threads:
        threads = [t for t in threads if t.is_alive()]
        while todo and len(threads) < PAR:
            n = todo.pop(0)
            t = threading.Thread(target=one, args=(n, n % 2 == 1))
            t.start()
            threads.append(t)
        time.sleep(0.05)
    wall = time.monotonic() - t0
    pool.send_signal(signal.SIGTERM)
    pool.wait(timeout=60)
    subprocess.run([OSRUN, "-s", "plain", "true"], env=env, stdin=subprocess.DEVNULL, capture_output=True)
    time.sleep(1)
    procs, dirs = leaks()
    failed = [r for r in results if not r[4]]
    sigs = sum(1 for r in results if r[2])
    print(f"soak: {len(results)} jobs in {wall:.0f} s, {sigs} clients signalled; failed {len(failed)}; "
          f"leaked processes {len(procs)}; run directories left {len(dirs)}")
    for pooled, name in ((False, "plain"), (True, "pool")):
        t = sorted(r[5] for r in results if r[1] == pooled and r[5] is not None and not r[2])
        if t:
            p99 = t[min(len(t) - 1, int(len(t) * 0.99))]
            print(f"soak: {name:5} restore-to-output p50 {statistics.median(t):.2f} s, p99 {p99:.2f} s ({len(t)} jobs)")
    for r in failed[:10]:
        print(f"soak:   failed job {r[0]} ({'pool' if r[1] else 'plain'}, signal {r[2]}): exit {r[3]} {r[6]}")
    for p in procs[:10]:
        print(f"soak:   leaked {p}")
    return 1 if failed or procs or dirs else 0


try:
    rc = main()
finally:
    subprocess.run(["pkill", "-KILL", "-f", work + "/"], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)
sys.exit(rc)
