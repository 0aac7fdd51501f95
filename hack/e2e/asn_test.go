//go:build e2e

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/geoip"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// The ASN default (make asn) is fetched pinned and checksum-verified,
// converted to MMDB, and resolves well-known addresses of both families to
// their autonomous systems.
func TestASNDatabaseDefault(t *testing.T) {
	out, err := exec.Command(filepath.Join(tu.RepoRoot(), "hack", "fetch-geoip.sh"), "asn").Output()
	if err != nil {
		t.Fatalf("fetch-geoip.sh asn: %v", err)
	}
	path := strings.TrimSpace(string(out))
	r, err := geoip.OpenASN([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	if d := r.Databases()[0]; d.Type != "ip-location-db-ASN" || d.BuildTime.Year() < 2026 {
		t.Errorf("database %s: type %q, built %s", path, d.Type, d.BuildTime)
	}
	for ip, want := range map[string]struct {
		asn uint32
		org string // a part of it
	}{
		"8.8.8.8":              {15169, "Google"},
		"1.1.1.1":              {13335, "Cloudflare"},
		"9.9.9.9":              {19281, "Quad9"},
		"::ffff:8.8.4.4":       {15169, "Google"},
		"2001:4860:4860::8888": {15169, "Google"},
		"2606:4700:4700::1111": {13335, "Cloudflare"},
		"2a01:4f8::1":          {24940, "Hetzner"},
		"10.1.2.3":             {0, ""}, // private: in no autonomous system
		"192.0.2.1":            {0, ""}, // documentation
	} {
		a := netip.MustParseAddr(ip)
		n, org := r.Organization(a)
		if n != want.asn || !strings.Contains(org, want.org) || r.ASN(a) != want.asn {
			t.Errorf("%s: AS%d %q, want AS%d (%s)", ip, n, org, want.asn, want.org)
		}
	}
}

// `make run` carries the ASN default, so the hosting-networks sample works
// out of the box: a Hetzner address is refused, a Google one gets the ASN
// claim.
func TestMakeRunServesAnASNRule(t *testing.T) {
	post, logs := makeRun(t, "RUN_POLICY=config/samples/hosting-networks.yaml")
	workforce := func(r *action.Request) { r.Event.Request.ClientID = "workforce-portal" }
	if got, want := post(string(tu.JSON(t, tu.Request("88.198.0.1", workforce)))),
		`{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Sign-in from hosting and cloud networks is not allowed. Use your office or home connection."}`; got != want {
		t.Errorf("a Hetzner address: %s\nwant %s", got, want)
	}
	if got, want := post(string(tu.JSON(t, tu.Request("2001:4860:4860::8888", workforce)))),
		`{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"client_asn","value":15169}}]}`; got != want {
		t.Errorf("a Google address: %s\nwant %s", got, want)
	}
	if !strings.Contains(logs(), `"asn database loaded"`) {
		t.Errorf("no ASN database loaded:\n%s", logs())
	}
}
