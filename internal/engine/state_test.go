// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/geoip"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/redisstore"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// Places of a test City database: Colombo and Galle (LK, 116 km apart),
// Berlin (DE, about 8,000 km from Colombo).
var places = map[string]geoiptest.Place{
	"203.0.113.0/25":   {Country: "LK", Lat: 6.9271, Lon: 79.8612},
	"203.0.113.128/25": {Country: "LK", Lat: 6.0535, Lon: 80.2210},
	"198.51.100.0/24":  {Country: "DE", Lat: 52.52, Lon: 13.405},
}

const (
	colombo = "203.0.113.10"
	galle   = "203.0.113.200"
	berlin  = "198.51.100.7"
)

// stateEngine is an engine over a City database and an in-process store
// whose clock is the calls' clock.
func stateEngine(t *testing.T, clock *time.Time) *engine.Engine {
	t.Helper()
	db, err := geoip.OpenBytes(geoiptest.City(t, "GeoLite2-City", places))
	if err != nil {
		t.Fatal(err)
	}
	return &engine.Engine{Geo: geoip.New(db), State: state.NewMemory(func() time.Time { return *clock })}
}

func at(base time.Time, d time.Duration) string { return base.Add(d).Format(time.RFC3339) }

// A velocity limit counts every call in its sliding window, per key; calls
// without a user or an address skip the limits that need one.
func TestVelocity(t *testing.T) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := base
	e := stateEngine(t, &clock)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "limits", `
clientIP: {onMissing: Allow}
velocity:
- {name: per-user, by: User, windowSeconds: 60, limit: 3, action: Deny}
- {name: per-address, by: ClientAddress, windowSeconds: 60, limit: 5, action: Shorten, expiresInSeconds: 300}
token: {decisionClaims: {riskReasons: risk_reasons}}
denial: {descriptions: {velocity: "Slow down."}}
`, secrets)})
	decide := func(c *engine.Call) *engine.Decision {
		clock = c.Now
		return e.Decide(context.Background(), snap, c)
	}
	for i := 1; i <= 3; i++ {
		if d := decide(userCall(colombo, at(base, time.Duration(i)*time.Second))); d.Deny {
			t.Fatalf("call %d denied: %+v", i, d.Denial)
		}
	}
	d := decide(userCall(colombo, at(base, 4*time.Second)))
	if !d.Deny || d.Denial.Cause != policy.CauseVelocity || d.Denial.Description != "Slow down." || d.Policies[0].Rule != "per-user" {
		t.Fatalf("4th call: deny %v %+v %+v", d.Deny, d.Denial, d.Policies)
	}
	// Another user from the same address: its own count, but the 6th call
	// from the address is shortened and says why in the token.
	other := func(c *engine.Call) { c.User = &engine.User{ID: "u2"} }
	d = decide(userCall(colombo, at(base, 5*time.Second), other))
	if d.Deny || d.ExpiresIn != 0 {
		t.Fatalf("5th call from the address: %+v", d)
	}
	// The per-user limit denied the 4th call before the address limit saw
	// it: this is the 5th call the address limit counts.
	d = decide(userCall(colombo, at(base, 6*time.Second), other))
	if d.Deny || d.ExpiresIn != 0 {
		t.Fatalf("5th counted call from the address: %+v", d)
	}
	// An application token has no user: only the address limit counts.
	d = decide(appCall(colombo, at(base, 7*time.Second)))
	if d.Deny || d.ExpiresIn != 300 || claimsOf(d) != `risk_reasons=["velocity"]` {
		t.Fatalf("application token, 6th from the address: expires %d claims %s", d.ExpiresIn, claimsOf(d))
	}
	// Without an address, the user limit still holds.
	if d := decide(userCall("", at(base, 8*time.Second))); !d.Deny || d.Denial.Cause != policy.CauseVelocity {
		t.Fatalf("no address: %+v", d)
	}
	// The window slides: a minute after the first calls, the user may again.
	if d := decide(userCall(galle, at(base, 64*time.Second))); d.Deny {
		t.Fatalf("after the window: %+v", d.Denial)
	}
}

func claimsOf(d *engine.Decision) string {
	s := ""
	for _, c := range d.Claims {
		s += c.Name + "=" + string(c.Value) + " "
	}
	return strings.TrimSpace(s)
}

// New countries and impossible travel, remembered only for calls that got
// a token, per user.
func TestUserHistory(t *testing.T) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := base
	e := stateEngine(t, &clock)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "history", `
userHistory:
  retentionDays: 30
  newCountry: {action: Shorten, expiresInSeconds: 600}
  impossibleTravel: {action: Deny, maxSpeedKmh: 900, minDistanceKm: 200}
token: {decisionClaims: {riskReasons: risk_reasons}}
`, secrets)})
	type step struct {
		ip      string
		after   time.Duration
		user    string
		deny    policy.Cause
		expires int64
		reasons string
	}
	for i, s := range []step{
		{ip: colombo, after: 0, user: "u1"},                                                             // the baseline
		{ip: galle, after: time.Hour, user: "u1"},                                                       // 116 km: too short to judge
		{ip: berlin, after: 2 * time.Hour, user: "u1", deny: policy.CauseImpossibleTravel},              // 8,000 km in 1 h
		{ip: berlin, after: 3 * time.Hour, user: "u2"},                                                  // another user's baseline
		{ip: berlin, after: 30 * time.Hour, user: "u1", expires: 600, reasons: `["new_country"]`},       // 8,000 km in 29 h: fine, but DE is new
		{ip: berlin, after: 31 * time.Hour, user: "u1"},                                                 // DE is known now
		{ip: berlin, after: 20 * 24 * time.Hour, user: "u1"},                                            // active in DE
		{ip: colombo, after: 40 * 24 * time.Hour, user: "u1", expires: 600, reasons: `["new_country"]`}, // LK not seen for 40 days
	} {
		t.Run(fmt.Sprintf("%d %s after %s", i, s.user, s.after), func(t *testing.T) {
			c := userCall(s.ip, at(base, s.after), func(c *engine.Call) { c.User = &engine.User{ID: s.user} })
			clock = c.Now
			d := e.Decide(context.Background(), snap, c)
			switch {
			case s.deny != policy.CauseNone:
				if !d.Deny || d.Denial.Cause != s.deny {
					t.Errorf("want denied for %s, got %+v %+v", s.deny, d.Denial, d.Policies)
				}
			case d.Deny:
				t.Errorf("denied: %+v", d.Denial)
			case d.ExpiresIn != s.expires:
				t.Errorf("expires %d, want %d", d.ExpiresIn, s.expires)
			}
			if s.reasons != "" && claimsOf(d) != "risk_reasons="+s.reasons {
				t.Errorf("claims %s, want reasons %s", claimsOf(d), s.reasons)
			}
			if d.StateError != nil {
				t.Errorf("state error %v", d.StateError)
			}
		})
	}
	// Application tokens have no history.
	if d := e.Decide(context.Background(), snap, appCall(berlin, at(base, time.Hour))); d.Deny || d.ExpiresIn != 0 {
		t.Errorf("application token: %+v", d)
	}
}

// failing is a store that cannot answer, as a Redis that is down.
type failing struct{ state.Store }

func (failing) Hit(context.Context, string, time.Time, time.Duration) (int64, error) {
	return 0, state.ErrUnavailable
}
func (failing) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, state.ErrUnavailable
}
func (failing) Set(context.Context, string, []byte, time.Duration) error {
	return state.ErrUnavailable
}
func (f failing) Do(ctx context.Context, b *state.Batch) { state.DoEach(ctx, f, b) }
func (failing) CompareAndSet(context.Context, string, []byte, []byte, time.Duration) (bool, error) {
	return false, state.ErrUnavailable
}

// interleaving runs between once, the first time a history is read: another
// call, on another replica, decided between this call's read and its write.
type interleaving struct {
	state.Store
	between func()
}

func (s *interleaving) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, ok, err := s.Store.Get(ctx, key)
	s.read(key)
	return v, ok, err
}

func (s *interleaving) Do(ctx context.Context, b *state.Batch) {
	s.Store.Do(ctx, b)
	for i := range b.Len() {
		s.read(b.Op(i).Key())
	}
}

func (s *interleaving) read(key string) {
	if f := s.between; f != nil && strings.HasPrefix(key, state.Key("history")) {
		s.between = nil
		f()
	}
}

// Two calls for one user that read the history at the same time both add
// to it: the later write does not drop the earlier one's country.
func TestUserHistoryConcurrentCalls(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testUserHistoryConcurrentCalls(t, nil) })
	t.Run("redis", func(t *testing.T) { testUserHistoryConcurrentCalls(t, redisStore(t)) })
}

// testUserHistoryConcurrentCalls runs on shared, or on a memory store when
// it is nil.
func testUserHistoryConcurrentCalls(t *testing.T, shared state.Store) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := base
	if shared == nil {
		shared = stateEngine(t, &clock).State
	}
	replica := func() *engine.Engine {
		e := stateEngine(t, &clock)
		e.State = shared
		return e
	}
	a, b := replica(), replica()
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `
userHistory: {newCountry: {action: Shorten, expiresInSeconds: 600}}
`, secrets)})
	decide := func(e *engine.Engine, ip, rid string, after time.Duration) *engine.Decision {
		c := userCall(ip, at(base, after), func(c *engine.Call) { c.RequestID = rid })
		clock = c.Now
		return e.Decide(context.Background(), snap, c)
	}
	if d := decide(a, colombo, "r1", 0); d.Deny || d.ExpiresIn != 0 || d.StateError != nil {
		t.Fatalf("baseline: %+v", d)
	}
	// Replica a reads the history for a call from Galle; replica b answers
	// a call from Berlin (a new country) before a writes.
	var fromBerlin *engine.Decision
	a.State = &interleaving{Store: shared, between: func() { fromBerlin = decide(b, berlin, "r2", time.Hour) }}
	if d := decide(a, galle, "r3", time.Hour); d.Deny || d.ExpiresIn != 0 || d.StateError != nil {
		t.Fatalf("from Galle: %+v", d)
	}
	if fromBerlin == nil || fromBerlin.ExpiresIn != 600 || fromBerlin.StateError != nil {
		t.Fatalf("from Berlin, a new country: %+v", fromBerlin)
	}
	// Both countries are remembered: Germany is no longer new.
	a.State = shared
	if d := decide(a, berlin, "r4", 2*time.Hour); d.Deny || d.ExpiresIn != 0 || d.StateError != nil {
		t.Fatalf("from Berlin again, after both calls were remembered: expires %d, %+v", d.ExpiresIn, d)
	}
}

// When the store fails, each policy's onStoreFailure decides; Deny is the
// default.
func TestOnStoreFailure(t *testing.T) {
	clock := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e := stateEngine(t, &clock)
	e.State = failing{}
	for spec, want := range map[string]struct {
		deny    bool
		expires int64
	}{
		`velocity: [{name: v, by: Client, windowSeconds: 60, limit: 10, action: Deny}]`:                                    {deny: true},
		`{velocity: [{name: v, by: Client, windowSeconds: 60, limit: 10, action: Deny}], onStoreFailure: {action: Allow}}`: {},
		`{userHistory: {newCountry: {action: Flag}}, onStoreFailure: {action: Shorten, expiresInSeconds: 120}}`:            {expires: 120},
		`{userHistory: {newCountry: {action: Flag}}}`:                                                                      {deny: true},
	} {
		t.Run(spec, func(t *testing.T) {
			snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", spec, secrets)})
			d := e.Decide(context.Background(), snap, userCall(colombo, at(clock, 0)))
			if d.Deny != want.deny || d.ExpiresIn != want.expires || d.StateError == nil {
				t.Errorf("deny %v expires %d error %v; want %+v", d.Deny, d.ExpiresIn, d.StateError, want)
			}
			if want.deny && d.Denial.Cause != policy.CauseStateUnavailable {
				t.Errorf("cause %s", d.Denial.Cause)
			}
		})
	}
}

// The platform retries a call that timed out, with the same requestId.
// User history judges the retry as it judged the first attempt (the same
// answer); a velocity limit counts it again, since a requestId can come
// from a header the client sets; a replayed requestId from elsewhere, or
// later, is judged afresh.
func TestRetriedCall(t *testing.T) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := base
	e := stateEngine(t, &clock)
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `
velocity: [{name: v, by: User, windowSeconds: 60, limit: 2, action: Deny}]
userHistory: {newCountry: {action: Shorten, expiresInSeconds: 600}}
`, secrets)})
	decide := func(ip, rid string, after time.Duration) *engine.Decision {
		c := userCall(ip, at(base, after), func(c *engine.Call) { c.RequestID = rid })
		clock = c.Now
		return e.Decide(context.Background(), snap, c)
	}
	if d := decide(colombo, "r1", 0); d.Deny || d.ExpiresIn != 0 {
		t.Fatalf("baseline: %+v", d)
	}
	first := decide(berlin, "r2", time.Hour)
	retry := decide(berlin, "r2", time.Hour+3*time.Second)
	if first.Deny || first.ExpiresIn != 600 || retry.Deny || retry.ExpiresIn != 600 {
		t.Fatalf("new country: first %v/%d, retry %v/%d; want both shortened to 600", first.Deny, first.ExpiresIn, retry.Deny, retry.ExpiresIn)
	}
	// The velocity limit counted both: a third call in the minute is refused.
	if d := decide(berlin, "r3", time.Hour+4*time.Second); !d.Deny || d.Denial.Cause != policy.CauseVelocity {
		t.Fatalf("third call: %+v", d)
	}
	// r2 replayed a minute later is a new call: DE is known now.
	if d := decide(berlin, "r2", 2*time.Hour); d.Deny || d.ExpiresIn != 0 {
		t.Fatalf("replay an hour later: %+v", d)
	}
}

// A call with several velocity limits and user history costs the store two
// operations: the limits' hits (one script on Redis) and the history read
// in one batch, one round trip, then the history write.
func TestStateRoundTrips(t *testing.T) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := base
	e := stateEngine(t, &clock)
	var ops []string
	e.State = state.Instrument(e.State, func(op string, _ time.Duration, err error) {
		if err != nil {
			t.Errorf("%s: %v", op, err)
		}
		ops = append(ops, op)
	})
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `
velocity:
- {name: per-user, by: User, windowSeconds: 60, limit: 3, action: Deny}
- {name: per-address, by: ClientAddress, windowSeconds: 60, limit: 5, action: Deny}
- {name: per-client, by: Client, windowSeconds: 60, limit: 100, action: Deny}
userHistory: {newCountry: {action: Shorten, expiresInSeconds: 600}}
`, secrets)})
	for i, want := range [][]string{
		{state.OpBatch, state.OpCAS}, // the first token: the baseline is written
		{state.OpBatch, state.OpCAS},
		{state.OpBatch, state.OpCAS},
		{state.OpBatch}, // the 4th call is denied: nothing is remembered
	} {
		ops = nil
		d := e.Decide(context.Background(), snap, userCall(colombo, at(base, time.Duration(i)*time.Second)))
		if fmt.Sprint(ops) != fmt.Sprint(want) || d.Deny != (i == 3) {
			t.Errorf("call %d: operations %v, want %v; deny %v", i+1, ops, want, d.Deny)
		}
	}
}

// A limit that denies stops the count: a flood from one address that its
// limit refuses does not spend the client's budget for other addresses.
func TestVelocityDeniedCallsStopAtTheLimit(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testVelocityStops(t, nil) })
	t.Run("redis", func(t *testing.T) { testVelocityStops(t, redisStore(t)) })
}

// redisStore is a store on a real redis-server of the test's own.
func redisStore(t *testing.T) state.Store {
	t.Helper()
	s, err := redisstore.New(redisstore.Options{URL: redistest.Start(t).URL(), OpTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testVelocityStops(t *testing.T, s state.Store) {
	base := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	clock := base
	e := stateEngine(t, &clock)
	if s != nil {
		e.State = s
	}
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `
velocity:
- {name: per-address, by: ClientAddress, windowSeconds: 60, limit: 2, action: Deny}
- {name: per-client, by: Client, windowSeconds: 60, limit: 5, action: Deny}
`, secrets)})
	for i := range 10 {
		clock = base.Add(time.Duration(i) * time.Second)
		if d := e.Decide(context.Background(), snap, appCall(berlin, at(clock, 0))); d.Deny != (i >= 2) {
			t.Fatalf("call %d from Berlin: deny %v", i+1, d.Deny)
		}
	}
	if d := e.Decide(context.Background(), snap, appCall(colombo, at(base, 11*time.Second))); d.Deny {
		t.Fatalf("a call from another address was refused by %q after a flood from Berlin", d.Policies[0].Rule)
	}
}

// dropsCounts is a store that answers a batch's hits without their counts.
type dropsCounts struct{ state.Store }

func (s dropsCounts) Do(ctx context.Context, b *state.Batch) {
	s.Store.Do(ctx, b)
	for i := range b.Len() {
		b.Op(i).Counts = nil
	}
}

// A store answer with fewer counts than limits is a store failure, never
// an allowed call.
func TestVelocityShortAnswerIsAFailure(t *testing.T) {
	clock := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	e := stateEngine(t, &clock)
	e.State = dropsCounts{e.State}
	snap := policy.NewSnapshot([]*policy.Policy{testutil.Policy(t, "p", `velocity: [{name: v, by: Client, windowSeconds: 60, limit: 1, action: Deny}]`, secrets)})
	d := e.Decide(context.Background(), snap, appCall(colombo, at(clock, 0)))
	if !d.Deny || d.Denial.Cause != policy.CauseStateUnavailable || d.StateError == nil {
		t.Fatalf("deny %v cause %s error %v; want the onStoreFailure default, Deny", d.Deny, d.Denial.Cause, d.StateError)
	}
}
