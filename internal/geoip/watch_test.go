// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package geoip_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// A replacement that does not open is counted and logged once, however
// many checks see it, and not opened again; the next good file recovers.
func TestReloadFailuresReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "country.mmdb")
	replace := func(b []byte, at time.Time) { replaceFile(t, path, b, at) }
	db := func(cc string) []byte {
		return geoiptest.Country(t, "GeoLite2-Country", map[string]string{"14.102.64.0/19": cc})
	}
	start := time.Now()
	replace(db("IN"), start.Add(-time.Hour))
	r, err := geoip.Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.Logs
	reg := prometheus.NewRegistry()
	reloads := metrics.NewReloads(reg)
	go r.Watch(t.Context(), 5*time.Millisecond, logs.Logger(), reloads, nil)
	metric := func(name string) float64 {
		t.Helper()
		return testutil.MetricValue(t, reg, name, "source", metrics.SourceGeoIP)
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, what, func() error {
			if !ok() {
				return errors.New("not yet")
			}
			return nil
		})
	}
	eventually("start recorded", func() bool {
		return metric("tokenguard_reload_last_success_timestamp_seconds") >= float64(start.Unix())
	})

	replace([]byte("not a database"), start.Add(-time.Minute))
	eventually("failure", func() bool { return metric("tokenguard_reload_failing") == 1 })
	time.Sleep(100 * time.Millisecond) // twenty more checks of the same file
	if n := metric("tokenguard_reload_failures_total"); n != 1 {
		t.Errorf("failures = %v for one broken file, want 1", n)
	}
	const msg = `"msg"="geoip database changed but cannot be opened; keeping the previous one"`
	if n := logs.Count(msg); n != 1 {
		t.Errorf("failure logged %d times, want once", n)
	}
	if n := logs.Count(`"error"="geoip database ` + path); n != 1 {
		t.Errorf("cause logged %d times, want once: %q", n, logs.Lines())
	}
	if c := r.Country(netip.MustParseAddr("14.102.69.58")); c != "IN" {
		t.Errorf("after a broken replacement: %q", c)
	}

	replace(db("LK"), start)
	eventually("recovery", func() bool { return r.Country(netip.MustParseAddr("14.102.69.58")) == "LK" })
	eventually("recovery metric", func() bool { return metric("tokenguard_reload_failing") == 0 })
	if n := logs.Count(`"msg"="reload recovered" "source"="geoip"`); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	if n, err := promtestutil.GatherAndCount(reg, "tokenguard_reload_failures_total"); err != nil || n != 1 {
		t.Errorf("%d failure series, want the geoip one (%v)", n, err)
	}
}

// replaceFile puts b at path by rename, as an updater does, with the
// modification time at, so the watcher sees a new file.
func replaceFile(t *testing.T, path string, b []byte, at time.Time) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, at, at); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
