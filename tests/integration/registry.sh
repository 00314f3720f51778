# Sourced by run.sh: snapshots through a real OCI registry (issue 31,
# docs/registry.md). Debian's docker-registry on 127.0.0.1 and a free
# port, its storage in $T/registry/data; a second store ($T/host2 ...)
# stands for a second host. Plain HTTP: --tls-verify=false.

# reg_start: the registry up ($reg, $reg_pid), or a skip.
reg_start() {
	command -v docker-registry >/dev/null && command -v skopeo >/dev/null || {
		skip "docker-registry or skopeo not installed"; return 1; }
	reg_port=$(free_port) && mkdir -p "$T/registry/data"
	cat >"$T/registry/config.yml" <<CFG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T/registry/data
http:
  addr: 127.0.0.1:$reg_port
CFG
	docker-registry serve "$T/registry/config.yml" >"$T/registry/log" 2>&1 &
	reg_pid=$! reg="127.0.0.1:$reg_port"
	i=0; while ! python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' \
		"$reg_port" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
}
reg_stop() { kill "$reg_pid" 2>/dev/null; wait "$reg_pid" 2>/dev/null; rm -rf "$T/registry" "$T"/host*; }
# Blobs the registry stores (each once, by digest).
reg_blobs() { find "$T/registry/data" -name data -path '*/blobs/*' | wc -l | tr -d ' '; }
# osrun on a second host: its own store.
on_host() { h=$1; shift; OSRUN_CACHE="$T/$h" o "$@"; }
# A field of the JSON object in $T/out.
json_field() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(v if not isinstance(v, list) else " ".join(v))' "$T/out" "$1" 2>/dev/null; }
# reg-child: a -n layer on provisioned that leaves a file, made once.
reg_child() {
	[ -d "$OSRUN_CACHE/snapshots/reg-child" ] && return 0
	o -n reg-child 'echo made-by-the-child >/data/reg.txt'
	expect_rc 0
}

# Pushed from one store, pulled into an empty one (a second host), run
# there: the child's file and the provisioning's are in it, and list
# says where it came from.
t_registry_push_pull_run() {
	reg_start || return 0
	reg_child
	o snapshot push reg-child "$reg/team/linux:1" --tls-verify=false --json
	expect_rc 0
	pushed=$(json_field digest)
	on_host host2 snapshot pull "$reg/team/linux:1" pulled --tls-verify=false --json
	expect_rc 0
	[ "$(json_field digest)" = "$pushed" ] || err "pulled $(json_field digest), pushed $pushed"
	[ "$(json_field parents_pulled)" = provisioned ] || err "parents pulled: $(cat "$T/out")"
	on_host host2 -s pulled 'cat /data/reg.txt /data/osrun/stages'
	expect_rc 0
	expect_out "made-by-the-child
base
finish"
	on_host host2 snapshot list --json
	python3 - "$T/out" "$reg/team/linux:1" "$pushed" <<'PY' || err "list: $(cat "$T/out")"
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert s["pulled"]["pulled_from"] == sys.argv[2] and s["pulled"]["pulled_digest"] == sys.argv[3], s
assert s["provisioned"]["pulled_from"].startswith(sys.argv[2].rsplit(":", 1)[0] + "@sha256:"), s
PY
	on_host host2 snapshot list
	grep -q "^pulled .*$reg/team/linux:1" "$T/out" || err "list does not say where it came from: $(cat "$T/out")"
	find "$T/host2/snapshots" "$T/host2/images" "$T/host2/oci" -perm /077 | grep -q . &&
		err "store files not private: $(find "$T/host2" -perm /077)"
	reg_stop
}

# A child pushed after its parent uploads only its own blobs, and pulled
# into a store that holds the parent fetches only those: the same count.
t_registry_child_only_own_blobs() {
	reg_start || return 0
	reg_child
	o snapshot push provisioned "$reg/team/linux:base" --tls-verify=false
	expect_rc 0
	before=$(reg_blobs)
	o snapshot push reg-child "$reg/team/linux:child" --tls-verify=false
	expect_rc 0
	added=$(( $(reg_blobs) - before ))
	# The child: disk, state, RAM chunks (64 MiB each), config, manifest.
	[ "$added" -ge 3 ] && [ "$added" -le 8 ] || err "the child's push stored $added blobs, expected 3 to 8"
	on_host host2 snapshot pull "$reg/team/linux:base" provisioned --tls-verify=false
	expect_rc 0
	on_host host2 snapshot pull "$reg/team/linux:child" --tls-verify=false --json
	expect_rc 0
	[ "$(json_field parents_pulled)" = "" ] || err "pulled the parent again: $(cat "$T/out")"
	[ "$(json_field blobs_fetched)" = "$added" ] || err "fetched $(json_field blobs_fetched) blobs, the child has $added of its own"
	expect_err_has "parent 'provisioned' .* is here already"
	reg_stop
}

# A blob changed in the registry's storage: the pull is refused naming
# it, and nothing enters the store. One changed in the store's blob cache
# after a pull: refused by osrun's own check, dropped, fetched again.
t_registry_tampered_blob() {
	reg_start || return 0
	o snapshot push provisioned "$reg/team/linux:1" --tls-verify=false --json
	expect_rc 0
	man="$T/registry/data/docker/registry/v2/blobs/sha256/$(json_field digest | cut -c8-9)/$(json_field digest | cut -c8-)/data"
	state=$(python3 -c 'import json,sys; print([l["digest"] for l in json.load(open(sys.argv[1]))["layers"] if l["annotations"]["org.osrun.file"] == "state"][0])' "$man")
	blob="$T/registry/data/docker/registry/v2/blobs/sha256/$(echo "$state" | cut -c8-9)/$(echo "$state" | cut -c8-)/data"
	cp "$blob" "$T/registry/good"
	printf 'XXXX' | dd of="$blob" bs=1 seek=100 conv=notrunc 2>/dev/null
	on_host host2 snapshot pull "$reg/team/linux:1" --tls-verify=false
	expect_rc 125
	expect_err_has "$state"
	[ -z "$(ls -A "$T/host2/snapshots")$(ls -A "$T/host2/images")" ] ||
		err "the store changed: $(ls -RA "$T/host2/snapshots" "$T/host2/images")"
	cp "$T/registry/good" "$blob"
	on_host host2 snapshot pull "$reg/team/linux:1" --tls-verify=false
	expect_rc 0
	on_host host2 snapshot rm linux
	cached="$T/host2/oci/blobs/sha256/$(echo "$state" | cut -c8-)"
	printf 'XXXX' | dd of="$cached" bs=1 seek=100 conv=notrunc 2>/dev/null
	on_host host2 snapshot pull "$reg/team/linux:1" --tls-verify=false
	expect_rc 125
	expect_err_has "refused, nothing was stored: blob $state (state at offset 0)"
	[ -z "$(ls -A "$T/host2/snapshots")" ] || err "the store changed: $(ls -A "$T/host2/snapshots")"
	on_host host2 snapshot pull "$reg/team/linux:1" --tls-verify=false --json
	expect_rc 0
	[ "$(json_field blobs_fetched)" = 1 ] || err "fetched $(json_field blobs_fetched) blobs, expected the 1 dropped"
	reg_stop
}

# A pull interrupted (SIGINT) while skopeo waits on a stopped registry:
# skopeo is killed, nothing enters the store. Then a pull fetches only
# what the cache lacks: two blobs dropped from it, two fetched.
t_registry_pull_interrupted() {
	reg_start || return 0
	o snapshot push provisioned "$reg/team/linux:1" --tls-verify=false
	expect_rc 0
	kill -STOP "$reg_pid"
	OSRUN_CACHE="$T/host2" o_bg snapshot pull "$reg/team/linux:1" --tls-verify=false
	i=0; while ! pgrep -f "docker://$reg/team/linux:1 oci:" >/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	pgrep -f "docker://$reg/team/linux:1 oci:" >/dev/null || err "skopeo did not start: $(cat "$T/err")"
	kill -INT "$pid"; wait "$pid"; rc=$?
	kill -CONT "$reg_pid"
	expect_rc 130
	expect_err_has "interrupted by SIGINT"
	pgrep -a -f "docker://$reg" && err "skopeo left running"
	[ -z "$(ls -A "$T/host2/snapshots")$(ls -A "$T/host2/images")" ] || err "the store changed: $(ls -RA "$T/host2")"
	on_host host2 snapshot pull "$reg/team/linux:1" --tls-verify=false --json
	expect_rc 0
	total=$(json_field blobs_fetched)
	on_host host2 snapshot rm linux
	for b in $(ls "$T/host2/oci/blobs/sha256" | head -n 2); do rm "$T/host2/oci/blobs/sha256/$b"; done
	on_host host2 snapshot pull "$reg/team/linux:1" --tls-verify=false --json
	expect_rc 0
	[ "$(json_field blobs_fetched)" = 2 ] || err "fetched $(json_field blobs_fetched) of $total blobs, expected the 2 dropped"
	reg_stop
}

# Blobs of the host2 cache that manifest $1 names (itself, config,
# layers) and its parent's do not, sorted.
reg_own_blobs() {
	python3 - "$T/host2/oci/blobs/sha256" "$1" <<'PY'
import json, os, sys
d = sys.argv[1]
def refs(m):
    j = json.load(open(os.path.join(d, m[7:])))
    return j, {m, j["config"]["digest"]} | {l["digest"] for l in j["layers"]}
kid, own = refs(sys.argv[2])
parent = kid.get("annotations", {}).get("org.osrun.parent")
print(" ".join(sorted(own - (refs(parent)[1] if parent else set()))))
PY
}
# A list in the JSON object in $T/out, by path ("cache blobs_removed").
json_path() { python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]: v = v[k]
print(" ".join(sorted(v)) if isinstance(v, list) else v)' "$T/out" "$@" 2>/dev/null; }
cache_blobs() { ls "$T/host2/oci/blobs/sha256" | wc -l | tr -d ' '; }

# gc --keep-cache removes exactly the blobs of an artifact whose snapshot
# is gone (the child's own, not its parent's), and what it keeps is
# enough: the parent pulled again fetches nothing. Plain gc empties the
# cache and index.json, and the snapshots stay.
t_registry_gc_cache() {
	reg_start || return 0
	reg_child
	o snapshot push reg-child "$reg/team/linux:child" --tls-verify=false --json
	expect_rc 0
	child=$(json_field digest) base=$(json_field parents | cut -d' ' -f2)
	on_host host2 snapshot pull "$reg/team/linux:child" kid --tls-verify=false
	expect_rc 0
	on_host host2 snapshot rm kid
	expect_rc 0
	before=$(cache_blobs) expected=$(reg_own_blobs "$child")
	on_host host2 snapshot gc --keep-cache --json
	expect_rc 0
	removed=$(json_path cache blobs_removed)
	[ -n "$expected" ] && [ "$removed" = "$expected" ] ||
		err "gc removed '$removed', expected the child's own blobs '$expected'"
	[ $((before - $(cache_blobs))) = "$(echo "$expected" | wc -w)" ] ||
		err "the cache went from $before to $(cache_blobs) blobs, expected $(echo "$expected" | wc -w) fewer"
	on_host host2 snapshot pull "$reg/team/linux@$base" again --tls-verify=false --json
	expect_rc 0
	[ "$(json_field blobs_fetched)" = 0 ] && [ "$(json_field blobs_cached)" -gt 0 ] ||
		err "the parent pulled again fetched blobs: $(cat "$T/out")"
	on_host host2 snapshot gc --json
	expect_rc 0
	[ "$(cache_blobs)" = 0 ] || err "plain gc left $(cache_blobs) blobs in the cache"
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["manifests"] == []' "$T/host2/oci/index.json" ||
		err "index.json still names manifests: $(cat "$T/host2/oci/index.json")"
	on_host host2 snapshot list --json
	[ "$(python3 -c 'import json,sys; print(" ".join(x["name"] for x in json.load(open(sys.argv[1]))))' "$T/out")" = \
		"again provisioned" ] || err "the snapshots changed: $(cat "$T/out")"
	reg_stop
}

# A size budget: the least recently used pulled snapshot goes first;
# never a pinned one, its parent, or one a session runs; a pull applies
# the configured budget and keeps what it pulled.
t_registry_budget() {
	reg_start || return 0
	reg_child
	o snapshot push reg-child "$reg/team/linux:child" --tls-verify=false --json
	expect_rc 0
	base=$(json_field parents | cut -d' ' -f2)
	# a is pulled before b, and then run from: used more recently.
	for n in s a b; do
		on_host host2 snapshot pull "$reg/team/linux@$base" $n --tls-verify=false
		expect_rc 0
	done
	on_host host2 snapshot pull "$reg/team/linux:child" kid --tls-verify=false
	expect_rc 0
	on_host host2 snapshot pin kid
	expect_rc 0
	on_host host2 -s a true
	expect_rc 0
	on_host host2 session start -s s --name gc1
	expect_rc 0
	on_host host2 snapshot list --json
	python3 -c 'import json,sys; s = {x["name"]: x for x in json.load(open(sys.argv[1]))}; assert s["kid"]["pinned"] and not s["a"]["pinned"], s' \
		"$T/out" || err "list does not show the pin: $(cat "$T/out")"
	on_host host2 snapshot gc --max-store-size 1T --json
	size=$(json_path budget store_bytes)
	on_host host2 snapshot gc --max-store-size $((size - 1)) --json
	expect_rc 0
	[ "$(json_path budget evicted)" = b ] || err "one byte over: evicted '$(json_path budget evicted)', expected the least recently used, b"
	OSRUN_MAX_STORE_SIZE=1 on_host host2 snapshot pull "$reg/team/linux@$base" c --tls-verify=false --json
	expect_rc 0
	[ "$(json_path evicted)" = a ] || err "a pull over the budget evicted '$(json_path evicted)', expected a"
	expect_err_has "over its budget"
	on_host host2 snapshot list --json
	names=$(python3 -c 'import json,sys; print(" ".join(x["name"] for x in json.load(open(sys.argv[1]))))' "$T/out")
	[ "$names" = "c kid provisioned s" ] || err "kept '$names', expected c (just pulled), kid (pinned), provisioned (its parent), s (a session's)"
	on_host host2 session exec gc1 'echo still-here'
	expect_out still-here
	on_host host2 session stop gc1
	expect_rc 0
	on_host host2 snapshot unpin kid
	on_host host2 snapshot gc --max-store-size 1 --json
	[ "$(json_path budget evicted)" = "c kid provisioned s" ] ||
		err "unpinned, the session gone: evicted '$(json_path budget evicted)'"
	reg_stop
}

# Ctrl-C in gc while a pull holds the blob cache: gc waits for it, stops
# at once (130), and the store is as it was; the pull then ends and the
# next gc does its work.
t_registry_gc_interrupted() {
	reg_start || return 0
	o snapshot push provisioned "$reg/team/linux:1" --tls-verify=false
	expect_rc 0
	on_host host2 snapshot pull "$reg/team/linux:1" one --tls-verify=false
	expect_rc 0
	blobs=$(cache_blobs) index=$(cat "$T/host2/oci/index.json")
	kill -STOP "$reg_pid"
	OSRUN_CACHE="$T/host2" "$OSRUN" snapshot pull "$reg/team/linux:1" two --tls-verify=false >/dev/null 2>&1 &
	puller=$!
	i=0; while ! pgrep -f "docker://$reg/team/linux:1 oci:" >/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	OSRUN_CACHE="$T/host2" o_bg snapshot gc --max-store-size 1
	i=0; while ! grep -q "waiting for a push or pull" "$T/err" && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	kill -INT "$pid"; wait "$pid"; rc=$?
	expect_rc 130
	expect_err_has "waiting for a push or pull to finish with the blob cache"
	expect_err_has "interrupted by SIGINT"
	[ "$(cache_blobs)" = "$blobs" ] && [ "$(cat "$T/host2/oci/index.json")" = "$index" ] ||
		err "the cache changed: $(cache_blobs) blobs (were $blobs), index $(cat "$T/host2/oci/index.json")"
	[ "$(ls "$T/host2/snapshots")" = one ] || err "the snapshots changed: $(ls -A "$T/host2/snapshots")"
	kill -CONT "$reg_pid"
	wait "$puller" || err "the pull that held the cache failed"
	on_host host2 snapshot gc --json
	expect_rc 0
	[ "$(cache_blobs)" = 0 ] || err "gc after the pull left $(cache_blobs) blobs"
	reg_stop
}

# osrun -s REF on an empty store pulls REF (as linux+1) and runs; a -n
# child can be made on it; the second run asks the registry nothing (it
# is gone by then). TLS is verified unless OSRUN_REGISTRY_TLS_VERIFY=0.
t_registry_run_pulls_on_first_use() {
	reg_start || return 0
	ref="$reg/team/linux:1"
	o snapshot push provisioned "$ref" --tls-verify=false
	expect_rc 0
	on_host host2 -s "$ref" 'echo no'
	expect_rc 125
	expect_err_has "HTTPS"
	[ -z "$(ls -A "$T/host2/snapshots")" ] || err "a refused pull stored: $(ls -A "$T/host2/snapshots")"
	OSRUN_REGISTRY_TLS_VERIFY=0 on_host host2 -s "$ref" 'echo hi; cat /data/osrun/stages; exit 3'
	expect_rc 3
	expect_out "hi
base
finish"
	expect_err_has "snapshot 'linux+1' is not in $T/host2: pulling it from $ref"
	OSRUN_REGISTRY_TLS_VERIFY=0 on_host host2 -s "$ref" -n reg-kid 'echo kid >/data/kid.txt'
	expect_rc 0
	kill "$reg_pid"; wait "$reg_pid" 2>/dev/null
	OSRUN_REGISTRY_TLS_VERIFY=0 on_host host2 -s "$ref" 'echo again'
	expect_rc 0
	expect_out again
	grep -q -e "pulling" -e "skopeo" "$T/err" && err "pulled again: $(cat "$T/err")"
	on_host host2 -s reg-kid 'cat /data/kid.txt'
	expect_rc 0
	expect_out kid
	on_host host2 snapshot list --json
	python3 - "$T/out" "$ref" <<'PY' || err "list: $(cat "$T/out")"
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert s["linux+1"]["pulled_from"] == sys.argv[2], s
assert s["reg-kid"]["parent"] == "linux+1", s
PY
	reg_stop
}

# Two stores pull one snapshot at once: both succeed. Two runs with -s
# REF on one empty store at once: the first pulls (held up by a stopped
# registry), the second waits for it, says so, and pulls nothing.
t_registry_pull_concurrent() {
	reg_start || return 0
	ref="$reg/team/linux:1"
	o snapshot push provisioned "$ref" --tls-verify=false
	expect_rc 0
	for h in host2 host3; do
		OSRUN_CACHE="$T/$h" "$OSRUN" snapshot pull "$ref" --tls-verify=false >"$T/out.$h" 2>"$T/err.$h" </dev/null &
		eval "pid_$h=\$!"
	done
	for h in host2 host3; do
		eval "wait \$pid_$h"; rc=$?
		[ "$rc" = 0 ] || err "$h: pull exit code $rc: $(cat "$T/err.$h")"
		[ -f "$T/$h/snapshots/linux/meta.json" ] || err "$h: no snapshot 'linux'"
	done
	kill -STOP "$reg_pid"
	for n in 1 2; do
		OSRUN_REGISTRY_TLS_VERIFY=0 OSRUN_CACHE="$T/host4" "$OSRUN" -s "$ref" "echo run$n" \
			>"$T/out.$n" 2>"$T/err.$n" </dev/null &
		eval "pid_$n=\$!"
		# The first until its skopeo waits on the registry, the second
		# until it waits on the first.
		i=0; while ! { [ $n = 1 ] && pgrep -f "oci:$T/host4/oci" >/dev/null; } &&
			! grep -q "waiting for another osrun" "$T/err.$n" && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
	done
	grep -q "waiting for another osrun that is pulling" "$T/err.2" || err "the second run did not wait: $(cat "$T/err.2")"
	kill -CONT "$reg_pid"
	for n in 1 2; do
		eval "wait \$pid_$n"; rc=$?
		[ "$rc" = 0 ] || err "run $n: exit code $rc: $(cat "$T/err.$n")"
		[ "$(cat "$T/out.$n")" = "run$n" ] || err "run $n printed '$(cat "$T/out.$n")'"
	done
	grep -q "pulling it from $ref" "$T/err.1" || err "the first run did not pull: $(cat "$T/err.1")"
	grep -q "pulling it from" "$T/err.2" && err "the second run pulled too: $(cat "$T/err.2")"
	grep -q "there now: another osrun pulled it" "$T/err.2" || err "the second run did not say: $(cat "$T/err.2")"
	reg_stop
}

# -s NAME given a source (osrun snapshot source NAME REF) pulls it on
# first use, and list shows the source; a build file's FROM REF pulls it
# too; a reference that is not there fails naming it and stores nothing.
t_registry_source_and_bad_ref() {
	reg_start || return 0
	ref="$reg/team/linux:2"
	o snapshot push provisioned "$ref" --tls-verify=false
	expect_rc 0
	on_host host2 snapshot source tools "$ref"
	expect_rc 0
	OSRUN_REGISTRY_TLS_VERIFY=0 on_host host2 -s tools 'echo from-source'
	expect_rc 0
	expect_out from-source
	expect_err_has "snapshot 'tools' is not in $T/host2: pulling it from $ref"
	on_host host2 snapshot list --json
	python3 - "$T/out" "$ref" <<'PY' || err "list: $(cat "$T/out")"
import json, sys
s = {x["name"]: x for x in json.load(open(sys.argv[1]))}
assert s["tools"]["source"] == sys.argv[2] and s["tools"]["pulled_from"] == sys.argv[2], s
PY
	on_host host2 snapshot source
	expect_out "tools                $ref"
	# osrun build's FROM pulls a reference the same way.
	printf 'FROM %s\nRUN echo built >/data/built.txt\n' "$ref" >"$T/Buildfile"
	OSRUN_REGISTRY_TLS_VERIFY=0 on_host host4 build -f "$T/Buildfile" -t built "$T"
	expect_rc 0
	expect_err_has "pulling it from $ref"
	on_host host4 -s built 'cat /data/built.txt'
	expect_rc 0
	expect_out built
	OSRUN_REGISTRY_TLS_VERIFY=0 on_host host3 -s "$reg/team/nope:1" 'echo no'
	expect_rc 125
	expect_out ""
	expect_err_has "docker://$reg/team/nope:1"
	[ -z "$(ls -A "$T/host3/snapshots")$(ls -A "$T/host3/images")" ] ||
		err "a failed pull stored: $(ls -RA "$T/host3/snapshots" "$T/host3/images")"
	reg_stop
}

# A push and a pull on a terminal show their progress: bytes of each
# file packed into chunks, downloaded of the total the manifest gives,
# unpacked, with the rate; under CI=true, nothing.
t_registry_pull_progress() {
	reg_start || return 0
	ref="$reg/team/linux:1"
	CI= script -qec "'$OSRUN' snapshot push provisioned '$ref' --tls-verify=false" /dev/null >"$T/tty" 2>&1 </dev/null
	grep -Eq "packing 'provisioned' memory: [0-9.]+ [KMG]iB of [0-9.]+ [KMG]iB, [0-9.]+ [KMG]?i?B/s" "$T/tty" ||
		err "no packing progress on the terminal: $(tr '\r' '\n' <"$T/tty" | head -c 600)"
	grep -q "pushing 'provisioned' to $ref" "$T/tty" || err "not pushed: $(head -c 600 "$T/tty")"
	OSRUN_CACHE="$T/host2" CI= script -qec "'$OSRUN' snapshot pull '$ref' --tls-verify=false" /dev/null \
		>"$T/tty" 2>&1 </dev/null
	grep -Eq "pulling $ref: [0-9.]+ [KMG]iB of [0-9.]+ [KMG]iB, [0-9.]+ [KMG]?i?B/s" "$T/tty" ||
		err "no progress on the terminal: $(tr '\r' '\n' <"$T/tty" | head -c 600)"
	grep -Eq "unpacking 'linux' memory: [0-9.]+ [KMG]iB of [0-9.]+ [KMG]iB" "$T/tty" ||
		err "no unpacking progress on the terminal: $(tr '\r' '\n' <"$T/tty" | head -c 600)"
	grep -q "pulled snapshot 'linux'" "$T/tty" || err "not pulled: $(head -c 600 "$T/tty")"
	OSRUN_CACHE="$T/host3" CI=true script -qec "'$OSRUN' snapshot pull '$ref' --tls-verify=false" /dev/null \
		>"$T/tty" 2>&1 </dev/null
	grep -q "pulling $ref:" "$T/tty" && err "progress under CI=true: $(head -c 600 "$T/tty")"
	grep -q "pulled snapshot 'linux'" "$T/tty" || err "not pulled under CI=true: $(head -c 600 "$T/tty")"
	reg_stop
}

ALL_REGISTRY="t_registry_push_pull_run t_registry_child_only_own_blobs t_registry_tampered_blob
t_registry_pull_interrupted t_registry_gc_cache t_registry_budget t_registry_gc_interrupted
t_registry_run_pulls_on_first_use t_registry_pull_concurrent t_registry_source_and_bad_ref
t_registry_pull_progress"
