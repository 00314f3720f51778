# Sourced by run.sh: the Debian guest (issue 35 item 1, docs/debian-guest.md),
# bookworm with systemd built by `make debian-guest` into $OSRUN_DEBIAN_DIR.
# Not in `make check`: `make check-real` builds the guest and runs these
# (`sh run.sh real`). t_debian_provision makes the snapshot the others use.

# The Debian guest's build directory is there, or the test is skipped.
debian_guest() {
	[ -n "${OSRUN_DEBIAN_DIR:-}" ] && [ -f "$OSRUN_DEBIAN_DIR/disk.qcow2" ] || {
		skip "no Debian guest (make debian-guest; OSRUN_DEBIAN_DIR)"; return 1; }
	[ -f "$OSRUN_CACHE/snapshots/debian/meta.json" ] || [ "$current" = t_debian_provision ] || {
		err "no snapshot 'debian' (t_debian_provision runs first)"; return 1; }
}
# A guest's time against the host's around the run: within 3 s.
clock_near() { python3 -c 'import sys; a,g,b=map(float,sys.argv[1:4]); sys.exit(not (a-3 <= g <= b+3))' "$@"; }

# osrun provision debian: stages, a boot, the save; a second one does nothing.
t_debian_provision() {
	debian_guest || return 0
	o provision debian
	expect_rc 0
	expect_err_has "stage 1/2 base: done"
	expect_err_has "stage 2/2 finish: done"
	expect_err_has "saved snapshot 'debian' "
	python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["machine"]; sys.exit(m["memory_mib"] != 1024)' \
		"$OSRUN_CACHE/snapshots/debian/meta.json" || err "meta: $(cat "$OSRUN_CACHE/snapshots/debian/meta.json")"
	o -s debian 'cat /var/lib/osrun/stages; grep -c "^systemd " /var/lib/osrun/packages'
	expect_rc 0
	expect_out "base
finish
1"
	t0=$(now); o provision debian
	expect_rc 0
	awk -v a="$t0" -v b="$(now)" 'BEGIN { exit !(b - a < 30) }' || err "an unchanged provision took $t0 .. $(now)"
	o provision nosuch
	expect_rc 125
	expect_err_has "no guest 'nosuch'"
}

# Exact exit code; stdout and stderr apart; the boot over: systemd says
# "running" (no unit failed), nothing is left to start.
t_debian_run() {
	debian_guest || return 0
	o -s debian 'systemctl is-system-running; systemctl --failed --no-legend --plain; echo err >&2; exit 7'
	expect_rc 7
	expect_out running
	[ "$(grep -v warning: "$T/err")" = err ] || err "stderr: $(cat "$T/err")"
	output_is_live -s debian
	# The agent's warm-up of the share's hashes (its drop-in) ran before
	# the save and succeeded: every name was one the kernel has.
	o -s debian 'systemctl show -p ExecStartPre qemu-guest-agent.service'
	expect_rc 0
	grep -q "python3 .*code=exited ; status=0 }" "$T/out" || err "the hashes' warm-up: $(head -c 600 "$T/out")"
}

# gcc builds and runs a program; its exit code and output come back.
t_debian_gcc() {
	debian_guest || return 0
	printf '#include <stdio.h>\nint main(void) { printf("hello %%d\\n", 6 * 7); return 3; }\n' |
		"$OSRUN" -s debian 'cat >/tmp/h.c && gcc -Wall -Werror -o /tmp/h /tmp/h.c && /tmp/h' >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 3
	expect_out "hello 42"
}

# Three restores of one snapshot in a row: each agent answers on the port
# it reconnects, the clock is the host's (not the save's), the DHCP lease
# and route are there, no timer is armed, no unit failed.
t_debian_restores() {
	debian_guest || return 0
	for i in 1 2 3; do
		t0=$(now)
		o -s debian 'date +%s.%N; ip -4 -o addr show scope global | awk "{print \$4}"; ip route show default |
			cut -d" " -f1-3; systemctl list-timers --no-legend | wc -l; systemctl is-system-running'
		t1=$(now)
		expect_rc 0
		g=$(head -n 1 "$T/out")
		clock_near "$t0" "$g" "$t1" || err "restore $i: guest clock $g, host $t0 .. $t1"
		[ "$(tail -n +2 "$T/out")" = "10.0.2.15/24
default via 10.0.2.2
0
running" ] || err "restore $i: $(tail -n +2 "$T/out")"
	done
}

# A layer (-n) on the Debian snapshot, and a run from it: the file is there,
# the system is running, the clock is the host's.
t_debian_layer() {
	debian_guest || return 0
	o -s debian -n debian2 'echo made-in-the-layer >/root/layer.txt'
	expect_rc 0
	t0=$(now)
	o -s debian2 'cat /root/layer.txt; systemctl is-system-running; date +%s.%N'
	t1=$(now)
	expect_rc 0
	[ "$(head -n 2 "$T/out")" = "made-in-the-layer
running" ] || err "layer: $(cat "$T/out")"
	clock_near "$t0" "$(tail -n 1 "$T/out")" "$t1" || err "layer: guest clock $(tail -n 1 "$T/out"), host $t0 .. $t1"
	o -s debian 'cat /root/layer.txt'
	expect_rc 1
}

# Sources in, make in the guest, the built program out: it runs on the host
# (both bookworm).
t_debian_copy() {
	debian_guest || return 0
	src="$T/dsrc" out="$T/dout"
	rm -rf "$src" "$out"; mkdir -p "$src" "$out"
	printf '#include <stdio.h>\nint main(void) { puts("built in the guest"); return 0; }\n' >"$src/hello.c"
	printf 'hello: hello.c\n\tgcc -O2 -o $@ $<\n' >"$src/Makefile"
	o -s debian --copy-in "$src:/src" --copy-out /src:"$out" 'cd /src && make -s && ./hello'
	expect_rc 0
	expect_out "built in the guest"
	[ "$("$out/src/hello" 2>&1)" = "built in the guest" ] || err "copy-out: $(ls -la "$out/src" 2>&1)"
}

# A toolchain layer from a build file (issue 35 item 2): apt installs zlib's
# headers and pkg-config from deb.debian.org through --network internet (a
# few MB); a program built against the layer's zlib runs a compress and
# uncompress round trip, and its zlibVersion() is the version dpkg has
# installed. An unchanged file boots nothing; a changed later step runs
# alone on the cached install. Plain `debian` has no zlib.h.
t_debian_toolchain() {
	debian_guest || return 0
	B="$T/debian-tc" && rm -rf "$B" && mkdir -p "$B"
	cat >"$B/Buildfile" <<'EOF'
FROM debian
RUN apt-get update && apt-get install -y --no-install-recommends zlib1g-dev pkg-config
WORKDIR /root
RUN echo stamp-one >stamp
EOF
	cat >"$B/z.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <zlib.h>
int main(void)
{
	unsigned char in[4096], packed[8192], out[4096];
	uLongf np = sizeof(packed), no = sizeof(out);
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i % 7);
	if (compress(packed, &np, in, sizeof(in)) != Z_OK || uncompress(out, &no, packed, np) != Z_OK)
		return 2;
	if (no != sizeof(in) || memcmp(in, out, no) != 0 || np >= sizeof(in))
		return 3;
	printf("%s\n", zlibVersion());
	return 0;
}
EOF
	zrun='cat >/tmp/z.c && gcc -Wall -Werror -o /tmp/z /tmp/z.c $(pkg-config --cflags --libs zlib) && /tmp/z &&
		pkg-config --modversion zlib && dpkg-query -W -f "\${Version}\n" zlib1g-dev && cat stamp'
	o build --network internet -f "$B/Buildfile" -t deb-tc
	expect_rc 0
	[ "$(ran)" = 2 ] || err "cold build: $(ran) steps ran, expected 2: $(tail -c 600 "$T/err")"
	grep -q "Setting up zlib1g-dev" "$T/out" || err "apt's output: $(tail -c 600 "$T/out")"
	"$OSRUN" -s deb-tc "$zrun" <"$B/z.c" >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	set -- $(cat "$T/out")
	# zlibVersion() (1.2.13) is the upstream part of dpkg's 1:1.2.13.dfsg-1
	# (not 1.2 of it).
	# ${N:-}: an empty output must fail the test, not end run.sh (set -u).
	z=${1:-} v=${3:-} && v=${v#*:}
	case "$#:$v" in "4:$z" | "4:$z"-* | "4:$z"[.+~][!0-9]*) ;; *) err "zlibVersion against dpkg's: $(cat "$T/out")" ;; esac
	[ -n "$z" ] && [ "$z" = "${2:-}" ] && [ "${4:-}" = stamp-one ] || err "zlib in the layer: $(cat "$T/out")"
	o -s debian 'test -e /usr/include/zlib.h'
	expect_rc 1
	# Unchanged: nothing boots.
	counting_qemu
	OSRUN_QEMU="$T/qemu-count" o build --network internet -f "$B/Buildfile" -t deb-tc
	expect_rc 0
	[ "$(starts)" = 0 ] || err "a fully cached build started QEMU $(starts) times"
	expect_err_has "deb-tc: up to date"
	# The last step changed: it runs, on the install's layer (no apt).
	sed -i 's/stamp-one/stamp-two/' "$B/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build --network internet -f "$B/Buildfile" -t deb-tc
	expect_rc 0
	[ "$(ran)" = 1 ] || err "after changing the last step: $(ran) steps ran, expected 1"
	[ "$(starts)" = 1 ] || err "the changed step started QEMU $(starts) times, expected 1"
	expect_err_has "\\] RUN apt-get update.*: cached (layer-"
	"$OSRUN" -s deb-tc "$zrun" <"$B/z.c" >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	[ "$(tail -n 1 "$T/out")" = stamp-two ] || err "after the rebuild: $(cat "$T/out")"
	"$OSRUN" snapshot rm deb-tc >/dev/null 2>&1
}

# osrun selftest on the Debian guest: every check that applies passes
# (the same list as on the test guest; --user is a skip with its reason).
# Its clock check once read busybox's adjtimex, which Debian has not: it
# failed here, "1796570715 s behind".
# SELFTEST_LINUX: tests/integration/selftest.sh.
t_debian_selftest() {
	debian_guest || return 0
	t0=$(now)
	o selftest -s debian --json
	echo "#   osrun selftest -s debian took $(elapsed "$t0") s"
	expect_rc 0
	why=$(python3 - "$T/out" "$SELFTEST_LINUX" 2>&1 <<'PY'

import json, sys
r = json.load(open(sys.argv[1]))
c = {x["name"]: x for x in r["checks"]}
want = sys.argv[2].split()
assert sorted(c) == sorted(want + ["user"]), sorted(c)
bad = {n: c[n]["details"] for n in want if c[n]["result"] != "pass"}
assert not bad, bad
assert c["user"]["result"] == "skip" and "no logged-on user" in c["user"]["details"], c["user"]
assert r["snapshot"].startswith("debian: linux guest, 1024 MiB"), r["snapshot"]
assert (r["passed"], r["failed"], r["skipped"]) == (len(want), 0, 1), r
assert c["restores"]["figures"]["restores"] == 20, c["restores"]
PY
	) || err "selftest -s debian: $(printf '%s' "$why" | tail -n 3)"
	ls "$OSRUN_CACHE/snapshots" | grep -q osrun-selftest && err "the -n check's snapshot was left: $(ls "$OSRUN_CACHE/snapshots")"
	return 0
}

ALL_DEBIAN="t_debian_provision t_debian_run t_debian_gcc t_debian_restores t_debian_layer t_debian_copy t_debian_toolchain
t_debian_selftest"
