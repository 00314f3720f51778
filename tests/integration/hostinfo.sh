# Sourced by run.sh: osrun host-info as a scheduler reads it, against
# what the host and the store really hold (df, /proc/cpuinfo, QEMU's own
# --version, a pool and a session started here), and a snapshot made on
# another CPU model: listed as not runnable, refused by a run in the same
# words.

# host-info --json into FILE, with df's figures before and after in FILE.df.
hostinfo_json() {
	df -B1 --output=avail,size "$OSRUN_CACHE" | tail -n 1 >"$1.df"
	o host-info --json
	expect_rc 0
	df -B1 --output=avail "$OSRUN_CACHE" | tail -n 1 >>"$1.df"
	cp "$T/out" "$1"
}

# hostinfo_check FILE ACCEL [SNAPSHOT=RUNNABLE|WHY-FILE]...: the JSON in
# FILE against the host, with the accelerator ACCEL and the snapshots'
# verdicts (1, or the file of a run's stderr whose line after its
# warnings is osrun's refusal).
hostinfo_check() {
	python3 - "$@" <<'PY'
import json, os, re, subprocess, sys
f, accel, *verdicts = sys.argv[1:]
h = json.load(open(f))
def fail(msg):
    print(msg)
    sys.exit(1)
if h["version"] != 1: fail("version %r" % h["version"])
if h["accelerator"] != accel: fail("accelerator %r" % h["accelerator"])
if not h["accelerator_reason"]: fail("no reason for %s" % accel)
# The CPU model as a snapshot records it (accel_host_cpu).
info = {}
for line in open("/proc/cpuinfo"):
    if not line.strip(): break
    k, _, v = line.partition(":")
    info.setdefault(k.strip(), v.strip())
cpu = "%s %s/%s %s" % (info["vendor_id"], info["cpu family"], info["model"], info["model name"])
if h["cpu_model"] != cpu: fail("cpu_model %r, /proc/cpuinfo says %r" % (h["cpu_model"], cpu))
if not os.environ.get("OSRUN_QEMU"):
    line = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    if h["qemu"]["version_line"] != line or h["qemu"]["version"] != line.split()[3]:
        fail("qemu %r, --version says %r" % (h["qemu"], line))
st = h["store"]
if st["path"] != os.environ["OSRUN_CACHE"]: fail("store path %r" % st["path"])
# df just before and just after host-info: others write to this disk.
df = [int(x) for x in open(f + ".df").read().split() if x.isdigit()]
lo, hi = min(df[0], df[2]) - (64 << 20), max(df[0], df[2]) + (64 << 20)
if not lo <= st["free_bytes"] <= hi or st["total_bytes"] != df[1]:
    fail("free %d total %d, df says %r" % (st["free_bytes"], st["total_bytes"], df))
magic = subprocess.run(["stat", "-f", "-c", "%t", st["path"]], capture_output=True, text=True).stdout.strip()
names = {"ef53": "ext4", "58465342": "xfs", "9123683e": "btrfs", "1021994": "tmpfs", "794c7630": "overlay"}
if st["filesystem"] != names.get(magic, "another filesystem"):
    fail("filesystem %r, stat -f says type %s" % (st["filesystem"], magic))
if not isinstance(st["reflink"], bool) or (st["hole_bytes"] is not None and st["hole_bytes"] <= 0):
    fail("store %r" % st)
snaps = {s["name"]: s for s in h["snapshots"]}
labels = h["labels"]
for v in verdicts:
    name, _, want = v.partition("=")
    s = snaps.get(name) or fail("snapshot %s not listed: %r" % (name, sorted(snaps)))
    key = "osrun.io/snapshot." + name
    if want == "1":
        if s["runnable"] is not True or s["why_not"] is not None: fail("%s: %r" % (name, s))
        if labels.get(key) != "true": fail("no label %s: %r" % (key, labels))
    else:
        why = [l.strip() for l in open(want) if not l.startswith("osrun: warning:")][0]
        if s["runnable"] is not False or "osrun: " + s["why_not"] != why:
            fail("%s: why_not %r, the run said %r" % (name, s["why_not"], why))
        if key in labels: fail("label %s for a snapshot this host cannot run" % key)
for k, val in labels.items():
    prefix, _, seg = k.partition("/")
    ok = re.compile(r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)$")
    if prefix != "osrun.io" or not ok.match(seg) or not (val == "" or ok.match(val)):
        fail("label %s=%s is not Kubernetes label syntax" % (k, val))
if labels.get("osrun.io/kvm") != ("true" if accel == "kvm" else "false"): fail("osrun.io/kvm: %r" % labels)
if labels.get("osrun.io/accelerator") != accel: fail("osrun.io/accelerator: %r" % labels)
print(json.dumps({"pools": h["pools"], "sessions": [s["name"] for s in h["sessions"]]}))
PY
}

t_host_info() {
	pool_start -j 1
	o session start --name hi1
	expect_rc 0
	hostinfo_json "$T/hi.json"
	hostinfo_check "$T/hi.json" tcg provisioned=1 >"$T/hi.check" || err "$(cat "$T/hi.check")"
	grep -q '"pools": \[{"snapshot": "provisioned"}\]' "$T/hi.check" || err "pools: $(cat "$T/hi.check")"
	grep -q '"sessions": \["hi1"\]' "$T/hi.check" || err "sessions: $(cat "$T/hi.check")"
	o host-info
	expect_rc 0
	# Other tests leave snapshots in the shared store: "provisioned" is
	# on the "snapshot" line only when it sorts first.
	grep -Eq "^(snapshot)? +provisioned: linux, tcg, runnable$" "$T/out" || err "text: $(cat "$T/out")"
	grep -q "^pool  *provisioned$" "$T/out" || err "text, pool: $(cat "$T/out")"
	o host-info --labels
	expect_rc 0
	grep -qx "osrun.io/snapshot.provisioned=true" "$T/out" || err "--labels: $(cat "$T/out")"
	o session stop hi1
	expect_rc 0
	pool_stop
	o host-info --json
	python3 -c 'import json, sys; h = json.load(open(sys.argv[1])); sys.exit(1 if h["pools"] or h["sessions"] else 0)' "$T/out" ||
		err "a stopped pool or session still listed: $(cat "$T/out")"

	# A snapshot made under KVM on another CPU model (its meta.json
	# edited, as t_kvm_snapshot_other_cpu does): this TCG host cannot run
	# it, and says why as a run does.
	d=$OSRUN_CACHE/snapshots/othercpu
	mkdir -m 700 "$d"
	sed 's/"accel": *"tcg"/"accel":"kvm","cpu":"GenuineIntel 6\/999 Imaginary CPU"/' \
		"$OSRUN_CACHE/snapshots/provisioned/meta.json" >"$d/meta.json"
	# (Under TCG the run's KVM probe starts a QEMU of its own: no fake.)
	o -s othercpu 'echo never'
	expect_rc 125
	expect_err_has "snapshot 'othercpu' was saved under kvm and this host runs tcg"
	cp "$T/err" "$T/why-tcg"
	hostinfo_json "$T/hi.json"
	hostinfo_check "$T/hi.json" tcg provisioned=1 othercpu="$T/why-tcg" >"$T/hi.check" || err "$(cat "$T/hi.check")"
	# Under KVM (OSRUN_ACCEL says so; QEMU is never started) the CPU
	# model decides: refused by the run, not runnable in host-info.
	# Other tests count QEMU starts in the same file: start from none.
	rm -f "$T/qemu-starts"
	printf '#!/bin/sh\necho started >>"%s"\nexit 1\n' "$T/qemu-starts" >"$T/qemu-never"
	chmod +x "$T/qemu-never"
	OSRUN_ACCEL=kvm OSRUN_QEMU="$T/qemu-never" o -s othercpu 'echo never'
	expect_rc 125
	expect_err_has "was saved under KVM on a GenuineIntel 6/999 Imaginary CPU; this host's CPU is a "
	cp "$T/err" "$T/why-kvm"
	OSRUN_ACCEL=kvm hostinfo_json "$T/hi.json"
	OSRUN_ACCEL=kvm hostinfo_check "$T/hi.json" kvm othercpu="$T/why-kvm" >"$T/hi.check" ||
		err "$(cat "$T/hi.check")"
	[ ! -e "$T/qemu-starts" ] || err "QEMU was started"
	rm -rf "$d"
	o host-info --bogus
	expect_rc 125
	expect_err_has "unknown option '--bogus'"
}

ALL_HOSTINFO="t_host_info"
