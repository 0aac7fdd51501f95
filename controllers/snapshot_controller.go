// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// SnapshotReconciler keeps this replica's policy snapshot in step with the
// TokenPolicies, their Secrets and the IP lists they name. It runs on every
// replica, writes nothing to the API server, and is the only writer of the
// store: the first
// complete snapshot is the one it has built once it has reconciled every
// policy the cache held when it first synced (see firstSync), so a delete can
// never be undone by a seeding step that read an older list.
type SnapshotReconciler struct {
	Client client.Client
	// APIReader reads Secrets uncached, and policies while the cache may be
	// behind the API server (FreshReads).
	APIReader client.Reader
	Store     *policy.Store
	// Lists holds the IP lists the IPList controller loaded.
	Lists *ListStore
	// OnChange, when set, is called after the snapshot changed.
	OnChange func(*policy.Snapshot)
	// FreshReads, when set and true, makes the reconciler read policies from
	// the API server instead of the cache: after an API server outage, the
	// cache's watches resume only after client-go's reflector backoff (up to
	// a minute), while the API server already has newer policies.
	FreshReads func() bool

	sync *firstSync
	// seen records, per policy key, the generation last reconciled, so a
	// catch-up pass enqueues only policies that changed.
	mu   sync.Mutex
	seen map[types.NamespacedName]int64
	// resync feeds catch-up requests into the controller.
	resync chan event.GenericEvent
}

// Reconcile compiles one policy into the snapshot, or removes it.
func (r *SnapshotReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	key := compiler.Key(req.Namespace, req.Name)
	var reader client.Reader = r.Client
	if r.FreshReads != nil && r.FreshReads() {
		reader = r.APIReader
	}
	var tp v1alpha1.TokenPolicy
	if err := reader.Get(ctx, req.NamespacedName, &tp); err != nil {
		if apierrors.IsNotFound(err) {
			r.Store.Delete(key)
			r.done(req.NamespacedName, key, -1, true)
			r.changed()
			log.V(1).Info("policy removed from snapshot")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	p, err := compiler.CompileWith(ctx, &tp, apiSecretReader{r.APIReader}, kubeLists{store: r.Lists, reader: reader})
	var invalid *compiler.InvalidSpecError
	switch {
	case errors.As(err, &invalid):
		// Keep serving the last version that compiled: dropping a policy
		// because of a typo would silently lift its blocks. The status
		// controller reports the problem.
		log.Info("policy does not compile; serving its previous version if any", "problems", invalid.Problems)
		r.done(req.NamespacedName, key, tp.Generation, true)
		return ctrl.Result{}, nil
	case !compiler.Served(err):
		return ctrl.Result{}, err
	}
	// A policy with a Secret problem is served: its AbuseIPDB step fails and
	// the policy's failure mode applies until the Secret is fixed. One
	// naming a missing IP list is served too: a missing blocked list denies
	// its calls, a missing trusted list trusts nothing. A list still
	// loading for the first time holds the first snapshot back (firstSync):
	// the IPList controller's first load wakes the policy again.
	pending := pendingLists(err)
	r.Store.Put(p)
	r.done(req.NamespacedName, key, tp.Generation, !pending)
	r.changed()
	log.V(1).Info("policy compiled into snapshot", "generation", tp.Generation, "problems", err != nil, "listsLoading", pending)
	return ctrl.Result{}, nil
}

// done records that the policy was reconciled at generation (-1: deleted);
// complete is false when it waits for a list's first load, which the
// first-snapshot gate must wait for too.
func (r *SnapshotReconciler) done(nn types.NamespacedName, key string, generation int64, complete bool) {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[types.NamespacedName]int64{}
	}
	if generation < 0 {
		delete(r.seen, nn)
	} else {
		r.seen[nn] = generation
	}
	r.mu.Unlock()
	if r.sync != nil && complete {
		r.sync.reconciled(key)
	}
}

func (r *SnapshotReconciler) changed() {
	if r.OnChange != nil {
		r.OnChange(r.Store.Load())
	}
}

// CatchUp compares the policies the API server has (listed uncached) with
// those last reconciled and enqueues every difference: new, changed and
// deleted policies. It is called after an API server outage, while the
// cache's watches may still be backing off.
func (r *SnapshotReconciler) CatchUp(ctx context.Context, namespaces []string) error {
	if len(namespaces) == 0 {
		namespaces = []string{""}
	}
	fresh := map[types.NamespacedName]bool{}
	var stale []types.NamespacedName
	r.mu.Lock()
	seen := make(map[types.NamespacedName]int64, len(r.seen))
	for k, g := range r.seen {
		seen[k] = g
	}
	r.mu.Unlock()
	for _, ns := range namespaces {
		var list v1alpha1.TokenPolicyList
		if err := r.APIReader.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for i := range list.Items {
			tp := &list.Items[i]
			nn := types.NamespacedName{Namespace: tp.Namespace, Name: tp.Name}
			fresh[nn] = true
			if g, ok := seen[nn]; !ok || g != tp.Generation {
				stale = append(stale, nn)
			}
		}
	}
	for nn := range seen {
		if !fresh[nn] {
			stale = append(stale, nn)
		}
	}
	for _, nn := range stale {
		select {
		case r.resync <- event.GenericEvent{Object: &v1alpha1.TokenPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: nn.Namespace, Name: nn.Name}}}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// SetupWithManager runs the controller on every replica.
func (r *SnapshotReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.resync == nil {
		r.resync = make(chan event.GenericEvent, 64)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("tokenpolicy-snapshot").
		// Status-only updates do not change what is served.
		For(&v1alpha1.TokenPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A created, rotated or deleted Secret changes the API key a policy uses.
		WatchesMetadata(secretMeta(), handler.EnqueueRequestsFromMapFunc(policiesForSecret(r.Client))).
		// A list's new content, or its first load, changes the networks a policy serves.
		WatchesRawSource(listEvents(r.Lists, r.Client)).
		WatchesRawSource(source.Channel(r.resync, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{
			NeedLeaderElection: ptr.To(false),
			// A failed read (the API server away) is retried within seconds,
			// not after the default backoff of up to 16 minutes.
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](100*time.Millisecond, 10*time.Second),
		}).
		Complete(r)
}

// firstSync marks the store ready once the snapshot controller has
// reconciled every policy the cache held when it first synced, each after
// the first load of every IP list it names (see SnapshotReconciler.done). It runs on
// every replica and does not wait for leadership. It writes nothing to the
// store itself: the snapshot controller stays the store's only writer.
type firstSync struct {
	client client.Reader
	cache  interface {
		WaitForCacheSync(ctx context.Context) bool
	}
	store    *policy.Store
	onChange func(*policy.Snapshot)

	mu      sync.Mutex
	listed  bool
	pending map[string]struct{}
	early   map[string]struct{} // reconciled before the list was taken
	ready   bool
}

// NeedLeaderElection is false: every replica must serve.
func (s *firstSync) NeedLeaderElection() bool { return false }

// reconciled notes that the snapshot controller finished with key.
func (s *firstSync) reconciled(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ready {
		return
	}
	if !s.listed {
		if s.early == nil {
			s.early = map[string]struct{}{}
		}
		s.early[key] = struct{}{}
		return
	}
	delete(s.pending, key)
	s.maybeReady()
}

// Start lists the synced cache and waits for the controller to catch up.
func (s *firstSync) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("first-snapshot")
	if !s.cache.WaitForCacheSync(ctx) {
		return nil
	}
	var list v1alpha1.TokenPolicyList
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		err := s.client.List(ctx, &list)
		if err == nil {
			break
		}
		log.Info("cannot list the cached policies; retrying", "error", err.Error(), "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = make(map[string]struct{}, len(list.Items))
	for i := range list.Items {
		key := compiler.Key(list.Items[i].Namespace, list.Items[i].Name)
		if _, ok := s.early[key]; !ok {
			s.pending[key] = struct{}{}
		}
	}
	s.listed, s.early = true, nil
	log.Info("waiting for the first complete policy snapshot", "policies", len(list.Items), "pending", len(s.pending))
	s.maybeReady()
	return nil
}

// maybeReady marks the store ready when nothing is pending. Callers hold mu.
func (s *firstSync) maybeReady() {
	if s.ready || len(s.pending) > 0 {
		return
	}
	s.ready = true
	s.store.MarkReady()
	if s.onChange != nil {
		s.onChange(s.store.Load())
	}
	ctrl.Log.WithName("first-snapshot").Info("policy snapshot ready", "policies", len(s.store.Load().Policies))
}
