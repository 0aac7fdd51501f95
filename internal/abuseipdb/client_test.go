// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package abuseipdb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil/testclock"
)

const key = "k-123456"

func setup(t *testing.T) (*abuseipdb.Client, *abuseipdbtest.Server, *testclock.Clock, map[string]int) {
	t.Helper()
	fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
	clk := testclock.New(time.Unix(1_800_000_000, 0))
	var mu sync.Mutex
	seen := map[string]int{}
	c, err := abuseipdb.New(abuseipdb.Options{
		BaseURL: fake.URL(), CacheSize: 2, UpstreamTimeout: time.Second, Now: clk.Now,
		Observe: func(ev, res string) { mu.Lock(); seen[ev+":"+res]++; mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, fake, clk, seen
}

func q(ip string) engine.ScoreQuery {
	return engine.ScoreQuery{APIKey: key, IP: netip.MustParseAddr(ip), MaxAgeInDays: 30, TTL: time.Hour}
}

func TestScoreAndCache(t *testing.T) {
	c, fake, clk, seen := setup(t)
	ctx := context.Background()
	r, err := c.Score(ctx, q("14.102.69.58"))
	if err != nil || r.Score != 50 || r.Cached {
		t.Fatalf("first: %+v %v", r, err)
	}
	if fake.LastMaxAge() != 30 {
		t.Errorf("maxAgeInDays sent = %d", fake.LastMaxAge())
	}
	r, err = c.Score(ctx, q("14.102.69.58"))
	if err != nil || r.Score != 50 || !r.Cached || fake.Calls() != 1 {
		t.Fatalf("second: %+v %v calls %d", r, err, fake.Calls())
	}
	// Past the policy's TTL the score is fetched again.
	fake.SetScore("14.102.69.58", 80)
	clk.Add(time.Hour + time.Second)
	r, _ = c.Score(ctx, q("14.102.69.58"))
	if r.Score != 80 || r.Cached || fake.Calls() != 2 {
		t.Errorf("after TTL: %+v calls %d", r, fake.Calls())
	}
	// A different maxAgeInDays is a different question.
	qq := q("14.102.69.58")
	qq.MaxAgeInDays = 90
	if r, _ := c.Score(ctx, qq); r.Cached || fake.LastMaxAge() != 90 {
		t.Errorf("maxAge 90 served from the 30-day cache entry: %+v", r)
	}
	// The cache is bounded: a third address evicts the least recently used.
	_, _ = c.Score(ctx, q("205.210.31.51"))
	_, _ = c.Score(ctx, q("103.159.198.178"))
	before := fake.Calls()
	if r, _ := c.Score(ctx, q("14.102.69.58")); r.Cached {
		t.Errorf("an evicted entry was still cached")
	}
	if fake.Calls() != before+1 {
		t.Errorf("calls %d, want %d", fake.Calls(), before+1)
	}
	if seen["cache:hit"] != 1 || seen["upstream:ok"] != 6 {
		t.Errorf("observed %v", seen)
	}
	// IPv6 addresses are URL-encoded and answered.
	if _, err := c.Score(ctx, q("2001:db8::1")); err != nil {
		t.Errorf("IPv6: %v", err)
	}
}

func TestFailures(t *testing.T) {
	cases := map[string]struct {
		mode   abuseipdbtest.Mode
		key    string
		kind   abuseipdb.Kind
		status int
	}{
		"bad key":      {abuseipdbtest.Normal, "wrong", abuseipdb.KindUnauthorized, 401},
		"server error": {abuseipdbtest.ServerError, key, abuseipdb.KindUpstream, 500},
		"garbage":      {abuseipdbtest.Garbage, key, abuseipdb.KindDecode, 200},
		"rate limited": {abuseipdbtest.RateLimited, key, abuseipdb.KindRateLimited, 429},
		"no key":       {abuseipdbtest.Normal, "", abuseipdb.KindNoKey, 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, fake, _, _ := setup(t)
			fake.SetMode(tc.mode)
			qq := q("14.102.69.58")
			qq.APIKey = policy.Secret(tc.key)
			_, err := c.Score(context.Background(), qq)
			var e *abuseipdb.Error
			if err == nil || abuseipdb.KindOf(err) != tc.kind {
				t.Fatalf("err %v, want kind %s", err, tc.kind)
			}
			if ok := errors.As(err, &e); !ok || e.Status != tc.status {
				t.Errorf("status %+v", e)
			}
			if tc.key != "" && strings.Contains(err.Error(), tc.key) {
				t.Errorf("error text leaks the key: %v", err)
			}
		})
	}
}

// After a 429 no request is made until Retry-After has passed.
func TestRateLimitPause(t *testing.T) {
	c, fake, clk, _ := setup(t)
	fake.RetryAfter = 120
	fake.SetMode(abuseipdbtest.RateLimited)
	ctx := context.Background()
	if _, err := c.Score(ctx, q("14.102.69.58")); abuseipdb.KindOf(err) != abuseipdb.KindRateLimited {
		t.Fatalf("err %v", err)
	}
	fake.SetMode(abuseipdbtest.Normal)
	if _, err := c.Score(ctx, q("205.210.31.51")); abuseipdb.KindOf(err) != abuseipdb.KindRateLimited {
		t.Fatalf("during the pause: err %v", err)
	}
	if fake.Calls() != 1 {
		t.Errorf("calls during the pause: %d", fake.Calls())
	}
	clk.Add(121 * time.Second)
	if r, err := c.Score(ctx, q("205.210.31.51")); err != nil || r.Score != 10 {
		t.Errorf("after the pause: %+v %v", r, err)
	}
}

// An answer saying no checks remain pauses calls until X-RateLimit-Reset.
func TestQuotaExhausted(t *testing.T) {
	c, fake, _, _ := setup(t)
	fake.SetMode(abuseipdbtest.QuotaLastCall)
	ctx := context.Background()
	if r, err := c.Score(ctx, q("14.102.69.58")); err != nil || r.Score != 50 {
		t.Fatalf("last call: %+v %v", r, err)
	}
	if _, err := c.Score(ctx, q("205.210.31.51")); abuseipdb.KindOf(err) != abuseipdb.KindRateLimited || fake.Calls() != 1 {
		t.Errorf("after the quota: err %v calls %d", err, fake.Calls())
	}
}

// A caller gives up at its deadline; the request goes on and fills the cache
// for the platform's retry.
func TestDeadlineAndDetachedRequest(t *testing.T) {
	c, fake, _, _ := setup(t)
	fake.SetDelay(600 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Score(ctx, q("14.102.69.58"))
	// The caller is back long before AbuseIPDB answers (timings in tests are
	// loose on purpose; make load measures them).
	if abuseipdb.KindOf(err) != abuseipdb.KindTimeout || time.Since(start) > 450*time.Millisecond {
		t.Fatalf("err %v after %s", err, time.Since(start))
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r, ok := c.Cached(q("14.102.69.58")); ok && r.Score == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the detached request did not fill the cache")
		}
	}
	if r, err := c.Score(context.Background(), q("14.102.69.58")); err != nil || !r.Cached || r.Score != 50 || fake.Calls() != 1 {
		t.Errorf("retry: %+v %v calls %d", r, err, fake.Calls())
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	c, fake, _, _ := setup(t)
	fake.SetDelay(100 * time.Millisecond)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r, err := c.Score(context.Background(), q("14.102.69.58")); err != nil || r.Score != 50 {
				t.Errorf("%+v %v", r, err)
			}
		}()
	}
	wg.Wait()
	if fake.Calls() != 1 {
		t.Errorf("upstream calls = %d, want 1", fake.Calls())
	}
}

// Past MaxInFlight concurrent upstream requests, new addresses fail fast.
func TestMaxInFlight(t *testing.T) {
	fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
	fake.SetDelay(time.Second)
	c, err := abuseipdb.New(abuseipdb.Options{BaseURL: fake.URL(), MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := c.Score(context.Background(), q("14.102.69.58"))
		first <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); fake.Calls() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request never reached AbuseIPDB")
		}
	}
	start := time.Now()
	if _, err := c.Score(context.Background(), q("205.210.31.51")); abuseipdb.KindOf(err) != abuseipdb.KindOverloaded || time.Since(start) > 500*time.Millisecond {
		t.Errorf("second address: %v after %s", err, time.Since(start))
	}
	if err := <-first; err != nil {
		t.Errorf("first address: %v", err)
	}
	if r, err := c.Score(context.Background(), q("205.210.31.51")); err != nil || r.Score != 10 {
		t.Errorf("after the first finished: %+v %v", r, err)
	}
}

// A request AbuseIPDB refuses (422) is a failure of its own kind, with the
// documented error text.
func TestUnprocessable(t *testing.T) {
	c, _, _, _ := setup(t)
	qq := q("14.102.69.58")
	qq.MaxAgeInDays = 400
	_, err := c.Score(context.Background(), qq)
	var e *abuseipdb.Error
	if !errors.As(err, &e) || e.Kind != abuseipdb.KindInvalid || e.Status != 422 || !strings.Contains(e.Detail, "between 1 and 365") {
		t.Errorf("err %v", err)
	}
}

// A redirect from the AbuseIPDB address is not followed: the API key would go
// to a host nobody configured. The 3xx fails the lookup as an upstream error,
// so the policy's onFailure applies; this holds for a caller's own
// http.Client too.
func TestRedirectNotFollowed(t *testing.T) {
	for name, hc := range map[string]*http.Client{"default client": nil, "caller's client": {}} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			got, keys := 0, 0
			elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got++
				if r.Header.Get("Key") != "" {
					keys++
				}
				mu.Unlock()
				_, _ = w.Write([]byte(`{"data":{"abuseConfidenceScore":0}}`))
			}))
			defer elsewhere.Close()
			redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
			}))
			defer redirecting.Close()
			c, err := abuseipdb.New(abuseipdb.Options{BaseURL: redirecting.URL + "/api/v2", HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Score(context.Background(), q("14.102.69.58"))
			var e *abuseipdb.Error
			if !errors.As(err, &e) || e.Kind != abuseipdb.KindUpstream || e.Status != http.StatusFound {
				t.Errorf("err %v, want %s with HTTP 302", err, abuseipdb.KindUpstream)
			}
			mu.Lock()
			defer mu.Unlock()
			if got != 0 || keys != 0 {
				t.Errorf("the redirect target got %d requests, %d with a Key header", got, keys)
			}
			if hc != nil && hc.CheckRedirect != nil {
				t.Error("the caller's http.Client was changed")
			}
		})
	}
}

// After AbuseIPDB rejects a key (401 or 403), lookups with it make no
// request for five minutes and fail as unauthorized, so the policy's
// onFailure applies without spending requests on a key that cannot work.
// Another key (a rotated Secret) is not paused.
func TestRejectedKeyPaused(t *testing.T) {
	cases := map[string]struct {
		mode   abuseipdbtest.Mode
		key    string
		status int
	}{
		"401 for a wrong key": {abuseipdbtest.Normal, "k-gone-7", 401},
		"403":                 {abuseipdbtest.Forbidden, key, 403},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c, fake, clk, _ := setup(t)
			fake.SetMode(tc.mode)
			ctx := context.Background()
			bad := func(ip string) engine.ScoreQuery { qq := q(ip); qq.APIKey = policy.Secret(tc.key); return qq }
			var e *abuseipdb.Error
			if _, err := c.Score(ctx, bad("14.102.69.58")); !errors.As(err, &e) || e.Kind != abuseipdb.KindUnauthorized || e.Status != tc.status {
				t.Fatalf("first lookup: %v", err)
			}
			for _, ip := range []string{"14.102.69.58", "205.210.31.51", "103.159.198.178", "2001:db8::1", "175.45.176.0"} {
				_, err := c.Score(ctx, bad(ip))
				if abuseipdb.KindOf(err) != abuseipdb.KindUnauthorized {
					t.Errorf("%s during the pause: %v", ip, err)
				}
				if err != nil && strings.Contains(err.Error(), tc.key) {
					t.Errorf("error text leaks the key: %v", err)
				}
			}
			if fake.Calls() != 1 {
				t.Errorf("upstream requests during the pause: %d, want none after the first", fake.Calls()-1)
			}
			// A new key is asked at once.
			fake.SetMode(abuseipdbtest.Normal)
			fake.SetKey("rotated")
			rotated := q("205.210.31.51")
			rotated.APIKey = "rotated"
			if r, err := c.Score(ctx, rotated); err != nil || r.Score != 10 || fake.Calls() != 2 {
				t.Errorf("another key: %+v %v calls %d", r, err, fake.Calls())
			}
			// Past the pause the rejected key is tried again.
			fake.SetKey(tc.key)
			clk.Add(5*time.Minute + time.Second)
			if r, err := c.Score(ctx, bad("103.159.198.178")); err != nil || r.Score != 100 || fake.Calls() != 3 {
				t.Errorf("after the pause: %+v %v calls %d", r, err, fake.Calls())
			}
		})
	}
}

// Listeners hear each change in what Rejected says about a key: rejected,
// pause over (on a timer, without a lookup), and accepted again.
func TestKeyEvents(t *testing.T) {
	fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
	var mu sync.Mutex
	var observed []string
	c, err := abuseipdb.New(abuseipdb.Options{
		BaseURL: fake.URL(), RejectedKeyPause: time.Second,
		ObserveKeys: func(rejected bool, paused int) {
			mu.Lock()
			defer mu.Unlock()
			observed = append(observed, fmt.Sprintf("%v/%d", rejected, paused))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan abuseipdb.KeyEvent, 10)
	stop := c.Subscribe(func(e abuseipdb.KeyEvent) { events <- e })
	next := func(want abuseipdb.KeyEventKind) {
		t.Helper()
		select {
		case e := <-events:
			if e.Kind != want || e.Key != abuseipdb.FingerprintOf("k-gone-7") {
				t.Fatalf("event %+v, want %s for the rejected key", e, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	ctx := context.Background()
	bad := q("14.102.69.58")
	bad.APIKey = "k-gone-7"
	start := time.Now()
	_, _ = c.Score(ctx, bad)
	next(abuseipdb.KeyRejected)
	r, ok := c.Rejected("k-gone-7")
	if !ok || r.Status != 401 || r.At.Before(start) || r.Until.Sub(r.At) != time.Second {
		t.Errorf("Rejected: %+v %v", r, ok)
	}
	if _, ok := c.Rejected(key); ok {
		t.Error("a key AbuseIPDB never refused is reported rejected")
	}
	if _, err := c.Score(ctx, q("205.210.31.51")); err != nil {
		t.Errorf("another key: %v", err)
	}
	next(abuseipdb.KeyPauseOver)
	if _, ok := c.Rejected("k-gone-7"); ok {
		t.Error("still rejected after the pause")
	}
	fake.SetKey("k-gone-7")
	if _, err := c.Score(ctx, bad); err != nil {
		t.Fatalf("reinstated key: %v", err)
	}
	next(abuseipdb.KeyAccepted)
	stop()
	fake.SetKey(key)
	bad.IP = netip.MustParseAddr("103.159.198.178")
	_, _ = c.Score(ctx, bad)
	mu.Lock() // before this rejection's pause can end
	got := strings.Join(observed, " ")
	mu.Unlock()
	select {
	case e := <-events:
		t.Errorf("event after the subscription ended: %+v", e)
	case <-time.After(50 * time.Millisecond):
	}
	if got != "true/1 false/0 false/0 true/1" {
		t.Errorf("ObserveKeys calls %q", got)
	}
}

// With AbuseIPDB switched off there is no client; a nil one is a valid
// listener source that rejects nothing.
func TestNilClientKeyHealth(t *testing.T) {
	var c *abuseipdb.Client
	if _, ok := c.Rejected(key); ok {
		t.Error("a nil client rejected a key")
	}
	c.Subscribe(func(abuseipdb.KeyEvent) { t.Error("event from a nil client") })()
}
