// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package controllers reconciles TokenPolicies, the Secrets they reference
// and the IP lists they name.
//
// Two controllers share one compile step (internal/compiler):
//   - the snapshot controller runs on every replica, leader or not, and keeps
//     the replica's in-memory policy snapshot current; it writes nothing;
//   - the status controller runs on the leader only and writes each policy's
//     Ready condition and events.
//
// The IP list controller runs on every replica too: each replica loads
// (and fetches) every IPList itself, and the leader writes their status.
package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
)

// secretRefIndex indexes TokenPolicies by the name of the Secret they reference.
const secretRefIndex = "spec.abuseIPDB.apiKeySecretRef.name" //nolint:gosec // a field path, not a credential

// The operator's rules. `make manifests` generates them into
// config/rbac/role.yaml and hack/sync-copies.sh copies them: by default they
// are granted in a Role per watched namespace; only a chart install told to
// watch every namespace grants them cluster-wide.
// +kubebuilder:rbac:groups=policy.tokenguard.io,resources=tokenpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy.tokenguard.io,resources=tokenpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// IndexSecretRefs registers the field index both controllers' Secret watches use.
func IndexSecretRefs(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.TokenPolicy{}, secretRefIndex, func(o client.Object) []string {
		tp := o.(*v1alpha1.TokenPolicy)
		if a := tp.Spec.AbuseIPDB; a != nil && a.APIKeySecretRef.Name != "" {
			return []string{a.APIKeySecretRef.Name}
		}
		return nil
	})
}

// policiesForSecret maps a Secret to the TokenPolicies in its namespace that reference it.
func policiesForSecret(c client.Client) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, o client.Object) []reconcile.Request {
		var list v1alpha1.TokenPolicyList
		if err := c.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretRefIndex: o.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "cannot list policies referencing secret", "secret", o.GetName())
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, tp := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: tp.Namespace, Name: tp.Name}})
		}
		return reqs
	}
}

// secretMeta is the type watched for Secrets: metadata only.
func secretMeta() client.Object { return &corev1.Secret{} }
