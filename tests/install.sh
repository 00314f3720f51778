#!/bin/sh
# make install into a scratch DESTDIR: every file where the docs say, and
# an installed osrun that looks for its guest, Windows scripts and guard
# under PREFIX, not in this build tree. Prints TAP.
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0 skipped=0
skip_list=tests/allowed-skips
. tests/skips.sh
check() { # check DESCRIPTION OFFENDERS
	n=$((n + 1))
	if [ -z "$2" ]; then echo "ok $n - $1"; else
		failed=$((failed + 1)); echo "not ok $n - $1"; printf '%s\n' "$2" | sed 's/^/#   /'; fi
}

prefix=/opt/osrun-test
d=$tmp/root
if ! make --no-print-directory install DESTDIR="$d" PREFIX=$prefix BUILD="$tmp/build" GUEST_DIR="$top/build/guest" \
	>"$tmp/make.log" 2>&1; then
	check "make install succeeds" "$(tail -n 20 "$tmp/make.log")"
	echo "1..$n"; echo "# 0 passed, $failed failed"; exit 1
fi
check "make install succeeds" ""

# mode path, as the docs list them.
missing=$(while read -r mode path; do
	f=$d$prefix/$path
	if [ ! -f "$f" ]; then echo "missing: $path"
	elif [ "$(stat -c %a "$f")" != "$mode" ]; then echo "$path: mode $(stat -c %a "$f"), expected $mode"; fi
done <<EOF
755 bin/osrun
644 lib/osrun/osrun-netguard.so
755 lib/osrun/osrun-driver
644 share/man/man1/osrun.1
644 share/osrun/guest-init/windows/osrun-guest.exe
755 share/osrun/guest-init/linux/build.sh
755 share/osrun/guest-init/linux/osrun-guest
755 share/osrun/guest-init/linux/stages/base.sh
EOF
)
check "the files are where docs/internals.md says" "$missing"

if [ -f build/guest/initrd.img ]; then
	check "the test guest is installed with its stages" \
		"$(for f in vmlinuz initrd.img disk.qcow2 kernel-version stages/base.sh stages/finish.sh; do
			[ -f "$d$prefix/share/osrun/guest/$f" ] || echo "missing: share/osrun/guest/$f"; done)"
elif skip_allowed "install: the test guest is not built (make guest)"; then
	n=$((n + 1)) skipped=$((skipped + 1)); echo "ok $n # SKIP the test guest is not built (make guest)"
else
	check "the test guest is installed with its stages" "the test guest is not built (make guest), and CI allows no skip"
fi

osrun=$d$prefix/bin/osrun
help=$("$osrun" --help 2>&1; "$osrun" provision --help 2>&1; "$osrun" image build --help 2>&1)
check "the installed osrun's defaults are under PREFIX" \
	"$(for want in $prefix/lib/osrun/osrun-netguard.so $prefix/share/osrun/guest $prefix/share/osrun/debian \
		$prefix/share/osrun/guest-init/windows; do
		printf '%s\n' "$help" | grep -q -F "$want" || echo "its --help does not name $want"; done
	printf '%s\n' "$help" | grep -F "$top/build" | sed 's/^/names the build tree: /')"

# The guard the installed osrun names is one QEMU can preload: a real ELF
# shared object that defines the interposers.
check "the installed guard is a shared object with the interposers" \
	"$(nm -D --defined-only "$d$prefix/lib/osrun/osrun-netguard.so" 2>&1 | awk '$3 ~ /^(connect|sendto|sendmsg)$/ { n++ } END { if (n != 3) print "defines " n + 0 " of connect, sendto, sendmsg" }')"

if command -v man >/dev/null; then
	check "the man page renders without warnings" \
		"$(MANWIDTH=80 man --warnings -l "$d$prefix/share/man/man1/osrun.1" 2>&1 >/dev/null)"
	check "the man page is osrun's" \
		"$(MANWIDTH=80 man -l "$d$prefix/share/man/man1/osrun.1" 2>/dev/null | grep -q 'osrun provision' || echo 'no "osrun provision" in it')"
fi

echo "1..$n"
echo "install: $((n - failed - skipped)) passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
