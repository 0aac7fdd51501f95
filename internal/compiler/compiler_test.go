// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package compiler_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/tokenguard/tokenguard/api/v1alpha1"
	"github.com/tokenguard/tokenguard/internal/compiler"
	"github.com/tokenguard/tokenguard/internal/crdvalidation/crdvalidationtest"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

func tp(t *testing.T, spec string) *v1alpha1.TokenPolicy {
	t.Helper()
	p := &v1alpha1.TokenPolicy{}
	p.Name, p.Namespace, p.Generation = "p", "ns", 3
	if err := yaml.UnmarshalStrict([]byte(spec), &p.Spec); err != nil {
		t.Fatal(err)
	}
	return p
}

var secrets = testutil.Secrets{"abuseipdb/apiKey": "  key-1\n", "empty/apiKey": ""}

// The defaults the CRD applies are applied by Compile too, so policy files
// in standalone mode behave like the same objects in a cluster.
func TestDefaults(t *testing.T) {
	p, err := compiler.Compile(context.Background(), tp(t, `abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}}`), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if p.Key != "ns/p" || p.Generation != 3 || p.Mode != policy.Enforce || p.IPHeader != "x-client-source-ip" ||
		p.OnMissingIP != policy.Deny || p.FailureReason != "access_denied" {
		t.Errorf("policy defaults: %+v", p)
	}
	a := p.Abuse
	if a.MaxAgeInDays != 30 || a.CacheTTL != time.Hour || a.OnFailure != policy.Deny || a.DenyAbove != -1 || a.ShortenAtLeast != -1 {
		t.Errorf("abuse defaults: %+v", a)
	}
	if a.APIKey.Reveal() != "key-1" {
		t.Errorf("the key is not trimmed")
	}
	if s := fmt.Sprintf("%v %+v %#v %s", a.APIKey, a, a, a.APIKey); strings.Contains(s, "key-1") {
		t.Errorf("the key prints: %s", s)
	}
}

func TestCompiles(t *testing.T) {
	p, err := compiler.Compile(context.Background(), tp(t, `
mode: Audit
match: {tenants: [a], clientIDs: [b], grantTypes: [password]}
clientIP: {header: X-Real-IP, onMissing: Allow}
networks: {trustedCIDRs: [10.1.2.3/8], blockedCIDRs: ["2001:db8::/32"]}
geo: {allowedCountries: [LK]}
asn: {allowedASNs: [4294967295, 64500, 18002, 64500]}
accessHours: {timeZone: Europe/Berlin, windows: [{days: [Monday, Sunday], start: "08:30", end: "24:00"}], outside: {action: Deny}}
token:
  maxExpiresInSeconds: 60
  claims: [{name: s, string: x}, {name: b, boolean: false}, {name: l, strings: [a]}, {name: num, number: "-2.5"}]
  decisionClaims: {country: c, asn: as}
denial: {failureReason: invalid_grant, descriptions: {blockedCountry: "No ({country}) score {score}.", unknownASN: Unknown provider.}}
`), secrets)
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode != policy.Audit || p.IPHeader != "x-real-ip" || p.OnMissingIP != policy.Allow {
		t.Errorf("%+v", p)
	}
	if ps := p.Trusted.Prefixes(); len(ps) != 1 || ps[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("trusted not masked: %v", ps)
	}
	if p.Geo.OnUnknown != policy.Deny {
		t.Errorf("allow list should deny unknown countries by default")
	}
	// Sorted (the engine searches them) and without duplicates.
	if a := p.ASN; a.OnUnknown != policy.Deny || a.Blocked == nil || len(a.Blocked) != 0 || fmt.Sprint(a.Allowed) != "[18002 64500 4294967295]" {
		t.Errorf("asn %+v, want the sorted allow list denying unknown ASNs", a)
	}
	if p.Token.ASNClaim != "as" || p.Description(policy.CauseUnknownASN, "", -1) != "Unknown provider." {
		t.Errorf("asn claim %q, description %q", p.Token.ASNClaim, p.Description(policy.CauseUnknownASN, "", -1))
	}
	w := p.AccessHours.Windows[0]
	if w.StartMin != 510 || w.EndMin != 1440 || w.Days != 1<<time.Monday|1<<time.Sunday {
		t.Errorf("window %+v", w)
	}
	var claims []string
	for _, c := range p.Token.Claims {
		claims = append(claims, c.Name+"="+string(c.Value))
	}
	if strings.Join(claims, " ") != `s="x" b=false l=["a"] num=-2.5` {
		t.Errorf("claims %v", claims)
	}
	if d := p.Description(policy.CauseBlockedCountry, "LK", 7); d != "No (LK) score 7." {
		t.Errorf("description %q", d)
	}
	if d := p.Description(policy.CauseHighRisk, "", -1); d != policy.DefaultDescriptions[policy.CauseHighRisk] {
		t.Errorf("default description %q", d)
	}
}

// Compile judges only what the CRD's schema cannot: the spec rules are the
// CRD's markers, checked by the API server and, for policy files, by
// internal/crdvalidation (their cases are in crdvalidationtest).
func TestInvalidSpecs(t *testing.T) {
	cases := map[string]struct{ spec, problem string }{
		"time zone": {`accessHours: {timeZone: Mars/Olympus, windows: [{start: "09:00", end: "10:00"}], outside: {action: Deny}}`,
			`spec.accessHours.timeZone: "Mars/Olympus" is not an IANA time zone name`},
		"local time zone": {`accessHours: {timeZone: Local, windows: [{start: "09:00", end: "10:00"}], outside: {action: Deny}}`,
			`"Local" is not an IANA time zone name`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := compiler.Compile(context.Background(), tp(t, tc.spec), secrets)
			var inv *compiler.InvalidSpecError
			if !errors.As(err, &inv) || p != nil {
				t.Fatalf("got %v, %v; want an InvalidSpecError", p, err)
			}
			if !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("problems %q do not mention %q", err, tc.problem)
			}
		})
	}
}

// Compile may assume a spec the schema accepts, but never panics on one it
// rejects, and never serves a value it cannot convert.
func TestTolerant(t *testing.T) {
	for _, spec := range []string{
		`mode: Sometimes`,
		`clientIP: {header: "", onMissing: Shorten}`,
		`geo: {blockedCountries: [kp], allowedCountries: [LK], onUnknownCountry: Maybe}`,
		`asn: {blockedASNs: [1], allowedASNs: [2], onUnknownASN: Maybe}`,
		`abuseIPDB: {apiKeySecretRef: {name: "", key: ""}, maxAgeInDays: -1, cacheTTLSeconds: -5, deny: {scoreAbove: 500}, onFailure: {action: Shorten}}`,
		`accessHours: {windows: [], outside: {action: Shorten}}`,
		`accessHours: {windows: [{start: "22:00", end: "06:00", days: [Monday]}], outside: {action: Deny, expiresInSeconds: 5}}`,
		`token: {maxExpiresInSeconds: -1, claims: [{name: aud}, {name: aud, string: a, boolean: true}, {name: x, strings: []}]}`,
		`denial: {failureReason: "server_error", descriptions: {highRisk: "a, b / c"}}`,
	} {
		compileNoPanic(t, spec)
	}
	for _, tc := range crdvalidationtest.Cases {
		compileNoPanic(t, tc.Spec)
	}
	if _, err := compiler.Compile(context.Background(), tp(t, crdvalidationtest.Valid), secrets); err != nil && !compiler.IsSecretError(err) {
		t.Errorf("the valid policy with every field: %v", err)
	}
	for name, spec := range map[string]string{
		"CIDR":    `networks: {blockedCIDRs: [10.0.0.0/33]}`,
		"clock":   `accessHours: {windows: [{start: "9 am", end: "10:00"}], outside: {action: Deny}}`,
		"weekday": `accessHours: {windows: [{start: "09:00", end: "10:00", days: [Caturday]}], outside: {action: Deny}}`,
		"number":  `token: {claims: [{name: n, number: "1,5"}]}`,
		"AS 0":    `asn: {allowedASNs: [0]}`,
		"ASN":     `asn: {blockedASNs: [4294967296]}`,
	} {
		p, err := compiler.Compile(context.Background(), tp(t, spec), secrets)
		var inv *compiler.InvalidSpecError
		if !errors.As(err, &inv) || p != nil || !strings.Contains(err.Error(), "cannot be converted") {
			t.Errorf("%s: got %v, %v; want it not served", name, p, err)
		}
	}
}

func compileNoPanic(t *testing.T, spec string) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: panic %v", spec, r)
		}
	}()
	_, _ = compiler.Compile(context.Background(), tp(t, spec), secrets)
}

// A Secret problem still yields a policy: its AbuseIPDB step fails and the
// failure mode applies.
func TestSecretProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		ref     string
		missing bool
	}{
		"missing secret": {"nope", true},
		"empty key":      {"empty", false},
	} {
		p, err := compiler.Compile(context.Background(), tp(t, `abuseIPDB: {apiKeySecretRef: {name: `+tc.ref+`, key: apiKey}, deny: {scoreAbove: 9}}`), secrets)
		var se *compiler.SecretError
		if !errors.As(err, &se) || se.Missing != tc.missing || p == nil || p.Abuse.APIKey != "" || p.Abuse.DenyAbove != 9 {
			t.Errorf("%s: %v %v", name, p, err)
		}
	}
}

// Every sample compiles.
func TestSamplesCompile(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(), "config", "samples", "*.yaml"))
	if len(files) < 4 {
		t.Fatalf("samples: %v", files)
	}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		ps := testutil.SamplePolicies(t, f, testutil.Secrets{"abuseipdb/apiKey": "k", "abuseipdb-failopen/apiKey": "k"})
		if len(ps) == 0 {
			t.Errorf("%s: %d policies", f, len(ps))
		}
	}
}

// IP lists are merged with the inline CIDRs into one set per kind; a
// missing blocked list makes the policy deny, a missing trusted list
// trusts nothing, and both are reported.
func TestLists(t *testing.T) {
	lists := testutil.Lists{"tor": "185.220.101.1\n", "firehol": "# level1\n192.0.2.0/24\n", "office": "203.0.113.0/24\n"}
	ctx := context.Background()
	p, err := compiler.CompileWith(ctx, tp(t, `networks: {blockedCIDRs: [198.51.100.0/24], blockedLists: [tor, firehol], trustedLists: [office]}`), secrets, lists)
	if err != nil {
		t.Fatal(err)
	}
	for ip, blocked := range map[string]bool{"185.220.101.1": true, "192.0.2.9": true, "198.51.100.1": true, "203.0.113.5": false} {
		if p.Blocked.Contains(netip.MustParseAddr(ip)) != blocked {
			t.Errorf("%s blocked: %v", ip, !blocked)
		}
	}
	if p.Blocked.Len() != 3 || p.BlockedListUnavailable || !p.Trusted.Contains(netip.MustParseAddr("203.0.113.5")) {
		t.Errorf("sets: blocked %v, trusted %v", p.Blocked.Prefixes(), p.Trusted.Prefixes())
	}
	// One list and no inline CIDRs: the list's own set, not a copy.
	one := testutil.Lists{"tor": "185.220.101.1\n"}
	set, _ := one.IPList(ctx, "ns", "tor")
	fixed := fixedLists{"tor": set}
	if p, err := compiler.CompileWith(ctx, tp(t, `networks: {blockedLists: [tor]}`), secrets, fixed); err != nil || p.Blocked != set {
		t.Errorf("a single list is copied: %v", err)
	}

	// Missing lists: served, reported, blocked one denies.
	p, err = compiler.CompileWith(ctx, tp(t, `networks: {blockedCIDRs: [198.51.100.0/24], blockedLists: [nope], trustedLists: [gone, office]}`), secrets, lists)
	if p == nil || !compiler.Served(err) || !p.BlockedListUnavailable || p.Blocked.Len() != 1 || p.Trusted.Len() != 1 {
		t.Fatalf("%v, %v", p, err)
	}
	les := compiler.ListErrors(err)
	if len(les) != 2 || !les[0].Blocked || les[0].Name != "nope" || les[1].Blocked || les[1].Name != "gone" {
		t.Fatalf("list errors %+v", les)
	}
	if got := les[0].Error(); got != "blocked IPList nope does not exist: every call the policy matches that has an address is denied (list_unavailable) until it loads" {
		t.Errorf("message %q", got)
	}
	if got := les[1].Error(); got != "trusted IPList gone does not exist: it trusts nothing until it loads" {
		t.Errorf("message %q", got)
	}
	// Only a missing trusted list: nothing denied.
	if p, err := compiler.CompileWith(ctx, tp(t, `networks: {trustedLists: [gone]}`), secrets, lists); p == nil || p.BlockedListUnavailable || len(compiler.ListErrors(err)) != 1 {
		t.Errorf("%v %v", p, err)
	}
	// Without a reader, every list is missing; with a Secret problem too, both are told.
	p, err = compiler.Compile(ctx, tp(t, `{networks: {blockedLists: [tor]}, abuseIPDB: {apiKeySecretRef: {name: nope, key: apiKey}}}`), secrets)
	if p == nil || !p.BlockedListUnavailable || !compiler.Served(err) || !compiler.IsSecretError(err) || len(compiler.ListErrors(err)) != 1 {
		t.Errorf("%v %v", p, err)
	}
	// A transient failure fails the compilation.
	if p, err := compiler.CompileWith(ctx, tp(t, `networks: {blockedLists: [tor]}`), secrets, failingLists{}); p != nil || err == nil || compiler.Served(err) {
		t.Errorf("%v %v", p, err)
	}
	// The description.
	p, _ = compiler.CompileWith(ctx, tp(t, `{networks: {blockedLists: [nope]}, denial: {descriptions: {listUnavailable: Try again later.}}}`), secrets, lists)
	if d := p.Description(policy.CauseListUnavailable, "", -1); d != "Try again later." {
		t.Errorf("description %q", d)
	}
}

type fixedLists map[string]*policy.NetSet

func (f fixedLists) IPList(_ context.Context, ns, name string) (*policy.NetSet, error) {
	if s, ok := f[name]; ok {
		return s, nil
	}
	return nil, &compiler.ListError{Namespace: ns, Name: name, Detail: "does not exist"}
}

type failingLists struct{}

func (failingLists) IPList(context.Context, string, string) (*policy.NetSet, error) {
	return nil, errors.New("the API server is away")
}
