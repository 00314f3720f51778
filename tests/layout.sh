#!/bin/sh
# The house plan, checked: what depends on what, where exit codes and
# messages are made, who builds paths into the store, and the size limits
# that keep files and functions readable. Prints TAP; exits 1 on a breach.
# `sh tests/layout.sh --self-test` breaks each rule on purpose in a copy of
# the tree and expects every one of those breaks to be caught.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
n=0 failed=0
check() { # check DESCRIPTION OFFENDERS
	n=$((n + 1))
	if [ -z "$2" ]; then echo "ok $n - $1"; else
		failed=$((failed + 1)); echo "not ok $n - $1"; printf '%s\n' "$2" | sed 's/^/#   /'; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The positive controls: every rule, broken on purpose in a copy of the
# tree, must fail (run A); the same words in comments must not (run B).
if [ "${1:-}" = --self-test ]; then
	t=$(mktemp -d)
	trap 'rm -rf "$t" "$tmp"' EXIT
	copy() {
		rm -rf "$t/tree" && mkdir -p "$t/tree/tests" &&
			cp -r runner snapshots iso-builder .clang-format "$t/tree/" &&
			cp -r tests/layout.sh tests/unit "$t/tree/tests/"
	}
	copy && cd "$t/tree" || exit 1
	seq 1 260 | sed 's|.*|/* filler */|' >>runner/cmd-pool.c
	seq 1 510 | sed 's|.*|/* filler */|' >>runner/lib/log.c
	{ printf 'int layout_selftest_long(int a,\n\t\t\t    int b);\nint layout_selftest_long(int a,\n\t\t\t    int b)\n{\n'
	  seq 1 85 | sed 's|.*|\ta++;|'; printf '\treturn a + b;\n}\n'; } >>runner/lib/util.c
	printf 'static int selftest_fork(void) { return fork(); }\n#if 0\n#include "cmd-run.c"\n#endif\n' >>runner/cmd-pool.c
	printf '#include "options.h"\n#define SELFTEST_EXIT EXIT_OSRUN\n#define SELFTEST_LOG log_error\n' >>runner/serve.c
	printf 'static const char *selftest_path = "/pools/"; /* a comment beside it */\n' >>runner/serve.c
	printf '#define SELFTEST_SLEEP() clock_nanosleep(CLOCK_MONOTONIC, 0, 0, 0)\n' >>runner/serve.c
	sed -i 's|#include "plan.h"|#include "plan.h"\n#include "run.h"|' runner/follow.h
	printf 'int run_command(const struct run_plan *, struct warm *, struct run_result *, struct error *);\n' >>runner/plan.c
	printf 'void plan_selftest(void);\nvoid plan_selftest(void) { run_command(0, 0, 0, 0); }\n' >>runner/plan.c
	sh tests/layout.sh >"$t/a" 2>&1
	missed=$(for rule in "over 500 lines" "function over 80" "cmd-\*\.c) of 250" "keeper code" "EXIT_OSRUN" \
		"below the command layer includes" "another's internals" "errors are reported" "no store path" \
		"sleeping waits" "include circle" "call circle"; do
		grep -q "^not ok .*$rule" "$t/a" || echo "not caught: $rule"
	done)
	cd "$top" && copy && cd "$t/tree" || exit 1
	printf '/* sleep(1) would do; log_error("x") "/pools/" EXIT_OSRUN\n * fork() poll() */\n' >>runner/serve.c
	printf '/* accept4() and usleep(2) in a comment */\n' >>runner/cmd-pool.c
	sh tests/layout.sh >"$t/b" 2>&1 || missed="$missed
comments alone failed a rule: $(grep '^not ok' "$t/b")"
	cd "$top"
	if [ -z "$missed" ]; then echo "ok 1 - every rule fails on its break, none on comments"; else
		echo "not ok 1 - every rule fails on its break, none on comments"; printf '%s\n' "$missed" | sed 's/^/#   /'; fi
	echo "1..1"
	[ -z "$missed" ]
	exit
fi

src=$(ls runner/*.[ch] runner/lib/*.[ch] runner/netguard/*.c snapshots/*.[ch] iso-builder/*.[ch])
# The guests' helpers (Linux: static; Windows: mingw-w64) and the programs
# the Wine tests run: held to the sizes and the format; the module rules
# below are the host's.
guest_src=$(ls guest-init/linux/osrun-guest/*.[ch] guest-init/windows/osrun-guest/*.[ch] tests/windows/*.c 2>/dev/null)
cmds="runner/osrun.c runner/options.c runner/options.h $(echo runner/cmd-*.c)"
below=$(for f in $src; do case " $cmds " in *" $f "*) ;; *) echo "$f" ;; esac; done)

# Each file with its comments blanked (line numbers kept), so that no rule
# is met or broken by what a comment says.
mkdir -p "$tmp/code"
for f in $src; do
	mkdir -p "$tmp/code/$(dirname "$f")"
	awk '{
		out = ""; line = $0
		while (line != "") {
			if (incomment) {
				i = index(line, "*/")
				if (i == 0) { line = ""; break }
				line = substr(line, i + 2); incomment = 0
			} else {
				i = index(line, "/*"); j = index(line, "//")
				if (j > 0 && (i == 0 || j < i)) { out = out substr(line, 1, j - 1); line = ""; break }
				if (i == 0) { out = out line; line = ""; break }
				out = out substr(line, 1, i - 1); line = substr(line, i + 2); incomment = 1
			}
		}
		print out
	}' "$f" >"$tmp/code/$f"
done
code() { for f in "$@"; do echo "$tmp/code/$f"; done; }
strip() { sed "s|$tmp/code/||"; }

check "no source file over 500 lines" "$(wc -l $src $guest_src | awk '$2 != "total" && $1 > 500')"

# A function: its signature starts at column 0 (and may go on over
# indented lines), its body at a line '{' and ends at the next '}' at
# column 0. The QEMU argv builder reads as a table.
long=$(awk 'FNR == 1 { name = ""; sig = "" }
	/^[A-Za-z_].*\(/ && !/;$/ { sig = $0 }
	/^[^ \t{]/ && !/^[A-Za-z_].*\(/ { sig = "" }
	prev ~ /\)$/ && $0 == "{" && sig != "" { name = sig; start = FNR; sig = "" }
	name != "" && $0 == "}" { if (FNR - start > 80 && name !~ /^int profile_argv/) print FILENAME ": " name " (" FNR - start " lines)"; name = "" }
	{ prev = $0 }' $src $guest_src)
check "no function over 80 lines" "$long"

check "no command file (cmd-*.c) of 250 lines or more" "$(wc -l runner/cmd-*.c | awk '$2 != "total" && $1 >= 250')"
# A command parses, plans, calls an engine and reports: processes, sockets
# and event loops (a pool's or a session's keeper) belong to engines.
check "no keeper code in a command file" \
	"$(grep -n -E '\b(fork|accept4?|listen|poll|socketpair|pool_listen|pool_request_accept|serve_wait|serve_command)\(' \
		$(code runner/cmd-*.c) | strip)"
check "EXIT_OSRUN only in the command layer and main()" "$(grep -l EXIT_OSRUN $(code $below) | strip)"
check "nothing below the command layer includes it" "$(grep -l -E '#include "(\.\./)*(runner/)?(commands|options)\.h"' $below)"
check "no command file includes another's internals" "$(grep -l -E '#include "(osrun|cmd-[a-z]+)\.c"' $src)"
check "errors are reported by the command layer only" \
	"$(grep -n -E 'log_error|log_errno' $(code $below) | strip | grep -v '^runner/lib/log\.[ch]:')"
# A JSON field named as an area is ("snapshots" in host-info's) is no path.
check "no store path is formatted outside snapshots/" \
	"$(grep -n -E '"\.\./|(build|media)-%|"(pools|stages|images|snapshots)"|/pools/|/images/|/snapshots/' \
		$(code $(echo "$src" | grep -v '^snapshots/')) | strip | grep -v -E '^[^:]*:[0-9]+:#include' |
		grep -v -E 'json_object_object_(add|get_ex)\([^,()]+, "(pools|stages|images|snapshots)"[,)]')"
check "no sleeping waits (poll the events instead)" \
	"$(grep -n -E '\b(usleep|sleep|nanosleep|clock_nanosleep)\(' $(code $src) | strip)"

# Modules: a .c and its .h. An include circle is two modules that each
# include the other's header, directly or round a longer loop.
for f in $(echo "$src" | grep -v netguard/netguard.c); do
	d=$(dirname "$f") m=${f%.[ch]}
	sed -n 's/^#include "\(.*\)\.h"/\1/p' "$f" | while read -r inc; do
		t=$(realpath -m --relative-to=. "$d/$inc")
		[ "$t" != "$m" ] && echo "$m $t"
	done
done >"$tmp/includes"
tsort "$tmp/includes" >/dev/null 2>"$tmp/inc-loops"
check "no include circle between modules" "$(sed -n 's/^tsort: \([a-z].*\)/\1/p' "$tmp/inc-loops")"

# The same for calls: module X calls into Y when X's object needs a symbol
# Y's defines. A header below both (plan.h for run.c and follow.c) breaks
# a circle; declaring a function in the wrong header does not.
printf '#define %s ""\n' OSRUN_GUEST_DIR OSRUN_WINDOWS_DIR OSRUN_NETGUARD >"$tmp/paths.h"
CFLAGS_L="-std=c11 -O0 -w -include runner/lib/banned.h -include $tmp/paths.h \
	$(pkg-config --cflags json-c libxml-2.0 libarchive libcrypto libnbd libntfs-3g 2>/dev/null)"
mkdir -p "$tmp/obj"
echo "$src" | grep '\.c$' | grep -v netguard/netguard.c |
	xargs -P 2 -I{} sh -c 'cc '"$CFLAGS_L"' -c {} -o "'"$tmp"'/obj/$(echo {} | tr / @).o" 2>>"'"$tmp"'/cc.err"'
objs=$(ls "$tmp"/obj/*.o 2>/dev/null | wc -l)
want=$(echo "$src" | grep '\.c$' | grep -vc netguard/netguard.c)
for o in "$tmp"/obj/*.o; do
	m=$(basename "$o" .o | tr @ /)
	nm --defined-only -g "$o" | awk -v m="$m" '$2 ~ /[TDBR]/ { print $3, m }'
done | sort >"$tmp/defs"
for o in "$tmp"/obj/*.o; do
	m=$(basename "$o" .o | tr @ /)
	nm -u "$o" | awk -v m="$m" '{ print $2, m }'
done | sort >"$tmp/uses"
join "$tmp/uses" "$tmp/defs" | awk '$2 != $3 { print $2, $3 }' | sort -u >"$tmp/calls"
tsort "$tmp/calls" >/dev/null 2>"$tmp/call-loops"
check "no call circle between modules ($objs of $want compiled)" \
	"$( [ "$objs" = "$want" ] || cat "$tmp/cc.err"; sed -n 's/^tsort: \([a-z].*\)/\1/p' "$tmp/call-loops")"

if command -v clang-format >/dev/null; then
	check "the code is as 'make format' leaves it" \
		"$(for f in $src $guest_src tests/unit/*.[ch]; do clang-format --dry-run "$f" 2>&1 | grep -q . && echo "$f"; done)"
else
	check "the code is as 'make format' leaves it" "clang-format is not installed (make deps installs it)"
fi

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
