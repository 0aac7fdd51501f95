// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package crdvalidation_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/crdvalidation"
	"github.com/tokenguard/tokenguard/internal/platform"
)

// The few platform rules a spec can break are stated twice by necessity:
// as CEL in the CRD (a marker cannot call Go) and in internal/platform.
// This keeps the two in step: on a corpus of values, the CRD accepts a
// value exactly when internal/platform does.
func TestCRDAgreesWithPlatformRules(t *testing.T) {
	ctx := context.Background()
	texts := []string{"Blocked.", "a, b", "ok (KP) [x]: yes!", "a/b", "tab\there", "caf\u00e9", "quote'ok",
		`quote"no`, "50%", "a#b", "x=y", "a@b", strings.Repeat("z", 300), strings.Repeat("z", 301)}
	for _, s := range texts {
		tp := &v1alpha1.TokenPolicy{}
		tp.Name, tp.Namespace = "p", "default"
		tp.Spec.Denial = &v1alpha1.Denial{Descriptions: &v1alpha1.DenialDescriptions{HighRisk: v1alpha1.Description(s)}}
		crd := crdvalidation.ValidatePolicy(ctx, tp) == nil
		// The CRD is stricter on one point, on purpose: of white space it
		// takes only the space (a tab in a description is a typo).
		ours := platform.ValidText(s, platform.MaxDescriptionLen)
		if crd && !ours || !crd && ours && !strings.ContainsAny(s, "\t\n\r\f\v") {
			t.Errorf("description %q: CRD accepts %v, platform.ValidText %v", s, crd, ours)
		}
	}
	for _, s := range []string{"read", "read:x", "a b", `a"b`, `a\b`, "caf\u00e9", "!#$%&'()*+,-./", "[x]", "~"} {
		tp := &v1alpha1.TokenPolicy{}
		tp.Name, tp.Namespace = "p", "default"
		tp.Spec.Token = &v1alpha1.TokenChanges{Scopes: &v1alpha1.ScopeChanges{Add: []v1alpha1.Scope{v1alpha1.Scope(s)}}}
		crd := crdvalidation.ValidatePolicy(ctx, tp) == nil
		if ours := platform.ValidScope(s); crd != ours {
			t.Errorf("scope %q: CRD accepts %v, platform.ValidScope %v", s, crd, ours)
		}
	}
	for _, s := range []string{"https://api.example.com", "api.example.com", "urn:x:y", "client_id", "a-b.c", "http://", "https:// x", "ftp://x/y"} {
		tp := &v1alpha1.TokenPolicy{}
		tp.Name, tp.Namespace = "p", "default"
		tp.Spec.Token = &v1alpha1.TokenChanges{Audiences: &v1alpha1.AudienceChanges{Add: []v1alpha1.Audience{v1alpha1.Audience(s)}}}
		crd := crdvalidation.ValidatePolicy(ctx, tp) == nil
		if ours := platform.ValidAudience(s); crd != ours {
			t.Errorf("audience %q: CRD accepts %v, platform.ValidAudience %v", s, crd, ours)
		}
	}
	for _, s := range []string{"sub", "ISS", "client_id", "aut", "Subject_Type", "binding_ref", "binding_type", "aud", "scope", "expires_in", "exp", "iat", "nbf", "jti", "groups", "email", "tier"} {
		tp := &v1alpha1.TokenPolicy{}
		tp.Name, tp.Namespace = "p", "default"
		tp.Spec.Token = &v1alpha1.TokenChanges{RemoveClaims: []v1alpha1.ClaimName{v1alpha1.ClaimName(s)}}
		crd := crdvalidation.ValidatePolicy(ctx, tp) == nil
		if fixed := platform.FixedClaim(s); crd == fixed {
			t.Errorf("claim %q: CRD accepts %v, platform.FixedClaim %v", s, crd, fixed)
		}
	}
}
