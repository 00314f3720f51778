#!/usr/bin/env python3
"""The Debian guest and real test suites (issue 35). Every figure is
measured in this run, on this machine, under TCG.

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest OSRUN_DEBIAN_DIR=build/debian \\
      python3 bench/real.py [--quick] [--guests-only | --suites-only]      (make bench-real)

1. The Debian guest (snapshot `debian`, 1024 MiB) against the test guest
   provisioned at the same RAM: an 'echo hi' run (restore to output), the
   same run served by `osrun pool` (each checked served by a warm clone),
   `session exec` in a running session, and a run that saves a layer with
   -n. Medians; the last column is Debian / test guest.
2. Each real suite of tests/integration/real.sh (jansson with CMake in the
   deb-cmake layer, zlib in `debian`), build and test, timed:
     host     on this machine, directly
     osrun    `osrun -s SNAP --copy-in SRC:/src 'build && test'`
     session  session start, cp in, exec build, exec test, stop
     cold     QEMU started by the bench boots the same snapshot's disk
              (a throwaway overlay) cold; the sources go in through the
              agent (guest-file-write), the build and the suite run
              through guest-exec, polled every 0.1 s: what a job that
              booted its VM would take, from QEMU's start to the suite's end
   and the ratios against the host. Each run's suite must report the
   host's results (tests/integration/real-counts.py), or the bench fails.

  --quick        3 repetitions instead of 5 in part 1
  --guests-only  part 1 only
  --suites-only  part 2 only
"""
import io, json, os, signal, statistics, subprocess, sys, tarfile, tempfile, time

from poolwait import Pool, PoolError, time_served
from qga import agent_put, agent_run, agent_sync
from workdir import remove

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
GUEST = os.path.abspath(os.environ.get("OSRUN_GUEST_DIR", "build/guest"))
DEBIAN = os.path.abspath(os.environ.get("OSRUN_DEBIAN_DIR", "build/debian"))
REAL_SH = os.path.join(TOP, "tests", "integration", "real.sh")
COUNTS = os.path.join(TOP, "tests", "integration", "real-counts.py")
REPS = 3 if "--quick" in sys.argv else 5
MEM = 1024

work = tempfile.mkdtemp(prefix="osrun-bench-real.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg", TMPDIR=os.path.join(work, "tmp"),
           OSRUN=OSRUN, OSRUN_DEBIAN_DIR=DEBIAN, OSRUN_GUEST_DIR=GUEST,
           OSRUN_REAL_SRC=os.environ.get("OSRUN_REAL_SRC", os.path.join(TOP, "build", "real-src")), T=work)
os.makedirs(env["TMPDIR"])
procs = []


def cleanup(*_):
    subprocess.run([OSRUN, "session", "stop", "bench-s"], env=env, capture_output=True)
    remove(work, procs)


signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def run(args, what, **kw):
    t0 = time.monotonic()
    r = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        sys.exit(f"bench: {what} failed ({r.returncode}): {(r.stdout + r.stderr).strip()[-800:]}")
    return dt, r


def osrun(*args):
    return run([OSRUN, *args], "osrun " + " ".join(args))


def real_sh(script, *args):
    """real.sh's own functions (one list of projects for the tests and this
    bench); err() fails the bench."""
    return run(["sh", "-c", f'. "$0"; err() {{ echo "$*" >&2; exit 1; }}; {script}', REAL_SH, *args],
               f"real.sh: {script}")[1].stdout


def project(name):
    keys = ["snap", "kind", "build", "check"]
    out = real_sh('real_project "$1" && printf "%s\\0" "$snap" "$kind" "$build" "$check"', name)
    return dict(zip(keys, out.split("\0")))


def same_as_host(p, name, log_path):
    r = subprocess.run([sys.executable, COUNTS, p["kind"], log_path], capture_output=True, text=True)
    if r.returncode != 0 or r.stdout != p["host_counts"]:
        sys.exit(f"bench: {name}: the suite's results differ from the host's: {r.stdout[-300:]} {r.stderr[-300:]}")


# --- part 1: the Debian guest against the test guest -----------------------
def median_runs(f):
    return statistics.median(f() for _ in range(REPS))


def echo(snap):
    def once():
        dt, r = osrun("-s", snap, "echo hi")
        if r.stdout != "hi\n":
            sys.exit(f"bench: osrun -s {snap} 'echo hi' printed {r.stdout!r}")
        return dt
    return once


def pooled(snap):
    pool = Pool(OSRUN, env, os.path.join(work, f"pool-{snap}.err"), snap=snap)
    procs.append(pool.proc)

    def one():
        t0 = time.monotonic()
        r = subprocess.run([OSRUN, "-v", "-s", snap, "echo hi"], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        return time.monotonic() - t0, r.returncode, r.stdout, r.stderr

    try:
        return time_served(pool, REPS, one, "hi\n")
    except PoolError as e:
        sys.exit(f"bench: pool at '{snap}': {e}")
    finally:
        pool.stop()


def session_exec(snap):
    osrun("session", "start", "-s", snap, "--name", "bench-s")
    try:
        return median_runs(lambda: osrun("session", "exec", "bench-s", "echo hi")[0])
    finally:
        osrun("session", "stop", "bench-s")


def layer(snap):
    n = [0]

    def once():
        n[0] += 1
        dt, _ = osrun("-s", snap, "-n", f"{snap}-l{n[0]}", "true")
        osrun("snapshot", "rm", f"{snap}-l{n[0]}")
        return dt
    return once


def part_guests():
    log(f"provisioning the test guest at {MEM} MiB and the Debian guest")
    osrun("provision", "--memory", str(MEM), "--name", "test")
    osrun("provision", "debian")
    rows = []
    for what, f in (("restore to output", lambda s: median_runs(echo(s))), ("pool run", pooled),
                    ("session exec", session_exec), ("-n (save a layer)", lambda s: median_runs(layer(s)))):
        log(what)
        t, d = f("test"), f("debian")
        rows.append((what, t, d))
    print(f"\nthe Debian guest against the test guest, both {MEM} MiB, TCG, median of {REPS}")
    print(f"{'':<20} {'test guest':>11} {'debian':>9} {'debian/test':>12}")
    for what, t, d in rows:
        print(f"{what:<20} {t:>10.3f}s {d:>8.3f}s {d / t:>11.2f}x")


# --- part 2: real suites ----------------------------------------------------
def boot_debian(snap, then=None):
    """QEMU boots SNAP's disk (a throwaway overlay: the snapshot is not
    changed) as provision's last boot does, to a ready agent, then runs
    then(agent) if given; seconds from QEMU's start."""
    d = os.path.join(work, "boot")
    os.makedirs(d, exist_ok=True)
    disk = json.loads(osrun("snapshot", "inspect", snap, "--json")[1].stdout)["files"]["disk.qcow2"]
    kver = open(os.path.join(DEBIAN, "kernel-version")).read().strip()
    args = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none", "-machine", "q35",
            "-accel", "tcg", "-smp", "1", "-m", str(MEM), "-kernel", f"{DEBIAN}/vmlinuz", "-initrd",
            f"{DEBIAN}/initrd.img", "-append", "console=ttyS0 quiet root=/dev/vda rw", "-serial", "null",
            "-chardev", f"socket,id=qga0,path={d}/qga.sock,server=on,wait=off",
            "-device", "virtio-serial-pci,id=vser0",
            "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
            "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
            "-drive", f"file={disk},if=none,id=disk0,format=qcow2,snapshot=on",
            "-device", "virtio-blk-pci,drive=disk0"]
    t0 = time.monotonic()
    qerr = open(f"{d}/qemu.err", "w+")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=qerr,
                         env=dict(env, TMPDIR=d))
    procs.append(p)
    try:
        try:
            g = agent_sync(f"{d}/qga.sock", timeout=600)
        except (SystemExit, OSError, EOFError) as e:
            qerr.seek(0)
            sys.exit(f"bench: booting {snap}'s disk: {e}; QEMU {'exited' if p.poll() is not None else 'ran'}: "
                     f"{qerr.read()[-600:]}")
        if agent_run(g, "uname -r").decode().strip() != kver:
            sys.exit("bench: the cold-booted guest is not the Debian guest's kernel")
        if then:
            then(g)
        return time.monotonic() - t0
    finally:
        p.kill()
        p.wait()
        qerr.close()


def suite(name):
    p = project(name)
    d = os.path.join(work, name)
    real_sh('real_project "$1" && real_unpack "$2"', name, os.path.join(d, "host"))
    log(f"{name}: on the host")
    th = run(["sh", "-c", f"cd {d}/host && {p['build']} && ({p['check']}) >suite.log 2>&1"], f"{name} on the host")[0]
    r = subprocess.run([sys.executable, COUNTS, p["kind"], f"{d}/host/suite.log"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench: {name} on the host: {r.stderr}")
    p["host_counts"] = r.stdout
    total = r.stdout.splitlines()[-1]

    real_sh('real_project "$1" && real_unpack "$2"', name, os.path.join(d, "src"))
    log(f"{name}: osrun -s {p['snap']}")
    os.makedirs(f"{d}/plain")
    to, r = osrun("-s", p["snap"], "-t", "3600", "--copy-in", f"{d}/src:/src", "--copy-out", f"/src/suite.log:{d}/plain",
                  f"cd /src && {p['build']} && ({p['check']}) >suite.log 2>&1")
    same_as_host(p, f"{name} through osrun", f"{d}/plain/suite.log")

    log(f"{name}: a session")
    os.makedirs(f"{d}/session")
    t0 = time.monotonic()
    osrun("session", "start", "-s", p["snap"], "--name", "bench-s")
    try:
        osrun("session", "cp", "bench-s", f"{d}/src", "guest:/src")
        osrun("session", "exec", "bench-s", "-t", "3600", f"cd /src && {p['build']}")
        osrun("session", "exec", "bench-s", "-t", "3600", f"cd /src && ({p['check']}) >suite.log 2>&1")
        osrun("session", "cp", "bench-s", "guest:/src/suite.log", f"{d}/session")
    finally:
        osrun("session", "stop", "bench-s")
    ts = time.monotonic() - t0
    same_as_host(p, f"{name} in a session", f"{d}/session/suite.log")

    log(f"{name}: {p['snap']}'s disk booted cold")
    os.makedirs(f"{d}/cold")
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as t:
        t.add(f"{d}/src", arcname="src")

    def cold(g):
        agent_put(g, "/root/src.tgz", tgz.getvalue())
        agent_run(g, f"tar -xzf /root/src.tgz -C / && cd /src && ({p['build']}) >build.log 2>&1 && "
                  f"({p['check']}) >suite.log 2>&1", poll=0.1, check=True, timeout=3600)
        with open(f"{d}/cold/suite.log", "wb") as f:
            f.write(agent_run(g, "cat /src/suite.log", check=True))
    tc = boot_debian(p["snap"], cold)
    same_as_host(p, f"{name} booted cold", f"{d}/cold/suite.log")
    return name, total, th, to, ts, tc


def part_suites():
    log("the deb-cmake layer (CMake from deb.debian.org)")
    real_sh("real_layer")
    log("a cold boot of the Debian guest")
    boot = statistics.median(boot_debian("debian") for _ in range(2))
    rows = [suite("jansson"), suite("zlib")]
    print(f"\nreal suites, build and test (wall time), TCG; cold boot of the Debian guest to its agent: {boot:.1f}s")
    print(f"{'suite':<9} {'tests':<26} {'host':>7} {'osrun':>8} {'session':>8} {'cold':>8}"
          f" {'osrun/host':>11} {'session/host':>13} {'cold/osrun':>11}")
    for name, total, th, to, ts, cold in rows:
        print(f"{name:<9} {total:<26} {th:>6.1f}s {to:>7.1f}s {ts:>7.1f}s {cold:>7.1f}s"
              f" {to / th:>10.1f}x {ts / th:>12.1f}x {cold / to:>10.2f}x")


def main():
    if not os.path.exists(os.path.join(DEBIAN, "disk.qcow2")):
        sys.exit(f"bench: no Debian guest in {DEBIAN} (make debian-guest)")
    if "--suites-only" not in sys.argv:
        part_guests()
    else:
        osrun("provision", "debian")
    if "--guests-only" not in sys.argv:
        part_suites()


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
