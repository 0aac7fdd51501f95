#!/usr/bin/env bash
# Tears the local cluster down and gives the machine back as it was (make
# cluster-down): stops the processes up.sh started (by PID and start time,
# SIGTERM then SIGKILL), the pods' processes (by their cgroup, ours by name)
# and containerd's shims for our socket; unmounts what is mounted under the
# cluster folder; deletes the pods' network namespaces, the cni0 bridge and
# its veths, the KUBE-, CNI- and guard chains in every table, and what
# containerd, libcni and the kubelet leave in shared folders; writes back the
# sysctls recorded at start; removes the cluster folder.
#
# Idempotent, and quick when nothing is up; up.sh runs it first to clean a
# crashed cluster. Touches nothing that is not ours: processes are matched by
# PID and start time, by cgroup or by our socket path; network namespaces by
# their link to our bridge or an address in the pod network.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/cluster/lib.sh
source "$here/lib.sh"

[[ $(id -u) == 0 ]] || die "needs root"
t0=$SECONDS
have() { command -v "$1" >/dev/null; }

# --- processes -----------------------------------------------------------------

# The kubelet goes before the pods, or it starts them again; the pods before
# the API server, whose graceful shutdown waits for their open watches; etcd
# after it, or the API server waits for etcd on its way out.
[[ -d $PIDS ]] && stop kube-proxy kubelet kube-scheduler kube-controller-manager

# The pods' processes: everything in our cgroup parent, in any hierarchy.
pod_procs() {
	local f
	for f in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
		[[ -d $f ]] && find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null
	done | sort -un
}
procs=()
for pid in $(pod_procs); do
	st=$(start_time "$pid") && procs+=("$pid:$st") && kill -KILL "$pid" 2>/dev/null
done
kill_procs "${procs[@]}"

[[ -d $PIDS ]] && stop kube-apiserver
[[ -d $PIDS ]] && stop containerd etcd

# containerd's shims outlive it by design; ours are the ones that name our
# socket on their command line.
shim_ids=()
procs=()
for d in /proc/[0-9]*; do
	cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
	[[ $cmd == *containerd-shim*" -address $CONTAINERD_SOCK "* ]] || continue
	pid=${d#/proc/}
	st=$(start_time "$pid") || continue
	procs+=("$pid:$st")
	[[ $cmd =~ " -id "([^ ]+) ]] && shim_ids+=("${BASH_REMATCH[1]}")
	kill -TERM "$pid" 2>/dev/null
done
kill_procs "${procs[@]}"

# --- mounts and network namespaces -----------------------------------------------

# mounts_under DIR: mount points at or below DIR, deepest first (mountinfo
# escapes spaces and the like as octal).
mounts_under() {
	awk -v d="$1" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print length(m) "\t" m }' \
		/proc/self/mountinfo | sort -rn | cut -f2- | uniq
}
unmount_all() {
	local m
	while IFS= read -r m; do
		[[ -n $m ]] || continue
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "cannot unmount $m"
	done < <(mounts_under "$1")
}
unmount_all "$STATE"

# Our pod network namespaces: those whose veth peer sits on our bridge, and
# any (the bridge may be gone after a crash) holding an address in the pod
# network. containerd names them cni-* under /run/netns, a path it hard-codes.
# ip names a veth's peer namespace (link-netns NAME) or gives its id
# (link-netnsid N), which `ip netns list` shows as "(id: N)".
declare -A linked=()
if [[ -d /sys/class/net/$CNI_BRIDGE ]]; then
	while read -r key; do linked[$key]=1; done < <(
		ip -o link show master "$CNI_BRIDGE" 2>/dev/null | grep -oE 'link-netns(id)? [^ ]+' | tr ' ' '=')
fi
pod_net=${POD_CIDR%.*}.
while read -r name rest; do
	[[ $name == cni-* ]] || continue
	id=$(sed -n 's/.*(id: \([0-9]*\)).*/\1/p' <<<"$rest")
	if [[ -n ${linked[link-netns=$name]:-} || (-n $id && -n ${linked[link-netnsid=$id]:-}) ]] ||
		ip -n "$name" -4 -o addr show 2>/dev/null | awk '{print $4}' | grep -q "^${pod_net//./\\.}"; then
		ip netns delete "$name" 2>/dev/null || {
			umount -l "/run/netns/$name" 2>/dev/null
			rm -f "/run/netns/$name"
		}
	fi
done < <(ip netns list 2>/dev/null)

# The bridge and whatever veths are still on it.
if [[ -d /sys/class/net/$CNI_BRIDGE ]]; then
	for v in $(ip -o link show master "$CNI_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
		ip link delete "$v" 2>/dev/null
	done
	ip link delete "$CNI_BRIDGE" 2>/dev/null || log "cannot delete bridge $CNI_BRIDGE"
fi

# --- iptables --------------------------------------------------------------------

# In every table of both families: the rules in other chains that jump to
# ours, then our chains themselves (kube-proxy's and the kubelet's KUBE-*,
# portmap's CNI-*, our guard).
ours_re="^(KUBE-|CNI-|$GUARD_CHAIN)"
for ipt in iptables ip6tables; do
	have "$ipt" || continue
	for table in raw mangle nat filter security; do
		dump=$("$ipt-save" -t "$table" 2>/dev/null) || continue
		chains=$(sed -n 's/^:\([^ ]*\) .*/\1/p' <<<"$dump" | grep -E "$ours_re")
		[[ -n $chains ]] || continue
		while IFS= read -r rule; do
			[[ -n $rule ]] || continue
			eval "\"$ipt\" -w -t \"$table\" -D ${rule#-A }" 2>/dev/null
		done < <(grep -E '^-A ' <<<"$dump" | grep -Ev "^-A (KUBE-|CNI-|$GUARD_CHAIN)" |
			grep -E -- "-[jg] (KUBE-|CNI-|$GUARD_CHAIN)")
		for c in $chains; do "$ipt" -w -t "$table" -F "$c" 2>/dev/null; done
		for c in $chains; do "$ipt" -w -t "$table" -X "$c" 2>/dev/null; done
	done
done

# iptables-nft leaves the tables it made, empty; kube-proxy leaves nfacct
# counters. Remove those that were not there before up.sh.
if have nft && [[ -r $STATE/nft-tables ]]; then
	while read -r _ family table; do
		[[ $family == ip || $family == ip6 ]] || continue
		grep -qx "table $family $table" "$STATE/nft-tables" && continue
		# Only a table left with nothing but iptables' empty built-in chains.
		listing=$(nft -a list table "$family" "$table" 2>/dev/null) || continue
		grep -E '# handle' <<<"$listing" | grep -vqE '^\s*(table|chain) ' && continue
		grep -E '^\s*chain ' <<<"$listing" | grep -vqE 'chain (PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING) ' && continue
		nft delete table "$family" "$table" 2>/dev/null
	done < <(nft list tables 2>/dev/null)
fi
if have nfacct && [[ -r $STATE/nfacct ]]; then
	for name in $(nfacct list 2>/dev/null | sed -n 's/.*= \([^ ;]*\);.*/\1/p'); do
		grep -qx "$name" "$STATE/nfacct" || nfacct del "$name" >/dev/null 2>&1
	done
fi

# --- sysctls, cgroups, shared folders ---------------------------------------------

if [[ -r $STATE/sysctls ]]; then
	while IFS='=' read -r key val; do
		[[ -n $key && $(sysctl -n "$key" 2>/dev/null) != "$val" ]] || continue
		sysctl -qw "$key=$val" >/dev/null 2>&1 || log "cannot restore $key=$val"
	done <"$STATE/sysctls"
fi

for h in /sys/fs/cgroup/*/"$CGROUP_ROOT"; do
	[[ -d $h ]] || continue
	find "$h" -depth -type d -exec rmdir {} + 2>/dev/null || log "cannot remove cgroup $h"
done

# containerd 1.6 puts each shim's socket in /run/containerd/s, named after
# sha256(<containerd socket>/<namespace>/<id>).
task_dir=$STATE/containerd/state/io.containerd.runtime.v2.task/k8s.io
for d in "$task_dir"/*; do [[ -d $d ]] && shim_ids+=("${d##*/}"); done
for id in "${shim_ids[@]}"; do
	h=$(printf '%s' "$CONTAINERD_SOCK/k8s.io/$id" | sha256sum | cut -d' ' -f1)
	rm -f "/run/containerd/s/$h"
done
# libcni names its results <network>-<sandbox>-<interface>: ours, and
# containerd's loopback network for our sandboxes.
rm -f /var/lib/cni/results/"$CNI_NETWORK"-*
for d in "$STATE"/containerd/state/io.containerd.grpc.v1.cri/sandboxes/* "${shim_ids[@]/#//}"; do
	rm -f "/var/lib/cni/results/cni-loopback-${d##*/}-lo"
done
# The kubelet links every container's log into /var/log/containers.
for l in /var/log/containers/*.log; do
	[[ -L $l && $(readlink "$l") == "$STATE/"* ]] && rm -f "$l"
done
if [[ -r $STATE/created-dirs ]]; then
	# The kubelet's device-plugin socket has a fixed path.
	grep -qx /var/lib/kubelet/device-plugins "$STATE/created-dirs" && rm -f /var/lib/kubelet/device-plugins/kubelet.sock
	while IFS= read -r d; do rmdir "$d" 2>/dev/null; done <"$STATE/created-dirs"
fi

# --- the folder ----------------------------------------------------------------------

if [[ -e $STATE ]]; then
	if [[ -n $(mounts_under "$STATE") ]]; then
		die "still mounted under $STATE, not removing it: $(mounts_under "$STATE" | tr '\n' ' ')"
	fi
	rm -rf --one-file-system "$STATE"
fi
log "down in $((SECONDS - t0)) s"
