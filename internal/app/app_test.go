// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app_test

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/app"
)

func parse(t *testing.T, args ...string) *app.Options {
	t.Helper()
	o := &app.Options{}
	fs := flag.NewFlagSet("tokenguard", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDefaults(t *testing.T) {
	o := parse(t, "--action-auth-config=a.yaml")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.ActionAddr != ":8090" || !o.LeaderElect || o.AbuseIPDBBudget != time.Second || o.Standalone() {
		t.Errorf("defaults %+v", o)
	}
	o = parse(t, "--action-auth-config=a.yaml", "--policy-file=a,b", "--policy-file=c", "--geoip-database=x", "--geoip-database=y")
	if !o.Standalone() || len(o.PolicyFiles) != 3 || len(o.GeoIPDatabases) != 2 {
		t.Errorf("repeatable flags %+v", o)
	}
}

// Every problem is reported at once.
func TestValidateCollectsProblems(t *testing.T) {
	o := parse(t, "--action-tls-cert-file=c.pem", "--abuseipdb-budget=3s", "--secrets-dir=/s")
	err := o.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"--action-auth-config is required", "go together", "below the platform's 3s read timeout", "needs --policy-file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
