# Integration tests for a first run on an empty store and for osrun doctor
# (issue 32, items 3 and 4): sourced by run.sh, whose helpers (o, expect_*,
# err, one_line_err, counting_qemu, starts, user_osrun, $T) they use. Each
# first-run test has its own store.

t_first_run_provisions() {
	c="$T/first"
	OSRUN_CACHE=$c o 'echo hi'
	expect_rc 0
	expect_out hi
	expect_err_has "snapshot 'provisioned' is not in $c yet: building it from the test guest"
	expect_err_has "stage 2/2 finish: done"
	expect_err_has "saved snapshot 'provisioned'"
	# Built once: the next run restores it, no stage boots.
	counting_qemu
	OSRUN_QEMU="$T/qemu-count" OSRUN_CACHE=$c o 'echo again'
	expect_rc 0
	expect_out again
	grep -q -e 'building it' -e ': stage ' "$T/err" && err "the second run built again: $(cat "$T/err")"
	[ "$(starts)" = 1 ] || err "the second run started QEMU $(starts) times (expected the restore alone)"
	rm -rf "$c"
}

t_first_run_no_provision() {
	c="$T/first-no"
	OSRUN_CACHE=$c o --no-provision 'echo hi'
	expect_rc 125
	expect_err_has "snapshot 'provisioned': not found in $c (make it with 'osrun provision')"
	one_line_err
	OSRUN_NO_PROVISION=1 OSRUN_CACHE=$c o 'echo hi'
	expect_rc 125
	expect_err_has "snapshot 'provisioned': not found in $c (make it with 'osrun provision')"
	one_line_err
	[ -z "$(ls -A "$c/snapshots" "$c/images" "$c/stages" | grep -v -e '^$' -e ':$')" ] ||
		err "something was built: $(ls -AR "$c")"
	# A store for Windows (it has windows/, as 'osrun image build' leaves,
	# or isos/, as 'osrun image fetch' does): a first run there fetches and
	# installs Windows (tests/windows/fetch.sh); --no-provision names that
	# instead, nothing fetched or built.
	for mark in windows isos; do
		mkdir -p "$T/first-win/$mark"
		OSRUN_CACHE="$T/first-win" o --no-provision 'dir'
		expect_rc 125
		expect_err_has "snapshot 'provisioned': not found in $T/first-win, a store for Windows (it has $T/first-win/$mark)"
		expect_err_has "refuses to fetch the ISOs and install it: build it with 'osrun image build' (--iso FILE takes your ISO)"
		one_line_err
		[ -z "$(ls -A "$T/first-win/images" "$T/first-win/isos" 2>/dev/null | grep -v -e '^$' -e ':$')" ] ||
			err "the Windows store got an image or an ISO"
		rm -rf "$T/first-win"
	done
	# No test guest to build from: what to run.
	OSRUN_GUEST_DIR="$T/no-guest" OSRUN_CACHE="$T/first-noguest" o 'echo hi'
	expect_rc 125
	expect_err_has "no test guest to build it from in $T/no-guest"
	one_line_err
	rm -rf "$c" "$T/first-win" "$T/first-noguest"
}

# Two first runs at once on one empty store: one builds, the other waits
# for it and restores what it built.
t_first_run_concurrent() {
	c="$T/first-two"
	: >"$T/out1"; : >"$T/out2"
	OSRUN_CACHE=$c "$OSRUN" 'echo one' >"$T/out1" 2>"$T/err1" </dev/null &
	p1=$!
	OSRUN_CACHE=$c "$OSRUN" 'echo two' >"$T/out2" 2>"$T/err2" </dev/null &
	p2=$!
	wait $p1; r1=$?
	wait $p2; r2=$?
	[ "$r1/$r2" = 0/0 ] || err "exit codes $r1 and $r2: $(cat "$T/err1" "$T/err2")"
	[ "$(cat "$T/out1")/$(cat "$T/out2")" = one/two ] || err "outputs '$(cat "$T/out1")' and '$(cat "$T/out2")'"
	saved=$(cat "$T/err1" "$T/err2" | grep -c "saved snapshot 'provisioned'")
	[ "$saved" = 1 ] || err "provisioned saved $saved times: $(cat "$T/err1" "$T/err2")"
	waited=$(cat "$T/err1" "$T/err2" | grep -c "waiting for another osrun that is building a snapshot in $c")
	[ "$waited" = 1 ] || err "$waited runs said they waited: $(cat "$T/err1" "$T/err2")"
	cat "$T/err1" "$T/err2" | grep -q "snapshot 'provisioned' is there now: the other osrun built it" ||
		err "the waiting run did not say it found the snapshot built"
	rm -rf "$c"
}

# Every check not ok has a fix line next; the table's checks, in order.
doctor_table_checks() {
	awk '$1 == "fix:" { want = 0; next }
	     { if (want) bad = 1; want = ($2 != "ok"); print $1 }
	     END { if (want || bad) print "MISSING-FIX" }' "$T/out"
}

t_doctor() {
	o doctor
	expect_rc 0
	# This machine's /dev/kvm opens, and QEMU fails on it (NOTES.md).
	grep -q "^kvm  *warn  /dev/kvm opens but is not usable, nested virtualization is off.*QEMU fails on it" \
		"$T/out" || err "kvm line: $(grep '^kvm' "$T/out")"
	table=$(doctor_table_checks | tr '\n' ' ')
	[ "$table" = "kvm qemu samba store holes space user netguard " ] || err "checks (and fixes): $table"
	o doctor --json
	expect_rc 0
	cp "$T/out" "$T/doctor.json"
	python3 - "$T/doctor.json" "$table" >"$T/py" 2>&1 <<'PY' || err "--json: $(cat "$T/py")"
import json, sys
d = json.load(open(sys.argv[1]))
names = [c["name"] for c in d["checks"]]
assert " ".join(names) + " " == sys.argv[2], names
assert d["ok"] is True, d
for c in d["checks"]:
    assert c["status"] in ("ok", "warn", "fail"), c
    assert (c["fix"] is None) == (c["status"] == "ok"), c
    assert c["detail"], c
PY
	# A user without a passwd entry (docker run --user) and nobody.
	chmod o+x "$T"
	mkdir -p "$T/doc4321/tmp" "$T/doc65534/tmp"
	chown -R 4321:4321 "$T/doc4321"
	chown -R 65534:65534 "$T/doc65534"
	user_osrun 4321 "$T/doc4321" doctor
	expect_rc 0
	grep -q "^user  *ok    uid 4321 has no passwd entry: smbd gets a name from nss_wrapper" "$T/out" ||
		err "user line as uid 4321: $(grep '^user' "$T/out")"
	user_osrun 65534 "$T/doc65534" doctor --json
	expect_rc 1
	python3 -c 'import json,sys; d=json.load(sys.stdin); u=[c for c in d["checks"] if c["name"]=="user"][0]
assert not d["ok"] and u["status"]=="fail" and "nobody" in u["detail"] and u["fix"], u' <"$T/out" ||
		err "user check as nobody: $(cat "$T/out")"
	rm -rf "$T/doc4321" "$T/doc65534"
}

ALL_FIRSTRUN="t_first_run_no_provision t_doctor t_first_run_provisions t_first_run_concurrent"
