// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/webhook"
)

const apiKey = "test-key"

type env struct {
	url     string
	fake    *abuseipdbtest.Server
	handler *webhook.Handler
	store   *policy.Store
	metrics *metrics.Metrics
}

type envOptions struct {
	auth   *webhook.AuthConfig
	budget time.Duration
	now    time.Time
}

// newEnv serves the action endpoint on loopback with real GeoIP and ASN databases,
// the real AbuseIPDB client against the fake, and the given policies.
func newEnv(t testing.TB, policies []*policy.Policy, o envOptions) *env {
	t.Helper()
	db, err := geoip.OpenBytes(geoiptest.Country(t, "GeoLite2-Country", geoiptest.SeedNetworks))
	if err != nil {
		t.Fatal(err)
	}
	asn, err := geoip.OpenASNBytes(geoiptest.ASN(t, "GeoLite2-ASN", geoiptest.SeedASNs))
	if err != nil {
		t.Fatal(err)
	}
	fake := abuseipdbtest.New(t, apiKey, abuseipdbtest.SeedScores)
	m := metrics.New(prometheus.NewRegistry())
	c, err := abuseipdb.New(abuseipdb.Options{BaseURL: fake.URL(), UpstreamTimeout: 2 * time.Second, Observe: m.ObserveAbuseIPDB})
	if err != nil {
		t.Fatal(err)
	}
	if o.budget == 0 {
		o.budget = time.Second
	}
	store := policy.NewStore()
	store.Replace(policies)
	store.MarkReady()
	h := &webhook.Handler{
		Engine:   &engine.Engine{Geo: geoip.New(db), ASN: geoip.NewASN(asn), Reputation: c, ReputationBudget: o.budget},
		Policies: store, Metrics: m, Log: logr.Discard(),
	}
	if !o.now.IsZero() {
		now := o.now
		h.Now = func() time.Time { return now }
	}
	if o.auth == nil {
		o.auth = &webhook.AuthConfig{Type: webhook.AuthNone}
	}
	auth, err := webhook.NewAuthFromConfig(o.auth)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(webhook.NewMux(h, auth))
	t.Cleanup(srv.Close)
	return &env{url: srv.URL + webhook.Path, fake: fake, handler: h, store: store, metrics: m}
}

type reply struct {
	status      int
	contentType string
	body        []byte
}

func post(t testing.TB, url, contentType string, body []byte, hdr ...string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b}
}
