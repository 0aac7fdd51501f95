// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/state"
)

// Locator maps an address to coordinates; a GeoResolver with a City
// database implements it. Impossible travel needs it.
type Locator interface {
	Location(ip netip.Addr) (lat, lon float64, ok bool)
}

// errNoState is the failure of an engine built without a state store.
var errNoState = errors.New("no state store")

// errShortReply is a store's answer with fewer velocity counts than the
// limits it was sent.
var errShortReply = errors.New("state store answered fewer velocity counts than limits")

// userKey identifies the user a token is for: event.user.id, or the sub
// claim of a user token. Empty for application tokens.
func (c *Call) userKey() string {
	id := ""
	if c.User != nil && c.User.ID != "" {
		id = c.User.ID
	} else if aut, ok := c.Claim("aut"); ok && claimText(aut) == "APPLICATION_USER" {
		if sub, ok := c.Claim("sub"); ok {
			id = claimText(sub)
		}
	}
	if id == "" {
		return ""
	}
	return c.Tenant + "\x00" + id
}

// hashed turns identifying parts into a short key component: what is
// stored about users is a hash, never their id or address.
func hashed(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		_, _ = h.Write([]byte(p))
		_, _ = h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// storeFailure applies the policy's onStoreFailure to r; it reports
// whether the call is denied.
func storeFailure(d *Decision, p *policy.Policy, r *PolicyResult, use string, err error) bool {
	d.noteStateError(use, err)
	return apply(r, policy.SignalAction{Action: p.OnStoreFailure, ExpiresIn: p.StoreFailureTo}, policy.CauseStateUnavailable)
}

// noteStateError records the call's first failure of the shared state.
func (d *Decision) noteStateError(use string, err error) {
	if d.StateError == nil {
		d.StateError, d.StateUse = err, use
	}
}

// apply carries out a signal's action on r; it reports whether the call is
// denied.
func apply(r *PolicyResult, a policy.SignalAction, c policy.Cause) bool {
	switch a.Action {
	case policy.Deny:
		*r = deny(*r, c)
		return true
	case policy.Shorten:
		shorten(r, a.ExpiresIn, c)
		r.Signals = r.Signals.With(c)
	case policy.Flag:
		r.Signals = r.Signals.With(c)
	}
	return false
}

// velocity counts the call against each of the policy's limits, in order,
// and reports whether one denied it: the limits after it do not count the
// call, so a flood from one address that its limit refuses does not spend
// the budget of the client or user limits behind it. ip is invalid when
// the call has no address: limits by address are then skipped. The limits'
// hits (one script on Redis, which stops at a limit that denies) and the
// read of the user's history, when the policy judges it (see
// userHistory), go to the store in one batch: one round trip to Redis
// however many limits the policy has.
func (e *Engine) velocity(st *callState, d *Decision, p *policy.Policy, r *PolicyResult, ip netip.Addr) bool {
	var limitBuf [4]*policy.VelocityLimit
	var hitBuf [4]state.WindowHit
	limits, hits := limitBuf[:0], hitBuf[:0]
	client, addr := st.call.Tenant+"\x00"+st.call.ClientID, ""
	if ip.IsValid() {
		addr = ip.String()
	}
	for i := range p.Velocity {
		v := &p.Velocity[i]
		var parts [2]string
		parts[0] = client
		switch v.By {
		case policy.ByClientAddress:
			if addr == "" {
				continue
			}
			parts[1] = addr
		case policy.ByUser, policy.ByUserAddress:
			u := st.user()
			if u == "" || (v.By == policy.ByUserAddress && addr == "") {
				continue
			}
			parts[0] = u
			if v.By == policy.ByUserAddress {
				parts[1] = addr
			}
		}
		// Every call counts, a call the platform retries (after a
		// timeout) too: its requestId can come from a header the client
		// sets (a correlation id), so it cannot tell a retry from a replay.
		h := state.WindowHit{Key: state.Key("velocity", hashed(p.Key, v.Name, parts[0], parts[1])), Window: v.Window}
		if v.Action == policy.Deny {
			h.StopAbove = v.Limit
		}
		limits, hits = append(limits, v), append(hits, h)
	}
	if len(hits) == 0 {
		return false
	}
	// A failure leaves every limit without a count: the policy's
	// onStoreFailure applies, once for them all.
	if e.State == nil {
		return storeFailure(d, p, r, "velocity", errNoState)
	}
	var b state.Batch
	op := b.Hits(st.call.Now, hits...)
	get := -1
	if p.History != nil && ip.IsValid() && !st.histDone && st.user() != "" {
		get = b.Get(historyKey(st.user()))
	}
	e.State.Do(st.ctx, &b)
	if get >= 0 {
		o := b.Op(get)
		st.prefetched, st.histRaw, st.histErr = true, o.Value, o.Err
		if !o.Found {
			st.histRaw = nil
		}
	}
	// A failure on one key (another application's value under a TokenGuard
	// key) fails the whole chain.
	res := b.Op(op)
	if res.Err != nil {
		return storeFailure(d, p, r, "velocity", res.Err)
	}
	for i, v := range limits {
		if i >= len(res.Counts) {
			// The chain stops only after a limit that denies, which
			// returned below: a store that answered fewer counts failed.
			return storeFailure(d, p, r, "velocity", errShortReply)
		}
		if res.Counts[i] > v.Limit && apply(r, policy.SignalAction{Action: v.Action, ExpiresIn: v.ExpiresIn}, policy.CauseVelocity) {
			r.Rule = v.Name
			return true
		}
	}
	return false
}

// historyKey is the store key of a user's history.
func historyKey(user string) string { return state.Key("history", hashed(user)) }

// history is what is remembered of a user: when each country was last
// seen, and the last location, to 0.1 degree.
type history struct {
	Countries map[string]int64 `json:"c,omitempty"` // country -> Unix seconds
	Last      *place           `json:"l,omitempty"`
	// RID is the requestId of the call that wrote this history, and Before
	// the history that call was judged against: a retry of it (the
	// platform retries a call that timed out) is judged against Before
	// again, so it gets the same answer.
	RID    string   `json:"r,omitempty"`
	Before *history `json:"b,omitempty"`
	// At, Country and Lat/Lon are what that call was: a retry is the same
	// call again, within retryWindow.
	At      int64   `json:"t,omitempty"`
	Country string  `json:"cc,omitempty"`
	Lat     float64 `json:"la,omitempty"`
	Lon     float64 `json:"lo,omitempty"`
}

// retryWindow bounds how long after a call its retry can come: the
// platform retries once, after at most its connect and read timeouts
// (about 2 s + 5 s on WSO2 Identity Server).
const retryWindow = 30 * time.Second

// retryOf reports whether c repeats the call that wrote h: the same
// requestId, from the same country and place, within retryWindow. It is
// then judged against what that call saw, and gets the same answer. A
// requestId can come from a header the client sets, but a replay judged
// that way is never treated more leniently than the call it repeats: from
// the same place, the earlier history only makes a country newer and a
// move longer.
func (h *history) retryOf(c *Call, country string, lat, lon float64) bool {
	now := c.Now.Unix()
	return h.RID != "" && h.RID == c.RequestID && h.Country == country && h.Lat == lat && h.Lon == lon &&
		now >= h.At && now-h.At <= int64(retryWindow/time.Second)
}

type place struct {
	Lat, Lon float64
	At       int64 // Unix seconds
}

// userHistory judges the call against the user's history, and reports
// whether it is denied. It marks the call to be remembered if it gets a
// token (see remember).
func (e *Engine) userHistory(st *callState, d *Decision, p *policy.Policy, r *PolicyResult, ip netip.Addr) bool {
	h := p.History
	u := st.user()
	if u == "" {
		return false
	}
	country := st.countryOf(e.Geo, ip)
	lat, lon, located := 0.0, 0.0, false
	if l, ok := e.Geo.(Locator); ok {
		lat, lon, located = l.Location(ip)
	}
	if country == "" && !located {
		return false
	}
	prev, err := st.history(e.State, u, country, round1(lat), round1(lon))
	if err != nil {
		return storeFailure(d, p, r, "history", err)
	}
	now := st.call.Now.Unix()
	st.observe = &observation{key: u, country: country, located: located, lat: round1(lat), lon: round1(lon),
		at: now, retention: max(h.Retention, st.observeRetention())}
	if prev == nil {
		return false // the first token sets the baseline
	}
	if n := h.NewCountry; n != nil && country != "" && len(prev.Countries) > 0 {
		if seen, ok := prev.Countries[country]; !ok || now-seen > int64(h.Retention/time.Second) {
			if apply(r, *n, policy.CauseNewCountry) {
				return true
			}
		}
	}
	if t := h.Travel; t != nil && located && prev.Last != nil {
		km := distanceKm(prev.Last.Lat, prev.Last.Lon, lat, lon)
		hours := math.Max(float64(now-prev.Last.At), 1) / 3600
		if km >= t.MinDistanceKm && km/hours > t.MaxSpeedKmh {
			if apply(r, t.SignalAction, policy.CauseImpossibleTravel) {
				return true
			}
		}
	}
	return false
}

// observation is what a call that gets a token adds to its user's history.
type observation struct {
	key       string
	country   string
	located   bool
	lat, lon  float64
	at        int64
	retention time.Duration
}

func (st *callState) observeRetention() time.Duration {
	if st.observe != nil {
		return st.observe.retention
	}
	return 0
}

func (st *callState) user() string {
	if !st.userDone {
		st.userID, st.userDone = st.call.userKey(), true
	}
	return st.userID
}

// history loads the user's history once per call; nil when there is none.
func (st *callState) history(s state.Store, user, country string, lat, lon float64) (*history, error) {
	if st.histDone {
		return st.hist, st.histErr
	}
	st.histDone = true
	var b []byte
	var ok bool
	var err error
	switch {
	case st.prefetched: // read with the velocity hits
		b, ok, err = st.histRaw, st.histRaw != nil, st.histErr
	case s == nil:
		err = errNoState
	default:
		b, ok, err = s.Get(st.ctx, historyKey(user))
	}
	switch {
	case err != nil:
		st.histRaw, st.histErr = nil, err
	case ok:
		st.histRaw = b
		if h := decodeHistory(b); h != nil {
			st.hist, st.stored = h, h
			if h.retryOf(st.call, country, lat, lon) {
				st.hist = h.Before
			}
		}
	}
	return st.hist, st.histErr
}

// historyAttempts bounds how often remember writes a history that
// another call changed between this call's read and its write: the answer
// waits for it (at most five store operations).
const historyAttempts = 3

// errHistoryContended is reported when every attempt met another writer.
var errHistoryContended = errors.New("user history changed by other calls at every attempt")

// remember adds an allowed call to its user's history, dropping countries
// not seen within the retention. The write succeeds only over the history
// this call read (CompareAndSet): when another call, on any replica, wrote
// in between, the history is read again and this call's observation added
// to it, so that neither call's country is lost. A failure is reported on
// the decision; the answer stands.
func (e *Engine) remember(ctx context.Context, st *callState, d *Decision) {
	o := st.observe
	if o == nil || e.State == nil {
		return
	}
	key := historyKey(o.key)
	cur, raw := st.stored, st.histRaw
	for range historyAttempts {
		b, _ := json.Marshal(observed(st, cur, o))
		done, err := e.State.CompareAndSet(ctx, key, raw, b, o.retention)
		if err != nil {
			d.noteStateError("history", err)
			return
		}
		if done || ctx.Err() != nil {
			return
		}
		var ok bool
		raw, ok, err = e.State.Get(ctx, key)
		if err != nil {
			d.noteStateError("history", err)
			return
		}
		if !ok {
			raw = nil
		}
		cur = decodeHistory(raw)
	}
	d.noteStateError("history", errHistoryContended)
}

// decodeHistory decodes a stored history; nil for none, or for one that
// does not decode (it is then written over).
func decodeHistory(raw []byte) *history {
	var h history
	if raw == nil || json.Unmarshal(raw, &h) != nil {
		return nil
	}
	return &h
}

// observed is the history cur (as stored, nil for none) with the call's
// observation o added. The call is recorded as the one that wrote it,
// with the history it was judged against (st.hist), for its retries.
func observed(st *callState, cur *history, o *observation) history {
	h := history{Countries: map[string]int64{}, RID: st.call.RequestID, At: o.at, Country: o.country, Lat: o.lat, Lon: o.lon}
	if st.hist != nil && h.RID != "" {
		before := *st.hist
		before.RID, before.Before = "", nil
		h.Before = &before
	}
	if cur != nil {
		for c, at := range cur.Countries {
			if o.at-at <= int64(o.retention/time.Second) {
				h.Countries[c] = at
			}
		}
		h.Last = cur.Last
	}
	if o.country != "" && h.Countries[o.country] < o.at {
		h.Countries[o.country] = o.at
	}
	// The latest place wins: another replica may have written a later one.
	if o.located && (h.Last == nil || h.Last.At <= o.at) {
		h.Last = &place{Lat: o.lat, Lon: o.lon, At: o.at}
	}
	return h
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// distanceKm is the great-circle distance between two points (haversine).
func distanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
