"""Runs through `osrun pool`, for the benches that time them.

A client that finds no clone ready restores one itself and still exits 0,
so a pool figure means something only when each timed run is shown to
have been served by a warm clone: osrun -v says "running in a warm clone"
(runner/pool.c) once a clone has the command. And a pool is worth timing
only once it has said a clone is ready (runner/pool-keeper.c: "pool:
clone PID ready (N of M)"), not after a guessed sleep.
"""
import statistics, subprocess, time

WARM = "running in a warm clone"
READY = " ready ("


class PoolError(Exception):
    """A pool run that cannot count as one: a failure, never a figure."""


def served_warm(stderr):
    return WARM in stderr


class Pool:
    """`osrun pool -v` with its log in errf (the log is how it says ready)."""

    def __init__(self, osrun, env, errf, snap=None, clones=1):
        args = [osrun, "pool", "-v", "-j", str(clones)] + (["-s", snap] if snap else [])
        self.errf = errf
        with open(errf, "w") as f:
            self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=f)

    def log(self):
        with open(self.errf) as f:
            return f.read()

    def wait_ready(self, n, timeout=120):
        """Until the pool has said "ready" n times in all: with -j 1, the
        n-th is the clone restored after n - 1 runs were served."""
        deadline = time.monotonic() + timeout
        while self.log().count(READY) < n:
            if self.proc.poll() is not None:
                raise PoolError(f"the pool exited ({self.proc.returncode}) before clone {n} was ready: "
                                f"{self.log().strip()[-400:]}")
            if time.monotonic() > deadline:
                raise PoolError(f"the pool had no clone {n} ready within {timeout} s")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def time_served(pool, reps, run, want_out):
    """Median seconds of reps runs, each given a fresh clone (the pool's
    next "ready" comes first). run() times one `osrun -v` client and
    returns (seconds, exit code, stdout, stderr); a run that exits other
    than 0, prints other than want_out, or was not served by a warm clone
    raises PoolError."""
    times = []
    for i in range(reps):
        pool.wait_ready(i + 1)
        dt, rc, out, err = run()
        if rc != 0 or out != want_out:
            raise PoolError(f"pool run {i + 1}: exit {rc}, output {out!r} (expected {want_out!r}): "
                            f"{err.strip()[-400:]}")
        if not served_warm(err):
            raise PoolError(f"pool run {i + 1}: no warm clone served it (osrun -v never said "
                            f"'{WARM}'); it restored its own")
        times.append(dt)
    return statistics.median(times)
