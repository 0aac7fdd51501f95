// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package metrics_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/metrics"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// A source that keeps failing with the same error is logged once, a new
// error and the recovery once each, all at info level (no stack trace); the
// metrics count every failure.
func TestReloadReporterLogsOncePerCause(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := metrics.NewReloads(reg)
	var got tu.Logs
	p := r.Reporter(metrics.SourceGeoIP, got.Logger())
	start := float64(time.Now().Unix())

	p.Succeeded()
	broken := errors.New("geoip database /db.mmdb: invalid MaxMind DB file")
	for range 3 {
		p.Failed("geoip database changed but cannot be opened; keeping the previous one", broken, "path", "/db.mmdb")
	}
	p.Failed("geoip database changed but cannot be opened; keeping the previous one", errors.New("open /db.mmdb: permission denied"), "path", "/db.mmdb")
	if !p.Failing() {
		t.Error("not failing after a failure")
	}
	p.Succeeded()
	p.Succeeded()

	want := []string{
		`"level"=0 "msg"="geoip database changed but cannot be opened; keeping the previous one" "path"="/db.mmdb" "error"="geoip database /db.mmdb: invalid MaxMind DB file"`,
		`"level"=0 "msg"="geoip database changed but cannot be opened; keeping the previous one" "path"="/db.mmdb" "error"="open /db.mmdb: permission denied"`,
		`"level"=0 "msg"="reload recovered" "source"="geoip" "previousError"="open /db.mmdb: permission denied"`,
	}
	if l := got.Lines(); !slices.Equal(l, want) {
		t.Errorf("log lines:\n%s\nwant:\n%s", strings.Join(l, "\n"), strings.Join(want, "\n"))
	}
	if n := testutil.ToFloat64(r.FailuresForTest(metrics.SourceGeoIP)); n != 4 {
		t.Errorf("failures = %v, want 4", n)
	}
	if v := testutil.ToFloat64(r.FailingForTest(metrics.SourceGeoIP)); v != 0 {
		t.Errorf("failing = %v after the recovery", v)
	}
	if ts := testutil.ToFloat64(r.LastSuccessForTest(metrics.SourceGeoIP)); ts < start {
		t.Errorf("last success %v, before the test started (%v)", ts, start)
	}
}

// The metrics as scraped: every source that reported is exported, and a
// source that only succeeded shows 0 failures.
func TestReloadMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := metrics.NewReloads(reg)
	r.Succeeded(metrics.SourceAuthFile)
	r.Failed(metrics.SourcePolicyFiles)
	r.Failed(metrics.SourcePolicyFiles)
	var nilReloads *metrics.Reloads
	nilReloads.Failed(metrics.SourceTLS) // a nil Reloads records nothing and does not panic
	nilReloads.Succeeded(metrics.SourceTLS)

	want := `
# HELP tokenguard_reload_failing 1 while the latest reload of a watched source failed and its previous version is still in force, else 0.
# TYPE tokenguard_reload_failing gauge
tokenguard_reload_failing{source="auth-file"} 0
tokenguard_reload_failing{source="policy-files"} 1
# HELP tokenguard_reload_failures_total Failed reloads of a watched source. Content that failed is not tried again until it changes; an unreadable source counts at each check.
# TYPE tokenguard_reload_failures_total counter
tokenguard_reload_failures_total{source="auth-file"} 0
tokenguard_reload_failures_total{source="policy-files"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tokenguard_reload_failures_total", "tokenguard_reload_failing"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(r.LastSuccessForTest(metrics.SourceAuthFile)); n != 1 {
		t.Errorf("last success series = %d", n)
	}
}
