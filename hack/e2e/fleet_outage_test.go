//go:build e2e

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

// A Redis stopped or frozen under load at both replicas of a fleet (see
// fleet_test.go for the fleet and its helpers).

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
)

// Three policies, one per client, that differ only in onStoreFailure; a
// fourth checks AbuseIPDB. The velocity limit is 2 per user and minute.
const outagePolicies = `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: store-deny, namespace: default}
spec:
  match: {clientIDs: [deny-client]}
  velocity:
    - {name: v, by: User, windowSeconds: 60, limit: 2, action: Deny}
  onStoreFailure: {action: Deny}
  token:
    decisionClaims: {riskReasons: risk_reasons}
---
apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: store-allow, namespace: default}
spec:
  match: {clientIDs: [allow-client]}
  velocity:
    - {name: v, by: User, windowSeconds: 60, limit: 2, action: Deny}
  onStoreFailure: {action: Allow}
  token:
    decisionClaims: {riskReasons: risk_reasons}
---
apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: store-shorten, namespace: default}
spec:
  match: {clientIDs: [shorten-client]}
  velocity:
    - {name: v, by: User, windowSeconds: 60, limit: 2, action: Deny}
  onStoreFailure: {action: Shorten, expiresInSeconds: 300}
  token:
    decisionClaims: {riskReasons: risk_reasons}
---
apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: reputation, namespace: default}
spec:
  match: {clientIDs: [reputation-client]}
  abuseIPDB:
    apiKeySecretRef: {name: abuseipdb, key: apiKey}
    deny: {scoreAbove: 75}
    onFailure: {action: Deny}
  token:
    decisionClaims: {riskReasons: risk_reasons}
`

// outageClients are the clients of outagePolicies with what their calls
// get in shared operation (by position in a user's three calls) and with
// the store failing.
var outageClients = []struct {
	id       string
	shared   [3]string
	fallback string
}{
	{"deny-client", [3]string{"allow", "allow", "deny: " + descVelocity}, "deny: " + descStoreFault},
	{"allow-client", [3]string{"allow", "allow", "deny: " + descVelocity}, "allow"},
	{"shorten-client", [3]string{"allow", "allow", "deny: " + descVelocity}, "shorten 300 [state_unavailable]"},
	// A new address per user: the score cache falls back to each
	// replica's own, so answers never change (never onFailure).
	{"reputation-client", [3]string{"allow", "allow", "allow"}, "allow"},
}

// outageCall is one call of the outage load.
type outageCall struct {
	answer
	client    int       // index in outageClients
	pos       int       // 0, 1, 2: the user's first, second or third call
	userStart time.Time // when the user's first call started
}

func (c outageCall) shared() bool   { return c.verdict() == outageClients[c.client].shared[c.pos] }
func (c outageCall) fallback() bool { return c.verdict() == outageClients[c.client].fallback }

// outageLoad sends calls at rate per second until stopped (or bound):
// each worker takes a new user and client in turn and sends the user's
// three calls one after the other to replicas A, B, A (or B, A, B), so
// that the third is refused by the limit of 2 only if the replicas share
// the count.
type outageLoad struct {
	mu    sync.Mutex
	calls []outageCall
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startOutageLoad(ps []*proc, run, rate int, bound time.Duration) *outageLoad {
	l := &outageLoad{stop: make(chan struct{})}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	deadline := time.After(bound)
	ticks := make(chan struct{})
	l.wg.Go(func() {
		defer tick.Stop()
		defer close(ticks)
		for {
			select {
			case <-l.stop:
				return
			case <-deadline:
				return
			case <-tick.C:
				select {
				case ticks <- struct{}{}:
				default: // every worker busy: the call is not sent
				}
			}
		}
	})
	var seq sync.Mutex
	n := 0
	for range 16 {
		l.wg.Go(func() {
			for {
				seq.Lock()
				u := n
				n++
				seq.Unlock()
				client := u % len(outageClients)
				// A new user and address, never seen in an earlier run.
				ip := fmt.Sprintf("100.%d.%d.%d", 64+run*8+u>>16&7, u>>8&255, u&255)
				r := userCall(ip, fmt.Sprintf("load-%d-%d", run, u), outageClients[client].id)
				var userStart time.Time
				for pos := range 3 {
					if _, ok := <-ticks; !ok {
						return
					}
					a := decide(ps, (u+pos)%2, r)
					if pos == 0 {
						userStart = a.start
					}
					l.mu.Lock()
					l.calls = append(l.calls, outageCall{answer: a, client: client, pos: pos, userStart: userStart})
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *outageLoad) finish() []outageCall {
	close(l.stop)
	l.wg.Wait()
	sort.Slice(l.calls, func(i, j int) bool { return l.calls[i].start.Before(l.calls[j].start) })
	return l.calls
}

// within returns the calls that started in [from, to).
func within(calls []outageCall, from, to time.Time) []outageCall {
	var out []outageCall
	for _, c := range calls {
		if !c.start.Before(from) && c.start.Before(to) {
			out = append(out, c)
		}
	}
	return out
}

// latencies returns the median, 99th percentile and maximum latency.
func latencies(calls []outageCall) (p50, p99, maxL time.Duration) {
	if len(calls) == 0 {
		return 0, 0, 0
	}
	ls := make([]time.Duration, len(calls))
	for i, c := range calls {
		ls[i] = c.latency
	}
	slices.Sort(ls)
	return ls[len(ls)/2], ls[len(ls)*99/100], ls[len(ls)-1]
}

// Redis stopped for 3 s under load at both replicas, then started again
// (empty), and later frozen for 2 s: every call is answered, within the
// budget; while Redis cannot answer, the velocity policies follow their
// onStoreFailure and AbuseIPDB lookups fall back to each replica's cache;
// after it returns, the replicas share the counts again by themselves.
func TestFleetRedisDown(t *testing.T) {
	const rate = 200
	// Bounds the test holds the binary to: the 99th percentile of answers
	// while Redis is down or frozen (--redis-timeout is 50 ms a store
	// operation; 250 ms leaves a busy 2-core machine room, far below the
	// platform's 3 s), and the return to shared operation (the client
	// probes a server it cannot dial once a second).
	const maxLatency, maxRecovery = 250 * time.Millisecond, 3 * time.Second
	redis := redistest.Start(t)
	fake := abuseipdbtest.New(t, fleetKey, nil)
	ps := startFleet(t, 2, redis.URL(), fleetArgs(t, outagePolicies, "--abuseipdb-url="+fake.URL(), "--redis-timeout=50ms")...)

	for run, o := range []struct {
		name          string
		down          time.Duration
		cause, repair func()
	}{
		{"stopped", 3 * time.Second, redis.Stop, redis.Restart},
		{"frozen", 2 * time.Second, redis.Pause, redis.Resume},
	} {
		upstreamBefore := fake.Calls()
		load := startOutageLoad(ps, run, rate, 20*time.Second)
		time.Sleep(1500 * time.Millisecond)
		breakAt := time.Now()
		o.cause()
		brokenAt := time.Now()
		time.Sleep(o.down)
		fixAt := time.Now()
		o.repair()
		fixedAt := time.Now()
		time.Sleep(4 * time.Second)
		calls := load.finish()
		end := time.Now()

		failed := 0
		var firstFailure string
		for _, c := range calls {
			if c.err != nil {
				if failed++; firstFailure == "" {
					firstFailure = c.err.Error()
				}
			}
		}
		if failed > 0 {
			t.Errorf("Redis %s: %d of %d calls got no answer; first: %s", o.name, failed, len(calls), firstFailure)
		}
		// check reports the calls of a phase that ok rejects, and returns
		// how many it accepts; a phase must have at least minCalls.
		check := func(phase string, cs []outageCall, minCalls int, ok func(outageCall) bool) int {
			bad := 0
			for _, c := range cs {
				if ok(c) {
					continue
				}
				if bad++; bad <= 3 {
					t.Errorf("Redis %s, %s: %s call %d of a user on replica %c: %s", o.name, phase,
						outageClients[c.client].id, c.pos+1, 'A'+c.replica, c.verdict())
				}
			}
			if bad > 3 {
				t.Errorf("Redis %s, %s: %d wrong answers of %d", o.name, phase, bad, len(cs))
			}
			if len(cs) < minCalls {
				t.Errorf("Redis %s, %s: only %d calls, want at least %d", o.name, phase, len(cs), minCalls)
			}
			return len(cs) - bad
		}
		// Calls answered before the break.
		var before []outageCall
		for _, c := range within(calls, time.Time{}, breakAt) {
			if c.start.Add(c.latency).Before(breakAt) {
				before = append(before, c)
			}
		}
		check("before", before, rate/2, outageCall.shared)
		// Calls made while Redis was stopped or frozen: begun after it
		// was, answered before it was back (a call begun during a freeze
		// may get its answer from Redis once it resumes).
		var down []outageCall
		for _, c := range within(calls, brokenAt, fixAt) {
			if c.start.Add(c.latency).Before(fixAt) {
				down = append(down, c)
			}
		}
		// A velocity client's answers follow its onStoreFailure; the
		// reputation client's never change (its lookups fall back to the
		// replica's own cache and AbuseIPDB, never to onFailure).
		followed := check("down", down, int(o.down.Seconds())*rate/2, outageCall.fallback)

		// Recovery, per replica: from the repair until the last call that
		// still got the Deny or Shorten client's onStoreFailure answer
		// (which no shared answer looks like). After the later of the two,
		// every user whose calls all came after gets the shared answers (a
		// user whose first call fell back was counted short).
		startedAfter := func(from time.Time) []outageCall {
			var out []outageCall
			for _, c := range within(calls, from, end) {
				if !c.userStart.Before(from) {
					out = append(out, c)
				}
			}
			return out
		}
		recovered := [2]time.Duration{}
		for _, c := range within(calls, fixedAt, end) {
			if id := outageClients[c.client].id; (id == "deny-client" || id == "shorten-client") && c.fallback() {
				recovered[c.replica] = max(recovered[c.replica], c.start.Add(c.latency).Sub(fixedAt))
			}
		}
		for r, d := range recovered {
			if d > maxRecovery {
				t.Errorf("Redis %s: replica %c still not sharing %v after the fix", o.name, 'A'+r, d.Round(time.Millisecond))
			}
		}
		check("after recovery", startedAfter(fixedAt.Add(max(recovered[0], recovered[1])+time.Millisecond)), rate/2, outageCall.shared)

		p50, p99, maxAll := latencies(calls)
		dp50, dp99, dmax := latencies(down)
		// Every call was answered within the platform's budget (the
		// client's timeout, checked above); while Redis could not answer,
		// 99% within maxLatency (a call waiting for a dial or read timeout
		// of a second would show).
		if dp99 > maxLatency {
			t.Errorf("Redis %s: 99th percentile latency while down %v, want under %v", o.name, dp99, maxLatency)
			for _, c := range down {
				if c.latency > maxLatency {
					t.Logf("  %s call %d on replica %c began %v after the break (repair at %v): %v, %s", outageClients[c.client].id,
						c.pos+1, 'A'+c.replica, c.start.Sub(breakAt).Round(time.Millisecond), fixAt.Sub(breakAt).Round(time.Millisecond),
						c.latency.Round(time.Millisecond), c.verdict())
				}
			}
		}
		sent := len(calls)
		t.Logf("fleet: Redis %s %v under %d calls/s at 2 replicas: %d calls, %d unanswered; while down %d/%d calls answered per onStoreFailure (Deny/Allow/Shorten 300; AbuseIPDB lookups answered without the store), latency p50 %v p99 %v max %v (whole run p50 %v p99 %v max %v); shared again after the fix in A %v, B %v; AbuseIPDB requests %d for %d new addresses",
			o.name, o.down, rate, sent, failed, followed, len(down), dp50.Round(10*time.Microsecond), dp99.Round(10*time.Microsecond),
			dmax.Round(10*time.Microsecond), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), maxAll.Round(10*time.Microsecond),
			recovered[0].Round(time.Millisecond), recovered[1].Round(time.Millisecond), fake.Calls()-upstreamBefore, reputationUsers(calls))
	}

	// Shared operation after both: a new user's N+1th call is refused on
	// either replica.
	for first := range 2 {
		user := fmt.Sprintf("after-%d", first)
		for i := range 3 {
			r := (first + i) % 2
			a := decide(ps, r, userCall("203.0.113.9", user, "deny-client"))
			if want := outageClients[0].shared[i]; a.verdict() != want {
				t.Errorf("after the outages, %s call %d on replica %c: %s, want %s", user, i+1, 'A'+r, a.verdict(), want)
			}
		}
	}
}

// reputationUsers counts the addresses the reputation client's users asked
// from (one per user).
func reputationUsers(calls []outageCall) int {
	n := 0
	for _, c := range calls {
		if outageClients[c.client].id == "reputation-client" && c.pos == 0 {
			n++
		}
	}
	return n
}
