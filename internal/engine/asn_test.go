// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// countingASN counts the lookups the engine makes.
type countingASN struct {
	r engine.ASNResolver
	n int
}

func (c *countingASN) ASN(ip netip.Addr) uint32 {
	c.n++
	return c.r.ASN(ip)
}

// ASN rules against an ASN database written in the test
// (geoiptest.SeedASNs): 175.45.176.0/22 is AS131279, 14.102.64.0/19
// AS18002, 205.210.31.0/24 AS396982, 2a02:6b8::/32 AS13238; 192.0.2.1 is
// in no autonomous system the database knows.
func TestASNRules(t *testing.T) {
	const abuse = `abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, deny: {scoreAbove: 0}}`
	cases := map[string]struct {
		specs       map[string]string
		ip          string
		noDatabase  bool
		deny        bool
		cause       policy.Cause
		description string
		asn         uint32
		claims      []string
		lookups     int
		upstream    int64
	}{
		"a blocked ASN is denied": {
			specs: map[string]string{"p": `asn: {blockedASNs: [64500, 131279]}`}, ip: "175.45.176.9",
			deny: true, cause: policy.CauseBlockedASN, description: "Access token issuance is blocked from your network provider.",
			asn: 131279, lookups: 1,
		},
		"a block list lets other ASNs through": {
			specs: map[string]string{"p": `asn: {blockedASNs: [131279]}`}, ip: "14.102.69.58", asn: 18002, lookups: 1,
		},
		"an allow list lets a listed ASN through": {
			specs: map[string]string{"p": `asn: {allowedASNs: [18002, 64500]}`}, ip: "14.102.69.58", asn: 18002, lookups: 1,
		},
		"an allow list denies other ASNs": {
			specs: map[string]string{"p": `asn: {allowedASNs: [18002, 64500]}`}, ip: "205.210.31.51",
			deny: true, cause: policy.CauseBlockedASN, description: "Access token issuance is blocked from your network provider.",
			asn: 396982, lookups: 1,
		},
		"an allow list denies an unknown ASN by default": {
			specs: map[string]string{"p": `asn: {allowedASNs: [18002]}`}, ip: "192.0.2.1",
			deny: true, cause: policy.CauseUnknownASN, description: "Access token issuance is blocked because your network provider could not be determined.",
			lookups: 1,
		},
		"an allow list with onUnknownASN Allow lets an unknown ASN through": {
			specs: map[string]string{"p": `asn: {allowedASNs: [18002], onUnknownASN: Allow}`}, ip: "192.0.2.1", lookups: 1,
		},
		"a block list allows an unknown ASN by default": {
			specs: map[string]string{"p": `asn: {blockedASNs: [131279]}`}, ip: "192.0.2.1", lookups: 1,
		},
		"a block list with onUnknownASN Deny denies an unknown ASN": {
			specs: map[string]string{"p": `asn: {blockedASNs: [131279], onUnknownASN: Deny}`}, ip: "192.0.2.1",
			deny: true, cause: policy.CauseUnknownASN, description: "Access token issuance is blocked because your network provider could not be determined.",
			lookups: 1,
		},
		"without an ASN database an allow list denies": {
			specs: map[string]string{"p": `asn: {allowedASNs: [18002]}`}, ip: "14.102.69.58", noDatabase: true,
			deny: true, cause: policy.CauseUnknownASN, description: "Access token issuance is blocked because your network provider could not be determined.",
		},
		"without an ASN database a block list allows": {
			specs: map[string]string{"p": `asn: {blockedASNs: [131279]}`}, ip: "175.45.176.9", noDatabase: true,
		},
		"IPv6": {
			specs: map[string]string{"p": `asn: {blockedASNs: [13238]}`}, ip: "2a02:6b8:c0b::1",
			deny: true, cause: policy.CauseBlockedASN, description: "Access token issuance is blocked from your network provider.",
			asn: 13238, lookups: 1,
		},
		"IPv4-mapped IPv6 is judged as IPv4": {
			specs: map[string]string{"p": `asn: {blockedASNs: [131279]}`}, ip: "::ffff:175.45.176.9",
			deny: true, cause: policy.CauseBlockedASN, description: "Access token issuance is blocked from your network provider.",
			asn: 131279, lookups: 1,
		},
		"an IPv4 in the NAT64 prefix is judged by that IPv4": {
			specs: map[string]string{"p": `asn: {blockedASNs: [131279]}`}, ip: "64:ff9b::175.45.176.9",
			deny: true, cause: policy.CauseBlockedASN, description: "Access token issuance is blocked from your network provider.",
			asn: 131279, lookups: 1,
		},
		"a trusted network skips the ASN check but keeps the claim": {
			specs: map[string]string{"p": `{networks: {trustedCIDRs: [175.45.176.0/22]}, asn: {blockedASNs: [131279]}, token: {decisionClaims: {asn: as_number}}}`},
			ip:    "175.45.176.9", asn: 131279, claims: []string{"as_number=131279"}, lookups: 1,
		},
		"a blocked network is denied before the ASN is looked up": {
			specs: map[string]string{"p": `{networks: {blockedCIDRs: [175.45.176.0/22]}, asn: {blockedASNs: [131279]}}`}, ip: "175.45.176.9",
			deny: true, cause: policy.CauseBlockedNetwork, description: "Access token issuance is blocked from your network.",
		},
		"the country is checked first": {
			specs: map[string]string{"p": `{geo: {blockedCountries: [KP]}, asn: {blockedASNs: [131279]}}`}, ip: "175.45.176.9",
			deny: true, cause: policy.CauseBlockedCountry, description: "Access token issuance is blocked from your region (KP).",
			asn: 131279, lookups: 1,
		},
		"the ASN is checked before AbuseIPDB is asked": {
			specs: map[string]string{"p": `{asn: {blockedASNs: [396982]}, ` + abuse + `}`}, ip: "205.210.31.51",
			deny: true, cause: policy.CauseBlockedASN, description: "Access token issuance is blocked from your network provider.",
			asn: 396982, lookups: 1,
		},
		"an allowed ASN goes on to AbuseIPDB": {
			specs: map[string]string{"p": `{asn: {blockedASNs: [131279]}, ` + abuse + `}`}, ip: "205.210.31.51",
			deny: true, cause: policy.CauseHighRisk, description: "Access token issuance is blocked due to high IP risk.",
			asn: 396982, lookups: 1, upstream: 1,
		},
		"a custom description": {
			specs: map[string]string{"p": `{asn: {blockedASNs: [131279]}, denial: {descriptions: {blockedASN: Hosting networks cannot sign in.}}}`},
			ip:    "175.45.176.9", deny: true, cause: policy.CauseBlockedASN, description: "Hosting networks cannot sign in.", asn: 131279, lookups: 1,
		},
		"the decision claim is a JSON number": {
			specs: map[string]string{"p": `token: {decisionClaims: {asn: as_number, country: geo}}`}, ip: "14.102.69.58",
			asn: 18002, claims: []string{`geo="IN"`, "as_number=18002"}, lookups: 1,
		},
		"no decision claim for an unknown ASN": {
			specs: map[string]string{"p": `token: {decisionClaims: {asn: as_number}}`}, ip: "192.0.2.1", lookups: 1,
		},
		"no lookup when no policy needs it": {
			specs: map[string]string{"p": `geo: {blockedCountries: [KP]}`, "q": `token: {maxExpiresInSeconds: 60}`}, ip: "14.102.69.58",
		},
		"one lookup for every policy that needs it": {
			specs: map[string]string{
				"a": `asn: {blockedASNs: [64500]}`, "b": `asn: {allowedASNs: [18002]}`, "c": `token: {decisionClaims: {asn: as_number}}`,
			},
			ip: "14.102.69.58", asn: 18002, claims: []string{"as_number=18002"}, lookups: 1,
		},
		"a missing address allowed by onMissing skips the ASN check": {
			specs: map[string]string{"p": `{clientIP: {onMissing: Allow}, asn: {allowedASNs: [18002]}}`}, ip: "",
		},
		"an Audit policy does not deny": {
			specs: map[string]string{"p": `{mode: Audit, asn: {blockedASNs: [131279]}}`}, ip: "175.45.176.9", asn: 131279, lookups: 1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			counter := &countingASN{r: h.eng.ASN}
			h.eng.ASN = counter
			if tc.noDatabase {
				h.eng.ASN = nil
			}
			var ps []*policy.Policy
			for n, s := range tc.specs {
				ps = append(ps, testutil.Policy(t, n, s, secrets))
			}
			d := h.eng.Decide(context.Background(), policy.NewSnapshot(ps), call(tc.ip, workHours))
			if d.Deny != tc.deny || d.Denial.Cause != tc.cause || d.Denial.Description != tc.description {
				t.Fatalf("got deny=%v cause=%v %q, want deny=%v cause=%v %q (results %+v)",
					d.Deny, d.Denial.Cause, d.Denial.Description, tc.deny, tc.cause, tc.description, d.Policies)
			}
			if d.ASN != tc.asn {
				t.Errorf("ASN = %d, want %d", d.ASN, tc.asn)
			}
			var claims []string
			for _, c := range d.Claims {
				claims = append(claims, c.Name+"="+string(c.Value))
			}
			if !equal(claims, tc.claims) {
				t.Errorf("claims = %v, want %v", claims, tc.claims)
			}
			if counter.n != tc.lookups {
				t.Errorf("ASN lookups = %d, want %d", counter.n, tc.lookups)
			}
			if got := h.fake.Calls(); got != tc.upstream {
				t.Errorf("AbuseIPDB calls = %d, want %d", got, tc.upstream)
			}
		})
	}
}

// An Audit policy records the ASN denial it would have made.
func TestASNAuditRecorded(t *testing.T) {
	h := newHarness(t)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `{mode: Audit, asn: {allowedASNs: [18002]}}`, nil)})
	d := h.eng.Decide(context.Background(), snap, call("2a02:6b8::1", workHours))
	if d.Deny || len(d.Policies) != 1 {
		t.Fatalf("audit changed the outcome: %+v", d)
	}
	if r := d.Policies[0]; r.Action != policy.Deny || r.Cause != policy.CauseBlockedASN || r.Cause.String() != "blocked_asn" {
		t.Errorf("audit result = %+v, want a recorded Deny for blocked_asn", r)
	}
	if policy.CauseUnknownASN.String() != "unknown_asn" {
		t.Errorf("unknown ASN cause is named %q", policy.CauseUnknownASN)
	}
}
