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
	if code != 1 || !strings.Contains(errs, `document 1: TokenPolicy.policy.tokenguard.io "b" is invalid: [spec.geo.blockedCountries[0]: Too long: may not be more than 2 bytes`) {
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

// The ASN sample, with an ASN database: a hosting network is refused, an
// office network gets the ASN claim, and the explanation names the ASN.
func TestDecideASN(t *testing.T) {
	db := geoiptest.File(t, "c.mmdb", geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	asn := geoiptest.File(t, "asn.mmdb", geoiptest.ASN(t, "GeoLite2-ASN", map[string]geoiptest.AS{
		"5.9.0.0/16":     {Number: 24940, Org: "Hetzner Online GmbH"},
		"14.102.64.0/19": {Number: 18002, Org: "World Phone Internet Services Pvt. Ltd."},
	}))
	sample := "--policy-file=" + filepath.Join(testutil.RepoRoot(), "config", "samples", "hosting-networks.yaml")
	code, out, errs := command("decide", sample, "--geoip-database="+db, "--asn-database="+asn, "--ip=5.9.1.1", "--client-id=workforce-portal")
	want := `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Sign-in from hosting and cloud networks is not allowed. Use your office or home connection."}` + "\n" +
		`country=""` + "\n" + `asn=24940 "Hetzner Online GmbH"` + "\n" + "default/no-hosting-networks: Deny, blocked_asn\n"
	if code != 0 || out != want {
		t.Errorf("hosting network: exit %d\n got: %s\nwant: %s\nstderr: %s", code, out, want, errs)
	}
	code, out, _ = command("decide", sample, "--geoip-database="+db, "--asn-database="+asn, "--ip=14.102.69.58", "--client-id=workforce-portal")
	if code != 0 || !strings.HasPrefix(out, `{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"client_asn","value":18002}}]}`) ||
		!strings.Contains(out, `asn=18002 "World Phone Internet Services Pvt. Ltd."`) {
		t.Errorf("office network: %d %s", code, out)
	}
	code, out, _ = command("decide", sample, "--asn-database="+asn, "--ip=192.0.2.1", "--client-id=workforce-portal")
	if code != 0 || !strings.HasPrefix(out, `{"actionStatus":"SUCCESS"}`) || !strings.Contains(out, "asn=unknown\n") {
		t.Errorf("unknown ASN: %d %s", code, out)
	}
	if code, _, errs := command("decide", sample, "--asn-database="+db, "--ip=192.0.2.1"); code != 1 || !strings.Contains(errs, "has no autonomous_system_number records") {
		t.Errorf("a country database as the ASN one: %d %s", code, errs)
	}
}

func decideArgs(t *testing.T, args ...string) []string {
	t.Helper()
	db := geoiptest.File(t, "c.mmdb", geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	return append([]string{"decide", "--policy-file=" + filepath.Join("testdata", "testwso2-policy.yaml"), "--geoip-database=" + db}, args...)
}

// A call as the platform sends it (contract 2.3: a user, a groups claim, a
// refresh token, response parameters) gets exactly the service's answer.
func TestDecideRequestFile(t *testing.T) {
	code, out, errs := command(decideArgs(t, "--request="+filepath.Join("testdata", "platform-call.json"), "--at=2026-06-01T10:00:00Z")...)
	want := `{"actionStatus":"SUCCESS","operations":[` +
		`{"op":"replace","path":"/accessToken/claims/expires_in","value":900},` +
		`{"op":"remove","path":"/accessToken/scopes/1"},` +
		`{"op":"add","path":"/accessToken/scopes/-","value":"read:orders"},` +
		`{"op":"add","path":"/accessToken/claims/aud/-","value":"https://api.example.com"},` +
		`{"op":"add","path":"/accessToken/claims/-","value":{"name":"tier","value":"gold"}},` +
		`{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"IN"}}]}` + "\n" +
		`country="IN"` + "\n" +
		"default/testwso2-user-tokens: Allow\n"
	if code != 0 || out != want || errs != "" {
		t.Errorf("exit %d\n got: %s\nwant: %s\nstderr: %s", code, out, want, errs)
	}
}

// In the refresh flow a custom claim from an earlier run is not among the
// paths the platform lets the action replace: the change is reported, not
// sent.
func TestDecideRequestSkipped(t *testing.T) {
	code, out, errs := command(decideArgs(t, "--request="+filepath.Join("testdata", "refresh-call.json"))...)
	want := `{"actionStatus":"SUCCESS"}` + "\n" +
		`country="IN"` + "\n" +
		"default/testwso2-user-tokens: Allow\n" +
		"skipped: claim tier: the call does not allow replace on /accessToken/claims/tier\n"
	if code != 0 || out != want {
		t.Errorf("exit %d\n got: %s\nwant: %s\nstderr: %s", code, out, want, errs)
	}
}

// "-" reads the call from stdin; --ip replaces the forwarded client address.
func TestDecideRequestStdin(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "platform-call.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stdin := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = stdin }()
	code, out, errs := command(decideArgs(t, "--request=-", "--ip=175.45.176.0")...)
	if code != 0 || !strings.HasPrefix(out, `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}`+"\n") ||
		!strings.Contains(out, "default/testwso2-user-tokens: Deny, blocked_country\n") {
		t.Errorf("exit %d %s %s", code, out, errs)
	}
}

func TestDecideBadRequest(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name, body, stderr string
		code               int
	}{
		{"trailing-comma.json", "{\"actionType\": \"PRE_ISSUE_ACCESS_TOKEN\",\n \"event\": {\"request\": {\"clientId\": \"c\",}}}",
			"not a platform call: invalid character '}' looking for beginning of object key string (line 2, column 40)", 1},
		{"wrong-type.json", "{\"actionType\": \"PRE_ISSUE_ACCESS_TOKEN\",\n \"event\": {\"request\": {\"clientId\": 5}}}",
			"not a platform call: event.request.clientId must be a string, not a JSON number (line 2, column 36)", 1},
		{"empty.json", "\n", "empty, expected a platform call (JSON)", 1},
		{"other-action.json", `{"actionType": "PRE_UPDATE_PASSWORD", "event": {}}`,
			"the call was not decided (HTTP 400): Unsupported action type: this endpoint serves PRE_ISSUE_ACCESS_TOKEN.", 1},
	} {
		p := write(c.name, c.body)
		code, _, errs := command(decideArgs(t, "--request="+p)...)
		if code != c.code || !strings.Contains(errs, c.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want %d, %q", c.name, code, errs, c.code, c.stderr)
		}
	}
	call := "--request=" + filepath.Join("testdata", "platform-call.json")
	if code, _, errs := command(decideArgs(t, call, "--client-id=x")...); code != 2 || !strings.Contains(errs, "--client-id cannot be used with --request") {
		t.Errorf("--client-id with --request: exit %d %s", code, errs)
	}
}
