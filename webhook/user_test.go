// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/policy"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

func withClaim(name, value string) func(*action.Request) {
	return func(r *action.Request) {
		for i := range r.Event.AccessToken.Claims {
			if r.Event.AccessToken.Claims[i].Name == name {
				r.Event.AccessToken.Claims[i].Value = json.RawMessage(value)
				return
			}
		}
		r.Event.AccessToken.Claims = append(r.Event.AccessToken.Claims, action.Claim{Name: name, Value: json.RawMessage(value)})
	}
}

func inSubOrganization(r *action.Request) {
	r.Event.User.Organization = &action.Organization{ID: "f2604b90-0002", Name: "Partner", Handle: "partner", Depth: 1}
}

// The user-aware sample over HTTP: exact answers, each applied by the
// platform model, and no change skipped or dropped.
func TestUserAwareSampleOverHTTP(t *testing.T) {
	contractor := withClaim("groups", `["admin","contractors","dev"]`)
	weekday, sunday := "2026-11-26T10:00:00Z", "2026-11-29T10:00:00Z"
	cases := map[string]struct {
		at     string
		req    *action.Request
		want   string
		groups string
	}{
		"a contractor: short tokens, no admin group": {weekday, tu.UserRequest("", contractor),
			`{"actionStatus":"SUCCESS","operations":[{"op":"replace","path":"/accessToken/claims/expires_in","value":900},` +
				`{"op":"remove","path":"/accessToken/claims/groups/0"},{"op":"replace","path":"/refreshToken/claims/expires_in","value":3600}]}`,
			`["contractors","dev"]`},
		"a contractor asking for the admin scope": {weekday, tu.UserRequest("", contractor, func(r *action.Request) {
			r.Event.Request.Scopes = append(r.Event.Request.Scopes, "admin")
		}), `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Contractors cannot request the admin scope."}`, ""},
		"a contractor in a refresh flow": {weekday, tu.UserRequest("", contractor, func(r *action.Request) {
			r.Event.Request.GrantType = "refresh_token"
			r.Event.AccessToken.Claims[3].Value = json.RawMessage(`900`)
			r.Event.RefreshToken.Claims[0].Value = json.RawMessage(`3600`)
		}), `{"actionStatus":"SUCCESS","operations":[{"op":"remove","path":"/accessToken/claims/groups/0"}]}`,
			`["contractors","dev"]`},
		"an employee is not changed":     {weekday, tu.UserRequest(""), `{"actionStatus":"SUCCESS"}`, `["admin","dev"]`},
		"a partner user in office hours": {weekday, tu.UserRequest("", inSubOrganization), `{"actionStatus":"SUCCESS"}`, ""},
		"a partner user on Sunday": {sunday, tu.UserRequest("", inSubOrganization),
			`{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Partner organizations can sign in on weekdays from 08:00 to 18:00 Berlin time."}`, ""},
		"a root user on Sunday":          {sunday, tu.UserRequest(""), `{"actionStatus":"SUCCESS"}`, ""},
		"an application token on Sunday": {sunday, tu.ApplicationRequest(""), `{"actionStatus":"SUCCESS"}`, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tu.SamplePolicies(t, "config/samples/user-aware.yaml", nil), envOptions{now: mustTime(tc.at)})
			r := post(t, e.url, "application/json", tu.JSON(t, tc.req))
			if r.status != 200 || strings.TrimSpace(string(r.body)) != tc.want {
				t.Fatalf("got %d %s\nwant 200 %s", r.status, r.body, tc.want)
			}
			out, err := actiontest.Apply(tc.req, r.status, r.contentType, r.body)
			if err != nil {
				t.Fatalf("the platform would not apply it: %v", err)
			}
			if tc.groups != "" {
				if g, _ := out.Token.Claim("groups"); string(g) != tc.groups {
					t.Errorf("groups = %s, want %s", g, tc.groups)
				}
			}
			if n := testutil.CollectAndCount(e.metrics.SkippedChanges); n != 0 {
				t.Errorf("%d changes skipped", n)
			}
		})
	}
}

// Risky calls lose their refresh and ID tokens from a v1.3 response, and
// their refresh token is capped lower; others keep both.
func TestWithholdForRiskyCalls(t *testing.T) {
	p := tu.Policy(t, "risky", `
clientIP: {onMissing: Allow}
abuseIPDB:
  apiKeySecretRef: {name: abuseipdb, key: apiKey}
  deny: {scoreAbove: 75}
  shorten: {scoreAtLeast: 25, expiresInSeconds: 900}
token:
  maxRefreshExpiresInSeconds: 43200
  whenRisky: {maxRefreshExpiresInSeconds: 1800, withholdRefreshToken: true, withholdIDToken: true}
`, seedSecrets)
	for ip, want := range map[string]struct {
		params  []string
		refresh int64
	}{
		"14.102.69.58":  {[]string{"access_token", "token_type", "scope", "expires_in"}, 1800},                               // score 25-75
		"205.210.31.51": {[]string{"access_token", "token_type", "scope", "expires_in", "refresh_token", "id_token"}, 43200}, // score below 25
	} {
		t.Run(ip, func(t *testing.T) {
			e := newEnv(t, []*policy.Policy{p}, envOptions{})
			req := tu.UserRequest(ip)
			r := post(t, e.url, "application/json", tu.JSON(t, req))
			out, err := actiontest.Apply(req, r.status, r.contentType, r.body)
			if err != nil {
				t.Fatalf("%s: %v", r.body, err)
			}
			if !slices.Equal(out.Token.ResponseParameters, want.params) || out.Token.RefreshExpiresIn != want.refresh {
				t.Errorf("parameters %v, refresh %d; want %v, %d (%s)", out.Token.ResponseParameters, out.Token.RefreshExpiresIn, want.params, want.refresh, r.body)
			}
		})
	}
}
