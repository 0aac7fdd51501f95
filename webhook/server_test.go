// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/serve"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

// Calls in flight when the server is told to stop still get their answer.
func TestGracefulShutdown(t *testing.T) {
	// The call waits 600 ms on AbuseIPDB, well under its budget: what is
	// tested is that shutdown lets it finish, not the budget.
	e := newEnv(t, seedPolicies(t), envOptions{budget: 5 * time.Second})
	e.fake.SetDelay(600 * time.Millisecond)
	auth, _ := webhook.NewAuthFromConfig(&webhook.AuthConfig{Type: webhook.AuthNone})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	srv := &serve.Server{Listener: ln, Handler: webhook.NewMux(e.handler, auth), Log: logr.Discard(), Ready: ready}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	<-ready
	url := "http://" + ln.Addr().String() + webhook.Path
	got := make(chan reply, 1)
	go func() { got <- post(t, url, "application/json", tu.JSON(t, tu.Request("205.210.31.51"))) }()
	// Stop the server once the call is waiting on AbuseIPDB.
	for deadline := time.Now().Add(10 * time.Second); e.fake.Calls() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the call never reached AbuseIPDB")
		}
	}
	cancel()
	r := <-got
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"SUCCESS"`)) {
		t.Errorf("call in flight got %d %s", r.status, r.body)
	}
	if err := <-done; err != nil {
		t.Errorf("Start returned %v", err)
	}
	if conn, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		_ = conn.Close()
		t.Error("server still accepts connections after shutdown")
	}
}

func writeCert(t *testing.T, dir, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	// Write both, then rename, as a Secret volume update does.
	for name, blk := range map[string]*pem.Block{"tls.crt": {Type: "CERTIFICATE", Bytes: der}, "tls.key": {Type: "EC PRIVATE KEY", Bytes: kb}} {
		tmp := filepath.Join(dir, "."+name)
		if err := os.WriteFile(tmp, pem.EncodeToMemory(blk), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// TLS serves the configured certificate and picks up a renewed one.
func TestTLSReload(t *testing.T) {
	dir := t.TempDir()
	writeCert(t, dir, "first")
	e := newEnv(t, seedPolicies(t), envOptions{})
	auth, _ := webhook.NewAuthFromConfig(&webhook.AuthConfig{Type: webhook.AuthNone})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	srv := &serve.Server{Listener: ln, Handler: webhook.NewMux(e.handler, auth), Log: logr.Discard(), Ready: ready,
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), TLSReloadInterval: 50 * time.Millisecond}
	go func() { _ = srv.Start(t.Context()) }()
	<-ready
	peer := func() string {
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if cn := peer(); cn != "first" {
		t.Fatalf("serving %q", cn)
	}
	writeCert(t, dir, "second")
	deadline := time.Now().Add(10 * time.Second)
	for peer() != "second" {
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate not picked up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FuzzServeHTTP feeds arbitrary bodies to the handler: it must always answer
// with JSON the platform can read, never panic.
func FuzzServeHTTP(f *testing.F) {
	seed, _ := os.ReadFile(filepath.Join("testdata", "request-v1.3.json"))
	f.Add(seed)
	f.Add([]byte(`{"actionType":"PRE_ISSUE_ACCESS_TOKEN","event":{"request":{"additionalHeaders":{"x-client-source-ip":"::ffff:1.2.3.4"}}}}`))
	f.Add([]byte(`{"actionType":"PRE_ISSUE_ACCESS_TOKEN","event":{"accessToken":{"claims":[{"name":"aud","value":"x"},{"name":"expires_in","value":"12"}]}},"allowedOperations":[{"op":"replace"}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"event":null}`))
	e := newEnv(f, tu.SamplePolicies(f, "config/samples/token-shaping-audit.yaml", nil), envOptions{})
	e.store.Replace(append(seedPolicies(f), tu.Policy(f, "shape", `{clientIP: {onMissing: Allow}, token: {maxExpiresInSeconds: 60,
		scopes: {add: [a], remove: [openid]}, audiences: {add: [api.example.com], remove: [x]}, claims: [{name: c, strings: [x]}]}}`, nil)))
	// Keep the target CPU-bound: AbuseIPDB is covered by the HTTP tests.
	e.handler.Engine.Reputation = nil
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, webhook.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		e.handler.ServeHTTP(rec, req)
		res := rec.Result()
		b, _ := io.ReadAll(res.Body)
		var decoded action.Request
		if json.Unmarshal(body, &decoded) != nil || decoded.Event == nil {
			decoded = *tu.Request("")
		}
		if _, err := actiontest.Apply(&decoded, res.StatusCode, res.Header.Get("Content-Type"), b); err != nil {
			t.Fatalf("answer %d %s to %q is not accepted: %v", res.StatusCode, b, body, err)
		}
	})
}
