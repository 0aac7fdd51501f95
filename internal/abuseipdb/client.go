// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package abuseipdb is a small client for AbuseIPDB's GET /api/v2/check with
// what a synchronous token hook needs around it: a bounded cache with a
// per-policy TTL, concurrent misses for one address coalesced into one
// upstream request, per-call deadlines, a pause after a 429 or an exhausted
// daily quota so that a burst does not burn what is left, and a pause after
// AbuseIPDB rejects a key (401 or 403), which listeners hear about
// (Subscribe) so that the policy's status can say so.
//
// With a shared state store (Options.Store) the replicas of a fleet share
// what each learns: scores (the local cache stays in front), one upstream
// request per new address for the whole fleet, a daily quota counted
// across replicas, and the pauses. When the store fails, each lookup falls
// back to this replica's own cache, coalescing and pauses (see shared.go).
package abuseipdb

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/state"
)

// DefaultURL is AbuseIPDB's API base.
const DefaultURL = "https://api.abuseipdb.com/api/v2"

// Kind classifies a failed lookup.
type Kind string

// Failure kinds; they label metrics and log lines.
const (
	KindNoKey        Kind = "no_key"
	KindUnauthorized Kind = "unauthorized"
	KindInvalid      Kind = "invalid_request"
	KindRateLimited  Kind = "rate_limited"
	KindUpstream     Kind = "upstream_error"
	KindTimeout      Kind = "timeout"
	KindNetwork      Kind = "network_error"
	KindDecode       Kind = "bad_response"
	// KindOverloaded: too many upstream requests already in flight.
	KindOverloaded Kind = "overloaded"
	// KindQuota: the fleet's own daily quota (Options.DailyQuota) is spent;
	// no request was made. AbuseIPDB's 429 stays KindRateLimited.
	KindQuota Kind = "quota_exceeded"
)

// Error is a failed lookup. Its text never contains the API key.
type Error struct {
	Kind   Kind
	Status int
	Detail string
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("abuseipdb %s (HTTP %d): %s", e.Kind, e.Status, e.Detail)
	}
	return fmt.Sprintf("abuseipdb %s: %s", e.Kind, e.Detail)
}

// KindOf returns the kind of a lookup error, or "" for nil.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	if err != nil {
		return KindNetwork
	}
	return ""
}

// Options configure a Client.
type Options struct {
	// BaseURL defaults to DefaultURL.
	BaseURL string
	// HTTPClient defaults to a client with sensible connection reuse. The
	// client uses a copy that never follows redirects, whatever its
	// CheckRedirect says: the Key header must not reach another host.
	HTTPClient *http.Client
	// CacheSize bounds the number of cached scores (default 100000).
	CacheSize int
	// UpstreamTimeout bounds one upstream request, whoever waits for it
	// (default 5s). Callers stop waiting at their own deadline.
	UpstreamTimeout time.Duration
	// MaxInFlight bounds concurrent upstream requests (default 64). A burst
	// of new addresses past it fails fast instead of piling up connections
	// to a slow AbuseIPDB; the policy's onFailure applies.
	MaxInFlight int
	// Observe, when set, is called once per upstream request with its
	// result ("ok" or a Kind; "overloaded" and "quota_exceeded" for one
	// refused before it was made) and per cache lookup with "hit",
	// "shared_hit" (the local cache missed, the Store had the score) or
	// "miss".
	Observe func(event, result string)
	// RejectedKeyPause is how long no request is made with an API key after
	// AbuseIPDB rejected it with 401 or 403 (default 5m); lookups with it
	// fail as KindUnauthorized meanwhile. A rotated key is a new key and is
	// not paused.
	RejectedKeyPause time.Duration
	// ObserveKeys, when set, is called after each KeyEvent with whether it
	// was a rejection and how many keys are paused now (for metrics).
	ObserveKeys func(rejected bool, pausedKeys int)
	// Now defaults to time.Now.
	Now func() time.Time

	// Store, when set, is shared by the replicas: scores (behind the local
	// cache, for the policy's TTL), a short lock so that one replica asks
	// AbuseIPDB for a new address while the others wait for its answer,
	// the daily quota count, and the rate-limit and rejected-key pauses.
	// Nil keeps every replica on its own.
	Store state.Store
	// StoreTimeout bounds one store operation (default 50ms). A failed or
	// slow store makes the lookup go on with this replica's own state.
	StoreTimeout time.Duration
	// DailyQuota, when positive, caps the upstream requests per API key
	// and UTC day, counted in Store across the fleet before each request.
	// Past it lookups fail as KindQuota without a request, so the policy's
	// onFailure applies. It needs a Store.
	DailyQuota int
	// ObserveStore, when set, is called with use "abuseipdb" and result
	// "fallback" once per lookup that went on without the store (an error,
	// a timeout, or the store known to be down).
	ObserveStore func(use, result string)
	// Log receives one line when the store stops answering and one when it
	// answers again; the zero Logger discards them.
	Log logr.Logger
}

// Client looks up scores. It is safe for concurrent use.
type Client struct {
	base    string
	http    *http.Client
	timeout time.Duration
	observe func(event, result string)
	now     func() time.Time

	cache    *lru.Cache[cacheKey, entry]
	flight   singleflight.Group
	inFlight chan struct{}

	mu     sync.Mutex
	paused map[uint64]time.Time // API key fingerprint -> no calls before
	// spent: API key fingerprint -> no calls before (the next UTC day),
	// after the fleet's daily quota was found spent.
	spent map[uint64]time.Time

	store        state.Store
	storeTimeout time.Duration
	quota        int64
	observeStore func(use, result string)
	health       storeHealth

	rejectPause time.Duration
	observeKeys func(rejected bool, pausedKeys int)
	// rejected holds the keys AbuseIPDB refused, under mu, until one is
	// accepted again: a handful of keys at most, as they come from Secrets.
	rejected map[Fingerprint]*rejection

	subMu   sync.Mutex
	subs    map[int]func(KeyEvent)
	nextSub int
}

type cacheKey struct {
	ip     netip.Addr
	maxAge int
}

type entry struct {
	score   int
	fetched time.Time
}

var (
	_ engine.Reputation       = (*Client)(nil)
	_ engine.CachedReputation = (*Client)(nil)
)

// New returns a client.
func New(o Options) (*Client, error) {
	if o.BaseURL == "" {
		o.BaseURL = DefaultURL
	}
	if _, err := url.Parse(o.BaseURL); err != nil {
		return nil, fmt.Errorf("abuseipdb url: %w", err)
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 100000
	}
	if o.UpstreamTimeout <= 0 {
		o.UpstreamTimeout = 5 * time.Second
	}
	if o.HTTPClient == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 32
		o.HTTPClient = &http.Client{Transport: t}
	}
	hc := *o.HTTPClient
	hc.CheckRedirect = noRedirects
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 64
	}
	if o.Observe == nil {
		o.Observe = func(string, string) {}
	}
	if o.RejectedKeyPause <= 0 {
		o.RejectedKeyPause = 5 * time.Minute
	}
	if o.ObserveKeys == nil {
		o.ObserveKeys = func(bool, int) {}
	}
	if o.DailyQuota > 0 && o.Store == nil {
		return nil, errors.New("abuseipdb: a daily quota needs a state store to count in")
	}
	if o.StoreTimeout <= 0 {
		o.StoreTimeout = 50 * time.Millisecond
	}
	if o.ObserveStore == nil {
		o.ObserveStore = func(string, string) {}
	}
	c, err := lru.New[cacheKey, entry](o.CacheSize)
	if err != nil {
		return nil, err
	}
	return &Client{
		base: o.BaseURL, http: &hc, timeout: o.UpstreamTimeout,
		observe: o.Observe, now: o.Now, cache: c, paused: map[uint64]time.Time{}, spent: map[uint64]time.Time{},
		inFlight:    make(chan struct{}, o.MaxInFlight),
		rejectPause: o.RejectedKeyPause, observeKeys: o.ObserveKeys,
		rejected: map[Fingerprint]*rejection{}, subs: map[int]func(KeyEvent){},
		store: o.Store, storeTimeout: o.StoreTimeout, quota: int64(o.DailyQuota), observeStore: o.ObserveStore,
		health: storeHealth{log: o.Log},
	}, nil
}

// Cached returns a score no older than q.TTL from the cache, if there is one.
func (c *Client) Cached(q engine.ScoreQuery) (engine.ScoreResult, bool) {
	if e, ok := c.cache.Get(cacheKey{ip: q.IP, maxAge: q.MaxAgeInDays}); ok && c.now().Sub(e.fetched) <= q.TTL {
		c.observe("cache", "hit")
		return engine.ScoreResult{Score: e.score, Cached: true}, true
	}
	return engine.ScoreResult{}, false
}

// Score returns the address's abuse confidence score, from the cache when a
// score no older than q.TTL is there, else from the shared store, else from
// AbuseIPDB.
func (c *Client) Score(ctx context.Context, q engine.ScoreQuery) (engine.ScoreResult, error) {
	if r, ok := c.Cached(q); ok {
		return r, nil
	}
	k := cacheKey{ip: q.IP, maxAge: q.MaxAgeInDays}
	key := q.APIKey.Reveal()
	if key == "" {
		return c.miss(&Error{Kind: KindNoKey, Detail: "no API key: the referenced Secret or key is missing"})
	}
	fp := fingerprint(key)
	if c.store == nil {
		// With a store, the scores other replicas fetched are answered
		// first; the pauses only stop requests (see upstream).
		if err := c.stopped(fp); err != nil {
			return c.miss(err)
		}
	}
	flightKey := strconv.FormatUint(fp, 16) + "|" + k.ip.String() + "|" + strconv.Itoa(k.maxAge)
	ch := c.flight.DoChan(flightKey, func() (any, error) {
		// Detached from the first caller: its deadline must not fail the
		// others waiting on the same request.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		return c.lookup(uctx, q, k, key, fp)
	})
	select {
	case <-ctx.Done():
		return c.miss(&Error{Kind: KindTimeout, Detail: "no answer within the time budget"})
	case r := <-ch:
		f, _ := r.Val.(fetched)
		if f.shared {
			c.observe("cache", "shared_hit")
		} else {
			c.observe("cache", "miss")
		}
		if r.Err != nil {
			return engine.ScoreResult{}, r.Err
		}
		return engine.ScoreResult{Score: f.score, Cached: f.shared}, nil
	}
}

// miss counts a lookup the caches could not answer and returns err.
func (c *Client) miss(err error) (engine.ScoreResult, error) {
	c.observe("cache", "miss")
	return engine.ScoreResult{}, err
}

// stopped fails a lookup that must not go upstream now: AbuseIPDB rejected
// the key, or limited its rate, or the day's quota is spent.
func (c *Client) stopped(fp uint64) error {
	if r, ok := c.rejection(Fingerprint(fp)); ok {
		return rejectedError(r)
	}
	if until, ok := c.pausedUntil(fp); ok {
		return pausedError(until)
	}
	if until, ok := c.spentUntil(fp); ok {
		return spentError(until)
	}
	return nil
}

func rejectedError(r KeyRejection) error {
	return &Error{Kind: KindUnauthorized, Detail: fmt.Sprintf(
		"AbuseIPDB rejected the API key (HTTP %d) at %s; no request with it until %s",
		r.Status, r.At.UTC().Format(time.RFC3339), r.Until.UTC().Format(time.RFC3339))}
}

func pausedError(until time.Time) error {
	return &Error{Kind: KindRateLimited, Detail: "paused after a rate limit until " + until.UTC().Format(time.RFC3339)}
}

func spentError(until time.Time) error {
	return &Error{Kind: KindQuota, Detail: "the daily quota is spent; no request until " + until.UTC().Format(time.RFC3339)}
}

// fetched is a score one lookup found; shared when another replica had
// asked AbuseIPDB for it.
type fetched struct {
	score  int
	shared bool
}

// lookup answers a miss of the local cache: from the shared store when
// there is one and it answers, else from AbuseIPDB. ctx is the lookup's own,
// detached from any caller.
func (c *Client) lookup(ctx context.Context, q engine.ScoreQuery, k cacheKey, key string, fp uint64) (fetched, error) {
	sc := c.newStoreCall()
	defer sc.done()
	if sc.on {
		if f, err, ok := c.sharedLookup(ctx, sc, q, k, key, fp); ok {
			return f, err
		}
	}
	return c.upstream(ctx, sc, q, k, key, fp)
}

// upstream asks AbuseIPDB, unless the shared store says the key is paused
// or the day's quota is spent, and shares what it learns.
func (c *Client) upstream(ctx context.Context, sc *storeCall, q engine.ScoreQuery, k cacheKey, key string, fp uint64) (fetched, error) {
	if err := c.stopped(fp); err != nil {
		return fetched{}, err
	}
	if err := c.sharedPauses(ctx, sc, fp); err != nil {
		return fetched{}, err
	}
	select {
	case c.inFlight <- struct{}{}:
		defer func() { <-c.inFlight }()
	default:
		c.observe("upstream", string(KindOverloaded))
		return fetched{}, &Error{Kind: KindOverloaded, Detail: "too many AbuseIPDB requests in flight"}
	}
	if err := c.reserve(ctx, sc, fp); err != nil {
		c.observe("upstream", string(KindOf(err)))
		return fetched{}, err
	}
	score, err := c.check(ctx, sc, key, fp, q.IP, q.MaxAgeInDays)
	if err != nil {
		c.observe("upstream", string(KindOf(err)))
		return fetched{}, err
	}
	c.observe("upstream", "ok")
	at := c.now()
	c.cache.Add(k, entry{score: score, fetched: at})
	sc.putScore(ctx, k, entry{score: score, fetched: at}, q.TTL)
	return fetched{score: score}, nil
}

func (c *Client) pausedUntil(fp uint64) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.paused[fp]
	if !ok {
		return time.Time{}, false
	}
	if !c.now().Before(until) {
		delete(c.paused, fp)
		return time.Time{}, false
	}
	return until, true
}

func (c *Client) pause(fp uint64, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until.After(c.paused[fp]) {
		c.paused[fp] = until
	}
}
