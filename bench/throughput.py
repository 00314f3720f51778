#!/usr/bin/env python3
"""Output and input throughput through osrun's SMB server (issue 14). One
table, every figure measured in this run, on this machine.

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/throughput.py
  [OSRUN_BASELINE=old/osrun]   also time the 20 MB run with another osrun

stdout: the guest writes 2 MB (1 MB for 100 B writes, 4 MiB for 64 KiB and 1 MiB writes) with dd of one write
size to its stdout, timed inside the guest (/proc/uptime), against the same
dd to the guest's own disk (the guest-side ceiling under TCG). stdin: the
host pipes the same amount in writes of that size, and the command reads it
to its end (timed in the guest from its start), against reading the same
bytes from the guest's disk. Then the wall time of a 20 MB
`cat /dev/zero | head -c 20000000` run and of a plain run.
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
BASELINE = os.environ.get("OSRUN_BASELINE")
SIZES = [100, 1000, 1400, 4096, 65536, 1048576]
work = tempfile.mkdtemp(prefix="osrun-bench.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg",
           TMPDIR=os.path.join(work, "tmp"))
os.makedirs(env["TMPDIR"])


def cleanup(*_):
    subprocess.run(["pkill", "-KILL", "-f", work + "/"], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)


signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))


def run(cmd, osrun=OSRUN, stdin=subprocess.DEVNULL, data=None):
    t0 = time.monotonic()
    r = subprocess.run([osrun, cmd], env=env, stdin=stdin if data is None else None, input=data,
                       capture_output=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: osrun {cmd!r} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    return dt, r.stdout, r.stderr.decode(errors="replace")


def spans(err, tag):
    """The command prints 'TAG t0 t1' lines on stderr; the sum of t1 - t0."""
    return sum(float(f[2]) - float(f[1]) for f in (l.split() for l in err.splitlines())
               if len(f) == 3 and f[0] == tag)


UP = "$(cut -d' ' -f1 /proc/uptime)"


def out_case(size):
    total = 1_000_000 if size < 1000 else 2_000_000 if size < 65536 else 4_194_304
    count = total // size
    cmd = (f"a={UP}; dd if=/dev/zero bs={size} count={count} 2>/dev/null; b={UP}; "
           f"c={UP}; dd if=/dev/zero of=/data/bench bs={size} count={count} 2>/dev/null; d={UP}; rm -f /data/bench; "
           f"echo T $a $b >&2; echo X $c $d >&2")
    _, out, err = run(cmd)
    if len(out) != size * count:
        sys.exit(f"bench: {size} B writes: got {len(out)} bytes, expected {size * count}")
    return size * count, spans(err, "T"), spans(err, "X")


def in_case(size):
    total = 1_000_000 if size < 1000 else 2_000_000 if size < 65536 else 4_194_304
    count = total // size
    data = b"\0" * (size * count)
    # The host writes in pieces of `size`: through a pipe python fills.
    r, w = os.pipe()
    p = subprocess.Popen([OSRUN, f"a={UP}; dd of=/dev/null bs={size} 2>/dev/null; b={UP}; echo T $a $b >&2; "
                          f"head -c {size * count} /dev/zero >/data/bench; sync; c={UP}; "
                          f"dd if=/data/bench of=/dev/null bs={size} 2>/dev/null; d={UP}; rm -f /data/bench; "
                          f"echo X $c $d >&2"],
                         env=env, stdin=r, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(r)
    for i in range(0, len(data), size):
        os.write(w, data[i:i + size])
    os.close(w)
    err = p.stderr.read().decode(errors="replace")
    if p.wait() != 0:
        sys.exit(f"bench: stdin {size}: {err}")
    return size * count, spans(err, "T"), spans(err, "X")


def main():
    subprocess.run([OSRUN, "provision"], env=env, check=True, capture_output=True)
    rows = []
    for s in SIZES:
        n, share, disk = out_case(s)
        rows.append(("stdout", s, n, share, disk))
    for s in SIZES:
        n, share, disk = in_case(s)
        rows.append(("stdin", s, n, share, disk))
    print(f"{'stream':>7} {'write':>8} {'bytes':>8} {'share s':>8} {'MB/s':>7} {'disk MB/s':>9} {'share/disk':>10} "
          f"{'per write':>10}")
    mbs = {}
    for kind, s, n, share, disk in rows:
        a, b = n / max(share, 1e-3) / 1e6, n / max(disk, 1e-3) / 1e6
        mbs[(kind, s)] = a
        print(f"{kind:>7} {s:>8} {n:>8} {share:>8.2f} {a:>7.2f} {b:>9.2f} {a / b:>9.2f}x "
              f"{share / (n // s) * 1e3:>8.2f}ms")
    o = lambda s: mbs[("stdout", s)]
    print(f"stdout 4 KB / 1 MB writes: {o(4096) / o(1048576):.2f}x; "
          f"per-write time 1400 B / 1000 B: {(1e6 / 1400 / o(1400)) / (1e6 / 1000 / o(1000)):.2f}x")
    cmd20 = "cat /dev/zero | head -c 20000000"
    t20 = statistics.median(run(cmd20)[0] for _ in range(3))
    plain = statistics.median(run("echo hi")[0] for _ in range(5))
    print(f"20 MB run: {t20:.2f} s; plain run ('echo hi'): {plain:.2f} s; 20 MB costs {t20 / plain:.1f}x a plain run")
    if BASELINE:
        tb = run("cat /dev/zero | head -c 2000000", osrun=BASELINE)[0]
        tn = run("cat /dev/zero | head -c 2000000")[0]
        print(f"2 MB run: baseline {tb:.2f} s, this osrun {tn:.2f} s: {tb / tn:.1f}x faster")


try:
    main()
finally:
    cleanup()
