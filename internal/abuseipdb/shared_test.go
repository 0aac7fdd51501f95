// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package abuseipdb_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/redisstore"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
	"github.com/tokenguard/tokenguard/internal/testutil/testclock"
)

// stores runs a test against the in-process store and a real redis-server:
// two Clients on one store stand for two replicas.
var stores = map[string]func(t *testing.T, now func() time.Time) state.Store{
	"memory": func(_ *testing.T, now func() time.Time) state.Store { return state.NewMemory(now) },
	"redis":  func(t *testing.T, _ func() time.Time) state.Store { return redisStore(t, redistest.Start(t)) },
}

// redisStore is a store on srv whose operations may take 2 s: the tests
// of exact fleet counts must not see a slow CI machine's pause as an
// outage. The outage tests use fastStore.
func redisStore(t testing.TB, srv *redistest.Server) state.Store {
	t.Helper()
	return redisStoreWithin(t, srv, 2*time.Second)
}

// fastStore is a store on srv with the production operation timeout.
func fastStore(t testing.TB, srv *redistest.Server) state.Store {
	t.Helper()
	return redisStoreWithin(t, srv, redisstore.DefaultOpTimeout)
}

func redisStoreWithin(t testing.TB, srv *redistest.Server, op time.Duration) state.Store {
	t.Helper()
	s, err := redisstore.New(redisstore.Options{URL: srv.URL(), OpTimeout: op})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// replica is one Client of a fleet, with what it reported.
type replica struct {
	*abuseipdb.Client
	mu        sync.Mutex
	seen      map[string]int
	fallbacks atomic.Int64
	logs      []string
}

func (r *replica) count(ev string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[ev]
}

func (r *replica) logLines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.logs...)
}

func newReplica(t testing.TB, st state.Store, fake *abuseipdbtest.Server, o abuseipdb.Options) *replica {
	t.Helper()
	r := &replica{seen: map[string]int{}}
	o.BaseURL, o.Store = fake.URL(), st
	if o.UpstreamTimeout == 0 {
		o.UpstreamTimeout = 2 * time.Second
	}
	if o.StoreTimeout == 0 {
		// As for redisStore: a pause of the machine is no outage here.
		o.StoreTimeout = 2 * time.Second
	}
	o.Observe = func(ev, res string) { r.mu.Lock(); r.seen[ev+":"+res]++; r.mu.Unlock() }
	o.ObserveStore = func(use, res string) {
		if use == "abuseipdb" && res == "fallback" {
			r.fallbacks.Add(1)
		}
	}
	o.Log = funcr.New(func(prefix, args string) { r.mu.Lock(); r.logs = append(r.logs, args); r.mu.Unlock() }, funcr.Options{})
	c, err := abuseipdb.New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.Client = c
	return r
}

// A score one replica fetched is a cache hit for another, which keeps it in
// its own cache; the time it was fetched travels with it, so a policy with a
// shorter TTL than the writer's does not take an older score.
func TestSharedScore(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
			clk := testclock.New(time.Now())
			st := newStore(t, clk.Now)
			a := newReplica(t, st, fake, abuseipdb.Options{Now: clk.Now})
			b := newReplica(t, st, fake, abuseipdb.Options{Now: clk.Now})
			ctx := context.Background()
			if r, err := a.Score(ctx, q("14.102.69.58")); err != nil || r.Score != 50 || r.Cached {
				t.Fatalf("A: %+v %v", r, err)
			}
			if r, err := b.Score(ctx, q("14.102.69.58")); err != nil || r.Score != 50 || !r.Cached {
				t.Fatalf("B: %+v %v", r, err)
			}
			if fake.Calls() != 1 || b.count("cache:shared_hit") != 1 || b.count("upstream:ok") != 0 {
				t.Errorf("calls %d, B observed %v", fake.Calls(), b.seen)
			}
			if r, ok := b.Cached(q("14.102.69.58")); !ok || r.Score != 50 {
				t.Errorf("B's local cache was not filled: %+v %v", r, ok)
			}
			// A policy that keeps scores for 3h writes one; 90 minutes
			// later a policy with a 1h TTL does not take it.
			long := q("205.210.31.51")
			long.TTL = 3 * time.Hour
			if _, err := a.Score(ctx, long); err != nil || fake.Calls() != 2 {
				t.Fatalf("A, 3h policy: %v calls %d", err, fake.Calls())
			}
			clk.Add(90 * time.Minute)
			if r, err := b.Score(ctx, long); err != nil || !r.Cached || fake.Calls() != 2 {
				t.Errorf("B, 3h policy: %+v %v calls %d", r, err, fake.Calls())
			}
			fresh := abuseipdb.Options{Now: clk.Now}
			c := newReplica(t, st, fake, fresh)
			if r, err := c.Score(ctx, q("205.210.31.51")); err != nil || r.Cached || fake.Calls() != 3 {
				t.Errorf("C, 1h policy on a 90-minute-old score: %+v %v calls %d", r, err, fake.Calls())
			}
			if a.fallbacks.Load()+b.fallbacks.Load()+c.fallbacks.Load() != 0 {
				t.Error("fallbacks reported with a working store")
			}
		})
	}
}

// 100 concurrent calls for one new address, spread over two replicas, make
// one upstream request.
func TestSharedCoalescing(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
			fake.SetDelay(100 * time.Millisecond)
			st := newStore(t, nil)
			reps := []*replica{newReplica(t, st, fake, abuseipdb.Options{}), newReplica(t, st, fake, abuseipdb.Options{})}
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					defer cancel()
					if r, err := reps[i%2].Score(ctx, q("14.102.69.58")); err != nil || r.Score != 50 {
						t.Errorf("call %d: %+v %v", i, r, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if fake.Calls() != 1 {
				t.Errorf("upstream calls = %d, want 1", fake.Calls())
			}
			// One replica asked; the other's 50 callers had its answer.
			ok := reps[0].count("upstream:ok") + reps[1].count("upstream:ok")
			shared := reps[0].count("cache:shared_hit") + reps[1].count("cache:shared_hit")
			if ok != 1 || shared != 50 {
				t.Errorf("upstream answers %d, shared hits %d; want 1 and 50", ok, shared)
			}
			t.Logf("upstream calls for 100 concurrent lookups over 2 replicas: %d", fake.Calls())
		})
	}
}

// The daily quota is counted across replicas, before each request: N
// requests, then quota errors without a request, also for lookups made at
// once.
func TestSharedDailyQuota(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
			st := newStore(t, nil)
			o := abuseipdb.Options{DailyQuota: 3}
			reps := []*replica{newReplica(t, st, fake, o), newReplica(t, st, fake, o)}
			ctx := context.Background()
			for i := range 6 {
				_, err := reps[i%2].Score(ctx, q(fmt.Sprintf("198.51.100.%d", i+1)))
				if i < 3 && err != nil {
					t.Errorf("lookup %d within the quota: %v", i, err)
				}
				if i >= 3 && abuseipdb.KindOf(err) != abuseipdb.KindQuota {
					t.Errorf("lookup %d past the quota: %v", i, err)
				}
			}
			if fake.Calls() != 3 {
				t.Errorf("upstream calls = %d, want 3", fake.Calls())
			}
			// Cached scores are still answered.
			if r, err := reps[1].Score(ctx, q("198.51.100.1")); err != nil || !r.Cached {
				t.Errorf("a shared score past the quota: %+v %v", r, err)
			}

			// At once: 40 new addresses over two replicas, quota 5.
			fake2 := abuseipdbtest.New(t, key, nil)
			o.DailyQuota = 5
			st2 := newStore(t, nil)
			reps = []*replica{newReplica(t, st2, fake2, o), newReplica(t, st2, fake2, o)}
			var wg sync.WaitGroup
			var ok, spent atomic.Int64
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := reps[i%2].Score(ctx, q(fmt.Sprintf("203.0.113.%d", i+1)))
					switch abuseipdb.KindOf(err) {
					case "":
						ok.Add(1)
					case abuseipdb.KindQuota:
						spent.Add(1)
					default:
						t.Errorf("lookup %d: %v", i, err)
					}
				}()
			}
			wg.Wait()
			if fake2.Calls() != 5 || ok.Load() != 5 || spent.Load() != 35 {
				t.Errorf("at once: upstream %d, answered %d, quota errors %d; want 5, 5, 35", fake2.Calls(), ok.Load(), spent.Load())
			}
		})
	}
}

func TestDailyQuotaNeedsStore(t *testing.T) {
	if _, err := abuseipdb.New(abuseipdb.Options{DailyQuota: 10}); err == nil {
		t.Error("a daily quota without a store was accepted")
	}
}

// A 429 one replica gets pauses the others: they make no request until
// Retry-After has passed.
func TestSharedRateLimitPause(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
			fake.RetryAfter = 120
			clk := testclock.New(time.Now())
			st := newStore(t, clk.Now)
			a := newReplica(t, st, fake, abuseipdb.Options{Now: clk.Now})
			b := newReplica(t, st, fake, abuseipdb.Options{Now: clk.Now})
			ctx := context.Background()
			fake.SetMode(abuseipdbtest.RateLimited)
			if _, err := a.Score(ctx, q("14.102.69.58")); abuseipdb.KindOf(err) != abuseipdb.KindRateLimited {
				t.Fatalf("A: %v", err)
			}
			fake.SetMode(abuseipdbtest.Normal)
			for _, ip := range []string{"205.210.31.51", "103.159.198.178"} {
				if _, err := b.Score(ctx, q(ip)); abuseipdb.KindOf(err) != abuseipdb.KindRateLimited {
					t.Errorf("B, %s during A's pause: %v", ip, err)
				}
			}
			if fake.Calls() != 1 {
				t.Errorf("upstream calls during the pause: %d, want only A's", fake.Calls())
			}
			clk.Add(121 * time.Second)
			if r, err := b.Score(ctx, q("205.210.31.51")); err != nil || r.Score != 10 {
				t.Errorf("B after the pause: %+v %v", r, err)
			}
		})
	}
}

// A key AbuseIPDB rejected at one replica is paused at the others, whose
// listeners hear of it.
func TestSharedRejectedKey(t *testing.T) {
	fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
	st := state.NewMemory(nil)
	a := newReplica(t, st, fake, abuseipdb.Options{})
	b := newReplica(t, st, fake, abuseipdb.Options{})
	events := make(chan abuseipdb.KeyEvent, 4)
	defer b.Subscribe(func(e abuseipdb.KeyEvent) { events <- e })()
	bad := q("14.102.69.58")
	bad.APIKey = "k-gone-7"
	ctx := context.Background()
	if _, err := a.Score(ctx, bad); abuseipdb.KindOf(err) != abuseipdb.KindUnauthorized {
		t.Fatalf("A: %v", err)
	}
	bad.IP = netip.MustParseAddr("205.210.31.51")
	if _, err := b.Score(ctx, bad); abuseipdb.KindOf(err) != abuseipdb.KindUnauthorized || fake.Calls() != 1 {
		t.Fatalf("B: %v, calls %d", err, fake.Calls())
	}
	ra, _ := a.Rejected("k-gone-7")
	rb, ok := b.Rejected("k-gone-7")
	if !ok || rb.Status != 401 || !rb.Until.Equal(ra.Until.Truncate(time.Millisecond)) {
		t.Errorf("B's rejection %+v, A's %+v", rb, ra)
	}
	select {
	case e := <-events:
		if e.Kind != abuseipdb.KeyRejected {
			t.Errorf("B's event %+v", e)
		}
	case <-time.After(time.Second):
		t.Error("B's listeners heard nothing")
	}
}

// With Redis stopped, lookups answer within the budget from AbuseIPDB and
// the local cache, the outage is logged once and counted per lookup; once
// Redis is back, the replicas share again.
func TestStoreDown(t *testing.T) {
	fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
	srv := redistest.Start(t)
	storeTimeout := abuseipdb.Options{DailyQuota: 100, StoreTimeout: 50 * time.Millisecond}
	a := newReplica(t, fastStore(t, srv), fake, storeTimeout)
	b := newReplica(t, fastStore(t, srv), fake, storeTimeout)
	const budget = 300 * time.Millisecond
	within := func(r *replica, ip string, budget time.Duration) (engine.ScoreResult, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), budget)
		defer cancel()
		start := time.Now()
		res, err := r.Score(ctx, q(ip))
		if took := time.Since(start); took > budget+50*time.Millisecond {
			t.Errorf("%s took %s, past the %s budget", ip, took, budget)
		}
		return res, err
	}
	score := func(r *replica, ip string) (engine.ScoreResult, error) {
		t.Helper()
		return within(r, ip, budget)
	}
	if _, err := score(a, "14.102.69.58"); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	// A known address from the local cache, new ones from AbuseIPDB.
	if r, err := score(a, "14.102.69.58"); err != nil || !r.Cached {
		t.Errorf("local hit with Redis down: %+v %v", r, err)
	}
	for i := range 20 {
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		if _, err := score(a, ip); err != nil {
			t.Errorf("A, %s with Redis down: %v", ip, err)
		}
		if r, err := score(a, ip); err != nil || !r.Cached {
			t.Errorf("A, %s again with Redis down: %+v %v", ip, r, err)
		}
	}
	if _, err := score(b, "205.210.31.51"); err != nil {
		t.Errorf("B with Redis down: %v", err)
	}
	if fake.Calls() != 22 {
		t.Errorf("upstream calls with Redis down = %d, want 22", fake.Calls())
	}
	// Under load: 100 concurrent lookups of 10 new addresses over both
	// (each a fresh loopback request to the stand-in: a budget that a
	// loaded CI machine cannot miss; what counts here is the coalescing).
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := []*replica{a, b}[i%2]
			if _, err := within(r, fmt.Sprintf("203.0.113.%d", i%10+1), 3*time.Second); err != nil {
				t.Errorf("concurrent lookup %d with Redis down: %v", i, err)
			}
		}()
	}
	wg.Wait()
	// Each replica coalesces its own callers: at most one request per
	// address and replica.
	if n := fake.Calls() - 22; n < 10 || n > 20 {
		t.Errorf("upstream calls for 10 addresses on 2 replicas with Redis down = %d, want 10 to 20", n)
	}
	if a.fallbacks.Load() < 20 {
		t.Errorf("A's fallbacks = %d, want at least 20 (one per lookup that missed locally)", a.fallbacks.Load())
	}
	if logs := strings.Join(a.logLines(), "\n"); strings.Count(logs, "fall back to this replica") != 1 {
		t.Errorf("A logged the outage %d times:\n%s", strings.Count(logs, "fall back to this replica"), logs)
	}

	srv.Restart()
	// Within a few store retries A shares again, and B hits what A fetched.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		ip := fmt.Sprintf("192.0.2.%d", i+1)
		if _, err := score(a, ip); err != nil {
			t.Fatalf("A after the restart: %v", err)
		}
		if r, err := score(b, ip); err == nil && r.Cached {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replicas did not share again within 10s of the restart")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if logs := strings.Join(a.logLines(), "\n"); !strings.Contains(logs, "answers again") {
		t.Errorf("A did not log the recovery:\n%s", logs)
	}
}

// A Redis that hangs (SIGSTOP) costs a lookup one store timeout at most.
func TestStoreHangs(t *testing.T) {
	fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
	srv := redistest.Start(t)
	a := newReplica(t, fastStore(t, srv), fake, abuseipdb.Options{StoreTimeout: 50 * time.Millisecond})
	if _, err := a.Score(context.Background(), q("14.102.69.58")); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := a.Score(ctx, q(fmt.Sprintf("198.51.100.%d", i+1)))
		cancel()
		if err != nil || time.Since(start) > 250*time.Millisecond {
			t.Errorf("lookup %d with Redis hanging: %v after %s", i, err, time.Since(start))
		}
	}
	if a.fallbacks.Load() != 10 {
		t.Errorf("fallbacks = %d, want 10", a.fallbacks.Load())
	}
}

// With a store, a replica that knows the key is paused still answers the
// scores others fetched; it makes no request.
func TestSharedScoreDuringPause(t *testing.T) {
	fake := abuseipdbtest.New(t, key, abuseipdbtest.SeedScores)
	st := state.NewMemory(nil)
	a := newReplica(t, st, fake, abuseipdb.Options{})
	b := newReplica(t, st, fake, abuseipdb.Options{})
	ctx := context.Background()
	if _, err := a.Score(ctx, q("14.102.69.58")); err != nil {
		t.Fatal(err)
	}
	fake.SetMode(abuseipdbtest.RateLimited)
	if _, err := b.Score(ctx, q("205.210.31.51")); abuseipdb.KindOf(err) != abuseipdb.KindRateLimited {
		t.Fatalf("B: %v", err)
	}
	if r, err := b.Score(ctx, q("14.102.69.58")); err != nil || !r.Cached || r.Score != 50 {
		t.Errorf("B, a shared score during its pause: %+v %v", r, err)
	}
	var e *abuseipdb.Error
	if _, err := b.Score(ctx, q("103.159.198.178")); !errors.As(err, &e) || e.Kind != abuseipdb.KindRateLimited || e.Status != 0 || fake.Calls() != 2 {
		t.Errorf("B, a new address during its pause: %v, calls %d", err, fake.Calls())
	}
}

// BenchmarkScore compares a lookup answered by the local cache, by Redis
// (the local cache misses), and by the fake AbuseIPDB over loopback HTTP,
// with and without the shared store in front.
func BenchmarkScore(b *testing.B) {
	fake := abuseipdbtest.New(b, key, abuseipdbtest.SeedScores)
	srv := redistest.Start(b)
	rs := redisStore(b, srv)
	ctx := context.Background()
	b.Run("local_hit", func(b *testing.B) {
		c := newReplica(b, rs, fake, abuseipdb.Options{})
		_, _ = c.Score(ctx, q("14.102.69.58"))
		b.ResetTimer()
		for range b.N {
			if r, err := c.Score(ctx, q("14.102.69.58")); err != nil || !r.Cached {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("redis_hit", func(b *testing.B) {
		w := newReplica(b, rs, fake, abuseipdb.Options{})
		ips := []string{"14.102.69.58", "205.210.31.51"}
		for _, ip := range ips {
			_, _ = w.Score(ctx, q(ip))
		}
		// A one-entry local cache: the two addresses evict each other, so
		// every lookup misses locally and hits Redis.
		c := newReplica(b, rs, fake, abuseipdb.Options{CacheSize: 1})
		b.ResetTimer()
		for i := range b.N {
			if r, err := c.Score(ctx, q(ips[i%2])); err != nil || !r.Cached {
				b.Fatal(r, err)
			}
		}
	})
	// Every miss asks about an address nobody asked about before, across
	// the benchmark's runs too.
	var next atomic.Uint32
	miss := func(b *testing.B, st state.Store) {
		c := newReplica(b, st, fake, abuseipdb.Options{})
		b.ResetTimer()
		for range b.N {
			n := next.Add(1)
			qq := q("14.102.69.58")
			qq.IP = netip.AddrFrom4([4]byte{11, byte(n >> 16), byte(n >> 8), byte(n)})
			if _, err := c.Score(ctx, qq); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("miss_redis", func(b *testing.B) { miss(b, rs) })
	b.Run("miss_no_store", func(b *testing.B) { miss(b, nil) })
}
