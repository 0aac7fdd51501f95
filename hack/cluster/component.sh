#!/usr/bin/env bash
# Stops and starts single components of the running local cluster, with the
# command lines up.sh recorded, for tests that take one away for a while
# (the API server and etcd through an outage, the kubelet).
#
# Usage: hack/cluster/component.sh stop|start|status NAME...
#   NAME: etcd kube-apiserver kube-controller-manager kube-scheduler
#         containerd kubelet kube-proxy
# start returns once the process runs, not once it is ready; status prints
# "NAME PID" for each running one and fails if any is not running.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/cluster/lib.sh
source "$here/lib.sh"

(($# >= 2)) || die "usage: $0 stop|start|status NAME..."
action=$1
shift
for name in "$@"; do
	[[ -r $RUN/$name ]] || die "no component $name in $STATE (make cluster)"
done
case $action in
stop)
	# etcd last: the API server waits for it on its way out.
	others=()
	for name in "$@"; do [[ $name == etcd ]] || others+=("$name"); done
	((${#others[@]} == 0)) || stop "${others[@]}"
	((${#others[@]} == $#)) || stop etcd
	;;
start)
	for name in "$@"; do
		if ours "$name" >/dev/null; then log "$name is already running"; else start "$name"; fi
	done
	;;
status)
	rc=0
	for name in "$@"; do
		if pid=$(ours "$name"); then echo "$name $pid"; else echo "$name not running"; rc=1; fi
	done
	exit $rc
	;;
*) die "unknown action $action (want stop, start or status)" ;;
esac
