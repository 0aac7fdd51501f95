// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// failing is the tokenguard_reload_failing gauge of source.
func failing(t *testing.T, reg *prometheus.Registry, source string) float64 {
	t.Helper()
	return testutil.MetricValue(t, reg, "tokenguard_reload_failing", "source", source)
}

// waitFailing waits until the tokenguard_reload_failing gauge of source is want.
func waitFailing(t *testing.T, reg *prometheus.Registry, what, source string, want float64) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, what, func() error {
		if v := failing(t, reg, source); v != want {
			return fmt.Errorf("tokenguard_reload_failing{source=%q} = %v, want %v", source, v, want)
		}
		return nil
	})
}

// A policy file that stops loading is counted and logged once, however many
// checks see it, and its recovery is logged once; an unreadable Secrets
// directory is counted under its own source.
func TestReloadFailuresReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pdir, sdir := filepath.Join(dir, "policies"), filepath.Join(dir, "secrets")
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "KP"))
	write(t, filepath.Join(sdir, "abuseipdb", "apiKey"), "key-1")
	reg := prometheus.NewRegistry()
	var logs testutil.Logs
	store := policy.NewStore()
	l := &standalone.Loader{
		Paths: []string{pdir}, SecretsDir: sdir, Store: store, Log: logs.Logger(),
		Settle: 30 * time.Millisecond, Reloads: metrics.NewReloads(reg),
	}
	start := float64(time.Now().Unix())
	if err := l.LoadSettled(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{metrics.SourcePolicyFiles, metrics.SourceSecretsDir} {
		if ts := testutil.MetricValue(t, reg, "tokenguard_reload_last_success_timestamp_seconds", "source", src); ts < start {
			t.Errorf("%s: last success %v after the start-up load", src, ts)
		}
		if n := testutil.MetricValue(t, reg, "tokenguard_reload_failures_total", "source", src); n != 0 {
			t.Errorf("%s: %v failures after the start-up load", src, n)
		}
	}
	go l.Watch(t.Context(), 10*time.Millisecond)

	const failed = "policy files or Secret keys changed but do not load; serving the previous policies"
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "iran"))
	waitFailing(t, reg, "failure counted", metrics.SourcePolicyFiles, 1)
	time.Sleep(200 * time.Millisecond) // twenty more checks of the same broken file
	if n := testutil.MetricValue(t, reg, "tokenguard_reload_failures_total", "source", metrics.SourcePolicyFiles); n != 1 {
		t.Errorf("failures = %v for one broken content, want 1", n)
	}
	if n := logs.Count(failed); n != 1 {
		t.Errorf("failure logged %d times, want once", n)
	}
	if n := logs.Count(`a.yaml: document 1: TokenPolicy.policy.tokenguard.io \"a\" is invalid: [spec.geo.blockedCountries[0]: Too long: may not be more than 2 bytes`); n != 1 {
		t.Errorf("cause logged %d times, want once", n)
	}
	if s := store.Load(); s.Policies[0].Geo.Blocked[0] != "KP" {
		t.Errorf("the broken file replaced the policies: %+v", s.Policies[0].Geo)
	}

	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "IR"))
	waitFailing(t, reg, "recovery", metrics.SourcePolicyFiles, 0)
	time.Sleep(50 * time.Millisecond)
	if n := logs.Count(`"msg"="reload recovered" "source"="policy-files"`); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}

	// A key that is a dangling symlink cannot be read: the Secrets
	// directory fails, the policy files do not.
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(sdir, "abuseipdb", "other")); err != nil {
		t.Fatal(err)
	}
	waitFailing(t, reg, "secrets dir failure", metrics.SourceSecretsDir, 1)
	time.Sleep(100 * time.Millisecond)
	if n := testutil.MetricValue(t, reg, "tokenguard_reload_failures_total", "source", metrics.SourceSecretsDir); n < 2 {
		t.Errorf("secrets dir failures = %v: an unreadable source counts at each check", n)
	}
	if n := logs.Count(`"error"="secrets dir: open `); n != 1 {
		t.Errorf("unreadable secrets dir logged %d times, want once", n)
	}
	if v := failing(t, reg, metrics.SourcePolicyFiles); v != 0 {
		t.Error("a Secrets directory failure was counted as the policy files'")
	}
	if err := os.Remove(filepath.Join(sdir, "abuseipdb", "other")); err != nil {
		t.Fatal(err)
	}
	waitFailing(t, reg, "secrets dir recovery", metrics.SourceSecretsDir, 0)
}
