// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

// On the stop signal readiness fails at once, while the action endpoint
// keeps answering every call for the drain period (telling keep-alive
// clients to reconnect elsewhere); only then does it shut down.
func TestDrainKeepsServing(t *testing.T) {
	auth := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(auth, []byte("type: NONE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &Options{}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--action-auth-config=" + auth, "--abuseipdb-disabled"}); err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(o, prometheus.NewRegistry(), logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	svc.Store.Replace(tu.SamplePolicies(t, "config/samples/asgardeo-use-case.yaml", tu.Secrets{"abuseipdb/apiKey": "k"}))
	svc.Store.MarkReady()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	svc.Server.Listener = ln
	ready := make(chan struct{})
	svc.Server.Ready = ready

	stop, stopNow := context.WithCancel(context.Background())
	const drain = 1500 * time.Millisecond
	ctx := svc.Drain(stop, context.Background(), drain, logr.Discard())
	done := make(chan error, 1)
	go func() { done <- svc.Server.Start(ctx) }()
	<-ready

	url := "http://" + ln.Addr().String() + webhook.Path
	// No GeoIP database here: the seed policy lets the address through.
	body := tu.JSON(t, tu.Request("175.45.176.1"))
	var stopped atomic.Int64 // when stop was signalled, in UnixNano
	var mu sync.Mutex
	var sent, failedInDrain, closeHeaders int
	var firstRefusal time.Time
	loadCtx, endLoad := context.WithTimeout(context.Background(), 10*time.Second)
	defer endLoad()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 5 * time.Second}
			for loadCtx.Err() == nil {
				resp, err := client.Post(url, "application/json", bytes.NewReader(body))
				at := time.Now()
				ok := err == nil && resp.StatusCode == 200
				var b []byte
				if err == nil {
					b, _ = io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					ok = ok && bytes.Contains(b, []byte(`"actionStatus":"SUCCESS"`))
				}
				mu.Lock()
				sent++
				s := stopped.Load()
				inDrain := s != 0 && at.Before(time.Unix(0, s).Add(drain-200*time.Millisecond))
				if inDrain && !ok {
					failedInDrain++
					t.Errorf("call failed during the drain: %v %s", err, b)
				}
				if inDrain && ok && resp.Close {
					closeHeaders++
				}
				if s != 0 && !ok && firstRefusal.IsZero() {
					firstRefusal = at
				}
				mu.Unlock()
				if s != 0 && !ok {
					return
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	stopped.Store(time.Now().UnixNano())
	stopNow()
	tu.Eventually(t, time.Second, "readiness failing", func() error { return negate(svc.readyz(nil)) })
	if err := <-done; err != nil {
		t.Errorf("server: %v", err)
	}
	endLoad()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if failedInDrain > 0 || closeHeaders == 0 {
		t.Errorf("%d calls sent, %d failed during the drain, %d answered with Connection: close", sent, failedInDrain, closeHeaders)
	}
	if s := time.Unix(0, stopped.Load()); !firstRefusal.IsZero() && firstRefusal.Before(s.Add(drain)) {
		t.Errorf("first refusal %v after the signal, before the %v drain ended", firstRefusal.Sub(s), drain)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		_ = c.Close()
		t.Error("still accepting after the drain and shutdown")
	}
}

func negate(err error) error {
	if err == nil {
		return errors.New("readyz still passes")
	}
	return nil
}
