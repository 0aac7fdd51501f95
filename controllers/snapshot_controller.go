// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// SnapshotReconciler keeps this replica's policy snapshot in step with the
// TokenPolicies and their Secrets. It runs on every replica and writes
// nothing to the API server.
type SnapshotReconciler struct {
	Client client.Client
	// APIReader reads Secrets uncached.
	APIReader client.Reader
	Store     *policy.Store
	// OnChange, when set, is called after the snapshot changed.
	OnChange func(*policy.Snapshot)
}

// Reconcile compiles one policy into the snapshot, or removes it.
func (r *SnapshotReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	key := compiler.Key(req.Namespace, req.Name)
	var tp v1alpha1.TokenPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &tp); err != nil {
		if apierrors.IsNotFound(err) {
			r.Store.Delete(key)
			r.changed()
			log.V(1).Info("policy removed from snapshot")
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	p, err := compiler.Compile(ctx, &tp, apiSecretReader{r.APIReader})
	var invalid *compiler.InvalidSpecError
	switch {
	case errors.As(err, &invalid):
		// Keep serving the last version that compiled: dropping a policy
		// because of a typo would silently lift its blocks. The status
		// controller reports the problem.
		log.Info("policy does not compile; serving its previous version if any", "problems", invalid.Problems)
		return ctrl.Result{}, nil
	case err != nil && !compiler.IsSecretError(err):
		return ctrl.Result{}, err
	}
	// A policy with a Secret problem is served: its AbuseIPDB step fails and
	// the policy's failure mode applies until the Secret is fixed.
	r.Store.Put(p)
	r.changed()
	log.V(1).Info("policy compiled into snapshot", "generation", tp.Generation, "secretProblem", err != nil)
	return ctrl.Result{}, nil
}

func (r *SnapshotReconciler) changed() {
	if r.OnChange != nil {
		r.OnChange(r.Store.Load())
	}
}

// SetupWithManager runs the controller on every replica.
func (r *SnapshotReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("tokenpolicy-snapshot").
		// Status-only updates do not change what is served.
		For(&v1alpha1.TokenPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A created, rotated or deleted Secret changes the API key a policy uses.
		WatchesMetadata(secretMeta(), handler.EnqueueRequestsFromMapFunc(policiesForSecret(r.Client))).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(r)
}

// InitialSync builds the first complete snapshot once the cache has synced,
// then marks the store ready, which /readyz waits for. It runs on every
// replica and does not wait for leadership.
type InitialSync struct {
	Client    client.Client
	APIReader client.Reader
	Cache     interface {
		WaitForCacheSync(ctx context.Context) bool
	}
	Store    *policy.Store
	OnChange func(*policy.Snapshot)
}

// NeedLeaderElection is false: every replica must serve.
func (s *InitialSync) NeedLeaderElection() bool { return false }

// Start seeds the store. Policies the snapshot controller already put there
// are left alone, so a newer version is never replaced by an older one.
func (s *InitialSync) Start(ctx context.Context) error {
	log := ctrl.LoggerFrom(ctx).WithName("initial-sync")
	if !s.Cache.WaitForCacheSync(ctx) {
		return nil
	}
	backoff := 200 * time.Millisecond
	for {
		err := s.seed(ctx)
		if err == nil {
			break
		}
		log.Error(err, "cannot build the first policy snapshot; retrying", "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
	s.Store.MarkReady()
	if s.OnChange != nil {
		s.OnChange(s.Store.Load())
	}
	log.Info("policy snapshot ready", "policies", len(s.Store.Load().Policies))
	return nil
}

func (s *InitialSync) seed(ctx context.Context) error {
	var list v1alpha1.TokenPolicyList
	if err := s.Client.List(ctx, &list); err != nil {
		return err
	}
	for i := range list.Items {
		tp := &list.Items[i]
		key := compiler.Key(tp.Namespace, tp.Name)
		if _, ok := s.Store.Get(key); ok {
			continue
		}
		p, err := compiler.Compile(ctx, tp, apiSecretReader{s.APIReader})
		var invalid *compiler.InvalidSpecError
		switch {
		case errors.As(err, &invalid):
			continue
		case err != nil && !compiler.IsSecretError(err):
			return err
		}
		s.Store.PutIfAbsent(p)
	}
	return nil
}
