#!/usr/bin/env bash
# Imports image archives (docker-archive or OCI tarballs, e.g. from
# `go run ./hack/image tokenguard ... --out bin/images/tokenguard.tar`) into
# the local cluster's containerd, in the k8s.io namespace the kubelet uses.
# Nothing can be pulled here: pods run them with imagePullPolicy: Never (or
# IfNotPresent and a tag other than :latest).
#
# Usage: hack/cluster/load-image.sh IMAGE_TAR...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/cluster/lib.sh
source "$here/lib.sh"

(($# > 0)) || die "usage: $0 IMAGE_TAR..."
ours containerd >/dev/null || die "the cluster under $STATE is not up (make cluster)"
for tar in "$@"; do
	[[ -r $tar ]] || die "cannot read $tar"
	ctr_k8s images import "$tar" >&2
done
