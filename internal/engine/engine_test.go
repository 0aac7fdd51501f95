// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

const apiKey = "test-key"

var secrets = testutil.Secrets{"abuseipdb/apiKey": apiKey}

type harness struct {
	eng  *engine.Engine
	fake *abuseipdbtest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db, err := geoip.OpenBytes(geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	if err != nil {
		t.Fatal(err)
	}
	asn, err := geoip.OpenASNBytes(geoiptest.ASN(t, "ip-location-db-ASN", geoiptest.SeedASNs))
	if err != nil {
		t.Fatal(err)
	}
	fake := abuseipdbtest.New(t, apiKey, abuseipdbtest.SeedScores)
	c, err := abuseipdb.New(abuseipdb.Options{BaseURL: fake.URL(), UpstreamTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{
		eng:  &engine.Engine{Geo: geoip.New(db), ASN: geoip.NewASN(asn), Reputation: c, ReputationBudget: 300 * time.Millisecond},
		fake: fake,
	}
}

func call(ip string, at string) *engine.Call {
	now, err := time.Parse(time.RFC3339, at)
	if err != nil {
		panic(err)
	}
	c := &engine.Call{Tenant: "testwso2", ClientID: "app", GrantType: "authorization_code", Now: now}
	if ip != "" {
		c.Headers = []engine.Header{{Name: "x-client-source-ip", Value: []string{ip}}}
	}
	return c
}

const (
	workHours  = "2026-11-26T10:00:00Z" // Thursday
	night      = "2026-11-26T20:00:00Z"
	seedPolicy = "config/samples/asgardeo-use-case.yaml"
)

// The seed use case's four test addresses against the sample policy
// (contract section 9), in and out of office hours.
func TestSeedUseCase(t *testing.T) {
	snap := policy.NewSnapshot(testutil.SamplePolicies(t, seedPolicy, secrets))
	cases := map[string]struct {
		ip, at      string
		deny        bool
		cause       policy.Cause
		description string
		expiresIn   int64
		country     string
		upstream    int64
	}{
		"KP region is blocked before AbuseIPDB is asked": {ip: "175.45.176.0", at: workHours, deny: true,
			cause: policy.CauseBlockedCountry, description: "Access token issuance is blocked from your region (KP).", country: "KP"},
		"score above 75 is blocked": {ip: "103.159.198.178", at: workHours, deny: true,
			cause: policy.CauseHighRisk, description: "Access token issuance is blocked due to high IP risk.", country: "ID", upstream: 1},
		"score 25 to 75 in office hours gets 900 s": {ip: "14.102.69.58", at: workHours, expiresIn: 900, country: "IN", upstream: 1},
		"score 25 to 75 out of hours gets 300 s":    {ip: "14.102.69.58", at: night, expiresIn: 300, country: "IN", upstream: 1},
		"score below 25 is unchanged":               {ip: "205.210.31.51", at: night, country: "US", upstream: 1},
		"no client IP is denied": {ip: "", at: workHours, deny: true, cause: policy.CauseMissingClientIP,
			description: "Request denied: No client IP address provided."},
		"a value that is not an IP is denied": {ip: "not-an-ip", at: workHours, deny: true, cause: policy.CauseMissingClientIP,
			description: "Request denied: No client IP address provided."},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			d := h.eng.Decide(context.Background(), snap, call(tc.ip, tc.at))
			if d.Deny != tc.deny || d.Denial.Cause != tc.cause || d.Denial.Description != tc.description {
				t.Fatalf("got deny=%v cause=%v %q, want deny=%v cause=%v %q", d.Deny, d.Denial.Cause, d.Denial.Description, tc.deny, tc.cause, tc.description)
			}
			if d.ExpiresIn != tc.expiresIn {
				t.Errorf("expiresIn = %d, want %d", d.ExpiresIn, tc.expiresIn)
			}
			if d.Country != tc.country {
				t.Errorf("country = %q, want %q", d.Country, tc.country)
			}
			if got := h.fake.Calls(); got != tc.upstream {
				t.Errorf("AbuseIPDB calls = %d, want %d", got, tc.upstream)
			}
			if !tc.deny {
				if len(d.Claims) != 1 || d.Claims[0].Name != "country" || string(d.Claims[0].Value) != `"`+tc.country+`"` {
					t.Errorf("claims = %v, want the country claim", d.Claims)
				}
			}
		})
	}
}

func TestRules(t *testing.T) {
	cases := map[string]struct {
		specs    map[string]string
		call     *engine.Call
		mutate   func(*harness)
		deny     bool
		cause    policy.Cause
		policy   string
		expires  int64
		claims   []string
		addScope []string
		rmScope  []string
		upstream int64
	}{
		"header name matches without regard to case": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`},
			call: func() *engine.Call {
				c := call("", workHours)
				c.Headers = []engine.Header{{Name: "X-Client-Source-IP", Value: []string{"175.45.176.9"}}}
				return c
			}(),
			deny: true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"a custom header and an X-Forwarded-For style list": {
			specs: map[string]string{"p": `{clientIP: {header: true-client-ip}, geo: {blockedCountries: [KP]}}`},
			call: func() *engine.Call {
				c := call("205.210.31.51", workHours)
				c.Headers = append(c.Headers, engine.Header{Name: "true-client-ip", Value: []string{"175.45.176.9, 10.0.0.1"}})
				return c
			}(),
			deny: true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"a header name with U+017F LATIN SMALL LETTER LONG S is another header": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`},
			call: func() *engine.Call {
				c := call("", workHours)
				c.Headers = []engine.Header{{Name: "x-client-\u017fource-ip", Value: []string{"205.210.31.51"}}}
				return c
			}(),
			deny: true, cause: policy.CauseMissingClientIP, policy: "default/p",
		},
		"a header name with U+212A KELVIN SIGN is another header": {
			specs: map[string]string{"p": `{clientIP: {header: x-akamai-client-ip}, geo: {blockedCountries: [KP]}}`},
			call: func() *engine.Call {
				c := call("", workHours)
				c.Headers = []engine.Header{
					{Name: "x-a\u212aamai-client-ip", Value: []string{"205.210.31.51"}},
					{Name: "X-AKAMAI-CLIENT-IP", Value: []string{"175.45.176.9"}},
				}
				return c
			}(),
			deny: true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"IPv4-mapped IPv6 is looked up as IPv4": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`},
			call:  call("::ffff:175.45.176.9", workHours),
			deny:  true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"missing IP with onMissing Allow skips the checks but shapes the token": {
			specs:   map[string]string{"p": `{clientIP: {onMissing: Allow}, geo: {allowedCountries: [LK]}, token: {maxExpiresInSeconds: 600}}`},
			call:    call("", workHours),
			expires: 600,
		},
		"missing IP with onMissing Allow still denies outside access hours": {
			specs: map[string]string{"p": `{clientIP: {onMissing: Allow}, geo: {blockedCountries: [KP]},
				accessHours: {timeZone: UTC, windows: [{start: "09:00", end: "17:00"}], outside: {action: Deny}}}`},
			call: call("", night),
			deny: true, cause: policy.CauseOutsideAccessHours, policy: "default/p",
		},
		"missing IP with onMissing Allow still shortens outside access hours": {
			specs: map[string]string{"p": `{clientIP: {onMissing: Allow},
				accessHours: {timeZone: UTC, windows: [{start: "09:00", end: "17:00"}], outside: {action: Shorten, expiresInSeconds: 300}}}`},
			call:    call("", night),
			expires: 300,
		},
		"missing IP: hours only for risky calls do not apply, no risk was judged": {
			specs: map[string]string{"p": `{clientIP: {onMissing: Allow}, abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, shorten: {scoreAtLeast: 25, expiresInSeconds: 900}},
				accessHours: {timeZone: UTC, windows: [{start: "09:00", end: "17:00"}], outside: {action: Deny}, onlyWhenRisky: true}}`},
			call: call("", night),
		},
		"NAT64 well-known prefix is judged by its IPv4 for networks": {
			specs: map[string]string{"p": `networks: {blockedCIDRs: [175.45.176.0/24]}`},
			call:  call("64:ff9b::175.45.176.1", workHours),
			deny:  true, cause: policy.CauseBlockedNetwork, policy: "default/p",
		},
		"NAT64 well-known prefix is judged by its IPv4 for countries": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`},
			call:  call("64:ff9b::175.45.176.1", workHours),
			deny:  true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"NAT64 in hexadecimal with a port": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`},
			call:  call("[64:ff9b::af2d:b001]:443", workHours),
			deny:  true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"6to4 is judged by its IPv4": {
			specs: map[string]string{"p": `networks: {blockedCIDRs: [175.45.176.0/24]}`},
			call:  call("2002:af2d:b001::1", workHours),
			deny:  true, cause: policy.CauseBlockedNetwork, policy: "default/p",
		},
		"Teredo is judged by its client's IPv4": {
			specs: map[string]string{"p": `networks: {blockedCIDRs: [175.45.176.0/24]}`},
			call:  call("2001:0:4136:e378:8000:63bf:50d2:4ffe", workHours),
			deny:  true, cause: policy.CauseBlockedNetwork, policy: "default/p",
		},
		// MaxMind-format databases alias 2001::/32 to the IPv4 tree by bits
		// 32 to 63, the Teredo server (here 205.210.31.1, US), not the client.
		"Teredo's country is its client's, not its server's": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`},
			call:  call("2001:0:cdd2:1f01:8000:63bf:50d2:4ffe", workHours),
			deny:  true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"a blocked IPv6 network still matches the address as sent": {
			specs: map[string]string{"p": `networks: {blockedCIDRs: ["64:ff9b::/96"]}`},
			call:  call("64:ff9b::205.210.31.51", workHours),
			deny:  true, cause: policy.CauseBlockedNetwork, policy: "default/p",
		},
		"a trusted IPv6 network does not trust an embedded IPv4": {
			specs: map[string]string{"p": `{networks: {trustedCIDRs: ["64:ff9b::/96"]}, geo: {blockedCountries: [KP]}}`},
			call:  call("64:ff9b::175.45.176.1", workHours),
			deny:  true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"a trusted IPv4 network trusts it behind NAT64": {
			specs: map[string]string{"p": `{networks: {trustedCIDRs: [175.45.176.0/24]}, geo: {blockedCountries: [KP]}}`},
			call:  call("64:ff9b::175.45.176.1", workHours),
		},
		"the local-use NAT64 prefix is not translated": {
			specs: map[string]string{"p": `networks: {blockedCIDRs: [175.45.176.0/24]}`},
			call:  call("64:ff9b:1::175.45.176.1", workHours),
		},
		"blocked network is denied": {
			specs: map[string]string{"p": `networks: {blockedCIDRs: [205.210.31.0/24]}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseBlockedNetwork, policy: "default/p",
		},
		"IPv6 blocked network": {
			specs: map[string]string{"p": `networks: {blockedCIDRs: ["2001:db8:1::/48"]}`},
			call:  call("2001:db8:1::5", workHours),
			deny:  true, cause: policy.CauseBlockedNetwork, policy: "default/p",
		},
		"trusted network skips geo and AbuseIPDB": {
			specs: map[string]string{"p": `{networks: {trustedCIDRs: [175.45.176.0/22]}, geo: {blockedCountries: [KP]},
				abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, deny: {scoreAbove: 0}}}`},
			call: call("175.45.176.9", workHours),
		},
		"blocked wins over trusted": {
			specs: map[string]string{"p": `networks: {trustedCIDRs: [205.210.0.0/16], blockedCIDRs: [205.210.31.0/24]}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseBlockedNetwork, policy: "default/p",
		},
		"allow list lets a listed country through": {
			specs: map[string]string{"p": `geo: {allowedCountries: [IN, LK]}`},
			call:  call("14.102.69.58", workHours),
		},
		"allow list denies other countries": {
			specs: map[string]string{"p": `geo: {allowedCountries: [IN, LK]}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"allow list denies an unknown country by default": {
			specs: map[string]string{"p": `geo: {allowedCountries: [IN]}`},
			call:  call("8.8.8.8", workHours),
			deny:  true, cause: policy.CauseUnknownCountry, policy: "default/p",
		},
		"block list allows an unknown country by default": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`},
			call:  call("8.8.8.8", workHours),
		},
		"unknown country denied when asked": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP], onUnknownCountry: Deny}`},
			call:  call("8.8.8.8", workHours),
			deny:  true, cause: policy.CauseUnknownCountry, policy: "default/p",
		},
		"AbuseIPDB failure with Deny": {
			specs:  map[string]string{"p": `abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, deny: {scoreAbove: 75}, onFailure: {action: Deny}}`},
			mutate: func(h *harness) { h.fake.SetMode(abuseipdbtest.ServerError) },
			call:   call("205.210.31.51", workHours),
			deny:   true, cause: policy.CauseReputationUnavailable, policy: "default/p", upstream: 1,
		},
		"AbuseIPDB failure with Allow": {
			specs:    map[string]string{"p": `abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, deny: {scoreAbove: 75}, onFailure: {action: Allow}}`},
			mutate:   func(h *harness) { h.fake.SetMode(abuseipdbtest.ServerError) },
			call:     call("205.210.31.51", workHours),
			upstream: 1,
		},
		"AbuseIPDB failure with Shorten counts as risky for access hours": {
			specs: map[string]string{"p": `{abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, deny: {scoreAbove: 75}, onFailure: {action: Shorten, expiresInSeconds: 600}},
				accessHours: {windows: [{start: "09:00", end: "17:00"}], outside: {action: Shorten, expiresInSeconds: 120}, onlyWhenRisky: true}}`},
			mutate:   func(h *harness) { h.fake.SetMode(abuseipdbtest.ServerError) },
			call:     call("205.210.31.51", night),
			expires:  120,
			upstream: 1,
		},
		"a rejected API key is a failure": {
			specs: map[string]string{"p": `abuseIPDB: {apiKeySecretRef: {name: other, key: apiKey}, deny: {scoreAbove: 75}}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseReputationUnavailable, policy: "default/p", upstream: 1,
		},
		"a missing API key is a failure without an upstream call": {
			specs: map[string]string{"p": `abuseIPDB: {apiKeySecretRef: {name: missing, key: apiKey}, deny: {scoreAbove: 75}}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseReputationUnavailable, policy: "default/p",
		},
		"access hours deny outside the window": {
			specs: map[string]string{"p": `accessHours: {timeZone: Asia/Colombo, windows: [{days: [Monday, Tuesday, Wednesday, Thursday, Friday], start: "08:00", end: "19:00"}], outside: {action: Deny}}`},
			call:  call("205.210.31.51", "2026-11-26T14:00:00Z"), // 19:30 in Colombo
			deny:  true, cause: policy.CauseOutsideAccessHours, policy: "default/p",
		},
		"access hours allow inside the window, in the policy's time zone": {
			specs: map[string]string{"p": `accessHours: {timeZone: Asia/Colombo, windows: [{days: [Thursday], start: "08:00", end: "19:00"}], outside: {action: Deny}}`},
			call:  call("205.210.31.51", "2026-11-26T13:00:00Z"), // 18:30 Thursday in Colombo
		},
		"access hours on the wrong day": {
			specs: map[string]string{"p": `accessHours: {windows: [{days: [Saturday, Sunday], start: "00:00", end: "24:00"}], outside: {action: Deny}}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseOutsideAccessHours, policy: "default/p",
		},
		"audit policy decides but does not deny": {
			specs: map[string]string{"p": `{mode: Audit, geo: {blockedCountries: [US]}}`},
			call:  call("205.210.31.51", workHours),
		},
		"first enforcing denial by name wins": {
			specs: map[string]string{
				"b-geo": `geo: {blockedCountries: [US]}`,
				"a-net": `networks: {blockedCIDRs: [205.210.31.0/24]}`,
			},
			call: call("205.210.31.51", workHours),
			deny: true, cause: policy.CauseBlockedNetwork, policy: "default/a-net",
		},
		"lifetimes take the minimum and changes merge; removal wins": {
			specs: map[string]string{
				"a": `token: {maxExpiresInSeconds: 900, scopes: {add: [read, write]}, claims: [{name: tier, string: gold}]}`,
				"b": `token: {maxExpiresInSeconds: 600, scopes: {remove: [write, admin]}, claims: [{name: tier, string: silver}, {name: ratio, number: "1.5"}]}`,
			},
			call:     call("205.210.31.51", workHours),
			expires:  600,
			claims:   []string{`tier="gold"`, `ratio=1.5`},
			addScope: []string{"read"},
			rmScope:  []string{"write", "admin"},
		},
		"match selects by tenant, client and grant type": {
			specs: map[string]string{
				"other-tenant": `{match: {tenants: [other]}, geo: {blockedCountries: [US]}}`,
				"other-client": `{match: {clientIDs: [other]}, geo: {blockedCountries: [US]}}`,
				"other-grant":  `{match: {grantTypes: [client_credentials]}, geo: {blockedCountries: [US]}}`,
				"this-call":    `{match: {tenants: [testwso2], clientIDs: [app], grantTypes: [authorization_code]}, token: {maxExpiresInSeconds: 60}}`,
			},
			call:    call("205.210.31.51", workHours),
			expires: 60,
		},
		"a country claim without geo rules, from a trusted network": {
			specs:  map[string]string{"p": `{networks: {trustedCIDRs: [14.102.64.0/19]}, token: {decisionClaims: {country: geo_country}}}`},
			call:   call("14.102.69.58", workHours),
			claims: []string{`geo_country="IN"`},
		},
		"a missing blocked list denies calls with an address": {
			specs: map[string]string{"p": `{networks: {blockedLists: [tor-exits]}, geo: {blockedCountries: [KP]}}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseListUnavailable, policy: "default/p",
		},
		"a missing blocked list wins over a trusted network": {
			specs: map[string]string{"p": `{networks: {trustedCIDRs: [205.210.31.0/24], blockedLists: [tor-exits]}}`},
			call:  call("205.210.31.51", workHours),
			deny:  true, cause: policy.CauseListUnavailable, policy: "default/p",
		},
		"a missing blocked list leaves calls without an address to onMissing": {
			specs: map[string]string{"p": `{clientIP: {onMissing: Allow}, networks: {blockedLists: [tor-exits]}}`},
			call:  call("", workHours),
		},
		"a missing trusted list trusts nothing": {
			specs: map[string]string{"p": `{networks: {trustedLists: [office]}, geo: {blockedCountries: [KP]}}`},
			call:  call("175.45.176.9", workHours),
			deny:  true, cause: policy.CauseBlockedCountry, policy: "default/p",
		},
		"decision claims stamp country and score": {
			specs:    map[string]string{"p": `{abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}}, geo: {blockedCountries: [KP]}, token: {decisionClaims: {country: geo_country, abuseScore: ip_risk}}}`},
			call:     call("14.102.69.58", workHours),
			claims:   []string{`geo_country="IN"`, `ip_risk=50`},
			upstream: 1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if tc.mutate != nil {
				tc.mutate(h)
			}
			var ps []*policy.Policy
			for n, s := range tc.specs {
				ps = append(ps, testutil.Policy(t, n, s, testutil.Secrets{"abuseipdb/apiKey": apiKey, "other/apiKey": "wrong"}))
			}
			d := h.eng.Decide(context.Background(), policy.NewSnapshot(ps), tc.call)
			if d.Deny != tc.deny || d.Denial.Cause != tc.cause || d.Denial.Policy != tc.policy {
				t.Fatalf("got deny=%v cause=%v policy=%q, want deny=%v cause=%v policy=%q (results %+v)",
					d.Deny, d.Denial.Cause, d.Denial.Policy, tc.deny, tc.cause, tc.policy, d.Policies)
			}
			if d.ExpiresIn != tc.expires {
				t.Errorf("expiresIn = %d, want %d", d.ExpiresIn, tc.expires)
			}
			var claims []string
			for _, c := range d.Claims {
				claims = append(claims, c.Name+"="+string(c.Value))
			}
			if !equal(claims, tc.claims) || !equal(d.AddScopes, tc.addScope) || !equal(d.RemoveScopes, tc.rmScope) {
				t.Errorf("claims %v add %v remove %v, want %v %v %v", claims, d.AddScopes, d.RemoveScopes, tc.claims, tc.addScope, tc.rmScope)
			}
			if got := h.fake.Calls(); got != tc.upstream {
				t.Errorf("AbuseIPDB calls = %d, want %d", got, tc.upstream)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// An Audit policy is recorded with what it would have done.
func TestAuditRecorded(t *testing.T) {
	h := newHarness(t)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `{mode: Audit, geo: {blockedCountries: [US]}, token: {maxExpiresInSeconds: 5}}`, nil)})
	d := h.eng.Decide(context.Background(), snap, call("205.210.31.51", workHours))
	if d.Deny || d.ExpiresIn != 0 || len(d.Policies) != 1 {
		t.Fatalf("audit changed the outcome: %+v", d)
	}
	r := d.Policies[0]
	if r.Mode != policy.Audit || r.Action != policy.Deny || r.Cause != policy.CauseBlockedCountry {
		t.Errorf("audit result = %+v, want a recorded Deny for blocked_country", r)
	}
}

// A hanging AbuseIPDB costs at most the budget.
func TestReputationBudget(t *testing.T) {
	h := newHarness(t)
	h.fake.SetMode(abuseipdbtest.Hang)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, onFailure: {action: Shorten, expiresInSeconds: 60}}`, secrets)})
	start := time.Now()
	d := h.eng.Decide(context.Background(), snap, call("205.210.31.51", workHours))
	took := time.Since(start)
	if d.Deny || d.ExpiresIn != 60 || abuseipdb.KindOf(d.ScoreError) != abuseipdb.KindTimeout {
		t.Fatalf("got %+v (err %v), want a 60 s token after a timeout", d, d.ScoreError)
	}
	if took > h.eng.ReputationBudget+500*time.Millisecond {
		t.Errorf("took %s with a %s budget", took, h.eng.ReputationBudget)
	}
}

func TestParseClientIP(t *testing.T) {
	for in, want := range map[string]string{
		"14.102.69.58":             "14.102.69.58",
		" 14.102.69.58 , 10.0.0.1": "14.102.69.58",
		"14.102.69.58:443":         "14.102.69.58",
		"[2001:db8::1]:443":        "2001:db8::1",
		"::ffff:14.102.69.58":      "14.102.69.58",
		// NAT64 well-known prefix (RFC 6052): the last 32 bits.
		"64:ff9b::175.45.176.1":     "175.45.176.1",
		"64:ff9b::af2d:b001":        "175.45.176.1",
		"[64:ff9b::af2d:b001]:8443": "175.45.176.1",
		// 6to4 (RFC 3056): bits 16 to 47.
		"2002:af2d:b001::1":           "175.45.176.1",
		"2002:c000:022d:1::beef":      "192.0.2.45",
		"[2002:af2d:b001:ffff::]:443": "175.45.176.1",
		// Teredo (RFC 4380): the client's IPv4 is the last 32 bits inverted;
		// the second case is the RFC's own example.
		"2001:0:4136:e378:8000:63bf:50d2:4ffe": "175.45.176.1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2": "192.0.2.45",
		// Not embeddings: kept as sent.
		"64:ff9b:1::175.45.176.1": "64:ff9b:1::af2d:b001", // local-use NAT64 (RFC 8215): the embedding depends on the operator's prefix length
		"64:ff9b::1:af2d:b001":    "64:ff9b::1:af2d:b001", // outside 64:ff9b::/96
		"2001:db8::af2d:b001":     "2001:db8::af2d:b001",
		"2001:1::50d2:4ffe":       "2001:1::50d2:4ffe", // outside 2001::/32
		"::175.45.176.1":          "::af2d:b001",       // IPv4-compatible, deprecated (RFC 4291)
		"fe80::1%eth0":            "fe80::1",
		"":                        "",
		"example.com":             "",
		"999.1.1.1":               "",
	} {
		a, ok := engine.ParseClientIP(in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != want {
			t.Errorf("ParseClientIP(%q) = %q, want %q", in, got, want)
		}
		if ok && a != netip.MustParseAddr(want) {
			t.Errorf("ParseClientIP(%q) address differs", in)
		}
	}
}

// Header names, auth schemes and media types are ASCII: only ASCII letters
// fold (issue 7, item 10).
func TestEqualFoldASCII(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"x-client-source-ip", "x-client-source-ip", true},
		{"X-Client-Source-IP", "x-client-source-ip", true},
		{"Bearer ", "bEARER ", true},
		{"", "", true},
		{"x-client-\u017fource-ip", "x-client-source-ip", false}, // U+017F LATIN SMALL LETTER LONG S
		{"x-client-\u017fource-ip", "X-CLIENT-SOURCE-IP", false},
		{"\u212a", "k", false}, // U+212A KELVIN SIGN
		{"\u212a", "K", false},
		{"x-a\u212aamai-client-ip", "x-akamai-client-ip", false},
		{"x-client-source-ip", "x-client-source-i", false},
		{"@", "`", false}, // one below 'A' and one below 'a'
		{"[", "{", false}, // one above 'Z' and one above 'z'
		{"\u00c4", "\u00e4", false},
		{"\u00c4", "\u00c4", true}, // non-ASCII bytes match only themselves
	} {
		if got := engine.EqualFoldASCII(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := engine.EqualFoldASCII(tc.b, tc.a); got != tc.want {
			t.Errorf("EqualFoldASCII(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

// A decision on an address with an embedded IPv4 explains both: the IPv4 it
// was judged by, and the address as sent (issue 7, item 11).
func TestEmbeddedIPv4Explained(t *testing.T) {
	h := newHarness(t)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `geo: {blockedCountries: [KP]}`, nil)})
	d := h.eng.Decide(context.Background(), snap, call("64:ff9b::175.45.176.1", workHours))
	if !d.Deny || d.Country != "KP" || d.IP != netip.MustParseAddr("175.45.176.1") || d.SentIP != netip.MustParseAddr("64:ff9b::af2d:b001") {
		t.Errorf("got deny=%v country=%q ip=%s sent=%s", d.Deny, d.Country, d.IP, d.SentIP)
	}
	d = h.eng.Decide(context.Background(), snap, call("205.210.31.51", workHours))
	if d.Deny || d.IP != netip.MustParseAddr("205.210.31.51") || d.SentIP.IsValid() {
		t.Errorf("plain IPv4: got deny=%v ip=%s sent=%s", d.Deny, d.IP, d.SentIP)
	}
}
