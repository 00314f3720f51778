#!/usr/bin/env python3
"""Snapshots through a registry (issue 31), every figure measured in this run:

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/registry.py [MIB]

Debian's docker-registry on 127.0.0.1 (plain HTTP, its storage in a
temporary directory) and four stores on this machine standing for four
hosts. A snapshot of MIB MiB of guest RAM (default 2048) as provisioned
("fresh": most of its RAM never touched, zero chunks), a -n child of it
with 55% of its RAM dirtied as bench/restore.py does but with random
bytes, which zstd cannot shrink ("dirtied": the worst case), and a -n
child of that with a small change ("child"):
- push of each (seconds; bytes the registry stored, which are the bytes
  sent: a blob it has is not sent again), the child's against the parent's;
- the raw size of the files, the non-zero chunks' size, and what they
  compress to (the manifest's sizes);
- pull of each into an empty store, then the child into a store holding
  the parent (seconds, bytes fetched);
- from `osrun -s REF 'echo hi'` on an empty store (pull on first use) to
  its first output, and the same run once the snapshot is there.
Not in CI: a 2 GiB store, and minutes on TCG.
"""
import json, os, signal, socket, subprocess, sys, tempfile, time

from workdir import remove

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
MIB = int(sys.argv[1]) if len(sys.argv) > 1 else 2048
work = tempfile.mkdtemp(prefix="osrun-bench-registry.")
base_env = dict(os.environ, OSRUN_ACCEL="tcg", TMPDIR=os.path.join(work, "tmp"), OSRUN_REGISTRY_TLS_VERIFY="0")
base_env.pop("CI", None)
os.makedirs(base_env["TMPDIR"])
registry = None


def cleanup(*_):
    remove(work, [registry])


signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def osrun(host, *args):
    env = dict(base_env, OSRUN_CACHE=os.path.join(work, host))
    t0 = time.monotonic()
    r = subprocess.run([OSRUN, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: osrun {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return dt, r


def tree_bytes(path):
    n = 0
    for d, _, files in os.walk(path):
        for f in files:
            p = os.path.join(d, f)
            if not os.path.islink(p):
                n += os.path.getsize(p)
    return n


def registry_start():
    global registry
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    data = os.path.join(work, "registry", "data")
    os.makedirs(data)
    cfg = os.path.join(work, "registry", "config.yml")
    with open(cfg, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {data}\n"
                f"http:\n  addr: 127.0.0.1:{port}\n")
    registry = subprocess.Popen(["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return f"127.0.0.1:{port}", data
        except OSError:
            time.sleep(0.1)
    sys.exit("bench: docker-registry did not start")


def manifest(ref):
    r = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def sizes(m):
    """Raw bytes of the files, bytes of the chunks stored, their compressed size."""
    files = json.loads(m["annotations"]["org.osrun.files"])
    raw = sum(f["size"] for f in files.values())
    chunks = sum(int(l["annotations"]["org.osrun.size"]) for l in m["layers"])
    return raw, chunks, sum(l["size"] for l in m["layers"])


def first_output(host, ref):
    env = dict(base_env, OSRUN_CACHE=os.path.join(work, host))
    t0 = time.monotonic()
    p = subprocess.Popen([OSRUN, "-s", ref, "echo hi"], env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    dt = time.monotonic() - t0
    rest, err = p.communicate()
    if p.returncode != 0 or line.strip() != "hi":
        sys.exit(f"bench: osrun -s {ref} failed ({p.returncode}): {err.strip()}")
    return dt, err


def gib(n):
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def main():
    reg, data = registry_start()
    fresh, base, child = (f"{reg}/bench/linux:{t}" for t in ("fresh", "dirtied", "child"))
    log(f"provisioning {MIB} MiB, dirtying {MIB * 55 // 100} MiB with random bytes")
    osrun("a", "provision", "--memory", str(MIB), "--name", "fresh")
    _, r = osrun("a", "-s", "fresh", "-n", "base",
                 "mkdir -p /mnt/fill && mount -t tmpfs -o size=95% fill /mnt/fill && "
                 f"head -c {MIB * 55 // 100 * 1048576} /dev/urandom >/mnt/fill/f; wc -c </mnt/fill/f")
    if int(r.stdout.strip() or 0) != MIB * 55 // 100 * 1048576:
        sys.exit(f"bench: dirtying wrote {r.stdout.strip()} bytes")
    osrun("a", "-s", "base", "-n", "child", "echo changed >/root/changed")
    rows = []
    for name, label, ref in (("fresh", "fresh", fresh), ("base", "dirtied", base), ("child", "child", child)):
        before = tree_bytes(data)
        dt, _ = osrun("a", "snapshot", "push", name, ref, "--tls-verify=false")
        rows.append((f"push {label}", dt, tree_bytes(data) - before))
    for host, ref, name, label in (("b", fresh, "fresh", "pull fresh, empty store"),
                                   ("b", base, "base", "pull dirtied, fresh there"),
                                   ("b", child, "child", "pull child, parent there"),
                                   ("c", child, "child", "pull child+chain, empty")):
        oci = os.path.join(work, host, "oci")
        before = tree_bytes(oci) if os.path.isdir(oci) else 0
        dt, _ = osrun(host, "snapshot", "pull", ref, name, "--tls-verify=false")
        rows.append((label, dt, tree_bytes(oci) - before))
    cold, err = first_output("d", base)
    if "pulling it from" not in err:
        sys.exit(f"bench: the first run did not pull: {err}")
    warm, err = first_output("d", base)
    if "pulling" in err:
        sys.exit(f"bench: the second run pulled again: {err}")
    print(f"Snapshots through docker-registry on 127.0.0.1, {MIB} MiB guest RAM, TCG, one run")
    print("(dirtied's push and pull carry its own files: fresh, its parent, went first)")
    print(f"{'transfer':<28} {'seconds':>8} {'bytes':>11} {'MiB/s':>7}")
    for label, dt, n in rows:
        print(f"{label:<28} {dt:>8.1f} {gib(n):>11} {n / 2**20 / dt:>7.1f}")
    print(f"{'artifact':<28} {'files':>11} {'non-zero':>11} {'compressed':>11}")
    for name, ref in (("fresh", fresh), ("dirtied", base), ("child", child)):
        raw, chunks, comp = sizes(manifest(ref))
        print(f"{name:<28} {gib(raw):>11} {gib(chunks):>11} {gib(comp):>11}")
    print(f"child's push against its parent's (dirtied): {rows[2][2] / rows[1][2]:.1%} of the bytes")
    print(f"osrun -s REF 'echo hi' on an empty store, to its first output: {cold:.1f} s "
          f"(pull on first use included); once pulled: {warm:.1f} s")


try:
    main()
finally:
    cleanup()
