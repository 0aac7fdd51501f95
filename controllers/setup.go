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
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
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
		return requestsByIndex(ctx, c, &v1alpha1.TokenPolicyList{}, o.GetNamespace(), secretRefIndex, o.GetName())
	}
}

// enqueueAll sends every cached object of list's kind to ch, for a status
// pass when this replica starts leading.
func enqueueAll(ctx context.Context, c client.Reader, list client.ObjectList, ch chan<- event.GenericEvent) {
	if err := c.List(ctx, list); err != nil {
		ctrl.LoggerFrom(ctx).Info("cannot list objects for a status pass", "error", err.Error())
		return
	}
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		m, ok := o.(client.Object)
		if !ok {
			return nil
		}
		select {
		case ch <- event.GenericEvent{Object: m}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// requestsByIndex lists the objects of list's kind in namespace whose
// field index holds value, as reconcile requests.
func requestsByIndex(ctx context.Context, c client.Reader, list client.ObjectList, namespace, index, value string) []reconcile.Request {
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingFields{index: value}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "cannot list the objects that reference another", "index", index, "name", value)
		return nil
	}
	var reqs []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		if m, ok := o.(client.Object); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(m)})
		}
		return nil
	})
	return reqs
}

// secretMeta is the type watched for Secrets: metadata only.
func secretMeta() client.Object { return &corev1.Secret{} }
