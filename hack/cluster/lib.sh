# Shared by up.sh, down.sh, load-image.sh and component.sh: where the local
# cluster keeps its files and how its processes are told apart from everyone
# else's.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}

# Everything the cluster creates lives under $STATE, except what containerd
# 1.6, libcni and the kubelet hard-code (down.sh cleans those too).
STATE=${TOKENGUARD_CLUSTER_DIR:-$root/bin/cluster}
STATE=$(realpath -m "$STATE")

ASSETS=$root/bin/k8s/$K8S_VERSION
PKI=$STATE/pki
PIDS=$STATE/pids
LOGS=$STATE/logs
RUN=$STATE/run
KUBECONFIG_ADMIN=$STATE/kubeconfig
CONTAINERD_SOCK=$STATE/containerd/containerd.sock
RUNC_ROOT=$STATE/runc

# Networks. POD_CIDR is the podCIDR the controller manager gives the first
# (only) node out of CLUSTER_CIDR, so the CNI config can name it up front.
CLUSTER_CIDR=10.244.0.0/16
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
API_SERVICE_IP=10.96.0.1

# Names that mark what is ours in shared places: the CNI network (libcni
# names its files in /var/lib/cni/results after it), the bridge, the egress
# guard chain and the cgroup parent of every pod.
CNI_NETWORK=tokenguard
CNI_BRIDGE=cni0
GUARD_CHAIN=TOKENGUARD-EGRESS
CGROUP_ROOT=tokenguard

# Host sysctls that the kubelet, the bridge plugin, kube-proxy or up.sh may
# change: recorded before the first process starts, restored by down.sh in
# this order (writing ip_forward also resets every interface's forwarding and
# accept_redirects, as the kernel does).
SYSCTLS=(
	vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
	kernel.keys.root_maxkeys kernel.keys.root_maxbytes
	net.ipv4.ip_forward net.ipv4.conf.all.accept_redirects net.ipv6.conf.all.forwarding
	net.ipv4.conf.all.route_localnet
	net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables
	net.netfilter.nf_conntrack_max
	net.netfilter.nf_conntrack_tcp_timeout_established
	net.netfilter.nf_conntrack_tcp_timeout_close_wait
)

# Shared folders some component creates when missing; up.sh notes which
# were missing so that down.sh removes them again (when empty).
# Deepest first.
SHARED_DIRS=(
	/run/containerd/s /run/containerd /run/netns /run/mount
	/var/lib/cni/results /var/lib/cni /var/log/containers
	/var/lib/kubelet/device-plugins /var/lib/kubelet
)

# In start order.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy)

log() { printf 'cluster: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# start_time PID: the process's start time in clock ticks since boot. With
# the PID it names one process for good; a PID alone is reused. Fails for a
# process that is gone or a zombie.
start_time() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) } # the fields after "pid (comm) ", from field 3 on
	# shellcheck disable=SC2086
	set -- $stat
	[[ $1 != Z ]] || return 1
	echo "${20}" # field 22
}

# alive PID START: the process that had START as its start time still runs.
alive() { [[ $(start_time "$1") == "$2" ]]; }

# ours NAME: the PID in pids/NAME while that process is still the one
# started from run/NAME: same command line (a reused PID has another). The
# file holds the PID alone, so tests that restart a component write it too.
ours() {
	local pid
	[[ -r $PIDS/$1 && -r $RUN/$1 ]] || return 1
	read -r pid _ <"$PIDS/$1" || return 1
	[[ $pid =~ ^[0-9]+$ ]] && start_time "$pid" >/dev/null || return 1
	[[ $(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline") == "$(cat "$RUN/$1")" ]] || return 1
	echo "$pid"
}

# start NAME: runs the command line up.sh wrote to run/NAME in the background,
# in its own session (a closed terminal or Ctrl-C elsewhere does not reach
# it), with no inherited descriptors (a caller reading our output through a
# pipe is not held open), logging to logs/NAME.log; records its PID.
start() {
	local name=$1
	local -a argv
	mapfile -t argv <"$RUN/$name"
	(
		for fd in "/proc/$BASHPID/fd"/*; do
			fd=${fd##*/}
			if ((fd > 2)); then eval "exec $fd>&-"; fi
		done
		# The umask of a service manager: containerd makes image root folders
		# with it, and a 077 one leaves non-root containers unable to read /.
		umask 022
		exec setsid "${argv[@]}" </dev/null >>"$LOGS/$name.log" 2>&1
	) &
	echo "$!" >"$PIDS/$name"
}

# stop NAMES...: SIGTERM to each of our processes, SIGKILL to those still
# there after $STOP_GRACE seconds; returns when all are gone.
STOP_GRACE=${STOP_GRACE:-10}
stop() {
	local name pid st procs=()
	for name in "$@"; do
		if pid=$(ours "$name"); then
			st=$(start_time "$pid") && procs+=("$pid:$st")
			kill -TERM "$pid" 2>/dev/null || true
		fi
		rm -f "$PIDS/$name"
	done
	kill_procs "${procs[@]}"
}

# kill_procs PID:START...: waits up to $STOP_GRACE seconds for each to exit
# (after a signal sent by the caller), then SIGKILLs what is left.
kill_procs() {
	local deadline=$((SECONDS + STOP_GRACE)) p left killed=
	local -a procs=("$@")
	while ((${#procs[@]} > 0)); do
		left=()
		for p in "${procs[@]}"; do
			if alive "${p%%:*}" "${p#*:}"; then left+=("$p"); fi
		done
		((${#left[@]} > 0)) || return 0
		if ((SECONDS >= deadline)); then
			[[ -z $killed ]] || { log "still running after SIGKILL: ${left[*]}"; return 1; }
			for p in "${left[@]}"; do
				log "SIGKILL to $(cat "/proc/${p%%:*}/comm" 2>/dev/null) (pid ${p%%:*}): still running after ${STOP_GRACE} s"
				kill -KILL "${p%%:*}" 2>/dev/null || true
			done
			killed=1 deadline=$((SECONDS + 5))
		fi
		sleep 0.1
		procs=("${left[@]}")
	done
}

kubectl_admin() { "$ASSETS/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" --cache-dir "$STATE/kube-cache" "$@"; }

# ctr_k8s ARGS: ctr against our containerd, in the namespace the CRI uses.
ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
