#!/bin/sh
# Runs the unit test programs and prints the totals as the last line.
pass=0 fail=0
for t in "$@"; do
	echo "# $t"
	out=$("$t" 2>&1)
	rc=$?
	echo "$out"
	p=$(echo "$out" | grep -c '^ok ')
	f=$(echo "$out" | grep -c '^not ok ')
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "not ok - $t exited $rc"; f=1; }
	pass=$((pass + p)) fail=$((fail + f))
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
