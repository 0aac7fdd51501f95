// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenguard/tokenguard/internal/logging"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/internal/testutil/cputime"
	"github.com/tokenguard/tokenguard/webhook"
)

// benchServe runs h on the body in a loop, in process (no network), and
// fails if an answer is not the expected status. Besides ns/op (wall time,
// which other work on a shared machine inflates) it reports cpu-ns/op: the
// process's CPU time per call, garbage collection included, which other
// processes move much less.
func benchServe(b *testing.B, h http.Handler, body []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	cpu0 := cputime.Used()
	defer func() {
		if cpu := cputime.Used() - cpu0; cpu > 0 && b.N > 0 {
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	}()
	b.RunParallel(func(pb *testing.PB) {
		rd := bytes.NewReader(body)
		for pb.Next() {
			rd.Reset(body)
			req := httptest.NewRequest(http.MethodPost, webhook.Path, rd)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkHandler is the action endpoint end to end (decode, GeoIP, cached
// AbuseIPDB score, decision, operations, encode) against the seed policy;
// BenchmarkBaseline and BenchmarkBaselineMinimal decode the same request
// and answer a fixed SUCCESS.
// Compare them in one run: docs/performance.md.
func BenchmarkHandler(b *testing.B) {
	e := newEnv(b, seedPolicies(b), envOptions{now: mustTime("2026-11-26T10:00:00Z")})
	auth, _ := webhook.NewAuthFromConfig(&webhook.AuthConfig{Type: "API_KEY", Properties: map[string]string{"header": "x-api-key", "value": "k"}})
	for name, ip := range map[string]string{
		"cached-score-shorten": "14.102.69.58",
		"cached-score-allow":   "205.210.31.51",
		"geo-deny":             "175.45.176.0",
	} {
		body := tu.JSON(b, tu.Request(ip))
		// Warm the score cache.
		post(b, e.url, "application/json", body)
		b.Run(name, func(b *testing.B) { benchServe(b, e.handler, body) })
	}
	body := tu.JSON(b, tu.Request("14.102.69.58"))
	// The decision log line as shipped (JSON at info level), written to
	// io.Discard.
	logged := *e.handler
	logged.Log = logging.New(logging.Options{Options: crzap.Options{DestWriter: io.Discard}})
	b.Run("cached-score-shorten-logged", func(b *testing.B) { benchServe(b, &logged, body) })
	b.Run("cached-score-with-auth", func(b *testing.B) {
		h := auth.Wrap(e.handler)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Api-Key", "k")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatal(rec.Code)
				}
			}
		})
	})
}

// BenchmarkBaseline: decode into action.Request (everything TokenGuard
// reads) and answer a fixed SUCCESS.
func BenchmarkBaseline(b *testing.B) {
	benchServe(b, webhook.Baseline{}, tu.JSON(b, tu.Request("14.102.69.58")))
}

// BenchmarkBaselineMinimal: decode only what a decision needs (the issue 11
// yardstick) and answer a fixed SUCCESS.
func BenchmarkBaselineMinimal(b *testing.B) {
	benchServe(b, webhook.MinimalBaseline{}, tu.JSON(b, tu.Request("14.102.69.58")))
}
