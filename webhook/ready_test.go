// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/policy"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// Before the first complete snapshot, every call is answered ERROR (HTTP
// 500, which the platform turns into a refused token): never SUCCESS from
// an empty or partial policy set. Once the snapshot is complete, the same
// call is decided.
func TestNoSnapshotYetAnswersError(t *testing.T) {
	e := newEnv(t, nil, envOptions{})
	store := policy.NewStore()
	// The policies are there but the set is not known to be complete.
	store.Replace(seedPolicies(t))
	e.handler.Policies = store
	req := tu.Request("175.45.176.1") // KP: blocked by the seed policy
	body := tu.JSON(t, req)
	for range 20 {
		r := post(t, e.url, "application/json", body)
		if r.status != 500 || !bytes.Contains(r.body, []byte(`"actionStatus":"ERROR"`)) {
			t.Fatalf("before the first snapshot: %d %s", r.status, r.body)
		}
		if _, err := actiontest.Apply(req, r.status, r.contentType, r.body); err != nil {
			t.Fatalf("the platform would not accept %s: %v", r.body, err)
		}
	}
	if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("error", "", "not_ready")); got != 20 {
		t.Errorf("not_ready decisions counted %v, want 20", got)
	}
	store.MarkReady()
	if r := post(t, e.url, "application/json", body); r.status != 200 || !bytes.Contains(r.body, []byte(`"FAILED"`)) {
		t.Fatalf("after the first snapshot: %d %s", r.status, r.body)
	}
}
