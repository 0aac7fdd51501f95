// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/policy"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// ASN rules over HTTP, against the test ASN database (geoiptest.SeedASNs):
// exact answers, each checked by the platform model, with the ASN claim a
// JSON number in the token the platform issues.
func TestASNOverHTTP(t *testing.T) {
	const rules = `
asn: {allowedASNs: [18002, 64502, 131279]}
token: {decisionClaims: {asn: client_asn, country: country}}
denial: {descriptions: {blockedASN: Your network provider is not allowed., unknownASN: Your network provider is unknown.}}
`
	cases := map[string]struct {
		ip    string
		spec  string
		want  string
		claim string
	}{
		"an allowed ASN gets the claim": {"14.102.69.58", rules,
			`{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"IN"}},` +
				`{"op":"add","path":"/accessToken/claims/-","value":{"name":"client_asn","value":18002}}]}`, "18002"},
		"an allowed IPv6 ASN": {"2001:db8:1::7", rules,
			`{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"DE"}},` +
				`{"op":"add","path":"/accessToken/claims/-","value":{"name":"client_asn","value":64502}}]}`, "64502"},
		"an IPv4-mapped address": {"::ffff:14.102.69.58", rules,
			`{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"IN"}},` +
				`{"op":"add","path":"/accessToken/claims/-","value":{"name":"client_asn","value":18002}}]}`, "18002"},
		"an ASN not in the allow list": {"205.210.31.51", rules,
			`{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Your network provider is not allowed."}`, ""},
		"an unknown ASN": {"192.0.2.1", rules,
			`{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Your network provider is unknown."}`, ""},
		"an unknown ASN allowed gets no ASN claim": {"192.0.2.1", `{asn: {blockedASNs: [131279]}, token: {decisionClaims: {asn: client_asn}}}`,
			`{"actionStatus":"SUCCESS"}`, ""},
		"a blocked ASN, default description": {"2a02:6b8::1", `asn: {blockedASNs: [13238]}`,
			`{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your network provider."}`, ""},
		"an unknown ASN denied, default description": {"100.64.0.1", `asn: {blockedASNs: [13238], onUnknownASN: Deny}`,
			`{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked because your network provider could not be determined."}`, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, []*policy.Policy{tu.Policy(t, "asn", tc.spec, nil)}, envOptions{})
			req := tu.Request(tc.ip)
			r := post(t, e.url, "application/json", tu.JSON(t, req))
			if r.status != 200 || strings.TrimSpace(string(r.body)) != tc.want {
				t.Fatalf("got %d %s\nwant 200 %s", r.status, r.body, tc.want)
			}
			out, err := actiontest.Apply(req, r.status, r.contentType, r.body)
			if err != nil {
				t.Fatalf("the platform would not accept it: %v", err)
			}
			v, ok := out.Token.Claim("client_asn")
			if tc.claim == "" && ok || tc.claim != "" && string(v) != tc.claim {
				t.Errorf("client_asn claim = %s (%v), want %q", v, ok, tc.claim)
			}
		})
	}
}

// The hosting-networks sample over HTTP, and the decision log names the ASN.
func TestHostingNetworksSampleOverHTTP(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{})
	workforce := func(r *action.Request) { r.Event.Request.ClientID = "workforce-portal" }
	for ip, want := range map[string]string{
		"175.45.176.9": `{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"client_asn","value":131279}}]}`,
		"192.0.2.1":    `{"actionStatus":"SUCCESS"}`,
	} {
		e := newEnv(t, tu.SamplePolicies(t, "config/samples/hosting-networks.yaml", nil), envOptions{})
		e.handler.Log = log
		req := tu.Request(ip, workforce)
		r := post(t, e.url, "application/json", tu.JSON(t, req))
		if r.status != 200 || strings.TrimSpace(string(r.body)) != want {
			t.Fatalf("%s: got %d %s\nwant 200 %s", ip, r.status, r.body, want)
		}
		if _, err := actiontest.Apply(req, r.status, r.contentType, r.body); err != nil {
			t.Errorf("%s: the platform would not accept it: %v", ip, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 || !strings.Contains(lines[0]+lines[1], `"ip"="175.45.176.9"`) {
		t.Fatalf("log lines: %q", lines)
	}
	for _, l := range lines {
		if strings.Contains(l, `"ip"="175.45.176.9"`) != strings.Contains(l, `"asn"=131279`) {
			t.Errorf("the ASN is logged when known, not otherwise: %s", l)
		}
	}
}
