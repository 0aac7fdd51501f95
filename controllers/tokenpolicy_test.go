// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

func newPolicy(ns, name, spec string) *v1alpha1.TokenPolicy {
	tp := &v1alpha1.TokenPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := yaml.UnmarshalStrict([]byte(spec), &tp.Spec); err != nil {
		panic(err)
	}
	return tp
}

func newIPList(ns, name, spec string) *v1alpha1.IPList {
	l := &v1alpha1.IPList{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := yaml.UnmarshalStrict([]byte(spec), &l.Spec); err != nil {
		panic(err)
	}
	return l
}

func readyCondition(t *testing.T, ns, name string) (*metav1.Condition, *v1alpha1.TokenPolicy) {
	t.Helper()
	var tp v1alpha1.TokenPolicy
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &tp); err != nil {
		return nil, nil
	}
	return meta.FindStatusCondition(tp.Status.Conditions, v1alpha1.ConditionReady), &tp
}

func waitCondition(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) *v1alpha1.TokenPolicy {
	t.Helper()
	var got *v1alpha1.TokenPolicy
	testutil.Eventually(t, 20*time.Second, fmt.Sprintf("%s/%s Ready=%s %s", ns, name, status, reason), func() error {
		c, tp := readyCondition(t, ns, name)
		if c == nil {
			return errors.New("no Ready condition")
		}
		if c.Status != status || c.Reason != reason || c.ObservedGeneration != tp.Generation || tp.Status.ObservedGeneration != tp.Generation {
			return fmt.Errorf("condition %+v, generation %d, observed %d", *c, tp.Generation, tp.Status.ObservedGeneration)
		}
		got = tp
		return nil
	})
	return got
}

func secret(ns, name, key, value string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string][]byte{key: []byte(value)}}
}

func decide(t *testing.T, url, ip string) string {
	t.Helper()
	body := testutil.JSON(t, testutil.Request(ip))
	resp, err := http.Post(url+webhook.Path, "application/json", bytes.NewReader(body)) //nolint:noctx // test
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// A policy compiles into the snapshot, follows updates and deletion, and its
// Secret's creation, rotation and deletion, without a restart.
func TestPolicyLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "lifecycle")
	op := startOperator(t, "tokenguard-lifecycle", ns+"-lease", ns)
	testutil.Eventually(t, 20*time.Second, "ready", func() error {
		if !op.svc.Store.Ready() {
			return errors.New("store not ready")
		}
		return nil
	})
	key := compiler.Key(ns, "p")
	tp := newPolicy(ns, "p", `{networks: {blockedCIDRs: [205.210.31.0/24]}, abuseIPDB: {apiKeySecretRef: {name: abuse, key: apiKey}, deny: {scoreAbove: 75}}}`)
	if err := k8sClient.Create(ctx, tp); err != nil {
		t.Fatal(err)
	}
	// No Secret yet: served (with its failure mode), and reported.
	waitCondition(t, ns, "p", metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound)
	testutil.Eventually(t, 10*time.Second, "served without key", func() error {
		if p, ok := op.svc.Store.Get(key); !ok || p.Abuse.APIKey != "" {
			return errors.New("not served")
		}
		return nil
	})
	if got := decide(t, op.url, "205.210.31.51"); !strings.Contains(got, `"FAILED"`) {
		t.Errorf("blocked network: %s", got)
	}
	// Secret created: Ready, key in the snapshot.
	s := secret(ns, "abuse", "apiKey", "key-1")
	if err := k8sClient.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	testutil.Eventually(t, 10*time.Second, "key-1 served", func() error {
		if p, _ := op.svc.Store.Get(key); p == nil || p.Abuse.APIKey.Reveal() != "key-1" {
			return errors.New("key-1 not served")
		}
		return nil
	})
	// Rotated.
	s.Data["apiKey"] = []byte("key-2")
	if err := k8sClient.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "key-2 served", func() error {
		if p, _ := op.svc.Store.Get(key); p == nil || p.Abuse.APIKey.Reveal() != "key-2" {
			return errors.New("key-2 not served")
		}
		return nil
	})
	// Policy updated: the new generation is served and observed.
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(tp), tp); err != nil {
		t.Fatal(err)
	}
	tp.Spec.Networks.BlockedCIDRs = []v1alpha1.CIDR{"14.102.64.0/19"}
	if err := k8sClient.Update(ctx, tp); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	testutil.Eventually(t, 10*time.Second, "update served", func() error {
		if got := decide(t, op.url, "205.210.31.51"); !strings.Contains(got, `"SUCCESS"`) {
			return errors.New(got)
		}
		if got := decide(t, op.url, "14.102.69.58"); !strings.Contains(got, "blocked from your network") {
			return errors.New(got)
		}
		return nil
	})
	// Secret deleted: still served, failure mode applies, reported.
	if err := k8sClient.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "p", metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound)
	testutil.Eventually(t, 10*time.Second, "key removed", func() error {
		if p, _ := op.svc.Store.Get(key); p == nil || p.Abuse.APIKey != "" {
			return errors.New("old key still served")
		}
		return nil
	})
	// Deleted: gone from the snapshot.
	if err := k8sClient.Delete(ctx, tp); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "deletion", func() error {
		if _, ok := op.svc.Store.Get(key); ok {
			return errors.New("still served")
		}
		return nil
	})
	if got := decide(t, op.url, "14.102.69.58"); got != `{"actionStatus":"SUCCESS"}` {
		t.Errorf("after deletion: %s", got)
	}
}

// A spec the API server accepts but that cannot be served is reported, with
// a Warning event, and the previous version keeps being served.
func TestInvalidSpecKeepsPreviousVersion(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "invalid")
	op := startOperator(t, "tokenguard-invalid", ns+"-lease", ns)
	tp := newPolicy(ns, "hours", `accessHours: {timeZone: UTC, windows: [{start: "09:00", end: "17:00"}], outside: {action: Deny}}`)
	if err := k8sClient.Create(ctx, tp); err != nil {
		t.Fatal(err)
	}
	tp = waitCondition(t, ns, "hours", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	testutil.Eventually(t, 10*time.Second, "first version served", func() error {
		if _, ok := op.svc.Store.Get(compiler.Key(ns, "hours")); !ok {
			return errors.New("not served")
		}
		return nil
	})
	tp.Spec.AccessHours.TimeZone = "Mars/Olympus_Mons"
	if err := k8sClient.Update(ctx, tp); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, ns, "hours", metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec)
	c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
	if !strings.Contains(c.Message, `"Mars/Olympus_Mons" is not an IANA time zone name`) {
		t.Errorf("message %q", c.Message)
	}
	if p, ok := op.svc.Store.Get(compiler.Key(ns, "hours")); !ok || p.AccessHours.Location.String() != "UTC" {
		t.Errorf("previous version not served: %v", p)
	}
	testutil.Eventually(t, 10*time.Second, "warning event", func() error {
		var evs eventsList
		if err := k8sClient.List(ctx, &evs.list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.list.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == v1alpha1.ReasonInvalidSpec && e.Regarding.Name == "hours" {
				return nil
			}
		}
		return fmt.Errorf("no Warning event among %d", len(evs.list.Items))
	})
}

// Two replicas against one API server: both serve the same snapshot, only the
// leader writes status, and /readyz-style readiness holds on both.
func TestLeaderAndFollower(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "replicas")
	// Policies that exist before the replicas start are in the first snapshot.
	if err := k8sClient.Create(ctx, newPolicy(ns, "before", `networks: {blockedCIDRs: [175.45.176.0/22]}`)); err != nil {
		t.Fatal(err)
	}
	leader := startOperator(t, "tokenguard-leader", ns+"-lease", ns)
	testutil.Eventually(t, 30*time.Second, "first replica elected", func() error {
		if !leading(leader) {
			return errors.New("tokenguard_leader is 0")
		}
		return nil
	})
	follower := startOperator(t, "tokenguard-follower", ns+"-lease", ns)
	for name, op := range map[string]*operator{"leader": leader, "follower": follower} {
		testutil.Eventually(t, 20*time.Second, name+" ready", func() error {
			if !op.svc.Store.Ready() {
				return errors.New("not ready")
			}
			if _, ok := op.svc.Store.Get(compiler.Key(ns, "before")); !ok {
				return errors.New("pre-existing policy missing from the first snapshot")
			}
			return nil
		})
	}
	if leading(follower) {
		t.Fatal("the follower was elected while the leader runs")
	}
	if err := k8sClient.Create(ctx, newPolicy(ns, "after", `networks: {blockedCIDRs: [205.210.31.0/24]}`)); err != nil {
		t.Fatal(err)
	}
	tp := waitCondition(t, ns, "after", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	waitCondition(t, ns, "before", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	for name, op := range map[string]*operator{"leader": leader, "follower": follower} {
		testutil.Eventually(t, 10*time.Second, name+" serves", func() error {
			if got := decide(t, op.url, "205.210.31.51"); !strings.Contains(got, `"FAILED"`) {
				return errors.New(got)
			}
			return nil
		})
	}
	for _, mf := range tp.ManagedFields {
		if mf.Subresource == "status" && mf.Manager != "tokenguard-leader" {
			t.Errorf("status written by %q", mf.Manager)
		}
	}
	statusWriters := 0
	for _, mf := range tp.ManagedFields {
		if mf.Subresource == "status" {
			statusWriters++
		}
	}
	if statusWriters != 1 {
		t.Errorf("status managers: %+v", tp.ManagedFields)
	}
}

// Every file in config/samples is accepted by the real API server and
// reconciles to Ready.
func TestSamplesReconcileToReady(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "samples")
	startOperator(t, "tokenguard-samples", ns+"-lease", ns)
	if err := k8sClient.Create(ctx, secret(ns, "abuseipdb", "apiKey", "sample-key")); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(), "config", "samples", "*.yaml"))
	var names []string
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			// Not a manifest: the kustomize entry point of the samples.
			continue
		}
		b, err := os.ReadFile(f) //nolint:gosec // test fixture
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			u.SetNamespace(ns)
			if err := k8sClient.Create(ctx, u); err != nil {
				t.Fatalf("%s: %s %s rejected: %v", filepath.Base(f), u.GetKind(), u.GetName(), err)
			}
			if u.GetKind() == "TokenPolicy" {
				names = append(names, u.GetName())
			}
		}
	}
	if len(names) < 4 {
		t.Fatalf("only %d sample policies", len(names))
	}
	for _, n := range names {
		waitCondition(t, ns, n, metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	}
}
