#!/bin/sh
# Builds the Debian guest (bookworm, systemd) from Debian packages:
#   OUT/vmlinuz, OUT/initrd.img, OUT/disk.qcow2, OUT/stages/*.sh
# the same files as the test guest, so the stage engine builds its snapshot
# (osrun provision debian). HELPER is the static osrun-guest.
# Needs: root, debootstrap, e2fsprogs (mkfs.ext4 -d), qemu-utils; reaches
# $DEBIAN_MIRROR (default http://deb.debian.org/debian).
#
# Two caches under OUT: debs/ (every .deb downloaded, so a rebuild
# downloads nothing) and base/ (the debootstrapped tree, kept while the
# package list and suite are the same). The image is remade when this
# directory's files or the helper change; else nothing is done.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR HELPER}
helper=${2:?usage: build.sh OUTDIR HELPER}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
[ -x "$helper" ] || { echo "debian/build.sh: no osrun-guest at $helper" >&2; exit 1; }
helper=$(cd "$(dirname "$helper")" && pwd)/$(basename "$helper")
[ "$(id -u)" = 0 ] || { echo "debian/build.sh: debootstrap needs root" >&2; exit 1; }
mkdir -p "$out/debs"
out=$(cd "$out" && pwd)

# systemd-timesyncd, systemd-resolved and man-db are left out on purpose
# (docs/debian-guest.md); udev names the agent's virtio port.
pkgs=systemd,systemd-sysv,udev,dbus,kmod,iproute2,procps,qemu-guest-agent,cifs-utils,bash,gcc,libc6-dev,make,git,python3,ca-certificates,linux-image-amd64,initramfs-tools
key=$( (echo "$suite $mirror $pkgs"; cd "$here" && find . -type f | LC_ALL=C sort | xargs cat; cat "$helper") | sha256sum | cut -c1-16)
if [ "$(cat "$out/inputs" 2>/dev/null)" = "$key" ] && [ -f "$out/disk.qcow2" ] && [ -f "$out/initrd.img" ]; then
	echo "debian guest in $out is up to date"
	exit 0
fi
t0=$(date +%s)

base=$out/base
if [ "$(cat "$base.pkgs" 2>/dev/null)" != "$suite $mirror $pkgs" ]; then
	rm -rf "$base" "$base.pkgs"
	debootstrap --variant=minbase --include="$pkgs" --cache-dir="$out/debs" "$suite" "$base.new" "$mirror"
	# debootstrap leaves its .debs in the tree too; debs/ has them.
	rm -f "$base.new"/var/cache/apt/archives/*.deb
	mv "$base.new" "$base"
	echo "$suite $mirror $pkgs" >"$base.pkgs"
fi
t1=$(date +%s)

r=$out/work/rootfs
rm -rf "$out/work"
mkdir -p "$out/work"
cp -a "$base" "$r"
sh "$here/customize.sh" "$r" "$helper"

kver=$(ls "$r/lib/modules" | head -n 1)
cp "$r/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
cp "$r/boot/initrd.img-$kver" "$out/initrd.img.tmp"

# The root file system, made from the tree without a loop mount. 8 GiB of
# room for the layers (toolchains) installed later; the qcow2 holds only
# what is written.
truncate -s 8G "$out/work/disk.raw"
mkfs.ext4 -q -F -L osrun-root -d "$r" "$out/work/disk.raw"
qemu-img convert -q -f raw -O qcow2 "$out/work/disk.raw" "$out/disk.qcow2.tmp"

rm -rf "$out/stages"
mkdir -p "$out/stages"
cp "$here"/stages/*.sh "$out/stages/"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/disk.qcow2.tmp" "$out/disk.qcow2"
echo "$kver" >"$out/kernel-version"
rm -rf "$out/work"
echo "$key" >"$out/inputs"
t2=$(date +%s)
echo "debian guest in $out: debootstrap $((t1 - t0)) s, image $((t2 - t1)) s"
