#!/usr/bin/env python3
"""osrun build's costs (issue 16), every figure measured in this run:

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/layers.py [MIB...]

For each guest memory size (default 256 and 2048 MiB), on the store's own
filesystem (ext4 here) and, when run as root with mkfs.xfs present, on a
loop-mounted XFS (reflinks):
- a 5-step build file: cold build, a fully cached rebuild (and how many
  QEMU processes it started), a rebuild after changing step 4; against a
  plain run's time;
- store bytes the 5 layers use (their own blocks), against 5 x the
  memory size; a step's time against a plain run's.
"""
import os, shutil, signal, statistics, subprocess, sys, tempfile, time

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
work = tempfile.mkdtemp(prefix="osrun-bench-layers.")
mounts = []
base_env = dict(os.environ, OSRUN_ACCEL="tcg", TMPDIR=os.path.join(work, "tmp"))
os.makedirs(base_env["TMPDIR"])


def cleanup(*_):
    subprocess.run(["pkill", "-KILL", "-f", work + "/"], stderr=subprocess.DEVNULL)
    for m in mounts:
        subprocess.run(["umount", m], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)


signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))

BUILDFILE = """FROM provisioned
RUN dd if=/dev/urandom of=/root/one bs=1M count=4 2>/dev/null
RUN dd if=/dev/urandom of=/root/two bs=1M count=4 2>/dev/null
RUN dd if=/dev/urandom of=/root/three bs=1M count=4 2>/dev/null
RUN echo {four} >/root/four
RUN ls -l /root
"""


def osrun(env, *args):
    t0 = time.monotonic()
    r = subprocess.run([OSRUN, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"bench: osrun {args!r} failed ({r.returncode}): {r.stderr.decode(errors='replace').strip()}")
    return time.monotonic() - t0, r.stderr.decode(errors="replace")


def layer_bytes(env):
    """Bytes of the layers' and the tag's own blocks, as snapshot list
    counts them (st_blocks, less what is hard-linked or reflinked)."""
    import json
    r = subprocess.run([OSRUN, "snapshot", "list", "--json"], env=env, capture_output=True, check=True)
    return sum(s.get("own_bytes", 0) for s in json.loads(r.stdout)
               if s["name"].startswith("layer-") or s["name"] == "bench")


def counting_qemu():
    path = os.path.join(work, "qemu-count")
    starts = os.path.join(work, "qemu-starts")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\ncase " $* " in *" -drive "*) echo start >>"{starts}";; esac\n'
                'exec qemu-system-x86_64 "$@"\n')
    os.chmod(path, 0o755)
    open(starts, "w").close()
    return path, starts


def one(fs, root, mib):
    store = os.path.join(root, f"store-{mib}")
    env = dict(base_env, OSRUN_CACHE=store)
    osrun(env, "provision", "--memory", str(mib))
    osrun(env, "true")
    plain = statistics.median(osrun(env, "true")[0] for _ in range(3))
    ctx = os.path.join(work, f"ctx-{fs}-{mib}")
    os.makedirs(ctx)
    with open(os.path.join(ctx, "Buildfile"), "w") as f:
        f.write(BUILDFILE.format(four="first"))
    cold, _ = osrun(env, "build", "-f", os.path.join(ctx, "Buildfile"), "-t", "bench")
    layers = layer_bytes(env)
    qemu, starts = counting_qemu()
    cached, _ = osrun(dict(env, OSRUN_QEMU=qemu), "build", "-f", os.path.join(ctx, "Buildfile"), "-t", "bench")
    n_starts = sum(1 for _ in open(starts))
    with open(os.path.join(ctx, "Buildfile"), "w") as f:
        f.write(BUILDFILE.format(four="second"))
    changed, err = osrun(env, "build", "-f", os.path.join(ctx, "Buildfile"), "-t", "bench")
    ran = err.count("] done in")
    per_step = cold / 5
    print(f"{fs:5} {mib:6} MiB  plain {plain:5.2f}s  cold {cold:6.2f}s ({per_step / plain:4.1f}x plain a step)  "
          f"cached {cached:5.3f}s ({n_starts} QEMU)  step 4 changed {changed:5.2f}s ({ran} ran)  "
          f"5 layers {layers / 2**20:7.1f} MiB = {layers / (5 * mib * 2**20):4.2f}x 5 x RAM",
          flush=True)


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [256, 2048]
    fss = [("ext4", work)]
    if os.geteuid() == 0 and shutil.which("mkfs.xfs"):
        img, mnt = os.path.join(work, "xfs.img"), os.path.join(work, "xfs")
        os.makedirs(mnt)
        subprocess.run(["truncate", "-s", "20G", img], check=True)
        subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", img], check=True)
        subprocess.run(["mount", "-o", "loop", img, mnt], check=True)
        mounts.append(mnt)
        fss.append(("xfs", mnt))
    subprocess.run(["df", "-T", work] + [m for _, m in fss[1:]])
    try:
        for fs, root in fss:
            for mib in sizes:
                one(fs, root, mib)
    finally:
        cleanup()


main()
