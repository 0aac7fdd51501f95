//go:build e2e

// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/geoip/geoiptest"
	"github.com/tokenguard/tokenguard/internal/state/redistest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// The fleet tests run two replicas of the built binary that share one
// redis-server (--redis-url) and one fake AbuseIPDB, as the chart's two
// replicas do, and check what users rely on across them: one AbuseIPDB
// lookup per new address for the fleet, a daily quota counted fleet-wide,
// velocity limits that hold whichever replica answers, user history that
// decides the same on either replica, and a Redis stopped or frozen under
// load costing neither an answer nor the budget. Each prints its figures
// as "fleet: ..." lines for the closing note.

const fleetKey = "fleet-key"

// Default descriptions of the causes the tests see.
const (
	descHighRisk   = "Access token issuance is blocked due to high IP risk."
	descVelocity   = "Too many token requests. Try again later."
	descTravel     = "Access token issuance is blocked: sign-in locations are too far apart."
	descStoreFault = "Access token issuance is blocked because a risk check is unavailable."
)

// fleetArgs writes the endpoint's auth config (NONE), the policies and the
// AbuseIPDB key's Secret (--secrets-dir layout: DIR/<name>/<key>), and
// returns the flags that point at them, followed by extra.
func fleetArgs(t *testing.T, policies string, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	auth := filepath.Join(dir, "auth.yaml")
	pol := filepath.Join(dir, "policies")
	secrets := filepath.Join(dir, "secrets")
	must(t, os.WriteFile(auth, []byte("type: NONE\n"), 0o600))
	must(t, os.MkdirAll(pol, 0o750))
	must(t, os.WriteFile(filepath.Join(pol, "fleet.yaml"), []byte(policies), 0o600))
	must(t, os.MkdirAll(filepath.Join(secrets, "abuseipdb"), 0o750))
	must(t, os.WriteFile(filepath.Join(secrets, "abuseipdb", "apiKey"), []byte(fleetKey), 0o600))
	return append([]string{"--action-auth-config=" + auth, "--policy-file=" + pol, "--secrets-dir=" + secrets,
		"--reload-settle=200ms", "--shutdown-drain-period=0s"}, extra...)
}

// startFleet starts n replicas with the same args, with AbuseIPDB on (the
// later --abuseipdb-disabled=false wins over startBinary's flag) and, when
// redisURL is set, sharing state through it; it returns them ready. Store
// operations may take 500 ms unless args say otherwise: the exact fleet
// counts must not take a pause of a loaded machine for an outage
// (TestFleetRedisDown keeps the default 50 ms).
func startFleet(t *testing.T, n int, redisURL string, args ...string) []*proc {
	t.Helper()
	args = append([]string{"--abuseipdb-disabled=false"}, args...)
	if redisURL != "" {
		args = append([]string{"--redis-timeout=500ms"}, append(args, "--redis-url="+redisURL)...)
	}
	ps := make([]*proc, n)
	for i := range ps {
		ps[i] = startBinary(t, nil, args...)
	}
	for _, p := range ps {
		waitReady(t, p.probes, 30*time.Second)
		if strings.Contains(p.logs.String(), "AbuseIPDB is switched off") {
			t.Fatal("AbuseIPDB is off in a fleet replica")
		}
	}
	return ps
}

// answer is what one call got.
type answer struct {
	replica   int
	start     time.Time
	latency   time.Duration
	err       error // no answer, or not one the platform reads
	status    string
	desc      string   // failureDescription
	expiresIn int      // new expires_in of the access token; 0 when unchanged
	reasons   []string // the risk_reasons claim
}

// verdict is the answer in a comparable form: "allow", "allow [reasons]",
// "shorten 300 [reasons]", "deny: description" or "error: ...".
func (a answer) verdict() string {
	switch {
	case a.err != nil:
		return "error: " + a.err.Error()
	case a.status == "FAILED":
		return "deny: " + a.desc
	}
	v := "allow"
	if a.expiresIn > 0 {
		v = fmt.Sprintf("shorten %d", a.expiresIn)
	}
	if len(a.reasons) > 0 {
		v += " [" + strings.Join(a.reasons, ",") + "]"
	}
	return v
}

var fleetClient = &http.Client{
	// The platform's read timeout.
	Timeout:   3 * time.Second,
	Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128},
}

// decide sends r to replica i of ps.
func decide(ps []*proc, i int, r *action.Request) answer {
	a := answer{replica: i, start: time.Now()}
	body, err := json.Marshal(r)
	if err != nil {
		a.err = err
		return a
	}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ps[i].url(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := fleetClient.Do(req)
	if err != nil {
		a.latency, a.err = time.Since(a.start), err
		return a
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	a.latency = time.Since(a.start)
	if err != nil {
		a.err = err
		return a
	}
	var out action.Response
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &out) != nil ||
		(out.ActionStatus != "SUCCESS" && out.ActionStatus != "FAILED") {
		a.err = fmt.Errorf("%d %s", resp.StatusCode, b)
		return a
	}
	a.status, a.desc = out.ActionStatus, out.FailureDescription
	for _, op := range out.Operations {
		switch {
		case op.Op == "replace" && op.Path == "/accessToken/claims/expires_in":
			_ = json.Unmarshal(op.Value, &a.expiresIn)
		case op.Op == "add" && op.Path == "/accessToken/claims/-":
			var c struct {
				Name  string          `json:"name"`
				Value json.RawMessage `json:"value"`
			}
			if json.Unmarshal(op.Value, &c) == nil && c.Name == "risk_reasons" {
				_ = json.Unmarshal(c.Value, &a.reasons)
			}
		}
	}
	return a
}

// requestSeq numbers the calls: the platform gives every call its own
// requestId, and user history treats a repeated one as a retry.
var requestSeq atomic.Int64

// userCall is a user token's call from ip for user, by client (the
// example's client when empty).
func userCall(ip, user, client string) *action.Request {
	return tu.UserRequest(ip, func(r *action.Request) {
		r.RequestID = fmt.Sprintf("fleet-%d", requestSeq.Add(1))
		r.Event.User.ID = user
		if client != "" {
			r.Event.Request.ClientID = client
		}
	})
}

// burst sends every call at once, call i to replica i%len(ps), and returns
// the answers in the calls' order.
func burst(ps []*proc, calls []*action.Request) []answer {
	out := make([]answer, len(calls))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			<-gate
			out[i] = decide(ps, i%len(ps), c)
		})
	}
	close(gate)
	wg.Wait()
	return out
}

// verdicts counts the answers' verdicts.
func verdicts(as []answer) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.verdict()]++
	}
	return m
}

const reputationPolicy = `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: reputation, namespace: default}
spec:
  abuseIPDB:
    apiKeySecretRef: {name: abuseipdb, key: apiKey}
    deny: {scoreAbove: 75}
    onFailure: {action: Shorten, expiresInSeconds: 300}
  token:
    decisionClaims: {riskReasons: risk_reasons}
`

// 100 concurrent calls for one new address, spread over the replicas, make
// one AbuseIPDB request for the whole fleet when it shares Redis; each
// replica in memory makes its own.
func TestFleetAbuseIPDBOneLookupPerAddress(t *testing.T) {
	fake := abuseipdbtest.New(t, fleetKey, nil)
	args := fleetArgs(t, reputationPolicy, "--abuseipdb-url="+fake.URL())
	redis := redistest.Start(t)

	cases := []struct {
		name     string
		replicas int
		redis    string
		want     int64
	}{
		{"1 replica", 1, "", 1},
		{"2 replicas, each in memory", 2, "", 2},
		{"2 replicas sharing Redis", 2, redis.URL(), 1},
	}
	var figures []string
	for ci, c := range cases {
		ps := startFleet(t, c.replicas, c.redis, args...)
		// Three rounds, each a new address with a score to deny: every
		// call must get the score, none onFailure.
		var perAddr []int64
		for round := range 3 {
			ip := fmt.Sprintf("198.51.100.%d", 10*ci+round+1)
			fake.SetScore(ip, 100)
			before := fake.Calls()
			calls := make([]*action.Request, 100)
			for i := range calls {
				calls[i] = userCall(ip, fmt.Sprintf("u%d", i), "")
			}
			got := verdicts(burst(ps, calls))
			if got["deny: "+descHighRisk] != 100 {
				t.Errorf("%s, %s: 100 calls answered %v, want all denied for the score", c.name, ip, got)
			}
			// Later calls are answered from the caches, on every replica.
			for i := range 10 {
				if a := decide(ps, i%len(ps), userCall(ip, "later", "")); a.verdict() != "deny: "+descHighRisk {
					t.Errorf("%s, %s: later call on replica %c: %s", c.name, ip, 'A'+i%len(ps), a.verdict())
				}
			}
			n := fake.Calls() - before
			perAddr = append(perAddr, n)
			if n != c.want {
				t.Errorf("%s, %s: %d upstream requests for 110 calls, want %d", c.name, ip, n, c.want)
			}
		}
		figures = append(figures, fmt.Sprintf("%s %v", c.name, perAddr))
		for _, p := range ps {
			stopBinary(t, p)
		}
	}
	t.Logf("fleet: AbuseIPDB requests per new address (3 addresses, 100 concurrent + 10 later calls each): %s",
		strings.Join(figures, "; "))
}

// With --abuseipdb-daily-quota=N on both replicas, N+k new addresses asked
// at once over both make exactly N requests; the other k calls follow the
// policy's onFailure (here Shorten 300), and so do later calls for them,
// while the N scored addresses are answered from the caches.
func TestFleetDailyQuota(t *testing.T) {
	const quota, extra = 10, 10
	fake := abuseipdbtest.New(t, fleetKey, nil)
	redis := redistest.Start(t)
	ps := startFleet(t, 2, redis.URL(), fleetArgs(t, reputationPolicy, "--abuseipdb-url="+fake.URL(),
		fmt.Sprintf("--abuseipdb-daily-quota=%d", quota))...)

	ips := make([]string, quota+extra)
	calls := make([]*action.Request, len(ips))
	for i := range ips {
		ips[i] = fmt.Sprintf("203.0.113.%d", i+1)
		calls[i] = userCall(ips[i], "u", "")
	}
	const scored, spent = "allow", "shorten 300 [reputation_unavailable]"
	first := burst(ps, calls)
	if got := verdicts(first); got[scored] != quota || got[spent] != extra {
		t.Errorf("%d new addresses at once, quota %d: %v, want %d %q and %d %q", len(ips), quota, got, quota, scored, extra, spent)
	}
	if n := fake.Calls(); n != quota {
		t.Errorf("%d upstream requests with a fleet quota of %d", n, quota)
	}
	// Again, each address on the other replica: the scored ones from the
	// shared cache, the others still past the quota, and no request.
	var again []answer
	for i, ip := range ips {
		a := decide(ps, (i+1)%2, userCall(ip, "u", ""))
		if want := first[i].verdict(); a.verdict() != want {
			t.Errorf("%s again on replica %c: %s, first %s", ip, 'A'+a.replica, a.verdict(), want)
		}
		again = append(again, a)
	}
	if n := fake.Calls(); n != quota {
		t.Errorf("%d upstream requests after asking again, quota %d", n, quota)
	}
	t.Logf("fleet: daily quota %d over 2 replicas: %d new addresses at once -> %d upstream requests, %v; again on the other replica %v",
		quota, len(ips), fake.Calls(), verdicts(first), verdicts(again))
}

const velocityPolicy = `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: velocity, namespace: default}
spec:
  velocity:
    - {name: v, by: User, windowSeconds: 60, limit: 10, action: Deny}
  onStoreFailure: {action: Deny}
`

// A velocity limit of N holds for the fleet: N calls alternating replicas
// are allowed, the N+1th is refused whichever replica gets it, and 2N
// calls at once over both let exactly N through. Each replica in memory
// lets N through by itself.
func TestFleetVelocity(t *testing.T) {
	const limit = 10
	redis := redistest.Start(t)
	args := fleetArgs(t, velocityPolicy)
	ps := startFleet(t, 2, redis.URL(), args...)
	const ip = "203.0.113.7"
	deny := "deny: " + descVelocity

	// Sequential, both orders: replica A first (the N+1th lands on A), then
	// B first (it lands on B); the call after it, on the other replica, is
	// refused too.
	for first := range 2 {
		user := fmt.Sprintf("sequential-%d", first)
		for i := range limit + 2 {
			r := (first + i) % 2
			a := decide(ps, r, userCall(ip, user, ""))
			want := "allow"
			if i >= limit {
				want = deny
			}
			if a.verdict() != want {
				t.Errorf("%s: call %d on replica %c: %s, want %s", user, i+1, 'A'+r, a.verdict(), want)
			}
		}
	}

	// Concurrent: 2N calls at once, over both, for each of 5 users.
	concurrent := func(ps []*proc, prefix string) []int {
		var allowed []int
		for u := range 5 {
			user := fmt.Sprintf("%s-%d", prefix, u)
			calls := make([]*action.Request, 2*limit)
			for i := range calls {
				calls[i] = userCall(ip, user, "")
			}
			got := verdicts(burst(ps, calls))
			allowed = append(allowed, got["allow"])
			if got["allow"]+got[deny] != 2*limit {
				t.Errorf("%s: answers %v", user, got)
			}
		}
		return allowed
	}
	shared := concurrent(ps, "concurrent")
	for _, n := range shared {
		if n != limit {
			t.Errorf("2N calls at once over 2 replicas sharing Redis: %v allowed per user, want %d", shared, limit)
			break
		}
	}
	for _, p := range ps {
		stopBinary(t, p)
	}
	local := concurrent(startFleet(t, 2, "", args...), "in-memory")
	t.Logf("fleet: velocity limit %d/60s by user over 2 replicas: N+1th refused on either replica (both orders); %d calls at once x5 users -> allowed %v with Redis, %v each in memory",
		limit, 2*limit, shared, local)
}

// A City database for user history: Strasbourg (FR) and Kehl (DE) are 5 km
// apart across a border; Colombo (LK) is 8,000 km from both.
var fleetPlaces = map[string]geoiptest.Place{
	"198.51.100.0/24": {Country: "FR", Lat: 48.58, Lon: 7.75},
	"192.0.2.0/24":    {Country: "DE", Lat: 48.57, Lon: 7.81},
	"203.0.113.0/24":  {Country: "LK", Lat: 6.93, Lon: 79.85},
}

const historyPolicy = `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: history, namespace: default}
spec:
  userHistory:
    retentionDays: 30
    newCountry: {action: Shorten, expiresInSeconds: 900}
    impossibleTravel: {action: Deny, maxSpeedKmh: 1000}
  onStoreFailure: {action: Deny}
  token:
    decisionClaims: {riskReasons: risk_reasons}
`

// A user's history is the same whichever replica answers: a baseline on
// one replica, a new country on the other, impossible travel back on the
// first; and the same again with the roles swapped.
func TestFleetUserHistory(t *testing.T) {
	redis := redistest.Start(t)
	geo := geoiptest.File(t, "city.mmdb", geoiptest.City(t, "GeoLite2-City", fleetPlaces))
	ps := startFleet(t, 2, redis.URL(), fleetArgs(t, historyPolicy, "--geoip-database="+geo)...)
	const strasbourg, kehl, colombo = "198.51.100.20", "192.0.2.30", "203.0.113.40"
	steps := []struct {
		on   int // 0: the first role, 1: the other
		ip   string
		what string
		want string
	}{
		{0, strasbourg, "baseline (FR)", "allow"},
		{1, kehl, "new country (DE, 5 km)", "shorten 900 [new_country]"},
		{0, colombo, "Kehl to Colombo within seconds", "deny: " + descTravel},
		{1, kehl, "DE again, same place", "allow"},
		{0, strasbourg, "FR again, 5 km", "allow"},
		{1, colombo, "Colombo, still too fast", "deny: " + descTravel},
	}
	var lines []string
	for first := range 2 {
		user := fmt.Sprintf("traveller-%d", first)
		var got []string
		for _, s := range steps {
			r := (first + s.on) % 2
			a := decide(ps, r, userCall(s.ip, user, ""))
			got = append(got, fmt.Sprintf("%c:%s", 'A'+r, a.verdict()))
			if a.verdict() != s.want {
				t.Errorf("%s, %s on replica %c: %s, want %s", user, s.what, 'A'+r, a.verdict(), s.want)
			}
		}
		lines = append(lines, strings.Join(got, " | "))
	}
	t.Logf("fleet: user history over 2 replicas sharing Redis, same outcomes both ways:\n  %s", strings.Join(lines, "\n  "))
}

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
