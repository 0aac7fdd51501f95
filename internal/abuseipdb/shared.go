// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package abuseipdb

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/state"
)

// What the replicas share, under state.Key("abuseipdb", ...). No key holds
// an API key: keys that depend on one name its 64-bit fingerprint.
//
//	score:<maxAge>:<ip>     "<score> <fetched, Unix ms>", for the policy's cache TTL
//	lock:<maxAge>:<ip>      held by the replica asking AbuseIPDB, for the upstream timeout
//	quota:<key fp>:<day>    upstream requests made on that UTC day, until the day after
//	pause:<key fp>          "<until, Unix ms>": 429 or no checks remaining, until then
//	rejected:<key fp>       "<status> <at> <until>" (Unix ms): 401 or 403, until then
const storeUse = "abuseipdb"

// storeRetry is how long a store that failed is left alone before a lookup
// tries it again.
const storeRetry = 500 * time.Millisecond

// Waiting for another replica's answer, the store is read again after a
// random interval in [pollMin, pollMax).
const (
	pollMin = 10 * time.Millisecond
	pollMax = 25 * time.Millisecond
)

func scoreKey(k cacheKey) string {
	return state.Key(storeUse, "score", strconv.Itoa(k.maxAge), k.ip.String())
}

func lockKey(k cacheKey) string {
	return state.Key(storeUse, "lock", strconv.Itoa(k.maxAge), k.ip.String())
}

func quotaKey(fp uint64, day time.Time) string {
	return state.Key(storeUse, "quota", strconv.FormatUint(fp, 16), day.Format("2006-01-02"))
}

func pauseKey(fp uint64) string { return state.Key(storeUse, "pause", strconv.FormatUint(fp, 16)) }

func rejectedKey(fp uint64) string {
	return state.Key(storeUse, "rejected", strconv.FormatUint(fp, 16))
}

// storeHealth remembers that the store failed, so that lookups during an
// outage do not each wait for it, and logs once when it fails and once when
// it answers again.
type storeHealth struct {
	log  logr.Logger
	down atomic.Bool

	mu      sync.Mutex
	downAt  time.Time
	retryAt time.Time
}

// usable reports whether a lookup may use the store: always while it is
// up; during an outage, one lookup every storeRetry (the probe).
func (h *storeHealth) usable() bool {
	if !h.down.Load() {
		return true
	}
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down.Load() {
		return true
	}
	if now.Before(h.retryAt) {
		return false
	}
	h.retryAt = now.Add(storeRetry)
	return true
}

func (h *storeHealth) failed(err error) {
	now := time.Now()
	h.mu.Lock()
	was := h.down.Swap(true)
	h.downAt, h.retryAt = now, now.Add(storeRetry)
	h.mu.Unlock()
	if !was {
		h.log.Error(err, "state store unavailable: AbuseIPDB lookups fall back to this replica's own cache, coalescing and pauses until it answers again")
	}
}

// ok records an operation that began at start and succeeded. One that
// began before the last failure proves nothing about the recovery.
func (h *storeHealth) ok(start time.Time) {
	if !h.down.Load() {
		return
	}
	h.mu.Lock()
	up := h.down.Load() && start.After(h.downAt)
	if up {
		h.down.Store(false)
	}
	downAt := h.downAt
	h.mu.Unlock()
	if up {
		h.log.Info("state store answers again: AbuseIPDB lookups share scores, quota and pauses", "downFor", time.Since(downAt).Round(time.Millisecond).String())
	}
}

// storeCall is one lookup's use of the store. After the first failed
// operation it stops using the store (on is false), so that a slow store
// costs a lookup one StoreTimeout at most, and the lookup goes on alone.
type storeCall struct {
	c        *Client
	on       bool
	fellBack bool
}

func (c *Client) newStoreCall() *storeCall {
	sc := &storeCall{c: c}
	if c.store == nil {
		return sc
	}
	sc.on = c.health.usable()
	sc.fellBack = !sc.on
	return sc
}

// done reports a lookup that went on without the store.
func (sc *storeCall) done() {
	if sc.fellBack {
		sc.c.observeStore(storeUse, "fallback")
	}
}

// run runs op within StoreTimeout and ctx, and reports whether it
// succeeded. A failure that is the store's (not ctx's end) switches the
// store off for the rest of the lookup and marks it down. sc may be nil.
func (sc *storeCall) run(ctx context.Context, op func(context.Context) error) bool {
	if sc == nil || !sc.on {
		return false
	}
	start := time.Now()
	octx, cancel := context.WithTimeout(ctx, sc.c.storeTimeout)
	err := op(octx)
	cancel()
	if err == nil {
		sc.c.health.ok(start)
		return true
	}
	if ctx.Err() != nil {
		// The lookup's own time ran out; the store may be fine.
		return false
	}
	sc.on, sc.fellBack = false, true
	sc.c.health.failed(err)
	return false
}

// write runs op detached from ctx's end: what a lookup learned is shared
// even when it learned it at the last moment.
func (sc *storeCall) write(ctx context.Context, op func(context.Context) error) {
	sc.run(context.WithoutCancel(ctx), op)
}

// get reads key; ok is false when the store holds nothing there or failed.
func (sc *storeCall) get(ctx context.Context, key string) (v []byte, ok bool) {
	sc.run(ctx, func(ctx context.Context) error {
		var err error
		v, ok, err = sc.c.store.Get(ctx, key)
		return err
	})
	return v, ok
}

// score reads the shared score for k if it is no older than ttl.
func (sc *storeCall) score(ctx context.Context, k cacheKey, ttl time.Duration) (entry, bool) {
	v, ok := sc.get(ctx, scoreKey(k))
	if !ok {
		return entry{}, false
	}
	e, ok := decodeScore(v)
	if !ok || sc.c.now().Sub(e.fetched) > ttl {
		return entry{}, false
	}
	return e, true
}

func (sc *storeCall) putScore(ctx context.Context, k cacheKey, e entry, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	sc.write(ctx, func(ctx context.Context) error {
		return sc.c.store.Set(ctx, scoreKey(k), encodeScore(e), ttl)
	})
}

func (sc *storeCall) sharePause(ctx context.Context, fp uint64, until time.Time) {
	ttl := until.Sub(sc.c.now())
	if ttl <= 0 {
		return
	}
	sc.write(ctx, func(ctx context.Context) error {
		return sc.c.store.Set(ctx, pauseKey(fp), strconv.AppendInt(nil, until.UnixMilli(), 10), ttl)
	})
}

func (sc *storeCall) shareRejection(ctx context.Context, fp uint64, r KeyRejection) {
	ttl := r.Until.Sub(sc.c.now())
	if ttl <= 0 {
		return
	}
	v := strconv.Itoa(r.Status) + " " + strconv.FormatInt(r.At.UnixMilli(), 10) + " " + strconv.FormatInt(r.Until.UnixMilli(), 10)
	sc.write(ctx, func(ctx context.Context) error {
		return sc.c.store.Set(ctx, rejectedKey(fp), []byte(v), ttl)
	})
}

func (sc *storeCall) forgetRejection(ctx context.Context, fp uint64) {
	sc.write(ctx, func(ctx context.Context) error { return sc.c.store.Delete(ctx, rejectedKey(fp)) })
}

func encodeScore(e entry) []byte {
	b := strconv.AppendInt(make([]byte, 0, 20), int64(e.score), 10)
	b = append(b, ' ')
	return strconv.AppendInt(b, e.fetched.UnixMilli(), 10)
}

func decodeScore(v []byte) (entry, bool) {
	s, t, ok := strings.Cut(string(v), " ")
	if !ok {
		return entry{}, false
	}
	score, err1 := strconv.Atoi(s)
	ms, err2 := strconv.ParseInt(t, 10, 64)
	if err1 != nil || err2 != nil || score < 0 || score > 100 {
		return entry{}, false
	}
	return entry{score: score, fetched: time.UnixMilli(ms)}, true
}

// sharedLookup answers a local miss from the store: the score another
// replica fetched, or, for a new address, the answer of the one replica
// that holds the address's lock and asks AbuseIPDB (this one, when it wins
// the lock). ok is false when the store failed before an answer: the
// caller then asks AbuseIPDB itself.
func (c *Client) sharedLookup(ctx context.Context, sc *storeCall, q engine.ScoreQuery, k cacheKey, key string, fp uint64) (f fetched, err error, ok bool) {
	hit := func(e entry) (fetched, error, bool) {
		c.cache.Add(k, e)
		return fetched{score: e.score, shared: true}, nil, true
	}
	if e, found := sc.score(ctx, k, q.TTL); found {
		return hit(e)
	}
	if err := c.stopped(fp); err != nil {
		// Known here: no need to take the lock to learn it.
		return fetched{}, err, true
	}
	lk := lockKey(k)
	// The lock outlives the holder's upstream request (its lookup's time
	// is c.timeout) and its writes; a holder that dies frees the address
	// after that.
	lockTTL := c.timeout + 2*c.storeTimeout
	for {
		if !sc.on {
			return fetched{}, nil, false
		}
		var won bool
		if !sc.run(ctx, func(ctx context.Context) error {
			var err error
			won, err = c.store.SetNX(ctx, lk, []byte("1"), lockTTL)
			return err
		}) {
			if ctx.Err() != nil {
				return fetched{}, waitTimeout(c.timeout), true
			}
			return fetched{}, nil, false
		}
		if won {
			// The last holder may have written the score and let go of
			// the lock between our read and our SetNX.
			if e, found := sc.score(ctx, k, q.TTL); found {
				sc.write(ctx, func(ctx context.Context) error { return c.store.Delete(ctx, lk) })
				return hit(e)
			}
			f, err := c.upstream(ctx, sc, q, k, key, fp)
			sc.write(ctx, func(ctx context.Context) error { return c.store.Delete(ctx, lk) })
			return f, err, true
		}
		// Another replica asks AbuseIPDB: wait for its answer, or for its
		// lock to go (it failed, or died), then try to take over.
		t := time.NewTimer(pollMin + rand.N(pollMax-pollMin)) //nolint:gosec // jitter, not a secret
		select {
		case <-ctx.Done():
			t.Stop()
			return fetched{}, waitTimeout(c.timeout), true
		case <-t.C:
		}
		if e, found := sc.score(ctx, k, q.TTL); found {
			return hit(e)
		}
		if ctx.Err() != nil {
			return fetched{}, waitTimeout(c.timeout), true
		}
	}
}

func waitTimeout(d time.Duration) error {
	return &Error{Kind: KindTimeout, Detail: "no answer from the replica asking AbuseIPDB within " + d.String()}
}

// sharedPauses fails a lookup about to go upstream when another replica
// shared a rejection of the key or a rate-limit pause, and adopts it here so
// that later lookups fail without asking the store.
func (c *Client) sharedPauses(ctx context.Context, sc *storeCall, fp uint64) error {
	if sc == nil || !sc.on {
		return nil
	}
	if v, ok := sc.get(ctx, rejectedKey(fp)); ok {
		if r, ok := decodeRejection(v); ok && c.now().Before(r.Until) {
			c.adoptRejection(Fingerprint(fp), r)
			return rejectedError(r)
		}
	}
	if v, ok := sc.get(ctx, pauseKey(fp)); ok {
		if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			if until := time.UnixMilli(ms); c.now().Before(until) {
				c.pause(fp, until)
				return pausedError(until)
			}
		}
	}
	return nil
}

func decodeRejection(v []byte) (KeyRejection, bool) {
	f := strings.Fields(string(v))
	if len(f) != 3 {
		return KeyRejection{}, false
	}
	status, err1 := strconv.Atoi(f[0])
	at, err2 := strconv.ParseInt(f[1], 10, 64)
	until, err3 := strconv.ParseInt(f[2], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return KeyRejection{}, false
	}
	return KeyRejection{At: time.UnixMilli(at), Status: status, Until: time.UnixMilli(until)}, true
}

// reserve counts the upstream request about to be made against the day's
// quota, before it is made, so that replicas asking at once cannot
// overshoot. Past the quota it fails, and this replica stops asking until
// the next UTC day. When the store does not answer the request goes ahead
// uncounted: AbuseIPDB's own 429 still stops it.
func (c *Client) reserve(ctx context.Context, sc *storeCall, fp uint64) error {
	if c.quota <= 0 || sc == nil || !sc.on {
		return nil
	}
	now := c.now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	next := day.AddDate(0, 0, 1)
	var n int64
	if !sc.run(ctx, func(ctx context.Context) error {
		var err error
		// Kept an hour past midnight: clocks of the replicas differ a little.
		n, err = c.store.Incr(ctx, quotaKey(fp, day), next.Sub(now)+time.Hour)
		return err
	}) {
		return nil
	}
	if n <= c.quota {
		return nil
	}
	c.mu.Lock()
	c.spent[fp] = next
	c.mu.Unlock()
	return spentError(next)
}

// spentUntil reports whether this replica found the day's quota spent for
// the key, and until when.
func (c *Client) spentUntil(fp uint64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.spent[fp]
	if !ok {
		return time.Time{}, false
	}
	if !c.now().Before(until) {
		delete(c.spent, fp)
		return time.Time{}, false
	}
	return until, true
}
