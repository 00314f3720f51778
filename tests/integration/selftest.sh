# Sourced by run.sh: osrun selftest on the Linux test guest (issue 30), as
# a user reads it: the table's rows, the exit status, the report file; a
# guest that misbehaves fails its check; an interrupt leaves nothing.

# The checks that apply to the Linux test guest, all of which must pass.
SELFTEST_LINUX="exit-codes crash hundred background multi-line utf8 workdir-missing env stdin new-snapshot volumes
clock timer restores share"

t_selftest() {
	t0=$(now)
	o selftest --report "$T/selftest.md"
	took=$(elapsed "$t0")
	echo "#   osrun selftest took $took s"
	expect_rc 0
	for c in $SELFTEST_LINUX; do
		grep -q "^| $c *| PASS *|" "$T/out" || err "check $c did not pass: $(grep "^| $c " "$T/out")"
	done
	grep -q "^| user *| SKIP *| *[0-9.]* s | the Linux guest has no logged-on user" "$T/out" ||
		err "--user is not a skip with its reason: $(grep '^| user ' "$T/out")"
	grep -q "^## osrun selftest: 15 passed, 0 failed, 1 skipped" "$T/out" || err "summary: $(head -1 "$T/out")"
	grep -q "^| accelerator | TCG: " "$T/out" || err "the accelerator and why: $(grep accelerator "$T/out")"
	grep -q "^| snapshot | provisioned: linux guest, 256 MiB" "$T/out" || err "the snapshot: $(grep '^| snapshot' "$T/out")"
	grep -q "^| restores .* 20 restores, restore to output min [0-9.]* s, median [0-9.]* s, max [0-9.]* s |" "$T/out" ||
		err "no restore figures: $(grep '^| restores' "$T/out")"
	cmp -s "$T/out" "$T/selftest.md" || err "--report wrote otherwise than stdout"
	expect_err_has "selftest: clock: waiting 60 s"
	ls "$OSRUN_CACHE/snapshots" | grep -q osrun-selftest && err "the -n check's snapshot was left: $(ls "$OSRUN_CACHE/snapshots")"

	# A guest that misbehaves: its helper loses one of the command's
	# variables (busybox sh runs its applets whatever PATH holds, so the
	# helper is wrapped instead). That check fails and says how; the
	# others pass; the exit status is 1.
	o -n st-broken 'cd /usr/lib/osrun && mv osrun-guest osrun-guest.real &&
printf "#!/bin/sh\nunset STEST_B\nexec /usr/lib/osrun/osrun-guest.real \"\$@\"\n" >osrun-guest && chmod +x osrun-guest'
	expect_rc 0
	o selftest -s st-broken --check exit-codes --check env --json
	expect_rc 1
	python3 - "$T/out" <<'PY' || err "the misbehaving guest's report: $(cat "$T/out")"
import json, sys
r = json.load(open(sys.argv[1]))
c = {x["name"]: x for x in r["checks"]}
assert r["failed"] == 1 and r["passed"] == 1, r
assert c["exit-codes"]["result"] == "pass" and c["exit-codes"]["figures"]["commands"] == 3
assert c["env"]["result"] == "fail" and "expected 'STEST_A=x=y=z\\nSTEST_B=two  spaces" in c["env"]["details"], c["env"]
PY
	o snapshot rm st-broken
	expect_rc 0

	o selftest --check nosuch
	expect_rc 125
	expect_err_has "\-\-check 'nosuch': no such check (the checks: exit-codes, crash,"
	o selftest -s nosuch
	expect_rc 125
	expect_err_has "snapshot 'nosuch': not found"
	o selftest --list
	expect_rc 0
	grep -q "^user$" "$T/out" && grep -q "linux: does not apply" "$T/out" || err "--list: $(head -c 600 "$T/out")"

	# Ctrl-C in the clock check's wait, after the -n check made its
	# snapshot: 130, and nothing left (run.sh checks processes and run
	# directories after every test).
	o_bg selftest --check new-snapshot --check clock
	i=0; until grep -q "waiting 60 s" "$T/err" || [ $i -gt 600 ]; do sleep 0.1; i=$((i+1)); done
	kill -INT "$pid"
	t0=$(now)
	wait "$pid"
	rc=$?
	expect_rc 130
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 10) }')" = 1 ] || err "the interrupt took $(elapsed "$t0") s"
	ls "$OSRUN_CACHE/snapshots" | grep -q osrun-selftest && err "interrupted: the -n snapshot was left"
	return 0
}

ALL_SELFTEST="t_selftest"
