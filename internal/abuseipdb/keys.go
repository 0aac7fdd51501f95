// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package abuseipdb

import (
	"hash/fnv"
	"time"

	"github.com/tokenguard/tokenguard/internal/policy"
)

// KeyHealth is what listeners ask of the client about API keys: whether
// AbuseIPDB rejected a key (lookups with it are paused after a 401 or 403),
// and a notification after each change of that. The status controller and
// standalone mode's key reporter use it; *Client implements it.
type KeyHealth interface {
	Rejected(key policy.Secret) (KeyRejection, bool)
	// Subscribe calls fn, which must not block, after each change of what
	// Rejected says about a key.
	Subscribe(fn func(KeyEvent)) (cancel func())
}

var _ KeyHealth = (*Client)(nil)

// Rejected reports whether AbuseIPDB rejected key and lookups with it are
// paused, and when and how it was rejected. A nil client (AbuseIPDB switched
// off) rejects nothing, so it can be handed to listeners as it is.
func (c *Client) Rejected(key policy.Secret) (KeyRejection, bool) {
	if c == nil || key == "" {
		return KeyRejection{}, false
	}
	return c.rejection(FingerprintOf(key))
}

// Subscribe calls fn after each change in what Rejected says about a key:
// rejected, pause over, accepted again. fn runs on the goroutine that saw the
// change (a lookup's or a timer's) and must not block; a listener that does
// real work hands the event to its own goroutine. Call the returned func to
// stop. A nil client has nothing to tell.
func (c *Client) Subscribe(fn func(KeyEvent)) (cancel func()) {
	if c == nil {
		return func() {}
	}
	c.subMu.Lock()
	defer c.subMu.Unlock()
	id := c.nextSub
	c.nextSub++
	c.subs[id] = fn
	return func() {
		c.subMu.Lock()
		defer c.subMu.Unlock()
		delete(c.subs, id)
	}
}

func (c *Client) rejection(fp Fingerprint) (KeyRejection, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rejected[fp]
	if !ok || !c.now().Before(r.Until) {
		return KeyRejection{}, false
	}
	return r.KeyRejection, true
}

// reject pauses lookups with the key after AbuseIPDB refused it, and
// returns the new rejection. Another refusal within the pause (a request
// that was already in flight) changes nothing: the pause runs from the
// first, and ok is false.
func (c *Client) reject(fp Fingerprint, status int) (r KeyRejection, ok bool) {
	now := c.now()
	r = KeyRejection{At: now, Status: status, Until: now.Add(c.rejectPause)}
	return r, c.adoptRejection(fp, r)
}

// adoptRejection pauses lookups with the key until r.Until, unless a pause
// that ends no earlier is already running; it reports whether it did. r is
// this replica's own rejection or one another replica shared.
func (c *Client) adoptRejection(fp Fingerprint, kr KeyRejection) bool {
	now := c.now()
	if !now.Before(kr.Until) {
		return false
	}
	c.mu.Lock()
	r, ok := c.rejected[fp]
	if ok && now.Before(r.Until) {
		c.mu.Unlock()
		return false
	}
	if !ok {
		r = &rejection{}
		c.rejected[fp] = r
	}
	r.KeyRejection = kr
	r.gen++
	c.afterPause(fp, r.gen, kr.Until.Sub(now))
	n := c.pausedKeysLocked(now)
	c.mu.Unlock()
	c.notify(KeyEvent{Key: fp, Kind: KeyRejected}, n)
	return true
}

// afterPause tells listeners when the pause is over, so that a status that
// says "rejected" does not outlive it. Called with mu held.
func (c *Client) afterPause(fp Fingerprint, gen int, d time.Duration) {
	time.AfterFunc(d, func() {
		now := c.now()
		c.mu.Lock()
		r, ok := c.rejected[fp]
		if !ok || r.gen != gen {
			// Accepted since, or rejected again with a timer of its own.
			c.mu.Unlock()
			return
		}
		if now.Before(r.Until) {
			// Options.Now runs behind the timer (a test's clock).
			c.afterPause(fp, gen, r.Until.Sub(now))
			c.mu.Unlock()
			return
		}
		n := c.pausedKeysLocked(now)
		c.mu.Unlock()
		c.notify(KeyEvent{Key: fp, Kind: KeyPauseOver}, n)
	})
}

// accepted forgets a rejection once AbuseIPDB answers with the key again,
// and reports whether there was one.
func (c *Client) accepted(fp Fingerprint) bool {
	c.mu.Lock()
	if _, ok := c.rejected[fp]; !ok {
		c.mu.Unlock()
		return false
	}
	delete(c.rejected, fp)
	n := c.pausedKeysLocked(c.now())
	c.mu.Unlock()
	c.notify(KeyEvent{Key: fp, Kind: KeyAccepted}, n)
	return true
}

func (c *Client) pausedKeysLocked(now time.Time) int {
	n := 0
	for _, r := range c.rejected {
		if now.Before(r.Until) {
			n++
		}
	}
	return n
}

func (c *Client) notify(e KeyEvent, pausedKeys int) {
	c.observeKeys(e.Kind == KeyRejected, pausedKeys)
	c.subMu.Lock()
	fns := make([]func(KeyEvent), 0, len(c.subs))
	for _, fn := range c.subs {
		fns = append(fns, fn)
	}
	c.subMu.Unlock()
	for _, fn := range fns {
		fn(e)
	}
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

func fingerprint(key string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return h.Sum64()
}
