#!/bin/sh
# Gives a node its osrun labels (docs/fleet.md; not run here), so that
# nodeSelector can ask for KVM or a snapshot: pulls the snapshots the
# node should have into its store, then sets the labels `osrun host-info`
# makes and removes osrun.io/ labels it no longer makes (a snapshot gone).
# Run on the node (at boot, from cron, or after a pull) with a kubeconfig
# allowed to label nodes:
#   NODE=$(hostname) OSRUN_SNAPSHOTS="registry.example.com/team/msvc:2026-12=msvc" sh label-node.sh
# OSRUN runs osrun on the node's store, e.g.
#   OSRUN="docker run --rm --device=/dev/kvm -v /var/lib/osrun:/cache registry.example.com/osrun:latest"
set -eu
node=${NODE:-$(hostname)}
here=$(cd "$(dirname "$0")" && pwd)
osrun=${OSRUN:-osrun}
for pair in ${OSRUN_SNAPSHOTS:-}; do
	ref=${pair%%=*} name=${pair#*=}
	$osrun snapshot inspect "$name" >/dev/null 2>&1 ||
		$osrun snapshot pull "$ref" "$name"
done
new=$(OSRUN="$osrun" python3 "$here/../fleet/osrun-labels" --kubectl)
old=$(kubectl get node "$node" -o json | python3 -c 'import json, sys
print(" ".join(k for k in json.load(sys.stdin)["metadata"].get("labels", {}) if k.startswith("osrun.io/")))')
drop=""
for k in $old; do
	case " $new " in *" $k="*) ;; *) drop="$drop $k-" ;; esac
done
# shellcheck disable=SC2086 # one word a label
kubectl label node "$node" --overwrite $new $drop
