// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

const basicAuth = "type: BASIC\nproperties:\n  username: tokenguard\n  password: "

// basicAuthFile writes an auth file with password pw and returns its path
// and a function that answers whether a call with a password gets through.
func basicAuthFile(t *testing.T, pw string) (string, *webhook.Auth, func(string) bool) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(p, []byte(basicAuth+pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, _, err := webhook.NewAuth(p)
	if err != nil {
		t.Fatal(err)
	}
	h := a.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	passes := func(pw string) bool {
		req := httptest.NewRequest(http.MethodPost, "/", nil)
		req.SetBasicAuth("tokenguard", pw)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code == http.StatusOK
	}
	return p, a, passes
}

// An auth file rewritten in place, with a pause shorter than the settle
// interval, is never applied half-written: the truncated password (itself a
// valid config) never gets through.
func TestAuthWatchSkipsPartialWrite(t *testing.T) {
	t.Parallel()
	p, a, passes := basicAuthFile(t, "old-password")
	a.Settle = time.Second
	go a.Watch(t.Context(), 20*time.Millisecond, logr.Discard())

	done := make(chan struct{})
	go func() {
		defer close(done)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0o600) //nolint:gosec // test file
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = f.Close() }()
		_, _ = f.WriteString(basicAuth + "correct")
		time.Sleep(300 * time.Millisecond)
		_, _ = f.WriteString("-horse-battery-staple\n")
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !passes("correct-horse-battery-staple") {
		if passes("correct") {
			t.Fatal("the half-written password was applied")
		}
		if time.Now().After(deadline) {
			t.Fatal("the new password was not applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	<-done
	if passes("old-password") {
		t.Error("the old password still passes")
	}
}

// A replaced file is noticed by its content, even when it keeps the old
// modification time (cp -p, a restored backup).
func TestAuthWatchComparesContent(t *testing.T) {
	t.Parallel()
	p, a, passes := basicAuthFile(t, "old-password")
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	a.Settle = 20 * time.Millisecond
	go a.Watch(t.Context(), 10*time.Millisecond, logr.Discard())
	if err := os.WriteFile(p, []byte(basicAuth+"new-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !passes("new-password") {
		if time.Now().After(deadline) {
			t.Fatal("a replacement with the old modification time was not applied")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An auth file that stops loading is counted and logged once, however many
// checks see it, and the previous credentials kept; its repair is logged
// once.
func TestAuthWatchReportsFailures(t *testing.T) {
	t.Parallel()
	p, a, passes := basicAuthFile(t, "old-password")
	reg := prometheus.NewRegistry()
	a.Reloads = metrics.NewReloads(reg)
	a.Settle = 20 * time.Millisecond
	var logs testutil.Logs
	failures := func() float64 {
		t.Helper()
		if n, err := promtestutil.GatherAndCount(reg, "tokenguard_reload_failures_total"); err != nil || n != 1 {
			t.Fatalf("%d failure series (%v)", n, err)
		}
		return testutil.MetricValue(t, reg, "tokenguard_reload_failures_total", "source", metrics.SourceAuthFile)
	}
	go a.Watch(t.Context(), 5*time.Millisecond, logs.Logger())

	if err := os.WriteFile(p, []byte("type: BASIC\nproperties: {username: tokenguard}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for logs.Count("does not load") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("failure not logged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // twenty more checks of the same file
	if n := logs.Count(`"msg"="action auth config changed but does not load; keeping the previous one"`); n != 1 {
		t.Errorf("failure logged %d times, want once", n)
	}
	if n := logs.Count(`"error"="action auth config ` + p + `: type BASIC needs properties password"`); n != 1 {
		t.Errorf("cause logged %d times, want once: %q", n, logs.Lines())
	}
	if n := failures(); n != 1 {
		t.Errorf("failures = %v, want 1", n)
	}
	if !passes("old-password") {
		t.Error("the previous credentials were dropped")
	}

	if err := os.WriteFile(p, []byte(basicAuth+"new-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const recovered = `"msg"="reload recovered" "source"="auth-file"`
	for !passes("new-password") || logs.Count(recovered) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the repaired file was not applied, or its recovery not logged")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := logs.Count(recovered); n != 1 {
		t.Errorf("recovery logged %d times, want once", n)
	}
	if n := failures(); n != 1 {
		t.Errorf("failures = %v after the repair, want 1", n)
	}
}
