// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package testutil builds policies and requests for tests from YAML, through
// the real compile step.
package testutil

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/iplist"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
)

// Secrets maps "name/key" to a value.
type Secrets map[string]string

// SecretValue implements compiler.SecretReader.
func (s Secrets) SecretValue(_ context.Context, ns, name, key string) ([]byte, error) {
	v, ok := s[name+"/"+key]
	if !ok {
		return nil, &compiler.SecretError{Namespace: ns, Name: name, Key: key, Missing: true, Detail: "no such key"}
	}
	return []byte(v), nil
}

// Lists maps an IP list's name to its networks, as written in a list file;
// a name it does not have is a missing list.
type Lists map[string]string

// IPList implements compiler.ListReader.
func (l Lists) IPList(_ context.Context, ns, name string) (*policy.NetSet, error) {
	text, ok := l[name]
	if !ok {
		return nil, &compiler.ListError{Namespace: ns, Name: name, Detail: "does not exist"}
	}
	var b policy.NetSetBuilder
	if _, err := iplist.Read(strings.NewReader(text), 0, b.Add); err != nil {
		return nil, err
	}
	return b.Build(), nil
}

// Policy compiles a TokenPolicy spec given as YAML. It names no IP list
// that exists: every list a spec names is missing (see PolicyWithLists).
func Policy(t testing.TB, name, specYAML string, secrets Secrets) *policy.Policy {
	t.Helper()
	return PolicyWithLists(t, name, specYAML, secrets, nil)
}

// PolicyWithLists is Policy with the IP lists lists reads.
func PolicyWithLists(t testing.TB, name, specYAML string, secrets Secrets, lists compiler.ListReader) *policy.Policy {
	t.Helper()
	tp := &v1alpha1.TokenPolicy{}
	tp.Name, tp.Namespace = name, "default"
	if err := yaml.UnmarshalStrict([]byte(specYAML), &tp.Spec); err != nil {
		t.Fatalf("spec of %s: %v", name, err)
	}
	p, err := compiler.CompileWith(context.Background(), tp, secrets, lists)
	if !compiler.Served(err) {
		t.Fatalf("compile %s: %v", name, err)
	}
	return p
}

// SamplePolicies compiles every TokenPolicy in a manifest file.
func SamplePolicies(t testing.TB, path string, secrets Secrets) []*policy.Policy {
	t.Helper()
	tps := samples(t, path)
	out := make([]*policy.Policy, 0, len(tps))
	for _, tp := range tps {
		p, err := compiler.Compile(context.Background(), tp, secrets)
		if err != nil {
			t.Fatalf("compile %s: %v", tp.Name, err)
		}
		out = append(out, p)
	}
	return out
}

func samples(t testing.TB, path string) []*v1alpha1.TokenPolicy {
	t.Helper()
	b := readFile(t, path)
	tps, err := standalone.Decode(strings.NewReader(string(b)), path)
	if err != nil {
		t.Fatal(err)
	}
	return tps
}

// Request is a platform call in the shape of the contract's example
// (section 2.3), from the given address, with options applied.
func Request(ip string, opts ...func(*action.Request)) *action.Request {
	r := &action.Request{
		RequestID:  "6783a180f817075313ea3fb01d79c221",
		ActionType: action.ActionType,
		Event: &action.Event{
			Request: action.TokenRequest{
				ClientID: "CCm5aWk4TjKgprfH_fmuMI7edDQa", GrantType: "authorization_code",
				Scopes: []string{"openid", "profile"},
			},
			Tenant: action.Tenant{ID: "2210", Name: tenantName},
			AccessToken: action.AccessToken{
				TokenType: "JWT",
				Scopes:    []string{"openid", "profile"},
				Claims: []action.Claim{
					{Name: "iss", Value: raw(`"https://api.asgardeo.io/t/testwso2/oauth2/token"`)},
					{Name: "client_id", Value: raw(`"CCm5aWk4TjKgprfH_fmuMI7edDQa"`)},
					{Name: "aut", Value: raw(`"APPLICATION_USER"`)},
					{Name: expiresIn, Value: raw(`3600`)},
					{Name: "aud", Value: raw(`["CCm5aWk4TjKgprfH_fmuMI7edDQa"]`)},
					{Name: "subject_type", Value: raw(`"public"`)},
					{Name: "sub", Value: raw(`"e204849c-1a2b"`)},
					{Name: "given_name", Value: raw(`"Alice"`)},
					{Name: "groups", Value: raw(`["admin","dev"]`)},
				},
			},
		},
		AllowedOperations: []action.AllowedOperation{
			{Op: "add", Paths: []string{"/accessToken/claims/", "/accessToken/scopes/", "/accessToken/claims/aud/", "/response/parameters/"}},
			{Op: "remove", Paths: []string{"/accessToken/claims/given_name", "/accessToken/claims/groups/", "/accessToken/scopes/", "/accessToken/claims/aud/", "/response/parameters/refresh_token", "/response/parameters/id_token"}},
			{Op: "replace", Paths: []string{"/accessToken/claims/given_name", "/accessToken/claims/groups/", "/accessToken/scopes/", "/accessToken/claims/aud/", "/accessToken/claims/expires_in", "/refreshToken/claims/expires_in"}},
		},
	}
	if ip != "" {
		r.Event.Request.AdditionalHeaders = action.Headers{{Name: "x-client-source-ip", Value: []string{ip}}}
	}
	for _, o := range opts {
		o(r)
	}
	return r
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// The tenant and claim of the contract's example calls.
const (
	tenantName = "testwso2"
	expiresIn  = "expires_in"
)

// UserRequest is a v1.3 platform call for a user token: Request's call
// plus the user, user store and organizations, email and groups claims, a
// refresh token and the token response's parameters. Options apply before
// allowedOperations are built the platform's way from the event
// (actiontest.AllowedOperations), so an option that changes claims gets
// the paths the platform would offer.
func UserRequest(ip string, opts ...func(*action.Request)) *action.Request {
	r := Request(ip)
	root := &action.Organization{ID: "f2604b90-0001", Name: tenantName, Handle: tenantName, Depth: 0}
	ev := r.Event
	ev.Organization = root
	ev.User = &action.User{ID: "e204849c-1a2b", Organization: root}
	ev.UserStore = &action.UserStore{ID: "REVGQVVMVA==", Name: "DEFAULT"}
	ev.AccessToken.Claims = append(ev.AccessToken.Claims,
		action.Claim{Name: "email", Value: raw(`"alice@example.com"`)},
		action.Claim{Name: "roles", Value: raw(`["viewer"]`)})
	ev.RefreshToken = &action.RefreshToken{Claims: []action.Claim{{Name: expiresIn, Value: raw(`86400`)}}}
	ev.Response = &action.TokenResponse{Parameters: []string{"access_token", "token_type", "scope", "expires_in", "refresh_token", "id_token"}}
	for _, o := range opts {
		o(r)
	}
	r.AllowedOperations = actiontest.AllowedOperations(r.Event)
	return r
}

// ApplicationRequest is a client_credentials call as the platform sends it:
// no user, user store, requested scopes or refresh token; sub is the client.
func ApplicationRequest(ip string) *action.Request {
	r := Request(ip)
	ev := r.Event
	ev.Request.GrantType = "client_credentials"
	ev.Request.Scopes = nil
	ev.Organization = &action.Organization{ID: "f2604b90-0001", Name: tenantName, Handle: tenantName}
	ev.AccessToken.Claims = []action.Claim{
		{Name: "iss", Value: raw(`"https://api.asgardeo.io/t/testwso2/oauth2/token"`)},
		{Name: "client_id", Value: raw(`"CCm5aWk4TjKgprfH_fmuMI7edDQa"`)},
		{Name: "aut", Value: raw(`"APPLICATION"`)},
		{Name: expiresIn, Value: raw(`3600`)},
		{Name: "aud", Value: raw(`["CCm5aWk4TjKgprfH_fmuMI7edDQa"]`)},
		{Name: "sub", Value: raw(`"CCm5aWk4TjKgprfH_fmuMI7edDQa"`)},
	}
	r.AllowedOperations = actiontest.AllowedOperations(ev)
	return r
}

// JSON encodes v.
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
