// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook

import (
	"slices"
	"testing"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
)

func TestExplain(t *testing.T) {
	got := explain([]engine.PolicyResult{
		{Key: "ns/a", Action: policy.Allow},
		{Key: "ns/b", Mode: policy.Audit, Action: policy.Deny, Cause: policy.CauseBlockedCountry},
		{Key: "ns/c", Action: policy.Shorten, Cause: policy.CauseVelocity, Rule: "burst", ExpiresIn: 300},
	})
	want := []string{"ns/a=Allow", "ns/b=Deny(audit):blocked_country", "ns/c=Shorten:velocity(burst):300s"}
	if !slices.Equal(got, want) {
		t.Errorf("explain = %q, want %q", got, want)
	}
	if got := explain(nil); len(got) != 0 {
		t.Errorf("explain(nil) = %q", got)
	}
}
