// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

func claimValue(t *testing.T, tok interface {
	Claim(string) (json.RawMessage, bool)
}, name string) (string, bool) {
	t.Helper()
	v, ok := tok.Claim(name)
	if !ok {
		return "", false
	}
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		t.Fatalf("claim %s: %v", name, err)
	}
	b, _ := json.Marshal(x)
	return string(b), true
}

// Changes to user attributes, the refresh token and the token response, on
// the platform's model: every change is applied, none skipped or dropped.
func TestUserChangesApplyOnThePlatform(t *testing.T) {
	cases := map[string]struct {
		req       func(*action.Request)
		d         engine.Decision
		claims    map[string]string // name -> JSON after; "" means removed
		refresh   int64
		params    []string
		wantSkip  []string
		wantNoOps bool
	}{
		"remove a string claim": {
			d:      engine.Decision{RemoveClaims: []string{"email"}},
			claims: map[string]string{"email": "", "given_name": `"Alice"`},
		},
		"remove an array claim element by element": {
			d:      engine.Decision{RemoveClaims: []string{"groups"}},
			claims: map[string]string{"groups": `[]`},
		},
		"remove an absent claim": {
			d:         engine.Decision{RemoveClaims: []string{"phone_number"}},
			wantNoOps: true,
		},
		"remove elements by value": {
			d:      engine.Decision{ArrayClaims: []policy.ArrayClaimChange{{Name: "groups", Remove: []string{"admin", "nobody"}}}},
			claims: map[string]string{"groups": `["dev"]`},
		},
		"replace an element by value": {
			d:      engine.Decision{ArrayClaims: []policy.ArrayClaimChange{{Name: "groups", Replace: []policy.Replacement{{From: "admin", To: "admin-readonly"}}}}},
			claims: map[string]string{"groups": `["admin-readonly","dev"]`},
		},
		"replace by a value the claim has already": {
			d:      engine.Decision{ArrayClaims: []policy.ArrayClaimChange{{Name: "groups", Replace: []policy.Replacement{{From: "admin", To: "dev"}}}}},
			claims: map[string]string{"groups": `["dev"]`},
		},
		"removal wins over replacement": {
			d: engine.Decision{ArrayClaims: []policy.ArrayClaimChange{{Name: "groups",
				Remove: []string{"admin"}, Replace: []policy.Replacement{{From: "admin", To: "x"}}}}},
			claims: map[string]string{"groups": `["dev"]`},
		},
		"a claim removed needs no element changes": {
			d: engine.Decision{RemoveClaims: []string{"groups"},
				ArrayClaims: []policy.ArrayClaimChange{{Name: "groups", Remove: []string{"admin"}}}},
			claims: map[string]string{"groups": `[]`},
		},
		"element changes on a string claim are skipped": {
			d:        engine.Decision{ArrayClaims: []policy.ArrayClaimChange{{Name: "email", Remove: []string{"alice@example.com"}}}},
			wantSkip: []string{"remove element email"},
		},
		"a single-element array, in the refresh flow": {
			req: func(r *action.Request) {
				r.Event.Request.GrantType = "refresh_token"
				r.Event.AccessToken.Claims = append(r.Event.AccessToken.Claims, action.Claim{Name: "tier", Value: json.RawMessage(`"gold"`)})
			},
			d: engine.Decision{ArrayClaims: []policy.ArrayClaimChange{{Name: "roles", Remove: []string{"viewer"}}},
				Claims: []policy.Claim{claim("tier", `"silver"`)}},
			claims: map[string]string{"roles": `[]`, "tier": `"silver"`},
		},
		"replace a user attribute": {
			d:      engine.Decision{Claims: []policy.Claim{claim("given_name", `"A."`)}},
			claims: map[string]string{"given_name": `"A."`},
		},
		"cap the refresh token": {
			d:       engine.Decision{RefreshExpiresIn: 3600},
			refresh: 3600,
		},
		"never lengthen the refresh token": {
			d:         engine.Decision{RefreshExpiresIn: 90000},
			wantNoOps: true,
		},
		"no refresh token, nothing to cap": {
			req:       func(r *action.Request) { r.Event.RefreshToken = nil },
			d:         engine.Decision{RefreshExpiresIn: 3600},
			wantNoOps: true,
		},
		"withhold the refresh and ID tokens": {
			d:      engine.Decision{WithholdRefreshToken: true, WithholdIDToken: true},
			params: []string{"access_token", "token_type", "scope", "expires_in"},
		},
		"withhold before v1.3 is reported": {
			req:      func(r *action.Request) { r.Event.Response = nil },
			d:        engine.Decision{WithholdRefreshToken: true},
			wantSkip: []string{"withhold refresh_token"},
		},
		"withhold what the response does not have": {
			req:       func(r *action.Request) { r.Event.Response.Parameters = []string{"access_token", "token_type"} },
			d:         engine.Decision{WithholdRefreshToken: true, WithholdIDToken: true},
			wantNoOps: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var opts []func(*action.Request)
			if tc.req != nil {
				opts = append(opts, tc.req)
			}
			req := testutil.UserRequest("1.2.3.4", opts...)
			tok, skipped, ops := applied(t, req, &tc.d)
			var skips []string
			for _, s := range skipped {
				skips = append(skips, s.Change())
			}
			if !slices.Equal(skips, tc.wantSkip) {
				t.Errorf("skipped %v, want %v", skipped, tc.wantSkip)
			}
			if tc.wantNoOps && len(ops) != 0 {
				t.Errorf("operations %+v, want none", ops)
			}
			for n, want := range tc.claims {
				got, ok := claimValue(t, tok, n)
				switch {
				case want == "" && ok:
					t.Errorf("claim %s = %s, want it removed", n, got)
				case want != "" && got != want:
					t.Errorf("claim %s = %s, want %s", n, got, want)
				}
			}
			if tc.refresh != 0 && tok.RefreshExpiresIn != tc.refresh {
				t.Errorf("refresh expires_in = %d, want %d", tok.RefreshExpiresIn, tc.refresh)
			}
			if tc.params != nil && !slices.Equal(tok.ResponseParameters, tc.params) {
				t.Errorf("response parameters = %v, want %v", tok.ResponseParameters, tc.params)
			}
		})
	}
}

// Element indexes are those of the claim as sent, whatever was removed
// before them (contract O12).
func TestElementIndexesAreOriginal(t *testing.T) {
	req := testutil.UserRequest("1.2.3.4", func(r *action.Request) {
		for i := range r.Event.AccessToken.Claims {
			if r.Event.AccessToken.Claims[i].Name == "groups" {
				r.Event.AccessToken.Claims[i].Value = json.RawMessage(`["a","b","c","d"]`)
			}
		}
	})
	tok, _, ops := applied(t, req, &engine.Decision{ArrayClaims: []policy.ArrayClaimChange{{Name: "groups",
		Remove: []string{"a", "c"}, Replace: []policy.Replacement{{From: "d", To: "e"}}}}})
	var paths []string
	for _, o := range ops {
		paths = append(paths, o.Op+" "+o.Path)
	}
	want := []string{"remove /accessToken/claims/groups/0", "remove /accessToken/claims/groups/2", "replace /accessToken/claims/groups/3"}
	if !slices.Equal(paths, want) {
		t.Errorf("operations %v, want %v", paths, want)
	}
	if got, _ := claimValue(t, tok, "groups"); got != `["b","e"]` {
		t.Errorf("groups = %s", got)
	}
}

// A removal the call does not allow is reported, not sent.
func TestRemoveClaimNotAllowed(t *testing.T) {
	req := testutil.UserRequest("1.2.3.4")
	req.AllowedOperations = testutil.Request("1.2.3.4").AllowedOperations // no email paths
	ops, skipped := action.Operations(req, &engine.Decision{RemoveClaims: []string{"email"}})
	if len(ops) != 0 || len(skipped) != 1 || skipped[0].Change() != "remove claim email" {
		t.Errorf("ops %v, skipped %v", ops, skipped)
	}
}
