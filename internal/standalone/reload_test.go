// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
)

// logLines collects log lines.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logger() logr.Logger {
	return funcr.New(func(_, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.lines = append(l.lines, args)
	}, funcr.Options{})
}

// count returns how many lines contain s.
func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// value returns the named metric's value for source, or -1 if it has none.
func value(t *testing.T, reg *prometheus.Registry, name, source string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == source {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
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
	var logs logLines
	store := policy.NewStore()
	l := &standalone.Loader{
		Paths: []string{pdir}, SecretsDir: sdir, Store: store, Log: logs.logger(),
		Settle: 30 * time.Millisecond, Reloads: metrics.NewReloads(reg),
	}
	start := float64(time.Now().Unix())
	if err := l.LoadSettled(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{metrics.SourcePolicyFiles, metrics.SourceSecretsDir} {
		if ts := value(t, reg, "tokenguard_reload_last_success_timestamp_seconds", src); ts < start {
			t.Errorf("%s: last success %v after the start-up load", src, ts)
		}
		if n := value(t, reg, "tokenguard_reload_failures_total", src); n != 0 {
			t.Errorf("%s: %v failures after the start-up load", src, n)
		}
	}
	go l.Watch(t.Context(), 10*time.Millisecond)

	const failed = "policy files or Secret keys changed but do not load; serving the previous policies"
	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "iran"))
	eventually(t, "failure counted", func() bool {
		return value(t, reg, "tokenguard_reload_failing", metrics.SourcePolicyFiles) == 1
	})
	time.Sleep(200 * time.Millisecond) // twenty more checks of the same broken file
	if n := value(t, reg, "tokenguard_reload_failures_total", metrics.SourcePolicyFiles); n != 1 {
		t.Errorf("failures = %v for one broken content, want 1", n)
	}
	if n := logs.count(failed); n != 1 {
		t.Errorf("failure logged %d times, want once", n)
	}
	if n := logs.count(`"error"="policy default/a: spec.geo.blockedCountries: \"iran\"`); n != 1 {
		t.Errorf("cause logged %d times, want once", n)
	}
	if s := store.Load(); s.Policies[0].Geo.Blocked[0] != "KP" {
		t.Errorf("the broken file replaced the policies: %+v", s.Policies[0].Geo)
	}

	write(t, filepath.Join(pdir, "a.yaml"), policyYAML("a", "IR"))
	eventually(t, "recovery", func() bool {
		return value(t, reg, "tokenguard_reload_failing", metrics.SourcePolicyFiles) == 0
	})
	time.Sleep(50 * time.Millisecond)
	if n := logs.count(`"msg"="reload recovered" "source"="policy-files"`); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}

	// A key that is a dangling symlink cannot be read: the Secrets
	// directory fails, the policy files do not.
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(sdir, "abuseipdb", "other")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "secrets dir failure", func() bool {
		return value(t, reg, "tokenguard_reload_failing", metrics.SourceSecretsDir) == 1
	})
	time.Sleep(100 * time.Millisecond)
	if n := value(t, reg, "tokenguard_reload_failures_total", metrics.SourceSecretsDir); n < 2 {
		t.Errorf("secrets dir failures = %v: an unreadable source counts at each check", n)
	}
	if n := logs.count(`"error"="secrets dir: open `); n != 1 {
		t.Errorf("unreadable secrets dir logged %d times, want once", n)
	}
	if v := value(t, reg, "tokenguard_reload_failing", metrics.SourcePolicyFiles); v != 0 {
		t.Error("a Secrets directory failure was counted as the policy files'")
	}
	if err := os.Remove(filepath.Join(sdir, "abuseipdb", "other")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "secrets dir recovery", func() bool {
		return value(t, reg, "tokenguard_reload_failing", metrics.SourceSecretsDir) == 0
	})
}
