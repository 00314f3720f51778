#!/bin/sh
# Offline tests of the Windows image builder (issue 4). Nobody can boot
# Windows here, so a synthetic Windows-layout ISO stands in: a real WIM made
# with wimlib holding two editions, Setup's boot file paths, and a synthetic
# virtio-win ISO. `osrun image build --dry-run` must pick the edition, write
# the setup medium and print each stage's QEMU command line; the medium is
# read back with xorriso and its autounattend.xml checked by XPath. No QEMU
# may start in any of these (a counting wrapper stands in for it).
#   OSRUN=path/to/osrun sh tests/windows/run.sh
set -u
: "${OSRUN:?set OSRUN to the osrun binary}"
T=$(mktemp -d /tmp/osrun-wtest.XXXXXX)
export OSRUN_CACHE="$T/cache" TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
trap 'rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

pass=0 fail=0
check() {
	if eval "$2"; then pass=$((pass + 1)); echo "ok - $1"
	else fail=$((fail + 1)); echo "not ok - $1"; fi
}
o() { "$OSRUN" "$@" >"$T/out" 2>"$T/err" </dev/null; rc=$?; }
has_err() { grep -q -- "$1" "$T/err" || { echo "#   stderr: $(cat "$T/err")"; false; }; }

# QEMU must never start: a wrapper that records it if it does.
printf '#!/bin/sh\necho started >>"%s"\nexit 1\n' "$T/qemu-starts" >"$T/qemu"
chmod +x "$T/qemu"
export OSRUN_QEMU="$T/qemu"
# Where /dev/kvm opens, osrun would try it with a paused QEMU first.
export OSRUN_ACCEL=tcg
no_qemu() { [ ! -e "$T/qemu-starts" ]; }

# --- the synthetic media -------------------------------------------------
. "$(dirname "$0")/media.sh"

# --- a dry run ---------------------------------------------------------------
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --dry-run
check "dry run succeeds" '[ $rc = 0 ] || { cat "$T/err"; false; }'
check "Pro is the default edition (index 2)" 'has_err "edition 2: Windows 11 Pro (build 26100, drivers w11, language en-US)"'
medium=$(sed -n 's/^osrun: setup medium: //p' "$T/err")
check "the setup medium is written to the store" '[ -f "$medium" ] && case $medium in "$OSRUN_CACHE"/*) true ;; *) false ;; esac'
check "the medium (it holds the password) is 0600" '[ "$(stat -c %a "$medium")" = 600 ]'
check "nothing in the store is open to group or others" \
	'[ -z "$(find "$OSRUN_CACHE" ! -type l -perm /077 -printf "%m %p\n" | tee "$T/wide")" ] || { cat "$T/wide"; false; }'
for s in setup firstboot configure cleanup; do
	check "stage $s's QEMU command line is printed" 'grep -A3 "^stage [0-9]/4 $s:" "$T/out" | grep -q "^  qemu: [^ ]* -nodefaults "'
done
check "setup boots the Windows ISO, read-only" 'grep -A3 "^stage 1/4 setup:" "$T/out" | grep "qemu:" | grep -q "file=$T/win.iso,if=none,id=cd0,media=cdrom,readonly=on.*bootindex=0"'
check "Windows Setup's first pass is bounded by 90 min, the other stages by 4 h" \
	'grep -A3 "^stage 1/4 setup:" "$T/out" | grep -q "timeout: 5400 s" && [ "$(grep -c "timeout: 14400 s" "$T/out")" = 3 ]'
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --dry-run --setup-timeout 600
check "--setup-timeout sets it" '[ $rc = 0 ] && grep -A3 "^stage 1/4 setup:" "$T/out" | grep -q "timeout: 600 s"'
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --dry-run
check "every stage ends QEMU at the guest's reboot" '[ "$(grep -c "qemu:.*-action reboot=shutdown" "$T/out")" = 4 ]'
check "the stage scripts are named" 'grep -q "script: .*configure.ps1" "$T/out" && grep -q "script: .*cleanup.ps1" "$T/out"'
check "the final boot is printed, with its RAM file and without build media" \
	'grep -A1 "^snapshot provisioned:" "$T/out" | grep "qemu:" | grep "mem-path=" | grep -vq "ide-cd"'
check "a dry run starts no QEMU" no_qemu
check "a dry run makes no snapshot" '[ -z "$(ls -A "$OSRUN_CACHE/snapshots")" ]'

# --- the medium, read back -----------------------------------------------
x=$T/medium
xorriso -osirrox on -indev "$medium" -extract / "$x" >/dev/null 2>&1
ua=$x/autounattend.xml
xp() { xmllint --xpath "$1" "$ua" 2>/dev/null; }
check "autounattend.xml is at the medium's root" '[ -f "$ua" ]'
check "autounattend.xml is well-formed" 'xmllint --noout "$ua"'
# local-name(): the answer file's elements are in Microsoft's namespace.
n() { printf "*[local-name()='%s']" "$1"; }
# Every setting in the answer file is one a working project's answer file
# or Microsoft's reference has in that pass and component: a misspelt or
# misplaced setting makes Setup stop with a dialog nobody sees here.
settings_of() {
	python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
def ln(e): return e.tag.split('}')[-1]
for s in ET.parse(sys.argv[1]).getroot():
    if ln(s) != 'settings':
        continue
    for c in s:
        def walk(e, pre):
            for ch in e:
                p = pre + '/' + ln(ch)
                print(s.get('pass'), c.get('name'), p)
                walk(ch, p)
        walk(c, '')
PY
}
allow=$(dirname "$0")/unattend-allowlist.txt
settings_of "$ua" | sort -u >"$T/settings"
grep -v '^#' "$allow" | cut -d' ' -f1-3 | sort -u >"$T/allowed"
check "every answer-file setting is on the allowlist (pass, component, path, with a source)" \
	'[ -s "$T/settings" ] && ! comm -23 "$T/settings" "$T/allowed" | grep . || { echo "#   not on $allow:"; comm -23 "$T/settings" "$T/allowed"; false; }'
printf '<unattend xmlns="urn:schemas-microsoft-com:unattend"><settings pass="windowsPE"><component name="Microsoft-Windows-Setup"><UserData><AcceptEULA>true</AcceptEULA></UserData></component></settings></unattend>\n' >"$T/typo.xml"
settings_of "$T/typo.xml" | sort -u >"$T/settings2"
check "the allowlist check catches a misspelt setting (AcceptEULA for AcceptEula)" \
	'comm -23 "$T/settings2" "$T/allowed" | grep -q "AcceptEULA"'
check "the chosen index is installed" \
	'[ "$(xp "string(//$(n MetaData)[$(n Key)=\"/IMAGE/INDEX\"]/$(n Value))")" = 2 ]'
for b in BypassTPMCheck BypassSecureBootCheck BypassRAMCheck; do
	check "windowsPE sets LabConfig $b" \
		'[ "$(xp "count(//$(n settings)[@pass=\"windowsPE\"]//$(n RunSynchronousCommand)/$(n Path)[contains(., \"LabConfig\") and contains(., \"$b\")])")" = 1 ]'
done
# Setup reads no BypassCPUCheck or BypassStorageCheck; no anchor sets them.
check "LabConfig has those three values and no others" \
	'[ "$(xp "count(//$(n RunSynchronousCommand)/$(n Path)[contains(., \"LabConfig\")])")" = 3 ]'
check "the computer is not named like the user (a bare name in an ACL would be ambiguous)" \
	'cn=$(xp "string(//$(n settings)[@pass=\"specialize\"]//$(n ComputerName))"); [ -n "$cn" ] && [ "$(printf %s "$cn" | tr A-Z a-z)" != "$(xp "string(//$(n LocalAccount)/$(n Name))" | tr A-Z a-z)" ] && [ ${#cn} -le 15 ]'
check "MBR layout for BIOS: one active NTFS partition, Windows on partition 1" \
	'[ "$(xp "count(//$(n CreatePartition))")" = 1 ] && [ "$(xp "string(//$(n ModifyPartition)/$(n Active))")" = true ] && [ "$(xp "string(//$(n InstallTo)/$(n PartitionID))")" = 1 ]'
check "the EULA is accepted and Pro's generic key given" \
	'[ "$(xp "string(//$(n AcceptEula))")" = true ] && [ "$(xp "string(//$(n ProductKey)/$(n Key))")" = VK7JG-NPHTM-C97JM-9MPGT-3V66T ]'
# $WinPEDriver$ at the medium's root is all Setup needs (checked below).
check "no DriverPaths: none of the 23 drive-letter guesses" \
	'[ "$(xp "count(//$(n DriverPaths))")" = 0 ] && [ "$(xp "count(//$(n component)[@name=\"Microsoft-Windows-PnpCustomizationsWinPE\"])")" = 0 ]'
pw=$(cat "$OSRUN_CACHE/windows/admin-password")
check "a random administrator password, kept 0600 in the store" '[ ${#pw} -ge 16 ] && [ "$(stat -c %a "$OSRUN_CACHE/windows/admin-password")" = 600 ]'
check "the local administrator account with that password" \
	'[ "$(xp "string(//$(n LocalAccount)/$(n Name))")" = osrun ] && [ "$(xp "string(//$(n LocalAccount)/$(n Group))")" = Administrators ] && [ "$(xp "string(//$(n LocalAccount)/$(n Password)/$(n Value))")" = "$pw" ]'
check "AutoLogon as that account" \
	'[ "$(xp "string(//$(n AutoLogon)/$(n Username))")" = osrun ] && [ "$(xp "string(//$(n AutoLogon)/$(n Enabled))")" = true ]'
check "OOBE screens skipped" \
	'[ "$(xp "string(//$(n OOBE)/$(n HideOnlineAccountScreens))")" = true ] && [ "$(xp "string(//$(n OOBE)/$(n SkipMachineOOBE))")" = true ] && [ "$(xp "string(//$(n OOBE)/$(n SkipUserOOBE))")" = true ] && [ "$(xp "string(//$(n OOBE)/$(n ProtectYourPC))")" = 3 ]'
check "BypassNRO and PreventDeviceEncryption in specialize" \
	'xp "//$(n settings)[@pass=\"specialize\"]//$(n Path)[contains(., \"BypassNRO\")]" >/dev/null && xp "//$(n settings)[@pass=\"specialize\"]//$(n Path)[contains(., \"PreventDeviceEncryption\")]" >/dev/null'
check "time zone UTC" '[ "$(xp "string(//$(n settings)[@pass=\"oobeSystem\"]//$(n TimeZone))")" = UTC ]'
check "FirstLogonCommands find the medium on any letter and run firstlogon.ps1" \
	'xp "string(//$(n FirstLogonCommands)/$(n SynchronousCommand)/$(n CommandLine))" | grep -q "for %d in (D E .* Z) do @if exist %d:\\\\osrun\\\\osrun.tag powershell.exe .*-File %d:\\\\osrun\\\\firstlogon.ps1"'
for s in firstlogon.ps1 stage-runner.ps1 osrun-guest.exe osrun.tag; do
	check "guest-init $s is on the medium" '[ -s "$x/osrun/$s" ]'
done
check "the virtio drivers for Windows 11 are on the medium" \
	'[ -f "$x/\$WinPEDriver\$/viostor/viostor.inf" ] && [ -f "$x/\$WinPEDriver\$/NetKVM/NetKVM.inf" ] && [ -f "$x/\$WinPEDriver\$/vioserial/vioserial.inf" ]'
check "the agent MSI is on the medium" 'cmp -s "$x/osrun/qemu-ga-x86_64.msi" "$v/guest-agent/qemu-ga-x86_64.msi"'

# --- edition choice --------------------------------------------------------
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --dry-run --edition 1
check "--edition 1 picks Home by index" '[ $rc = 0 ] && has_err "edition 1: Windows 11 Home"'
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --dry-run --edition "windows 11 pro"
check "--edition by name, any case" '[ $rc = 0 ] && has_err "edition 2: Windows 11 Pro"'
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --dry-run --edition Core
check "--edition by edition id" '[ $rc = 0 ] && has_err "edition 1: Windows 11 Home"'
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --dry-run
medium2=$(sed -n 's/^osrun: setup medium: //p' "$T/err")
check "the same inputs give the same medium (stage keys stay stable)" '[ "$medium2" = "$medium" ]'

# --- other media, with real WIMs: Server, arm64, another language ---------
# mkwin NAME "IMAGE NAME|EDITIONID|INSTALLATIONTYPE|BUILD|ARCH|LANGUAGE"...
mkwin() {
	name=$1; shift
	d=$T/$name; i=0
	mkdir -p "$d/boot" "$d/efi/microsoft/boot" "$d/sources" "$T/img1/Windows/System32"
	cp "$w/boot/etfsboot.com" "$d/boot/"; cp "$w/efi/microsoft/boot/efisys.bin" "$d/efi/microsoft/boot/"
	: >"$d/bootmgr"; : >"$d/sources/boot.wim"
	for spec in "$@"; do
		i=$((i + 1))
		IFS='|' read -r iname id itype build arch lang <<-SPEC
		$spec
		SPEC
		if [ $i = 1 ]; then wimlib-imagex capture "$T/img1" "$d/sources/install.wim" "$iname" >/dev/null
		else wimlib-imagex append "$T/img1" "$d/sources/install.wim" "$iname" >/dev/null; fi
		wimlib-imagex info "$d/sources/install.wim" $i --image-property WINDOWS/EDITIONID="$id" \
			--image-property WINDOWS/INSTALLATIONTYPE="$itype" --image-property WINDOWS/VERSION/BUILD="$build" \
			--image-property WINDOWS/ARCH="$arch" --image-property WINDOWS/LANGUAGES/DEFAULT="$lang" >/dev/null
	done
	xorriso -as mkisofs -quiet -J -joliet-long -R -V "$name" -o "$T/$name.iso" "$d" 2>/dev/null
}
for s in 2k25 w11 2k22; do
	for d in viostor NetKVM vioserial; do mkdir -p "$v/$d/$s/amd64"; echo "[Version]" >"$v/$d/$s/amd64/$d.inf"; done
done
xorriso -as mkisofs -quiet -J -R -V virtio-win -o "$T/virtio.iso" "$v" 2>/dev/null
mkwin server "Windows Server 2025 Standard|ServerStandard|Server Core|26100|9|en-US" \
	"Windows Server 2025 Standard (Desktop Experience)|ServerStandard|Server|26100|9|en-US" \
	"Windows Server 2025 Datacenter|ServerDatacenter|Server Core|26100|9|en-US" \
	"Windows Server 2025 Datacenter (Desktop Experience)|ServerDatacenter|Server|26100|9|en-US"
o image build --iso "$T/server.iso" --virtio-win "$T/virtio.iso" --dry-run
check "Server media: Standard with the Desktop Experience by default, and said so" \
	'[ $rc = 0 ] && has_err "edition id ServerStandard names several images: taking 2" && has_err "edition 2: Windows Server 2025 Standard (Desktop Experience) (build 26100, drivers 2k25"'
srv_medium=$(sed -n 's/^osrun: setup medium: //p' "$T/err")
xorriso -osirrox on -indev "$srv_medium" -extract /autounattend.xml "$T/srv.xml" >/dev/null 2>&1
check "Server 2025 Standard gets its published KMS client key" \
	'[ "$(xmllint --xpath "string(//$(n ProductKey)/$(n Key))" "$T/srv.xml")" = TVRH6-WHNXV-R9WG3-9XRFY-MY832 ]'
o image build --iso "$T/server.iso" --virtio-win "$T/virtio.iso" --dry-run --edition serverdatacenter
check "--edition ServerDatacenter: its Desktop Experience image" '[ $rc = 0 ] && has_err "taking 4" && has_err "edition 4: "'
o image build --iso "$T/server.iso" --virtio-win "$T/virtio.iso" --dry-run --edition 3
check "--edition 3: Server Core, exactly, nothing said" '[ $rc = 0 ] && has_err "edition 3: Windows Server 2025 Datacenter (build" && ! grep -q "names several" "$T/err"'
mkwin arm "Windows 11 Pro|Professional|Client|26100|12|en-US"
o image build --iso "$T/arm.iso" --virtio-win "$T/virtio.iso" --dry-run
check "an arm64 image is refused, named" '[ $rc = 125 ] && has_err "edition 1 is for arm64 (WINDOWS/ARCH 12); osrun runs x64 guests"'
mkwin de "Windows 11 Pro|Professional|Client|26100|9|de-DE"
o image build --iso "$T/de.iso" --virtio-win "$T/virtio.iso" --dry-run
de_medium=$(sed -n 's/^osrun: setup medium: //p' "$T/err")
xorriso -osirrox on -indev "$de_medium" -extract /autounattend.xml "$T/de.xml" >/dev/null 2>&1
check "Setup's language is the image's (de-DE), in windowsPE and oobeSystem" \
	'[ $rc = 0 ] && has_err "language de-DE" && [ "$(xmllint --xpath "count(//$(n UILanguage)[.=\"de-DE\"])" "$T/de.xml")" -ge 2 ] && [ "$(xmllint --xpath "count(//$(n UILanguage)[.=\"en-US\"])" "$T/de.xml")" = 0 ]'
check "Dynamic Update is off" \
	'[ "$(xmllint --xpath "string(//$(n DynamicUpdate)/$(n Enable))" "$T/de.xml")" = false ]'
mkwin single "Windows 11 Home Single Language|CoreSingleLanguage|Client|26100|9|en-US"
o image build --iso "$T/single.iso" --virtio-win "$T/virtio.iso" --dry-run
check "an edition without a known key is refused before Setup would stop at its key page" \
	'[ $rc = 125 ] && has_err "no key that selects edition 1 (CoreSingleLanguage)" && has_err "--product-key"'
o image build --iso "$T/single.iso" --virtio-win "$T/virtio.iso" --dry-run --product-key AAAAA-BBBBB-CCCCC-DDDDD-EEEEE
check "... and taken with --product-key" '[ $rc = 0 ]'
mkwin eval "Windows Server 2022 Standard Evaluation (Desktop Experience)|ServerStandardEval|Server|20348|9|en-US"
o image build --iso "$T/eval.iso" --virtio-win "$T/virtio.iso" --dry-run
eval_medium=$(sed -n 's/^osrun: setup medium: //p' "$T/err")
xorriso -osirrox on -indev "$eval_medium" -extract /autounattend.xml "$T/eval.xml" >/dev/null 2>&1
check "evaluation media: no key" '[ $rc = 0 ] && [ "$(xmllint --xpath "count(//$(n ProductKey))" "$T/eval.xml")" = 0 ]'

# --- wrong inputs: a clear message, nothing started --------------------------
# Without --iso or --virtio-win osrun fetches them (tests/windows/fetch.sh);
# here the mirror is a closed local port, so nothing reaches the internet.
export OSRUN_ISO_MIRROR=https://127.0.0.1:9
o image build --virtio-win "$T/virtio.iso"
check "no --iso: the Windows ISO is fetched" '[ $rc = 125 ] && has_err "fetching 11: Windows 11" && has_err "127.0.0.1:9/tags"'
o image build --iso "$T/nope.iso" --virtio-win "$T/virtio.iso"
check "missing ISO file" '[ $rc = 125 ] && has_err "--iso $T/nope.iso: No such file or directory"'
o image build --iso "$T/notes.txt" --virtio-win "$T/virtio.iso"
check "not an ISO" '[ $rc = 125 ] && has_err "--iso $T/notes.txt: not an ISO 9660 image"'
o image build --iso "$T/nowim.iso" --virtio-win "$T/virtio.iso"
check "no WIM inside" '[ $rc = 125 ] && has_err "no sources/install.wim or install.esd in ISO"'
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --edition Enterprise
check "unknown edition, with the list" '[ $rc = 125 ] && has_err "--edition .Enterprise.: not in" && has_err "2: Windows 11 Pro (Professional)"'
o image build --iso "$T/win.iso"
check "no --virtio-win: it is fetched" '[ $rc = 125 ] && has_err "fetching virtio-win" && has_err "127.0.0.1:9/groups/virt/virtio-win"'
o image build --iso "$T/win.iso" --version 10
check "--version with --iso is refused" '[ $rc = 125 ] && has_err "\-\-version picks an ISO to fetch"'
unset OSRUN_ISO_MIRROR
o image build --iso "$T/win.iso" --virtio-win "$T/nope-virtio.iso"
check "missing virtio-win file" '[ $rc = 125 ] && has_err "--virtio-win $T/nope-virtio.iso: No such file"'
o image build --iso "$T/win.iso" --virtio-win "$T/oldvirtio.iso"
check "virtio-win without Windows 11 drivers" '[ $rc = 125 ] && has_err "no viostor/w11/amd64"'
o image build --iso "$T/win.iso" --virtio-win "$T/virtio.iso" --size 2
check "a disk too small" '[ $rc = 125 ] && has_err "--size .2.: expected GiB"'
o image frobnicate
check "unknown image subcommand" '[ $rc = 125 ] && has_err "unknown subcommand .frobnicate."'
# --- osrun build on a Windows snapshot: a dry run shows what cmd gets -----
# The snapshot is only its meta.json: a dry run reads nothing else.
mkdir -m 700 "$OSRUN_CACHE/snapshots/win"
printf '{"version":1,"image":"build-0123","machine":{"profile":"windows","memory_mib":4096,"cpus":2,"accel":"tcg"},"created":"2026-01-01T00:00:00Z","made_by":"provision"}' \
	>"$OSRUN_CACHE/snapshots/win/meta.json"
mkdir -p "$T/bctx/tools" && echo x >"$T/bctx/tools/a.txt"
cat >"$T/bctx/Buildfile" <<'EOF'
# escape=`
FROM win
WORKDIR C:\work
COPY tools tools
RUN dir C:\ && `
    echo done
SHELL ["powershell", "-NoProfile", "-Command"]
RUN Write-Output "a b"
RUN ["C:\\Program Files\\x.exe", "a\\", "q\"q"]
EOF
o build --dry-run -f "$T/bctx/Buildfile"
check "build --dry-run from a Windows snapshot" '[ $rc = 0 ] || { cat "$T/err"; false; }'
exp_cont='RUN dir C:\ &&     echo done'
exp_shell='RUN "powershell" "-NoProfile" "-Command" "Write-Output \"a b\""'
exp_exec='RUN "C:\Program Files\x.exe" "a\\" "q\"q"'
check "escape=\` continues a RUN line and C:\\ stays as it is" 'grep -qF -e "$exp_cont" "$T/out" || { cat "$T/out"; false; }'
check "SHELL's words and RUN's text, quoted by the C runtime's rules" 'grep -qF -e "$exp_shell" "$T/out" || { cat "$T/out"; false; }'
check "the exec form: backslashes doubled only before a quote" 'grep -qF -e "$exp_exec" "$T/out" || { cat "$T/out"; false; }'
check "every step would run" '[ "$(grep -c "^run " "$T/out")" = 4 ]'
rm -rf "$OSRUN_CACHE/snapshots/win"

# --- PowerShell syntax (tree-sitter-powershell, installed by make deps) ---
ps=$(dirname "$0")/ps-parse
top=$(dirname "$0")/../..
win=$top/guest-init/windows
if [ -d "$ps/node_modules/web-tree-sitter" ]; then
	# Best effort, 'Continue' (each script says why): the stages that go on
	# past a failing step, the stage runner (native stderr lines would end
	# its stage under 'Stop'). Every other script 'Stop'.
	lint() { node "$ps/check.cjs" --continue cleanup.ps1,configure.ps1,stage-runner.ps1 "$@"; }
	claims() { node "$ps/claims.cjs" "$@"; }
	# A control: guest-init/windows/SCRIPT copied and broken by SED, with
	# KEPT (the comment or string naming what the code did) still in it,
	# must make CHECK exit 1 and say WANT.
	broken_fails() {
		mkdir -p "$T/ctl" && cp "$win/$c_script" "$T/ctl/" && sed -i "$c_sed" "$T/ctl/$c_script" || return 1
		if cmp -s "$win/$c_script" "$T/ctl/$c_script"; then echo "#   sed '$c_sed' changed nothing"; return 1; fi
		grep -qF -- "$c_kept" "$T/ctl/$c_script" || { echo "#   '$c_kept' went too"; return 1; }
		$c_check "$T/ctl/$c_script" >"$T/ps" 2>&1
		c_rc=$?
		[ $c_rc = 1 ] && grep -qF -- "$c_want" "$T/ps" || { echo "#   exit $c_rc:"; sed 's/^/#   /' "$T/ps"; false; }
	}
	control() { # NAME SCRIPT SED KEPT CHECK WANT
		c_script=$2 c_sed=$3 c_kept=$4 c_check=$5 c_want=$6
		check "control: $1" broken_fails
	}
	check "every guest PowerShell script parses and passes the lint" 'lint "$win"/*.ps1 >"$T/ps" 2>&1 || { sed "s/^/#   /" "$T/ps"; false; }'
	printf 'if ($x {\n\t"never closed"\n' >"$T/bad.ps1"
	check "the syntax check names a broken script's line" 'lint "$T/bad.ps1" >"$T/ps" 2>&1; [ $? = 1 ] && grep -q "bad.ps1:1:" "$T/ps"'
	# The traps of issue 13, as the old osrun-exec.ps1 and configure.ps1 had them.
	printf '%s\n' '$p = Start-Process cmd.exe -ArgumentList "/c x" -NoNewWindow -PassThru' '$p.WaitForExit()' 'exit $p.ExitCode' >"$T/trap.ps1"
	check "lint: Start-Process -PassThru without .Handle, no ErrorActionPreference" 'lint "$T/trap.ps1" >"$T/ps" 2>&1; [ $? = 1 ] && grep -q "trap.ps1:1:6: lint: Start-Process -PassThru without reading \$p.Handle" "$T/ps" && grep -q "never sets \$ErrorActionPreference" "$T/ps"'
	printf '%s\n' '$ErrorActionPreference = "Stop"' '$p = Start-Process cmd.exe -PassThru' '# $p.Handle: read below' '$q = Get-Process -Id $PID' '$null = $q.Handle' '$p.WaitForExit()' >"$T/handle.ps1"
	check "lint: .Handle in a comment or on another variable is not .Handle read" 'lint "$T/handle.ps1" >"$T/ps" 2>&1; [ $? = 1 ] && grep -q "handle.ps1:2:6: lint: Start-Process -PassThru without reading \$p.Handle before \$p.WaitForExit()" "$T/ps"'
	printf '%s\n' '$ErrorActionPreference = "Stop"' '$k = "HKLM:\SYSTEM\x"' 'New-Item -Force $k | Out-Null' 'if (-not (Test-Path $k)) { New-Item -Force $k | Out-Null }' 'New-Item -ItemType Directory -Force C:\d | Out-Null' >"$T/reg.ps1"
	check "lint: New-Item -Force unguarded, and only that one" 'lint "$T/reg.ps1" >"$T/ps" 2>&1; [ $? = 1 ] && [ "$(grep -c lint: "$T/ps")" = 1 ] && grep -q "reg.ps1:3:1: lint: New-Item -Force" "$T/ps"'
	control "lint: firstlogon.ps1 reading .Handle after WaitForExit" firstlogon.ps1 '/^\t$null = $p.Handle$/d; s/^\t$p.WaitForExit()$/&\n\t$null = $p.Handle/' '$p.Handle' lint 'lint: Start-Process -PassThru without reading $p.Handle before $p.WaitForExit()'
	control "lint: firstlogon.ps1 under ErrorActionPreference 'Continue'" firstlogon.ps1 "s/^\$ErrorActionPreference = 'Stop'$/\$ErrorActionPreference = 'Continue'/" 'Continue' lint "firstlogon.ps1:6:1: lint: \$ErrorActionPreference = 'Continue': this script's is 'Stop'"
	control "lint: configure.ps1 (best effort) under 'Stop'" configure.ps1 "s/^\$ErrorActionPreference = 'Continue'$/\$ErrorActionPreference = 'Stop'/" 'Stop' lint "configure.ps1:4:1: lint: \$ErrorActionPreference = 'Stop': this script's is 'Continue'"

	# What the README says the scripts do, on the syntax tree (claims.cjs):
	# code that runs, never a comment. Each claim has a control that deletes
	# or changes the code and keeps the comment naming it.
	claim() { claims "$1" "$win/$2" >"$T/ps" 2>&1 || { sed 's/^/#   /' "$T/ps"; false; }; }
	check "configure.ps1 turns the SMB client caches off" 'claim smb-caches-off configure.ps1'
	control "FileInfoCacheLifetime's line deleted, its comment kept" configure.ps1 '/^Reg $ws FileInfoCacheLifetime 0$/d' 'FileInfoCacheLifetime' 'claims smb-caches-off' 'Parameters\FileInfoCacheLifetime to 0'
	check "configure.ps1 sets UTF-8 (65001) as the ANSI, OEM and Mac code page" 'claim utf8-codepage configure.ps1'
	control "OEMCP left out of the code page loop" configure.ps1 "s/'ACP', 'OEMCP', 'MACCP'/'ACP', 'MACCP'/" '65001' 'claims utf8-codepage' 'CodePage\OEMCP to 65001'
	check "configure.ps1 excludes C:\\ from Defender" 'claim defender-exclusion configure.ps1'
	control "the exclusion deleted, its status line kept" configure.ps1 '/^Add-MpPreference/d' 'Defender exclusion for C:\' 'claims defender-exclusion' 'no Add-MpPreference -ExclusionPath C:\'
	control "the exclusion in a function nobody calls" configure.ps1 's/^Add-MpPreference.*$/function Never { & }/' 'Add-MpPreference' 'claims defender-exclusion' 'no Add-MpPreference -ExclusionPath C:\'
	check "firstlogon.ps1: the agent MSI's 3010 is success, any other code throws" 'claim msi-3010 firstlogon.ps1'
	control "3010 dropped from the MSI's test" firstlogon.ps1 's/ -and $p.ExitCode -ne 3010//' '3010 is ERROR_SUCCESS_REBOOT_REQUIRED' 'claims msi-3010' "the MSI's exit code"
	check "firstlogon.ps1: pnputil's 259 and 3010 pass, any other code throws, then the virtio devices are checked" 'claim pnputil-codes firstlogon.ps1'
	control "pnputil's exit code test deleted" firstlogon.ps1 '/^\tif ($LASTEXITCODE -ne 0 -and $LASTEXITCODE -ne 259 -and $LASTEXITCODE -ne 3010)/d' "3010, installed" 'claims pnputil-codes' 'the statement after pnputil /add-driver'
	control "259 dropped from pnputil's test (as the script had it)" firstlogon.ps1 's/ -and $LASTEXITCODE -ne 259//' "259, no device" 'claims pnputil-codes' 'the statement after pnputil /add-driver'
	control "the virtio device check deleted, its comment kept" firstlogon.ps1 '/^\t$broken = /,/^\t}$/d' 'ConfigManagerErrorCode' 'claims pnputil-codes' 'no Get-CimInstance Win32_PnPEntity after pnputil'
	check "firstlogon.ps1: the user's password never expires" 'claim password-never-expires firstlogon.ps1'
	control "Set-LocalUser deleted, its comment kept" firstlogon.ps1 '/^\tSet-LocalUser /d' 'maximum password age' 'claims password-never-expires' 'no Set-LocalUser -PasswordNeverExpires'
	check "firstlogon.ps1 writes its status lines to COM1 as osrun-status: lines" 'claim status-to-com1 firstlogon.ps1'
	check "stage-runner.ps1 writes its status lines to COM1 as osrun-status: lines" 'claim status-to-com1 stage-runner.ps1'
	control "firstlogon.ps1's prefix misspelt" firstlogon.ps1 's/"osrun-status: $line"/"osrun-status $line"/' 'osrun-status: ' 'claims status-to-com1' 'no WriteLine("osrun-status: ...")'
	control "stage-runner.ps1's SerialPort deleted" stage-runner.ps1 "/^\t\$port = New-Object System.IO.Ports.SerialPort 'COM1', 115200$/d" 'COM1' 'claims status-to-com1' 'no SerialPort on COM1'
	check "configure.ps1 disables the timed and idle scheduled tasks" 'claim timed-tasks-off configure.ps1'
	control "the timed tasks' pipeline deleted" configure.ps1 '/^Get-ScheduledTask | Where-Object State -NE .Disabled. | Get-ScheduledTaskInfo/,/^\tOut-Null$/d' 'whose time passed' 'claims timed-tasks-off' 'Get-ScheduledTaskInfo'
	check "configure.ps1 turns time synchronisation off" 'claim time-sync-off configure.ps1'
	control "Set-Service W32Time deleted" configure.ps1 '/^Set-Service W32Time/d' 'W32Time' 'claims time-sync-off' 'no Set-Service W32Time -StartupType Disabled'
	check "firstlogon.ps1: catalog signers go to TrustedPublisher before pnputil" 'claim trusted-before-pnputil firstlogon.ps1'
	control "the TrustedPublisher code deleted, its comment above pnputil kept" firstlogon.ps1 '/^\t$trusted = New-Object/,/^\t$trusted.Close()/d' 'TrustedPublisher' 'claims trusted-before-pnputil' 'no X509Store TrustedPublisher'
	control "the signers added after pnputil" firstlogon.ps1 '/^\t$trusted = New-Object/,/^\t$trusted.Close()$/{H;d}; /^\tpnputil.exe \/add-driver/G' 'TrustedPublisher' 'claims trusted-before-pnputil' 'opened before pnputil'
	check "firstlogon.ps1: a failed LanmanWorkstation restart does not end the build" 'claim lanman-restart-tolerated firstlogon.ps1'
	control "the restart's own try/catch removed (the stage's catch says failed)" firstlogon.ps1 's/^\ttry { \(Restart-Service LanmanWorkstation -Force\) } catch {.*}$/\t\1/' 'A restart that fails' 'claims lanman-restart-tolerated' 'not caught alone by a catch that lets the build go on'
	control "the restart's catch throws" firstlogon.ps1 's/catch { Add-Content C:\\osrun\\build.log "LanmanWorkstation restart: $_" }/catch { throw }/' 'Restart-Service LanmanWorkstation' 'claims lanman-restart-tolerated' 'not caught alone'
else
	check "PowerShell parser installed ($ps/node_modules: run make deps)" false
fi

check "no wrong input started QEMU" no_qemu
check "no wrong input left a snapshot or run directory" '[ -z "$(ls -A "$OSRUN_CACHE/snapshots")" ] && [ -z "$(ls -A "$TMPDIR")" ]'

echo "windows (offline): $pass passed, $fail failed"
[ "$fail" = 0 ]
