// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/metrics"
)

// A replacement that does not open is counted and logged once, however
// many checks see it, and not opened again; the next good file recovers.
func TestReloadFailuresReported(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "country.mmdb")
	replace := func(b []byte, at time.Time) {
		tmp := filepath.Join(dir, ".tmp")
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
	db := func(cc string) []byte {
		return geoiptest.Country(t, "GeoLite2-Country", map[string]string{"14.102.64.0/19": cc})
	}
	start := time.Now()
	replace(db("IN"), start.Add(-time.Hour))
	r, err := geoip.Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(_, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	count := func(s string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, l := range lines {
			if strings.Contains(l, s) {
				n++
			}
		}
		return n
	}
	reg := prometheus.NewRegistry()
	reloads := metrics.NewReloads(reg)
	go r.Watch(t.Context(), 5*time.Millisecond, log, reloads, nil)
	metric := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				m := mf.GetMetric()[0]
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		return -1
	}
	eventually := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
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
	if n := count(msg); n != 1 {
		t.Errorf("failure logged %d times, want once", n)
	}
	if n := count(`"error"="geoip database ` + path); n != 1 {
		t.Errorf("cause logged %d times, want once: %q", n, lines)
	}
	if c := r.Country(netip.MustParseAddr("14.102.69.58")); c != "IN" {
		t.Errorf("after a broken replacement: %q", c)
	}

	replace(db("LK"), start)
	eventually("recovery", func() bool { return r.Country(netip.MustParseAddr("14.102.69.58")) == "LK" })
	eventually("recovery metric", func() bool { return metric("tokenguard_reload_failing") == 0 })
	if n := count(`"msg"="reload recovered" "source"="geoip"`); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	if n, err := testutil.GatherAndCount(reg, "tokenguard_reload_failures_total"); err != nil || n != 1 {
		t.Errorf("%d failure series, want the geoip one (%v)", n, err)
	}
}
