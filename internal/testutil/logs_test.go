// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package testutil_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/testutil"
)

func TestLogs(t *testing.T) {
	var logs testutil.Logs
	log := logs.Logger()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { log.Info("reload recovered", "source", "geoip") })
	}
	wg.Wait()
	log.V(1).Info("routine")
	log.Error(errors.New("broken"), "reload failed")

	want := []string{
		`"level"=0 "msg"="reload recovered" "source"="geoip"`,
		`"level"=0 "msg"="reload recovered" "source"="geoip"`,
		`"msg"="reload failed" "error"="broken"`,
	}
	got := logs.Lines()
	if !slices.Equal(got, want) {
		t.Errorf("lines %q, want %q", got, want)
	}
	got[0] = "changed"
	if n := logs.Count(`"msg"="reload recovered"`); n != 2 {
		t.Errorf("Count = %d after changing a copy of the lines, want 2", n)
	}
	if n := logs.Count("routine"); n != 0 {
		t.Errorf("a V(1) line was kept")
	}
}

func TestMetricValue(t *testing.T) {
	reg := prometheus.NewRegistry()
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "failures_total", Help: "h"}, []string{"source"})
	failing := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "failing", Help: "h"}, []string{"source"})
	reg.MustRegister(failures, failing)
	failures.WithLabelValues("geoip").Add(3)
	failures.WithLabelValues("auth-file").Inc()
	failing.WithLabelValues("geoip").Set(1)

	for _, c := range []struct {
		name, value string
		want        float64
	}{
		{"failures_total", "geoip", 3},
		{"failures_total", "auth-file", 1},
		{"failing", "geoip", 1},
		{"failing", "auth-file", -1},
		{"absent", "geoip", -1},
	} {
		if got := testutil.MetricValue(t, reg, c.name, "source", c.value); got != c.want {
			t.Errorf("%s{source=%q} = %v, want %v", c.name, c.value, got, c.want)
		}
	}
}
