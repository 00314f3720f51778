#!/bin/sh
# The house plan, checked: what depends on what, where exit codes and
# messages are made, who builds paths into the store, and the size limits
# that keep files and functions readable. Prints TAP; exits 1 on a breach.
set -u
cd "$(dirname "$0")/.."
n=0 failed=0
check() { # check DESCRIPTION OFFENDERS
	n=$((n + 1))
	if [ -z "$2" ]; then echo "ok $n - $1"; else
		failed=$((failed + 1)); echo "not ok $n - $1"; printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
src=$(ls runner/*.[ch] runner/lib/*.[ch] runner/netguard/*.c snapshots/*.[ch] iso-builder/*.[ch])
cmds="runner/osrun.c runner/options.c runner/options.h $(echo runner/cmd-*.c)"
below=$(for f in $src; do case " $cmds " in *" $f "*) ;; *) echo "$f" ;; esac; done)

check "no source file over 500 lines" "$(wc -l $src | awk '$2 != "total" && $1 > 500')"

# A function: a line at column 0 ending in ')' followed by a line '{'; it
# ends at the next '}' at column 0. The QEMU argv builder reads as a table.
long=$(awk 'FNR == 1 { name = "" }
	prev ~ /^[a-z].*\)$/ && $0 == "{" { name = prev; start = FNR }
	name != "" && $0 == "}" { if (FNR - start > 80 && name !~ /^int profile_argv/) print FILENAME ": " name " (" FNR - start " lines)"; name = "" }
	{ prev = $0 }' $src)
check "no function over 80 lines" "$long"

check "runner/cmd-run.c under 250 lines" "$(wc -l runner/cmd-run.c | awk '$1 >= 250')"
check "EXIT_OSRUN only in the command layer and main()" "$(grep -l EXIT_OSRUN $below)"
check "nothing below the command layer includes it" "$(grep -l -E '#include "(\.\./)*(runner/)?(commands|options)\.h"' $below)"
check "no command file includes another's internals" "$(grep -l -E '#include "(osrun|cmd-[a-z]+)\.c"' $src)"
check "errors are reported by the command layer only" "$(grep -n -E 'log_error|log_errno' $below | grep -v '^runner/lib/log\.[ch]:')"
check "no store path is formatted outside snapshots/" \
	"$(grep -n -E '"\.\./|(build|media)-%|"(pools|stages|images|snapshots)"|/pools/|/images/|/snapshots/' \
		$(echo "$src" | grep -v '^snapshots/') | grep -v -E '^[^:]*:[0-9]+:(#include| *\*|.*/\*)')"
check "no sleeping waits (poll the events instead)" "$(grep -n -E '\b(usleep|sleep|nanosleep)\(' $src)"

if command -v clang-format >/dev/null; then
	check "the code is as 'make format' leaves it" \
		"$(for f in $src tests/unit/*.[ch]; do clang-format --dry-run "$f" 2>&1 | grep -q . && echo "$f"; done)"
fi

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
