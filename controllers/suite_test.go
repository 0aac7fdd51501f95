// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// The suite runs against a real kube-apiserver and etcd (built from source
// by hack/build-k8s-tools.sh; `make test` sets KUBEBUILDER_ASSETS).
var (
	cfg       *rest.Config
	k8sClient client.Client
)

func TestMain(m *testing.M) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "KUBEBUILDER_ASSETS is not set: run the envtest suite with `make test`, which builds kube-apiserver and etcd")
		os.Exit(1)
	}
	ctrl.SetLogger(logr.Discard())
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(testutil.RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	k8sClient, err = client.New(cfg, client.Options{Scheme: app.Scheme()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest stop:", err)
	}
	os.Exit(code)
}

func testLogger(t *testing.T) logr.Logger {
	if os.Getenv("TEST_VERBOSE") == "" {
		return logr.Discard()
	}
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1})
}

// operator is one replica: the real manager wiring of main, with its own
// store and action endpoint on loopback.
type operator struct {
	svc    *app.Service
	mgr    manager.Manager
	cancel context.CancelFunc
	done   chan error
	url    string
}

func startOperator(t *testing.T, userAgent, leaseID string, namespaces ...string) *operator {
	t.Helper()
	return startOperatorOn(t, cfg, userAgent, leaseID, namespaces...)
}

// startOperatorOn starts a replica against the API server of restCfg.
func startOperatorOn(t *testing.T, restCfg *rest.Config, userAgent, leaseID string, namespaces ...string) *operator {
	t.Helper()
	return startOperatorWith(t, restCfg, nil, userAgent, leaseID, namespaces...)
}

// startOperatorWith is startOperatorOn with configure, when not nil, run on
// the options after the test defaults are set (AbuseIPDB off, loopback
// addresses) and before the replica is built, so a test can change one
// setting without a copy of this wiring.
func startOperatorWith(t *testing.T, restCfg *rest.Config, configure func(*app.Options), userAgent, leaseID string, namespaces ...string) *operator {
	t.Helper()
	auth := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(auth, []byte("type: NONE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &app.Options{}
	o.BindFlags(flagSet())
	o.ActionAddr, o.MetricsAddr, o.ProbeAddr = "127.0.0.1:0", "0", "0"
	o.AuthConfigFile, o.LeaderElectionNamespace, o.LeaderElectionID = auth, "default", leaseID
	o.WatchNamespaces = namespaces
	o.AbuseIPDBDisabled = true
	o.SkipControllerNameValidation = true
	if configure != nil {
		configure(o)
	}
	log := testLogger(t)
	svc, err := app.NewService(o, newRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	svc.Server.Ready = ready
	ln, err := listen()
	if err != nil {
		t.Fatal(err)
	}
	svc.Server.Listener = ln
	c := rest.CopyConfig(restCfg)
	c.UserAgent = userAgent
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := app.NewManager(ctx, o, c, svc, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	op := &operator{svc: svc, mgr: mgr, cancel: cancel, done: make(chan error, 1), url: "http://" + ln.Addr().String()}
	go func() { op.done <- mgr.Start(ctx) }()
	t.Cleanup(op.stop)
	select {
	case <-ready:
	case err := <-op.done:
		t.Fatalf("manager stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("action endpoint did not start")
	}
	return op
}

func (o *operator) stop() {
	if o.cancel == nil {
		return
	}
	o.cancel()
	o.cancel = nil
	select {
	case <-o.done:
	case <-time.After(30 * time.Second):
	}
}

// createNamespace creates a namespace with a fresh name, so tests can run
// repeatedly (-count) against one API server.
func createNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// leading reads the replica's tokenguard_leader gauge.
func leading(o *operator) bool { return promtestutil.ToFloat64(o.svc.Lifecycle.Leader) == 1 }
