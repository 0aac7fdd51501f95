// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package redisstore_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/redisstore"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
	"github.com/tokenguard/tokenguard/internal/state/statetest"
)

func newStore(t testing.TB, o redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	// One client for the whole suite, as a replica has: the subtests run
	// in parallel on its pool.
	s := newStore(t, redisstore.Options{URL: srv.URL(), OpTimeout: time.Second})
	statetest.Run(t, func(*testing.T) state.Store { return s })
}

// TestKeysAlwaysExpire checks on the server that every key the store
// writes has a TTL.
func TestKeysAlwaysExpire(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, redisstore.Options{URL: srv.URL()})
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Set(ctx, "tokenguard:t:set", []byte("v"), time.Minute))
	_, err := s.SetNX(ctx, "tokenguard:t:setnx", []byte("v"), time.Minute)
	must(err)
	_, err = s.Incr(ctx, "tokenguard:t:incr", time.Minute)
	must(err)
	_, err = s.Hit(ctx, "tokenguard:t:hit", time.Now(), time.Minute)
	must(err)
	for _, k := range []string{"set", "setnx", "incr", "hit"} {
		ttl, err := redisstore.PTTLForTest(ctx, s, "tokenguard:t:"+k)
		must(err)
		if ttl <= 0 || ttl > time.Minute {
			t.Errorf("key %s: TTL %s, want within (0, 1m]", k, ttl)
		}
	}
}

// TestDownFailsFastAndRecovers stops the server under a live client:
// every operation fails with ErrUnavailable well within the budget, and
// the same client works again once the server is back.
func TestDownFailsFastAndRecovers(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, redisstore.Options{URL: srv.URL()}) // 50ms per operation
	ctx := context.Background()
	if _, err := s.Incr(ctx, "tokenguard:t:n", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hit(ctx, "tokenguard:t:w", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}

	srv.Stop()
	var slowest time.Duration
	for i := range 40 {
		for _, op := range allOps(s) {
			start := time.Now()
			err := op.fn(ctx)
			d := time.Since(start)
			slowest = max(slowest, d)
			if !errors.Is(err, state.ErrUnavailable) {
				t.Fatalf("%s #%d with the server down: err = %v, want ErrUnavailable", op.name, i, err)
			}
			// The bound is the store's, not the client's 1 s dial and read
			// timeouts; the margin is for a loaded CI machine.
			if d > 300*time.Millisecond {
				t.Fatalf("%s #%d with the server down took %s, want about the 50ms timeout at most", op.name, i, d)
			}
		}
	}
	t.Logf("server down: slowest failing operation took %s", slowest)

	srv.Restart() // empty: the script cache is gone too
	start := time.Now()
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no recovery 5s after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("server back: the client answered again after %s", time.Since(start))
	for _, op := range allOps(s) {
		if err := op.fn(ctx); err != nil {
			t.Fatalf("%s after recovery: %v", op.name, err)
		}
	}
	if n, err := s.Hit(ctx, "tokenguard:t:w", time.Now(), time.Minute); err != nil || n != 2 {
		t.Fatalf("Hit after recovery = %d, %v; want 2 (one from the loop above)", n, err)
	}
}

// A server that lost the sliding-window script (restarted, SCRIPT FLUSH)
// still counts every hit of a batch exactly once.
func TestBatchAfterScriptFlush(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, redisstore.Options{URL: srv.URL()})
	ctx := context.Background()
	if _, err := s.Hit(ctx, "tokenguard:t:w", time.Now(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := redisstore.DoForTest(ctx, s, "SCRIPT", "FLUSH"); err != nil {
		t.Fatal(err)
	}
	var b state.Batch
	b.Hits(time.Now(), state.WindowHit{Key: "tokenguard:t:w", Window: time.Minute})
	b.Get("tokenguard:t:missing")
	b.Hits(time.Now(), state.WindowHit{Key: "tokenguard:t:w", Window: time.Minute})
	s.Do(ctx, &b)
	if b.Op(0).Err != nil || b.Op(2).Err != nil || first(b.Op(0))+first(b.Op(2)) != 5 {
		t.Fatalf("hits after SCRIPT FLUSH: %d %v, %d %v; want 2 and 3", first(b.Op(0)), b.Op(0).Err, first(b.Op(2)), b.Op(2).Err)
	}
	if n, err := s.Hit(ctx, "tokenguard:t:w", time.Now(), time.Minute); err != nil || n != 4 {
		t.Fatalf("next hit = %d, %v; want 4: each hit of the batch counted once", n, err)
	}
}

// TestHungServerTimesOut freezes the server: connections stay open but
// nothing answers, and each operation gives up at the operation timeout.
func TestHungServerTimesOut(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, redisstore.Options{URL: srv.URL(), OpTimeout: 30 * time.Millisecond})
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	var slowest time.Duration
	for _, op := range allOps(s) {
		start := time.Now()
		err := op.fn(ctx)
		d := time.Since(start)
		slowest = max(slowest, d)
		if !errors.Is(err, state.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a hung server: err = %v, want ErrUnavailable and DeadlineExceeded", op.name, err)
		}
		if d > 300*time.Millisecond { // far below the client's 1 s read timeout
			t.Errorf("%s on a hung server took %s, want about the 30ms timeout", op.name, d)
		}
	}
	t.Logf("hung server: slowest operation took %s (timeout 30ms)", slowest)
	srv.Resume()
	deadline := time.Now().Add(5 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no recovery 5s after resume")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStartsWithoutServer: a store built while nothing listens works once
// the server appears, without a new client.
func TestStartsWithoutServer(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	s := newStore(t, redisstore.Options{URL: srv.URL()})
	if err := s.Ping(context.Background()); !errors.Is(err, state.ErrUnavailable) {
		t.Fatalf("Ping with no server: %v, want ErrUnavailable", err)
	}
	srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for s.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no connection 5s after the server started")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPasswordFile(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Config{Password: "s3cret/with:odd@chars"})
	dir := t.TempDir()
	good := filepath.Join(dir, "password")
	if err := os.WriteFile(good, []byte("s3cret/with:odd@chars\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "wrong")
	if err := os.WriteFile(bad, []byte("wrong"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	s := newStore(t, redisstore.Options{URL: srv.URL(), PasswordFile: good})
	if err := s.Set(ctx, "tokenguard:t:k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("with the password file: %v", err)
	}
	// The file wins over the URL's password.
	s = newStore(t, redisstore.Options{URL: "redis://:nope@" + srv.Addr(), PasswordFile: good})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("password file over the URL's: %v", err)
	}
	for name, o := range map[string]redisstore.Options{
		"no password":    {URL: srv.URL()},
		"wrong password": {URL: srv.URL(), PasswordFile: bad},
	} {
		s := newStore(t, o)
		if err := s.Ping(ctx); !errors.Is(err, state.ErrUnavailable) {
			t.Errorf("%s: Ping err = %v, want ErrUnavailable", name, err)
		}
	}
	if _, err := redisstore.New(redisstore.Options{URL: srv.URL(), PasswordFile: filepath.Join(dir, "absent")}); err == nil {
		t.Error("a missing password file: no error from New")
	}
}

func TestURLPasswordAndDatabase(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Config{Password: "pw"})
	ctx := context.Background()
	db3 := newStore(t, redisstore.Options{URL: "redis://:pw@" + srv.Addr() + "/3"})
	db0 := newStore(t, redisstore.Options{URL: "redis://:pw@" + srv.Addr() + "/0"})
	if err := db3.Set(ctx, "tokenguard:t:k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db0.Get(ctx, "tokenguard:t:k"); err != nil || ok {
		t.Fatalf("database 0 sees database 3's key (ok=%v, err=%v)", ok, err)
	}
	if _, ok, err := db3.Get(ctx, "tokenguard:t:k"); err != nil || !ok {
		t.Fatalf("database 3 lost its key (ok=%v, err=%v)", ok, err)
	}
}

func TestTLSWithCAFile(t *testing.T) {
	files := redistest.NewTLSFiles(t)
	srv := redistest.StartWith(t, redistest.Config{TLS: files})
	if !strings.HasPrefix(srv.URL(), "rediss://") {
		t.Fatalf("URL %s", srv.URL())
	}
	ctx := context.Background()
	s := newStore(t, redisstore.Options{URL: srv.URL(), CAFile: files.CA, OpTimeout: time.Second})
	if err := s.Set(ctx, "tokenguard:t:k", []byte("v"), time.Minute); err != nil {
		t.Fatalf("over TLS with the CA file: %v", err)
	}
	if n, err := s.Hit(ctx, "tokenguard:t:w", time.Now(), time.Minute); err != nil || n != 1 {
		t.Fatalf("Hit over TLS = %d, %v", n, err)
	}
	// Without the CA the server's certificate is not trusted.
	s = newStore(t, redisstore.Options{URL: srv.URL(), OpTimeout: time.Second})
	if err := s.Ping(ctx); !errors.Is(err, state.ErrUnavailable) || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: err = %v, want an untrusted certificate", err)
	}
	if _, err := redisstore.New(redisstore.Options{URL: "redis://" + srv.Addr(), CAFile: files.CA}); err == nil {
		t.Fatal("a CA file with a redis:// URL: no error")
	}
}

func TestInvalidURL(t *testing.T) {
	for _, u := range []string{"", "http://localhost:6379", "redis://:topsecret@host:notaport"} {
		_, err := redisstore.New(redisstore.Options{URL: u})
		if err == nil {
			t.Errorf("URL %q: no error", u)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("URL %q: the error shows the password: %v", u, err)
		}
	}
}

type namedOp struct {
	name string
	fn   func(context.Context) error
}

func allOps(s state.Store) []namedOp {
	return []namedOp{
		{"Get", func(ctx context.Context) error { _, _, err := s.Get(ctx, "tokenguard:t:k"); return err }},
		{"Set", func(ctx context.Context) error { return s.Set(ctx, "tokenguard:t:k", []byte("v"), time.Minute) }},
		{"SetNX", func(ctx context.Context) error {
			_, err := s.SetNX(ctx, "tokenguard:t:l", []byte("v"), time.Minute)
			return err
		}},
		{"CompareAndSet", func(ctx context.Context) error {
			_, err := s.CompareAndSet(ctx, "tokenguard:t:l", []byte("v"), []byte("w"), time.Minute)
			return err
		}},
		{"Delete", func(ctx context.Context) error { return s.Delete(ctx, "tokenguard:t:l") }},
		{"Incr", func(ctx context.Context) error { _, err := s.Incr(ctx, "tokenguard:t:n", time.Minute); return err }},
		{"Hit", func(ctx context.Context) error {
			_, err := s.Hit(ctx, "tokenguard:t:w", time.Now(), time.Minute)
			return err
		}},
		{"Do", func(ctx context.Context) error {
			var b state.Batch
			b.Get("tokenguard:t:k")
			b.Hits(time.Now(), state.WindowHit{Key: "tokenguard:t:w-batch", Window: time.Minute})
			s.Do(ctx, &b)
			return errors.Join(b.Op(0).Err, b.Op(1).Err)
		}},
		{"Ping", s.Ping},
	}
}

// TestACLUser checks the ACL docs/operations.md gives for a Redis shared
// with other applications: the tokenguard: keys and the commands the store
// uses, nothing else.
func TestACLUser(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	admin := newStore(t, redisstore.Options{URL: srv.URL()})
	if err := redisstore.DoForTest(ctx, admin, "ACL", "SETUSER", "tokenguard", "on", ">pw", "resetkeys", "~tokenguard:*",
		"resetchannels", "-@all", "+hello", "+ping", "+select",
		"+get", "+set", "+del", "+incr", "+pttl", "+pexpire", "+zadd", "+zcard", "+zremrangebyscore",
		"+evalsha", "+eval"); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("pw"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, redisstore.Options{URL: "redis://tokenguard@" + srv.Addr() + "/0", PasswordFile: pw})
	for _, op := range allOps(s) {
		if err := op.fn(ctx); err != nil {
			t.Errorf("%s as the ACL user: %v", op.name, err)
		}
	}
	if _, err := s.SetNX(ctx, "tokenguard:t:fresh", []byte("v"), time.Minute); err != nil {
		t.Errorf("SetNX as the ACL user: %v", err)
	}
	if err := s.Set(ctx, "other-app:k", []byte("v"), time.Minute); !errors.Is(err, state.ErrUnavailable) || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("a key outside tokenguard: %v, want NOPERM", err)
	}
}

// first is the count of a hit's first window, 0 when it failed.
func first(o *state.BatchOp) int64 {
	if len(o.Counts) == 0 {
		return 0
	}
	return o.Counts[0]
}
