#!/bin/sh
# The Windows guest helper (osrun-guest.exe) run for real under Debian's
# wine64, against a share laid out as osrun lays it out: tests/windows/
# wine-run.c writes the request and reads the result with the host's own
# code (runner/lib/request.c, share.c). What Wine proves and what it does
# not: docs/windows.md. A Wine prefix of its own per run (the first start
# takes ~9 s), no display.
#   OSRUN_GUEST_EXE=... WINE_RUN=... WINE_TOOLS=... sh tests/windows/wine.sh
set -u
: "${OSRUN_GUEST_EXE:?}" "${WINE_RUN:?}" "${WINE_TOOLS:?}"
top=$(cd "$(dirname "$0")/../.." && pwd)
skip_list=$top/tests/allowed-skips
. "$top/tests/skips.sh"
OSRUN_WINE=${OSRUN_WINE:-$(command -v wine64 || echo /usr/lib/wine/wine64)}
if [ ! -x "$OSRUN_WINE" ]; then
	reason="wine64 is not installed (make deps)"
	if skip_allowed "wine: $reason"; then echo "ok 1 # SKIP $reason"; echo "1..1"; exit 0; fi
	echo "not ok 1 - $reason"; echo "1..1"; exit 1
fi
T=$(mktemp -d /tmp/osrun-wine.XXXXXX)
export WINEPREFIX="$T/prefix" WINEDEBUG=-all OSRUN_WINE OSRUN_GUEST_EXE
unset DISPLAY WAYLAND_DISPLAY
wineserver=$(dirname "$OSRUN_WINE")/wineserver
cleanup() { "$wineserver" -k 2>/dev/null; [ "${KEEP:-0}" = 1 ] && echo "# kept $T" || rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

n=0 pass=0 fail=0
check() {
	n=$((n + 1))
	if eval "$2"; then pass=$((pass + 1)); echo "ok $n - $1"
	else fail=$((fail + 1)); echo "not ok $n - $1"; fi
}
# w NAME COMMAND [wine-run options]: one run in share $T/NAME, without
# stdin; its result in $res, stdout in $T/NAME.out, stderr in $T/NAME.err.
w() { ws "$@" -n </dev/null; }
# ws: the same with this function's stdin passed on (a file or a pipe).
# A helper that never ends fails its check instead of holding the suite.
ws() {
	name=$1 cmd=$2
	shift 2
	timeout 60 "$WINE_RUN" -r "$T/$name.res" "$@" "$T/$name" "$cmd" >"$T/$name.out" 2>"$T/$name.err"
	res=$(cat "$T/$name.res" 2>/dev/null)
}
said() { echo "#   result: $res; stdout: $(head -c 300 "$T/$name.out"); stderr: $(head -c 300 "$T/$name.err")"; false; }
winpath() { printf 'Z:%s' "$1" | tr / '\\'; }
tools=$(winpath "$WINE_TOOLS")

"$OSRUN_WINE" wineboot -i >/dev/null 2>&1
# Registry: Machine, then User; Path both joined; REG_EXPAND_SZ expanded.
envkey='HKLM\System\CurrentControlSet\Control\Session Manager\Environment'
reg() { "$OSRUN_WINE" reg add "$@" /f >/dev/null 2>&1; }
reg "$envkey" /v OsrunMachine /t REG_SZ /d machine-value
reg "$envkey" /v OsrunBoth /t REG_SZ /d from-machine
reg "$envkey" /v OsrunExpand /t REG_EXPAND_SZ /d '%SystemRoot%\osrun-x'
reg "$envkey" /v OsrunCase /t REG_SZ /d from-registry
reg 'HKCU\Environment' /v OsrunBoth /t REG_SZ /d from-user
reg 'HKCU\Environment' /v Path /t REG_SZ /d 'C:\user-bin'

# --- exit codes: exact, 32 bits --------------------------------------------
for c in 0 3 255 3010; do
	w code$c "exit /b $c"
	check "exit code $c" '[ "$res" = "exit $c" ] || said'
done
w crash "$tools crash"
check "a program ending with 0xC0000005 gives exit $(printf %u 0xC0000005)" \
	'[ "$res" = "exit $(printf %u 0xC0000005)" ] || said'
w out 'echo hello& echo oops 1>&2& exit /b 7'
check "stdout and stderr reach their files in the share" \
	'[ "$res" = "exit 7" ] && [ "$(tr -d "\r" <"$T/out.out")" = hello ] && [ "$(tr -d "\r" <"$T/out.err")" = "oops " ] || said'

# --- 100 fast commands in a row, every code exact ---------------------------
bad=""
i=1
while [ $i -le 100 ]; do
	c=$(( (i * 7919) % 70000 ))
	w fast$i "exit /b $c"
	[ "$res" = "exit $c" ] || bad="$bad $i:$c:[$res]"
	i=$((i + 1))
done
check "100 commands in a row, each with its own exact code" '[ -z "$bad" ] || { echo "#  $bad"; false; }'

# --- a background child does not hold the run ------------------------------
start=$(date +%s)
w bg "start /b $tools sleep 60000 & echo started"
took=$(( $(date +%s) - start ))
check "a background child that outlives the command does not hold the run (${took} s)" \
	'[ "$res" = "exit 0" ] && [ $took -lt 30 ] && grep -q started "$T/bg.out" || said'

start=$(date +%s)
w flood "start /b $tools yes & echo started"
took=$(( $(date +%s) - start ))
check "nor one that keeps writing to stdout (${took} s)" \
	'[ "$res" = "exit 0" ] && [ $took -lt 30 ] && grep -q started "$T/flood.out" || said'

# --- batch files, workdir, environment --------------------------------------
w batch "$(printf 'echo one\nset X=two\necho %%X%%\nexit /b 4')"
check "a multi-line command runs as a batch file, lines in order, without echo" \
	'[ "$res" = "exit 4" ] && [ "$(tr -d "\r" <"$T/batch.out")" = "$(printf "one\ntwo")" ] || said'
w wd 'cd' -w 'C:\windows\system32'
check "-w: the command starts in the working directory" \
	'[ "$res" = "exit 0" ] && [ "$(tr -d "\r" <"$T/wd.out" | tr A-Z a-z)" = "c:\\windows\\system32" ] || said'
w nowd 'echo never' -w 'C:\no such dir'
check "-w to a missing directory: the helper's error, not an exit code" \
	'[ "$res" = "error working directory C:\\no such dir does not exist in the guest" ] && [ ! -s "$T/nowd.out" ] || said'
w env 'set A1& set A2& set "A3"& set OsrunCase' \
	-e 'A1=x=y' -e 'A2=two  spaces' -e 'A3="quoted" & not run' -e 'osruncase=from-request'
check "-e: values with =, spaces, quotes and & as given; names case-insensitive over the registry's" \
	'[ "$res" = "exit 0" ] && [ "$(tr -d "\r" <"$T/env.out" | sed "4s/^osruncase=/OsrunCase=/I")" = "$(printf "A1=x=y\nA2=two  spaces\nA3=\"quoted\" & not run\nOsrunCase=from-request")" ] || said'
# Started from a process whose environment has stale values (the agent's,
# from the boot that made the snapshot): the registry's must win.
OSRUN_GUEST_WRAP=$WINE_TOOLS w reg 'echo %OsrunMachine%& echo %OsrunBoth%& echo %OsrunExpand%& echo %PATH%'
check "the environment is read again from the registry: Machine, then User, Path both joined" \
	'[ "$res" = "exit 0" ] && [ "$(tr -d "\r" <"$T/reg.out" | sed -n 1,3p | tr A-Z a-z)" = "$(printf "machine-value\nfrom-user\nc:\\\\windows\\\\osrun-x")" ] &&
	tr -d "\r" <"$T/reg.out" | sed -n 4p | grep -q -i -x "c:\\\\windows\\\\system32;.*;C:\\\\user-bin" || said'

# Wine's console session is its one user, so this proves the code path
# (the session's token, its environment block, CreateProcessAsUserW), not
# Windows' sessions.
w user 'echo %USERNAME%& echo %OsrunUserVar%& exit /b 5' -u -e 'OsrunUserVar=from -e'
check "--user: the command runs with the user's token and environment, -e on top" \
	'[ "$res" = "exit 5" ] && [ "$(tr -d "\r" <"$T/user.out")" = "$(printf "%s\nfrom -e" "$(id -un)")" ] || said'

# --- stdin -------------------------------------------------------------------
head -c 3000000 /dev/urandom >"$T/big"
ws bigin "$tools cat" <"$T/big"
check "stdin from a file and 3 MB of output through the pump, byte for byte" \
	'[ "$res" = "exit 0" ] && cmp -s "$T/big" "$T/bigin.out" || said'
# The second line is sent only once the first has come back out: a helper
# that waited for the whole of stdin would never see it.
feed() {
	echo one
	k=0
	until grep -q one "$T/stream/stdout" 2>/dev/null; do
		k=$((k + 1)); [ $k -gt 300 ] && return 1; sleep 0.1
	done
	echo two
}
# A pipeline's last part runs in a subshell: its result is read after.
feed | timeout 60 "$WINE_RUN" -r "$T/stream.res" "$T/stream" "$tools cat" >"$T/stream.out" 2>"$T/stream.err"
name=stream res=$(cat "$T/stream.res" 2>/dev/null)
check "stdin streamed while the command runs (the second line sent after the first came out)" \
	'[ "$res" = "exit 0" ] && [ "$(cat "$T/stream.out")" = "$(printf "one\ntwo")" ] || said'

# --- UTF-8 -------------------------------------------------------------------
u=$(printf 'f\303\257l\303\251\342\202\254')
printf 'gr\303\274\303\237e \342\202\254 \360\237\231\202\n' >"$T/$u.txt"
w utf8 "type \"$(winpath "$T/$u.txt")\""
check "UTF-8 in the command line reaches cmd.exe, UTF-8 output is kept byte for byte" \
	'[ "$res" = "exit 0" ] && cmp -s "$T/$u.txt" "$T/utf8.out" || said'

# --- kill -------------------------------------------------------------------
nap=$((100000 + $$))
# The sleeping processes themselves, not the command lines that name them.
sleepers() { pgrep -f "^[^ ]*wine-tools\.exe sleep $nap\$"; }
"$WINE_RUN" -n -r "$T/kill.res" "$T/kill" "start /b $tools sleep $nap & $tools sleep $nap" \
	>/dev/null 2>&1 </dev/null &
runner=$!
k=0
until [ -s "$T/kill.state/command.pid" ] && [ "$(sleepers | wc -l)" = 2 ] ||
	[ $k -gt 300 ]; do k=$((k + 1)); sleep 0.1; done
before=$(sleepers | wc -l)
"$OSRUN_WINE" "$OSRUN_GUEST_EXE" --state "$(winpath "$T/kill.state")" kill >/dev/null 2>&1 </dev/null
killrc=$?
k=0
while kill -0 $runner 2>/dev/null && [ $k -lt 300 ]; do k=$((k + 1)); sleep 0.1; done
kill $runner 2>/dev/null
wait $runner 2>/dev/null
res=$(cat "$T/kill.res" 2>/dev/null)
check "kill ends the command (exit 1, as taskkill /F) and the child it started in the background" \
	'[ $killrc = 0 ] && [ "$res" = "exit 1" ] && [ "$before" = 2 ] && [ -z "$(sleepers)" ] || { echo "#   kill $killrc, $before sleeping before, result $res"; false; }'

# --- copies: the host's side as runner/copy.c makes it ----------------------
# Debian's bsdtar stands in for Windows' tar.exe, which is bsdtar too
# (docs/windows.md), through a tar.exe that runs it (wine-tools.c): what is
# checked is how the helper drives a tar.
bsdtar=$(command -v bsdtar)
check "bsdtar (libarchive-tools) is installed, to stand in for tar.exe" '[ -n "$bsdtar" ]'
cp "$WINE_TOOLS" "$T/tar.exe"
export OSRUN_TAR="$(winpath "$T/tar.exe")"
# c NAME -I|-O FROM TO: one copy; its status in $res, stderr in $T/NAME.err.
csaid() { echo "#   $res; stderr: $(head -c 300 "$T/$name.err")"; false; }
c() { timeout 120 "$WINE_RUN" "$2" -r "$T/$1.res" "$T/$1" "$3" "$4" 2>"$T/$1.err"; name=$1 res=$(cat "$T/$1.res" 2>/dev/null); }
mkdir -p "$T/src/sub dir/deeper" "$T/src/empty"
printf 'one\n' >"$T/src/a.txt"
: >"$T/src/sub dir/zero"
head -c 1000000 /dev/urandom >"$T/src/sub dir/deeper/big.bin"
c cin1 -I "$T/src" "$(winpath "$T/g/new/tree")"
check "copy in: a tree lands at a new path, parents made, byte for byte" \
	'[ "$res" = "status 0" ] && diff -r "$T/src" "$T/g/new/tree" && [ -d "$T/g/new/tree/empty" ] || csaid'
mkdir -p "$T/g/into"
c cin2 -I "$T/src" "$(winpath "$T/g/into")"
check "copy in: into an existing directory, under the source's name" \
	'[ "$res" = "status 0" ] && diff -r "$T/src" "$T/g/into/src" || csaid'
printf 'old contents, longer than the new\n' >"$T/g/into/a.txt"
c cin3 -I "$T/src/a.txt" "$(winpath "$T/g/into/a.txt")"
check "copy in: a file replaces one whole, nothing left beside it" \
	'[ "$res" = "status 0" ] && cmp -s "$T/src/a.txt" "$T/g/into/a.txt" && [ -z "$(ls -A "$T/g/into" | grep osrun-copy)" ] || csaid'
c cin4 -I "$T/src/sub dir/deeper/big.bin" "$(winpath "$T/g/into")"
check "copy in: a file into a directory, under its name" \
	'[ "$res" = "status 0" ] && cmp -s "$T/src/sub dir/deeper/big.bin" "$T/g/into/big.bin" || csaid'
c cout1 -O "$(winpath "$T/g/new/tree")" "$T/back1"
check "copy out: a tree comes back byte for byte, through the host's checks" \
	'[ "$res" = "status 0" ] && diff -r "$T/src" "$T/back1" || csaid'
mkdir -p "$T/g/odd"
printf 'at\n' >"$T/g/odd/@at"; printf 'dash\n' >"$T/g/odd/-dash"
c cout2 -O "$(winpath "$T/g/odd/@at")" "$T/back-at"
c cout3 -O "$(winpath "$T/g/odd/-dash")" "$T/back-dash"
check "copy out: names tar would read as an archive (@) or an option (-)" \
	'[ "$(cat "$T/back-at" 2>/dev/null)" = at ] && [ "$(cat "$T/back-dash" 2>/dev/null)" = dash ] || { echo "#   @: $(cat "$T/cout2.res") $(head -c 200 "$T/cout2.err"); -: $(cat "$T/cout3.res") $(head -c 200 "$T/cout3.err")"; false; }'
c cout4 -O "$(winpath "$T/g/none")" "$T/back-none"
check "copy out: a missing guest path is the helper's error, nothing made" \
	'[ "$res" = "status 1" ] && grep -q "none: No such file or directory" "$T/cout4.err" && [ ! -e "$T/back-none" ] || csaid'
"$OSRUN_WINE" "$OSRUN_GUEST_EXE" --share "$(winpath "$T/g")" copy in '..\x.tar' dir 'C:\' n >/dev/null 2>"$T/cbad.err" </dev/null
cbad=$?
check "copy: an archive named outside the share is refused" \
	'[ $cbad = 1 ] && grep -q "copy in: bad arguments" "$T/cbad.err" || { echo "#   $cbad: $(cat "$T/cbad.err")"; false; }'
unset OSRUN_TAR

# --- the helper's own errors ---------------------------------------------------
mkdir -p "$T/garbage" "$T/garbage.state"
: >"$T/garbage/stdin"; : >"$T/garbage/stdout"; : >"$T/garbage/stderr"
printf '{"version": 1, "command": "echo x", "workdir": "C:\\\\", "env": [{"name": 3}]}' >"$T/garbage/request.json"
"$OSRUN_WINE" "$OSRUN_GUEST_EXE" --share "$(winpath "$T/garbage")" --state "$(winpath "$T/garbage.state")" exec \
	>/dev/null 2>&1 </dev/null
res=$(cat "$T/garbage/result" 2>/dev/null)
check "a malformed request: an error result, nothing run" \
	'[ "$res" = "error request.json is not a request this helper can read" ] && [ ! -s "$T/garbage/stdout" ] || { echo "#   $res"; false; }'
"$OSRUN_WINE" "$OSRUN_GUEST_EXE" --share "$(winpath "$T/garbage")" mount >/dev/null 2>&1 </dev/null
mountrc=$?
check "mount: the share answers (its stdin is there)" '[ $mountrc = 0 ]'
# Wine's console session is its one user: the path that acts as that user
# (WTSQueryUserToken, ImpersonateLoggedOnUser) runs; what net use lists
# there is Windows' to show (docs/windows.md).
timeout 60 "$OSRUN_WINE" "$OSRUN_GUEST_EXE" --share "$(winpath "$T/garbage")" detach >/dev/null 2>"$T/detach.err" </dev/null
detachrc=$?
check "detach: ends with 0 after dropping connections as SYSTEM and as the logged-on user" \
	'[ $detachrc = 0 ] && [ ! -s "$T/detach.err" ] || { echo "#   $detachrc: $(cat "$T/detach.err")"; false; }'

echo "1..$n"
echo "# wine: $pass passed, $fail failed"
[ "$fail" = 0 ]
