#!/bin/sh
# One host of a GitLab fleet (docs/fleet.md; not run here): pulls the
# snapshots jobs will use, creates this host's runner in GitLab with its
# osrun labels as tags, and registers it with the custom executor.
#   GITLAB_URL=https://gitlab.example.com GITLAB_TOKEN=glpat-... \
#   OSRUN_SNAPSHOTS="registry.example.com/team/msvc:2026-12=msvc" sh register.sh
# GITLAB_TOKEN: a token with the create_runner scope (it is sent to GitLab,
# never stored). OSRUN_SNAPSHOTS: REF=NAME pairs. Run as the runner's user,
# with OSRUN_CACHE the store config.toml names.
set -eu
: "${GITLAB_URL:?the GitLab instance}" "${GITLAB_TOKEN:?a token with the create_runner scope}"
here=$(cd "$(dirname "$0")" && pwd)
export OSRUN_CACHE="${OSRUN_CACHE:-/var/cache/osrun}"

# Snapshots first, so that the tags say which ones this host can run.
for pair in ${OSRUN_SNAPSHOTS:-}; do
	ref=${pair%%=*} name=${pair#*=}
	osrun snapshot inspect "$name" >/dev/null 2>&1 ||
		osrun snapshot pull "$ref" "$name"
done
osrun doctor >&2 || true

# A runner's tags are set when it is created (runner authentication
# tokens: register refuses --tag-list); the API answers with its token.
tags=$(python3 "$here/../../fleet/osrun-labels" --gitlab)
token=$(curl -fsS -X POST -H "PRIVATE-TOKEN: $GITLAB_TOKEN" "$GITLAB_URL/api/v4/user/runners" \
	--data-urlencode "runner_type=instance_type" \
	--data-urlencode "description=osrun on $(hostname)" \
	--data-urlencode "tag_list=$tags" \
	--data-urlencode "run_untagged=false" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
gitlab-runner register --non-interactive --url "$GITLAB_URL" --token "$token" \
	--name "osrun-$(hostname)" --executor custom --template-config "$here/template-config.toml"
