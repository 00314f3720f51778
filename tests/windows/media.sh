# The synthetic Windows media the offline tests share, made under $T:
# win.iso (a real WIM with two editions, Setup's boot file paths), virtio.iso,
# nowim.iso (no install image), oldvirtio.iso (no Windows 11 drivers) and
# notes.txt (not an image); $w and $v are their folders. Sourced.
w=$T/win
mkdir -p "$w/boot" "$w/efi/microsoft/boot" "$w/sources" "$T/img1/Windows/System32" "$T/img2/Windows/System32"
echo home >"$T/img1/Windows/System32/edition.txt"
echo pro >"$T/img2/Windows/System32/edition.txt"
head -c 2048 /dev/zero >"$w/boot/etfsboot.com"
head -c 2048 /dev/zero >"$w/efi/microsoft/boot/efisys.bin"
: >"$w/bootmgr"
: >"$w/sources/boot.wim"
wimlib-imagex capture "$T/img1" "$w/sources/install.wim" "Windows 11 Home" >/dev/null
wimlib-imagex append "$T/img2" "$w/sources/install.wim" "Windows 11 Pro" >/dev/null
for i in 1 2; do
	id=Core; [ $i = 2 ] && id=Professional
	wimlib-imagex info "$w/sources/install.wim" $i --image-property WINDOWS/EDITIONID=$id \
		--image-property WINDOWS/VERSION/BUILD=26100 --image-property WINDOWS/INSTALLATIONTYPE=Client >/dev/null
done
xorriso -as mkisofs -quiet -J -joliet-long -R -V CCCOMA_X64FRE_EN-US_DV9 -o "$T/win.iso" "$w" 2>/dev/null

v=$T/virtio
for d in viostor NetKVM vioserial; do
	mkdir -p "$v/$d/w11/amd64" "$v/$d/w10/amd64"
	echo "[Version]" >"$v/$d/w11/amd64/$d.inf"
	echo "[Version]" >"$v/$d/w10/amd64/$d.inf"
done
mkdir -p "$v/guest-agent"
echo "MSI placeholder" >"$v/guest-agent/qemu-ga-x86_64.msi"
xorriso -as mkisofs -quiet -J -R -V virtio-win -o "$T/virtio.iso" "$v" 2>/dev/null

# An ISO without an install image, and one without drivers for Windows 11.
mkdir -p "$T/nowim/sources" "$T/oldvirtio/viostor/w10/amd64"
: >"$T/nowim/sources/boot.wim"
xorriso -as mkisofs -quiet -J -R -V EMPTY -o "$T/nowim.iso" "$T/nowim" 2>/dev/null
xorriso -as mkisofs -quiet -J -R -V old -o "$T/oldvirtio.iso" "$T/oldvirtio" 2>/dev/null
echo "not an image" >"$T/notes.txt"

