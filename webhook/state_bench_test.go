// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/state"
	"github.com/tokenguard/tokenguard/internal/state/redisstore"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// statePolicy adds a velocity limit per user and user history (new
// country) to the seed policy: a sliding-window hit and a history read in
// one batch, and a history write, per call.
const statePolicy = `
clientIP: {onMissing: Allow}
velocity: [{name: per-user, by: User, windowSeconds: 60, limit: 1000000000, action: Deny}]
userHistory: {newCountry: {action: Flag}}
onStoreFailure: {action: Allow}
`

// BenchmarkHandlerState is the decision cost with the rules that need shared
// state, next to the same call without them, in one run: the store in
// memory (one replica), and a real redis-server on loopback (the fleet).
// docs/performance.md has the figures.
func BenchmarkHandlerState(b *testing.B) {
	body := tu.JSON(b, tu.UserRequest("14.102.69.58"))
	now := mustTime("2026-11-26T10:00:00Z")
	run := func(b *testing.B, extra []*policy.Policy, s state.Store) {
		e := newEnv(b, append(seedPolicies(b), extra...), envOptions{now: now})
		e.handler.Engine.State = s
		post(b, e.url, "application/json", body) // warm the score cache
		benchServe(b, e.handler, body)
	}
	b.Run("no-state-rules", func(b *testing.B) { run(b, nil, nil) })
	withState := []*policy.Policy{tu.Policy(b, "state", statePolicy, nil)}
	b.Run("memory", func(b *testing.B) { run(b, withState, state.NewMemory(nil)) })
	b.Run("redis", func(b *testing.B) {
		srv := redistest.Start(b)
		s, err := redisstore.New(redisstore.Options{URL: srv.URL()})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		run(b, withState, s)
	})
	// Where the network dominates: the server 0.5 ms away each way. The
	// velocity hits and the history read go in one batch (one round trip),
	// then the history write, with one limit or three; sending the batch
	// one operation at a time, as before batching, costs a round trip per
	// limit and one for the read.
	threeLimits := []*policy.Policy{tu.Policy(b, "state", statePolicy3, nil)}
	distant := func(b *testing.B, policies []*policy.Policy, wrap func(state.Store) state.Store) {
		srv := redistest.Start(b)
		s, err := redisstore.New(redisstore.Options{URL: srv.Distant(b, 500*time.Microsecond)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		run(b, policies, wrap(s))
	}
	batched := func(s state.Store) state.Store { return s }
	sequential := func(s state.Store) state.Store { return oneAtATime{s} }
	b.Run("redis-0.5ms-away", func(b *testing.B) { distant(b, withState, batched) })
	b.Run("redis-0.5ms-away-one-at-a-time", func(b *testing.B) { distant(b, withState, sequential) })
	b.Run("redis-0.5ms-away-3-limits", func(b *testing.B) { distant(b, threeLimits, batched) })
	b.Run("redis-0.5ms-away-3-limits-one-at-a-time", func(b *testing.B) { distant(b, threeLimits, sequential) })
}

// statePolicy3 is statePolicy with three velocity limits.
const statePolicy3 = `
clientIP: {onMissing: Allow}
velocity:
- {name: per-user, by: User, windowSeconds: 60, limit: 1000000000, action: Deny}
- {name: per-address, by: ClientAddress, windowSeconds: 60, limit: 1000000000, action: Deny}
- {name: per-client, by: Client, windowSeconds: 60, limit: 1000000000, action: Shorten, expiresInSeconds: 300}
userHistory: {newCountry: {action: Flag}}
onStoreFailure: {action: Allow}
`

// oneAtATime sends a batch's operations one by one.
type oneAtATime struct{ state.Store }

func (s oneAtATime) Do(ctx context.Context, b *state.Batch) { state.DoEach(ctx, s.Store, b) }
