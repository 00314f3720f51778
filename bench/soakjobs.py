"""The soak's jobs besides plain and pooled runs (issue 33): sessions and
builds, run among those, and a burst of many clones started at once.

Each job returns (ok, why, swept): why says what went wrong; swept is
how many run directories its osrun starts swept ("removed N run
directories", osrun -v), so the soak can count directories it did not
leave in place.
"""
import json, os, re, signal, statistics, subprocess, threading, time

SWEPT = re.compile(r"removed (\d+) run directories")  # runner/job.c, with -v


class Ctx:
    """osrun, its environment and the soak's shared TMPDIR."""

    def __init__(self, osrun, env, tmp, work):
        self.osrun, self.env, self.tmp, self.work = osrun, env, tmp, work


class Steps:
    """One job's osrun calls: each checked, the first failure kept."""

    def __init__(self, ctx, tmp):
        self.ctx, self.tmp, self.swept, self.why = ctx, tmp, 0, None

    def run(self, args, want_rc=0, want_out=None, timeout=600):
        if self.why:
            return None
        try:
            p = subprocess.run([self.ctx.osrun, *args], env=dict(self.ctx.env, TMPDIR=self.tmp),
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.why = f"osrun {' '.join(args)}: no end within {timeout} s"
            return None
        err = p.stderr.decode(errors="replace")
        if self.tmp == self.ctx.tmp:
            self.swept += sum(int(m) for m in SWEPT.findall(err))
        out = p.stdout.decode(errors="replace")
        if p.returncode != want_rc or (want_out is not None and out != want_out):
            last = [l for l in err.strip().splitlines() if "osrun: " in l][-1:]
            self.why = f"osrun {' '.join(args)[:80]}: exit {p.returncode}, out {out[:80]!r} {last}"
            return None
        return out, err

    def fail(self, why):
        self.why = self.why or why

    def result(self):
        return self.why is None, self.why, self.swept


def session_keeper(ctx, name):
    p = subprocess.run([ctx.osrun, "session", "list", "--json"], env=ctx.env, capture_output=True, text=True)
    for s in json.loads(p.stdout or "[]"):
        if s.get("name") == name:
            return s.get("pid")
    return None


def session_job(ctx, n, base, end, tmp):
    """start, three execs (one failing on purpose), then end: "stop",
    "stop -n" (the new snapshot then run and removed) or "kill" (the
    keeper SIGKILLed: the session must be gone from the list and refuse
    an exec)."""
    s = Steps(ctx, tmp)
    name = f"soak-s{n}"
    s.run(["session", "start", "-v", "-s", base, "--name", name], want_out=name + "\n", timeout=300)
    for i in range(2):
        s.run(["session", "exec", name, f"echo exec {i}; echo {n} >/data/marker"], want_out=f"exec {i}\n")
    s.run(["session", "exec", name, "exit 3"], want_rc=3)
    if end == "stop":
        s.run(["session", "stop", name])
    elif end == "stop -n":
        snap = f"soak-s{n}-kept"
        s.run(["session", "stop", name, "-n", snap], timeout=300)
        s.run(["-v", "-s", snap, "cat /data/marker"], want_out=f"{n}\n")
        s.run(["snapshot", "rm", snap])
    elif not s.why:
        pid = session_keeper(ctx, name)
        if not pid:
            s.fail(f"session {name}: no keeper pid in 'session list --json'")
        else:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while session_keeper(ctx, name) and time.monotonic() < deadline:
                time.sleep(0.2)
            if session_keeper(ctx, name):
                s.fail(f"session {name}: still listed 30 s after its keeper was killed")
            s.run(["session", "exec", name, "true"], want_rc=125)
    return s.result()


BUILDFILE = """FROM {base}
RUN echo shared >/data/shared
ARG N
RUN echo "$N" >/data/n
"""


def build_prepare(ctx, base):
    """The build file, and its first RUN built once: every soak build
    then has a cached step and an uncached one (ARG N differs)."""
    d = os.path.join(ctx.work, "build")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "Buildfile"), "w") as f:
        f.write(BUILDFILE.format(base=base))
    s = Steps(ctx, ctx.tmp)
    s.run(["build", "-v", "--build-arg", "N=first", "-t", "soak-b", d], timeout=600)
    return d, s.result()


def build_job(ctx, n, d, tmp):
    """A build with one cached and one uncached step; half are built a
    second time (all cached: "up to date", nothing boots). The result
    must hold both steps' files."""
    s = Steps(ctx, tmp)
    tag = f"soak-b{n}"
    r = s.run(["build", "-v", "--build-arg", f"N={n}", "-t", tag, d], timeout=600)
    if r and not re.search(r"\] RUN echo shared >/data/shared: cached", r[1]):
        s.fail(f"build {tag}: its first RUN was not cached: {r[1][-300:]!r}")
    if r and re.search(r"\] RUN echo \"\$N\" >/data/n: cached", r[1]):
        s.fail(f"build {tag}: its second RUN (ARG N={n}) was taken from the cache")
    if n % 2:
        r = s.run(["build", "-v", "--build-arg", f"N={n}", "-t", tag, d])
        if r and "up to date" not in r[1]:
            s.fail(f"build {tag} again: not up to date: {r[1][-300:]!r}")
    s.run(["-v", "-s", tag, "cat /data/shared /data/n"], want_out=f"shared\n{n}\n")
    return s.result()


def mem_available_mib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def burst(ctx, snap, clones, sleep):
    """clones runs of `sleep` started at once from snap: failures, the
    host's memory at its peak (MemAvailable before less its lowest), the
    median and longest run. A dict."""
    base = mem_available_mib()
    low = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            low[0] = min(low[0], mem_available_mib())
            time.sleep(0.5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    res = []

    def one(i):
        t0 = time.monotonic()
        s = Steps(ctx, ctx.tmp)
        s.run(["-v", "-s", snap, f"echo started {i}; sleep {sleep}; echo done {i}"],
              want_out=f"started {i}\ndone {i}\n", timeout=3600)
        res.append((time.monotonic() - t0, *s.result()))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clones)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    sampler.join()
    times = sorted(r[0] for r in res)
    return dict(failed=[r[2] for r in res if not r[1]], swept=sum(r[3] for r in res), peak_mib=base - low[0],
                median=statistics.median(times), longest=times[-1])


def burst_snapshot(ctx, memory, dirty):
    """A snapshot of a memory-MiB guest with dirty MiB of its RAM written
    (non-zero pages, in a tmpfs) before the save."""
    s = Steps(ctx, ctx.tmp)
    s.run(["provision", "--memory", str(memory), "--name", f"burst-p{memory}"], timeout=1800)
    cmd = (f"mkdir -p /mnt/fill && mount -t tmpfs -o size=95% fill /mnt/fill && "
           f"yes 0123456789abcdef | head -c {dirty << 20} > /mnt/fill/f; wc -c < /mnt/fill/f")
    s.run(["-s", f"burst-p{memory}", "-n", f"burst{memory}", cmd], want_out=f"{dirty << 20}\n", timeout=1800)
    return f"burst{memory}", s.result()


def pick_ends(n, rnd):
    """How each of n sessions ends: all three kinds while n allows."""
    ends = ["stop", "stop -n", "kill"]
    return [ends[i] if i < 3 else rnd.choice(ends) for i in range(n)]
