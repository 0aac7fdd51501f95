// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"net/netip"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/policy"
)

type synced struct{}

func (synced) WaitForCacheSync(context.Context) bool { return true }

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func tokenPolicy(name string) *v1alpha1.TokenPolicy {
	return &v1alpha1.TokenPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1},
		Spec:       v1alpha1.TokenPolicySpec{Networks: &v1alpha1.NetworkRules{BlockedCIDRs: []v1alpha1.CIDR{"175.45.176.0/22"}}},
	}
}

func request(name string) ctrl.Request {
	return ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}
}

// A policy deleted in the first seconds after start stays deleted. Before,
// the initial seeding listed the cache after the snapshot controller had
// already handled the delete, found the policy in its older list, and put
// it back with no later event to remove it. Now the first-snapshot gate
// only waits; the snapshot controller is the store's one writer.
func TestDeletedBeforeFirstSnapshotStaysDeleted(t *testing.T) {
	ctx := context.Background()
	s := testScheme(t)
	// The API server (what reconciles read): the policy is gone.
	live := fake.NewClientBuilder().WithScheme(s).Build()
	// The cache the gate lists: still the older state with the policy.
	older := fake.NewClientBuilder().WithScheme(s).WithObjects(tokenPolicy("p")).Build()
	store := policy.NewStore()
	gate := &firstSync{client: older, cache: synced{}, store: store}
	r := &SnapshotReconciler{Client: live, APIReader: live, Store: store, sync: gate}

	// The delete event is handled first...
	if _, err := r.Reconcile(ctx, request("p")); err != nil {
		t.Fatal(err)
	}
	// ...then the gate lists the older cache.
	if err := gate.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !store.Ready() {
		t.Fatal("not ready although every listed policy was reconciled")
	}
	if _, ok := store.Get(compiler.Key("ns", "p")); ok || len(store.Load().Policies) != 0 {
		t.Fatalf("the deleted policy is served: %d policies", len(store.Load().Policies))
	}
}

// The store becomes ready only once every policy the cache held at sync
// time has been reconciled, not before.
func TestFirstSnapshotWaitsForEveryPolicy(t *testing.T) {
	ctx := context.Background()
	objs := []client.Object{tokenPolicy("a"), tokenPolicy("b")}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
	store := policy.NewStore()
	var published int
	gate := &firstSync{client: c, cache: synced{}, store: store, onChange: func(*policy.Snapshot) { published++ }}
	r := &SnapshotReconciler{Client: c, APIReader: c, Store: store, sync: gate}
	if err := gate.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if store.Ready() {
		t.Fatal("ready before any policy was reconciled")
	}
	if _, err := r.Reconcile(ctx, request("a")); err != nil {
		t.Fatal(err)
	}
	if store.Ready() {
		t.Fatal("ready with policy b not reconciled yet")
	}
	if _, err := r.Reconcile(ctx, request("b")); err != nil {
		t.Fatal(err)
	}
	if !store.Ready() || len(store.Load().Policies) != 2 || published != 1 {
		t.Fatalf("ready=%v policies=%d published=%d", store.Ready(), len(store.Load().Policies), published)
	}
}

// With no policies at all, the store is ready as soon as the cache synced.
func TestFirstSnapshotEmpty(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).Build()
	store := policy.NewStore()
	if err := (&firstSync{client: c, cache: synced{}, store: store}).Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !store.Ready() {
		t.Fatal("not ready with nothing to wait for")
	}
}

// A policy naming an IP list that exists but has not loaded yet holds the
// first snapshot back until the list's first load attempt, and is then
// served with the list's networks; a policy naming a list that does not
// exist does not wait (the missing-list rule applies at once).
func TestFirstSnapshotWaitsForLists(t *testing.T) {
	ctx := context.Background()
	blocking := func(name, list string) *v1alpha1.TokenPolicy {
		tp := tokenPolicy(name)
		tp.Spec.Networks.BlockedLists = []v1alpha1.IPListName{v1alpha1.IPListName(list)}
		return tp
	}
	l := &v1alpha1.IPList{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tor", Generation: 1},
		Spec: v1alpha1.IPListSpec{Entries: []v1alpha1.IPListEntry{"185.220.101.1"}}}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithStatusSubresource(&v1alpha1.IPList{}).
		WithObjects(blocking("a", "tor"), blocking("b", "nope"), l).Build()
	store, lists := policy.NewStore(), NewListStore()
	gate := &firstSync{client: c, cache: synced{}, store: store}
	r := &SnapshotReconciler{Client: c, APIReader: c, Store: store, Lists: lists, sync: gate}
	if err := gate.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := r.Reconcile(ctx, request(n)); err != nil {
			t.Fatal(err)
		}
	}
	if store.Ready() {
		t.Fatal("ready before the list's first load")
	}
	// Until then, what is served is the safe form: the list counts as missing.
	if p, _ := store.Get("ns/a"); p == nil || !p.BlockedListUnavailable {
		t.Fatalf("policy a while its list loads: %+v", p)
	}
	woken := 0
	cancel := lists.subscribe(func(nn types.NamespacedName) {
		if nn.Name == "tor" {
			woken++
		}
	})
	defer cancel()
	lr := &IPListReconciler{Client: c, APIReader: c, Lists: lists}
	if _, err := lr.Reconcile(ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "tor"}}); err != nil {
		t.Fatal(err)
	}
	if woken != 1 {
		t.Fatalf("the list's first load woke the policies %d times", woken)
	}
	if _, err := r.Reconcile(ctx, request("a")); err != nil {
		t.Fatal(err)
	}
	if !store.Ready() {
		t.Fatal("not ready after the list loaded")
	}
	a, _ := store.Get("ns/a")
	b, _ := store.Get("ns/b")
	if a.BlockedListUnavailable || !a.Blocked.Contains(netip.MustParseAddr("185.220.101.1")) || !b.BlockedListUnavailable {
		t.Errorf("a: %v %v, b: %v", a.BlockedListUnavailable, a.Blocked.Prefixes(), b.BlockedListUnavailable)
	}
	var got v1alpha1.IPList
	if err := c.Get(ctx, client.ObjectKeyFromObject(l), &got); err != nil || got.Status.Entries != 1 || got.Status.LastSuccessfulFetch == nil {
		t.Errorf("list status %+v %v", got.Status, err)
	}
}
