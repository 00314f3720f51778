#!/usr/bin/env python3
"""Restore benchmark for osrun (issue 3). Prints one table; every figure is
measured in this run, on this machine.

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/restore.py [--quick]

Compares, for a trivial command ('echo hi') at 256 MiB and 2 GiB of guest
RAM with most RAM dirtied before saving:
  clone    osrun: private mapping of the snapshot's memory file + device state
  loadvm   QEMU's internal qcow2 snapshot (-loadvm), what lg/osrun does
  boot     a cold boot of the same guest to a ready agent
and the floor: QEMU start to the saved state loaded, timed by this bench
over QMP in its bare clone (not osrun's own -v figure: the code under test
does not grade itself), and the same run through `osrun pool`, each run
checked to have been served by a warm clone (bench/poolwait.py). Then
1/2/4/8 clones at once from one snapshot, with the memory each clone costs,
and the time to save a snapshot with -n.

  --quick      3 repetitions instead of 5, 2 cold boots instead of 3
  --small      256 MiB only (no 2 GiB part, no growth line)
"""
import json, os, re, shlex, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

from poolwait import Pool, PoolError, time_served
from qga import Chan, agent_run, agent_sync
from workdir import remove

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
GUEST = os.path.abspath(os.environ.get("OSRUN_GUEST_DIR", "build/guest"))
QUICK = "--quick" in sys.argv
REPS = 3 if QUICK else 5
SIZES = [256] if "--small" in sys.argv else [256, 2048]

work = tempfile.mkdtemp(prefix="osrun-bench.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg",
           TMPDIR=os.path.join(work, "tmp"))
os.makedirs(env["TMPDIR"])
procs = []


def cleanup(*_):
    remove(work, procs)


signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(143)))


def osrun(*args, check=True):
    t0 = time.monotonic()
    r = subprocess.run([OSRUN, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    dt = time.monotonic() - t0
    if check and r.returncode != 0:
        sys.exit(f"bench: osrun {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return dt, r


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


keep = []


def qemu(mem, disk, d, extra, share=None):
    # osrun's netdev (runner/lib/smb.c): the guest's 10.0.2.4:445 forwarded
    # to a socket pair. Nothing serves it here, but a saved state restores
    # only into the same netdev (slirp saves its guestfwd entries).
    fds = ()
    net = "user,id=net0"
    if share:
        ours, theirs = socket.socketpair()
        keep.extend([ours, theirs])
        fds = (theirs.fileno(),)
        net += f",guestfwd=tcp:10.0.2.4:445-unix:fd={theirs.fileno()}"
    args = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none", "-machine", "q35",
            "-accel", "tcg", "-smp", "1", "-m", str(mem), "-kernel", f"{GUEST}/vmlinuz", "-initrd",
            f"{GUEST}/initrd.img", "-append", "console=ttyS0 quiet", "-serial", "null",
            "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
            "-chardev", f"socket,id=qga0,path={d}/qga.sock,server=on,wait=off",
            "-device", "virtio-serial-pci,id=vser0",
            "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
            "-netdev", net, "-device", "virtio-net-pci,netdev=net0",
            "-drive", f"file={disk},if=none,id=disk0,format=qcow2", "-device", "virtio-blk-pci,drive=disk0", *extra]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(env, TMPDIR=d), pass_fds=fds)
    procs.append(p)
    return p


def dirty_mib(mem):
    return int(mem * 0.55)


def dirty_cmd(mem):
    # Non-zero pages: zero pages would be skipped by the migration stream
    # and make -loadvm look faster than it is. Prints the size written, which
    # the caller checks.
    # A tmpfs of its own: the root file system stops at half the RAM.
    return (f"mkdir -p /mnt/fill && mount -t tmpfs -o size=95% fill /mnt/fill && "
            f"yes 0123456789abcdef | head -c {dirty_mib(mem) * 1048576} > /mnt/fill/f; wc -c < /mnt/fill/f")


def check_dirtied(mem, out):
    got = int(out.strip() or 0)
    if got != dirty_mib(mem) * 1048576:
        raise SystemExit(f"bench: dirtying {mem} MiB guest wrote {got} bytes")


def fresh_sockets(d):
    for f in ("qmp.sock", "qga.sock"):
        if os.path.exists(f"{d}/{f}"):
            os.unlink(f"{d}/{f}")


def echo_and_stop(p, d, t0):
    """Seconds from t0 until the guest's 'echo hi' came back; stops QEMU."""
    g = agent_sync(f"{d}/qga.sock")
    out = agent_run(g, "echo hi")
    dt = time.monotonic() - t0
    p.kill()
    p.wait()
    if out != b"hi\n":
        raise SystemExit(f"bench: 'echo hi' in the guest printed {out!r}")
    return dt


def loadvm_image(mem):
    """A standalone qcow2 with an internal snapshot of the dirtied guest."""
    d = os.path.join(work, f"lv{mem}")
    os.makedirs(d)
    disk = os.path.join(d, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", f"{GUEST}/disk.qcow2", disk],
                   check=True)
    p = qemu(mem, disk, d, [])
    g = agent_sync(f"{d}/qga.sock")
    check_dirtied(mem, agent_run(g, dirty_cmd(mem)).decode())
    q = Chan(f"{d}/qmp.sock")
    q.call("qmp_capabilities")
    q.call("stop")
    r = q.call("human-monitor-command", {"command-line": "savevm bench"})
    if r.get("return"):
        raise SystemExit(f"bench: savevm: {r}")
    q.call("quit")
    p.wait()
    out = subprocess.run(["qemu-img", "info", "--output=json", disk], capture_output=True, text=True).stdout
    snaps = json.loads(out).get("snapshots", [])
    vm_size = snaps[0]["vm-state-size"] / 1048576 if snaps else 0
    return d, disk, vm_size


def time_loadvm(d, disk, mem):
    fresh_sockets(d)
    t0 = time.monotonic()
    # In place, as lg/osrun does: -snapshot would hide the internal snapshot.
    p = qemu(mem, disk, d, ["-loadvm", "bench"])
    return echo_and_stop(p, d, t0)


def time_bare_clone(snapdir, mem):
    """The clone restore driven like the -loadvm baseline (agent exec, no
    SMB share), so the two mechanisms compare like for like. Returns that
    and the floor: QEMU's start to the state loaded (migration completed),
    as this bench sees it over QMP."""
    d = os.path.join(work, f"bare{mem}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    disk = os.path.join(d, "disk.qcow2")
    t0 = time.monotonic()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", f"{snapdir}/disk.qcow2", disk],
                   check=True)
    # The devices in osrun's order (repeated -machine options merge).
    started = time.monotonic()
    p = qemu(mem, disk, d, ["-object", f"memory-backend-file,id=ram0,size={mem}M,mem-path={snapdir}/memory,share=off",
                            "-machine", "memory-backend=ram0", "-device", "vmgenid", "-incoming", "defer"],
             share=os.path.join(d, "share"))
    q = Chan(f"{d}/qmp.sock")
    q.call("qmp_capabilities")
    q.call("migrate-set-capabilities", {"capabilities": [{"capability": "x-ignore-shared", "state": True}]})
    q.call("migrate-incoming", {"uri": "exec:cat " + shlex.quote(f"{snapdir}/state")})
    while (status := q.call("query-migrate")["return"].get("status")) not in ("completed", "failed"):
        time.sleep(0.002)
    floor = time.monotonic() - started
    if status != "completed":
        raise SystemExit(f"bench: bare clone at {mem} MiB: the state did not load ({status})")
    q.call("cont")
    return echo_and_stop(p, d, t0), floor


def time_boot(mem):
    d = os.path.join(work, f"boot{mem}")
    os.makedirs(d, exist_ok=True)
    fresh_sockets(d)
    t0 = time.monotonic()
    p = qemu(mem, f"{GUEST}/disk.qcow2", d, ["-snapshot"])
    return echo_and_stop(p, d, t0)


def time_clone(snap):
    total = []
    for _ in range(REPS):
        dt, r = osrun("-s", snap, "echo hi")
        if r.stdout != "hi\n":
            raise SystemExit(f"bench: osrun -s {snap} 'echo hi' printed {r.stdout!r}")
        total.append(dt)
    return statistics.median(total)


def time_pool(snap):
    """The same run served by `osrun pool`: a clone restored, its clock set
    and share mounted ahead of time. Each rep waits for a fresh clone and
    must have been served by one (bench/poolwait.py)."""
    pool = Pool(OSRUN, env, os.path.join(work, f"pool-{snap}.err"), snap=snap)
    procs.append(pool.proc)

    def run():
        dt, r = osrun("-v", "-s", snap, "echo hi", check=False)
        return dt, r.returncode, r.stdout, r.stderr

    try:
        return time_served(pool, REPS, run, "hi\n")
    except PoolError as e:
        raise SystemExit(f"bench: pool at '{snap}': {e}")
    finally:
        pool.stop()


def smaps(pid):
    """Private_Dirty of the whole QEMU process, of its guest-RAM mapping (the
    pages a clone copied on write), and its PSS, in MiB."""
    total = ram = pss = 0
    in_ram = False
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                fields = line.split()
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    in_ram = line.rstrip().endswith("/memory")
                elif fields[0] == "Private_Dirty:":
                    total += int(fields[1])
                    if in_ram:
                        ram += int(fields[1])
                elif fields[0] == "Pss:":
                    pss += int(fields[1])
    except OSError:
        pass
    return total / 1024, ram / 1024, pss / 1024


def parallel(snap, n, mem):
    t0 = time.monotonic()
    ps = [subprocess.Popen([OSRUN, "-s", snap, "sleep 4; echo hi"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
    procs.extend(ps)
    # While they sleep: what each QEMU costs of its own.
    priv, ram, pss = [], [], []
    deadline = time.monotonic() + 60
    pids = []
    while time.monotonic() < deadline:
        out = subprocess.run(["pgrep", "-f", f"qemu-system.*{work}/tmp/"], capture_output=True, text=True).stdout
        pids = out.split()
        if len(pids) == n:
            break
        time.sleep(0.05)
    time.sleep(2.5)
    for pid in pids:
        t, r, p_ = smaps(pid)
        priv.append(t)
        ram.append(r)
        pss.append(p_)
    outs = [p.communicate() for p in ps]
    dt = time.monotonic() - t0
    ok = all(p.returncode == 0 and o == b"hi\n" for p, (o, e) in zip(ps, outs))
    if not ok:
        raise SystemExit(f"bench: parallel run failed: {[e for o, e in outs]}")
    mean = lambda v: statistics.mean(v) if v else 0.0
    return dt, mean(priv), mean(ram), mean(pss)


def main():
    rows, clone, floor = [], {}, {}
    for mem in SIZES:
        log(f"provisioning {mem} MiB and dirtying {dirty_mib(mem)} MiB")
        osrun("provision", "--memory", str(mem), "--name", f"p{mem}")
        _, r = osrun("-s", f"p{mem}", "-n", f"d{mem}", dirty_cmd(mem))
        check_dirtied(mem, r.stdout)
        log(f"clone restores at {mem} MiB")
        clone[mem] = time_clone(f"d{mem}")
        pooled = time_pool(f"d{mem}")
        snapdir = os.path.join(env["OSRUN_CACHE"], "snapshots", f"d{mem}")
        bares = [time_bare_clone(snapdir, mem) for _ in range(REPS)]
        bare = statistics.median(b for b, _ in bares)
        floor[mem] = statistics.median(f for _, f in bares)
        log(f"-loadvm at {mem} MiB")
        d, disk, vm_size = loadvm_image(mem)
        lv = statistics.median([time_loadvm(d, disk, mem) for _ in range(REPS)])
        shutil.rmtree(d, ignore_errors=True)
        log(f"cold boot at {mem} MiB")
        boot = statistics.median([time_boot(mem) for _ in range(2 if QUICK else 3)])
        rows.append((mem, clone[mem], pooled, bare, floor[mem], lv, vm_size, boot))

    print("\nrestore-to-output for 'echo hi' (median of %d), TCG, %d cores" % (REPS, os.cpu_count()))
    print("  osrun: the whole osrun run (overlay, restore, clock, SMB mount, command); pool: the same")
    print("  command given to `osrun pool`'s warm clone (each checked served by one); bare: the restore")
    print("  driven like the loadvm baseline (agent exec, no share); floor: QEMU start to state loaded,")
    print("  timed by this bench over QMP in the bare clone; pool/bare: a warm clone against a restore")
    print(f"{'guest RAM':>10} {'osrun':>7} {'pool':>7} {'bare':>7} {'floor':>7} {'loadvm':>7} {'(vmstate)':>10}"
          f" {'boot':>6} {'loadvm/bare':>12} {'loadvm/osrun':>13} {'loadvm/pool':>12} {'osrun/floor':>12}"
          f" {'pool/bare':>10}")
    for mem, c, pl, b, f, lv, vs, bt in rows:
        print(f"{mem:>6} MiB {c:>6.3f}s {pl:>6.3f}s {b:>6.3f}s {f:>6.3f}s {lv:>6.3f}s {vs:>6.0f} MiB {bt:>5.1f}s"
              f" {lv / b:>11.1f}x {lv / c:>12.1f}x {lv / pl:>11.1f}x {c / f:>11.1f}x {pl / b:>9.2f}x")
    if 2048 in clone:
        growth = clone[2048] / clone[256] - 1
        print(f"osrun restore-to-output growth 256 MiB -> 2 GiB: {growth * 100:+.0f}%")

    print("\nclones started at once from one 256 MiB snapshot ('sleep 4; echo hi'), per clone:")
    print(f"{'jobs':>5} {'wall':>7} {'guest RAM copied':>17} {'(of RAM)':>9} {'QEMU private':>13} {'PSS':>8}")
    for n in (1, 2, 4, 8):
        dt, priv, ram, pss = parallel("d256", n, 256)
        print(f"{n:>5} {dt:>6.2f}s {ram:>13.0f} MiB {ram / 256 * 100:>8.0f}% {priv:>9.0f} MiB {pss:>4.0f} MiB")

    print("\nsaving a snapshot with -n ('true')")
    for mem in SIZES:
        dt, r = osrun("-v", "-s", f"d{mem}", "-n", f"s{mem}", "true")
        m = re.search(r"saved snapshot '[^']*' in ([0-9.]+) s", r.stderr)
        c = re.search(r"copied guest memory for the new snapshot in ([0-9.]+) s", r.stderr)
        print(f"{mem:>6} MiB  memory file copied in {float(c.group(1)):.2f}s, state saved in {float(m.group(1)):.2f}s,"
              f" whole run {dt:.2f}s")


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
