#!/bin/sh
# Ephemeral GitHub runners on one host of a fleet (docs/fleet.md; not run
# here): each job gets a fresh clone of a snapshot that holds the Actions
# runner (docs/ci.md, "An ephemeral runner in each fresh clone"), which
# registers itself with a just-in-time configuration whose labels are this
# host's osrun labels, runs one job and is thrown away with the clone.
#   ADMIN_TOKEN=... REPO=OWNER/REPO SNAPSHOT=gh-runner SNAPSHOT_REF=registry.example.com/team/gh-runner:1 sh runner-loop.sh
# One loop per job the host runs at once.
set -eu
: "${ADMIN_TOKEN:?a token that may administer the repository's runners}" "${REPO:?OWNER/REPO}"
snapshot=${SNAPSHOT:-gh-runner}
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${SNAPSHOT_REF:-}" ]; then
	osrun snapshot inspect "$snapshot" >/dev/null 2>&1 ||
		osrun snapshot pull "$SNAPSHOT_REF" "$snapshot"
fi
labels=$(python3 "$here/../../fleet/osrun-labels" --github)
while :; do
	body=$(python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "runner_group_id": 1,
"labels": ["self-hosted", "windows", "osrun"] + json.loads(sys.argv[2])}))' "osrun-$(hostname)-$$-$(date +%s)" "$labels")
	jit=$(curl -fsS -X POST -H "Authorization: Bearer $ADMIN_TOKEN" \
		"https://api.github.com/repos/$REPO/actions/runners/generate-jitconfig" -d "$body" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["encoded_jit_config"])') || { sleep 30; continue; }
	osrun -s "$snapshot" --network internet -t 21600 -e "JIT=$jit" 'C:\actions-runner\run.cmd --jitconfig %JIT%' || true
done
