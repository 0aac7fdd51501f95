// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const pol = `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: %s}
spec:
  abuseIPDB: {apiKeySecretRef: {name: abuseipdb, key: apiKey}, deny: {scoreAbove: 75}}
  geo: {blockedCountries: [%s]}
`

func policyYAML(name, country string) string {
	return strings.Replace(strings.Replace(pol, "%s", name, 1), "%s", country, 1)
}

func TestLoadAndReload(t *testing.T) {
	dir := t.TempDir()
	pdir, sdir := filepath.Join(dir, "policies"), filepath.Join(dir, "secrets")
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "KP")+"---\napiVersion: v1\nkind: Secret\nmetadata: {name: ignored}\n")
	write(t, filepath.Join(pdir, "b.json"), `{"apiVersion":"policy.tokenguard.io/v1alpha1","kind":"TokenPolicy","metadata":{"name":"b","namespace":"prod"},"spec":{"mode":"Audit"}}`)
	write(t, filepath.Join(pdir, "notes.txt"), "not a policy")
	write(t, filepath.Join(sdir, "abuseipdb", "apiKey"), "key-1")
	store := policy.NewStore()
	l := &standalone.Loader{Paths: []string{pdir}, SecretsDir: sdir, Store: store, Log: logr.Discard(), Settle: 40 * time.Millisecond}
	if err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	snap := store.Load()
	if !store.Ready() || len(snap.Policies) != 2 || snap.Policies[0].Key != "default/a" || snap.Policies[1].Key != "prod/b" {
		t.Fatalf("snapshot %+v", snap.Policies)
	}
	if snap.Policies[0].Abuse.APIKey.Reveal() != "key-1" {
		t.Fatal("key not read from the secrets dir")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.Watch(ctx, 20*time.Millisecond)
	wait := func(what string, ok func(*policy.Snapshot) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(store.Load()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reloaded", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// An edited policy reloads.
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "IR"))
	wait("edit", func(s *policy.Snapshot) bool { return s.Policies[0].Geo.Blocked[0] == "IR" })
	// A rotated key reloads.
	write(t, filepath.Join(sdir, "abuseipdb", "apiKey"), "key-2")
	wait("rotation", func(s *policy.Snapshot) bool { return s.Policies[0].Abuse.APIKey.Reveal() == "key-2" })
	// A broken file keeps the previous policies.
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "iran"))
	time.Sleep(100 * time.Millisecond)
	if s := store.Load(); len(s.Policies) != 2 || s.Policies[0].Geo.Blocked[0] != "IR" {
		t.Errorf("a broken edit changed what is served: %+v", s.Policies)
	}
	// A removed file removes its policy.
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "IR"))
	if err := os.Remove(filepath.Join(pdir, "b.json")); err != nil {
		t.Fatal(err)
	}
	wait("removal", func(s *policy.Snapshot) bool { return len(s.Policies) == 1 })
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ content, err string }{
		"invalid spec": {policyYAML("a", "kp"), `invalid-spec.yaml: document 1: TokenPolicy.policy.tokenguard.io "a" is invalid: ` +
			`spec.geo.blockedCountries[0]: Invalid value: "kp": must be an ISO 3166-1 alpha-2 country code in upper case, such as KP`},
		"time zone": {policyYAML("a", "KP") + "  accessHours: {timeZone: Mars/Olympus, windows: [{start: \"09:00\", end: \"17:00\"}], outside: {action: Deny}}\n",
			`policy default/a: spec.accessHours.timeZone: "Mars/Olympus" is not an IANA time zone name`},
		"unknown field": {policyYAML("a", "KP") + "  colour: blue\n", `strict decoding error: unknown field "spec.colour"`},
		"bad name":      {strings.Replace(policyYAML("a", "KP"), "{name: a}", "{name: A_1}", 1), `metadata.name: Invalid value: "A_1": a lowercase RFC 1123 subdomain`},
		"wrong version": {strings.Replace(policyYAML("a", "KP"), "v1alpha1", "v9", 1), `apiVersion "policy.tokenguard.io/v9"`},
		"no name":       {strings.Replace(policyYAML("a", "KP"), "{name: a}", "{}", 1), "metadata.name is required"},
		"defined twice": {policyYAML("a", "KP") + "---\n" + policyYAML("a", "IR"), "policy default/a is defined twice"},
		"not YAML":      {"{{{", "document 1"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		write(t, p, tc.content)
		l := &standalone.Loader{Paths: []string{p}, Store: policy.NewStore(), Log: logr.Discard()}
		err := l.Load(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", name, err, tc.err)
		}
	}
}

// Without a secrets dir or key, a policy is served and its AbuseIPDB step fails.
func TestMissingKeyServes(t *testing.T) {
	p := filepath.Join(testutil.RepoRoot(), "config", "samples", "asgardeo-use-case.yaml")
	store := policy.NewStore()
	l := &standalone.Loader{Paths: []string{p}, Store: store, Log: logr.Discard()}
	if err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ps := store.Load().Policies; len(ps) != 1 || ps[0].Abuse.APIKey != "" {
		t.Errorf("%+v", ps)
	}
	if _, err := (standalone.DirSecrets{Dir: t.TempDir()}).SecretValue(context.Background(), "ns", "../etc", "passwd"); err == nil {
		t.Error("a path outside the secrets dir was read")
	}
}
