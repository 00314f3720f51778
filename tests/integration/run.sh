#!/bin/sh
# Integration tests: the real osrun binary against real QEMU (TCG) and the
# Linux test guest. Everything lives in one temporary directory, removed at
# the end (KEEP=1 keeps it). After every test, no QEMU or smbd of the test
# may be left and no run directory may remain.
#   OSRUN=path/to/osrun OSRUN_GUEST_DIR=path/to/guest sh tests/integration/run.sh [TEST...]
set -u
: "${OSRUN:?set OSRUN to the osrun binary}"
: "${OSRUN_GUEST_DIR:?set OSRUN_GUEST_DIR to the built test guest}"
export OSRUN_GUEST_DIR

T=$(mktemp -d /tmp/osrun-itest.XXXXXX)
export OSRUN_CACHE="$T/cache"
export TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
cleanup() {
	pkill -KILL -f "$T/" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then echo "# kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0 fail=0 skipped=0 failed_names=""
current=""
err() { echo "#   $*"; current_failed=1; }
# The test (or a part of it) cannot run here: it is counted as skipped, not
# passed, and under OSRUN_STRICT_SKIPS=1 (CI) it fails unless
# tests/allowed-skips lists "integration: REASON".
skip() { echo "#   skipped: $*"; current_skip=${current_skip:+$current_skip; }$*; }
skip_list=$(dirname "$0")/../allowed-skips
# A noVNC page's websocket, read as a viewer would (tests cd elsewhere).
RFB_WS="$(cd "$(dirname "$0")" && pwd)/rfb-ws.py"
. "$(dirname "$0")/../skips.sh"

# Every QEMU and smbd of these tests has $T in its command line (its files
# and its smbd configuration live there).
leftovers() {
	procs=$(pgrep -a -f "$T/" | grep -v -e pgrep -e 'run.sh' || true)
	[ -n "$procs" ] && err "processes left: $procs"
	dirs=$(ls -A "$TMPDIR" 2>/dev/null)
	# What is in it and who holds its lock say whose it was (seen after
	# t_pool_keeper_killed, about one run in five, session 10).
	[ -n "$dirs" ] && err "run directories left: $dirs: $(cd "$TMPDIR" && ls -A -- * 2>&1 | tr '\n' ' ')" \
		"lock held by: $(fuser "$TMPDIR"/*/.lock 2>&1 | tr '\n' ' ') $(pgrep -a -f 'osrun' | grep -v -e pgrep -e run.sh | tr '\n' '|')"
	return 0
}

run_test() {
	current=$1 current_failed=0 current_skip=""
	# A misspelt name on the command line must not print "ok".
	if command -v "$1" >/dev/null 2>&1; then "$1"; else err "no such test: $1"; fi
	leftovers
	if [ -n "$current_skip" ] && [ "$current_failed" = 0 ] && ! skip_allowed "integration: $current_skip"; then
		err "a skip CI does not allow (tests/allowed-skips): $current_skip"
	fi
	if [ "$current_failed" = 0 ] && [ -n "$current_skip" ]; then
		skipped=$((skipped + 1)); echo "ok - $1 # SKIP $current_skip"
	elif [ "$current_failed" = 0 ]; then
		pass=$((pass + 1)); echo "ok - $1"
	else
		fail=$((fail + 1)); failed_names="$failed_names $1"; echo "not ok - $1"
		pkill -KILL -f "$T/" 2>/dev/null; rm -rf "$TMPDIR"/* 2>/dev/null
	fi
}

# osrun with its streams in files: $T/out, $T/err; $rc
o() {
	"$OSRUN" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}
# osrun in the background, streams in $T/out and $T/err, its pid in $pid.
# The files are emptied here, before it forks: a job's own redirection runs
# only when the child does, and under load a wait on $T/out read the last
# test's "started" and signalled an osrun that had not begun (session 10).
o_bg() {
	: >"$T/out"; : >"$T/err"
	"$OSRUN" "$@" >"$T/out" 2>"$T/err" </dev/null &
	pid=$!
}
# Waits (up to $1 tenths of a second, default 200) for "started" on $T/out.
wait_started() { i=0; while [ "$(head -n1 "$T/out")" != started ] && [ $i -lt "${1:-200}" ]; do sleep 0.1; i=$((i+1)); done; }
expect_rc() { [ "$rc" = "$1" ] || err "exit code $rc, expected $1 (stderr: $(head -c 600 "$T/err"))"; }
expect_out() { [ "$(cat "$T/out")" = "$1" ] || err "stdout '$(head -c 300 "$T/out")', expected '$1'"; }
expect_err_has() { grep -q -- "$1" "$T/err" || err "stderr lacks '$1': $(head -c 600 "$T/err")"; }
# One error line, besides the KVM warning and progress lines.
one_line_err() {
	[ "$(grep -v -e 'warning:' -e 'booting the built image' -e ': stage ' -e 'stages cached' "$T/err" | wc -l)" = 1 ] ||
		err "expected one error line: $(cat "$T/err")"
}
now() { date +%s.%N; }
elapsed() { awk -v a="$(now)" -v b="$1" "BEGIN { print a - b }"; }

# --- set-up --------------------------------------------------------------
t_provision() {
	o provision
	expect_rc 0
	expect_err_has "saved snapshot 'provisioned'"
	expect_err_has "no usable /dev/kvm"
	[ -f "$OSRUN_CACHE/snapshots/provisioned/meta.json" ] || err "no meta.json"
	expect_err_has "stage 1/2 base: done"
	expect_err_has "stage 2/2 finish: done"
	# What the stage scripts wrote on the disk is in the snapshot.
	o 'cat /data/osrun/stages'
	expect_rc 0
	expect_out "base
finish"
}

# --- the stage engine (issue 4) -----------------------------------------
# A QEMU that counts the machines it starts (a disk: not the diskless
# probe osrun makes of a /dev/kvm), to tell a cached stage from a rerun one.
counting_qemu() {
	printf '#!/bin/sh\ncase " $* " in *" -drive "*) echo start >>"%s";; esac\nexec qemu-system-x86_64 "$@"\n' \
		"$T/qemu-starts" >"$T/qemu-count"
	chmod +x "$T/qemu-count"
	: >"$T/qemu-starts"
}
starts() { wc -l <"$T/qemu-starts" | tr -d ' '; }

t_stage_cache() {
	c="$T/stage-cache"
	OSRUN_CACHE=$c o provision --keep
	expect_rc 0
	ls "$c/stages" | grep -q '^base-' || err "--keep: no base layer kept: $(ls "$c/stages")"
	ls "$c/stages" | grep -q '^finish-' || err "--keep: no finish layer kept"
	# Same inputs: nothing boots.
	counting_qemu
	OSRUN_QEMU="$T/qemu-count" OSRUN_CACHE=$c o provision --keep
	expect_rc 0
	expect_err_has "snapshot 'provisioned' is up to date"
	[ "$(starts)" = 0 ] || err "an up-to-date provision started QEMU $(starts) times"
	# The last stage's script changed: only it reruns (and the final save).
	cp -r "$OSRUN_GUEST_DIR" "$T/guest2"
	echo 'echo changed >>/data/osrun/stages' >>"$T/guest2/stages/finish.sh"
	OSRUN_QEMU="$T/qemu-count" OSRUN_CACHE=$c o provision --keep --guest "$T/guest2"
	expect_rc 125
	expect_err_has "built from other inputs (replace it with --force)"
	OSRUN_QEMU="$T/qemu-count" OSRUN_CACHE=$c o provision --keep --force --guest "$T/guest2"
	expect_rc 0
	expect_err_has "stage 1/2 base: cached"
	expect_err_has "stage 2/2 finish: done"
	[ "$(starts)" = 2 ] || err "expected 2 QEMU starts (finish, save), got $(starts)"
	OSRUN_CACHE=$c o 'cat /data/osrun/stages'
	expect_out "base
finish
changed"
	[ "$(ls "$c/stages" | grep -c '^finish-')" = 2 ] || err "--keep: both finish layers should stay: $(ls "$c/stages")"
	# Without --keep the layers go; the built image stands alone.
	OSRUN_CACHE="$T/stage-nokeep" o provision
	expect_rc 0
	[ -z "$(ls -A "$T/stage-nokeep/stages")" ] || err "layers left without --keep: $(ls -A "$T/stage-nokeep/stages")"
	OSRUN_CACHE="$T/stage-nokeep" o 'cat /data/osrun/stages'
	expect_out "base
finish"
	rm -rf "$c" "$T/stage-nokeep" "$T/guest2"
}

# A stage whose script fails stops the build with the guest's own words.
t_stage_script_fails() {
	cp -r "$OSRUN_GUEST_DIR" "$T/guest3"
	printf 'echo "installing the frobnicator"\nexit 7\n' >"$T/guest3/stages/finish.sh"
	OSRUN_CACHE="$T/stage-fail" o provision --guest "$T/guest3"
	expect_rc 125
	expect_err_has "stage finish failed: the stage script exited 7; its console log is in $T/stage-fail/logs/stage-finish-"
	log=$(ls -d "$T"/stage-fail/logs/stage-finish-*/ 2>/dev/null | head -1)
	[ -n "$log" ] && [ -s "$log/console.log" ] || err "no console log kept: $(ls -R "$T/stage-fail/logs" 2>&1)"
	grep -q "installing the frobnicator" "$log/status.txt" 2>/dev/null || err "no status lines kept"
	[ "$(stat -c %a "$log")" = 700 ] || err "the log directory is not private"
	[ ! -e "$T/stage-fail/snapshots/provisioned" ] || err "a snapshot was made from a failed build"
	ls "$T/stage-fail/stages" | grep -q '^base-' || err "the finished stage was not kept for the next try"
	ls -A "$T/stage-fail/stages" | grep -q '^\.' && err "a half-made stage was left: $(ls -A "$T/stage-fail/stages")"
	rm -rf "$T/stage-fail" "$T/guest3"
}

# A copy of the test guest in $1 whose disk is a GPT with an NTFS volume
# holding what Windows Setup and the stage runner leave (made without root:
# mkntfs, the files applied from a WIM by wimlib as Setup applies its
# image, sfdisk); the files are also in $T/ntfs/src. The guest boots
# without its disk. Fails (returns 1) when a tool is missing or fails.
ntfs_guest() {
	for tool in mkntfs sfdisk wimlib-imagex; do
		command -v "$tool" >/dev/null || { skip "$tool is not installed (make deps)"; return 1; }
	done
	cp -r "$OSRUN_GUEST_DIR" "$1"
	d=$T/ntfs
	rm -rf "$d" && mkdir -p "$d/src/Windows/Panther" "$d/src/osrun"
	# Larger than an MFT record, so its data lies outside it.
	{ echo "2026-12-06 06:01:02, Info [0x0640ae] IBS Callback_Productkey_Validate"; seq 1 40000; } \
		>"$d/src/Windows/Panther/setupact.log"
	echo "2026-12-06 06:01:03, Error [0x0606cc] IBS the product key is wrong" >"$d/src/Windows/Panther/setuperr.log"
	echo "firstlogon: drivers installed" >"$d/src/osrun/build.log"
	{ truncate -s 16M "$d/vol.img" && mkntfs -F -Q -q -s 512 -p 2048 -H 255 -S 63 "$d/vol.img" &&
		wimlib-imagex capture "$d/src" "$d/vol.wim" --compress=none >/dev/null &&
		wimlib-imagex apply "$d/vol.wim" 1 "$d/vol.img" >/dev/null && truncate -s 32M "$d/disk.raw" &&
		echo 'label: gpt
start=2048, size=32768, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' | sfdisk -q "$d/disk.raw" &&
		dd if="$d/vol.img" of="$d/disk.raw" bs=1M seek=1 conv=notrunc status=none &&
		qemu-img convert -q -f raw -O qcow2 "$d/disk.raw" "$1/disk.qcow2"; } >"$d/log" 2>&1 ||
		{ err "making the NTFS disk failed: $(cat "$d/log")"; return 1; }
}

# Checks the log directory $1 holds the setup logs of ntfs_guest byte for
# byte, 0600, and nothing the disk lacks.
setup_logs_kept() {
	for f in Windows/Panther/setupact.log Windows/Panther/setuperr.log osrun/build.log; do
		k=$1/$(basename "$f")
		cmp -s "$T/ntfs/src/$f" "$k" || err "$f not kept byte for byte: $(ls -l "$1" 2>&1)"
		[ "$(stat -c %a "$k" 2>/dev/null)" = 600 ] || err "$k is not 0600"
	done
	[ -s "$1/console.log" ] || err "no console log kept"
	[ -z "$(ls -A "$1" | grep -v -x -e console.log -e status.txt -e 'screen.p[np][gm]' -e setupact.log \
		-e setuperr.log -e build.log)" ] || err "more was kept: $(ls -A "$1")"
}

# A failed stage keeps the logs Windows Setup and the stage runner left on
# the stage's disk, read after its QEMU stopped.
t_stage_setup_logs() {
	ntfs_guest "$T/guest5" || return
	printf 'echo "installing the frobnicator"\nexit 7\n' >"$T/guest5/stages/finish.sh"
	OSRUN_CACHE="$T/stage-logs" o provision --guest "$T/guest5"
	expect_rc 125
	expect_err_has "stage finish failed: the stage script exited 7; its console log"
	expect_err_has "setup logs (setupact.log, setuperr.log, build.log) are in $T/stage-logs/logs/stage-finish-"
	setup_logs_kept "$(ls -d "$T"/stage-logs/logs/stage-finish-*/ 2>/dev/null | head -1)"
	rm -rf "$T/stage-logs" "$T/guest5" "$T/ntfs"
}

# So does a stage whose guest powers off without saying done (Windows
# Setup that gives up and restarts).
t_stage_stopped_setup_logs() {
	ntfs_guest "$T/guest6" || return
	printf 'echo "giving up"\npoweroff -f\n' >"$T/guest6/stages/finish.sh"
	OSRUN_CACHE="$T/stage-off" o provision --guest "$T/guest6"
	expect_rc 125
	expect_err_has "stage finish: the guest stopped 1 time without saying done; last status: giving up; its console log"
	expect_err_has "setup logs (setupact.log, setuperr.log, build.log) are in $T/stage-off/logs/stage-finish-"
	setup_logs_kept "$(ls -d "$T"/stage-off/logs/stage-finish-*/ 2>/dev/null | head -1)"
	rm -rf "$T/stage-off" "$T/guest6" "$T/ntfs"
}

# A stage that says it failed and then hangs ends at once, not at its
# timeout (a Windows stage's is hours).
t_stage_says_failed() {
	cp -r "$OSRUN_GUEST_DIR" "$T/guest4"
	printf 'echo "failed: the frobnicator broke"\nsleep 600\n' >"$T/guest4/stages/finish.sh"
	t0=$(now)
	OSRUN_CACHE="$T/stage-said" o provision --guest "$T/guest4"
	expect_rc 125
	expect_err_has "stage finish failed: the frobnicator broke; its console log"
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 120) }')" = 1 ] || err "took $(elapsed "$t0") s"
	ls -d "$T"/stage-said/logs/stage-finish-*/ >/dev/null 2>&1 || err "nothing kept in logs/"
	rm -rf "$T/stage-said" "$T/guest4"
}

# A guest whose share cannot be reached has only its serial console to say
# so (guest-init/windows/*.ps1 write "osrun-status: " lines there too): a
# failure said there ends the stage at once as well.
t_stage_fails_on_console() {
	cp -r "$OSRUN_GUEST_DIR" "$T/guest5"
	printf 'echo "osrun-status: failed: firstboot: the share did not answer" >/dev/ttyS0\necho "failed: no such words" >/dev/ttyS0\nsleep 600\n' >"$T/guest5/stages/finish.sh"
	t0=$(now)
	OSRUN_CACHE="$T/stage-con" o provision --guest "$T/guest5"
	expect_rc 125
	expect_err_has "stage finish failed: firstboot: the share did not answer; its console log"
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 120) }')" = 1 ] || err "took $(elapsed "$t0") s"
	rm -rf "$T/stage-con" "$T/guest5"
}

# --- exit codes and streams ----------------------------------------------
t_exit_codes() {
	for c in 0 1 3 255; do
		o "exit $c"
		expect_rc "$c"
	done
}

t_killed_by_signal() {
	o 'echo before; kill -9 $$'
	expect_rc 137
	expect_out before
	expect_err_has "killed by signal 9 (SIGKILL)"
}

t_streams_separate() {
	o 'uname -s; echo done >&2; exit 3'
	expect_rc 3
	expect_out Linux
	[ "$(grep -v 'warning:' "$T/err")" = done ] || err "stderr: $(cat "$T/err")"
}

# The first lines must arrive while the command still runs.
t_output_is_live() { output_is_live; }
# osrun "$@" COMMAND, its lines seen while it runs.
output_is_live() {
	# Lockstep: the command waits for a line on stdin that the test writes
	# only after it has read the command's first lines, so output that
	# came only at the end would stall the run into its timeout (124).
	rm -f "$T/fi" "$T/fo" "$T/fe"; mkfifo "$T/fi" "$T/fo" "$T/fe"
	"$OSRUN" "$@" -t 120 'echo out1; echo err1 >&2; read go; echo "out2 $go"; echo err2 >&2' \
		<"$T/fi" >"$T/fo" 2>"$T/fe" &
	pid=$!
	exec 5>"$T/fi" 3<"$T/fo" 4<"$T/fe"
	read -r l1 <&3
	e1=""
	while read -r e1 <&4; do case $e1 in *warning:*) continue ;; esac; break; done
	# A subshell takes the SIGPIPE if osrun is gone already.
	(echo go >&5) 2>/dev/null
	exec 5>&-
	rest_o=$(cat <&3); rest_e=$(cat <&4)
	exec 3<&- 4<&-
	wait $pid; rc=$?
	expect_rc 0
	[ "$l1" = out1 ] || err "first stdout line '$l1'"
	[ "$e1" = err1 ] || err "first stderr line '$e1'"
	[ "$rest_o" = "out2 go" ] && [ "$rest_e" = err2 ] || err "later lines '$rest_o' '$rest_e'"
}

t_big_output_exact() {
	o 'seq 1 3000000'
	expect_rc 0
	seq 1 3000000 > "$T/expected"
	cmp -s "$T/out" "$T/expected" || err "20 MB output differs ($(wc -c <"$T/out") bytes)"
	[ "$(wc -c <"$T/out")" -gt 20000000 ] || err "output smaller than 20 MB"
}

t_binary_output_exact() {
	o 'i=0; while [ $i -lt 256 ]; do printf "\\$(printf %o $i)"; i=$((i+1)); done'
	expect_rc 0
	i=0; while [ $i -lt 256 ]; do printf "\\$(printf %o $i)"; i=$((i+1)); done > "$T/expected"
	cmp -s "$T/out" "$T/expected" || err "all 256 byte values: output differs"
}

t_utf8() {
	o "echo 'héllo wörld ✓ 日本語'; echo 'ünïcode' >&2"
	expect_rc 0
	expect_out 'héllo wörld ✓ 日本語'
	expect_err_has 'ünïcode'
}

t_stdin_piped() {
	head -c 3000000 /dev/urandom > "$T/in"
	"$OSRUN" 'cat; echo end >&2' <"$T/in" >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	cmp -s "$T/in" "$T/out" || err "stdin did not reach the command byte-exact"
	printf 'line one\nline two\n' | "$OSRUN" 'wc -l' >"$T/out" 2>"$T/err"
	[ "$(tr -d ' ' <"$T/out")" = 2 ] || err "piped stdin: '$(cat "$T/out")'"
}

# A child left behind with the command's stdout (a daemon, `cmd &`) holds
# the guest's stdout pump open: the run still ends, with the command's
# status and all it wrote before its end.
t_child_holds_stdout() {
	t0=$(now)
	o 'echo before; sleep 60 & echo after; exit 5'
	took=$(elapsed "$t0")
	expect_rc 5
	expect_out "before
after"
	awk -v t="$took" 'BEGIN { exit !(t < 15) }' || err "took $took s"
}

# A pump that is slow after the command's end (a loaded host starves it)
# still delivers the command's last bytes: the helper (osrun-guest exec,
# the command's parent) pumps them before it says the command ended. The
# command stops the helper before its last line and lets a detached child
# continue it 4 s after the command has exited.
t_slow_pump_tail_kept() {
	o 'echo first
h=$PPID
grep -q osrun-guest "/proc/$h/cmdline" || { echo "the parent is not the helper" >&2; exit 9; }
kill -STOP "$h"
echo tail
(sleep 4; kill -CONT "$h") </dev/null >/dev/null 2>&1 &
exit 0'
	expect_rc 0
	expect_out "first
tail"
}

# Block-buffered output (1 MiB writes of random bytes, 20 MB of zeros from
# a pipe) arrives byte-exact through osrun's SMB server.
t_block_output_exact() {
	o 'head -c 8000000 /dev/urandom >/tmp/r; md5sum </tmp/r | cut -d" " -f1 >&2; dd if=/tmp/r bs=1M 2>/dev/null'
	expect_rc 0
	sum=$(md5sum <"$T/out" | cut -d' ' -f1)
	expect_err_has "$sum"
	[ "$(wc -c <"$T/out")" = 8000000 ] || err "1 MiB writes: $(wc -c <"$T/out") bytes"
	o 'cat /dev/zero | head -c 20000000'
	expect_rc 0
	head -c 20000000 /dev/zero | cmp -s - "$T/out" || err "20 MB of zeros: $(wc -c <"$T/out") bytes, or not zeros"
}

# A piped stdin is streamed: the command has the first line before the last
# is written, and what arrives is byte-exact.
t_stdin_streamed() {
	rm -f "$T/fi" "$T/fo"; mkfifo "$T/fi" "$T/fo"
	"$OSRUN" 'read a; echo "got $a"; read b; echo "got $b"' <"$T/fi" >"$T/fo" 2>"$T/err" &
	pid=$!
	exec 3>"$T/fi" 4<"$T/fo"
	echo first >&3
	l1=""; read -r l1 <&4
	echo last >&3
	exec 3>&-
	l2=""; read -r l2 <&4
	exec 4<&-
	wait $pid; rc=$?
	expect_rc 0
	[ "$l1" = "got first" ] || err "the command did not see the first line before the last was written: '$l1'"
	[ "$l2" = "got last" ] || err "second line '$l2'"
	head -c 5000000 /dev/urandom >"$T/in"
	cat "$T/in" | "$OSRUN" 'md5sum | cut -d" " -f1' >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	expect_out "$(md5sum <"$T/in" | cut -d' ' -f1)"
	# The command ends before its stdin does: osrun does not wait for it.
	rm -f "$T/fi"; mkfifo "$T/fi"
	t0=$(now)
	"$OSRUN" 'echo early' <"$T/fi" >"$T/out" 2>"$T/err" &
	pid=$!
	exec 3>"$T/fi"
	wait $pid; rc=$?
	took=$(elapsed "$t0")
	exec 3>&-
	expect_rc 0
	expect_out early
	[ "$(awk -v t="$took" "BEGIN { print (t < 20) }")" = 1 ] || err "waited for stdin after the command ended: $took s"
}

# --timeout counts a stdin that never ends.
t_stdin_never_ends() {
	t0=$(now)
	sleep 60 | "$OSRUN" -t 3 cat >"$T/out" 2>"$T/err" &
	pid=$!
	while kill -0 $pid 2>/dev/null && [ "$(awk -v t="$(elapsed "$t0")" "BEGIN { print (t < 30) }")" = 1 ]; do
		sleep 0.2
	done
	took=$(elapsed "$t0")
	kill -0 $pid 2>/dev/null && err "osrun still runs after $took s with -t 3"
	pkill -f "^sleep 60$" 2>/dev/null
	# $! is the pipeline's last command: osrun's own exit status.
	wait $pid; rc=$?
	expect_rc 124
	expect_err_has "timed out after 3.0 s"
}

# A command exec'd in place of the guest's helper inherits the helper's
# children; busybox tar waits for all of them at its end, so the stdin
# follower and the stdout pump must not be among them (a pipe into
# `tar -x` hung until the timeout, with 10 files or 10,000).
t_stdin_into_exec_tar() {
	mkdir -p "$T/tree/d" && echo one >"$T/tree/a" && echo two >"$T/tree/d/b"
	tar -C "$T" -cf - tree | "$OSRUN" -t 60 'tar -x -C /tmp' >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	tar -C "$T" -cf - tree | "$OSRUN" -t 60 'mkdir -p /x && tar -x -C /x && cat /x/tree/d/b' >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	[ "$(cat "$T/out")" = two ] || err "the tree piped in: '$(cat "$T/out")'"
}

# No TCP port listens for the guest's SMB server, neither smbd's nor
# QEMU's, while a command runs; the smbd serving it is osrun's, configured
# in the run directory.
listening_inodes() {
	awk 'NR > 1 && $4 == "0A" { print $10 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}
socket_inodes_of() {
	ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'
}
t_smb_no_tcp_listener() {
	o_bg 'echo started; sleep 4'
	wait_started 300
	smbd=$(pgrep -f "smbd.*$T/tmp/osrun-run" | head -n1)
	qemu=$(pgrep -f "qemu-system.*$T/" | head -n1)
	[ -n "$smbd" ] || err "no smbd of the run found"
	[ -n "$qemu" ] || err "no QEMU of the run found"
	grep -q "server min protocol = SMB2_02" "$(ls -d "$T"/tmp/osrun-run.*/smb.*)/smb.conf" 2>/dev/null ||
		err "smbd's configuration is not osrun's"
	# osrun too: it makes the loopback pair's listener, which must be gone
	# once its own connection is accepted, before the guest runs.
	listen=$(listening_inodes)
	[ -n "$(socket_inodes_of "$pid")" ] || err "osrun ($pid) has no sockets to look at"
	for p in $pid $smbd $qemu; do
		for ino in $(socket_inodes_of "$p"); do
			echo "$listen" | grep -qx "$ino" && err "process $p listens on TCP (socket $ino)"
		done
	done
	wait $pid; rc=$?
	expect_rc 0
}

t_env_and_workdir() {
	o -e GREETING=hello -e 'TWO=a b' -w /tmp 'echo "$GREETING $TWO $(pwd)"'
	expect_rc 0
	expect_out 'hello a b /tmp'
	# A name given twice reaches the guest once, with the last value.
	o -e A=1 -e A=2 'env | grep -c "^A="; echo "$A"'
	expect_rc 0
	expect_out "$(printf '1\n2')"
	o -e OSRUN_CMD=x 'true'
	expect_rc 125
	expect_err_has "OSRUN_ are osrun's own"
	# The helper's own failure is told apart from the command's exit code.
	o -w /nonexistent 'echo ran'
	expect_rc 125
	expect_out ''
	expect_err_has "the guest could not run the command: working directory /nonexistent does not exist"
	# A directory name with a line feed (-w, or a build file's WORKDIR)
	# still makes a one-line result.
	o -w "$(printf '/no\nwhere')" 'echo ran'
	expect_rc 125
	expect_out ''
	expect_err_has "the guest could not run the command: working directory /no?where does not exist"
}

t_timeout() {
	t0=$(now)
	o -t 2 'sleep 60'
	took=$(elapsed "$t0")
	expect_rc 124
	expect_err_has "timed out"
	[ "$(awk -v t="$took" "BEGIN { print (t < 10) }")" = 1 ] || err "took $took s"
}

# --- snapshots -----------------------------------------------------------
t_new_snapshot_layers() {
	o -n after 'echo made > /root/ram-file; echo disk > /data/disk-file; sync'
	expect_rc 0
	o -s after 'cat /root/ram-file /data/disk-file'
	expect_rc 0
	expect_out "$(printf 'made\ndisk')"
	o 'cat /root/ram-file'
	expect_rc 1
	o 'cat /data/disk-file'
	expect_rc 1
	# A failed command's state is not a layer, unless asked for.
	o -n failed 'echo half > /data/half; exit 7'
	expect_rc 7
	expect_err_has "snapshot 'failed' not saved: the command exited with status 7"
	[ ! -e "$OSRUN_CACHE/snapshots/failed" ] || err "a failed command's snapshot was saved"
	[ -z "$(ls -A "$OSRUN_CACHE/snapshots" | grep '^\.')" ] || err "leftovers: $(ls -A "$OSRUN_CACHE/snapshots")"
	o -n failed --save-failed 'echo half > /data/half; exit 7'
	expect_rc 7
	o -s failed 'cat /data/half'
	expect_out half
	o snapshot rm failed
	# Guest RAM, disks and state: private, from provision on.
	wide=$(find "$OSRUN_CACHE" ! -type l -perm /077 -printf '%m %p\n')
	[ -z "$wide" ] || err "store entries open to group or others: $wide"
}

t_parallel_runs_isolated() {
	before=$(cd "$OSRUN_CACHE/snapshots/provisioned" && md5sum disk.qcow2 memory state)
	"$OSRUN" 'echo a > /root/mine; sleep 2; ls /root' >"$T/a" 2>"$T/ae" </dev/null & pa=$!
	"$OSRUN" 'echo b > /root/other; sleep 2; ls /root' >"$T/b" 2>"$T/be" </dev/null & pb=$!
	wait $pa; ra=$?; wait $pb; rb=$?
	[ $ra = 0 ] && [ $rb = 0 ] || err "exit codes $ra $rb: $(cat "$T/ae" "$T/be")"
	[ "$(cat "$T/a")" = mine ] || err "run a saw: $(cat "$T/a")"
	[ "$(cat "$T/b")" = other ] || err "run b saw: $(cat "$T/b")"
	after=$(cd "$OSRUN_CACHE/snapshots/provisioned" && md5sum disk.qcow2 memory state)
	[ "$before" = "$after" ] || err "snapshot files changed"
}

# --- errors --------------------------------------------------------------
t_unknown_snapshot() {
	o -s nosuch true
	expect_rc 125
	expect_err_has "snapshot 'nosuch': not found"
	one_line_err
}

t_bad_flags() {
	o --frobnicate true
	expect_rc 125
	expect_err_has "unknown option '--frobnicate'"
	one_line_err
	o --user true
	expect_rc 125
	expect_err_has "--user runs the command as a Windows guest's logged-on user; snapshot 'provisioned' is a linux guest"
	o -t soon true
	expect_rc 125
	expect_err_has "--timeout 'soon'"
	o -s '..' true
	expect_rc 125
	expect_err_has "snapshot name '..' starts with"
	# A '/' makes it a registry reference (pull on first use): this one
	# is refused as one, before anything is fetched or opened.
	o -s '../etc' true
	expect_rc 125
	expect_err_has "-s ../etc: has a '/', so it is taken for a registry reference"
	one_line_err
	o
	expect_rc 125
	expect_err_has "no command given"
}

t_missing_guest() {
	o provision --guest "$T/no-guest-here" --name other
	expect_rc 125
	expect_err_has "test guest: $T/no-guest-here/vmlinuz not found"
	one_line_err
}

t_agent_never_answers() {
	o provision --name noagent --append osrun.agent=off --boot-timeout 15
	expect_rc 125
	expect_err_has "guest agent did not answer within 15 s"
	one_line_err
	[ ! -e "$OSRUN_CACHE/snapshots/noagent" ] || err "a snapshot was left"
	[ -z "$(ls -A "$OSRUN_CACHE/snapshots" | grep '^\.new-')" ] || err "a half-made snapshot was left"
}

t_qemu_killed_mid_run() {
	o_bg 'echo started; sleep 30'
	wait_started
	pkill -KILL -f "qemu-system.*$TMPDIR/"
	wait $pid; rc=$?
	expect_rc 125
	expect_err_has "QEMU exited (killed by signal 9"
	one_line_err
}

# A /dev/kvm on which QEMU aborts (seen on a nested host: "failed to set
# MSR 0x10a", then an assertion) is tried and left for TCG, with a warning
# that says why; the run itself works. Without /dev/kvm, the warning says so.
t_kvm_unusable_falls_back() {
	printf '#!/bin/sh\ncase " $* " in *" kvm "*) echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2; kill -ABRT $$;; esac\nexec qemu-system-x86_64 "$@"\n' >"$T/qemu-nokvm"
	chmod +x "$T/qemu-nokvm"
	OSRUN_QEMU="$T/qemu-nokvm" o 'echo fine'
	expect_rc 0
	expect_out fine
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		expect_err_has "no usable /dev/kvm (QEMU fails on it: qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69)"
	else
		expect_err_has "no usable /dev/kvm (/dev/kvm: "
	fi
}

# A state saved under KVM's -cpu host does not move to another CPU model:
# refused before QEMU starts, naming both (the meta of a KVM host's
# snapshot, here with a CPU no machine has).
t_kvm_snapshot_other_cpu() {
	d=$OSRUN_CACHE/snapshots/othercpu
	mkdir -m 700 "$d"
	sed 's/"accel": *"tcg"/"accel":"kvm","cpu":"GenuineIntel 6\/999 Imaginary CPU"/' \
		"$OSRUN_CACHE/snapshots/provisioned/meta.json" >"$d/meta.json"
	grep -q Imaginary "$d/meta.json" || err "meta.json not rewritten: $(cat "$d/meta.json")"
	# Other tests count QEMU starts in the same file: start from none.
	rm -f "$T/qemu-starts"
	printf '#!/bin/sh\necho started >>"%s"\nexit 1\n' "$T/qemu-starts" >"$T/qemu-never"
	chmod +x "$T/qemu-never"
	OSRUN_ACCEL=kvm OSRUN_QEMU="$T/qemu-never" o -s othercpu 'echo never'
	expect_rc 125
	expect_err_has "snapshot 'othercpu' was saved under KVM on a GenuineIntel 6/999 Imaginary CPU; this host's CPU is a "
	[ ! -e "$T/qemu-starts" ] || err "QEMU was started"
	rm -rf "$d"
}

# QEMU that refuses its arguments dies at once: said at once, in its words.
t_qemu_refuses_arguments() {
	printf '#!/bin/sh\nexec qemu-system-x86_64 "$@" -no-such-option\n' >"$T/qemu-bad"
	chmod +x "$T/qemu-bad"
	t0=$(now)
	OSRUN_QEMU="$T/qemu-bad" o 'echo never'
	took=$(elapsed "$t0")
	expect_rc 125
	expect_err_has "starting QEMU: QEMU exited (exit status 1: qemu-system-x86_64: -no-such-option: invalid option)"
	one_line_err
	awk -v t="$took" 'BEGIN { exit !(t < 2) }' || err "took $took s (expected under 2 s)"
	OSRUN_QEMU="$T/no-such-qemu" o 'echo never'
	expect_rc 125
	expect_err_has "starting QEMU: No such file or directory"
}

# A user without a passwd entry (docker run --user UID:GID): QEMU gets one
# from nss_wrapper; the store's files are that user's. "nobody" is refused.
# user_store UID DIR: a copy of the store and a TMPDIR in DIR, UID's own.
user_store() {
	mkdir -p "$2/tmp"
	cp -a --sparse=always "$OSRUN_CACHE" "$2/cache"
	chown -R "$1:$1" "$2"
}
user_osrun() { # user_osrun UID DIR ARGS...: osrun as UID with its store and TMPDIR in DIR
	u=$1 d=$2; shift 2
	setpriv --reuid "$u" --regid "$u" --clear-groups env HOME=/nonexistent OSRUN_CACHE="$d/cache" TMPDIR="$d/tmp" \
		"$OSRUN" "$@" >"$T/out" 2>"$T/err" </dev/null
	rc=$?
}
as_user() { # the same, and no run directory may be left after it
	user_osrun "$@"
	[ -z "$(ls -A "$d/tmp")" ] || err "run directories left: $(ls -A "$d/tmp")"
}
t_user_without_passwd_entry() {
	getent passwd 4321 >/dev/null && { err "uid 4321 has a passwd entry here"; return; }
	chmod o+x "$T" # the users may pass through to their own directories
	user_store 4321 "$T/user4321"
	as_user 4321 "$T/user4321" 'echo hi; id -u; echo err >&2; exit 3'
	expect_rc 3
	expect_out "$(printf 'hi\n0')"
	expect_err_has "err"
	as_user 4321 "$T/user4321" -n mine 'echo layer > /data/layer'
	expect_rc 0
	owners=$(find "$T/user4321/cache/snapshots/mine" -printf '%u\n' | sort -u)
	[ "$owners" = 4321 ] || err "files of the new snapshot belong to: $owners"
	user_store 65534 "$T/nobody"
	as_user 65534 "$T/nobody" 'echo hi'
	expect_rc 125
	expect_err_has "cannot run as user 'nobody'"
	one_line_err
	rm -rf "$T/user4321" "$T/nobody"
}

interrupt() {
	o_bg -v 'echo started; sleep 30'
	# Signalled only once the command runs (under load, a start can take
	# long; before main() a signal would take its default action).
	wait_started 900
	[ "$(cat "$T/out")" = started ] ||
		err "the command did not start within 90 s: $(grep -v 'QEMU pid' "$T/err" | tail -5 | tr '\n' '|')
#   processes: $(ps -o pid,ppid,stat,wchan:32,etime,args --ppid $pid -p $pid 2>&1 | tr '\n' '|')
#   osrun's kernel stack: $(cat /proc/$pid/stack 2>/dev/null | head -8 | tr '\n' '|')"
	kill -"$1" $pid
	wait $pid; rc=$?
	expect_rc "$2"
	expect_err_has "interrupted by SIG$1"
}
t_sigint_mid_run() { interrupt INT 130; }
t_sigterm_mid_run() { interrupt TERM 143; }

t_snapshot_list() {
	o snapshot list --json
	expect_rc 0
	grep -q '"name": *"after"' "$T/out" || err "list lacks 'after': $(cat "$T/out")"
	grep -q '"parent": *"provisioned"' "$T/out" || err "list lacks the parent"
	o snapshot rm provisioned
	expect_rc 125
	expect_err_has "snapshot 'after' is built on it"
	# inspect: "key: value" lines for people, JSON with --json.
	o snapshot inspect after
	expect_rc 0
	grep -q '^parent: provisioned$' "$T/out" || err "inspect lacks 'parent: provisioned': $(cat "$T/out")"
	grep -q '^  memory_mib: 256$' "$T/out" || err "inspect lacks the machine's memory: $(cat "$T/out")"
	o snapshot inspect --json after
	expect_rc 0
	grep -q '"parent": *"provisioned"' "$T/out" || err "inspect --json lacks the parent: $(cat "$T/out")"
}

t_layers() {
	o -s provisioned -n la 'echo one > /data/one'
	expect_rc 0
	o -s la -n lb 'echo two > /root/two'
	expect_rc 0
	o -s lb 'cat /data/one /root/two'
	expect_rc 0
	expect_out "$(printf 'one\ntwo')"
	o -s la 'cat /data/one; test -e /root/two || echo no-two'
	expect_out "$(printf 'one\nno-two')"
	o snapshot rm la
	expect_rc 125
	expect_err_has "snapshot 'lb' is built on it"
	o snapshot rm lb
	expect_rc 0
	o snapshot rm la
	expect_rc 0
	o snapshot inspect la
	expect_rc 125
	expect_err_has "snapshot 'la': not found"
}

# SIGKILL leaves no handler to clean up: the next start (or gc) does.
t_sigkill_during_new_snapshot() {
	o_bg -n killed 'echo started; sleep 30'
	wait_started
	kill -KILL $pid
	{ wait $pid; } 2>/dev/null
	i=0; while pgrep -f "$T/" >/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
	ls -A "$OSRUN_CACHE/snapshots" | grep -q '^\.new-killed\.' || err "expected a leftover to collect"
	o snapshot gc --json
	expect_rc 0
	grep -q '"snapshots/\.new-killed\.' "$T/out" || err "gc did not report the leftover: $(cat "$T/out")"
	grep -q '"run_directories": 1' "$T/out" || err "gc did not report the run directory: $(cat "$T/out")"
	o snapshot list
	grep -q '^killed ' "$T/out" && err "the killed snapshot is listed"
	[ -z "$(ls -A "$OSRUN_CACHE/snapshots" | grep '^\.')" ] || err "half-written files remain"
}

t_memory_mismatch() {
	o provision --name small128 --memory 128
	expect_rc 0
	o -s small128 --memory 512 true
	expect_rc 125
	expect_err_has "saved with 128 MiB of guest memory; it cannot be restored into a 512 MiB machine"
	one_line_err
	o -s small128 'free -m | grep -i mem'
	expect_rc 0
	o snapshot rm small128
	expect_rc 0
}

# Debug listeners: only when asked, only in the run directory: no port.
t_debug_listeners() {
	o_bg --monitor --vnc 'sleep 4; echo done'
	i=0; while ! grep -q 'VNC: ' "$T/err" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	mon=$(sed -n 's/^osrun: QEMU monitor: \([^ ]*\) .*/\1/p' "$T/err")
	vnc=$(sed -n 's/^osrun: VNC: \([^ ]*\) .*/\1/p' "$T/err")
	[ -n "$mon" ] && [ -S "$mon" ] || err "no monitor socket: $(cat "$T/err")"
	case $mon in "$TMPDIR"/osrun-run.*/monitor.sock) ;; *) err "monitor outside the run directory: $mon" ;; esac
	[ -n "$vnc" ] && [ -S "$vnc" ] || err "no VNC socket: $(cat "$T/err")"
	case $vnc in "$TMPDIR"/osrun-run.*/vnc.sock) ;; *) err "VNC outside the run directory: $vnc" ;; esac
	# A VNC server answers with its protocol version.
	hello=$(python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(12).decode())' "$vnc")
	case $hello in RFB*) ;; *) err "no RFB greeting on $vnc: '$hello'" ;; esac
	qpid=$(pgrep -f "qemu-system.*$TMPDIR/" | head -1)
	[ -n "$qpid" ] && ss -ltnpH 2>/dev/null | grep -q "pid=$qpid," && err "QEMU listens on TCP: $(ss -ltnpH | grep "pid=$qpid,")"
	wait $pid; rc=$?
	expect_rc 0
	expect_out done
	o 'echo plain'
	grep -q -e 'VNC' -e 'monitor' "$T/err" && err "debug listeners without asking"
	return 0
}

t_novnc() {
	port=$((16000 + $$ % 1000))
	o_bg --novnc "127.0.0.1:$port" 'sleep 5; echo done'
	i=0; while ! grep -q 'noVNC: ' "$T/err" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	grep -q "noVNC: http://127.0.0.1:$port/vnc.html" "$T/err" || err "no noVNC line: $(cat "$T/err")"
	page=""
	i=0; while [ -z "$page" ] && [ $i -lt 30 ]; do
		page=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=2).status)" \
			"http://127.0.0.1:$port/vnc.html" 2>/dev/null); sleep 0.1; i=$((i+1))
	done
	[ "$page" = 200 ] || err "noVNC page not served"
	wait $pid; rc=$?
	expect_rc 0
	o --novnc 6080 true
	expect_rc 125
	expect_err_has "--novnc '6080': expected ADDRESS:PORT"
}

# --- pool ------------------------------------------------------------------
# Starts `osrun pool` with the given options; waits until its clones are
# ready. $pool_pid; its stderr in $T/pool.err.
# The waits below only catch hangs: with both cores busy and other suites
# running, a first clone took over 60 s to warm (session 10).
pool_start() {
	# Emptied first (as o_bg does): a test's second pool read the first
	# one's "ready" and went on before its own clone existed (session 10).
	: >"$T/pool.out"; : >"$T/pool.err"
	"$OSRUN" pool "$@" >"$T/pool.out" 2>"$T/pool.err" </dev/null &
	pool_pid=$!
	i=0; while ! grep -q "ready; 'osrun" "$T/pool.err" && [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done
	grep -q "ready; 'osrun" "$T/pool.err" || err "pool never ready in 180 s: $(cat "$T/pool.err")"
}
pool_stop() {
	kill -TERM $pool_pid; wait $pool_pid; prc=$?
	[ $prc = 0 ] || err "pool exit code $prc: $(cat "$T/pool.err")"
	[ -e "$OSRUN_CACHE/pools/provisioned.sock" ] && err "pool socket left behind"
	return 0
}
qemus() { pgrep -f "qemu-system.*$TMPDIR/" | wc -l; }
# Waits until exactly $1 QEMUs of this test run.
wait_qemus() {
	i=0; while [ "$(qemus)" != "$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
	[ "$(qemus)" = "$1" ] || err "$(qemus) QEMU processes, expected $1"
}

t_pool_runs() {
	pool_start -j 2
	o -v 'echo hi; echo oops >&2; touch /root/p; exit 3'
	expect_rc 3
	expect_out hi
	expect_err_has "running in a warm clone of pool 'provisioned'"
	expect_err_has "^oops"
	# A clone serves one command: the next one does not see its file.
	echo "from stdin" | "$OSRUN" -v -e FOO=bar -w /tmp 'ls /root/p 2>/dev/null || echo clean; echo $FOO; pwd; cat' \
		>"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	expect_out "$(printf 'clean\nbar\n/tmp\nfrom stdin')"
	expect_err_has "running in a warm clone"
	# A clone checks the client's options as a plain run does.
	o --memory 512 true
	expect_rc 125
	expect_err_has "cannot be restored into a 512 MiB machine"
	# Runs a clone cannot take restore their own.
	o -v -n frompool 'true'
	expect_rc 0
	grep -q "warm clone" "$T/err" && err "-n ran in a pool clone"
	o snapshot rm frompool
	pool_stop
}

t_pool_busy_falls_back() {
	pool_start -j 1
	pids=""
	for x in a b c; do "$OSRUN" -v "echo $x" >"$T/$x" 2>"$T/$x.err" </dev/null & pids="$pids $!"; done
	wait $pids
	for x in a b c; do [ "$(cat "$T/$x")" = $x ] || err "run $x: $(cat "$T/$x" "$T/$x.err")"; done
	# Three clients at once, one clone: at least one runs on its own (how
	# many depends on when each client connects and when the replacement
	# is ready, which load moves).
	n=$(cat "$T"/a.err "$T"/b.err "$T"/c.err | grep -c "no clone ready\|closed the connection")
	[ "$n" -ge 1 ] || err "no run restored its own clone: $(cat "$T"/a.err "$T"/b.err "$T"/c.err | grep -v 'QEMU pid')"
	pool_stop
}

# A client that connects and says nothing holds a clone 10 s at most; the
# pool replaces the clone and goes on serving.
t_pool_silent_client() {
	pool_start -j 1
	python3 - "$OSRUN_CACHE/pools/provisioned.sock" >"$T/silent" 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
t0 = time.monotonic()
s.settimeout(30)
try:
    data = s.recv(16)
except socket.timeout:
    data = b"timeout"
print("%.1f %r" % (time.monotonic() - t0, data))
PY
	silent=$!
	wait $silent
	read -r took said <"$T/silent"
	awk -v t="$took" 'BEGIN { exit !(t >= 9 && t < 15) }' || err "the silent client was dropped after $took s ($said)"
	[ "$said" = "b''" ] || err "the silent client got $said"
	o 'echo served'
	expect_rc 0
	expect_out served
	pool_stop
}

t_pool_sigint_client() {
	pool_start -j 1
	serving=$(pgrep -o -f "qemu-system.*$TMPDIR/")
	o_bg 'echo started; sleep 30'
	wait_started
	kill -INT $pid
	wait $pid; rc=$?
	expect_rc 130
	expect_err_has "interrupted by SIGINT; the VM is stopped"
	# The clone that ran it is gone at once, not when its 'sleep 30' ends;
	# its replacement waits.
	i=0; while kill -0 "$serving" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
	kill -0 "$serving" 2>/dev/null && err "the serving clone's QEMU ($serving) still runs 5 s after Ctrl-C"
	wait_qemus 1
	pool_stop
}

t_pool_clone_qemu_dies() {
	pool_start -v -j 1
	pkill -KILL -f "qemu-system.*$TMPDIR/"
	# The dead clone is dropped and replaced, not handed a command.
	i=0; while [ "$(grep -c ' ready (' "$T/pool.err")" -lt 2 ] && [ $i -lt 1800 ]; do sleep 0.1; i=$((i+1)); done
	grep -q "warm clone: QEMU exited (killed by signal 9" "$T/pool.err" || err "pool.err: $(cat "$T/pool.err")"
	o -v 'echo back'
	expect_rc 0
	expect_out back
	expect_err_has "running in a warm clone"
	pool_stop
}

t_pool_keeper_killed() {
	pool_start -j 1
	kill -KILL $pool_pid; wait $pool_pid 2>/dev/null
	wait_qemus 0
	# Seen once under load (two busy loops): the next pool was refused as
	# if this one still ran. Its clones close the listening socket when
	# forked, so who still held it is not known: this names the holder.
	i=0; while ss -xlH 2>/dev/null | grep -q "$OSRUN_CACHE/pools/provisioned.sock" && [ $i -lt 300 ]; do
		sleep 0.1; i=$((i+1)); done
	ss -xlH 2>/dev/null | grep -q "$OSRUN_CACHE/pools/provisioned.sock" &&
		err "the killed pool's socket still listens: $(ss -xlpH | grep pools/provisioned.sock)"
	o 'echo alone'
	expect_rc 0
	expect_out alone
	# The stale socket does not stop a new pool.
	pool_start -j 1
	clone=$(ls -A "$TMPDIR")
	# Bounded: a second pool that starts would otherwise run until stopped.
	rc=0; timeout 60 "$OSRUN" pool -j 1 >"$T/out" 2>"$T/err" </dev/null || rc=$?
	expect_rc 125
	expect_err_has "a pool for 'provisioned' already runs"
	# Asking did not spend the running pool's clone (it used to connect,
	# and the clone that took the silent client was replaced).
	sleep 1
	[ "$(ls -A "$TMPDIR")" = "$clone" ] || err "the pool's clone changed: '$clone' -> '$(ls -A "$TMPDIR" | tr '\n' ' ')'"
	pool_stop
	o pool -s nosuch
	expect_rc 125
	expect_err_has "snapshot 'nosuch': not found"
	o pool --help
	expect_rc 0
	grep -q "Usage: osrun pool" "$T/out" || err "pool --help: $(cat "$T/out")"
	o pool -j 0
	expect_rc 125
	expect_err_has "\-\-clones '0'"
}

ALL="t_provision t_exit_codes t_killed_by_signal t_streams_separate t_output_is_live t_big_output_exact
t_binary_output_exact t_block_output_exact t_child_holds_stdout t_slow_pump_tail_kept t_utf8 t_stdin_piped t_stdin_streamed t_stdin_never_ends t_stdin_into_exec_tar
t_smb_no_tcp_listener t_env_and_workdir t_timeout t_new_snapshot_layers
t_parallel_runs_isolated t_unknown_snapshot t_bad_flags t_missing_guest t_agent_never_answers
t_qemu_killed_mid_run t_kvm_unusable_falls_back t_kvm_snapshot_other_cpu t_qemu_refuses_arguments t_user_without_passwd_entry t_sigint_mid_run t_sigterm_mid_run t_snapshot_list t_layers
t_sigkill_during_new_snapshot t_memory_mismatch t_debug_listeners t_novnc t_stage_cache t_stage_script_fails t_stage_setup_logs t_stage_stopped_setup_logs t_stage_says_failed t_stage_fails_on_console
t_pool_runs t_pool_busy_falls_back t_pool_silent_client t_pool_sigint_client t_pool_clone_qemu_dies t_pool_keeper_killed"
. "$(dirname "$0")/ci-job.sh"
. "$(dirname "$0")/hostile.sh"
. "$(dirname "$0")/build.sh"
. "$(dirname "$0")/github.sh"
. "$(dirname "$0")/firstrun.sh"
. "$(dirname "$0")/selftest.sh"
. "$(dirname "$0")/registry.sh"
. "$(dirname "$0")/hostinfo.sh"
. "$(dirname "$0")/debian.sh"
. "$(dirname "$0")/real.sh"
ALL="$ALL $ALL_CI_JOB $ALL_HOSTILE $ALL_BUILD $ALL_FIRSTRUN"
ALL="$ALL $ALL_GITHUB $ALL_SELFTEST $ALL_REGISTRY $ALL_HOSTINFO"

tests=${*:-$ALL}
# make check-real: the Debian guest's tests (not in ALL: the guest is built
# from Debian's mirror).
[ "$tests" = real ] && tests="$ALL_DEBIAN $ALL_REAL"
# A test defined in a file but in no list would never run in CI.
if [ $# = 0 ]; then
	# ALL_DEBIAN and ALL_REAL run in CI too, by make check-real.
	all=" $(echo $ALL $ALL_DEBIAN $ALL_REAL) "
	for t in $(sed -n 's/^\(t_[a-z0-9_]*\)() *{.*/\1/p' "$(dirname "$0")"/*.sh); do
		case "$all" in *" $t "*) ;; *) echo "not ok - $t is defined but in no list of run.sh"; fail=$((fail + 1)) ;; esac
	done
fi
case " $tests " in *" t_provision "*) ;; *) tests="t_provision $tests" ;; esac
for t in $tests; do run_test "$t"; done
[ -n "$failed_names" ] && echo "# failed:$failed_names"
echo "integration: $pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
