#!/bin/sh
# Runs each fuzz target for SECONDS from its committed seeds
# (tests/fuzz/corpus/NAME) plus what earlier runs found (BUILD/fuzz/corpus-NAME,
# where libFuzzer adds new inputs). A crash fails the run and leaves its
# input for a unit test.
#   sh tests/fuzz/run.sh SECONDS TARGET...
set -u
secs=$1; shift
here=$(dirname "$0")
fail=0
for t in "$@"; do
	name=${t##*/fuzz-}
	work=$(dirname "$t")/corpus-$name
	mkdir -p "$work"
	log=$(dirname "$t")/$name.log
	# Absolute: a target may change directory (fuzz-tarball unpacks in its
	# scratch directory), and a crash there must still leave its input.
	crash=$(cd "$(dirname "$t")" && pwd)/crash-$name-
	if "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$crash" "$work" "$here/corpus/$name" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
		echo "ok - fuzz-$name: $execs runs in $secs s, $cov, no crash"
	else
		echo "not ok - fuzz-$name crashed:"
		grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -20 | sed 's/^/#   /'
		fail=1
	fi
done
exit $fail
