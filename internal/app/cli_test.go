// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

func command(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code, ok := app.RunCommand(args, &out, &errb)
	if !ok {
		return -1, "", ""
	}
	return code, out.String(), errb.String()
}

func TestNotACommand(t *testing.T) {
	if _, ok := app.RunCommand([]string{"--policy-file=x"}, &bytes.Buffer{}, &bytes.Buffer{}); ok {
		t.Error("flags taken for a command")
	}
}

func TestValidate(t *testing.T) {
	samples := filepath.Join(testutil.RepoRoot(), "config", "samples")
	code, out, _ := command("validate", samples)
	if code != 0 || !strings.Contains(out, "ok  default/asgardeo-use-case (Enforce)") || !strings.Contains(out, "(Audit)") {
		t.Errorf("samples: %d %s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: policy.tokenguard.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: b}\nspec: {geo: {blockedCountries: [XXX]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := command("validate", samples, bad)
	if code != 1 || !strings.Contains(errs, `policy default/b: spec.geo.blockedCountries: "XXX" is not an ISO 3166-1 alpha-2 country code`) {
		t.Errorf("bad policy: %d %s", code, errs)
	}
	if code, _, _ := command("validate"); code != 2 {
		t.Errorf("no arguments: %d", code)
	}
}

func TestDecide(t *testing.T) {
	db := geoiptest.File(t, "c.mmdb", geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	seed := "--policy-file=" + filepath.Join(testutil.RepoRoot(), "config", "samples", "asgardeo-use-case.yaml")
	code, out, _ := command("decide", seed, "--geoip-database="+db, "--ip=175.45.176.0")
	if code != 0 || !strings.HasPrefix(out, `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}`) ||
		!strings.Contains(out, "default/asgardeo-use-case: Deny, blocked_country") {
		t.Errorf("KP: %d %s", code, out)
	}
	allow := filepath.Join(testutil.RepoRoot(), "config", "samples", "allowlist-office-hours.yaml")
	code, out, _ = command("decide", "--policy-file="+allow, "--geoip-database="+db, "--ip=203.0.113.7",
		"--client-id=backoffice-portal", "--at=2026-11-28T10:00:00Z")
	if code != 0 || !strings.HasPrefix(out, `{"actionStatus":"SUCCESS"}`) || !strings.Contains(out, "trusted network") {
		t.Errorf("trusted on a Saturday: %d %s", code, out)
	}
	if code, _, errs := command("decide", seed, "--at=yesterday"); code != 2 || !strings.Contains(errs, "--at") {
		t.Errorf("bad time: %d %s", code, errs)
	}
}
