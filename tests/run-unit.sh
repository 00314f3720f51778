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
pass=0 fail=0
for t in "$@"; do
	echo "# $t"
	out=$($vg "$t" 2>&1)
	rc=$?
	echo "$out"
	p=$(echo "$out" | grep -c '^ok ')
	f=$(echo "$out" | grep -c '^not ok ')
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "not ok - $t exited $rc"; f=1; }
	[ "$rc" = 99 ] && { echo "not ok - $t: valgrind found errors (above)"; f=$((f + 1)); }
	pass=$((pass + p)) fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
