# Integration tests for a CI job (issue 15: folders, copies, caches, sessions):
# sourced by run.sh, whose helpers (o, expect_*, err, $T) they use.

# Host folders: a write through a read-write volume lands on the host; a
# read-only one refuses writes even to a guest that mounts it again
# read-write (the server's rule); a symlink out of a shared folder leads
# nowhere. The rw folder is on tmpfs (/dev/shm), another filesystem than
# the store's.
t_volume_rw_ro() {
	rw=$(mktemp -d /dev/shm/osrun-vol.XXXXXX) ro="$T/vol-ro"
	mkdir -p "$ro" && echo original >"$ro/keep.txt" && echo secret >"$T/outside.txt"
	ln -s "$T/outside.txt" "$ro/out-link"
	ln -s .. "$ro/up"
	o --volume "$rw:/work" --volume "$ro:/mnt/src:ro" 'cat /mnt/src/keep.txt; echo made >/work/new.txt;
	mkdir /again && mount -t cifs //10.0.2.4/v1 /again -o ip=10.0.2.4,user=guest,pass=x,vers=2.1 || exit 9
	echo changed >/again/keep.txt && echo "wrote through rw mount"
	echo new >/again/other.txt && echo "created through rw mount"
	cat /mnt/src/out-link && echo "followed the symlink"
	ls /mnt/src/up/ >/dev/null 2>&1 && ls /mnt/src/up/ | grep -q outside.txt && echo "left the share"
	umount /again; true'
	expect_rc 0
	expect_out original
	[ "$(cat "$rw/new.txt" 2>/dev/null)" = made ] || err "rw volume: new.txt is '$(cat "$rw/new.txt" 2>&1)'"
	[ "$(cat "$ro/keep.txt")" = original ] || err "ro volume: keep.txt changed to '$(cat "$ro/keep.txt")'"
	[ -e "$ro/other.txt" ] && err "ro volume: other.txt was created"
	expect_err_has "Permission denied"
	rm -rf "$rw"
	# Read into a pipe (busybox cat: sendfile, i.e. splice), byte-exact and
	# ending: the guest kernel's splice from CIFS sent zeros without end
	# on cache=none and cache=strict mounts.
	head -c 300000 /dev/urandom >"$ro/blob" && printf 'seven\n' >"$ro/small"
	o -t 60 --volume "$ro:/v:ro" 'cat /v/small | wc -c; cat /v/blob | md5sum'
	expect_rc 0
	expect_out "$(printf '6\n%s  -' "$(md5sum <"$ro/blob" | cut -d' ' -f1)")"
	rm -f "$ro/blob" "$ro/small"
	o --volume "$T/no-such-dir:/x" true
	expect_rc 125
	expect_err_has "\-\-volume '$T/no-such-dir:/x': $T/no-such-dir: No such file or directory"
	o --volume "$T/vol-ro/keep.txt:/x" true
	expect_rc 125
	expect_err_has "is not a directory"
	o --volume "$ro:/a" --volume "$ro:/a" true
	expect_rc 125
	expect_err_has "two volumes at guest path '/a'"
	# A -n snapshot made with a volume mounted restores without it.
	o --volume "$ro:/mnt/src:ro" -n with-volume 'cat /mnt/src/keep.txt'
	expect_rc 0
	o -s with-volume 'ls /mnt/src | wc -l; mount | grep -c /mnt/src; true'
	expect_rc 0
	expect_out "0
0"
	o snapshot rm with-volume
}

# A tree goes in and out byte-exact, with modes and symlinks; copy-out
# happens after a failing command too; missing paths are named.
t_copy_in_out() {
	src="$T/src" out="$T/artifacts"
	mkdir -p "$src/sub/deep" "$out"
	head -c 300000 /dev/urandom >"$src/blob.bin"
	printf '#!/bin/sh\necho hi\n' >"$src/sub/run.sh" && chmod 750 "$src/sub/run.sh"
	echo ro >"$src/sub/deep/readonly.txt" && chmod 444 "$src/sub/deep/readonly.txt"
	ln -s sub/run.sh "$src/link"
	sum=$(md5sum <"$src/blob.bin")
	o --copy-in "$src:/build" --copy-in "$src/blob.bin:/tmp/one.bin" --copy-out /build:"$out" \
		'cd /build && md5sum <blob.bin && stat -c %a sub/run.sh sub/deep/readonly.txt && readlink link &&
	cmp blob.bin /tmp/one.bin && echo artifact >out.txt && chmod 640 out.txt && exit 3'
	expect_rc 3
	expect_out "$sum
750
444
sub/run.sh"
	[ "$(md5sum <"$out/build/blob.bin")" = "$sum" ] || err "copy-out: blob differs"
	[ "$(cat "$out/build/out.txt" 2>&1)" = artifact ] || err "copy-out after exit 3: out.txt missing"
	[ "$(stat -c %a "$out/build/out.txt" 2>/dev/null)" = 640 ] || err "copy-out: out.txt mode $(stat -c %a "$out/build/out.txt")"
	[ "$(stat -c %a "$out/build/sub/run.sh" 2>/dev/null)" = 750 ] || err "copy-out: run.sh mode"
	[ "$(readlink "$out/build/link")" = sub/run.sh ] || err "copy-out: symlink not kept"
	ls -A "$out" | grep -q osrun-copy && err "copy-out left its temporary directory: $(ls -A "$out")"
	# A target that exists (and is no directory to go into): refused before
	# anything starts.
	o --copy-out /build:"$out/build/out.txt" true
	expect_rc 125
	expect_err_has "exists (remove it first)"
	o --copy-in "$T/nothing-here:/x" true
	expect_rc 125
	expect_err_has "\-\-copy-in '$T/nothing-here:/x': $T/nothing-here: No such file or directory"
	# A guest path that is missing: named; a failed command keeps its code.
	o --copy-out /no/such/file:"$out" 'exit 4'
	expect_rc 4
	expect_err_has "/no/such/file: No such file or directory"
	o --copy-out /no/such/file:"$out" 'true'
	expect_rc 125
	expect_err_has "\-\-copy-out '/no/such/file:$out' failed in the guest"
}

# A guest that sends a hostile archive (its helper replaced by a script
# that answers "copy out TAR GUEST", renamed over the running one): nothing
# lands outside the target, nothing through a symlink, no device, no
# setuid bit; osrun says what it refused.
t_copy_out_hostile_guest() {
	out="$T/hostile" && mkdir -p "$out" "$T/victim"
	python3 - "$T" <<'PY'
import io, sys, tarfile
t = sys.argv[1]
def tar(name, members):
    with tarfile.open(f"{t}/{name}.tar", "w", format=tarfile.GNU_FORMAT) as f:
        for m, data in members:
            f.addfile(m, io.BytesIO(data) if data is not None else None)
def reg(n, data=b"x", mode=0o644):
    i = tarfile.TarInfo(n); i.size = len(data); i.mode = mode; return (i, data)
def sym(n, target):
    i = tarfile.TarInfo(n); i.type = tarfile.SYMTYPE; i.linkname = target; return (i, None)
def dev(n):
    i = tarfile.TarInfo(n); i.type = tarfile.CHRTYPE; i.devmajor = 1; i.devminor = 3; i.mode = 0o666; return (i, None)
tar("dotdot", [reg("art/ok"), reg("art/../../victim/pwned")])
tar("through", [sym("art/l", f"{t}/victim"), reg("art/l/pwned")])
tar("device", [reg("art/ok"), dev("art/null")])
tar("other", [reg("art/ok"), reg("elsewhere")])
tar("suid", [reg("art/tool", b"#!/bin/sh\n", 0o4755)])
PY
	# A few blocks that claim a terabyte: GNU tar --sparse of a file that is
	# all hole.
	mkdir -p "$T/sparse/art" && truncate -s 1T "$T/sparse/art/big" &&
		tar -C "$T/sparse" --sparse -cf "$T/sparse.tar" art && rm -rf "$T/sparse"
	for bad in dotdot through device other suid sparse; do
		o --copy-in "$T/$bad.tar:/tmp/bad.tar" --copy-out /art:"$out" \
			'printf "#!/bin/sh\ncp /tmp/bad.tar /run/osrun/\$OSRUN_RUN_ID/\$3\n" >/tmp/h && chmod 755 /tmp/h &&
			mv /tmp/h /usr/lib/osrun/osrun-guest'
		case $bad in
		suid)
			expect_rc 0
			[ "$(stat -c %a "$out/art/tool" 2>&1)" = 755 ] || err "suid: mode $(stat -c %a "$out/art/tool" 2>&1)"
			;;
		*)
			expect_rc 125
			expect_err_has "the guest's archive was refused"
			[ $bad = sparse ] && expect_err_has "member 'art/big': the files add up to more than the limit (8192 MiB)"
			[ -e "$out/art" ] && err "$bad: the target was made: $(ls -R "$out")"
			;;
		esac
		[ -n "$(ls -A "$T/victim")" ] && err "$bad: wrote outside the target: $(ls -A "$T/victim")"
		[ -e "$T/elsewhere" ] || [ -e "$out/elsewhere" ] && err "$bad: wrote elsewhere"
		ls -A "$out" | grep -q osrun-copy && err "$bad: left its temporary directory"
		rm -rf "$out/art"
	done
	o --copy-in "$T/dotdot.tar:/tmp/bad.tar" --copy-out /art:"$out" \
		'printf "#!/bin/sh\ncp /tmp/bad.tar /run/osrun/\$OSRUN_RUN_ID/\$3\n" >/tmp/h && chmod 755 /tmp/h &&
			mv /tmp/h /usr/lib/osrun/osrun-guest'
	expect_err_has "member 'art/../../victim/pwned'"
}

# The guest's "chmod 555" on what it sends, with osrun run by a user (root
# may move any directory): the copy lands with its modes, whole, and
# nothing is left beside it.
t_copy_out_read_only_as_user() {
	chmod o+x "$T"
	user_store 4321 "$T/ro"
	mkdir -p "$T/ro/out" && chown 4321:4321 "$T/ro/out"
	as_user 4321 "$T/ro" --copy-out "/art:$T/ro/out" \
		'mkdir -p /art/sub && echo kept >/art/sub/f && chmod 444 /art/sub/f && chmod 555 /art/sub /art'
	expect_rc 0
	[ "$(stat -c %a "$T/ro/out/art" "$T/ro/out/art/sub" 2>&1 | tr '\n' ' ')" = "555 555 " ] ||
		err "modes: $(ls -lR "$T/ro/out" 2>&1)"
	[ "$(cat "$T/ro/out/art/sub/f" 2>&1)" = kept ] || err "art/sub/f: $(cat "$T/ro/out/art/sub/f" 2>&1)"
	[ "$(ls -A "$T/ro/out")" = art ] || err "left beside the copy: $(ls -A "$T/ro/out")"
	rm -rf "$T/ro"
}

# A cache volume outlives its runs, one run at a time; list and rm know it.
t_cache_volume() {
	o --cache-volume deps:/var/cache/deps 'echo one >>/var/cache/deps/log'
	expect_rc 0
	"$OSRUN" --cache-volume deps:/c 'sleep 6' >/dev/null 2>&1 &
	holder=$!
	for i in $(seq 1 100); do
		o snapshot list --cache-volumes
		grep -q "deps .* yes" "$T/out" && break
		sleep 0.1
	done
	grep -q "deps .* yes" "$T/out" || err "list: deps not in use: $(cat "$T/out")"
	o --cache-volume deps:/c 'echo two >>/c/log'
	expect_rc 125
	expect_err_has "cache volume 'deps' is in use by another run (one at a time)"
	o snapshot rm --cache-volumes deps
	expect_rc 125
	expect_err_has "not removed, a run is using it"
	wait $holder
	o --cache-volume deps:/c 'echo two >>/c/log; cat /c/log'
	expect_rc 0
	expect_out "one
two"
	o snapshot list --cache-volumes --json
	grep -q '"name": "deps"' "$T/out" || err "list --json: $(cat "$T/out")"
	o snapshot rm --cache-volumes deps
	expect_rc 0
	[ -e "$OSRUN_CACHE/caches/deps" ] && err "rm: caches/deps still there"
	o --cache-volume 'bad/name:/c' true
	expect_rc 125
	expect_err_has "\-\-cache-volume 'bad/name:/c': the name"
}


# A session: one VM, several commands with their own streams and exit
# codes, state kept between them, stdin, copies both ways, one request at
# a time, and `stop -n` gives a snapshot that runs.
t_session() {
	o session start --name job1
	expect_rc 0
	expect_out job1
	o session list
	grep -q "^job1 .* provisioned " "$T/out" || err "list: $(cat "$T/out")"
	o session exec job1 'echo out1; echo err1 >&2; echo kept >/root/state; exit 3'
	expect_rc 3
	expect_out out1
	[ "$(cat "$T/err")" = err1 ] || err "exec 1 stderr: '$(cat "$T/err")'"
	printf 'line one\nline two\n' | "$OSRUN" session exec job1 'cat /root/state; wc -l' >"$T/out" 2>"$T/err"
	rc=$?
	expect_rc 0
	expect_out "kept
2"
	o session exec job1 -e X=42 -w /tmp 'echo $X $(pwd); kill -9 $$'
	expect_rc 137
	expect_out "42 /tmp"
	mkdir -p "$T/sess-src" && echo payload >"$T/sess-src/p.txt"
	(cd "$T" && "$OSRUN" session cp job1 sess-src guest:/build >"$T/out" 2>"$T/err"); rc=$?
	expect_rc 0
	o session exec job1 'cat /build/p.txt && echo art >/build/a.txt'
	expect_out payload
	o session cp job1 guest:/build "$T/sess-out"
	expect_rc 0
	[ "$(cat "$T/sess-out/a.txt" 2>&1)" = art ] || err "cp out: $(ls -R "$T/sess-out" 2>&1)"
	o session cp job1 guest:/no/such "$T/sess-out2"
	expect_rc 125
	expect_err_has "/no/such: No such file or directory"
	# One at a time: a second request while one runs is refused at once.
	"$OSRUN" session exec job1 'sleep 3' >/dev/null 2>&1 &
	bg=$!
	for i in $(seq 1 50); do pgrep -f "session exec job1 sleep 3" >/dev/null && break; sleep 0.1; done
	sleep 0.5
	o session exec job1 'echo never'
	expect_rc 125
	expect_err_has "session 'job1' is busy with another request (one at a time)"
	wait $bg
	o session stop job1 -n from-job
	expect_rc 0
	o session list
	grep -q job1 "$T/out" && err "still listed after stop: $(cat "$T/out")"
	o session exec job1 true
	expect_rc 125
	expect_err_has "session 'job1': not running"
	o -s from-job 'cat /root/state /build/a.txt'
	expect_rc 0
	expect_out "kept
art"
	o snapshot rm from-job
	ls "$OSRUN_CACHE/sessions" | grep -q job1 && err "session files left: $(ls "$OSRUN_CACHE/sessions")"
}

# stop -n with a name that is taken is refused before anything stops: the
# session goes on with its state, and saves under another name.
t_session_stop_name_taken() {
	o -n s-taken 'echo theirs >/root/who'
	expect_rc 0
	o session start --name keep1
	expect_rc 0
	o session exec keep1 'echo ours >/root/who'
	expect_rc 0
	o session stop keep1 -n s-taken
	expect_rc 125
	expect_err_has "snapshot 's-taken' already exists: session 'keep1' not stopped, it goes on"
	o session exec keep1 'cat /root/who'
	expect_rc 0
	expect_out ours
	o -s s-taken 'cat /root/who'
	expect_out theirs
	o session stop keep1 -n s-ours
	expect_rc 0
	o -s s-ours 'cat /root/who'
	expect_out ours
	# A save that fails past the share's detach (here its state file cannot
	# be made: one is in the way) cannot keep the session, and says so.
	o session start --name keep2
	expect_rc 0
	made=$(ls -d "$OSRUN_CACHE"/snapshots/.new-session-keep2.*)
	[ -d "$made" ] && touch "$made/state" || err "the session's snapshot being made: '$made'"
	o session stop keep2 -n s-failed
	expect_rc 125
	expect_err_has "session 'keep2' has ended, unsaved"
	for i in $(seq 1 50); do "$OSRUN" session list | grep -q keep2 || break; sleep 0.1; done
	"$OSRUN" session list | grep -q keep2 && err "keep2 still listed after its failed stop"
	[ -e "$OSRUN_CACHE/snapshots/s-failed" ] && err "a failed save made s-failed"
	"$OSRUN" session stop keep1 >/dev/null 2>&1
	"$OSRUN" session stop keep2 >/dev/null 2>&1
	"$OSRUN" snapshot rm s-ours >/dev/null 2>&1
	"$OSRUN" snapshot rm s-taken >/dev/null 2>&1
}

# A forgotten session ends by itself; a killed keeper takes its QEMU with
# it, and the next start cleans up after it; an unknown snapshot is told.
t_session_ends() {
	o session start --name idle1 --idle-timeout 2
	expect_rc 0
	sleep 4
	o session list
	grep -q idle1 "$T/out" && err "idle session still listed"
	pgrep -f "$T/tmp/osrun-run" >/dev/null && err "idle session's QEMU left: $(pgrep -af "$T/tmp/osrun-run")"
	o session start --name killed1
	expect_rc 0
	keeper=$(sed -n 's/.*"pid": \([0-9]*\).*/\1/p' "$OSRUN_CACHE/sessions/killed1.json")
	[ -n "$keeper" ] || err "no keeper pid in killed1.json"
	kill -KILL "$keeper"
	for i in $(seq 1 50); do pgrep -f "$T/tmp/osrun-run" >/dev/null || break; sleep 0.1; done
	pgrep -f "$T/tmp/osrun-run" >/dev/null && err "a killed keeper left QEMU: $(pgrep -af "$T/tmp/osrun-run")"
	sleep 2
	o session start --name killed1
	expect_rc 0
	o session exec killed1 'echo again'
	expect_out again
	o session stop killed1
	expect_rc 0
	ls -A "$TMPDIR" | grep -q . && err "run directories left: $(ls -A "$TMPDIR")"
	ls -A "$OSRUN_CACHE/snapshots" | grep -q '^\.new-' && err "a session's snapshot was left: $(ls -A "$OSRUN_CACHE/snapshots")"
	# --max-lifetime is a cap, also while a command runs.
	o session start --name short1 --max-lifetime 8
	expect_rc 0
	t0=$(now)
	o session exec short1 'sleep 60'
	expect_rc 124
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 30) }')" = 1 ] || err "--max-lifetime 8: exec ran $(elapsed "$t0") s"
	o session list
	grep -q short1 "$T/out" && err "short1 outlived its --max-lifetime"
	# stop during an exec interrupts it and ends the session.
	o session start --name busy1
	o_bg session exec busy1 'echo started; sleep 60'
	wait_started 300
	t0=$(now)
	"$OSRUN" session stop busy1 >"$T/stop.out" 2>&1; src=$?
	[ "$src" = 0 ] || err "stop during exec: exit $src: $(cat "$T/stop.out")"
	wait $pid; rc=$?
	expect_rc 143
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 30) }')" = 1 ] || err "stop during exec took $(elapsed "$t0") s"
	pgrep -f "$T/tmp/osrun-run" >/dev/null && err "stop during exec left QEMU"
	# Ctrl-C on cp reaches the copy.
	o session start --name cp1
	head -c 300000000 /dev/urandom >"$T/big.bin"
	o_bg session cp cp1 "$T/big.bin" guest:/big.bin
	sleep 2
	t0=$(now)
	kill -INT $pid
	wait $pid; rc=$?
	expect_rc 130
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 10) }')" = 1 ] || err "cp after Ctrl-C took $(elapsed "$t0") s"
	rm -f "$T/big.bin"
	"$OSRUN" session stop cp1 >/dev/null 2>&1
	for i in $(seq 1 100); do pgrep -f "$T/tmp/osrun-run" >/dev/null || break; sleep 0.1; done
	o session start -s nosuch
	expect_rc 125
	expect_err_has "snapshot 'nosuch': not found"
	o session exec
	expect_rc 125
	expect_err_has "session exec: which session?"
}

# The GitLab Runner driver, called the way the custom executor documents
# it (docs.gitlab.com/runner/executors/custom): config, prepare, run SCRIPT
# STAGE for each stage in order (on_failure variants after a failed
# step_script), cleanup always; job variables as CUSTOM_ENV_*; the two
# exit-code variables. The sources come from a git daemon on the host (as
# the runner's get_sources clones from GitLab), the artifact goes to an HTTP
# server on the host (as the runner's uploader sends it to GitLab), and the
# cache volume is the job's cache_dir from one job to the next.
DRIVER="$(cd "$(dirname "$0")/../.." && pwd)/contrib/gitlab-runner/osrun-driver"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# The host's first address that is not its loopback: what "the internet"
# is in these tests (a CI machine's own address, as a remote server would be).
host_addr() { hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.'; }

gitlab_fixture() {
	g="$T/gitlab" && mkdir -p "$g/src" "$g/uploads"
	(cd "$g/src" && git init -q && printf 'hello from the repository\n' >input.txt &&
		cat >build.sh <<'SH'
set -e
mkdir -p /cache/downloads out
if [ -f /cache/downloads/dep.txt ]; then echo "cache hit"; else echo "cache miss"; echo dep >/cache/downloads/dep.txt; fi
[ -z "${FAIL:-}" ] || { echo "failing on purpose" >&2; exit 7; }
tr a-z A-Z <input.txt >out/result.txt
echo built
SH
		git add . && git -c user.email=ci@example.com -c user.name=ci commit -qm init) || err "fixture repository"
	git clone -q --bare "$g/src" "$g/project.git"
	gitlab_servers
}

# The servers of GitLab for $g/*.git and $g/uploads: a git daemon ($gport)
# and an HTTP server that keeps what is POSTed ($uport), both on $gaddr;
# $gguest is that address from the guest.
gitlab_servers() {
	mkdir -p "$g/uploads"
	gport=$(free_port) uport=$(free_port)
	# GitLab as the guest sees it: the host's own address under the
	# driver's default policy (internet keeps the host's loopback out), or
	# its loopback under OSRUN_NETWORK=host on a machine with no other.
	gaddr=$(host_addr) gguest=$gaddr
	if [ -z "$gaddr" ]; then
		skip "no address besides the loopback: the driver's default network policy is not exercised"
		gaddr=127.0.0.1 gguest=10.0.2.2
		export OSRUN_NETWORK=host
	fi
	git daemon --reuseaddr --base-path="$g" --export-all --listen="$gaddr" --port="$gport" \
		--detach --pid-file="$g/git.pid" "$g"
	python3 -c '
import http.server, sys
d = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        open(d + "/" + self.path.strip("/").replace("/", "_"), "wb").write(self.rfile.read(n))
        self.send_response(201); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[3], int(sys.argv[1])), H).serve_forever()
' "$uport" "$g/uploads" "$gaddr" &
	upid=$!
	for i in $(seq 1 50); do [ -f "$g/git.pid" ] && break; sleep 0.1; done
}

gitlab_servers_stop() {
	kill "$(cat "$g/git.pid")" "$upid" 2>/dev/null
	wait "$upid" 2>/dev/null
}

# The runner's JOB_RESPONSE_FILE for job $1 of project 7 ($2: extra
# top-level JSON members, e.g. an image or services), as GitLab Runner
# writes the job it received.
job_response() {
	printf '{"id": %s, "token": "t", "job_info": {"id": %s, "name": "build", "stage": "test", "project_id": 7, "project_name": "p"}, "runner_info": {"timeout": 3600}, "variables": []%s}\n' \
		"$1" "$1" "${2:+, $2}" >"$g/response-$1.json"
	echo "$g/response-$1.json"
}
# The job's environment as the custom executor gives it to the driver.
gitlab_env() {
	export CUSTOM_ENV_CI_JOB_ID="$1" CUSTOM_ENV_CI_PROJECT_ID=7 CUSTOM_ENV_CI_RUNNER_ID=3 \
		BUILD_FAILURE_EXIT_CODE=41 SYSTEM_FAILURE_EXIT_CODE=42 OSRUN="$OSRUN" \
		JOB_RESPONSE_FILE="$(job_response "$1" "${RESPONSE_EXTRA:-}")" BUILD_EXIT_CODE_FILE="$g/exit-$1"
	rm -f "$g/exit-$1"
}
# A stage's script as GitLab Runner's sh shell writer makes it (its
# shells/bash.go, Finish): the shebang, the TERM trap, pipefail where the
# shell has it, errexit, and the body eval'd in a subshell on /dev/null.
gitlab_script() {
	body=$(printf '%s' "$2" | sed "s/'/'\\\\''/g")
	{
		printf '#!/usr/bin/env sh\n'
		printf "trap 'exit 1' TERM\n"
		printf 'case "$(set -o)" in *"pipefail"*) set -o pipefail;; esac; set -o errexit\n'
		printf 'set +o noclobber\n'
		printf "(trap 'exit 1' TERM; eval '%s') < /dev/null\n" "$body"
		printf 'exit 0\n'
	} >"$1"
}

# One job through the driver: $1 job id, $2 extra line for step_script.
gitlab_job() {
	id=$1 extra=$2 s="$g/scripts-$1" && mkdir -p "$s"
	gitlab_script "$s/prepare_script" 'echo "Running on $(hostname)"'
	gitlab_script "$s/get_sources" "$(printf 'set -e\nrm -rf /builds/project\nmkdir -p /builds\ngit clone -q git://%s:%s/project.git /builds/project\necho fetched' "$gguest" "$gport")"
	gitlab_script "$s/restore_cache" 'ls /cache'
	gitlab_script "$s/step_script" "$(printf 'set -e\ncd /builds/project\n%s\nsh build.sh' "$extra")"
	gitlab_script "$s/after_script" 'echo after; ls /builds/project/out 2>/dev/null'
	gitlab_script "$s/archive_cache" 'ls /cache/downloads'
	gitlab_script "$s/upload_artifacts_on_success" "$(printf 'cd /builds/project && wget -q -O /dev/null --post-file=out/result.txt http://%s:%s/job-%s' "$gguest" "$uport" "$id")"
	cp "$s/archive_cache" "$s/archive_cache_on_failure"
	gitlab_script "$s/upload_artifacts_on_failure" "$(printf 'echo failed >/tmp/f && wget -q -O /dev/null --post-file=/tmp/f http://%s:%s/failed-%s' "$gguest" "$uport" "$id")"
	# Every stage GitLab Runner calls run with (its build.go): the user
	# script is build_script on runners of 2025 on, step_script before;
	# a job's other steps are step_NAME.
	gitlab_script "$s/download_artifacts" 'echo no artifacts to download'
	gitlab_script "$s/step_release" 'echo release step'
	gitlab_script "$s/cleanup_file_variables" 'rm -f /tmp/file-variables'
	gitlab_run_job "$id"
}

# Job $1 through the driver, its stages' scripts in $g/scripts-$1 (every
# one gitlab_job writes): config, prepare, each stage in the runner's
# order, cleanup. Sets job_rc (the step's driver status) and fills
# $g/job-ID.log.
gitlab_run_job() {
	id=$1 log="$g/job-$1.log" s="$g/scripts-$1"
	(
		gitlab_env "$id"
		[ -n "${OSRUN_SNAPSHOT_VAR:-}" ] && export CUSTOM_ENV_OSRUN_SNAPSHOT="$OSRUN_SNAPSHOT_VAR"
		[ -n "${ALLOWED_VAR:-}" ] && export OSRUN_ALLOWED_SNAPSHOTS="$ALLOWED_VAR"
		sh "$DRIVER" config >"$g/config-$id.json" || exit 90
		sh "$DRIVER" prepare || exit 91
		step=0
		for stage in prepare_script get_sources restore_cache download_artifacts step_script step_release; do
			sh "$DRIVER" run "$s/$stage" "$stage" || { step=$?; break; }
		done
		# The runner reads the script's code as soon as the stage ends.
		[ "$step" = 0 ] || cp "$BUILD_EXIT_CODE_FILE" "$g/code-$id" 2>/dev/null
		if [ "$step" = 0 ]; then rest="after_script archive_cache upload_artifacts_on_success"
		else rest="after_script archive_cache_on_failure upload_artifacts_on_failure"; fi
		# GitLab ignores after_script's status (gitlab-org/gitlab#21008);
		# a later stage that fails after a green script fails the job.
		for stage in $rest cleanup_file_variables; do
			sh "$DRIVER" run "$s/$stage" "$stage" && continue
			rc=$?
			[ "$stage" = after_script ] || [ "$step" != 0 ] || step=$rc
		done
		sh "$DRIVER" cleanup
		exit "$step"
	) >"$log" 2>&1
	job_rc=$?
}

t_gitlab_driver() {
	gitlab_fixture
	gitlab_job 101 ''
	[ "$job_rc" = 0 ] || err "job 101: exit $job_rc: $(cat "$g/job-101.log")"
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["builds_dir"]=="/builds" and c["cache_dir"]=="/cache" and c["driver"]["name"]=="osrun" and c["builds_dir_is_shared"] is False' \
		"$g/config-101.json" || err "config: $(cat "$g/config-101.json")"
	grep -q "Running on" "$g/job-101.log" || err "job 101: no prepare_script output"
	grep -q "cache miss" "$g/job-101.log" || err "job 101: expected a cache miss: $(cat "$g/job-101.log")"
	grep -q "^built$" "$g/job-101.log" || err "job 101: not built"
	grep -q "^release step$" "$g/job-101.log" && grep -q "^no artifacts to download$" "$g/job-101.log" ||
		err "job 101: download_artifacts or step_release did not run: $(cat "$g/job-101.log")"
	[ "$(cat "$g/uploads/job-101" 2>&1)" = "HELLO FROM THE REPOSITORY" ] || err "artifact: '$(cat "$g/uploads/job-101" 2>&1)'"
	# A failing script fails the job with the build-failure code; the
	# cache volume is there for the next job; the on_failure stages run.
	gitlab_job 102 'export FAIL=1'
	[ "$job_rc" = 41 ] || err "job 102: exit $job_rc, expected BUILD_FAILURE_EXIT_CODE 41: $(cat "$g/job-102.log")"
	[ "$(cat "$g/code-102" 2>&1)" = 7 ] || err "job 102: BUILD_EXIT_CODE_FILE '$(cat "$g/code-102" 2>&1)', expected the script's 7"
	grep -q "cache hit" "$g/job-102.log" || err "job 102: the cache volume was not kept: $(cat "$g/job-102.log")"
	grep -q "failing on purpose" "$g/job-102.log" || err "job 102: the script's stderr is missing"
	[ "$(cat "$g/uploads/failed-102" 2>&1)" = failed ] || err "job 102: upload_artifacts_on_failure did not run"
	# osrun itself failing is a system failure (an allowed snapshot that
	# does not exist: refused at config).
	ALLOWED_VAR="provisioned nosuch" OSRUN_SNAPSHOT_VAR=nosuch gitlab_job 103 ''
	[ "$job_rc" = 90 ] || err "job 103: exit $job_rc, expected config to fail: $(cat "$g/job-103.log")"
	grep -q "snapshot 'nosuch': not found" "$g/job-103.log" || err "job 103: $(cat "$g/job-103.log")"
	o session list
	grep -q "^ci-" "$T/out" && err "sessions left: $(cat "$T/out")"
	gitlab_servers_stop
	o snapshot rm --cache-volumes ci-7-0
	expect_rc 0
}

# The CI-job features as `docker run --user UID:GID` runs them (no passwd
# entry, the store the user's own) while two busy loops hold both cores.
t_ci_job_as_user_busy() {
	chmod o+x "$T"
	user_store 4321 "$T/u"
	mkdir -p "$T/u/src/d" "$T/u/vol" "$T/u/out"
	echo source >"$T/u/src/d/s.txt" && echo shared >"$T/u/vol/v.txt"
	chown -R 4321:4321 "$T/u"
	(while :; do :; done) & b1=$!
	(while :; do :; done) & b2=$!
	as_user 4321 "$T/u" --volume "$T/u/vol:/v" --cache-volume deps:/deps --copy-in "$T/u/src:/src" \
		--copy-out "/art:$T/u/out" 'cat /v/v.txt /src/d/s.txt; mkdir /art; echo built >/art/a; echo dl >/deps/d; echo w >/v/w'
	expect_rc 0
	expect_out "$(printf 'shared\nsource')"
	[ "$(cat "$T/u/out/art/a" 2>&1)" = built ] || err "copy-out as the user: $(ls -lR "$T/u/out" 2>&1)"
	[ "$(stat -c %u "$T/u/vol/w" "$T/u/out/art/a" | sort -u)" = 4321 ] || err "host files not the user's: $(stat -c '%n %u' "$T/u/vol/w" "$T/u/out/art/a")"
	as_user 4321 "$T/u" --cache-volume deps:/deps 'cat /deps/d'
	expect_out dl
	# The session's keeper keeps its run directory until stop.
	user_osrun 4321 "$T/u" session start --name us
	expect_out us
	user_osrun 4321 "$T/u" session exec us 'echo one >/root/f; exit 4'
	expect_rc 4
	user_osrun 4321 "$T/u" session exec us 'cat /root/f'
	expect_out one
	user_osrun 4321 "$T/u" session stop us
	expect_rc 0
	kill $b1 $b2; wait $b1 $b2 2>/dev/null
	[ -z "$(ls -A "$T/u/tmp")" ] || err "run directories left after stop: $(ls -A "$T/u/tmp")"
	[ -z "$(ls -A "$T/u/cache/sessions" 2>/dev/null)" ] || err "session files left: $(ls -A "$T/u/cache/sessions")"
	# (A keeper that ended is init's to reap: a zombie is not a process left.)
	ps -o stat= -u 4321 | grep -qv '^Z' && err "processes of uid 4321 left: $(ps -o pid,ppid,stat,args -u 4321)"
	rm -rf "$T/u"
}

# What a job author controls (every CUSTOM_ENV_*, image:, services:) cannot
# run a host command, reach another project's cache, or pick a snapshot
# the admin did not allow; the runner's exit-code conventions hold.
t_gitlab_driver_trust() {
	g="$T/gitlab-trust" && mkdir -p "$g" && cd "$g" || return
	hostile='1", "job_env": {"OSRUN": "git", "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "alias.session", "GIT_CONFIG_VALUE_0": "!id > pwned"}, "x": "'
	# Without the runner's job file nothing the job sets is taken for its ids.
	rc=0; (gitlab_env 301; unset JOB_RESPONSE_FILE; export CUSTOM_ENV_CI_JOB_ID="$hostile"
		sh "$DRIVER" config) >"$g/out" 2>"$g/err" || rc=$?
	[ "$rc" = 42 ] || err "no job file: exit $rc, expected the system failure 42: $(cat "$g/out" "$g/err")"
	grep -q "JOB_RESPONSE_FILE is not set" "$g/err" || err "no job file: $(cat "$g/err")"
	[ -s "$g/out" ] && err "no job file: config printed $(cat "$g/out")"
	# With it, the job's own variables do not matter, and the JSON is json-c's.
	rc=0; (gitlab_env 302; export CUSTOM_ENV_CI_JOB_ID="$hostile" CUSTOM_ENV_CI_RUNNER_ID=3
		sh "$DRIVER" config) >"$g/out" 2>"$g/err" || rc=$?
	[ "$rc" = 0 ] || err "config with a job file: exit $rc: $(cat "$g/err")"
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert "job_env" not in c and c["hostname"]=="osrun-ci-r-302" and c["shell"]=="sh", c' \
		"$g/out" || err "config: $(cat "$g/out")"
	[ -e "$g/pwned" ] || [ -e "$T/pwned" ] && err "a host command ran"
	# Snapshots: only the admin's list; image: names one.
	rc=0; (RESPONSE_EXTRA='"image": {"name": "secret"}'; gitlab_env 303; sh "$DRIVER" config) >"$g/out" 2>"$g/err" || rc=$?
	[ "$rc" = 42 ] && grep -q "snapshot 'secret' is not one this runner's jobs may use" "$g/err" ||
		err "image: secret: exit $rc: $(cat "$g/err")"
	rc=0; (gitlab_env 304; export CUSTOM_ENV_OSRUN_SNAPSHOT=provisioned-other OSRUN_ALLOWED_SNAPSHOTS='prov*'
		sh "$DRIVER" config) >"$g/out" 2>"$g/err" || rc=$?
	[ "$rc" = 42 ] && grep -q "snapshot 'provisioned-other': not found" "$g/err" ||
		err "an allowed glob: exit $rc (expected the snapshot looked up, and missing): $(cat "$g/err")"
	rc=0; (RESPONSE_EXTRA='"services": [{"name": "postgres"}]'; gitlab_env 305; sh "$DRIVER" config) >"$g/out" 2>"$g/err" || rc=$?
	[ "$rc" = 42 ] && grep -q "services:" "$g/err" || err "services: exit $rc: $(cat "$g/err")"
	# Cache volumes: always this project's (7), whatever the job says.
	o --cache-volume ci-999-0:/c 'echo mine >/c/f'
	expect_rc 0
	for bad in ../x ci-999-0 'a b' "$(printf 'x\ny')"; do
		rc=0; (gitlab_env 306; export CUSTOM_ENV_OSRUN_CACHE_VOLUME="$bad"; sh "$DRIVER" config) >/dev/null 2>"$g/err" || rc=$?
		[ "$rc" = 42 ] && grep -q "OSRUN_CACHE_VOLUME" "$g/err" || err "OSRUN_CACHE_VOLUME '$bad': exit $rc: $(cat "$g/err")"
	done
	gitlab_script "$g/probe" 'ls /cache; cat /cache/f 2>/dev/null || true; echo probed'
	gitlab_script "$g/fail42" 'echo failing; exit 42'
	rc=0; (gitlab_env 307; export CUSTOM_ENV_CI_PROJECT_ID=999 CUSTOM_ENV_OSRUN_CACHE_VOLUME=other
		sh "$DRIVER" prepare && sh "$DRIVER" prepare && sh "$DRIVER" run "$g/probe" step_script &&
		{ sh "$DRIVER" run "$g/fail42" step_script; echo "step=$?"; }; sh "$DRIVER" cleanup) >"$g/out" 2>"$g/err" || rc=$?
	[ "$rc" = 0 ] || err "job 307: exit $rc: $(cat "$g/out" "$g/err")"
	grep -q "^probed$" "$g/out" || err "job 307: the probe did not run: $(cat "$g/out" "$g/err")"
	grep -q "^mine$" "$g/out" && err "job 307 read project 999's cache"
	grep -q "cache volume 'ci-7-other-0'" "$g/err" || err "job 307: not the project's own volume: $(cat "$g/err")"
	grep -q "^step=41$" "$g/out" || err "a step exiting 42: $(grep step= "$g/out")"
	[ "$(cat "$g/exit-307" 2>&1)" = 42 ] || err "BUILD_EXIT_CODE_FILE: '$(cat "$g/exit-307" 2>&1)', expected 42"
	o --cache-volume ci-999-0:/c 'cat /c/f'
	expect_out mine
	# The script's exit code comes back as a small file the guest writes:
	# one it turns into a link to a host file is refused, never read.
	# (The host file holds a number: read through the link, it would pass.)
	echo 77 >"$g/secret"
	# (The driver's own write of the code then fails: the link's target is
	# not in the guest.)
	gitlab_script "$g/linker" "ln -sf $g/secret /tmp/osrun-ci/rc; exit 3"
	rc=0; (gitlab_env 308; sh "$DRIVER" prepare && { sh "$DRIVER" run "$g/linker" step_script; echo "step=$?"; }
		sh "$DRIVER" cleanup) >"$g/out" 2>"$g/err" || rc=$?
	grep -q "^step=4[12]$" "$g/out" || err "a linked exit code file: $(cat "$g/out" "$g/err")"
	[ "$(cat "$g/exit-308" 2>/dev/null)" = 77 ] && err "the exit code was read through the guest's link to a host file"
	# Two jobs of one project at once: a cache volume each.
	for slot in 0 1; do
		(gitlab_env "31$slot"; export CUSTOM_ENV_CI_CONCURRENT_PROJECT_ID=$slot
			sh "$DRIVER" prepare && sh "$DRIVER" run "$g/probe" step_script; r=$?; sh "$DRIVER" cleanup; exit $r) \
			>"$g/c$slot.out" 2>&1 &
		eval "cj$slot=\$!"
	done
	wait "$cj0"; r0=$?; wait "$cj1"; r1=$?
	[ "$r0" = 0 ] && [ "$r1" = 0 ] || err "concurrent jobs: $r0 $r1: $(cat "$g/c0.out" "$g/c1.out")"
	o session list
	grep -q "^ci-" "$T/out" && err "sessions left: $(cat "$T/out")"
	cd "$T" && for v in ci-999-0 ci-7-other-0 ci-7-0 ci-7-1; do "$OSRUN" snapshot rm --cache-volumes "$v" >/dev/null 2>&1; done
	return 0
}

# Ctrl-C or --timeout on an exec stops that command and what it started in
# the guest, and the session takes the next command.
t_session_interrupt_keeps() {
	o session start --name keep1
	expect_rc 0
	o_bg session exec keep1 'echo started; (sleep 300; echo late >/root/late) & trap "" TERM; sleep 300'
	wait_started 300
	t0=$(now)
	kill -INT $pid
	wait $pid; rc=$?
	expect_rc 130
	expect_err_has "the command was stopped, the session goes on"
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 30) }')" = 1 ] || err "Ctrl-C took $(elapsed "$t0") s"
	o session exec keep1 'ps | grep -c "[s]leep 300"; echo alive'
	expect_rc 0
	expect_out "0
alive"
	o session exec keep1 -t 3 'sleep 60 & sleep 60'
	expect_rc 124
	expect_err_has "the command was stopped, the session goes on"
	o session exec keep1 'ps | grep -c "[s]leep 60"; ls /root/late 2>&1 | grep -c "No such"'
	expect_out "0
1"
	o session list
	grep -q keep1 "$T/out" || err "keep1 ended: $(cat "$T/out")"
	o session stop keep1
	expect_rc 0
}

# A cancelled job: GitLab SIGTERMs the driver during the script, then runs
# after_script and cleanup, which find the job's guest as the script left it.
t_gitlab_cancel() {
	g="$T/gitlab-cancel" && mkdir -p "$g"
	gitlab_script "$g/step" 'mkdir -p /builds && touch /builds/step-file && echo started && sleep 300'
	gitlab_script "$g/after" 'ls /builds/step-file && echo after-ok'
	(gitlab_env 401; sh "$DRIVER" prepare) >"$g/prep" 2>&1 || err "prepare: $(cat "$g/prep")"
	: >"$T/out"
	(gitlab_env 401; exec sh "$DRIVER" run "$g/step" step_script) >"$T/out" 2>"$T/err" &
	pid=$!
	wait_started 300
	kill -TERM $pid
	wait $pid; rc=$?
	[ "$rc" = 0 ] && err "a cancelled step_script exited 0"
	rc=0; (gitlab_env 401; sh "$DRIVER" run "$g/after" after_script) >"$g/after.out" 2>&1 || rc=$?
	[ "$rc" = 0 ] && grep -q "^after-ok$" "$g/after.out" || err "after_script after a cancel: exit $rc: $(cat "$g/after.out")"
	(gitlab_env 401; sh "$DRIVER" cleanup) >/dev/null 2>&1
	o session list
	grep -q "^ci-" "$T/out" && err "sessions left: $(cat "$T/out")"
	"$OSRUN" snapshot rm --cache-volumes ci-7-0 >/dev/null 2>&1
	return 0
}

# A session's screen: --novnc serves noVNC for the session's life (the
# page, and QEMU's RFB greeting through its websocket), says where, and
# ends with the session.
t_session_novnc() {
	port=$((17000 + $$ % 1000))
	o session start --name screen1 --novnc "127.0.0.1:$port"
	expect_rc 0
	url="http://127.0.0.1:$port/vnc.html?autoconnect=1"
	expect_err_has "session screen1: noVNC: $url"
	o session list --json
	python3 -c 'import json,sys; [s] = [s for s in json.load(open(sys.argv[1])) if s["name"] == "screen1"]; print(s["novnc"]); print(s["vnc"])' \
		"$T/out" >"$T/novnc" 2>&1 || err "session list --json: $(cat "$T/out")"
	[ "$(head -1 "$T/novnc")" = "$url" ] || err "novnc in the session list: $(cat "$T/novnc")"
	[ -S "$(sed -n 2p "$T/novnc")" ] || err "the VNC socket in the session list is not a socket: $(cat "$T/novnc")"
	page=$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).status)' "$url" 2>&1)
	[ "$page" = 200 ] || err "noVNC page: HTTP $page"
	hello=$(python3 "$RFB_WS" 127.0.0.1 "$port" 2>&1)
	case $hello in "RFB 003.008") ;; *) err "no RFB greeting through noVNC's websocket: $hello" ;; esac
	o session exec screen1 'echo still-runs'
	expect_out still-runs
	o session stop screen1
	expect_rc 0
	python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$url" 2>/dev/null &&
		err "noVNC still served after the session stopped"
	pgrep -f "websockify.*127.0.0.1:$port" >/dev/null && err "websockify left: $(pgrep -af websockify)"
	o session start --name screen2 --novnc -x:1
	expect_rc 125
	expect_err_has "--novnc '-x:1': expected ADDRESS:PORT"
	return 0
}

# The guest's console log stays bounded while a session waits between
# commands (the audit: 4.7 KB to 9.5 MB in 40 s after an exec, unbounded).
# The guest console is slow under TCG, so a wrapper plays a guest that
# writes 80 MiB to it after an exec: appended to QEMU's serial file when
# the test says go.
t_console_log_bounded_idle() {
	cat >"$T/qemu-chatty" <<'EOF'
#!/bin/sh
for a; do case $a in file:*/console.log) log=${a#file:} ;; esac; done
if [ -n "${log:-}" ]; then
	(while [ ! -e "${0%/*}/chatty-go" ]; do sleep 0.05; done
	head -c 83886080 /dev/zero >>"$log" && : >"$log.filled") </dev/null >/dev/null 2>&1 &
fi
exec qemu-system-x86_64 "$@"
EOF
	chmod +x "$T/qemu-chatty"
	OSRUN_QEMU="$T/qemu-chatty" o session start --name chatty
	expect_rc 0
	o session exec chatty 'echo alive'
	expect_out alive
	log=$(ls "$TMPDIR"/*/console.log 2>/dev/null | head -n 1)
	: >"$T/chatty-go"
	for i in $(seq 1 100); do [ -e "$log.filled" ] && break; sleep 0.1; done
	[ -e "$log.filled" ] || err "the wrapper did not fill '$log': $(ls -R "$TMPDIR" 2>&1 | head -20)"
	# The bound is checked once a second: 5 s of idling is plenty.
	kib=0
	for i in $(seq 1 50); do
		kib=$(du -k "$log" | cut -f1)
		[ "$kib" -le 65536 ] && break
		sleep 0.1
	done
	[ "$kib" -le 65536 ] || err "console.log holds $kib KiB on disk while the session idles (bound: 64 MiB)"
	o session exec chatty 'echo still'
	expect_out still
	o session stop chatty
	expect_rc 0
}

# A background child the command leaves behind (`cmd &`) holding its
# stdout and stderr: the run ends with the command, with all it wrote; the
# child's later writes do not kill it (SIGPIPE from a pipe nobody reads),
# and do not land in the next command's output (they did, as zeros and a
# lost line, when the old run's stdout was written after the host had
# emptied it).
t_session_child_outlives() {
	o session start --name bg1
	expect_rc 0
	o session exec bg1 'echo first; (sleep 2; echo late; echo late >&2; echo wrote >/root/bg) & echo last'
	expect_rc 0
	expect_out "first
last"
	o session exec bg1 'sleep 4; cat /root/bg; echo next >&2'
	expect_rc 0
	expect_out wrote
	[ "$(cat "$T/err")" = next ] || err "stderr of the next command: '$(cat -v "$T/err")'"
	o session stop bg1
	expect_rc 0
}

ALL_CI_JOB="t_volume_rw_ro t_copy_in_out t_copy_out_hostile_guest t_copy_out_read_only_as_user t_cache_volume t_session t_session_ends t_session_stop_name_taken
t_console_log_bounded_idle t_session_interrupt_keeps t_session_child_outlives t_session_novnc t_gitlab_driver t_gitlab_driver_trust t_gitlab_cancel t_ci_job_as_user_busy"
