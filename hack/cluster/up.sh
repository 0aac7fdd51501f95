#!/usr/bin/env bash
# Brings up a real single-node Kubernetes cluster on this machine without
# Docker (make cluster): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd, kubelet and kube-proxy, built from source at the
# pinned version (hack/build-k8s-tools.sh envtest cluster) or installed from
# Debian (containerd, runc, CNI plugins, iptables, conntrack). The settings are
# those of shared/reference/local-cluster.md; each one there was learned from
# a failure.
#
# Prints the admin kubeconfig path on stdout once the node is Ready and the
# default ServiceAccount exists; progress goes to stderr. Everything lives
# under $TOKENGUARD_CLUSTER_DIR (default bin/cluster). When a cluster is
# already up and healthy there, it only prints the kubeconfig; when a previous
# one is there but broken (a crash, a reboot), it tears that down first.
#
# Traffic stays on this machine: before containerd or the kubelet start, an
# egress guard drops whatever the pods send that is not for the pod network,
# the Service network or this machine's own address. Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=hack/cluster/lib.sh
source "$here/lib.sh"

[[ $(id -u) == 0 ]] || die "needs root (it runs a kubelet, containerd and iptables)"

# healthy: every component we started still runs, the API server is ready
# and the node is Ready.
healthy() {
	local c
	for c in "${COMPONENTS[@]}"; do ours "$c" >/dev/null || return 1; done
	[[ -r $STATE/node-name ]] || return 1
	kubectl_admin get --raw /readyz >/dev/null 2>&1 || return 1
	[[ $(kubectl_admin get node "$(cat "$STATE/node-name")" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

if [[ -d $STATE ]] && healthy; then
	log "already up"
	echo "$KUBECONFIG_ADMIN"
	exit 0
fi

# A kube-apiserver we did not start (another folder's cluster, a dev-cluster on
# the same port) would be torn down by nothing here and fight ours: refuse.
port_busy() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
if [[ ! -d $STATE ]]; then
	for port in 6443 2379 2380 10250; do
		port_busy "$port" && die "port $port is in use by a process this cluster did not start (another cluster?); stop it first"
	done
fi

t0=$SECONDS
# Whatever a previous run left (stale PIDs, mounts, chains, bridge) goes first.
"$here/down.sh"

# --- packages and binaries ---------------------------------------------------

need=()
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
for p in bridge host-local loopback portmap; do
	[[ -x /usr/lib/cni/$p ]] || { need+=(containernetworking-plugins); break; }
done
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
command -v ss >/dev/null || need+=(iproute2)
# To remove after us what iptables-nft and kube-proxy leave in the kernel:
# empty nftables tables and kube-proxy's nfacct counters.
command -v nft >/dev/null || need+=(nftables)
command -v nfacct >/dev/null || need+=(nfacct)
if ((${#need[@]} > 0)); then
	log "installing ${need[*]} from Debian"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

for b in etcd kube-apiserver kubectl kubelet kube-scheduler kube-controller-manager kube-proxy; do
	if [[ ! -x $ASSETS/$b ]]; then
		log "building the Kubernetes binaries (make cluster-tools)"
		"$root/hack/build-k8s-tools.sh" envtest cluster >/dev/null
		break
	fi
done

# --- where we are ------------------------------------------------------------

# The API server refuses a loopback advertise address, so advertise the
# machine's own address: eth0's, or else that of the default route's device.
node_ip=${TOKENGUARD_NODE_IP:-}
if [[ -z $node_ip ]]; then
	dev=eth0
	ip link show dev eth0 >/dev/null 2>&1 ||
		dev=$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
	node_ip=$(ip -4 -o addr show dev "$dev" scope global 2>/dev/null | awk '{split($4, a, "/"); print a[1]; exit}')
fi
[[ $node_ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "cannot find this machine's IPv4 address on eth0; set TOKENGUARD_NODE_IP"
node_name=$(hostname | tr '[:upper:]' '[:lower:]')
# The API server reaches the kubelet (logs, exec, port-forward) by the node's
# host name, and the kubelet listens on 127.0.0.1 only.
if ! getent ahostsv4 "$node_name" | awk '{print $1}' | grep -q '^127\.'; then
	log "warning: $node_name does not resolve to 127.0.0.1: kubectl logs and exec will not reach the kubelet"
fi

mkdir -p "$STATE"
chmod 700 "$STATE"
mkdir -p "$PKI" "$PIDS" "$LOGS" "$RUN" "$STATE/etcd" "$STATE/kubelet" "$STATE/pod-logs" \
	"$STATE/containerd" "$RUNC_ROOT" "$STATE/cni/net.d" "$STATE/cni/ipam" "$STATE/images"
echo "$node_ip" >"$STATE/node-ip"
echo "$node_name" >"$STATE/node-name"

for d in "${SHARED_DIRS[@]}"; do
	[[ -e $d ]] || echo "$d" >>"$STATE/created-dirs"
done

# Recorded before anything can change them; down.sh writes back what changed
# and removes the nftables tables and nfacct counters that were not there.
for s in "${SYSCTLS[@]}"; do
	v=$(sysctl -n "$s" 2>/dev/null) && printf '%s=%s\n' "$s" "$v"
done >"$STATE/sysctls"
nft list tables >"$STATE/nft-tables" 2>/dev/null || true
# nfacct lists "{ pkts = N, bytes = N } = NAME;".
nfacct list 2>/dev/null | sed -n 's/.*= \([^ ;]*\);.*/\1/p' >"$STATE/nfacct" || true

# --- egress guard --------------------------------------------------------------

# The bridge plugin turns on ip_forward for every interface, so a pod could
# reach any address the machine can. Before the first pod, drop what comes in
# from the pod bridge unless it is for the pod network, the Service network or
# this machine (raw PREROUTING, before any DNAT), and drop anything forwarded
# from the bridge to another interface (mangle FORWARD, after DNAT: a Service
# whose endpoints someone points elsewhere). Pods get no IPv6 address: all
# IPv6 from the bridge is dropped.
guard() {
	local ipt=$1 table=$2 hook=$3
	shift 3
	"$ipt" -w -t "$table" -N "$GUARD_CHAIN" 2>/dev/null || "$ipt" -w -t "$table" -F "$GUARD_CHAIN"
	local rule
	for rule in "$@"; do
		# shellcheck disable=SC2086
		"$ipt" -w -t "$table" -A "$GUARD_CHAIN" $rule
	done
	"$ipt" -w -t "$table" -I "$hook" 1 -i "$CNI_BRIDGE" -j "$GUARD_CHAIN" \
		-m comment --comment "tokenguard local cluster: pods talk only to this machine"
}
guard iptables raw PREROUTING \
	"-d $CLUSTER_CIDR -j RETURN" "-d $SERVICE_CIDR -j RETURN" "-d $node_ip/32 -j RETURN" "-j DROP"
guard iptables mangle FORWARD "-o $CNI_BRIDGE -j RETURN" "-j DROP"
guard ip6tables raw PREROUTING "-j DROP"
guard ip6tables mangle FORWARD "-j DROP"

# kube-proxy's Services between two pods on the same bridge need bridged
# packets to pass iptables (recorded above, restored by down.sh).
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || log "warning: cannot set net.bridge.bridge-nf-call-iptables=1"

# --- PKI and credentials -----------------------------------------------------

# ECDSA P-256 throughout: as good as RSA here and an order of magnitude faster
# to generate.
newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# cert NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
cert() {
	newkey "$PKI/$1.key"
	openssl req -new -key "$PKI/$1.key" -subj "$2" -out "$PKI/$1.csr" 2>/dev/null
	openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 365 -sha256 -out "$PKI/$1.crt" -extfile <(printf '%s\n' "$3") 2>/dev/null
	rm -f "$PKI/$1.csr"
}
newkey "$PKI/ca.key"
openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=tokenguard-local-cluster-ca" -days 365 -sha256 \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	-out "$PKI/ca.crt" 2>/dev/null
cert apiserver "/CN=kube-apiserver" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:$API_SERVICE_IP,IP:$node_ip,DNS:localhost,DNS:$node_name,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
newkey "$PKI/sa.key"
openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
chmod 600 "$PKI"/*.key

# Static tokens: simple and enough for a test cluster. Each component gets
# its own user, so the default RBAC roles (and the Node authorizer for the
# kubelet) apply to it as in a real cluster.
token() { openssl rand -hex 16; }
declare -A tokens=(
	[admin]=$(token) [kube-controller-manager]=$(token) [kube-scheduler]=$(token)
	[kube-proxy]=$(token) [kubelet]=$(token)
)
{
	echo "${tokens[admin]},admin,admin,system:masters"
	echo "${tokens[kube-controller-manager]},system:kube-controller-manager,system:kube-controller-manager"
	echo "${tokens[kube-scheduler]},system:kube-scheduler,system:kube-scheduler"
	echo "${tokens[kube-proxy]},system:kube-proxy,system:kube-proxy"
	echo "${tokens[kubelet]},system:node:$node_name,system:node:$node_name,system:nodes"
} >"$PKI/tokens.csv"
chmod 600 "$PKI/tokens.csv"

kubeconfig() { # FILE USER
	(umask 077 && cat >"$1") <<EOF
apiVersion: v1
kind: Config
clusters:
- name: tokenguard-local
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority: $PKI/ca.crt
users:
- name: $2
  user:
    token: ${tokens[$2]}
contexts:
- name: tokenguard-local
  context: {cluster: tokenguard-local, user: $2}
current-context: tokenguard-local
EOF
}
kubeconfig "$KUBECONFIG_ADMIN" admin
for c in kube-controller-manager kube-scheduler kube-proxy kubelet; do kubeconfig "$STATE/$c.kubeconfig" "$c"; done

# --- configuration files -------------------------------------------------------

cat >"$STATE/kube-scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: $STATE/kube-scheduler.kubeconfig}
leaderElection: {leaderElect: false}
EOF

# resolv.conf for pods: there is no cluster DNS, and pods must not ask the
# machine's resolver (traffic stays here), so names resolve nowhere.
echo "nameserver 127.0.0.1" >"$STATE/kubelet/resolv.conf"

cat >"$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# The API server dials the node's host name, which resolves to 127.0.0.1.
address: 127.0.0.1
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
cgroupDriver: cgroupfs
# Every pod under one cgroup parent of our own, so that teardown finds them.
cgroupRoot: /$CGROUP_ROOT
# This machine mounts cgroup v1, which kubelet >= 1.35 refuses unless told.
failCgroupV1: false
failSwapOn: false
# Root here lacks CAP_SYS_RESOURCE: no lowering of OOM scores.
oomScoreAdj: 0
resolvConf: $STATE/kubelet/resolv.conf
hairpinMode: hairpin-veth
podLogsDir: $STATE/pod-logs
volumePluginDir: $STATE/kubelet/volume-plugins
clusterDomain: cluster.local
# Our images cannot be pulled again: never garbage-collect them, and evict
# only when the disk is really full.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2%}
EOF

cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: $node_name
mode: iptables
clusterCIDR: $CLUSTER_CIDR
nodePortAddresses: [primary]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
# 0 leaves the host's conntrack table size and timeouts as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF

cat >"$STATE/cni/net.d/10-$CNI_NETWORK.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "$CNI_NETWORK",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$STATE/cni/ipam",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF

cat >"$STATE/containerd/config.toml" <<EOF
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "tokenguard.local/pause:1"
  # Root here lacks CAP_SYS_RESOURCE; without this every sandbox fails with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUNC_ROOT"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF

# The kubelet wants its cgroup parent to exist in every v1 hierarchy.
for h in /sys/fs/cgroup/*/; do
	[[ -e $h/cgroup.procs && ! -L ${h%/} ]] && mkdir -p "$h$CGROUP_ROOT"
done

# --- command lines (component.sh restarts them from these) --------------------

argv() { # NAME ARGS...
	local name=$1
	shift
	printf '%s\n' "$@" >"$RUN/$name"
}
argv etcd "$ASSETS/etcd" --name tokenguard --data-dir "$STATE/etcd" \
	--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
	--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
	--initial-cluster tokenguard=http://127.0.0.1:2380 --log-level warn
argv kube-apiserver "$ASSETS/kube-apiserver" \
	--advertise-address "$node_ip" --secure-port 6443 \
	--etcd-servers http://127.0.0.1:2379 \
	--service-cluster-ip-range "$SERVICE_CIDR" \
	--tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
	--client-ca-file "$PKI/ca.crt" --token-auth-file "$PKI/tokens.csv" \
	--authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
	--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
	--kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
	--service-account-issuer https://kubernetes.default.svc.cluster.local \
	--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
	--allow-privileged=true --profiling=false
# --node-monitor-grace-period 5m: with one node and one API server, a control
# plane stopped for longer than the default 50 s returns to a node lease that
# looks stale; the node lifecycle controller then marks the node unknown and
# its pods not Ready, emptying every Service until the kubelet reports again.
# The outage tests stop the control plane for 60 s; the node itself is fine.
argv kube-controller-manager "$ASSETS/kube-controller-manager" \
	--kubeconfig "$STATE/kube-controller-manager.kubeconfig" --bind-address 127.0.0.1 \
	--cluster-cidr "$CLUSTER_CIDR" --allocate-node-cidrs --node-cidr-mask-size 24 \
	--service-cluster-ip-range "$SERVICE_CIDR" \
	--service-account-private-key-file "$PKI/sa.key" --root-ca-file "$PKI/ca.crt" \
	--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
	--use-service-account-credentials --leader-elect=false \
	--flex-volume-plugin-dir "$STATE/kubelet/volume-plugins" --profiling=false \
	--node-monitor-grace-period 5m
argv kube-scheduler "$ASSETS/kube-scheduler" --config "$STATE/kube-scheduler.yaml" \
	--bind-address 127.0.0.1 --profiling=false
argv containerd containerd --config "$STATE/containerd/config.toml"
argv kubelet "$ASSETS/kubelet" --config "$STATE/kubelet.yaml" \
	--kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$STATE/kubelet" --cert-dir "$STATE/kubelet/pki" \
	--node-ip "$node_ip" --hostname-override "$node_name"
argv kube-proxy "$ASSETS/kube-proxy" --config "$STATE/kube-proxy.yaml"

# --- start -------------------------------------------------------------------

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 0.2 s; on a time-out
# shows the logs of the components that were started.
wait_for() {
	local what=$1 deadline=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if ((SECONDS >= deadline)); then
			local f
			for f in "$LOGS"/*.log; do
				log "--- last lines of $f"
				tail -n 15 "$f" >&2
			done
			die "timed out waiting for $what; 'make cluster-down' cleans up"
		fi
		sleep 0.2
	done
	log "$what ($((SECONDS - t0)) s)"
}
api_ready() { curl -sf --max-time 2 --cacert "$PKI/ca.crt" https://127.0.0.1:6443/readyz; }
node_ready() {
	[[ $(kubectl_admin get node "$node_name" \
		-o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

start etcd
wait_for "etcd is up" 30 curl -sf --max-time 2 http://127.0.0.1:2379/health
start kube-apiserver
wait_for "kube-apiserver is ready" 60 api_ready
start kube-controller-manager
start kube-scheduler
start containerd
wait_for "containerd is up" 30 ctr_k8s version

# The sandbox image: our own pause program (nothing can be pulled here).
if [[ ! -s $STATE/images/pause.tar ]]; then
	(cd "$root" && GOFLAGS=-buildvcs=false go run ./hack/image pause --tag tokenguard.local/pause:1 --out "$STATE/images/pause.tar") >&2
fi
ctr_k8s images import "$STATE/images/pause.tar" >&2

start kubelet
wait_for "node $node_name is Ready" 120 node_ready
start kube-proxy
wait_for "kube-proxy is healthy" 30 curl -sf --max-time 2 http://127.0.0.1:10256/healthz
wait_for "default ServiceAccount exists" 60 kubectl_admin get serviceaccount default -n default

log "up in $((SECONDS - t0)) s; export KUBECONFIG=$KUBECONFIG_ADMIN"
echo "$KUBECONFIG_ADMIN"
