// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package compiler

import (
	"fmt"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/policy"
)

var operators = map[string]policy.Operator{
	string(v1alpha1.OpExists): policy.Exists, string(v1alpha1.OpDoesNotExist): policy.DoesNotExist,
	string(v1alpha1.OpIn): policy.In, string(v1alpha1.OpNotIn): policy.NotIn,
	string(v1alpha1.OpContainsAny): policy.ContainsAny, string(v1alpha1.OpContainsAll): policy.ContainsAll,
	string(v1alpha1.OpContainsNone): policy.ContainsNone,
}

// conditions converts conditions on who the token is for. An operator the
// schema should have refused fails the policy: guessing could widen who a
// rule lets through.
func (c *compilation) conditions(field string, in *v1alpha1.Conditions) policy.Conditions {
	out := policy.Conditions{
		Aut:               strs(in.Aut),
		UserStores:        strs(in.UserStores),
		Organizations:     strs(in.Organizations),
		UserOrganizations: strs(in.UserOrganizations),
	}
	if b := in.SubOrganization; b != nil {
		out.SubOrganization = policy.False
		if *b {
			out.SubOrganization = policy.True
		}
	}
	if rs := in.RequestedScopes; rs != nil {
		op, ok := operators[string(rs.Operator)]
		if !ok || op < policy.ContainsAny {
			c.unconvertible(field+".requestedScopes.operator", rs.Operator)
		}
		out.RequestedScopes = &policy.ListCondition{Op: op, Values: strs(rs.Values)}
	}
	for i, cc := range in.Claims {
		op, ok := operators[string(cc.Operator)]
		if !ok {
			c.unconvertible(fmt.Sprintf("%s.claims[%d].operator", field, i), cc.Operator)
		}
		out.Claims = append(out.Claims, policy.ClaimCondition{Name: string(cc.Name), Op: op, Values: cc.Values})
	}
	return out
}

// empty reports whether no condition is set.
func empty(c *v1alpha1.Conditions) bool {
	return len(c.Aut) == 0 && len(c.UserStores) == 0 && len(c.Organizations) == 0 &&
		len(c.UserOrganizations) == 0 && c.SubOrganization == nil && c.RequestedScopes == nil && len(c.Claims) == 0
}

func (c *compilation) userRules(rules []v1alpha1.UserRule) []policy.UserRule {
	out := make([]policy.UserRule, 0, len(rules))
	for i, r := range rules {
		field := fmt.Sprintf("spec.userRules[%d]", i)
		u := policy.UserRule{Name: string(r.Name), When: c.conditions(field+".when", &r.When)}
		if empty(&r.When) {
			// A rule without conditions would apply to every call; the
			// schema refuses it, and so does compile.
			c.unconvertible(field+".when", "")
		}
		switch {
		case r.Action == v1alpha1.ActionShorten && r.ExpiresInSeconds != nil:
			u.Action, u.ExpiresIn = policy.Shorten, int64(*r.ExpiresInSeconds)
		default:
			// Deny, and anything unreadable: a rule that selects a call never
			// lets it through by mistake.
			u.Action = policy.Deny
		}
		out = append(out, u)
	}
	return out
}

// userTokenChanges converts the changes to user attributes and the refresh
// token.
func userTokenChanges(t *v1alpha1.TokenChanges, out *policy.TokenChanges) {
	out.RemoveClaims = strs(t.RemoveClaims)
	for _, a := range t.ArrayClaims {
		ch := policy.ArrayClaimChange{Name: string(a.Name), Remove: strs(a.Remove)}
		for _, r := range a.Replace {
			ch.Replace = append(ch.Replace, policy.Replacement{From: string(r.From), To: string(r.To)})
		}
		out.ArrayClaims = append(out.ArrayClaims, ch)
	}
	if t.MaxRefreshExpiresInSeconds != nil {
		out.MaxRefreshExpiresIn = int64(*t.MaxRefreshExpiresInSeconds)
	}
	if w := t.WhenRisky; w != nil {
		out.WhenRisky.WithholdRefreshToken = w.WithholdRefreshToken
		out.WhenRisky.WithholdIDToken = w.WithholdIDToken
		if w.MaxRefreshExpiresInSeconds != nil {
			out.WhenRisky.MaxRefreshExpiresIn = int64(*w.MaxRefreshExpiresInSeconds)
		}
	}
}
