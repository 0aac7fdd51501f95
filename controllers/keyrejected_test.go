// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// A policy whose key AbuseIPDB rejects turns Ready=False,
// AbuseIPDBKeyRejected after a call, without a policy or Secret change; the
// rejected key is not used again during the pause; a rotated Secret makes
// it Compiled and lets the checks through again.
func TestAbuseIPDBKeyRejected(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "keyrejected")
	stand := abuseipdbtest.New(t, "good-key", abuseipdbtest.SeedScores)
	op := startOperatorWith(t, cfg, func(o *app.Options) {
		o.AbuseIPDBDisabled, o.AbuseIPDBURL = false, stand.URL()
	}, "tokenguard-keyrejected", ns+"-lease", ns)
	s := secret(ns, "abuse", "apiKey", "revoked-key")
	if err := k8sClient.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	tp := newPolicy(ns, "p", `abuseIPDB: {apiKeySecretRef: {name: abuse, key: apiKey}, deny: {scoreAbove: 75}, onFailure: {action: Deny}}`)
	if err := k8sClient.Create(ctx, tp); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	served := func(key string) {
		testutil.Eventually(t, 20*time.Second, "the policy served with "+key, func() error {
			if p, ok := op.svc.Store.Get(compiler.Key(ns, "p")); !ok || p.Abuse.APIKey.Reveal() != key {
				return errors.New("not yet")
			}
			return nil
		})
	}
	served("revoked-key")
	if got := decide(t, op.url, "14.102.69.58"); !strings.Contains(got, `"FAILED"`) || !strings.Contains(got, "risk check is unavailable") {
		t.Errorf("call with a rejected key, onFailure Deny: %s", got)
	}
	// Nothing but the client's key event re-evaluates the policy here; a
	// replica whose AbuseIPDB client is not the status controller's
	// KeyHealth (internal/app) stays Compiled.
	got := waitCondition(t, ns, "p", metav1.ConditionFalse, v1alpha1.ReasonAbuseIPDBKeyRejected)
	if c, _ := readyCondition(t, ns, got.Name); c == nil || !strings.Contains(c.Message, "(HTTP 401)") || !strings.Contains(c.Message, "rotate the Secret") {
		t.Errorf("condition %+v", c)
	}
	if got := decide(t, op.url, "205.210.31.51"); !strings.Contains(got, `"FAILED"`) || stand.Calls() != 1 {
		t.Errorf("call during the pause: %s, upstream requests %d, want 1", got, stand.Calls())
	}
	s.Data["apiKey"] = []byte("good-key")
	if err := k8sClient.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "p", metav1.ConditionTrue, v1alpha1.ReasonCompiled)
	served("good-key")
	if got := decide(t, op.url, "103.159.198.178"); !strings.Contains(got, `"FAILED"`) || !strings.Contains(got, "high IP risk") || stand.Calls() != 2 {
		t.Errorf("call with the rotated key (score 100): %s, upstream requests %d, want 2", got, stand.Calls())
	}
}
