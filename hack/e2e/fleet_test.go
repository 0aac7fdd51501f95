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
