# Integration tests for osrun build (issue 16: build files, cached steps as
# snapshot layers): sourced by run.sh, whose helpers (o, expect_*, err,
# counting_qemu, starts, $T) they use. Each test has its own context
# directory and removes its tags; t_build_gc runs last of them.

# A context with a build file of five layers (COPY and four RUN).
build_ctx() {
	B="$T/build-$1"
	rm -rf "$B" && mkdir -p "$B/src/sub"
	echo "first content" >"$B/src/a.txt"
	echo deep >"$B/src/sub/b.txt"
	echo "$1" >"$B/src/id" # each test its own layers
	cat >"$B/Buildfile" <<'EOF'
# five layers
ARG WHO=nobody
FROM provisioned
ENV BASE=/opt/b \
    NOTE="two words"
COPY src /opt/b
WORKDIR $BASE
RUN echo "step one by $WHO in $(pwd)"; echo one >>/opt/b/log
RUN echo "step two: $NOTE" && echo two >>/opt/b/log
RUN echo three >>/opt/b/log
RUN cat /opt/b/log /opt/b/a.txt /opt/b/sub/b.txt
EOF
}
# Each of a build's 5 layers owns a few MiB (the RAM pages its step changed,
# its disk writes), not a copy of the guest's RAM, and the tag $1 (hard
# links) next to nothing; snapshot list says so.
layers_small() {
	"$OSRUN" snapshot list --json >"$T/list.json"
	python3 - "$T/list.json" "$1" <<'PY' || err "layers are not small: $(cat "$T/list.json")"
import json, sys
snaps = {s["name"]: s for s in json.load(open(sys.argv[1]))}
tag = snaps[sys.argv[2]]
chain, name = [], tag["parent"]
while name.startswith("layer-"):
    chain.append(snaps[name])
    name = snaps[name]["parent"]
assert len(chain) == 4, [s["name"] for s in chain]
for s in chain:
    assert s["own_bytes"] < 32 << 20, (s["name"], s["own_bytes"])
assert tag["own_bytes"] < 64 << 10 and tag["shared_bytes"] > 0, tag
PY
}
# How many steps ran (not cached) in the last build's stderr.
ran() { grep -c '\] done in' "$T/err"; }

t_build_cache() {
	build_ctx cache
	o build -f "$B/Buildfile" -t b-cache
	expect_rc 0
	[ "$(ran)" = 5 ] || err "cold build: $(ran) steps ran, expected 5: $(cat "$T/err")"
	grep -q "step one by nobody in /opt/b" "$T/out" || err "step one's output: $(cat "$T/out")"
	layers_small b-cache
	o -s b-cache 'cat log; echo "$BASE|$NOTE|$(pwd)"'
	expect_rc 0
	expect_out "$(printf 'one\ntwo\nthree\n/opt/b|two words|/opt/b')"
	[ -s "$OSRUN_CACHE/snapshots/b-cache/memory" ] || err "a run from b-cache did not make its full memory file"
	# Unchanged: nothing boots.
	counting_qemu
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile" -t b-cache
	expect_rc 0
	[ "$(starts)" = 0 ] || err "a fully cached build started QEMU $(starts) times"
	expect_err_has "b-cache: up to date"
	# Step 4's text changed: it and step 5 run, 1-3 are cached.
	sed -i 's/echo three/echo THREE/' "$B/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile" -t b-cache
	expect_rc 0
	[ "$(ran)" = 2 ] || err "after changing step 4: $(ran) steps ran, expected 2"
	[ "$(grep -c ': cached (layer-' "$T/err")" = 3 ] || err "expected 3 cached steps: $(cat "$T/err")"
	grep -q THREE "$T/out" || err "the changed step's result is missing: $(cat "$T/out")"
	# COPY: new content with the old size and time runs it again; a new
	# time alone does not.
	touch -d '2020-01-01' "$B/src/a.txt"
	o build -f "$B/Buildfile" -t b-cache
	expect_rc 0
	[ "$(ran)" = 0 ] || err "a touched file reran $(ran) steps"
	echo "other content" >"$B/src/a.txt" && touch -d '2020-01-01' "$B/src/a.txt"
	o build -f "$B/Buildfile" -t b-cache
	expect_rc 0
	[ "$(ran)" = 5 ] || err "new COPY content: $(ran) steps ran, expected 5"
	grep -q "other content" "$T/out" || err "the new content did not arrive: $(cat "$T/out")"
	o build -f "$B/Buildfile" -t b-cache --no-cache
	expect_rc 0
	[ "$(ran)" = 5 ] || err "--no-cache: $(ran) steps ran, expected 5"
	"$OSRUN" snapshot rm b-cache >/dev/null 2>&1
}

# A failing RUN ends the build with its status, names the step, saves
# nothing for it or after it; the layers before it serve the next build.
t_build_step_fails() {
	build_ctx fails
	sed -i 's/RUN echo three >>\/opt\/b\/log/RUN echo failing; exit 7/' "$B/Buildfile"
	before=$(ls "$OSRUN_CACHE/snapshots" | wc -l)
	o build -f "$B/Buildfile" -t b-fails
	expect_rc 7
	expect_err_has "Buildfile:10: RUN echo failing; exit 7: exited with status 7"
	grep -q failing "$T/out" || err "the failing step's output: $(cat "$T/out")"
	[ -e "$OSRUN_CACHE/snapshots/b-fails" ] && err "a failed build was tagged"
	after=$(ls "$OSRUN_CACHE/snapshots" | wc -l)
	[ "$after" = $((before + 3)) ] || err "expected 3 new layers (COPY, two RUN), got $((after - before))"
	ls -A "$OSRUN_CACHE/snapshots" | grep -q '^\.' && err "half-made entries: $(ls -A "$OSRUN_CACHE/snapshots")"
	sed -i 's/RUN echo failing; exit 7/RUN echo fixed >>\/opt\/b\/log/' "$B/Buildfile"
	o build -f "$B/Buildfile" -t b-fails
	expect_rc 0
	[ "$(ran)" = 2 ] || err "after the fix: $(ran) steps ran, expected 2"
	"$OSRUN" snapshot rm b-fails >/dev/null 2>&1
}

# ARG defaults and --build-arg, ENV and WORKDIR in later steps and in runs
# from the result (-e wins), the exec form, a cached step's log again.
t_build_args_env_log() {
	build_ctx args
	o build -f "$B/Buildfile" -t b-args --build-arg WHO=ci --build-arg UNUSED=1
	expect_rc 0
	grep -q "step one by ci in /opt/b" "$T/out" || err "--build-arg WHO: $(cat "$T/out")"
	expect_err_has "build-arg UNUSED: no ARG"
	o -s b-args -e NOTE=mine 'echo "$NOTE $WHO."'
	expect_rc 0
	expect_out "mine ."
	o build -f "$B/Buildfile" -t b-args --build-arg WHO=ci --progress plain
	expect_rc 0
	[ "$(ran)" = 0 ] || err "a cached build ran $(ran) steps"
	grep -q "step one by ci in /opt/b" "$T/out" || err "--progress plain: the cached log is missing: $(cat "$T/out")"
	o build -f "$B/Buildfile" -t b-args
	expect_rc 0
	[ "$(ran)" = 4 ] || err "another ARG value: $(ran) steps ran, expected 4 (COPY cached)"
	printf 'FROM b-args\nRUN ["sh", "-c", "echo exec form $1", "x", "a b"]\nENV LATE=1\n' >"$B/Exec"
	o build -f "$B/Exec" -t b-exec
	expect_rc 0
	grep -q "exec form a b" "$T/out" || err "exec form: $(cat "$T/out")"
	o -s b-exec 'echo $LATE $BASE'
	expect_out "1 /opt/b"
	"$OSRUN" snapshot inspect b-exec >"$T/inspect"
	grep -q "file: $B/Exec" "$T/inspect" && grep -q 'line: 2' "$T/inspect" ||
		err "inspect does not say which file and step made it: $(cat "$T/inspect")"
	"$OSRUN" snapshot rm b-exec >/dev/null 2>&1
	o snapshot rm b-args
	expect_rc 125
	expect_err_has "is built on it (a build layer: 'osrun snapshot gc' removes it)"
	"$OSRUN" snapshot gc >/dev/null
	"$OSRUN" snapshot rm b-args >/dev/null 2>&1
}

# Mistakes in the file name the file and the line; nothing boots.
t_build_errors() {
	B="$T/build-errors" && mkdir -p "$B"
	counting_qemu
	printf 'FROM provisioned\n\nRUN true\nFROBNICATE x\n' >"$B/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile"
	expect_rc 125
	expect_err_has "Buildfile:4: unknown instruction 'FROBNICATE'"
	printf 'RUN true\n' >"$B/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile"
	expect_rc 125
	expect_err_has "Buildfile:1: RUN before FROM"
	printf 'FROM nosuch\nRUN true\n' >"$B/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile"
	expect_rc 125
	expect_err_has "Buildfile:1: FROM: snapshot 'nosuch' not found"
	printf 'FROM provisioned\nENV A="open\nCOPY missing /x\n' >"$B/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile"
	expect_rc 125
	expect_err_has 'Buildfile:2: ENV has an unclosed "'
	printf 'FROM provisioned\nCOPY missing \\\n   /x\n' >"$B/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile"
	expect_rc 125
	expect_err_has "Buildfile:2: COPY: $B/missing: No such file"
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/none"
	expect_rc 125
	expect_err_has "build file $B/none: No such file"
	o build --progress fancy
	expect_rc 125
	expect_err_has "\-\-progress 'fancy'"
	[ "$(starts)" = 0 ] || err "a wrong build file started QEMU $(starts) times"
	one_line_err
}

# --dry-run says what is cached and what would run, and boots nothing.
t_build_dry_run() {
	build_ctx dry
	o build -f "$B/Buildfile" -t b-dry
	expect_rc 0
	sed -i 's/echo three/echo 3/' "$B/Buildfile"
	counting_qemu
	OSRUN_QEMU="$T/qemu-count" o build -f "$B/Buildfile" -t b-dry --dry-run
	expect_rc 0
	[ "$(grep -c '^cached ' "$T/out")" = 3 ] && [ "$(grep -c '^run ' "$T/out")" = 2 ] ||
		err "--dry-run: expected 3 cached and 2 to run: $(cat "$T/out")"
	grep -q '^tag .*b-dry' "$T/out" || err "--dry-run does not say it tags: $(cat "$T/out")"
	[ "$(starts)" = 0 ] || err "--dry-run started QEMU $(starts) times"
	o -s b-dry 'cat log'
	expect_out "$(printf 'one\ntwo\nthree')"
	"$OSRUN" snapshot rm b-dry >/dev/null 2>&1
}

# -t replaces only an earlier build's tag (t_build_cache replaces one): a
# snapshot someone made with -n is refused before any step runs, and kept.
t_build_tag_keeps_others() {
	B="$T/build-keep" && mkdir -p "$B"
	o -n b-mine 'echo mine >/root/who'
	expect_rc 0
	printf 'FROM provisioned\nRUN echo built >/root/who\n' >"$B/Buildfile"
	counting_qemu
	for dry in --dry-run ""; do
		OSRUN_QEMU="$T/qemu-count" o build $dry -f "$B/Buildfile" -t b-mine
		expect_rc 125
		expect_err_has "-t b-mine: snapshot 'b-mine' exists and is no earlier build's tag: not replaced"
	done
	[ "$(starts)" = 0 ] || err "a refused -t started QEMU $(starts) times"
	o -s b-mine 'cat /root/who'
	expect_rc 0
	expect_out mine
	"$OSRUN" snapshot rm b-mine >/dev/null 2>&1
}

# A step found by its key in a tag (gc removed its layer) hands the next
# step the build's own ENV and WORKDIR, not the ones the tag's file set
# after it: the next step sees what a run from the FROM snapshot sees.
t_build_tag_env_not_leaked() {
	B="$T/build-leak" && mkdir -p "$B"
	printf 'FROM provisioned\nRUN echo leak >/root/leak\nENV LEAK=from-tag-A\nWORKDIR /proc\n' >"$B/A"
	o build -f "$B/A" -t b-leak-a
	expect_rc 0
	o snapshot gc
	expect_rc 0
	printf 'FROM provisioned\nRUN echo leak >/root/leak\nRUN echo "LEAK=[$LEAK] pwd=[$(pwd)]"\n' >"$B/B"
	o build -f "$B/B" -t b-leak-b
	expect_rc 0
	grep -q ': cached (b-leak-a)' "$T/err" || err "the first step was not served by the tag: $(cat "$T/err")"
	got=$(grep '^LEAK=' "$T/out")
	o -s provisioned 'echo "LEAK=[$LEAK] pwd=[$(pwd)]"'
	expect_rc 0
	[ -n "$got" ] && [ "$got" = "$(cat "$T/out")" ] ||
		err "the step after the tag's saw '$got'; a run from provisioned sees '$(cat "$T/out")'"
	"$OSRUN" snapshot rm b-leak-b >/dev/null 2>&1
	"$OSRUN" snapshot rm b-leak-a >/dev/null 2>&1
}

# COPY reads beneath the context only: no absolute source, no '..' out of
# it, no symlink that leads out (at the end of the path or on the way); a
# symlink that stays inside is fine. Refused before anything boots.
t_build_copy_beneath_context() {
	B="$T/build-beneath" && mkdir -p "$B/ctx/sub" "$T/outside"
	echo secret >"$T/outside/secret"
	echo fine >"$B/ctx/sub/fine"
	ln -s "$T/outside" "$B/ctx/out-dir"
	ln -s ../../../outside/secret "$B/ctx/sub/out-file"
	ln -s sub/fine "$B/ctx/in-link"
	counting_qemu
	printf 'FROM provisioned\nCOPY %s /x\n' "$T/outside/secret" >"$B/ctx/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build --dry-run -f "$B/ctx/Buildfile"
	expect_rc 125
	expect_err_has "Buildfile:2: COPY: '$T/outside/secret' is outside the build context"
	for src in ../../outside/secret out-dir/secret out-dir sub/out-file sub/../../../outside \
		'["sub/../../../outside/secret", "/x"]'; do
		case $src in \[*) line="COPY $src" ;; *) line="COPY $src /x" ;; esac
		printf 'FROM provisioned\n%s\n' "$line" >"$B/ctx/Buildfile"
		OSRUN_QEMU="$T/qemu-count" o build --dry-run -f "$B/ctx/Buildfile"
		expect_rc 125
		expect_err_has "Buildfile:2: COPY: '.*' leads out of the build context"
	done
	printf 'FROM provisioned\nCOPY in-link sub /x/\n' >"$B/ctx/Buildfile"
	OSRUN_QEMU="$T/qemu-count" o build --dry-run -f "$B/ctx/Buildfile"
	expect_rc 0
	[ "$(starts)" = 0 ] || err "COPY's checks started QEMU $(starts) times"
}

# gc removes the layers nothing named is built on, keeps a named one and
# its parents, and a tag keeps serving as the cache of its step.
t_build_gc() {
	build_ctx gc
	o build -f "$B/Buildfile" -t b-gc
	expect_rc 0
	o snapshot gc
	expect_rc 0
	layers=$(ls "$OSRUN_CACHE/snapshots" | grep -c '^layer-')
	[ -e "$OSRUN_CACHE/snapshots/b-args" ] && err "b-args was not removed"
	[ "$layers" = 4 ] || err "after gc: $layers layers, expected the 4 below b-gc: $(ls "$OSRUN_CACHE/snapshots")"
	o -s b-gc 'cat log'
	expect_out "$(printf 'one\ntwo\nthree')"
	o build -f "$B/Buildfile" -t b-gc
	expect_rc 0
	[ "$(ran)" = 0 ] || err "after gc: $(ran) steps ran again, expected none"
	"$OSRUN" snapshot rm b-gc >/dev/null 2>&1
	o snapshot gc
	[ "$(ls "$OSRUN_CACHE/snapshots" | grep -c '^layer-')" = 0 ] ||
		err "gc left layers: $(ls "$OSRUN_CACHE/snapshots")"
	[ -e "$OSRUN_CACHE/snapshots/provisioned" ] || err "gc removed provisioned"
}

# The store on XFS (a loop-mounted file, another filesystem than the
# tests' own, with reflinks): the same small layers.
t_build_store_on_xfs() {
	if [ "$(id -u)" != 0 ] || ! command -v mkfs.xfs >/dev/null; then
		skip "the store on XFS needs root and mkfs.xfs (xfsprogs)"
		return 0
	fi
	x="$T/xfs" && mkdir -p "$x"
	truncate -s 2G "$T/xfs.img" && mkfs.xfs -q -m reflink=1 "$T/xfs.img" && mount -o loop "$T/xfs.img" "$x" ||
		{ err "cannot mount an XFS image"; return 0; }
	# Relative backing paths: a store can move. provisioned and its image
	# are all a build from it needs.
	mkdir -p "$x/store/snapshots" && cp -a "$OSRUN_CACHE/images" "$x/store/" &&
		cp -a "$OSRUN_CACHE/snapshots/provisioned" "$x/store/snapshots/" || err "cannot copy the store"
	build_ctx xfs
	OSRUN_CACHE="$x/store" o build -f "$B/Buildfile" -t b-xfs
	expect_rc 0
	OSRUN_CACHE="$x/store" layers_small b-xfs
	OSRUN_CACHE="$x/store" o -s b-xfs 'cat log'
	expect_out "$(printf 'one\ntwo\nthree')"
	umount "$x"
}

# The store on tmpfs with huge=always, where writing one page of a file
# allocates 2 MiB: a pattern kept in guest RAM (the guest's tmpfs /run)
# outlives three build steps, each saved as a RAM delta over the last, and a
# run from the tag (its RAM composed from the chain) still has it.
t_build_ram_on_coarse_store() {
	if [ "$(id -u)" != 0 ]; then
		skip "the store on tmpfs with huge=always needs root to mount it"
		return 0
	fi
	h="$T/huge" && mkdir -p "$h"
	mount -t tmpfs -o size=4g,huge=always,mode=0700 tmpfs "$h" || { err "cannot mount tmpfs with huge=always"; return 0; }
	mkdir -p "$h/store/snapshots" && cp -a "$OSRUN_CACHE/images" "$h/store/" &&
		cp -a "$OSRUN_CACHE/snapshots/provisioned" "$h/store/snapshots/" || err "cannot copy the store"
	B="$T/build-ram" && rm -rf "$B" && mkdir -p "$B"
	cat >"$B/Buildfile" <<'EOF'
FROM provisioned
RUN seq 1 2000000 >/run/pat && echo one >/root/one
RUN seq 1 2000000 | cmp - /run/pat && echo two >/root/two
RUN seq 1 2000000 | cmp - /run/pat && echo three >/root/three
EOF
	OSRUN_CACHE="$h/store" o build -f "$B/Buildfile" -t b-ram
	expect_rc 0
	OSRUN_CACHE="$h/store" o -s b-ram 'seq 1 2000000 | cmp - /run/pat && cat /root/one /root/two /root/three'
	expect_rc 0
	expect_out "$(printf 'one\ntwo\nthree')"
	umount "$h"
}

ALL_BUILD="t_build_store_on_xfs t_build_ram_on_coarse_store t_build_cache t_build_step_fails t_build_args_env_log t_build_errors t_build_dry_run
t_build_tag_keeps_others t_build_tag_env_not_leaked t_build_copy_beneath_context t_build_gc"
