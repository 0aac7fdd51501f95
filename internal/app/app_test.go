// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package app_test

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

func parse(t *testing.T, args ...string) *app.Options {
	t.Helper()
	o := &app.Options{}
	fs := flag.NewFlagSet("tokenguard", flag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestDefaults(t *testing.T) {
	o := parse(t, "--action-auth-config=a.yaml")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.ActionAddr != ":8090" || !o.LeaderElect || o.AbuseIPDBBudget != time.Second || o.Standalone() {
		t.Errorf("defaults %+v", o)
	}
	o = parse(t, "--action-auth-config=a.yaml", "--policy-file=a,b", "--policy-file=c", "--geoip-database=x", "--geoip-database=y",
		"--asn-database=a,b", "--asn-database=c")
	if !o.Standalone() || len(o.PolicyFiles) != 3 || len(o.GeoIPDatabases) != 2 || len(o.ASNDatabases) != 3 {
		t.Errorf("repeatable flags %+v", o)
	}
}

// Every problem is reported at once.
func TestValidateCollectsProblems(t *testing.T) {
	o := parse(t, "--action-tls-cert-file=c.pem", "--abuseipdb-budget=3s", "--secrets-dir=/s")
	err := o.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"--action-auth-config is required", "go together", "below the platform's 3s read timeout", "needs --policy-file"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

func TestRedisFlags(t *testing.T) {
	o := parse(t, "--action-auth-config=a.yaml")
	if o.RedisURL != "" || o.RedisTimeout != 50*time.Millisecond {
		t.Errorf("defaults: url %q, timeout %s; want none (in memory) and 50ms", o.RedisURL, o.RedisTimeout)
	}
	o = parse(t, "--action-auth-config=a.yaml", "--redis-url=rediss://r:6380/2", "--redis-password-file=/p",
		"--redis-ca-file=/ca.crt", "--redis-timeout=20ms")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.RedisURL != "rediss://r:6380/2" || o.RedisPasswordFile != "/p" || o.RedisCAFile != "/ca.crt" || o.RedisTimeout != 20*time.Millisecond {
		t.Errorf("parsed %+v", o)
	}
	err := parse(t, "--action-auth-config=a.yaml", "--redis-password-file=/p", "--redis-timeout=1s").Validate()
	for _, want := range []string{"--redis-timeout 1s must be above 0 and below 1s", "need --redis-url"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want %q", err, want)
		}
	}
}

func newService(t *testing.T, args ...string) (*app.Service, *prometheus.Registry) {
	t.Helper()
	auth := filepath.Join(t.TempDir(), "auth.yaml")
	if err := os.WriteFile(auth, []byte("type: NONE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := parse(t, append([]string{"--action-auth-config=" + auth, "--abuseipdb-disabled"}, args...)...)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := app.NewService(o, reg, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	if svc.State == nil || svc.Handler.Engine.State != svc.State {
		t.Fatal("the engine does not decide with the service's shared state")
	}
	return svc, reg
}

// Without --redis-url the state is in memory, measured like Redis.
func TestServiceStateInMemory(t *testing.T) {
	svc, reg := newService(t)
	if _, err := svc.State.Incr(context.Background(), state.Key("t"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "tokenguard_state_operation_duration_seconds"); n == 0 {
		t.Error("no state operation metrics")
	}
}

// A Redis that does not answer at start-up does not stop the service; it
// is used as soon as it answers, without a restart.
func TestServiceStartsWithRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	svc, reg := newService(t, "--redis-url="+srv.URL())
	ctx := context.Background()
	if _, err := svc.State.Incr(ctx, state.Key("t"), time.Minute); !errors.Is(err, state.ErrUnavailable) {
		t.Fatalf("Incr with Redis down: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for svc.State.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the service's store did not reconnect within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := svc.State.Incr(ctx, state.Key("t"), time.Minute); err != nil || n != 1 {
		t.Fatalf("Incr after Redis returned = %d, %v", n, err)
	}
	if v := tu.MetricValue(t, reg, "tokenguard_state_operation_errors_total", "op", "incr"); v < 1 {
		t.Errorf("errors_total{op=incr} = %v, want the failed Incr counted", v)
	}
}
