#!/bin/sh
# Installs what building and testing osrun needs, from Debian's packages
# (docker.io, buildah, podman and debootstrap are for `make image-test`; wimtools,
# xorriso, libxml2-utils for the Windows builder's offline tests; libnss-wrapper
# gives QEMU a user name when osrun runs as a user without a passwd entry;
# clang and its runtime for the fuzz targets, valgrind for `make valgrind`;
# python3-yaml for tests/integration/gh-render.py; mingw-w64 builds the
# Windows guest's helper, wine64 runs it in tests/windows/wine.sh, where
# libarchive-tools' bsdtar stands in for Windows' tar.exe; libc6-dev
# has the libc.a the Linux guest's static osrun-guest links; libnbd-dev and
# ntfs-3g-dev read a failed stage's disk, and ntfs-3g's mkntfs and fdisk's
# sfdisk make the NTFS disks its tests read; skopeo and libzstd-dev for
# snapshot push/pull, docker-registry for their tests; libcurl4-openssl-dev
# for image fetch, openssl for its tests' throwaway CA; cmake and curl
# build and fetch the real suites of make check-real on the host).
set -eu
pkgs="gcc libc6-dev make pkg-config libjson-c-dev libxml2-dev libwim-dev libarchive-dev libcurl4-openssl-dev libssl-dev libnbd-dev ntfs-3g-dev
ntfs-3g fdisk wimtools xorriso libxml2-utils mtools xfsprogs
qemu-system-x86 qemu-utils samba libnss-wrapper qemu-guest-agent busybox-static git kmod cpio e2fsprogs procps iproute2
novnc websockify python3 python3-yaml openssl clang libclang-rt-14-dev clang-format valgrind gcc-mingw-w64-x86-64 wine64 libarchive-tools
buildah podman debootstrap docker.io skopeo libzstd-dev docker-registry
cmake curl"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
# Node.js for the PowerShell syntax check: Debian's nodejs and npm, unless a
# Node.js with npm is installed already (NodeSource's nodejs bundles npm and
# conflicts with Debian's npm package).
command -v npm >/dev/null || missing="$missing nodejs npm"
# The test guest's kernel comes from apt's lists, so they must be fresh.
apt-get update -qq
[ -z "$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
# The PowerShell syntax check's grammar (tests/windows/ps-parse), pinned by
# its package-lock.json; --ignore-scripts: the WebAssembly grammar needs no
# native build.
npm ci --prefix "$(dirname "$0")/windows/ps-parse" --ignore-scripts --no-audit --no-fund --loglevel=error
