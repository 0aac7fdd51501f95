// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// userCall is a user token call: a user of the root organization in the
// DEFAULT user store, in the groups contractors and dev.
func userCall(ip, at string, opts ...func(*engine.Call)) *engine.Call {
	c := call(ip, at)
	root := &engine.Organization{ID: "org-root", Name: "Acme", Handle: "acme", Depth: 0}
	c.Organization = root
	c.User = &engine.User{ID: "u1", Organization: root}
	c.UserStore = "DEFAULT"
	c.RequestedScopes = []string{"openid", "profile"}
	c.Claims = []engine.Claim{
		{Name: "aut", Value: json.RawMessage(`"APPLICATION_USER"`)},
		{Name: "sub", Value: json.RawMessage(`"u1"`)},
		{Name: "groups", Value: json.RawMessage(`["contractors","dev"]`)},
		{Name: "email", Value: json.RawMessage(`"bob@example.com"`)},
		{Name: "email_verified", Value: json.RawMessage(`true`)},
		{Name: "level", Value: json.RawMessage(`3`)},
		{Name: "nothing", Value: json.RawMessage(`[]`)},
		{Name: "single", Value: json.RawMessage(`"contractors"`)},
		{Name: "quoted", Value: json.RawMessage(`"a\"b"`)},
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// appCall is an application token (client_credentials): no user.
func appCall(ip, at string) *engine.Call {
	c := call(ip, at)
	c.GrantType = "client_credentials"
	c.Organization = &engine.Organization{ID: "org-root", Name: "Acme", Handle: "acme"}
	c.Claims = []engine.Claim{{Name: "aut", Value: json.RawMessage(`"APPLICATION"`)}, {Name: "sub", Value: json.RawMessage(`"app"`)}}
	return c
}

func subOrg(c *engine.Call) {
	c.User.Organization = &engine.Organization{ID: "org-sub", Name: "Acme EU", Handle: "acme-eu", Depth: 1}
}

func claimCond(name string, op policy.Operator, values ...string) policy.Conditions {
	return policy.Conditions{Claims: []policy.ClaimCondition{{Name: name, Op: op, Values: values}}}
}

// Every condition, with present, absent and empty values, for a user and an
// application token.
func TestConditions(t *testing.T) {
	user, app, sub := userCall("", workHours), appCall("", workHours), userCall("", workHours, subOrg)
	noScopes := userCall("", workHours, func(c *engine.Call) { c.RequestedScopes = nil })
	cases := map[string]struct {
		c    policy.Conditions
		call *engine.Call
		want bool
	}{
		"no conditions hold":            {policy.Conditions{}, app, true},
		"aut user":                      {policy.Conditions{Aut: []string{"APPLICATION_USER"}}, user, true},
		"aut user, application token":   {policy.Conditions{Aut: []string{"APPLICATION_USER"}}, app, false},
		"aut application":               {policy.Conditions{Aut: []string{"APPLICATION"}}, app, true},
		"user store":                    {policy.Conditions{UserStores: []string{"DEFAULT"}}, user, true},
		"other user store":              {policy.Conditions{UserStores: []string{"PRIMARY"}}, user, false},
		"user store, no user":           {policy.Conditions{UserStores: []string{""}}, app, false},
		"organization by id":            {policy.Conditions{Organizations: []string{"org-root"}}, user, true},
		"organization by name":          {policy.Conditions{Organizations: []string{"Acme"}}, app, true},
		"organization by handle":        {policy.Conditions{Organizations: []string{"acme"}}, user, true},
		"organization, none sent":       {policy.Conditions{Organizations: []string{"acme"}}, call("", workHours), false},
		"user organization":             {policy.Conditions{UserOrganizations: []string{"acme-eu"}}, sub, true},
		"user organization, root user":  {policy.Conditions{UserOrganizations: []string{"acme-eu"}}, user, false},
		"user organization, no user":    {policy.Conditions{UserOrganizations: []string{"acme"}}, app, false},
		"sub-organization":              {policy.Conditions{SubOrganization: policy.True}, sub, true},
		"sub-organization, root user":   {policy.Conditions{SubOrganization: policy.True}, user, false},
		"root organization":             {policy.Conditions{SubOrganization: policy.False}, user, true},
		"root organization, sub user":   {policy.Conditions{SubOrganization: policy.False}, sub, false},
		"sub-organization, no user":     {policy.Conditions{SubOrganization: policy.True}, app, false},
		"root organization, no user":    {policy.Conditions{SubOrganization: policy.False}, app, false},
		"scopes any":                    {policy.Conditions{RequestedScopes: &policy.ListCondition{Op: policy.ContainsAny, Values: []string{"admin", "openid"}}}, user, true},
		"scopes all":                    {policy.Conditions{RequestedScopes: &policy.ListCondition{Op: policy.ContainsAll, Values: []string{"admin", "openid"}}}, user, false},
		"scopes none":                   {policy.Conditions{RequestedScopes: &policy.ListCondition{Op: policy.ContainsNone, Values: []string{"admin"}}}, user, true},
		"scopes any, none requested":    {policy.Conditions{RequestedScopes: &policy.ListCondition{Op: policy.ContainsAny, Values: []string{"openid"}}}, noScopes, false},
		"scopes none, none requested":   {policy.Conditions{RequestedScopes: &policy.ListCondition{Op: policy.ContainsNone, Values: []string{"openid"}}}, noScopes, true},
		"exists":                        {claimCond("email", policy.Exists), user, true},
		"exists, absent":                {claimCond("phone", policy.Exists), user, false},
		"exists, empty array":           {claimCond("nothing", policy.Exists), user, true},
		"does not exist":                {claimCond("phone", policy.DoesNotExist), user, true},
		"does not exist, present":       {claimCond("email", policy.DoesNotExist), user, false},
		"in":                            {claimCond("email", policy.In, "x@example.com", "bob@example.com"), user, true},
		"in, other value":               {claimCond("email", policy.In, "x@example.com"), user, false},
		"in, absent":                    {claimCond("phone", policy.In, "1"), user, false},
		"in, a number as written":       {claimCond("level", policy.In, "3"), user, true},
		"in, a boolean as written":      {claimCond("email_verified", policy.In, "true"), user, true},
		"in, an escaped string":         {claimCond("quoted", policy.In, `a"b`), user, true},
		"in, an array is never in":      {claimCond("groups", policy.In, "contractors"), user, false},
		"not in":                        {claimCond("email", policy.NotIn, "x@example.com"), user, true},
		"not in, the value":             {claimCond("email", policy.NotIn, "bob@example.com"), user, false},
		"not in, absent":                {claimCond("phone", policy.NotIn, "1"), user, true},
		"contains any":                  {claimCond("groups", policy.ContainsAny, "admin", "contractors"), user, true},
		"contains any, no match":        {claimCond("groups", policy.ContainsAny, "admin"), user, false},
		"contains any, absent":          {claimCond("roles", policy.ContainsAny, "admin"), user, false},
		"contains any, empty array":     {claimCond("nothing", policy.ContainsAny, "admin"), user, false},
		"contains any, a single string": {claimCond("single", policy.ContainsAny, "contractors"), user, true},
		"contains all":                  {claimCond("groups", policy.ContainsAll, "dev", "contractors"), user, true},
		"contains all, one missing":     {claimCond("groups", policy.ContainsAll, "dev", "admin"), user, false},
		"contains all, absent":          {claimCond("roles", policy.ContainsAll, "dev"), user, false},
		"contains none":                 {claimCond("groups", policy.ContainsNone, "admin"), user, true},
		"contains none, one there":      {claimCond("groups", policy.ContainsNone, "admin", "dev"), user, false},
		"contains none, absent":         {claimCond("roles", policy.ContainsNone, "admin"), user, true},
		"contains none, empty array":    {claimCond("nothing", policy.ContainsNone, "admin"), user, true},
		"all must hold": {policy.Conditions{UserStores: []string{"DEFAULT"}, SubOrganization: policy.True,
			Claims: []policy.ClaimCondition{{Name: "groups", Op: policy.ContainsAny, Values: []string{"contractors"}}}}, user, false},
		"all hold": {policy.Conditions{UserStores: []string{"DEFAULT"}, SubOrganization: policy.True,
			Claims: []policy.ClaimCondition{{Name: "groups", Op: policy.ContainsAny, Values: []string{"contractors"}}}}, sub, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := engine.Holds(&tc.c, tc.call); got != tc.want {
				t.Errorf("Holds = %v, want %v", got, tc.want)
			}
		})
	}
}

const contractorPolicy = `
match:
  aut: [APPLICATION_USER]
  claims: [{name: groups, operator: ContainsAny, values: [contractors]}]
clientIP: {onMissing: Allow}
userRules:
- name: no-unverified
  when: {claims: [{name: email_verified, operator: NotIn, values: ["true"]}]}
  action: Deny
- name: sub-org-short
  when: {subOrganization: true}
  action: Shorten
  expiresInSeconds: 600
networks: {trustedCIDRs: ["10.0.0.0/8"], blockedCIDRs: ["2001:db8:bad::/48"]}
accessHours:
  windows: [{start: "08:00", end: "18:00"}]
  outside: {action: Shorten, expiresInSeconds: 300}
token:
  maxExpiresInSeconds: 900
  maxRefreshExpiresInSeconds: 3600
  removeClaims: [email]
  arrayClaims: [{name: groups, remove: [admin]}]
  whenRisky: {maxRefreshExpiresInSeconds: 600, withholdRefreshToken: true}
denial: {descriptions: {userRule: "Verify your email first."}}
`

// User rules, the match conditions and the user token changes, in the
// order the checks run (docs/policy-reference.md).
func TestUserRules(t *testing.T) {
	h := newHarness(t)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "contractors", contractorPolicy, secrets)})
	unverified := func(c *engine.Call) {
		for i := range c.Claims {
			if c.Claims[i].Name == "email_verified" {
				c.Claims[i].Value = json.RawMessage(`false`)
			}
		}
	}
	notContractor := func(c *engine.Call) { c.Claims[2].Value = json.RawMessage(`["dev"]`) }
	type want struct {
		deny            bool
		cause           policy.Cause
		rule            string
		description     string
		expiresIn       int64
		refresh         int64
		withholdRefresh bool
		matched         bool
	}
	cases := map[string]struct {
		call *engine.Call
		want want
	}{
		"a contractor in office hours": {userCall("10.1.2.3", workHours),
			want{expiresIn: 900, refresh: 3600, matched: true}},
		"not a contractor: the policy does not apply":     {userCall("10.1.2.3", night, notContractor), want{}},
		"an application token: the policy does not apply": {appCall("10.1.2.3", night), want{}},
		"unverified email is denied, even from a trusted network": {userCall("10.1.2.3", workHours, unverified),
			want{deny: true, cause: policy.CauseUserRule, rule: "no-unverified", description: "Verify your email first.", matched: true}},
		"unverified email is denied without a client address": {userCall("", workHours, unverified),
			want{deny: true, cause: policy.CauseUserRule, rule: "no-unverified", matched: true, description: "Verify your email first."}},
		"a blocked network is denied before anything risky": {userCall("2001:db8:bad::1", workHours, subOrg),
			want{deny: true, cause: policy.CauseBlockedNetwork, matched: true, description: policy.DefaultDescriptions[policy.CauseBlockedNetwork]}},
		"a sub-organization user is shortened and risky": {userCall("2001:db8:1::1", workHours, subOrg),
			want{expiresIn: 600, cause: policy.CauseUserRule, rule: "sub-org-short", refresh: 600, withholdRefresh: true, matched: true}},
		"outside hours the shortest lifetime wins": {userCall("2001:db8:1::1", night, subOrg),
			want{expiresIn: 300, cause: policy.CauseOutsideAccessHours, refresh: 600, withholdRefresh: true, matched: true}},
		"without an address, access hours still apply": {userCall("", night),
			want{expiresIn: 300, cause: policy.CauseOutsideAccessHours, refresh: 600, withholdRefresh: true, matched: true}},
		"a trusted network skips access hours, not user rules": {userCall("10.1.2.3", night, subOrg),
			want{expiresIn: 600, cause: policy.CauseUserRule, rule: "sub-org-short", refresh: 600, withholdRefresh: true, matched: true}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := h.eng.Decide(context.Background(), snap, tc.call)
			w := tc.want
			if (len(d.Policies) == 1) != w.matched {
				t.Fatalf("policies evaluated: %+v, want matched=%v", d.Policies, w.matched)
			}
			if d.Deny != w.deny {
				t.Fatalf("deny = %v (%+v)", d.Deny, d.Policies)
			}
			if w.deny {
				if d.Denial.Cause != w.cause || d.Denial.Description != w.description {
					t.Errorf("denial %+v, want cause %s, %q", d.Denial, w.cause, w.description)
				}
				if d.Policies[0].Rule != w.rule {
					t.Errorf("rule %q, want %q", d.Policies[0].Rule, w.rule)
				}
				if d.RemoveClaims != nil || d.ArrayClaims != nil || d.RefreshExpiresIn != 0 || d.WithholdRefreshToken {
					t.Errorf("a denial carries changes: %+v", d)
				}
				return
			}
			if d.ExpiresIn != w.expiresIn || d.RefreshExpiresIn != w.refresh || d.WithholdRefreshToken != w.withholdRefresh {
				t.Errorf("expires %d refresh %d withhold %v, want %d %d %v", d.ExpiresIn, d.RefreshExpiresIn, d.WithholdRefreshToken,
					w.expiresIn, w.refresh, w.withholdRefresh)
			}
			if w.matched {
				r := d.Policies[0]
				if w.cause != policy.CauseNone && (r.Cause != w.cause || r.Rule != w.rule) {
					t.Errorf("result %+v, want cause %s rule %q", r, w.cause, w.rule)
				}
				if !slices.Equal(d.RemoveClaims, []string{"email"}) || len(d.ArrayClaims) != 1 || d.ArrayClaims[0].Name != "groups" {
					t.Errorf("claim changes %v %v", d.RemoveClaims, d.ArrayClaims)
				}
			}
		})
	}
}

// Two policies: a claim one sets and the other removes is removed; element
// removals are united, the first replacement of a value wins, and merging
// never writes into the snapshot.
func TestUserChangesMerge(t *testing.T) {
	h := newHarness(t)
	a := testutil.Policy(t, "a", `
clientIP: {onMissing: Allow}
token:
  claims: [{name: email, string: hidden}, {name: team, string: red}]
  arrayClaims: [{name: groups, remove: [admin], replace: [{from: dev, to: developers}]}]
`, secrets)
	b := testutil.Policy(t, "b", `
clientIP: {onMissing: Allow}
token:
  removeClaims: [email]
  arrayClaims: [{name: groups, remove: [ops], replace: [{from: dev, to: engineering}, {from: qa, to: testers}]}]
`, secrets)
	snap := policy.NewSnapshot([]*policy.Policy{a, b})
	for range 2 {
		d := h.eng.Decide(context.Background(), snap, userCall("", workHours))
		if len(d.Claims) != 1 || d.Claims[0].Name != "team" {
			t.Errorf("claims %v: email is removed by b", d.Claims)
		}
		if len(d.ArrayClaims) != 1 {
			t.Fatalf("array changes %+v", d.ArrayClaims)
		}
		g := d.ArrayClaims[0]
		if !slices.Equal(g.Remove, []string{"admin", "ops"}) ||
			!slices.Equal(g.Replace, []policy.Replacement{{From: "dev", To: "developers"}, {From: "qa", To: "testers"}}) {
			t.Errorf("groups changes %+v", g)
		}
	}
	if got := a.Token.ArrayClaims[0]; len(got.Remove) != 1 || len(got.Replace) != 1 {
		t.Errorf("the snapshot's policy was written: %+v", got)
	}
}

// An Audit policy's user rule is recorded and changes nothing.
func TestUserRuleAudit(t *testing.T) {
	h := newHarness(t)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "audit", `
mode: Audit
clientIP: {onMissing: Allow}
userRules: [{name: no-contractors, when: {claims: [{name: groups, operator: ContainsAny, values: [contractors]}]}, action: Deny}]
`, secrets)})
	d := h.eng.Decide(context.Background(), snap, userCall("", workHours))
	if d.Deny || len(d.Policies) != 1 || d.Policies[0].Action != policy.Deny || d.Policies[0].Rule != "no-contractors" {
		t.Errorf("deny %v, policies %+v", d.Deny, d.Policies)
	}
}
