// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/controllers"
	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// The reconcilers against a fake client: the Ready condition, the event,
// what is served, and that an unchanged status is not written again.
func TestReconcileTable(t *testing.T) {
	abuse := `abuseIPDB: {apiKeySecretRef: {name: key, key: apiKey}}`
	cases := map[string]struct {
		spec    string
		objs    []client.Object
		status  metav1.ConditionStatus
		reason  string
		event   string
		served  bool
		message string
	}{
		"compiles": {spec: abuse, objs: []client.Object{secret("ns", "key", "apiKey", "k")},
			status: metav1.ConditionTrue, reason: v1alpha1.ReasonCompiled, event: "Normal Compiled", served: true},
		"secret missing": {spec: abuse, status: metav1.ConditionFalse, reason: v1alpha1.ReasonSecretNotFound,
			event: "Warning SecretNotFound", served: true, message: "secret ns/key has no key \"apiKey\": the Secret does not exist"},
		"key missing": {spec: abuse, objs: []client.Object{secret("ns", "key", "other", "k")}, status: metav1.ConditionFalse,
			reason: v1alpha1.ReasonSecretNotFound, event: "Warning SecretNotFound", served: true, message: "the Secret has no such key"},
		"key empty": {spec: abuse, objs: []client.Object{secret("ns", "key", "apiKey", " ")}, status: metav1.ConditionFalse,
			reason: v1alpha1.ReasonSecretInvalid, event: "Warning SecretInvalid", served: true, message: "the key is empty"},
		"invalid spec": {spec: `accessHours: {timeZone: Nowhere/Land, windows: [{start: "01:00", end: "02:00"}], outside: {action: Deny}}`,
			status: metav1.ConditionFalse, reason: v1alpha1.ReasonInvalidSpec, event: "Warning InvalidSpec", message: `"Nowhere/Land" is not an IANA time zone name`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tp := newPolicy("ns", "p", tc.spec)
			tp.Generation = 4
			c := fake.NewClientBuilder().WithScheme(app.Scheme()).WithStatusSubresource(&v1alpha1.TokenPolicy{}).
				WithObjects(append(tc.objs, tp)...).Build()
			rec := events.NewFakeRecorder(10)
			req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "p"}}
			sr := &controllers.StatusReconciler{Client: c, APIReader: c, Recorder: rec}
			if res, err := sr.Reconcile(ctx, req); err != nil || !res.IsZero() {
				t.Fatalf("reconcile: %v %v", res, err)
			}
			var got v1alpha1.TokenPolicy
			if err := c.Get(ctx, req.NamespacedName, &got); err != nil {
				t.Fatal(err)
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			if cond == nil || cond.Status != tc.status || cond.Reason != tc.reason || cond.ObservedGeneration != 4 || got.Status.ObservedGeneration != 4 {
				t.Fatalf("status %+v", got.Status)
			}
			if !strings.Contains(cond.Message, tc.message) {
				t.Errorf("message %q, want %q", cond.Message, tc.message)
			}
			select {
			case e := <-rec.Events:
				if !strings.HasPrefix(e, tc.event) {
					t.Errorf("event %q, want %q", e, tc.event)
				}
			default:
				t.Errorf("no event")
			}
			// A second pass changes nothing and records nothing.
			rv := got.ResourceVersion
			if _, err := sr.Reconcile(ctx, req); err != nil {
				t.Fatal(err)
			}
			_ = c.Get(ctx, req.NamespacedName, &got)
			if got.ResourceVersion != rv || len(rec.Events) != 0 {
				t.Errorf("unchanged status written again (rv %s -> %s) or event repeated", rv, got.ResourceVersion)
			}
			store := policy.NewStore()
			snap := &controllers.SnapshotReconciler{Client: c, APIReader: c, Store: store}
			if _, err := snap.Reconcile(ctx, req); err != nil {
				t.Fatal(err)
			}
			if _, ok := store.Get("ns/p"); ok != tc.served {
				t.Errorf("served = %v, want %v", ok, tc.served)
			}
		})
	}
}

func TestReconcileDeletedPolicy(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(app.Scheme()).Build()
	store := policy.NewStore()
	store.Put(&policy.Policy{Key: "ns/gone"})
	r := &controllers.SnapshotReconciler{Client: c, APIReader: c, Store: store}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "gone"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := store.Get("ns/gone"); ok {
		t.Error("a deleted policy is still served")
	}
	sr := &controllers.StatusReconciler{Client: c, APIReader: c}
	if _, err := sr.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "gone"}}); err != nil {
		t.Errorf("status of a deleted policy: %v", err)
	}
}

// A policy whose API key AbuseIPDB rejected is Ready=False,
// AbuseIPDBKeyRejected, with a Warning event, and Compiled again when the
// pause ends or the Secret is rotated.
func TestReconcileKeyRejected(t *testing.T) {
	ctx := context.Background()
	stand := abuseipdbtest.New(t, "good-key", abuseipdbtest.SeedScores)
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	abuse, err := abuseipdb.New(abuseipdb.Options{BaseURL: stand.URL(), Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(key, ip string) {
		t.Helper()
		_, err := abuse.Score(ctx, engine.ScoreQuery{APIKey: policy.Secret(key), IP: netip.MustParseAddr(ip), MaxAgeInDays: 30, TTL: time.Hour})
		if abuseipdb.KindOf(err) != abuseipdb.KindUnauthorized {
			t.Fatalf("lookup with %s: %v", key, err)
		}
	}
	tp := newPolicy("ns", "p", `abuseIPDB: {apiKeySecretRef: {name: key, key: apiKey}}`)
	tp.Generation = 2
	s := secret("ns", "key", "apiKey", "bad-key")
	c := fake.NewClientBuilder().WithScheme(app.Scheme()).WithStatusSubresource(&v1alpha1.TokenPolicy{}).WithObjects(s, tp).Build()
	rec := events.NewFakeRecorder(10)
	sr := &controllers.StatusReconciler{Client: c, APIReader: c, Recorder: rec, KeyHealth: abuse}
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "p"}}
	step := func(name string, status metav1.ConditionStatus, reason, event string, message ...string) {
		t.Helper()
		if _, err := sr.Reconcile(ctx, req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got v1alpha1.TokenPolicy
		if err := c.Get(ctx, req.NamespacedName, &got); err != nil {
			t.Fatal(err)
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
		if cond == nil || cond.Status != status || cond.Reason != reason || cond.ObservedGeneration != 2 {
			t.Fatalf("%s: status %+v", name, got.Status)
		}
		for _, m := range message {
			if !strings.Contains(cond.Message, m) {
				t.Errorf("%s: message %q lacks %q", name, cond.Message, m)
			}
		}
		select {
		case e := <-rec.Events:
			if event == "" || !strings.HasPrefix(e, event) {
				t.Errorf("%s: event %q, want %q", name, e, event)
			}
		default:
			if event != "" {
				t.Errorf("%s: no event, want %q", name, event)
			}
		}
	}
	step("before any lookup", metav1.ConditionTrue, v1alpha1.ReasonCompiled, "Normal Compiled")
	lookup("bad-key", "14.102.69.58")
	rejected := []string{`Secret key key "apiKey" (HTTP 401) at ` + now.UTC().Format(time.RFC3339),
		"AbuseIPDB checks fail and the policy's onFailure action applies; rotate the Secret",
		"paused until " + now.Add(5*time.Minute).UTC().Format(time.RFC3339)}
	step("rejected", metav1.ConditionFalse, v1alpha1.ReasonAbuseIPDBKeyRejected, "Warning AbuseIPDBKeyRejected", rejected...)
	step("unchanged", metav1.ConditionFalse, v1alpha1.ReasonAbuseIPDBKeyRejected, "")
	mu.Lock()
	now = now.Add(5*time.Minute + time.Second)
	mu.Unlock()
	step("pause over", metav1.ConditionTrue, v1alpha1.ReasonCompiled, "Normal Compiled")
	lookup("bad-key", "205.210.31.51")
	step("rejected again", metav1.ConditionFalse, v1alpha1.ReasonAbuseIPDBKeyRejected, "Warning AbuseIPDBKeyRejected")
	s.Data["apiKey"] = []byte("good-key")
	if err := c.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	step("rotated", metav1.ConditionTrue, v1alpha1.ReasonCompiled, "Normal Compiled")
}
