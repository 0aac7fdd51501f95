// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// The CRD's own validation, on the real API server: each invalid spec is
// rejected with the message users see from kubectl.
func TestCRDValidation(t *testing.T) {
	ctx := context.Background()
	ns := createNamespace(t, "validation")
	cases := map[string]struct{ spec, message string }{
		"country code": {`geo: {blockedCountries: [kp]}`,
			`spec.geo.blockedCountries[0]: Invalid value: "kp": must be an ISO 3166-1 alpha-2 country code in upper case, such as KP`},
		"both country lists": {`geo: {blockedCountries: [KP], allowedCountries: [LK]}`,
			`spec.geo: Invalid value: set blockedCountries or allowedCountries, not both`},
		"CIDR": {`networks: {blockedCIDRs: [10.0.0.300/8]}`,
			`spec.networks.blockedCIDRs[0]: Invalid value: "10.0.0.300/8": must be a network in CIDR notation, such as 203.0.113.0/24 or 2001:db8::/32`},
		"score above 100": {`abuseIPDB: {apiKeySecretRef: {name: s, key: k}, deny: {scoreAbove: 101}}`,
			`spec.abuseIPDB.deny.scoreAbove: Invalid value: 101: spec.abuseIPDB.deny.scoreAbove in body should be less than or equal to 100`},
		"shorten above deny": {`abuseIPDB: {apiKeySecretRef: {name: s, key: k}, deny: {scoreAbove: 50}, shorten: {scoreAtLeast: 60, expiresInSeconds: 60}}`,
			`spec.abuseIPDB: Invalid value: shorten.scoreAtLeast must not be above deny.scoreAbove: scores that shorten lie below those that deny`},
		"lifetime below 1 s": {`token: {maxExpiresInSeconds: 0}`,
			`spec.token.maxExpiresInSeconds: Invalid value: 0: spec.token.maxExpiresInSeconds in body should be greater than or equal to 1`},
		"failure Shorten without lifetime": {`abuseIPDB: {apiKeySecretRef: {name: s, key: k}, onFailure: {action: Shorten}}`,
			`spec.abuseIPDB.onFailure: Invalid value: expiresInSeconds is required when action is Shorten`},
		"clock time": {`accessHours: {windows: [{start: "9:00", end: "17:00"}], outside: {action: Deny}}`,
			`spec.accessHours.windows[0].start: Invalid value: "9:00": must be a time of day as HH:MM, from 00:00 to 24:00`},
		"window across midnight": {`accessHours: {windows: [{start: "22:00", end: "06:00"}], outside: {action: Deny}}`,
			`spec.accessHours.windows[0]: Invalid value: start must be before end; split a window that crosses midnight in two`},
		"only when risky without AbuseIPDB": {`accessHours: {windows: [{start: "09:00", end: "17:00"}], outside: {action: Deny}, onlyWhenRisky: true}`,
			`spec: Invalid value: accessHours.onlyWhenRisky needs abuseIPDB: only AbuseIPDB judges a call risky`},
		"reserved claim": {`token: {claims: [{name: Aud, string: x}]}`,
			`spec.token.claims[0].name: Invalid value: "Aud": is a standard claim the platform manages; choose another name`},
		"two claim values": {`token: {claims: [{name: tier, string: x, boolean: true}]}`,
			`spec.token.claims[0]: Invalid value: set exactly one of string, number, boolean or strings`},
		"duplicate claims": {`token: {claims: [{name: tier, string: x}, {name: tier, string: y}]}`,
			`spec.token: Invalid value: claim names must be unique`},
		"number claim": {`token: {claims: [{name: n1, number: "1e3"}]}`,
			`spec.token.claims[0].number: Invalid value: "1e3": must be a decimal number such as 42 or -0.5`},
		"scope with a space": {`token: {scopes: {add: ["read write"]}}`,
			`spec.token.scopes.add[0]: Invalid value: "read write": must be a scope token: printable ASCII without spaces, double quotes or backslashes`},
		"URN audience": {`token: {audiences: {add: ["urn:example:api"]}}`,
			`spec.token.audiences.add[0]: Invalid value: "urn:example:api": must be a URI such as https://api.example.com or a name of letters, digits, dots and hyphens: the platform drops other audiences`},
		"description with a comma": {`denial: {descriptions: {highRisk: "Blocked, sorry."}}`,
			`spec.denial.descriptions.highRisk: Invalid value: "Blocked, sorry.": may contain only letters, digits, spaces, the characters _ . ! ? ; : ' ( ) [ ] - and the placeholders {country} and {score}: the platform rejects commas, slashes, quotes and other characters`},
		"description too long": {`denial: {descriptions: {highRisk: "` + strings.Repeat("a", 301) + `"}}`,
			`spec.denial.descriptions.highRisk: Too long: may not be more than 300 bytes`},
		"failure reason server_error": {`denial: {failureReason: server_error}`,
			`spec.denial.failureReason: Invalid value: "server_error": server_error, internal_server_error and 500 are refused by the platform`},
		"mode": {`mode: Sometimes`,
			`spec.mode: Unsupported value: "Sometimes": supported values: "Enforce", "Audit"`},
		"grant type": {`match: {grantTypes: [implicit]}`,
			`spec.match.grantTypes[0]: Unsupported value: "implicit": supported values: "authorization_code", "client_credentials", "password", "refresh_token"`},
	}
	i := 0
	for name, tc := range cases {
		i++
		t.Run(name, func(t *testing.T) {
			err := k8sClient.Create(ctx, newPolicy(ns, fmt.Sprintf("v%d", i), tc.spec))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("message:\n  %s\nwant it to contain:\n  %s", err, tc.message)
			}
		})
	}
	// And a valid one with every field is accepted.
	if err := k8sClient.Create(ctx, newPolicy(ns, "valid", `
match: {tenants: [t], clientIDs: [c], grantTypes: [authorization_code]}
clientIP: {header: x-client-source-ip, onMissing: Allow}
networks: {trustedCIDRs: [10.0.0.0/8, "fd00::/8"], blockedCIDRs: [192.0.2.0/24]}
geo: {blockedCountries: [KP], onUnknownCountry: Deny}
abuseIPDB: {apiKeySecretRef: {name: s, key: k}, deny: {scoreAbove: 75}, shorten: {scoreAtLeast: 25, expiresInSeconds: 900}, onFailure: {action: Shorten, expiresInSeconds: 300}}
accessHours: {timeZone: Europe/Berlin, windows: [{days: [Monday], start: "00:00", end: "24:00"}], outside: {action: Shorten, expiresInSeconds: 60}, onlyWhenRisky: true}
token: {maxExpiresInSeconds: 3600, scopes: {add: ["read:x"], remove: [admin]}, audiences: {add: [https://api.example.com, api.example.com], remove: [x]},
  claims: [{name: a, string: s}, {name: b, number: "-1.5"}, {name: c, boolean: false}, {name: d, strings: [x]}], decisionClaims: {country: geo, abuseScore: risk}}
denial: {failureReason: access_denied, descriptions: {blockedCountry: "Blocked from ({country}) with score {score}: sorry!"}}
`)); err != nil {
		t.Errorf("a valid policy was rejected: %v", err)
	}
}
