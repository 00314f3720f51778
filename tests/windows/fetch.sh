#!/bin/sh
# Offline tests of osrun image fetch (issue 32): a stand-in for Microsoft's
# download flow and Fedora's virtio-win location (msflow.py, which cites the
# request paths and answer shapes it copies) on 127.0.0.1 over HTTPS, with a
# throwaway CA that only osrun's process trusts (SSL_CERT_FILE). osrun
# reaches it through OSRUN_ISO_MIRROR. Nothing here reaches the internet and
# no QEMU starts.
#   OSRUN=path/to/osrun sh tests/windows/fetch.sh
set -u
: "${OSRUN:?set OSRUN to the osrun binary}"
here=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/osrun-ftest.XXXXXX)
export OSRUN_CACHE="$T/cache" TMPDIR="$T/tmp"
mkdir -p "$TMPDIR"
srv=""
trap '[ -z "$srv" ] || kill "$srv" 2>/dev/null; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM

pass=0 fail=0
check() {
	if eval "$2"; then pass=$((pass + 1)); echo "ok - $1"
	else fail=$((fail + 1)); echo "not ok - $1"; fi
}
has_err() { grep -q -- "$1" "$T/err" || { echo "#   stderr: $(cat "$T/err")"; false; }; }

printf '#!/bin/sh\necho started >>"%s"\nexit 1\n' "$T/qemu-starts" >"$T/qemu"
chmod +x "$T/qemu"
export OSRUN_QEMU="$T/qemu" OSRUN_ACCEL=tcg no_proxy=127.0.0.1 NO_PROXY=127.0.0.1

# --- the media: the offline suite's, the Windows one made larger so that
# a transfer lasts long enough to cut or interrupt -------------------------
. "$here/media.sh"
head -c 24M /dev/urandom >"$w/sources/pad.bin"
xorriso -as mkisofs -quiet -J -joliet-long -R -V CCCOMA_X64FRE_EN-US_DV9 -o "$T/big.iso" "$w" 2>/dev/null
R=$T/root
mkdir -p "$R"
cp "$T/big.iso" "$R/win.iso"
cp "$T/big.iso" "$R/server.iso"
cp "$T/virtio.iso" "$R/virtio.iso"
win_sha=$(sha256sum "$T/big.iso" | cut -d' ' -f1)
win_size=$(stat -c %s "$T/big.iso")

# --- a throwaway CA and the stand-in's certificate ---------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" -days 2 -subj /CN=osrun-test-ca \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/srv.key" -out "$T/srv.csr" -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$T/srv.ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -out "$T/srv.pem" -days 2 \
	-extfile "$T/srv.ext" 2>/dev/null

echo '{}' >"$T/control"
: >"$T/log"
python3 "$here/msflow.py" "$T/srv.pem" "$T/srv.key" "$R" "$T/control" "$T/log" "$T/port" &
srv=$!
i=0
while [ ! -s "$T/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
M=https://127.0.0.1:$(cat "$T/port")
ISOS=$OSRUN_CACHE/isos
WIN=$ISOS/windows-11-english.iso

mode() { echo "$1" >"$T/control"; }
o() {
	env -u CURL_CA_BUNDLE -u SSL_CERT_DIR SSL_CERT_FILE="$T/ca.pem" OSRUN_ISO_MIRROR="$M" "$OSRUN" "$@" \
		>"$T/out" 2>"$T/err" </dev/null
	rc=$?
}
downloads() { grep -c '^GET /dl/' "$T/log"; }
nothing_left() { [ -z "$(ls -A "$ISOS" 2>/dev/null)" ] || { ls -la "$ISOS"; false; }; }

# --- the CA: trusted through SSL_CERT_FILE only -----------------------------------
env -u CURL_CA_BUNDLE -u SSL_CERT_DIR -u SSL_CERT_FILE OSRUN_ISO_MIRROR="$M" "$OSRUN" image fetch --version virtio-win \
	>"$T/out" 2>"$T/err" </dev/null
rc=$?
check "without the test CA the stand-in's certificate is refused" '[ $rc = 125 ] && has_err "certificate"'
check "... and nothing is kept" nothing_left
env -u SSL_CERT_FILE -u SSL_CERT_DIR CURL_CA_BUNDLE="$T/ca.pem" OSRUN_ISO_MIRROR="$M" "$OSRUN" image fetch \
	--version virtio-win --cache "$T/c0" >"$T/out" 2>"$T/err" </dev/null
rc=$?
check "CURL_CA_BUNDLE names a CA too" '[ $rc = 0 ] && [ -f "$T/c0/isos/virtio-win.iso" ] || { cat "$T/err"; false; }'


# --- a refusal ---------------------------------------------------------------------
mode '{"refuse": true}'
o image fetch
check "a Sentinel refusal fails" '[ $rc = 125 ]'
check "... in one line" '[ "$(grep -vc "^osrun: fetching" "$T/err")" = 1 ] || { cat "$T/err"; false; }'
check "... saying Microsoft refused and naming --iso FILE and the mirror" \
	'has_err "Microsoft refused the automated download" && has_err "\-\-iso FILE" && has_err "\-\-mirror URL (OSRUN_ISO_MIRROR)"'
check "... and nothing is left in the store" nothing_left
mode '{"refuse": "unable"}'
o image fetch
check "\"We are unable to complete your request\" is a refusal too" \
	'[ $rc = 125 ] && has_err "Microsoft refused the automated download (We are unable" && nothing_left'
mode '{"forbid": true}'
o image fetch
check "a 403 on the download is a refusal too, nothing left" \
	'[ $rc = 125 ] && has_err "Microsoft refused the automated download (.*HTTP 403)" && nothing_left'

# --- a download cut halfway, then resumed --------------------------------------------
mode '{"truncate": true}'
o image fetch
part_size=$(stat -c %s "$WIN.part" 2>/dev/null || echo 0)
check "a download cut halfway fails" '[ $rc = 125 ] && has_err "resumes from there"'
check "... keeps the partial file, not the final one" '[ "$part_size" -gt 0 ] && [ "$part_size" -lt "$win_size" ] && [ ! -e "$WIN" ]'
mode '{}'
o image fetch --json --sha256 "$win_sha"
check "the next fetch succeeds" '[ $rc = 0 ] || { cat "$T/err"; false; }'
check "... resuming with a Range request from where it stopped" \
	'grep "^GET /dl/Win11" "$T/log" | tail -1 | grep -q "range=bytes=$part_size-\$" || { tail -3 "$T/log"; false; }'
check "... and the file is the server's, whole" 'cmp -s "$WIN" "$T/big.iso" && [ ! -e "$WIN.part" ]'
check "... 0600 in the store" '[ "$(stat -c %a "$WIN")" = 600 ]'
check "the --json result names the file, its hash, checked" \
	'python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(not (r[\"path\"]==sys.argv[2] and r[\"sha256\"]==sys.argv[3] and r[\"sha256_checked\"] and not r[\"cached\"] and r[\"size\"]==int(sys.argv[4])))" "$T/out" "$WIN" "$win_sha" "$win_size"'
api=/software-download-connector/api
check "the flow's requests came in order: tags, ov-df, skus, links, the file" \
	'[ "$(tail -6 "$T/log" | sed "s/^GET \([^?]*\).*/\1/" | tr "\n" " ")" = "/tags /mdt.js / $api/getskuinformationbyproductedition $api/GetProductDownloadLinksBySku /dl/Win11_25H2_English_x64.iso " ] || { cat "$T/log"; false; }'
n=$(downloads)
o image fetch --json
check "an ISO in the store is not fetched again" \
	'[ $rc = 0 ] && [ "$(downloads)" = "$n" ] && grep -q "\"cached\": *true" "$T/out" || { cat "$T/out" "$T/err"; false; }'

# --- files that fail verification ----------------------------------------------------
o image fetch --version 11 --language Klingon --cache "$T/c2" --sha256 "$(echo x | sha256sum | cut -d' ' -f1)"
check "a language Microsoft does not offer (here) is named" '[ $rc = 125 ] && has_err "no download in the language .Klingon."'
mode '{"skuid": "19251&SKU=1"}'
o image fetch --cache "$T/c2"
check "a SKU id that would change the next request is refused" \
	'[ $rc = 125 ] && has_err "SKU id .19251&SKU=1. is not" && ! grep -q "SKU=19251&SKU=1" "$T/log"'
mode '{}'
o image fetch --cache "$T/c2" --sha256 "$(echo x | sha256sum | cut -d' ' -f1)"
check "a wrong SHA-256 is refused, the file named and removed" \
	'[ $rc = 125 ] && has_err "windows-11-english.iso.part: SHA-256 $win_sha, expected" && has_err "removed" && [ -z "$(ls -A "$T/c2/isos")" ]'
o image fetch --version server2025 --cache "$T/c2"
check "an evaluation ISO whose published SHA-256 differs is refused and removed" \
	'[ $rc = 125 ] && has_err "windows-server2025-english.iso.part: SHA-256 .*published for this file): removed" && [ -z "$(ls -A "$T/c2/isos")" ]'
cp "$T/nowim.iso" "$R/win.iso"
o image fetch --cache "$T/c2"
check "an ISO without an install image is refused and removed" \
	'[ $rc = 125 ] && has_err "no sources/install.wim or install.esd" && has_err "removed" && [ -z "$(ls -A "$T/c2/isos")" ]'
cp "$T/big.iso" "$R/win.iso"

# --- virtio-win, and image build without --iso ---------------------------------------
o image fetch --version virtio-win --json
check "virtio-win is fetched through its redirect" \
	'[ $rc = 0 ] && cmp -s "$ISOS/virtio-win.iso" "$T/virtio.iso" && grep -q "\"url\": *\"$M/dl/virtio-win-0.1.266.iso\"" "$T/out" || { cat "$T/out" "$T/err"; false; }'
n=$(downloads)
o image build --dry-run
check "image build without --iso or --virtio-win takes them from the store" \
	'[ $rc = 0 ] && has_err "windows-11-english.iso: in the store already" && has_err "virtio-win.iso: in the store already" && [ "$(downloads)" = "$n" ]'
check "... and reads the fetched ISO's editions" 'has_err "edition 2: Windows 11 Pro"'
o image build --dry-run --cache "$T/c3"
check "image build on an empty store fetches both first" \
	'[ $rc = 0 ] && [ -f "$T/c3/isos/windows-11-english.iso" ] && [ -f "$T/c3/isos/virtio-win.iso" ] || { cat "$T/err"; false; }'
check "no QEMU started" '[ ! -e "$T/qemu-starts" ]'

# --- Ctrl-C in the middle of a transfer -----------------------------------------------
mode '{"slow": true}'
env -u CURL_CA_BUNDLE -u SSL_CERT_DIR SSL_CERT_FILE="$T/ca.pem" OSRUN_ISO_MIRROR="$M" "$OSRUN" image fetch --cache "$T/c4" >"$T/out" 2>"$T/err" </dev/null &
pid=$!
i=0
while [ "$(stat -c %s "$T/c4/isos/windows-11-english.iso.part" 2>/dev/null || echo 0)" -lt 200000 ] && [ $i -lt 200 ]; do
	sleep 0.05; i=$((i + 1))
done
o image fetch --cache "$T/c4"
check "a second fetch of the same file meanwhile fails at once, saying why" \
	'[ $rc = 125 ] && has_err "windows-11-english.iso.part: another osrun is fetching it"'
kill -INT $pid
wait $pid
rc=$?
check "Ctrl-C stops a fetch (exit 130)" '[ $rc = 130 ] || { echo "# rc $rc"; cat "$T/err"; false; }'
check "... leaving only the partial file to resume from" \
	'[ "$(ls -A "$T/c4/isos")" = "windows-11-english.iso.part" ] && [ -s "$T/c4/isos/windows-11-english.iso.part" ]'

# --- a first run on an empty store for Windows: fetch, then the build ---------------
# The fake QEMU exits at once, so the build fails at its first stage.
mode '{}'
n=$(downloads)
rm -f "$T/qemu-starts"
OSRUN_GUEST=windows OSRUN_CACHE="$T/c5" o 'dir C:\'
check "a first run with OSRUN_GUEST=windows says it builds Windows 11 first" \
	'has_err "snapshot .provisioned. is not in $T/c5 yet (OSRUN_GUEST=windows): building Windows 11 first"'
check "... fetches both ISOs into the store, saying so" \
	'has_err "fetching 11: Windows 11" && has_err "fetching virtio-win:" && cmp -s "$T/c5/isos/windows-11-english.iso" "$T/big.iso" && cmp -s "$T/c5/isos/virtio-win.iso" "$T/virtio.iso" && [ "$(downloads)" = $((n + 2)) ]'
check "... starts the build: the medium made, QEMU started" 'has_err "setup medium: " && [ -s "$T/qemu-starts" ]'
check "... and fails with exit 125, the error naming the failed stage" \
	'[ $rc = 125 ] && tail -1 "$T/err" | grep -q "^osrun: stage setup: starting QEMU: QEMU exited" || { echo "# rc $rc"; cat "$T/err"; false; }'
check "... leaving no snapshot and no run directory" \
	'[ -z "$(ls -A "$T/c5/snapshots")" ] && [ -z "$(ls -A "$TMPDIR")" ] || { ls -AR "$T/c5/snapshots" "$TMPDIR"; false; }'

n=$(downloads)
OSRUN_GUEST=windows OSRUN_NO_PROVISION=1 OSRUN_CACHE="$T/c6" o 'dir C:\'
check "OSRUN_NO_PROVISION=1 refuses in one line, naming osrun image build" \
	'[ $rc = 125 ] && [ "$(wc -l <"$T/err")" = 1 ] && has_err "refuses to fetch the ISOs and install it: build it with .osrun image build."'
check "... fetching nothing" '[ "$(downloads)" = "$n" ] && [ ! -e "$T/c6/isos" ]'
OSRUN_GUEST=windows OSRUN_WINDOWS_VERSION=virtio-win OSRUN_CACHE="$T/c6" o 'dir C:\'
check "OSRUN_WINDOWS_VERSION must name a Windows version" \
	'[ $rc = 125 ] && has_err "OSRUN_WINDOWS_VERSION .virtio-win.: not a Windows version" && [ "$(downloads)" = "$n" ]'

# Two first runs at once: the second waits for the first's lock, so the
# ISOs are downloaded once; it then finds them in the store.
mode '{"slow": true}'
n=$(grep -c '^GET /dl/Win11' "$T/log")
first() {
	env -u CURL_CA_BUNDLE -u SSL_CERT_DIR SSL_CERT_FILE="$T/ca.pem" OSRUN_ISO_MIRROR="$M" OSRUN_GUEST=windows \
		OSRUN_CACHE="$T/c7" "$OSRUN" 'dir C:\' >/dev/null 2>"$1" </dev/null
	echo $? >"$1.rc"
}
first "$T/err1" &
p1=$!
i=0
while [ ! -s "$T/c7/isos/windows-11-english.iso.part" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
first "$T/err2" &
p2=$!
wait $p1 $p2
check "two first runs at once download the Windows ISO once" \
	'[ "$(grep -c "^GET /dl/Win11" "$T/log")" = $((n + 1)) ] || { cat "$T/err1" "$T/err2"; false; }'
check "... the second waits, saying so, then takes the ISOs from the store" \
	'grep -q "waiting for another osrun that is building a snapshot in $T/c7" "$T/err2" && grep -q "windows-11-english.iso: in the store already" "$T/err2" || { cat "$T/err2"; false; }'
check "... both fail on the fake QEMU with 125" '[ "$(cat "$T/err1.rc") $(cat "$T/err2.rc")" = "125 125" ]'
mode '{}'

echo "# fetch: $pass passed, $fail failed"
[ "$fail" = 0 ]
