#!/bin/sh
# Builds the Linux test guest from Debian packages only:
#   OUT/vmlinuz, OUT/initrd.img, OUT/disk.qcow2
# HELPER is the static osrun-guest the Makefile builds (default: beside
# this script, where make install puts it).
# Needs: apt-get (with a package list), dpkg, kmod, busybox-static,
# qemu-guest-agent, cpio, gzip, e2fsprogs, qemu-utils.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR [HELPER]}
helper=${2:-$here/osrun-guest}
[ -x "$helper" ] || { echo "build.sh: no osrun-guest at $helper (make builds it)" >&2; exit 1; }
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/work
rm -rf "$work"
mkdir -p "$work/deb" "$work/initrd"

# The kernel is whatever ABI linux-image-amd64 points at today.
pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$pkg" ] || { echo "build.sh: cannot resolve linux-image-amd64 (run apt-get update)" >&2; exit 1; }
deb=$(ls "$out"/${pkg}_*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
	(cd "$out" && apt-get download -q "$pkg" >/dev/null 2>&1) || { echo "build.sh: apt-get download $pkg failed" >&2; exit 1; }
	deb=$(ls "$out"/${pkg}_*.deb | head -n 1)
fi
dpkg -x "$deb" "$work/deb"
kver=$(ls "$work/deb/lib/modules")
depmod -b "$work/deb" "$kver"

r=$work/initrd
mkdir -p "$r/bin" "$r/sbin" "$r/usr/bin" "$r/usr/sbin" "$r/usr/lib/osrun" "$r/lib/modules/$kver" \
	"$r/proc" "$r/sys" "$r/dev" "$r/etc" "$r/lib64" "$r/lib/x86_64-linux-gnu"

# busybox provides every command, as in a Windows guest's cmd.exe world only
# the basics are there.
cp /bin/busybox "$r/bin/busybox"
for a in $("$r/bin/busybox" --list); do
	[ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
done
# qemu-ga runs these by absolute path (guest-shutdown).
for a in poweroff reboot halt; do
	ln -s ../bin/busybox "$r/sbin/$a"
done
# guest-set-time sets the kernel clock, then runs /sbin/hwclock -w, which
# busybox aligns to a second boundary (0.15 s on average under TCG). A VM
# that is thrown away has no use for its RTC: the kernel clock is what
# commands see.
ln -s ../bin/true "$r/sbin/hwclock"

# git: a CI job's get_sources stage clones in the job's environment (the
# GitLab custom executor expects git on PATH). Its builtins (clone, fetch,
# upload-pack for local clones) are one binary; http(s) remotes would need
# git-remote-http and curl, which the test guest does without.
cp /usr/sbin/qemu-ga "$r/usr/sbin/"
cp /usr/bin/git "$r/usr/bin/git"
mkdir -p "$r/usr/lib/git-core" "$r/usr/share/git-core/templates"
for a in git-upload-pack git-receive-pack git-upload-archive; do
	ln -s ../../bin/git "$r/usr/lib/git-core/$a"
done
for lib in $(ldd /usr/sbin/qemu-ga /usr/bin/git | awk '/=> \//{print $3}' | sort -u) /lib64/ld-linux-x86-64.so.2; do
	cp -L "$lib" "$r$lib"
done

mods="virtio_pci virtio_net virtio_console virtio_blk crc32c_generic cifs ext4"
for m in $(modprobe -d "$work/deb" -S "$kver" -a --show-depends $mods | awk '$1=="insmod"{print $2}'); do
	rel=${m#"$work/deb/lib/modules/$kver/"}
	mkdir -p "$r/lib/modules/$kver/$(dirname "$rel")"
	cp "$m" "$r/lib/modules/$kver/$rel"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
	cp "$work/deb/lib/modules/$kver/$f" "$r/lib/modules/$kver/"
done
depmod -b "$r" "$kver"

cp "$here/init" "$r/init"
install -m 0755 "$helper" "$r/usr/lib/osrun/osrun-guest"
chmod 0755 "$r/init" "$r/usr/lib/osrun/"*
echo "root:x:0:0:root:/root:/bin/sh" > "$r/etc/passwd"
echo "root:x:0:" > "$r/etc/group"

(cd "$r" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img.tmp"
cp "$work/deb/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"

# The guest's disk: an empty ext4 file system, so snapshot layers have a disk to
# hold; made here so the guest never formats anything itself.
truncate -s 256M "$work/disk.raw"
mkfs.ext4 -q -F -L osrun-data "$work/disk.raw"
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$out/disk.qcow2.tmp"

# The build stages' scripts: provision hands them to the guest one per stage.
rm -rf "$out/stages"
mkdir -p "$out/stages"
cp "$here"/stages/*.sh "$out/stages/"

mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/disk.qcow2.tmp" "$out/disk.qcow2"
rm -rf "$work"
echo "$kver" > "$out/kernel-version"
