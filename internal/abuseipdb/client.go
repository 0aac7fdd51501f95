// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Package abuseipdb is a small client for AbuseIPDB's GET /api/v2/check with
// what a synchronous token hook needs around it: a bounded cache with a
// per-policy TTL, concurrent misses for one address coalesced into one
// upstream request, per-call deadlines, a pause after a 429 or an exhausted
// daily quota so that a burst does not burn what is left, and a pause after
// AbuseIPDB rejects a key (401 or 403), which listeners hear about
// (Subscribe) so that the policy's status can say so.
package abuseipdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
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
	// result ("ok" or a Kind) and per cache lookup with "hit" or "miss".
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

	rejectPause time.Duration
	observeKeys func(rejected bool, pausedKeys int)
	// rejected holds the keys AbuseIPDB refused, under mu, until one is
	// accepted again: a handful of keys at most, as they come from Secrets.
	rejected map[Fingerprint]*rejection

	subMu   sync.Mutex
	subs    map[int]func(KeyEvent)
	nextSub int
}

// Fingerprint identifies an API key without holding it.
type Fingerprint uint64

// FingerprintOf returns the fingerprint the client uses for key.
func FingerprintOf(key policy.Secret) Fingerprint { return Fingerprint(fingerprint(key.Reveal())) }

// KeyRejection is AbuseIPDB's last refusal of an API key.
type KeyRejection struct {
	// At is when AbuseIPDB refused the key; Status is its HTTP status (401 or 403).
	At     time.Time
	Status int
	// Until is when lookups with the key go upstream again.
	Until time.Time
}

// KeyEventKind is what changed about an API key.
type KeyEventKind string

// Key event kinds.
const (
	// KeyRejected: AbuseIPDB answered 401 or 403; lookups with the key are paused.
	KeyRejected KeyEventKind = "rejected"
	// KeyPauseOver: the pause ended; the next lookup with the key goes upstream.
	KeyPauseOver KeyEventKind = "pause_over"
	// KeyAccepted: AbuseIPDB answered a key it had rejected before.
	KeyAccepted KeyEventKind = "accepted"
)

// KeyEvent tells listeners that what Rejected says about a key changed.
type KeyEvent struct {
	Key  Fingerprint
	Kind KeyEventKind
}

type rejection struct {
	KeyRejection
	// gen tells the pause timer of this rejection from an earlier one's.
	gen int
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
	c, err := lru.New[cacheKey, entry](o.CacheSize)
	if err != nil {
		return nil, err
	}
	return &Client{
		base: o.BaseURL, http: &hc, timeout: o.UpstreamTimeout,
		observe: o.Observe, now: o.Now, cache: c, paused: map[uint64]time.Time{},
		inFlight:    make(chan struct{}, o.MaxInFlight),
		rejectPause: o.RejectedKeyPause, observeKeys: o.ObserveKeys,
		rejected: map[Fingerprint]*rejection{}, subs: map[int]func(KeyEvent){},
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
// score no older than q.TTL is there.
func (c *Client) Score(ctx context.Context, q engine.ScoreQuery) (engine.ScoreResult, error) {
	if r, ok := c.Cached(q); ok {
		return r, nil
	}
	k := cacheKey{ip: q.IP, maxAge: q.MaxAgeInDays}
	c.observe("cache", "miss")
	key := q.APIKey.Reveal()
	if key == "" {
		return engine.ScoreResult{}, &Error{Kind: KindNoKey, Detail: "no API key: the referenced Secret or key is missing"}
	}
	fp := fingerprint(key)
	if r, ok := c.rejection(Fingerprint(fp)); ok {
		return engine.ScoreResult{}, &Error{Kind: KindUnauthorized, Detail: fmt.Sprintf(
			"AbuseIPDB rejected the API key (HTTP %d) at %s; no request with it until %s",
			r.Status, r.At.UTC().Format(time.RFC3339), r.Until.UTC().Format(time.RFC3339))}
	}
	if until, ok := c.pausedUntil(fp); ok {
		return engine.ScoreResult{}, &Error{Kind: KindRateLimited, Detail: "paused after a rate limit until " + until.UTC().Format(time.RFC3339)}
	}
	flightKey := strconv.FormatUint(fp, 16) + "|" + k.ip.String() + "|" + strconv.Itoa(k.maxAge)
	ch := c.flight.DoChan(flightKey, func() (any, error) {
		select {
		case c.inFlight <- struct{}{}:
			defer func() { <-c.inFlight }()
		default:
			c.observe("upstream", string(KindOverloaded))
			return 0, &Error{Kind: KindOverloaded, Detail: "too many AbuseIPDB requests in flight"}
		}
		// Detached from the first caller: its deadline must not fail the
		// others waiting on the same request.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		score, err := c.check(uctx, key, fp, q.IP, q.MaxAgeInDays)
		if err != nil {
			c.observe("upstream", string(KindOf(err)))
			return 0, err
		}
		c.observe("upstream", "ok")
		c.cache.Add(k, entry{score: score, fetched: c.now()})
		return score, nil
	})
	select {
	case <-ctx.Done():
		return engine.ScoreResult{}, &Error{Kind: KindTimeout, Detail: "no answer within the time budget"}
	case r := <-ch:
		if r.Err != nil {
			return engine.ScoreResult{}, r.Err
		}
		return engine.ScoreResult{Score: r.Val.(int)}, nil
	}
}

func fingerprint(key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return h.Sum64()
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

type checkResponse struct {
	Data *struct {
		AbuseConfidenceScore *int `json:"abuseConfidenceScore"`
	} `json:"data"`
	Errors []struct {
		Detail string `json:"detail"`
	} `json:"errors"`
}

var retryIn = regexp.MustCompile(`(?i)try again in (\d+) seconds?`)

// check makes one upstream request.
func (c *Client) check(ctx context.Context, key string, fp uint64, ip netip.Addr, maxAge int) (int, error) {
	v := url.Values{}
	v.Set("ipAddress", ip.String())
	if maxAge > 0 {
		v.Set("maxAgeInDays", strconv.Itoa(maxAge))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/check?"+v.Encode(), nil)
	if err != nil {
		return 0, &Error{Kind: KindInvalid, Detail: err.Error()}
	}
	req.Header.Set("Key", key)
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, &Error{Kind: KindTimeout, Detail: "no answer within " + c.timeout.String()}
		}
		return 0, &Error{Kind: KindNetwork, Detail: redactURL(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		if ctx.Err() != nil {
			return 0, &Error{Kind: KindTimeout, Detail: "no answer within " + c.timeout.String()}
		}
		return 0, &Error{Kind: KindNetwork, Detail: err.Error()}
	}
	var r checkResponse
	decodeErr := json.Unmarshal(body, &r)
	detail := ""
	if len(r.Errors) > 0 {
		detail = r.Errors[0].Detail
	}
	switch resp.StatusCode {
	case http.StatusOK:
		if decodeErr != nil || r.Data == nil || r.Data.AbuseConfidenceScore == nil {
			return 0, &Error{Kind: KindDecode, Status: resp.StatusCode, Detail: "no data.abuseConfidenceScore in the answer"}
		}
		s := *r.Data.AbuseConfidenceScore
		if s < 0 || s > 100 {
			return 0, &Error{Kind: KindDecode, Status: resp.StatusCode, Detail: "score out of range: " + strconv.Itoa(s)}
		}
		c.noteQuota(fp, resp.Header)
		c.accepted(Fingerprint(fp))
		return s, nil
	case http.StatusUnauthorized, http.StatusForbidden:
		c.reject(Fingerprint(fp), resp.StatusCode)
		return 0, &Error{Kind: KindUnauthorized, Status: resp.StatusCode, Detail: orText(detail, "the API key was refused")}
	case http.StatusUnprocessableEntity, http.StatusBadRequest:
		return 0, &Error{Kind: KindInvalid, Status: resp.StatusCode, Detail: orText(detail, "the request was refused")}
	case http.StatusTooManyRequests:
		c.pause(fp, c.resumeAt(resp.Header, detail))
		return 0, &Error{Kind: KindRateLimited, Status: resp.StatusCode, Detail: orText(detail, "daily quota exhausted")}
	default:
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return 0, &Error{Kind: KindUpstream, Status: resp.StatusCode, Detail: "AbuseIPDB redirected the request; redirects are not followed, so the API key goes to the configured URL only"}
		}
		return 0, &Error{Kind: KindUpstream, Status: resp.StatusCode, Detail: orText(detail, http.StatusText(resp.StatusCode))}
	}
}

// noRedirects hands a 3xx back to check as it is. Go's http.Client would
// otherwise send the request again, Key header included, to whatever host
// the Location names.
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// noteQuota pauses calls with this key until the reset when a successful
// answer says no checks remain today.
func (c *Client) noteQuota(fp uint64, h http.Header) {
	rem := h.Get("X-RateLimit-Remaining")
	if rem == "" {
		return
	}
	if n, err := strconv.Atoi(rem); err == nil && n <= 0 {
		c.pause(fp, c.resumeAt(h, ""))
	}
}

// resumeAt reads when calls may start again: Retry-After (seconds), the
// "try again in N seconds" text, X-RateLimit-Reset (Unix time), else in a minute.
func (c *Client) resumeAt(h http.Header, detail string) time.Time {
	now := c.now()
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s >= 0 {
		return now.Add(time.Duration(s) * time.Second)
	}
	if m := retryIn.FindStringSubmatch(detail); m != nil {
		if s, err := strconv.Atoi(m[1]); err == nil {
			return now.Add(time.Duration(s) * time.Second)
		}
	}
	if e, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && e > now.Unix() {
		return time.Unix(e, 0)
	}
	return now.Add(time.Minute)
}

func orText(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// redactURL keeps the error kind without the query string, in case a
// transport error echoes the URL.
func redactURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
