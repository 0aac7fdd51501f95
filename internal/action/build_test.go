// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package action_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

func claim(name, value string) policy.Claim {
	return policy.Claim{Name: name, Value: json.RawMessage(value)}
}

// applied sends the operations for d through the platform model and returns
// the token the platform would issue.
func applied(t *testing.T, req *action.Request, d *engine.Decision) (*actiontest.Token, []action.Skipped, []action.Operation) {
	t.Helper()
	ops, skipped := action.Operations(req, d)
	body, err := json.Marshal(action.Success(ops))
	if err != nil {
		t.Fatal(err)
	}
	out, err := actiontest.Apply(req, 200, "application/json", body)
	if err != nil {
		t.Fatalf("the platform would not apply %s: %v", body, err)
	}
	return &out.Token, skipped, ops
}

func TestOperationsApplyOnThePlatform(t *testing.T) {
	req := testutil.Request("14.102.69.58")
	d := &engine.Decision{
		ExpiresIn:       900,
		AddScopes:       []string{"read:metrics", "openid"},
		RemoveScopes:    []string{"profile"},
		AddAudiences:    []string{"https://api.example.com", "billing.example.com"},
		RemoveAudiences: []string{"CCm5aWk4TjKgprfH_fmuMI7edDQa"},
		Claims: []policy.Claim{
			claim("country", `"IN"`), claim("ratio", `0.5`), claim("internal", `true`),
			claim("regions", `["eu","us"]`), claim("given_name", `"Al"`),
		},
	}
	tok, skipped, ops := applied(t, req, d)
	if len(skipped) != 0 {
		t.Errorf("skipped %v", skipped)
	}
	if tok.ExpiresIn != 900 {
		t.Errorf("expires_in = %d", tok.ExpiresIn)
	}
	if !slices.Equal(tok.Scopes, []string{"openid", "read:metrics"}) {
		t.Errorf("scopes = %v", tok.Scopes)
	}
	if !slices.Equal(tok.Audiences, []string{"https://api.example.com", "billing.example.com"}) {
		t.Errorf("aud = %v", tok.Audiences)
	}
	for name, want := range map[string]string{"country": `"IN"`, "ratio": `0.5`, "internal": `true`, "regions": `["eu","us"]`, "given_name": `"Al"`} {
		if v, ok := tok.Claim(name); !ok || string(v) != want {
			t.Errorf("claim %s = %s, want %s", name, v, want)
		}
	}
	// expires_in is a JSON number, as the platform documents, not a string.
	if ops[0].Op != "replace" || ops[0].Path != "/accessToken/claims/expires_in" || string(ops[0].Value) != "900" {
		t.Errorf("first operation = %+v", ops[0])
	}
}

func TestOperationsNeverLengthen(t *testing.T) {
	req := testutil.Request("1.2.3.4")
	ops, _ := action.Operations(req, &engine.Decision{ExpiresIn: 7200})
	if len(ops) != 0 {
		t.Errorf("a lifetime above the current 3600 produced %v", ops)
	}
	ops, _ = action.Operations(req, &engine.Decision{ExpiresIn: 3600})
	if len(ops) != 0 {
		t.Errorf("an equal lifetime produced %v", ops)
	}
}

// Scope indexes refer to the request's list and are not shifted by earlier
// removals (contract O6).
func TestScopeRemovalUsesOriginalIndexes(t *testing.T) {
	req := testutil.Request("1.2.3.4", func(r *action.Request) {
		r.Event.AccessToken.Scopes = []string{"a", "b", "c", "d"}
	})
	tok, _, ops := applied(t, req, &engine.Decision{RemoveScopes: []string{"d", "b", "c"}})
	var paths []string
	for _, o := range ops {
		paths = append(paths, o.Path)
	}
	if !slices.Equal(paths, []string{"/accessToken/scopes/1", "/accessToken/scopes/2", "/accessToken/scopes/3"}) {
		t.Errorf("paths = %v", paths)
	}
	if !slices.Equal(tok.Scopes, []string{"a"}) {
		t.Errorf("scopes = %v", tok.Scopes)
	}
}

// In the refresh flow the platform re-sends claims an earlier call added: a
// claim with the same value needs no operation, another value is replaced.
func TestRefreshFlowReplacesClaims(t *testing.T) {
	req := testutil.Request("1.2.3.4", func(r *action.Request) {
		r.Event.Request.GrantType = "refresh_token"
		r.Event.AccessToken.Claims = append(r.Event.AccessToken.Claims,
			action.Claim{Name: "country", Value: json.RawMessage(`"LK"`)},
			action.Claim{Name: "tier", Value: json.RawMessage(`"gold"`)})
		for i := range r.AllowedOperations {
			if r.AllowedOperations[i].Op != "add" {
				r.AllowedOperations[i].Paths = append(r.AllowedOperations[i].Paths, "/accessToken/claims/country", "/accessToken/claims/tier")
			}
		}
	})
	tok, skipped, ops := applied(t, req, &engine.Decision{Claims: []policy.Claim{claim("country", `"IN"`), claim("tier", `"gold"`)}})
	if len(skipped) != 0 || len(ops) != 1 || ops[0].Op != "replace" || ops[0].Path != "/accessToken/claims/country" {
		t.Fatalf("ops %+v skipped %v, want one replace of country", ops, skipped)
	}
	if v, _ := tok.Claim("country"); string(v) != `"IN"` {
		t.Errorf("country = %s", v)
	}
}

// What the platform would drop or skip is reported, not sent.
func TestOperationsSkipWhatThePlatformWouldDrop(t *testing.T) {
	req := testutil.Request("1.2.3.4", func(r *action.Request) {
		r.AllowedOperations = []action.AllowedOperation{{Op: "add", Paths: []string{"/accessToken/claims/"}}}
		r.Event.AccessToken.Claims = append(r.Event.AccessToken.Claims, action.Claim{Name: "tier", Value: json.RawMessage(`"silver"`)})
	})
	d := &engine.Decision{
		ExpiresIn:    60,
		RemoveScopes: []string{"openid"},
		AddScopes:    []string{"x"},
		AddAudiences: []string{"urn:example:api"},
		Claims:       []policy.Claim{claim("tier", `"gold"`), claim("groups", `["x"]`), claim("new", `"v"`)},
	}
	tok, skipped, ops := applied(t, req, d)
	if len(ops) != 1 || ops[0].Path != "/accessToken/claims/-" {
		t.Errorf("ops = %+v, want only the new claim", ops)
	}
	if v, ok := tok.Claim("new"); !ok || string(v) != `"v"` {
		t.Errorf("new claim missing")
	}
	var changes []string
	for _, s := range skipped {
		changes = append(changes, s.Change())
	}
	want := []string{"expires_in", "remove scope openid", "add scope x", "add audience urn:example:api", "claim tier", "claim groups"}
	if !slices.Equal(changes, want) {
		t.Errorf("skipped %v, want %v", changes, want)
	}
}

func TestAudienceNotArray(t *testing.T) {
	req := testutil.Request("1.2.3.4", func(r *action.Request) {
		for i := range r.Event.AccessToken.Claims {
			if r.Event.AccessToken.Claims[i].Name == "aud" {
				r.Event.AccessToken.Claims[i].Value = json.RawMessage(`"single"`)
			}
		}
	})
	_, skipped, ops := applied(t, req, &engine.Decision{AddAudiences: []string{"api.example.com"}})
	if len(ops) != 0 || len(skipped) != 1 {
		t.Errorf("ops %v skipped %v", ops, skipped)
	}
}

func TestAnswersAreAccepted(t *testing.T) {
	req := testutil.Request("1.2.3.4")
	for name, tc := range map[string]struct {
		status int
		resp   *action.Response
		want   string
	}{
		"failed":                         {200, action.Failed("access_denied", "Blocked from your region (KP)."), "FAILED"},
		"failed with refused characters": {200, action.Failed("access_denied", `Blocked, by "policy" a/b #1 — sorry`), "FAILED"},
		"failed with a refused reason":   {200, action.Failed("server_error", "x"), "FAILED"},
		"error":                          {500, action.Error("server_error", "An error, with a comma."), "ERROR"},
		"success without operations":     {200, action.Success(nil), "SUCCESS"},
	} {
		t.Run(name, func(t *testing.T) {
			b, _ := json.Marshal(tc.resp)
			out, err := actiontest.Apply(req, tc.status, "application/json", b)
			if err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if out.Status != tc.want {
				t.Errorf("status %s", out.Status)
			}
		})
	}
}

func TestHeadersBothForms(t *testing.T) {
	for name, in := range map[string]string{
		"array":      `[{"name":"x-client-source-ip","value":["1.2.3.4"]}]`,
		"map":        `{"x-client-source-ip":["1.2.3.4"]}`,
		"map string": `{"x-client-source-ip":"1.2.3.4"}`,
	} {
		var h action.Headers
		if err := json.Unmarshal([]byte(in), &h); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(h) != 1 || h[0].Name != "x-client-source-ip" || len(h[0].Value) != 1 || h[0].Value[0] != "1.2.3.4" {
			t.Errorf("%s: %+v", name, h)
		}
	}
	var h action.Headers
	if err := json.Unmarshal([]byte(`"x"`), &h); err == nil {
		t.Error("a string decoded as headers")
	}
}
