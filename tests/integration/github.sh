# Integration tests for the GitHub Actions action (issue 28): sourced by
# run.sh, whose helpers (o, err, $T) they use. The action runs under
# gh-render.py, which runs a workflow step the way GitHub documents its
# runner does (its header says which rules); osrun, QEMU and the test
# guest are real. No GitHub runner is involved.

GH_ACTION="$(cd "$(dirname "$0")/../.." && pwd)/contrib/github-actions"
GH_RENDER="$(cd "$(dirname "$0")" && pwd)/gh-render.py"
GH_OLD="$(cd "$(dirname "$0")" && pwd)/github-old-action.yml"

# $g: a bin directory whose osrun is the one under test (the action calls
# `osrun` from PATH, as on a runner) and each leg's files.
gh_fixture() {
	g=$T/gh && mkdir -p "$g/bin" && ln -sf "$OSRUN" "$g/bin/osrun"
	python3 -c 'import yaml' 2>/dev/null || err "python3 has no yaml module (tests/deps.sh installs python3-yaml)"
	command -v node >/dev/null || err "no node (tests/deps.sh installs nodejs)"
}
# gh_step FILE [KEY=VALUE | env:KEY=VALUE]...: a workflow step's with: and
# env:, written as JSON (which is YAML) so that no value needs quoting.
gh_step() {
	python3 -c '
import json, sys
step = {"with": {}, "env": {}}
for a in sys.argv[2:]:
    k, v = a.split("=", 1)
    (step["env"] if k.startswith("env:") else step["with"])[k.removeprefix("env:")] = v
open(sys.argv[1], "w").write(json.dumps(step))' "$@"
}
# gh_render LEG STEPFILE [gh-render.py options]: runs the step in a fresh
# workspace (a checkout with input.txt); its log in $g/LEG.log, its result
# in $g/LEG.json, the renderer's status in $gh_rc.
gh_render() {
	leg=$1 step=$2 && shift 2
	rm -rf "$g/ws-$leg" && mkdir -p "$g/ws-$leg" && printf 'hello from the checkout\n' >"$g/ws-$leg/input.txt"
	env -u OSRUN PATH="${GH_BIN:-$g/bin}:$PATH" python3 "$GH_RENDER" --action "${GH_ACTION_DIR:-$GH_ACTION}" --step "$step" \
		--workspace "$g/ws-$leg" --temp "$g/tmp-$leg" --result "$g/$leg.json" "$@" >"$g/$leg.log" 2>&1
	gh_rc=$?
}
# gh_get LEG conclusion|OUTPUT
gh_get() {
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))
print(r["conclusion"] if sys.argv[2] == "conclusion" else r["outputs"].get(sys.argv[2], ""))' "$g/$1.json" "$2" 2>/dev/null
}
gh_expect() { [ "$(gh_get "$1" "$2")" = "$3" ] || err "$1: $2 is '$(gh_get "$1" "$2")', expected '$3': $(tail -c 1500 "$g/$1.log")"; }
gh_no_session() {
	o session list --json
	[ "$(tr -d ' \n' <"$T/out")" = "[]" ] || err "$1: sessions left: $(cat "$T/out")"
}
# The script the injection tests use: the old action's heredoc terminator
# (defined as a function, so that it is a command where the script runs
# whole), a line that makes the marker file $1 and says where it ran,
# and " $(...) ` ; in one line.
gh_hostile_script() {
	printf '%s\n' \
		'OSRUN_COMMANDS() { echo "the terminator is a command here"; }' \
		'echo "quote\" dollar $(echo sub) tick `echo tick`; semi"; echo after-semi' \
		'OSRUN_COMMANDS' \
		"mkdir -p $(dirname "$1") && touch $1 && echo \"made $1 on \$(uname -n)\"" \
		'mkdir -p out && cp input.txt out/copy.txt'
}

# Hostile text in `run` runs in the guest, all of it; hostile text in any
# other input is refused as data before a VM starts. The host never sees
# the marker.
t_github_action() {
	gh_fixture
	m=$g/marker
	gh_step "$g/hostile.yml" "run=$(gh_hostile_script "$m")" artifacts=out network=none
	gh_render hostile "$g/hostile.yml"
	[ "$gh_rc" = 0 ] || err "hostile run: renderer exit $gh_rc: $(tail -c 1500 "$g/hostile.log")"
	gh_expect hostile conclusion success
	gh_expect hostile exit-code 0
	gh_get hostile session | grep -qE '^gh-runner-1-4242\.1-build-[0-9a-f]{8}$' || err "session output: '$(gh_get hostile session)'"
	grep -q "^quote\" dollar sub tick tick; semi$" "$g/hostile.log" || err "the quoting line did not run as sh: $(cat "$g/hostile.log")"
	grep -q "the terminator is a command here" "$g/hostile.log" || err "the terminator line did not run in the guest"
	# The guest's node name is not the host's.
	grep -q "^made $m on " "$g/hostile.log" && ! grep -qx "made $m on $(uname -n)" "$g/hostile.log" ||
		err "the marker line did not run in the guest: $(cat "$g/hostile.log")"
	[ -e "$m" ] && err "the marker is on the host: the script ran there"
	[ "$(cat "$g/ws-hostile/osrun-artifacts/out/copy.txt" 2>&1)" = "hello from the checkout" ] ||
		err "artifacts: $(ls -R "$g/ws-hostile/osrun-artifacts" 2>&1)"
	grep -q "session gh-runner-1-4242.1-build-[0-9a-f]* stopped" "$g/hostile.log" || err "the post step did not stop the session"
	gh_no_session hostile

	# Each of these is refused, naming its input, before a session starts.
	q='"; touch '$m' $(touch '$m') `touch '$m'`; echo "'
	for bad in "snapshot=provisioned$q" "working-directory=/build$q" "artifacts=out$q" "cache-volume=c:/c$q" \
		"cache-volume=../x:/c" "shell=sh$q" shell=cmd "network=internet$q" "env-vars=A$q" env-vars=OSRUN_X \
		env-vars=NOT_SET_HERE "debug-on-error=yes$q" working-directory=build "artifacts=C:\\out"; do
		key=${bad%%=*}
		gh_step "$g/bad.yml" "run=echo never" "$bad"
		gh_render bad "$g/bad.yml"
		[ "$gh_rc" = 1 ] && [ "$(gh_get bad conclusion)" = failure ] || err "$bad: renderer exit $gh_rc: $(cat "$g/bad.log")"
		grep -q "::error::input '$key'" "$g/bad.log" || err "$bad: not refused as input '$key': $(cat "$g/bad.log")"
		grep -q "session gh-" "$g/bad.log" && err "$bad: a session was started: $(cat "$g/bad.log")"
		grep -q "^never" "$g/bad.log" && err "$bad: the script ran"
		[ -e "$m" ] && err "$bad: the marker is on the host" && rm -f "$m"
		[ "$bad" != shell=cmd ] || grep -q "cmd is for windows guests; snapshot 'provisioned' is linux" "$g/bad.log" ||
			err "shell=cmd: $(cat "$g/bad.log")"
	done
	gh_no_session refusals
}

# A failing script: the step fails with its exit code as output, the
# artifacts still come out, the post step stops the session. The job's
# variables named in env-vars reach the guest as data (a hostile value
# prints as itself). debug-on-error keeps the session, and says how to
# reach it and where its screen is served (noVNC on loopback).
t_github_step_fails() {
	gh_fixture
	m=$g/marker
	hostile='$(touch '$m') `touch '$m'` "; touch '$m'; echo "'
	gh_step "$g/fails.yml" 'run=echo "token [$TOKEN] hostile [$HOSTILE]"; mkdir -p out; echo partial >out/a.txt; exit 3' \
		artifacts=out "env-vars=TOKEN, HOSTILE" 'env:TOKEN=${{ secrets.TOKEN }}' "env:HOSTILE=$hostile"
	gh_render fails "$g/fails.yml" --secret TOKEN=s3cr3t
	[ "$gh_rc" = 1 ] || err "renderer exit $gh_rc, expected 1: $(tail -c 1500 "$g/fails.log")"
	gh_expect fails conclusion failure
	gh_expect fails exit-code 3
	[ -n "$(gh_get fails session)" ] || err "no session output"
	grep -qF "token [s3cr3t] hostile [$hostile]" "$g/fails.log" || err "env-vars: $(cat "$g/fails.log")"
	grep -q "::error::the script exited 3" "$g/fails.log" || err "no error line: $(cat "$g/fails.log")"
	[ "$(cat "$g/ws-fails/osrun-artifacts/out/a.txt" 2>&1)" = partial ] || err "artifacts after a failure: $(ls -R "$g/ws-fails" 2>&1)"
	grep -q "session gh-.* stopped" "$g/fails.log" || err "the post step did not stop the session: $(cat "$g/fails.log")"
	[ -e "$m" ] && err "the marker is on the host"
	gh_no_session fails

	gh_step "$g/debug.yml" 'run=echo for-debugging >/root/state; exit 5' debug-on-error=true working-directory=/srv
	gh_render debug "$g/debug.yml"
	gh_expect debug exit-code 5
	name=$(gh_get debug session)
	grep -q "debug-on-error: the script failed; session $name is kept" "$g/debug.log" || err "debug-on-error: $(cat "$g/debug.log")"
	grep -qF "osrun session exec $name -w '/srv' sh" "$g/debug.log" || err "debug-on-error: no way in: $(cat "$g/debug.log")"
	url=$(sed -n 's|^Its screen (noVNC, on the runner host.s loopback only): \(http://127.0.0.1:[0-9]*/vnc.html?autoconnect=1\)$|\1|p' "$g/debug.log")
	[ -n "$url" ] || err "debug-on-error: no noVNC URL: $(cat "$g/debug.log")"
	port=${url#http://127.0.0.1:}; port=${port%%/*}
	[ "$(python3 -c 'import sys,urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).status)' "$url" 2>&1)" = 200 ] ||
		err "debug-on-error: the noVNC page is not served at $url"
	hello=$(python3 "$RFB_WS" 127.0.0.1 "$port" 2>&1)
	[ "$hello" = "RFB 003.008" ] || err "debug-on-error: no RFB greeting through $url: $hello"
	o session exec "$name" 'cat /root/state'
	[ "$rc" = 0 ] && [ "$(cat "$T/out")" = for-debugging ] || err "the kept session: exit $rc, '$(cat "$T/out")'"
	o session stop "$name"
	gh_no_session debug
	python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$url" 2>/dev/null &&
		err "debug-on-error: noVNC still served after the session stopped"
	return 0
}

# Two legs of one matrix job on one runner name and one store, at once:
# the worst case (a real runner runs one job at a time). Each gets its
# own session and its own result; the store is watched to see that the
# two sessions did run at the same time.
t_github_matrix_legs() {
	gh_fixture
	gh_step "$g/leg.yml" 'run=echo "leg ${{ matrix.leg }}"; sleep 6; mkdir -p out; echo "${{ matrix.leg }}" >out/leg.txt' artifacts=out
	gh_render a "$g/leg.yml" --matrix '{"leg": "a"}' &
	pa=$!
	gh_render b "$g/leg.yml" --matrix '{"leg": "b"}' &
	pb=$!
	most=0
	while kill -0 $pa 2>/dev/null || kill -0 $pb 2>/dev/null; do
		n=$("$OSRUN" session list --json 2>/dev/null | grep -c '"name": "gh-')
		[ "$n" -gt "$most" ] && most=$n
		sleep 0.5
	done
	wait $pa; wait $pb
	[ "$most" = 2 ] || err "the two legs' sessions never ran at once (at most $most)"
	for l in a b; do
		gh_expect $l conclusion success
		gh_expect $l exit-code 0
		grep -qx "leg $l" "$g/$l.log" || err "leg $l: $(cat "$g/$l.log")"
		[ "$(cat "$g/ws-$l/osrun-artifacts/out/leg.txt" 2>&1)" = $l ] || err "leg $l: artifact: $(cat "$g/ws-$l/osrun-artifacts/out/leg.txt" 2>&1)"
	done
	[ "$(gh_get a session)" != "$(gh_get b session)" ] || err "both legs used session $(gh_get a session)"
	gh_no_session legs
}

# A cancelled job: the runner SIGINTs the action's node process during
# the script; the post step still runs and no session is left.
t_github_cancel() {
	gh_fixture
	gh_step "$g/cancel.yml" 'run=echo started-long; sleep 120; echo never' artifacts=out
	t0=$(now)
	gh_render cancel "$g/cancel.yml" --cancel-on started-long
	gh_expect cancel conclusion cancelled
	grep -q "^never" "$g/cancel.log" && err "the script was not interrupted"
	[ "$(awk -v t="$(elapsed "$t0")" 'BEGIN { print (t < 90) }')" = 1 ] || err "the cancel took $(elapsed "$t0") s"
	grep -q '"step": "post", "exit": 0' "$g/cancel.log" || err "the post step did not succeed: $(cat "$g/cancel.log")"
	gh_no_session cancel
}

# The positive control: the same hostile text through the composite action
# this replaced puts a marker on the host, once through each hole: its
# heredoc ended by `commands`, its quotes broken by `workdir` (one render
# each: bash -e ends a render at the first broken line). Proves that
# gh-render.py renders as Actions does, so the tests above would see an
# injection.
t_github_old_action_injects() {
	gh_fixture
	m=$g/old-marker m2=$g/old-marker-quote
	mkdir -p "$g/old" && cp "$GH_OLD" "$g/old/action.yml"
	gh_step "$g/old.yml" "commands=$(gh_hostile_script "$m")"
	GH_ACTION_DIR=$g/old gh_render old "$g/old.yml"
	# The old action stops its session last, which bash -e never reaches
	# after a failed line: the test stops it (and so leaves nothing).
	o session stop gh-4242-1-build
	gh_step "$g/old2.yml" "commands=true" "workdir=/build\"; touch $m2; echo \""
	GH_ACTION_DIR=$g/old gh_render old2 "$g/old2.yml"
	o session stop gh-4242-1-build
	if [ -e "$m" ] && grep -qx "made $m on $(uname -n)" "$g/old.log"; then
		echo "#   positive control (commands): $(grep -x "made $m on $(uname -n)" "$g/old.log")"
	else
		err "positive control: the heredoc injection did not reach the host: $(cat "$g/old.log")"
	fi
	if [ -e "$m2" ]; then echo "#   positive control (workdir): the host has $m2"
	else err "positive control: the quote injection did not reach the host: $(cat "$g/old2.log")"; fi
	rm -f "$m" "$m2"
	gh_no_session old
}

# The Windows side, without Windows: an osrun stand-in that says the
# snapshot is a Windows one and logs what the action asks of it. The
# action's defaults, its command lines and the script files it writes are
# GitHub's for cmd and pwsh. (No Windows guest has run them.)
t_github_windows_offline() {
	gh_fixture
	mkdir -p "$g/fake"
	cat >"$g/fake/osrun" <<'PY'
#!/usr/bin/env python3
import json, os, shutil, sys
a, log = sys.argv[1:], os.environ["FAKE_OSRUN_LOG"]
with open(log, "a") as f:
    f.write(json.dumps(a) + "\n")
if a[:2] == ["snapshot", "inspect"]:
    print(json.dumps({"name": a[-1], "machine": {"profile": "windows"}}))
elif a[:2] == ["session", "start"]:
    print(a[a.index("--name") + 1])
elif a[:2] == ["session", "cp"] and os.path.isfile(a[3]):
    shutil.copy(a[3], log + "." + os.path.basename(a[3]))
PY
	chmod +x "$g/fake/osrun"
	export FAKE_OSRUN_LOG="$g/fake/log"
	for sh in "" pwsh; do
		rm -f "$g/fake/log"*
		gh_step "$g/win.yml" "run=$(printf 'echo one\necho two')" "shell=$sh" artifacts=out
		GH_BIN=$g/fake gh_render win "$g/win.yml"
		gh_expect win conclusion success
		python3 - "$g/fake/log" "${sh:-cmd}" <<'PY' || err "${sh:-cmd}: $(cat "$g/fake/log"* 2>&1)"
import json, sys
log, shell = sys.argv[1], sys.argv[2]
calls = [json.loads(l) for l in open(log)]
ext = "cmd" if shell == "cmd" else "ps1"
line = {"cmd": '%ComSpec% /D /E:ON /V:OFF /S /C "CALL "C:\\osrun-gh\\step.cmd""',
        "pwsh": "pwsh -command \". 'C:\\osrun-gh\\step.ps1'\""}[shell]
ex = next(c for c in calls if c[:2] == ["session", "exec"])
assert ex[ex.index("-w") + 1] == "C:\\build" and ex[-2:] == ["--", line], ex
cps = [c for c in calls if c[:2] == ["session", "cp"]]
assert cps[0][3:] == [cps[0][3], "guest:C:\\build"], cps
assert cps[1][4] == f"guest:C:\\osrun-gh\\step.{ext}", cps
assert cps[2][3:] == ["guest:C:\\build\\out", cps[2][4]], cps
assert calls[-1][:2] == ["session", "stop"], calls[-1]
body = open(f"{log}.step.{ext}", "rb").read()
want = b"echo one\r\necho two"
if shell == "pwsh":
    want = (b"\xef\xbb\xbf$ErrorActionPreference = 'stop'\r\n" + want +
            b"\r\nif ((Test-Path -LiteralPath variable:\\LASTEXITCODE)) { exit $LASTEXITCODE }\r\n")
assert body == want, body
PY
	done
	gh_step "$g/win.yml" "run=echo never" shell=sh
	GH_BIN=$g/fake gh_render win "$g/win.yml"
	grep -q "::error::input 'shell': sh is for linux guests; snapshot 'provisioned' is windows" "$g/win.log" || err "shell=sh on Windows: $(cat "$g/win.log")"
	gh_step "$g/win.yml" "run=echo never" working-directory=/build
	GH_BIN=$g/fake gh_render win "$g/win.yml"
	grep -q "::error::input 'working-directory': \"/build\": not an absolute Windows" "$g/win.log" || err "a Linux path on Windows: $(cat "$g/win.log")"
	unset FAKE_OSRUN_LOG
}

ALL_GITHUB="t_github_action t_github_step_fails t_github_matrix_legs t_github_cancel t_github_windows_offline
t_github_old_action_injects"
