// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package serve_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/serve"
)

// While draining, answers carry Connection: close, so keep-alive clients
// reconnect (to another replica) instead of meeting a closed listener.
func TestDrainingClosesConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var draining atomic.Bool
	ready := make(chan struct{})
	s := &serve.Server{Listener: ln, Ready: ready, Log: logr.Discard(), Draining: draining.Load,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	<-ready
	// get reports the status and whether the answer closes the connection.
	get := func() (int, bool) {
		resp, err := http.Get("http://" + ln.Addr().String()) //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Close
	}
	if _, closes := get(); closes {
		t.Error("Connection: close before the drain")
	}
	draining.Store(true)
	if code, closes := get(); !closes || code != 200 {
		t.Errorf("during the drain: status %d, close %v", code, closes)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

func writePair(t *testing.T, dir, cn string) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	key = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	return cert, key
}

// A certificate replaced before its key (a rotation caught half done) does
// not parse with the old key: the previous pair stays in force, the failure
// is counted, and the complete new pair is taken once both files agree.
func TestTLSHalfRotationKeepsPreviousPair(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1 := writePair(t, dir, "first")
	must(t, os.WriteFile(certPath, c1, 0o600))
	must(t, os.WriteFile(keyPath, k1, 0o600))
	reg := prometheus.NewRegistry()
	reloads := metrics.NewReloads(reg)
	r, err := serve.NewTLSReloader(certPath, keyPath, reloads.Reporter(metrics.SourceTLS, logr.Discard()))
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, _ := r.GetCertificate(nil)
		x, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x.Subject.CommonName
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Watch(ctx, 20*time.Millisecond)
	c2, k2 := writePair(t, dir, "second")
	must(t, os.WriteFile(certPath, c2, 0o600)) // the key is still the old one
	failures := func() float64 { return tlsFailures(t, reg) }
	deadline := time.Now().Add(5 * time.Second)
	for failures() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the mismatched pair was not reported")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := cn(); got != "first" {
		t.Fatalf("serving %q during a half rotation", got)
	}
	must(t, os.WriteFile(keyPath, k2, 0o600))
	for cn() != "second" {
		if time.Now().After(deadline) {
			t.Fatal("the complete new pair was not taken")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tlsFailures reads tokenguard_reload_failures_total{source="tls"}.
func tlsFailures(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "tokenguard_reload_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == metrics.SourceTLS {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
