#!/bin/sh
# Builds the Dockerfile without a Docker engine (buildah, chroot isolation,
# vfs storage) on a base image made here with debootstrap from the machine's
# own apt source, then runs osrun inside the image: --help, --version, and a
# real provision + run on the test guest.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d /tmp/osrun-image.XXXXXX)
S="--storage-driver vfs --root $T/storage --runroot $T/run"
ctr=""
cleanup() {
	[ -n "$ctr" ] && buildah $S rm "$ctr" >/dev/null 2>&1
	buildah $S rm --all >/dev/null 2>&1
	buildah $S rmi --all --force >/dev/null 2>&1
	rm -rf "$T" 2>/dev/null || { umount -R "$T"/storage/* 2>/dev/null; rm -rf "$T"; }
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass=0 fail=0
check() { if eval "$2"; then pass=$((pass + 1)); echo "ok - $1"; else fail=$((fail + 1)); echo "not ok - $1"; fi; }

mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
	awk '/^deb / { print $2; exit }' /etc/apt/sources.list)
echo "# debootstrap from $mirror"
debootstrap --variant=minbase bookworm "$T/base" "$mirror" >"$T/debootstrap.log" 2>&1 ||
	{ tail -5 "$T/debootstrap.log"; exit 1; }
tar -C "$T/base" -c . | podman $S import - localhost/debian:bookworm-slim >/dev/null
rm -rf "$T/base"

echo "# buildah bud"
buildah $S bud --isolation chroot --network host --layers=false \
	--build-arg BASE=localhost/debian:bookworm-slim --build-arg WITH_TEST_GUEST=1 \
	-t localhost/osrun:test "$top" >"$T/build.log" 2>&1 || { tail -30 "$T/build.log"; exit 1; }

ctr=$(buildah $S from localhost/osrun:test)
in_image() { buildah $S run --isolation chroot "$ctr" -- "$@"; }

check "osrun --help in the image" 'in_image osrun --help | grep -q "Usage: osrun"'
check "osrun --version in the image" 'in_image osrun --version | grep -q "^osrun "'
check "image build finds its Windows guest-init and checks its inputs" \
	'in_image osrun image build --iso /nope.iso --virtio-win /nope 2>&1 | grep -q "/nope.iso: No such file" &&
	 in_image test -f /usr/local/share/osrun/guest-init/windows/firstlogon.ps1'
check "no compiler in the final image" '! in_image sh -c "command -v cc || command -v gcc" >/dev/null 2>&1'
check "provision the test guest in the image" 'in_image osrun provision >"$T/p.log" 2>&1 || { cat "$T/p.log"; false; }'
rc=0
out=$(in_image osrun 'echo hi; exit 4' 2>"$T/run.err") || rc=$?
check "a run in the image prints hi" '[ "$out" = hi ] || { cat "$T/run.err"; false; }'
check "and exits 4" '[ "$rc" = 4 ]'
size=$(buildah $S images --format '{{.Size}}' localhost/osrun:test | head -n 1)
echo "# image size: $size"
echo "image: $pass passed, $fail failed"
[ "$fail" = 0 ]
