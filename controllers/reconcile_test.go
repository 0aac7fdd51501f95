// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"context"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/controllers"
	"github.com/tokenguard/tokenguard/internal/app"
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
