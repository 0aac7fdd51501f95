# TokenGuard Makefile. `make help` lists the targets.

# Pinned tool versions. Tools build from the Go module proxy into bin/.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION    ?= v2.15.0
K8S_VERSION              ?= v1.37.2
ETCD_VERSION             ?= v3.7.3
HELM_VERSION             ?= v3.22.0

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
export GOFLAGS := -buildvcs=false

BIN            := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT  := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM           := $(BIN)/helm
export K8S_VERSION ETCD_VERSION HELM_VERSION

# make run: the seed use case on the embedded DB-IP Lite country default and
# the ip-location-db ASN default. Set ABUSEIPDB_API_KEY in the environment to
# switch AbuseIPDB on.
RUN_POLICY ?= config/samples/asgardeo-use-case.yaml
RUN_ARGS   ?=

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests.
	$(CONTROLLER_GEN) rbac:roleName=tokenguard crd paths=./api/... paths=./controllers/... \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/sync-copies.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: verify
verify: manifests generate ## Fail when generated files are stale or go.mod is untidy.
	go mod tidy
	@if [ -n "$$(git status --porcelain -- api config charts go.mod go.sum)" ]; then \
		echo "generated files are stale; run 'make manifests generate' and 'go mod tidy' and commit:"; \
		git status --porcelain -- api config charts go.mod go.sum; git --no-pager diff --stat; exit 1; fi

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run --build-tags e2e,cluster ./...

.PHONY: test
test: envtest helm redis ## Run all tests: unit, HTTP, chart renders, envtest (real kube-apiserver and etcd), shared state on a real redis-server.
	KUBEBUILDER_ASSETS="$(BIN)/k8s/$(K8S_VERSION)" go test -race -count=1 ./...

.PHONY: test-e2e
test-e2e: envtest helm redis build geoip asn ## Install manifests on a real API server and run the built binary against it.
	KUBEBUILDER_ASSETS="$(BIN)/k8s/$(K8S_VERSION)" go test -tags e2e -count=1 -v ./hack/e2e/

.PHONY: test-cluster
test-cluster: envtest helm cluster-tools image ## On a real single-node cluster (make cluster): the chart's pods installed, rolled, killed and drained under load. Needs root.
	@hack/cluster/up.sh >/dev/null
	hack/cluster/load-image.sh $(BIN)/images/tokenguard.tar
	rc=0; KUBEBUILDER_ASSETS="$(BIN)/k8s/$(K8S_VERSION)" go test -tags cluster -count=1 -v -timeout 20m -run TestCluster ./hack/e2e/ || rc=$$?; \
	if [ -z "$$KEEP_CLUSTER" ]; then hack/cluster/down.sh; fi; exit $$rc

.PHONY: dev-cluster
dev-cluster: envtest helm build ## Start a local kube-apiserver and etcd with the CRD installed and print a kubeconfig.
	KUBEBUILDER_ASSETS="$(BIN)/k8s/$(K8S_VERSION)" go run ./hack/devcluster

.PHONY: cluster
cluster: envtest cluster-tools ## Start a real single-node cluster (kubelet, containerd; needs root) and print its kubeconfig.
	@hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the cluster of make cluster and restore the machine (processes, mounts, network, sysctls).
	@hack/cluster/down.sh

.PHONY: fuzz
fuzz: ## Fuzz the request decoder and the IP list reader (FUZZTIME=30s each by default).
	go test ./webhook -run '^$$' -fuzz FuzzServeHTTP -fuzztime $${FUZZTIME:-30s}
	go test ./internal/iplist -run '^$$' -fuzz FuzzRead -fuzztime $${FUZZTIME:-30s}

.PHONY: bench
bench: geoip ## Run the benchmarks (see docs/performance.md).
	go test ./webhook ./internal/... -run '^$$' -bench . -benchmem -count $${COUNT:-5} | tee bin/bench.txt

.PHONY: load
load: geoip ## Load run on loopback against a bare net/http baseline (see docs/performance.md).
	go run ./hack/loadtest --geoip-database=$$(hack/fetch-geoip.sh) $${LOAD_ARGS:-} | tee bin/load.md

##@ Build

.PHONY: build
build: ## Build bin/tokenguard.
	CGO_ENABLED=0 go build -trimpath -o $(BIN)/tokenguard .

.PHONY: run
run: build geoip asn ## Run standalone on the seed use case policy and the embedded GeoIP and ASN defaults.
	@if [ -n "$$ABUSEIPDB_API_KEY" ]; then \
		mkdir -p $(BIN)/run-secrets/abuseipdb && umask 077 && printf '%s' "$$ABUSEIPDB_API_KEY" > $(BIN)/run-secrets/abuseipdb/apiKey; \
		abuse="--secrets-dir=$(BIN)/run-secrets"; \
	else \
		echo "make run: ABUSEIPDB_API_KEY is not set: AbuseIPDB is switched off"; \
		abuse="--abuseipdb-disabled"; \
	fi; \
	exec $(BIN)/tokenguard --policy-file=$(RUN_POLICY) --geoip-database=$$(hack/fetch-geoip.sh) --asn-database=$$(hack/fetch-geoip.sh asn) \
		--action-auth-config=hack/dev/auth-none.yaml --metrics-bind-address=:8080 $$abuse $(RUN_ARGS)

.PHONY: geoip
geoip: ## Fetch the DB-IP Lite country database (pinned, checksum-verified) into bin/geoip.
	@hack/fetch-geoip.sh >/dev/null

.PHONY: asn
asn: ## Fetch the ip-location-db ASN database (pinned, checksum-verified) and convert it once to bin/asn/VERSION/asn.mmdb.
	@hack/fetch-geoip.sh asn >/dev/null

.PHONY: geoip-city
geoip-city: ## Fetch the DB-IP Lite city database (coordinates for impossible travel; 64 MB) and print its flags.
	@hack/fetch-geoip.sh city

.PHONY: image
image: build geoip asn ## Build bin/images/tokenguard.tar: the Dockerfile's image, without Docker, for the local cluster.
	go run ./hack/image tokenguard --binary $(BIN)/tokenguard --geoip-dir "$$(dirname "$$(hack/fetch-geoip.sh)")" \
		--asn-dir "$$(dirname "$$(hack/fetch-geoip.sh asn)")" \
		--tag tokenguard.local/tokenguard:dev --out $(BIN)/images/tokenguard.tar

##@ Tools

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd and kubectl from source into bin/k8s/ (cached).
	@hack/build-k8s-tools.sh envtest >/dev/null

.PHONY: redis
redis: ## Make sure redis-server is installed for the shared-state tests (apt-get when root).
	@hack/ensure-redis.sh

.PHONY: cluster-tools
cluster-tools: ## Build kubelet, kube-scheduler, kube-controller-manager and kube-proxy from source into bin/k8s/ (cached).
	@hack/build-k8s-tools.sh cluster >/dev/null

.PHONY: helm
helm: ## Build helm from source into bin/ (cached).
	@hack/build-k8s-tools.sh helm >/dev/null

$(CONTROLLER_GEN):
	GOBIN=$(BIN)/.tools go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(BIN)/.tools/controller-gen $@

$(GOLANGCI_LINT):
	GOBIN=$(BIN)/.tools go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.tools/golangci-lint $@
