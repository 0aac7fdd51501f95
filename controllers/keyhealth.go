// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/policy"
)

// KeyHealth is what the status controller asks of the AbuseIPDB client:
// whether AbuseIPDB rejected a policy's API key, and when that may have
// changed.
type KeyHealth = abuseipdb.KeyHealth

// policyKeys remembers which API key (by fingerprint) each policy used when
// it was last evaluated, so that a key event wakes only the policies that
// use that key. It never holds a key.
type policyKeys struct {
	mu   sync.Mutex
	keys map[types.NamespacedName]abuseipdb.Fingerprint
}

func (k *policyKeys) set(nn types.NamespacedName, p *policy.Policy) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p == nil || p.Abuse == nil || p.Abuse.APIKey == "" {
		delete(k.keys, nn)
		return
	}
	if k.keys == nil {
		k.keys = map[types.NamespacedName]abuseipdb.Fingerprint{}
	}
	k.keys[nn] = abuseipdb.FingerprintOf(p.Abuse.APIKey)
}

// using lists the policies whose key has the fingerprint. A deleted policy
// may linger; its reconcile finds nothing and writes nothing.
func (k *policyKeys) using(_ context.Context, e abuseipdb.KeyEvent) []reconcile.Request {
	k.mu.Lock()
	defer k.mu.Unlock()
	var reqs []reconcile.Request
	for nn, fp := range k.keys {
		if fp == e.Key {
			reqs = append(reqs, reconcile.Request{NamespacedName: nn})
		}
	}
	return reqs
}

// keyRejected turns a rejection of the policy's key, if AbuseIPDB rejected
// it, into the Ready condition, and notes which key the policy uses. p is
// the compiled policy (nil when it did not compile).
func (r *StatusReconciler) keyRejected(tp *v1alpha1.TokenPolicy, p *policy.Policy, cond *metav1.Condition) {
	r.policyKeys.set(types.NamespacedName{Namespace: tp.Namespace, Name: tp.Name}, p)
	if r.KeyHealth == nil || p == nil || p.Abuse == nil || p.Abuse.APIKey == "" {
		return
	}
	rej, ok := r.KeyHealth.Rejected(p.Abuse.APIKey)
	if !ok {
		return
	}
	ref := tp.Spec.AbuseIPDB.APIKeySecretRef
	cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonAbuseIPDBKeyRejected
	cond.Message = fmt.Sprintf("AbuseIPDB rejected the API key in Secret %s key %q (HTTP %d) at %s: "+
		"AbuseIPDB checks fail and the policy's onFailure action applies; rotate the Secret. "+
		"Lookups with this key are paused until %s (seen by the replica that writes status)",
		ref.Name, ref.Key, rej.Status, rej.At.UTC().Format(time.RFC3339), rej.Until.UTC().Format(time.RFC3339))
}

// keyEvents is the watch that re-evaluates the policies using a key when
// AbuseIPDB rejects it, its pause ends or it is accepted again. It subscribes
// when the controller starts, and stops with it.
func (r *StatusReconciler) keyEvents() source.Source {
	return source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		if r.KeyHealth == nil {
			return nil
		}
		events := make(chan event.TypedGenericEvent[abuseipdb.KeyEvent], 64)
		cancel := r.KeyHealth.Subscribe(func(e abuseipdb.KeyEvent) {
			select {
			case events <- event.TypedGenericEvent[abuseipdb.KeyEvent]{Object: e}:
			default:
				// The source drains this as fast as events come (a few per
				// key per pause); were it ever full, the next event for the
				// key, at the latest the end of its pause, catches up.
			}
		})
		context.AfterFunc(ctx, cancel)
		return source.Channel(events, handler.TypedEnqueueRequestsFromMapFunc(r.policyKeys.using)).Start(ctx, q)
	})
}
