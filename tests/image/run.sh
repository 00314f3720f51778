#!/bin/sh
# The container image as users run it. A Debian base image is made here with
# debootstrap from the machine's own apt source. Then, under a real Docker
# engine (Debian's docker.io, started here with a private data root and
# socket, no iptables, no bridge; containers run with --network none), the
# image is built and run the README's way: provision and runs with the
# store on a volume on another filesystem (a tmpfs), stdin piped with -i,
# -n/-s layers, a user without a passwd entry, and docker stop during a run.
# Where no engine can run, buildah builds the image and runs it without one.
# Everything started is stopped; everything made is removed.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/osrun-image.XXXXXX)
dockerd_pid=""
cleanup() {
	rc=$?
	set +e
	if [ -n "$dockerd_pid" ]; then
		$DK ps -aq 2>/dev/null | xargs -r $DK rm -f >/dev/null 2>&1
		kill "$dockerd_pid" 2>/dev/null
		i=0; while kill -0 "$dockerd_pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill -9 "$dockerd_pid" 2>/dev/null
	fi
	if command -v buildah >/dev/null && [ -d "$T/storage" ]; then
		buildah $S rm --all >/dev/null 2>&1
		buildah $S rmi --all --force >/dev/null 2>&1
	fi
	grep " $T/" /proc/mounts | awk '{ print $2 }' | sort -r | xargs -r umount -l 2>/dev/null
	rm -rf "$T" 2>/dev/null
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nl="
"
pass=0 fail=0 skipped=0
check() { if eval "$2"; then pass=$((pass + 1)); echo "ok - $1"; else fail=$((fail + 1)); echo "not ok - $1"; fi; }
skip_list=$top/tests/allowed-skips
. "$top/tests/skips.sh"
# A check that cannot run here: shown and counted as skipped; under
# OSRUN_STRICT_SKIPS=1 (CI) a failure unless tests/allowed-skips lists it.
skip() { # skip NAME REASON
	if skip_allowed "image: $2"; then skipped=$((skipped + 1)); echo "ok - $1 # SKIP $2"
	else fail=$((fail + 1)); echo "not ok - $1 # a skip CI does not allow (tests/allowed-skips): $2"; fi
}
# The checks only a Docker engine runs: the buildah fallback names each.
DOCKER_CHECKS="no compiler in the final image|image build finds its Windows guest-init|the Windows helper is in the image|a run: stderr apart|stdin piped with -i|-n saves a layer, -s runs from it|--network internet: the container's 127.0.0.1 is refused|--network host: the container's 127.0.0.1 is reached|docker stop during a run|--user 4321:4321: doctor's user check|--user 4321:4321: a first run provisions and runs|--user: the store's files are the user's|--user: --volume, --copy-in/out, --cache-volume|--user: a session|a fresh Debian: 'make deps demo' works the first time"

mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
	awk '/^deb / { print $2; exit }' /etc/apt/sources.list)
echo "# debootstrap from $mirror"
debootstrap --variant=minbase bookworm "$T/base" "$mirror" >"$T/debootstrap.log" 2>&1 ||
	{ tail -5 "$T/debootstrap.log"; exit 1; }
tar -C "$T/base" -c . >"$T/base.tar"
rm -rf "$T/base"
BASE=localhost/debian:bookworm-slim

# --- under Docker ----------------------------------------------------------
docker_tests() {
	img=localhost/osrun:test
	echo "# docker build"
	$DK import - $BASE <"$T/base.tar" >/dev/null
	$DK build --network host --build-arg BASE=$BASE --build-arg WITH_TEST_GUEST=1 -t $img "$top" \
		>"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; return 1; }
	# The store on a filesystem of its own, as a volume usually is.
	mkdir -p "$T/vol"
	mount -t tmpfs -o size=3g tmpfs "$T/vol"
	C="$T/vol/cache"
	mkdir -p "$C"
	run() { $DK run --rm --network none -v "$C:/cache" "$@"; }

	check "osrun --help" 'run $img --help | grep -q "Usage: osrun"'
	# The container must run for the answer to count: "checked" comes last.
	check "no compiler in the final image" \
		'[ "$(run --entrypoint sh $img -c "command -v cc gcc c99 tcc clang; echo checked" 2>&1)" = checked ]'
	check "image build finds its Windows guest-init and checks its inputs" \
		'run $img image build --iso /nope.iso --virtio-win /nope 2>&1 | grep -q "/nope.iso: No such file"'
	check "the Windows helper is in the image, a PE32+ program" \
		'[ "$(run --entrypoint sh $img -c "head -c 2 /usr/local/share/osrun/guest-init/windows/osrun-guest.exe; echo" 2>&1)" = MZ ]'
	check "osrun doctor: a table, kvm first, no check failing" \
		'run $img doctor >"$T/doctor" 2>&1 && grep -q "^kvm " "$T/doctor" && grep -q "^netguard  *ok" "$T/doctor" ||
		 { cat "$T/doctor"; false; }'
	# The README's first command on an empty cache: it provisions first.
	rc=0
	run $img 'uname -s; echo to-stderr >&2; exit 3' >"$T/out" 2>"$T/err" || rc=$?
	check "a first run provisions, with the store on another filesystem" \
		'grep -q "saved snapshot .provisioned." "$T/err" || { tail -5 "$T/err"; false; }'
	check "a run: stdout" '[ "$(cat "$T/out")" = Linux ] || { cat "$T/out" "$T/err"; false; }'
	check "a run: stderr apart" 'grep -q "^to-stderr$" "$T/err"'
	check "a run: its exit code" '[ "$rc" = 3 ]'
	check "stdin piped with -i" \
		'[ "$(seq 1 100000 | run -i $img md5sum 2>/dev/null | cut -d" " -f1)" = "$(seq 1 100000 | md5sum | cut -d" " -f1)" ]'
	check "-n saves a layer on the volume, -s runs from it" \
		'run $img -n layer "echo kept > /data/kept" >/dev/null 2>&1 &&
		 [ "$(run $img -s layer cat /data/kept 2>/dev/null)" = kept ]'

	# --network internet inside a container (Docker's default seccomp: no
	# namespaces for passt or slirp4netns): the image's loopback guard keeps
	# a service on the container's 127.0.0.1 from the guest; host lets it in.
	# perl-base is in every Debian image.
	srv='perl -MIO::Socket::INET -e '"'"'$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1:8080", Listen => 5, ReuseAddr => 1) or die;
		while ($c = $s->accept) { print $c "HTTP/1.0 200 OK\r\n\r\nin-container-secret\n"; close $c }'"'"' & sleep 1;'
	out=$(run --entrypoint sh $img -c "$srv osrun --network internet 'timeout 10 wget -q -O - http://10.0.2.2:8080/; echo wget=\$?'" 2>&1)
	check "--network internet: the container's 127.0.0.1 is refused" \
		'echo "$out" | grep -q "wget=1" && ! echo "$out" | grep -q in-container-secret || { echo "# $out"; false; }'
	out=$(run --entrypoint sh $img -c "$srv osrun --network host 'timeout 10 wget -q -O - http://10.0.2.2:8080/'" 2>&1)
	check "--network host: the container's 127.0.0.1 is reached" \
		'echo "$out" | grep -q in-container-secret || { echo "# $out"; false; }'

	# docker stop: SIGTERM to osrun, the container's PID 1.
	$DK run -d --name stopme --network none -v "$C:/cache" $img 'echo started; sleep 60' >/dev/null
	i=0; while ! $DK logs stopme 2>/dev/null | grep -q started && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
	t0=$(date +%s)
	$DK stop -t 20 stopme >/dev/null
	code=$($DK wait stopme)
	took=$(($(date +%s) - t0))
	check "docker stop during a run: exit 143, in $took s" '[ "$code" = 143 ] && [ "$took" -lt 10 ]'
	check "docker stop: said so" '$DK logs stopme 2>&1 | grep -q "interrupted by SIGTERM"'
	$DK rm stopme >/dev/null
	check "docker stop: the store is clean" '[ -z "$(ls -A "$C/snapshots" | grep "^\.")" ]'

	# A user with no passwd entry, the store a directory of its own.
	U="$T/vol/user"
	mkdir -p "$U"
	chown 4321:4321 "$U"
	urun() { $DK run --rm --network none --user 4321:4321 -v "$U:/cache" "$@"; }
	check "--user 4321:4321: doctor's user check says no passwd entry" \
		'urun $img doctor 2>&1 | grep -q "^user  *ok  *uid 4321 has no passwd entry"'
	rc=0
	out=$(urun $img 'echo as-user; exit 5' 2>"$T/u.err") || rc=$?
	check "--user 4321:4321: a first run provisions and runs" \
		'[ "$out" = as-user ] && [ "$rc" = 5 ] && grep -q "saved snapshot .provisioned." "$T/u.err" || { cat "$T/u.err"; false; }'
	check "--user: the store's files are the user's" '[ "$(find "$U" -printf "%u\n" | sort -u)" = 4321 ]'
	# A CI job's folders as that user: a bind mount holds its sources and
	# takes its artifacts; a session lives inside one container.
	W="$T/vol/work"
	mkdir -p "$W/src" "$W/out" && echo src >"$W/src/s.txt" && chown -R 4321:4321 "$W"
	out=$(urun -v "$W:/work" $img --volume /work/src:/v:ro --copy-in /work/src:/in --copy-out /art:/work/out \
		--cache-volume deps:/deps 'cat /v/s.txt /in/s.txt; mkdir /art; echo a >/art/a; echo d >/deps/d' 2>"$T/u.err")
	check "--user: --volume, --copy-in/out, --cache-volume" \
		'[ "$out" = "src${nl}src" ] && [ "$(cat "$W/out/art/a")" = a ] && [ "$(stat -c %u "$W/out/art/a")" = 4321 ] || { echo "# $out"; cat "$T/u.err"; false; }'
	out=$(urun --entrypoint sh $img -c 'osrun session start --name s >/dev/null && osrun session exec s "echo 1 >/root/f" &&
		osrun session exec s "cat /root/f" && osrun session stop s' 2>"$T/u.err")
	check "--user: a session, start/exec/exec/stop" '[ "$out" = 1 ] || { cat "$T/u.err"; false; }'
	# The README's first command on a bare Debian (the base image: no
	# compiler, nothing of osrun's), as on a fresh machine. Its one
	# prerequisite, make, comes first, as the README says.
	if [ "${OSRUN_SKIP_FRESH:-0}" = 1 ]; then
		skip "a fresh Debian: 'make deps demo' works the first time" "OSRUN_SKIP_FRESH=1"
	else
		echo "# make deps demo on a bare Debian"
		rc=0
		# The machine's own trust settings go along (a proxy's CA, as
		# here: npm's registry is reached through one): they are the
		# machine's, not an install step of osrun's.
		ca=""
		[ -n "$(ls /usr/local/share/ca-certificates 2>/dev/null)" ] &&
			ca="-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro"
		[ -n "${NODE_EXTRA_CA_CERTS:-}" ] && ca="$ca -e NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt"
		tar -C "$top" --exclude=./build --exclude=./.git --exclude=node_modules -c . |
			$DK run -i --rm --network host $ca $BASE sh -c 'mkdir /w && tar -x -C /w && cd /w &&
				apt-get update -qq && apt-get install -y -qq --no-install-recommends make >/dev/null &&
				make deps demo' >"$T/fresh.log" 2>&1 || rc=$?
		check "a fresh Debian: 'make deps demo' works the first time" \
			'[ "$rc" = 0 ] && grep -q "^hello from the guest" "$T/fresh.log" && grep -q "^exit code: 3" "$T/fresh.log" ||
			 { tail -20 "$T/fresh.log"; false; }'
	fi
	size=$($DK image inspect -f '{{.Size}}' $img)
	echo "# image size: $((size / 1000000)) MB (without noVNC)"
}

if command -v dockerd >/dev/null; then
	DK="docker -H unix://$T/docker.sock"
	[ -x /usr/bin/docker ] && DK="/usr/bin/docker -H unix://$T/docker.sock"
	dockerd --data-root "$T/docker" --exec-root "$T/docker-exec" --pidfile "$T/docker.pid" \
		-H "unix://$T/docker.sock" --iptables=false --ip6tables=false --bridge=none >"$T/dockerd.log" 2>&1 &
	dockerd_pid=$!
	i=0; while ! $DK info >/dev/null 2>&1 && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
fi
if [ -n "$dockerd_pid" ] && $DK info >/dev/null 2>&1; then
	docker_tests || fail=$((fail + 1))
else
	# --- buildah, no engine ------------------------------------------------
	[ -n "$dockerd_pid" ] && { echo "# dockerd did not start:"; tail -3 "$T/dockerd.log"; }
	S="--storage-driver vfs --root $T/storage --runroot $T/run"
	podman $S import - $BASE <"$T/base.tar" >/dev/null
	echo "# buildah bud"
	buildah $S bud --isolation chroot --network host --layers=false \
		--build-arg BASE=$BASE --build-arg WITH_TEST_GUEST=1 \
		-t localhost/osrun:test "$top" >"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; exit 1; }
	ctr=$(buildah $S from localhost/osrun:test)
	in_image() { buildah $S run --isolation chroot "$ctr" -- "$@"; }
	check "osrun --help in the image" 'in_image osrun --help | grep -q "Usage: osrun"'
	check "osrun doctor in the image" 'in_image osrun doctor >"$T/doctor" 2>&1 && grep -q "^kvm " "$T/doctor" || { cat "$T/doctor"; false; }'
	rc=0
	out=$(in_image osrun 'echo hi; exit 4' 2>"$T/run.err") || rc=$?
	check "a first run in the image provisions, prints hi and exits 4" \
		'[ "$out" = hi ] && [ "$rc" = 4 ] && grep -q "saved snapshot .provisioned." "$T/run.err" || { cat "$T/run.err"; false; }'
	echo "$DOCKER_CHECKS" | tr '|' '\n' >"$T/docker-checks"
	while IFS= read -r name; do skip "$name" "no Docker engine here (dockerd did not start)"; done <"$T/docker-checks"
fi
echo "image: $pass passed, $fail failed, $skipped skipped"
[ "$fail" = 0 ]
