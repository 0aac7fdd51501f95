// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers

import (
	"context"
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
)

// StatusReconciler reports on each TokenPolicy whether it compiles. It runs on
// the leader only, so replicas never fight over status.
type StatusReconciler struct {
	Client    client.Client
	APIReader client.Reader
	Recorder  events.EventRecorder
	// KeyHealth, when set, reports API keys AbuseIPDB rejected: a policy
	// whose key is paused is Ready=False, AbuseIPDBKeyRejected.
	KeyHealth KeyHealth
	// Lists holds the IP lists this replica loaded: a policy naming one
	// that is missing or never loaded is Ready=False, ListNotReady.
	Lists *ListStore

	policyKeys policyKeys
	// Leader, when set, gates the writes: the controller runs on every
	// replica, and only the one that leads writes. When a replica starts
	// leading, every policy is reconciled again.
	Leader *Leader

	leading chan event.GenericEvent
}

// Reconcile writes the policy's Ready condition, once, and only when it changed.
func (r *StatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	if !r.Leader.Leading() {
		// The leader writes; this replica catches up when it starts leading.
		return ctrl.Result{}, nil
	}
	var tp v1alpha1.TokenPolicy
	if err := r.Client.Get(ctx, req.NamespacedName, &tp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	cond, err := r.evaluate(ctx, &tp)
	if err != nil {
		// Transient (an API error reading a Secret): back off and retry.
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.writeStatus(ctx, &tp, cond)
}

// evaluate compiles the policy and turns the outcome into a Ready condition.
func (r *StatusReconciler) evaluate(ctx context.Context, tp *v1alpha1.TokenPolicy) (metav1.Condition, error) {
	cond := metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		ObservedGeneration: tp.Generation,
		Reason:             v1alpha1.ReasonCompiled,
		Message:            "the policy compiled and is served by every replica",
	}
	p, err := compiler.CompileWith(ctx, tp, apiSecretReader{r.APIReader}, listStates{kubeLists{store: r.Lists, reader: r.Client}})
	var invalid *compiler.InvalidSpecError
	var secret *compiler.SecretError
	lists := compiler.ListErrors(err)
	switch {
	case err == nil:
		r.keyRejected(tp, p, &cond)
	case len(lists) > 0:
		msgs := make([]string, len(lists))
		for i, e := range lists {
			msgs[i] = e.Error()
		}
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonListNotReady
		cond.Message = "the policy is served without the lists it cannot read: " + strings.Join(msgs, "; ")
		if errors.As(err, &secret) {
			cond.Message += "; and " + secret.Error() + "; AbuseIPDB checks fail and the policy's onFailure action applies"
		}
	case errors.As(err, &invalid):
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonInvalidSpec
		cond.Message = "the policy cannot be served (its previous version, if any, still is): " + invalid.Error()
	case errors.As(err, &secret):
		cond.Status, cond.Reason = metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound
		if !secret.Missing {
			cond.Reason = v1alpha1.ReasonSecretInvalid
		}
		cond.Message = secret.Error() + "; AbuseIPDB checks fail and the policy's onFailure action applies"
	default:
		return cond, err
	}
	return cond, nil
}

func (r *StatusReconciler) writeStatus(ctx context.Context, tp *v1alpha1.TokenPolicy, cond metav1.Condition) error {
	before := tp.DeepCopy()
	prev := meta.FindStatusCondition(tp.Status.Conditions, v1alpha1.ConditionReady)
	changed := prev == nil || prev.Status != cond.Status || prev.Reason != cond.Reason || prev.Message != cond.Message
	meta.SetStatusCondition(&tp.Status.Conditions, cond)
	tp.Status.ObservedGeneration = tp.Generation
	if apiequality.Semantic.DeepEqual(before.Status, tp.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, tp, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return err
	}
	if changed && r.Recorder != nil {
		if cond.Status == metav1.ConditionTrue {
			r.Recorder.Eventf(tp, nil, corev1.EventTypeNormal, cond.Reason, "Compile", "%s", cond.Message)
		} else {
			r.Recorder.Eventf(tp, nil, corev1.EventTypeWarning, cond.Reason, "Compile", "%s", cond.Message)
		}
	}
	return nil
}

// StartedLeading enqueues every cached policy for a status pass. The
// Leader's OnChange calls it.
func (r *StatusReconciler) StartedLeading(ctx context.Context) {
	enqueueAll(ctx, r.Client, &v1alpha1.TokenPolicyList{}, r.leading)
}

// SetupWithManager runs the controller on every replica; Reconcile writes
// only on the leader (see Leader).
func (r *StatusReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.leading == nil {
		r.leading = make(chan event.GenericEvent, 64)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("tokenpolicy-status").
		// Its own status writes do not need another pass.
		For(&v1alpha1.TokenPolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A created, rotated or deleted Secret can change the Ready condition.
		WatchesMetadata(secretMeta(), handler.EnqueueRequestsFromMapFunc(policiesForSecret(r.Client))).
		// AbuseIPDB rejecting a key, or its pause ending, changes the Ready condition.
		WatchesRawSource(r.keyEvents()).
		// So does a list loading, or being deleted.
		WatchesRawSource(listEvents(r.Lists, r.Client)).
		WatchesRawSource(source.Channel(r.leading, &handler.EnqueueRequestForObject{})).
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(r)
}
