#!/usr/bin/env python3
"""Output and input throughput through osrun's SMB server (issue 14). One
table, every figure measured in this run, on this machine.

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/throughput.py
  [OSRUN_BASELINE=old/osrun]   also time the 2 MB run with another osrun

Each case runs 3 times; the table shows medians. Timed on the host, where
the bytes end up: osrun's stdout is a pipe this bench reads.

stdout: the guest writes 1 MB (100 B writes), 2 MB, or 4 MiB (64 KiB and
1 MiB writes) with dd of one write size to its stdout; the window runs from
the first byte this bench reads to the last one (all of them, counted and
checked to be the zeros dd wrote). Not to EOF: osrun's stdout closes when
it exits, after the VM is torn down, which is not throughput; the table
shows that gap apart ("EOF +s"). stdin: the guest says "ready" on stdout,
then reads stdin to its end with dd of that write size and says how many
bytes it got; the window runs from this bench's first write (in pieces of
that size, into a pipe) to reading the guest's answer, so it holds the
whole path and one short line back. Both against the same dd to or from the
guest's own disk in the same run (timed in the guest, /proc/uptime: the
guest-side ceiling under TCG). Then the wall time of a 20 MB
`cat /dev/zero | head -c 20000000` run and of a plain run, their output
checked. A run that exits other than 0 or moves other than its bytes ends
the bench with an error, not a figure.
"""
import os, signal, statistics, subprocess, sys, tempfile, threading, time

from workdir import remove

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
BASELINE = os.environ.get("OSRUN_BASELINE")
SIZES = [100, 1000, 1400, 4096, 65536, 1048576]
REPS = 3
work = tempfile.mkdtemp(prefix="osrun-bench.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg",
           TMPDIR=os.path.join(work, "tmp"))
os.makedirs(env["TMPDIR"])


def cleanup(*_):
    remove(work)


signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))


def run(cmd, want, osrun=OSRUN):
    """Wall seconds of one run, which must exit 0 and print exactly want."""
    t0 = time.monotonic()
    r = subprocess.run([osrun, cmd], env=env, stdin=subprocess.DEVNULL, capture_output=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: osrun {cmd!r} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    if r.stdout != want:
        sys.exit(f"bench: osrun {cmd!r} printed {len(r.stdout)} bytes, not the {len(want)} expected")
    return dt


UP = "$(cut -d' ' -f1 /proc/uptime)"


def amount(size):
    total = 1_000_000 if size < 1000 else 2_000_000 if size < 65536 else 4_194_304
    return total // size


def start(cmd, stdin=subprocess.DEVNULL):
    errf = open(os.path.join(work, "err"), "w+")
    p = subprocess.Popen([OSRUN, cmd], env=env, stdin=stdin, stdout=subprocess.PIPE, stderr=errf)
    return p, errf


def finish(p, errf, what):
    """The run's exit checked; its stderr, where the guest's timings are."""
    rc = p.wait()
    errf.seek(0)
    err = errf.read()
    errf.close()
    if rc != 0:
        sys.exit(f"bench: {what}: exit {rc}: {err.strip()}")
    return err


def disk_span(err, what):
    """The guest prints 'X t0 t1' on stderr around its disk dd."""
    for line in err.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "X":
            return float(f[2]) - float(f[1])
    sys.exit(f"bench: {what}: no disk timing from the guest: {err.strip()}")


def disk_ref(size, count, out):
    """Shell for the guest: the same dd against its own disk, timed in it."""
    if out:
        dd = f"dd if=/dev/zero of=/data/bench bs={size} count={count} 2>/dev/null"
        return f"c={UP}; {dd}; d={UP}; rm -f /data/bench; echo X $c $d >&2"
    return (f"head -c {size * count} /dev/zero >/data/bench; sync; c={UP}; "
            f"dd if=/data/bench of=/dev/null bs={size} 2>/dev/null; d={UP}; rm -f /data/bench; echo X $c $d >&2")


def out_sample(size):
    """(first byte to last byte on the host, last byte to EOF, disk s)."""
    count = amount(size)
    n = size * count
    # The disk reference first: the window starts at the first byte, after it.
    p, errf = start(disk_ref(size, count, True) + f"; dd if=/dev/zero bs={size} count={count} 2>/dev/null")
    fd = p.stdout.fileno()
    chunks, got, first, last = [], 0, None, None
    while b := os.read(fd, 1 << 20):
        now = time.monotonic()
        first = first or now
        chunks.append(b)
        got += len(b)
        if got >= n and last is None:
            last = now
    eof = time.monotonic()
    err = finish(p, errf, f"stdout {size}")
    if got != n or b"".join(chunks) != bytes(n):
        sys.exit(f"bench: stdout {size} B writes: got {got} bytes, expected {n} zeros")
    return last - first, eof - last, disk_span(err, f"stdout {size}")


def feed(w, data, size):
    for i in range(0, len(data), size):
        os.write(w, data[i:i + size])
    os.close(w)


def in_sample(size):
    """(first write to the guest's answer on the host, disk s)."""
    count = amount(size)
    n = size * count
    r, w = os.pipe()
    # The guest's dd (busybox: it counts blocks, not bytes) reads full
    # blocks, so exactly count blocks and no partial one means every byte
    # came; the guest reports the count and the host checks it.
    p, errf = start(disk_ref(size, count, False) + f"; echo ready; dd of=/dev/null bs={size} iflag=fullblock "
                    "2>/tmp/dd.err; echo done $(head -n1 /tmp/dd.err)", stdin=r)
    os.close(r)
    line = p.stdout.readline()
    if line != b"ready\n":
        os.close(w)
        finish(p, errf, f"stdin {size}")
        sys.exit(f"bench: stdin {size}: the guest said {line!r}, not ready")
    t0 = time.monotonic()
    writer = threading.Thread(target=feed, args=(w, bytes(n), size))
    writer.start()
    answer = p.stdout.readline()
    t1 = time.monotonic()
    writer.join()
    rest = p.stdout.read()
    err = finish(p, errf, f"stdin {size}")
    want = f"done {count}+0 records in\n".encode()
    if answer != want or rest:
        sys.exit(f"bench: stdin {size} B writes: the guest said {answer + rest!r}, expected {want!r}")
    return t1 - t0, disk_span(err, f"stdin {size}")


def medians(samples):
    return [statistics.median(col) for col in zip(*samples)]


def main():
    subprocess.run([OSRUN, "provision"], env=env, check=True, capture_output=True)
    rows = []
    for s in SIZES:
        share, gap, disk = medians([out_sample(s) for _ in range(REPS)])
        rows.append(("stdout", s, s * amount(s), share, disk, gap))
    for s in SIZES:
        share, disk = medians([in_sample(s) for _ in range(REPS)])
        rows.append(("stdin", s, s * amount(s), share, disk, None))
    print(f"medians of {REPS}; share s: stdout first to last byte, stdin first write to the guest's answer, "
          "both on the host")
    print(f"{'stream':>7} {'write':>8} {'bytes':>8} {'share s':>8} {'MB/s':>7} {'disk MB/s':>9} {'share/disk':>10} "
          f"{'per write':>10} {'EOF +s':>7}")
    mbs = {}
    for kind, s, n, share, disk, gap in rows:
        a, b = n / max(share, 1e-3) / 1e6, n / max(disk, 1e-3) / 1e6
        mbs[(kind, s)] = a
        eof = f"{gap:>7.2f}" if gap is not None else f"{'':>7}"
        print(f"{kind:>7} {s:>8} {n:>8} {share:>8.3f} {a:>7.2f} {b:>9.2f} {a / b:>9.2f}x "
              f"{share / (n // s) * 1e3:>8.3f}ms {eof}")
    o = lambda s: mbs[("stdout", s)]
    print(f"stdout 4 KB / 1 MB writes: {o(4096) / o(1048576):.2f}x; "
          f"per-write time 1400 B / 1000 B: {(1e6 / 1400 / o(1400)) / (1e6 / 1000 / o(1000)):.2f}x")
    cmd20 = "cat /dev/zero | head -c 20000000"
    t20 = statistics.median(run(cmd20, bytes(20_000_000)) for _ in range(REPS))
    plain = statistics.median(run("echo hi", b"hi\n") for _ in range(5))
    print(f"20 MB run: {t20:.2f} s; plain run ('echo hi'): {plain:.2f} s; 20 MB costs {t20 / plain:.1f}x a plain run")
    if BASELINE:
        tb = run("cat /dev/zero | head -c 2000000", bytes(2_000_000), osrun=BASELINE)
        tn = run("cat /dev/zero | head -c 2000000", bytes(2_000_000))
        print(f"2 MB run: baseline {tb:.2f} s, this osrun {tn:.2f} s: {tb / tn:.1f}x faster")


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
