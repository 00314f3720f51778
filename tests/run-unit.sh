#!/bin/sh
# Runs the unit test programs and prints the totals as the last line.
#   sh tests/run-unit.sh [--valgrind] PROGRAM...
# --valgrind: each under memcheck; any error it reports, or a leak it is
# sure of, fails the program.
set -u
vg=""
if [ "${1:-}" = --valgrind ]; then
	vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=no"
	shift
fi
skip_list=$(dirname "$0")/allowed-skips
. "$(dirname "$0")/skips.sh"
pass=0 fail=0 skipped=0
for t in "$@"; do
	echo "# $t"
	out=$($vg "$t" 2>&1)
	rc=$?
	echo "$out"
	p=$(echo "$out" | grep '^ok ' | grep -c -v '^ok [0-9]* # SKIP ')
	f=$(echo "$out" | grep -c '^not ok ')
	s=0
	while IFS= read -r reason; do
		[ -n "$reason" ] || continue
		if skip_allowed "unit: $reason"; then s=$((s + 1)); else
			echo "not ok - $t: a skip CI does not allow (tests/allowed-skips): $reason"; f=$((f + 1)); fi
	done <<EOF
$(echo "$out" | sed -n 's/^ok [0-9]* # SKIP //p')
EOF
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "not ok - $t exited $rc"; f=1; }
	[ "$rc" = 99 ] && { echo "not ok - $t: valgrind found errors (above)"; f=$((f + 1)); }
	pass=$((pass + p)) fail=$((fail + f)) skipped=$((skipped + s))
done
echo "unit: $pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ]
