#!/usr/bin/env python3
"""Restore benchmark for osrun (issue 3). Prints one table; every figure is
measured in this run, on this machine.

  OSRUN=build/osrun OSRUN_GUEST_DIR=build/guest python3 bench/restore.py [--quick]

Compares, for a trivial command ('echo hi') at 256 MiB and 2 GiB of guest
RAM with most RAM dirtied before saving:
  clone    osrun: private mapping of the snapshot's memory file + device state
  loadvm   QEMU's internal qcow2 snapshot (-loadvm), what lg/osrun does
  boot     a cold boot of the same guest to a ready agent
and the floor: QEMU start to QMP ready plus the state load (osrun -v says
when the restore is done). Then 1/2/4/8 clones at once from one snapshot,
with the memory each clone costs, and the time to save a snapshot with -n.
"""
import base64, json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

OSRUN = os.path.abspath(os.environ.get("OSRUN", "build/osrun"))
GUEST = os.path.abspath(os.environ.get("OSRUN_GUEST_DIR", "build/guest"))
QUICK = "--quick" in sys.argv
REPS = 3 if QUICK else 5
SIZES = [256, 2048]

work = tempfile.mkdtemp(prefix="osrun-bench.")
env = dict(os.environ, OSRUN_CACHE=os.path.join(work, "cache"), OSRUN_ACCEL="tcg",
           TMPDIR=os.path.join(work, "tmp"))
os.makedirs(env["TMPDIR"])
procs = []


def cleanup(*_):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    subprocess.run(["pkill", "-KILL", "-f", work + "/"], stderr=subprocess.DEVNULL)
    shutil.rmtree(work, ignore_errors=True)


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


# --- a minimal QMP / agent client for the baselines ------------------------
class Chan:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.buf = b""
        for _ in range(500):
            try:
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.01)

    def send(self, cmd, args=None, raw=b""):
        m = {"execute": cmd}
        if args:
            m["arguments"] = args
        self.s.sendall(raw + json.dumps(m).encode() + b"\n")

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def recv(self):
        while True:
            line = self.line().lstrip(b"\xff")
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if "event" not in m and "QMP" not in m:
                return m

    def call(self, cmd, args=None):
        self.send(cmd, args)
        return self.recv()


def agent_sync(path, timeout=120):
    """0xFF + guest-sync-delimited with a new id per try; only the reply to
    the latest try counts (earlier tries may be answered late)."""
    g = Chan(path)
    deadline = time.monotonic() + timeout
    attempt = 0
    while time.monotonic() < deadline:
        attempt += 1
        g.s.settimeout(1)
        g.send("guest-sync-delimited", {"id": 1000 + attempt}, raw=b"\xff")
        try:
            while True:
                if g.recv().get("return") == 1000 + attempt:
                    g.s.settimeout(300)
                    return g
        except socket.timeout:
            continue
    raise SystemExit("bench: agent never answered")


def agent_run(g, cmd):
    pid = g.call("guest-exec", {"path": "/bin/sh", "arg": ["-c", cmd], "capture-output": True})["return"]["pid"]
    while True:
        st = g.call("guest-exec-status", {"pid": pid})["return"]
        if st["exited"]:
            return base64.b64decode(st.get("out-data", ""))
        time.sleep(0.005)


def qemu(mem, disk, d, extra):
    args = ["qemu-system-x86_64", "-nodefaults", "-no-user-config", "-display", "none", "-machine", "q35",
            "-accel", "tcg", "-smp", "1", "-m", str(mem), "-kernel", f"{GUEST}/vmlinuz", "-initrd",
            f"{GUEST}/initrd.img", "-append", "console=ttyS0 quiet", "-serial", "null",
            "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off",
            "-chardev", f"socket,id=qga0,path={d}/qga.sock,server=on,wait=off",
            "-device", "virtio-serial-pci,id=vser0",
            "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0",
            "-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0",
            "-drive", f"file={disk},if=none,id=disk0,format=qcow2", "-device", "virtio-blk-pci,drive=disk0", *extra]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(env, TMPDIR=d))
    procs.append(p)
    return p


def dirty_cmd(mem):
    # Non-zero pages: zero pages would be skipped by the migration stream
    # and make -loadvm look faster than it is.
    return f"yes 0123456789abcdef | head -c {int(mem * 0.6)}M > /tmp/fill; sync"


def loadvm_image(mem):
    """A standalone qcow2 with an internal snapshot of the dirtied guest."""
    d = os.path.join(work, f"lv{mem}")
    os.makedirs(d)
    disk = os.path.join(d, "disk.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", f"{GUEST}/disk.qcow2", disk],
                   check=True)
    p = qemu(mem, disk, d, [])
    g = agent_sync(f"{d}/qga.sock")
    agent_run(g, dirty_cmd(mem))
    q = Chan(f"{d}/qmp.sock")
    q.call("qmp_capabilities")
    q.call("stop")
    r = q.call("human-monitor-command", {"command-line": "savevm bench"})
    if r.get("return"):
        raise SystemExit(f"bench: savevm: {r}")
    q.call("quit")
    p.wait()
    return d, disk


def time_loadvm(d, disk, mem):
    for f in ("qmp.sock", "qga.sock"):
        if os.path.exists(f"{d}/{f}"):
            os.unlink(f"{d}/{f}")
    t0 = time.monotonic()
    # In place, as lg/osrun does: -snapshot would hide the internal snapshot.
    p = qemu(mem, disk, d, ["-loadvm", "bench"])
    g = agent_sync(f"{d}/qga.sock")
    out = agent_run(g, "echo hi")
    dt = time.monotonic() - t0
    p.kill()
    p.wait()
    assert out == b"hi\n", out
    return dt


def time_boot(mem):
    d = os.path.join(work, f"boot{mem}")
    os.makedirs(d, exist_ok=True)
    for f in ("qmp.sock", "qga.sock"):
        if os.path.exists(f"{d}/{f}"):
            os.unlink(f"{d}/{f}")
    t0 = time.monotonic()
    p = qemu(mem, f"{GUEST}/disk.qcow2", d, ["-snapshot"])
    g = agent_sync(f"{d}/qga.sock")
    out = agent_run(g, "echo hi")
    dt = time.monotonic() - t0
    p.kill()
    p.wait()
    assert out == b"hi\n", out
    return dt


def time_clone(snap):
    total, restored = [], []
    for _ in range(REPS):
        dt, r = osrun("-v", "-s", snap, "echo hi")
        assert r.stdout == "hi\n", r.stdout
        m = re.search(r"restored '[^']*' in ([0-9.]+) s", r.stderr)
        total.append(dt)
        restored.append(float(m.group(1)))
    return statistics.median(total), statistics.median(restored)


def smaps(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    vals[k] = int(v.split()[0])
    except OSError:
        pass
    return vals


def parallel(snap, n, mem):
    t0 = time.monotonic()
    ps = [subprocess.Popen([OSRUN, "-s", snap, "sleep 4; echo hi"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(n)]
    procs.extend(ps)
    # While they sleep: what each QEMU costs of its own.
    priv, pss = [], []
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
        s = smaps(pid)
        priv.append(s.get("Private_Dirty", 0) / 1024)
        pss.append(s.get("Pss", 0) / 1024)
    outs = [p.communicate() for p in ps]
    dt = time.monotonic() - t0
    ok = all(p.returncode == 0 and o == b"hi\n" for p, (o, e) in zip(ps, outs))
    if not ok:
        raise SystemExit(f"bench: parallel run failed: {[e for o, e in outs]}")
    return dt, statistics.mean(priv) if priv else 0.0, statistics.mean(pss) if pss else 0.0


def main():
    rows, clone, floor, loadvm = [], {}, {}, {}
    for mem in SIZES:
        log(f"provisioning {mem} MiB and dirtying {int(mem * 0.6)} MiB")
        osrun("provision", "--memory", str(mem), "--name", f"p{mem}")
        osrun("-s", f"p{mem}", "-n", f"d{mem}", dirty_cmd(mem))
        log(f"clone restores at {mem} MiB")
        clone[mem], floor[mem] = time_clone(f"d{mem}")
        log(f"-loadvm at {mem} MiB")
        d, disk = loadvm_image(mem)
        loadvm[mem] = statistics.median([time_loadvm(d, disk, mem) for _ in range(REPS)])
        shutil.rmtree(d, ignore_errors=True)
        log(f"cold boot at {mem} MiB")
        boot = statistics.median([time_boot(mem) for _ in range(2 if QUICK else 3)])
        rows.append((mem, clone[mem], floor[mem], loadvm[mem], boot))

    print("\nrestore-to-output for 'echo hi' (median of %d), TCG, %d cores" % (REPS, os.cpu_count()))
    print(f"{'guest RAM':>10} {'clone':>8} {'floor':>8} {'loadvm':>8} {'boot':>8} {'loadvm/clone':>13} {'clone/floor':>12}")
    for mem, c, f, lv, b in rows:
        print(f"{mem:>7} MiB {c:>7.3f}s {f:>7.3f}s {lv:>7.3f}s {b:>7.2f}s {lv / c:>12.1f}x {c / f:>11.1f}x")
    growth = clone[2048] / clone[256] - 1
    print(f"clone latency growth 256 MiB -> 2 GiB: {growth * 100:+.0f}%")

    print("\nclones started at once from one 256 MiB snapshot ('sleep 4; echo hi')")
    print(f"{'jobs':>5} {'wall':>8} {'private dirty/clone':>20} {'PSS/clone':>10} {'of guest RAM':>13}")
    for n in (1, 2, 4, 8):
        dt, priv, pss = parallel("d256", n, 256)
        print(f"{n:>5} {dt:>7.2f}s {priv:>16.0f} MiB {pss:>6.0f} MiB {priv / 256 * 100:>12.0f}%")

    print("\nsaving a snapshot with -n ('true')")
    for mem in SIZES:
        dt, r = osrun("-v", "-s", f"d{mem}", "-n", f"s{mem}", "true")
        m = re.search(r"saved snapshot '[^']*' in ([0-9.]+) s", r.stderr)
        c = re.search(r"copied guest memory for the new snapshot in ([0-9.]+) s", r.stderr)
        print(f"{mem:>7} MiB  state saved in {float(m.group(1)):.3f}s, memory file copied in {float(c.group(1)):.3f}s, whole run {dt:.2f}s")


try:
    main()
finally:
    cleanup()
