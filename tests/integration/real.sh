# Sourced by run.sh (make check-real, after debian.sh): other people's test
# suites through osrun end to end (issue 35 item 3, docs/debian-guest.md).
# Two upstream trees as Debian ships them (the .orig tarballs of bookworm's
# source packages, fetched from deb.debian.org and checked against the
# SHA-256 its Sources index gives): jansson 2.14 (CMake, `ctest`) and zlib
# 1.2.13 (its own configure, `make test`). Each is built and tested on the
# host first; then in the Debian guest as a whole GitLab job through the
# driver, in an `osrun session`, and built by `osrun build` then tested
# with `osrun -s`. Every run must report the same tests with the same
# results as the host's (real-counts.py reads the suites' own output).

REAL_SRC=${OSRUN_REAL_SRC:-$(cd "$(dirname "$0")/../.." && pwd)/build/real-src}
REAL_COUNTS="$(cd "$(dirname "$0")" && pwd)/real-counts.py"
REAL_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The project's facts: archive, its SHA-256, the tree's top directory, the
# snapshot it builds on, its build and test commands, how its output is
# read. jansson needs CMake: the `deb-cmake` toolchain layer (real_layer).
real_project() {
	case $1 in
	jansson)
		file=jansson_2.14.orig.tar.gz pool=j/jansson top=jansson-2.14 snap=deb-cmake kind=ctest
		sha=c739578bf6b764aa0752db9a2fdadcfe921c78f1228c7ec0bb47fa804c55d17b
		build='cmake -S . -B b -DCMAKE_BUILD_TYPE=Release -DJANSSON_BUILD_DOCS=OFF >build.log 2>&1 && cmake --build b -j2 >>build.log 2>&1 || { tail -n 40 build.log; exit 1; }'
		check='cd b && ctest' ;;
	zlib)
		file=zlib_1.2.13.dfsg.orig.tar.bz2 pool=z/zlib top=zlib-1.2.13.dfsg snap=debian kind=zlib
		sha=71feb7947e3c00ef125f83b79a4e529bde31171e5babe48b391f06758d1ab0a1
		build='./configure >build.log 2>&1 && make -j2 >>build.log 2>&1 || { tail -n 40 build.log; exit 1; }'
		check='make test' ;;
	*) return 1 ;;
	esac
}

# The archive in $REAL_SRC (downloaded once, through a .part file, kept only
# when its SHA-256 is the pinned one), unpacked fresh into $1.
real_unpack() {
	mkdir -p "$REAL_SRC" || { err "cannot make $REAL_SRC"; return 1; }
	if [ ! -f "$REAL_SRC/$file" ]; then
		curl -fsS --retry 3 -o "$REAL_SRC/$file.part" "$REAL_MIRROR/pool/main/$pool/$file" ||
			{ err "download of $REAL_MIRROR/pool/main/$pool/$file failed"; return 1; }
		mv "$REAL_SRC/$file.part" "$REAL_SRC/$file"
	fi
	echo "$sha  $REAL_SRC/$file" | sha256sum -c --quiet >/dev/null 2>&1 ||
		{ rm -f "$REAL_SRC/$file"; err "$file: not the SHA-256 of bookworm's Sources ($sha)"; return 1; }
	rm -rf "$1" && mkdir -p "$1" && tar -xf "$REAL_SRC/$file" -C "$1" --strip-components=1 ||
		{ err "unpacking $file"; return 1; }
}

# The suite on the host, once per test run: $T/real/NAME/host.counts.
real_host() {
	real_project "$1" || { err "no project '$1' in real.sh"; return 1; }
	d="$T/real/$1" && [ -s "$d/host.counts" ] && return 0
	real_unpack "$d/host" || return 1
	(cd "$d/host" && eval "$build") >"$d/host.build" 2>&1 || { err "$1 on the host: $(tail -c 600 "$d/host.build")"; return 1; }
	(cd "$d/host" && eval "$check") >"$d/host.log" 2>&1 || { err "$1's suite on the host: $(tail -c 600 "$d/host.log")"; return 1; }
	python3 "$REAL_COUNTS" "$kind" "$d/host.log" >"$d/host.counts" 2>&1 || { err "$1 on the host: $(cat "$d/host.counts")"; rm -f "$d/host.counts"; return 1; }
}

# A run's log ($3) read as the host's was: the same tests, the same
# results. $1 the project, $2 how it ran (for the messages).
real_same() {
	python3 "$REAL_COUNTS" "$kind" "$3" >"$3.counts" 2>&1 || { err "$1 ($2): $(cat "$3.counts"): $(tail -c 600 "$3")"; return 1; }
	if cmp -s "$T/real/$1/host.counts" "$3.counts"; then
		echo "# $1 ($2): $(tail -n 1 "$3.counts"), as on the host"
	else
		err "$1 ($2): not the host's results: $(diff "$T/real/$1/host.counts" "$3.counts" | head -n 12)"
	fi
}

# The toolchain layer: `FROM debian` with CMake from deb.debian.org
# (--network internet), as a build file makes it (item 2).
real_layer() {
	[ -f "$OSRUN_CACHE/snapshots/deb-cmake/meta.json" ] && return 0
	mkdir -p "$T/real/layer" && printf 'FROM debian\nRUN apt-get update && apt-get install -y --no-install-recommends cmake\n' >"$T/real/layer/Buildfile"
	"$OSRUN" build --network internet -f "$T/real/layer/Buildfile" -t deb-cmake >"$T/real/layer/out" 2>&1 ||
		{ err "the deb-cmake layer: $(tail -c 600 "$T/real/layer/out")"; return 1; }
}

# (a) Each suite as one GitLab job through the driver (ci-job.sh's
# harness): the sources cloned from a git daemon on the host, the build
# and the suite in step_script, the suite's log uploaded as the artifact
# and read on the host. The jobs run on plain `debian` (allowed by the
# admin; the job picks it with image:) and install what they need with
# apt, its downloads kept in the project's cache volume: the next job
# finds them there and downloads nothing.
t_real_gitlab() {
	debian_guest || return 0
	real_host jansson && real_host zlib || return 0
	g="$T/real/gitlab" && mkdir -p "$g/uploads"
	for p in jansson zlib; do
		real_project $p && real_unpack "$g/src-$p" || return 0
		(cd "$g/src-$p" && git init -q && git add -A -f . && git -c user.email=ci@example.com -c user.name=ci commit -qm "$top") >/dev/null ||
			{ err "$p: the repository"; return 0; }
		git clone -q --bare "$g/src-$p" "$g/$p.git"
	done
	gitlab_servers
	apt_cached='mkdir -p /cache/apt/lists/partial /cache/apt/archives/partial
apt_c() { apt-get -q -o Dir::State::Lists=/cache/apt/lists -o Dir::Cache::Archives=/cache/apt/archives "$@"; }'
	id=400
	for p in jansson zlib; do
		real_project $p
		id=$((id + 1))
		deps=true
		[ $p = jansson ] && deps='apt_c update && apt_c install -y --no-install-recommends cmake'
		real_job "$id" "$p" "$(printf 'set -e\n%s\n%s\ncd /builds/%s\n%s\nset +e\n(%s) >/builds/%s/suite.log 2>&1\nrc=$?\ncat /builds/%s/suite.log\nexit $rc' \
			"$apt_cached" "$deps" "$p" "$build" "$check" "$p" "$p")"
		[ "$job_rc" = 0 ] || { err "$p job: exit $job_rc: $(tail -c 1500 "$g/job-$id.log")"; continue; }
		[ -s "$g/uploads/suite-$id" ] || { err "$p job: no artifact: $(tail -c 600 "$g/job-$id.log")"; continue; }
		real_same $p "GitLab job" "$g/uploads/suite-$id"
		[ $p = jansson ] && { grep -q "Need to get [1-9]" "$g/job-$id.log" ||
			err "jansson job: apt downloaded nothing on a new cache volume: $(grep -i 'need to get' "$g/job-$id.log")"; }
	done
	# The next job of the project: CMake's packages are in the cache volume.
	id=$((id + 1))
	real_job "$id" jansson "$(printf '%s\napt_c install -y --download-only --no-install-recommends cmake' "$apt_cached")"
	[ "$job_rc" = 0 ] || err "the cache job: exit $job_rc: $(tail -c 800 "$g/job-$id.log")"
	grep -q "Need to get 0 B/" "$g/job-$id.log" || err "the cache volume did not keep apt's downloads: $(grep -i 'need to get' "$g/job-$id.log")"
	gitlab_servers_stop
	o snapshot rm --cache-volumes ci-7-0
	expect_rc 0
}

# One job of project 7 through the driver, on snapshot `debian`: $1 job id,
# $2 the repository, $3 step_script's text. The artifact is the suite's log.
real_job() {
	s="$g/scripts-$1" && mkdir -p "$s"
	gitlab_script "$s/prepare_script" 'echo "Running on $(hostname)"'
	gitlab_script "$s/get_sources" "$(printf 'set -e\nrm -rf /builds/%s\nmkdir -p /builds\ngit clone -q git://%s:%s/%s.git /builds/%s\necho fetched' "$2" "$gguest" "$gport" "$2" "$2")"
	gitlab_script "$s/restore_cache" 'ls /cache'
	gitlab_script "$s/download_artifacts" 'echo no artifacts to download'
	gitlab_script "$s/step_script" "$3"
	gitlab_script "$s/step_release" 'true'
	gitlab_script "$s/after_script" 'echo after'
	gitlab_script "$s/archive_cache" 'du -sh /cache'
	cp "$s/archive_cache" "$s/archive_cache_on_failure"
	# Debian's minimal system has no wget or curl: python3 posts the log.
	post="'import sys, urllib.request as u; u.urlopen(u.Request(sys.argv[1], data=open(sys.argv[2], \"rb\").read(), method=\"POST\")).read()'"
	gitlab_script "$s/upload_artifacts_on_success" "$(printf 'f=/builds/%s/suite.log; [ -f "$f" ] || exit 0; python3 -c %s http://%s:%s/suite-%s "$f"' \
		"$2" "$post" "$gguest" "$uport" "$1")"
	cp "$s/upload_artifacts_on_success" "$s/upload_artifacts_on_failure"
	gitlab_script "$s/cleanup_file_variables" 'true'
	RESPONSE_EXTRA='"image": {"name": "debian"}' ALLOWED_VAR="debian" gitlab_run_job "$1"
}

# (b) Each suite in an `osrun session`: sources copied in, built, tested
# in three requests; the log comes out through `session cp`.
t_real_session() {
	debian_guest || return 0
	real_layer && real_host jansson && real_host zlib || return 0
	for p in jansson zlib; do
		real_project $p
		d="$T/real/session-$p" && real_unpack "$d/src" || continue
		mkdir -p "$d/out" || { err "cannot make $d/out"; continue; }
		o session start -s "$snap" --name "real-$p"
		expect_rc 0
		[ "$rc" = 0 ] || continue
		o session cp "real-$p" "$d/src" guest:/src
		expect_rc 0
		o session exec "real-$p" -t 1800 "cd /src && $build"
		expect_rc 0
		o session exec "real-$p" -t 1800 "cd /src && ($check) >suite.log 2>&1"
		expect_rc 0
		o session cp "real-$p" guest:/src/suite.log "$d/out"
		expect_rc 0
		o session stop "real-$p"
		expect_rc 0
		real_same $p session "$d/out/suite.log"
	done
}

# (c) Each suite built by `osrun build` (COPY the tree, RUN the build: a
# layer) and tested by `osrun -s` from that layer.
t_real_build() {
	debian_guest || return 0
	real_layer && real_host jansson && real_host zlib || return 0
	for p in jansson zlib; do
		real_project $p
		d="$T/real/build-$p" && real_unpack "$d/ctx/src" || continue
		printf 'FROM %s\nCOPY src /src\nWORKDIR /src\nRUN %s\n' "$snap" "$build" >"$d/ctx/Buildfile"
		o build --timeout 1800 -t "real-$p" "$d/ctx"
		expect_rc 0
		[ "$rc" = 0 ] || continue
		"$OSRUN" -s "real-$p" -t 1800 "cd /src && $check" >"$d/suite.log" 2>"$T/err" </dev/null
		rc=$?
		expect_rc 0
		real_same $p "build, -s" "$d/suite.log"
		"$OSRUN" snapshot rm "real-$p" >/dev/null 2>&1
	done
}

ALL_REAL="t_real_gitlab t_real_session t_real_build"
