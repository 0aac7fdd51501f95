#!/usr/bin/env bash
# Builds the Kubernetes test binaries (kube-apiserver, etcd, kubectl), the
# node and control-plane binaries of the local cluster (kubelet,
# kube-scheduler, kube-controller-manager, kube-proxy) and helm from source
# through the Go module proxy, at pinned versions.
#
# Why: setup-envtest downloads release binaries from hosts that CI cannot
# reach; the Go module proxy can. Each tool is built only when the wanted
# version is missing, into a per-user cache outside the clone
# ($TOKENGUARD_TOOLS_CACHE, default ~/.cache/tokenguard/tools), and then
# linked into bin/k8s/<version>/ (envtest assets) and bin/helm-<version>, so a
# fresh clone on the same machine reuses earlier builds.
#
# Usage: hack/build-k8s-tools.sh [envtest] [helm] [cluster]
#   (default: envtest and helm; "cluster" is for hack/cluster/up.sh)
# Prints nothing but progress on stderr; the asset folder bin/k8s/<version> on
# stdout when "envtest" or "cluster" is asked for.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
HELM_VERSION=${HELM_VERSION:-v3.22.0}

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${TOKENGUARD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokenguard/tools}
mkdir -p "$cache"

export CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false
unset GOOS GOARCH

log() { printf 'build-k8s-tools: %s\n' "$*" >&2; }

k8s_minor=${K8S_VERSION#v1.}; k8s_minor=${k8s_minor%%.*}
staging_version=v0.${K8S_VERSION#v1.}

build_kube() {
	local out="$cache/kubernetes-$K8S_VERSION"
	if [[ -x "$out/kube-apiserver" && -x "$out/kubectl" ]] &&
		"$out/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION"; then
		return
	fi
	log "building kube-apiserver and kubectl $K8S_VERSION from source (about 10 minutes on 2 cores)"
	local work; work=$(mktemp -d)
	(
		cd "$work"
		kube_module kube-apiserver kubectl
		local ld; ld=$(kube_ldflags)
		mkdir -p "$out.tmp"
		go build -trimpath -ldflags "$ld" -o "$out.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
		go build -trimpath -ldflags "$ld" -o "$out.tmp/kubectl" k8s.io/kubernetes/cmd/kubectl
	)
	rm -rf "$work" "$out"; mv "$out.tmp" "$out"
}

# kube_module CMD...: in the current (empty) folder, a module that requires
# k8s.io/kubernetes at $K8S_VERSION and can build k8s.io/kubernetes/cmd/CMD.
kube_module() {
	go mod init tokenguard.local/k8sbuild >/dev/null 2>&1
	local gomod
	gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
	# them with local paths; point each at the published v0.<minor>.<patch>.
	local mods
	mods=$(awk '/^require/,/^\)/' "$gomod" | awk '$1 ~ /^k8s.io\// && $2 == "v0.0.0" {print $1}' | sort -u)
	{
		echo "require k8s.io/kubernetes $K8S_VERSION"
		for m in $mods; do echo "replace $m => $m $staging_version"; done
	} >>go.mod
	local c pkgs=()
	for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c@$K8S_VERSION"); done
	go get "${pkgs[@]}" >&2
}

# kube_ldflags: what `kube-apiserver --version` and friends report.
kube_ldflags() {
	local ld="-s -w" p
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor"
	done
	echo "$ld"
}

# The local cluster's binaries, next to kube-apiserver in the same cache
# folder. They are built after build_kube, which replaces that folder whole
# when kube-apiserver is stale, so a version change drops these too.
cluster_bins=(kubelet kube-scheduler kube-controller-manager kube-proxy)

build_cluster() {
	local out="$cache/kubernetes-$K8S_VERSION" b missing=()
	for b in "${cluster_bins[@]}"; do
		if [[ -x "$out/$b" ]] && "$out/$b" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION"; then
			continue
		fi
		missing+=("$b")
	done
	[[ ${#missing[@]} -gt 0 ]] || return 0
	log "building ${missing[*]} $K8S_VERSION from source (2 to 7 minutes on 2 cores with kube-apiserver's build cache warm)"
	local work; work=$(mktemp -d)
	local tmp; tmp=$(mktemp -d "$out.cluster.XXXXXX")
	(
		cd "$work"
		kube_module "${missing[@]}"
		local ld; ld=$(kube_ldflags)
		for b in "${missing[@]}"; do
			go build -trimpath -ldflags "$ld" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b"
		done
	)
	# Each binary appears in the cache whole or not at all.
	for b in "${missing[@]}"; do mv -f "$tmp/$b" "$out/$b"; done
	rm -rf "$work" "$tmp"
}

build_etcd() {
	local out="$cache/etcd-$ETCD_VERSION"
	if [[ -x "$out/etcd" ]] && "$out/etcd" --version 2>/dev/null | grep -q "etcd Version: ${ETCD_VERSION#v}"; then
		return
	fi
	log "building etcd $ETCD_VERSION from source (about 1 minute)"
	local work; work=$(mktemp -d)
	(
		cd "$work"
		go mod init tokenguard.local/etcdbuild >/dev/null 2>&1
		cat >main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
		go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
		go mod tidy >&2
		mkdir -p "$out.tmp"
		go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" .
	)
	rm -rf "$work" "$out"; mv "$out.tmp" "$out"
}

build_helm() {
	local out="$cache/helm-$HELM_VERSION"
	if [[ -x "$out/helm" ]] && "$out/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
		return
	fi
	log "building helm $HELM_VERSION from source (about 3 minutes)"
	local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
	for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
		ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
	done
	mkdir -p "$out.tmp"
	GOBIN="$out.tmp" go install -trimpath -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
	rm -rf "$out"; mv "$out.tmp" "$out"
}

want=("$@"); [[ ${#want[@]} -gt 0 ]] || want=(envtest helm)
for w in "${want[@]}"; do
	case $w in
	envtest)
		build_etcd
		build_kube
		assets="$root/bin/k8s/$K8S_VERSION"
		mkdir -p "$assets"
		for b in kube-apiserver kubectl; do ln -sfn "$cache/kubernetes-$K8S_VERSION/$b" "$assets/$b"; done
		ln -sfn "$cache/etcd-$ETCD_VERSION/etcd" "$assets/etcd"
		echo "$assets"
		;;
	cluster)
		build_kube
		build_cluster
		assets="$root/bin/k8s/$K8S_VERSION"
		mkdir -p "$assets"
		for b in "${cluster_bins[@]}"; do ln -sfn "$cache/kubernetes-$K8S_VERSION/$b" "$assets/$b"; done
		echo "$assets"
		;;
	helm)
		build_helm
		mkdir -p "$root/bin"
		ln -sfn "$cache/helm-$HELM_VERSION/helm" "$root/bin/helm"
		;;
	*) log "unknown tool $w (want envtest, helm or cluster)"; exit 2 ;;
	esac
done
