#!/bin/sh
# Turns a debootstrapped bookworm tree (ROOT) into the Debian guest: the
# osrun helper, the units and settings under rootfs/, and the units masked
# that would act on a restored clone (docs/debian-guest.md says why each).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=${1:?usage: customize.sh ROOT HELPER}
helper=${2:?usage: customize.sh ROOT HELPER}

cp -R "$here/rootfs/." "$root/"
install -m 0755 "$helper" "$root/usr/lib/osrun/osrun-guest"
chmod 0755 "$root/usr/lib/osrun/stage"
chmod 0644 "$root/etc/resolv.conf" "$root/etc/hostname" "$root/etc/fstab"

# qemu-ga's guest-set-time (every restore) runs /sbin/hwclock -w after
# setting the kernel clock. A thrown-away VM's RTC is of no use, and
# hwclock waits for a second boundary to set it: util-linux-extra's is
# diverted and /sbin/hwclock is the static helper, which exits 0 when
# called as hwclock (true(1) is dynamically linked: 50 ms more a restore).
if [ ! -L "$root/sbin/hwclock" ]; then
	chroot "$root" dpkg-divert --quiet --local --rename --divert /sbin/hwclock.osrun --add /sbin/hwclock
fi
ln -sfn /usr/lib/osrun/osrun-guest "$root/sbin/hwclock"

systemctl --root="$root" enable systemd-networkd.service osrun-stage.service >/dev/null 2>&1
systemctl --root="$root" set-default multi-user.target >/dev/null 2>&1

# Timers fire when a restore moves the wall clock past their time (apt-daily,
# man-db, fstrim, e2scrub, dpkg-db-backup, tmpfiles-clean): all masked. No
# one logs in on a console: the gettys go too.
for u in $(cd "$root/lib/systemd/system" && ls -- *.timer) getty@.service serial-getty@.service \
	console-getty.service e2scrub_reap.service apt-daily.service apt-daily-upgrade.service \
	systemd-timesyncd.service; do
	ln -sf /dev/null "$root/etc/systemd/system/$u"
done
