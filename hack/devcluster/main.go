// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Command devcluster starts a real kube-apiserver and etcd (the ones make
// test uses) with the TokenPolicy and IPList CRDs installed, writes a kubeconfig and
// waits for Ctrl-C: a cluster without Docker to try the whole flow on.
// No kubelet runs, so Deployments are stored but no pods start; run
// bin/tokenguard against it out of cluster instead.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dev-cluster:", err)
		os.Exit(1)
	}
}

func run() error {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "developer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	dir, err := filepath.Abs(filepath.Join("bin", "dev-cluster"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return err
	}
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	fmt.Printf(`A kube-apiserver and etcd are running, with the TokenPolicy and IPList CRDs installed.

  export KUBECONFIG=%[1]s
  alias kubectl=%[2]s

In another terminal, run the operator against it:

  KUBECONFIG=%[1]s bin/tokenguard --leader-election-namespace=default \
    --action-auth-config=hack/dev/auth-none.yaml --geoip-database=$(hack/fetch-geoip.sh) --abuseipdb-disabled

and try a policy:

  kubectl create secret generic abuseipdb --from-literal=apiKey=unused
  kubectl apply -f config/samples/asgardeo-use-case.yaml
  kubectl get tp

Ctrl-C stops the cluster (its data is discarded).
`, path, kubectl)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
