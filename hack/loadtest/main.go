// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

// Command loadtest measures the action endpoint on loopback against two bare
// net/http baselines that answer a fixed SUCCESS, in the same run, so that
// the ratios hold on a noisy shared machine (docs/performance.md):
// baseline-minimal decodes only what a decision needs
// (webhook.MinimalBaseline, the yardstick ratios are taken against),
// baseline the same request into the same structs as TokenGuard
// (webhook.Baseline). TokenGuard runs with the seed policy (decision logging
// off, and on: "tokenguard-logged", JSON lines to io.Discard), and again
// with 1,000 policies (two match the call) and 100,000 blocked networks
// ("tokenguard-1000p-100k").
//
//  1. closed-loop throughput, cached AbuseIPDB scores;
//  2. open-loop latency at a fixed rate (vegeta), cached scores;
//  3. AbuseIPDB hanging: every answer within the budget;
//  4. 100 concurrent calls for one uncached address: one upstream call.
//
// Every loop is bounded in count and time and targets 127.0.0.1 only.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	vegeta "github.com/tsenart/vegeta/v12/lib"
	crzap "sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/app"
	"github.com/tokenguard/tokenguard/internal/logging"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
	"github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/internal/testutil/cputime"
	"github.com/tokenguard/tokenguard/webhook"
)

// body is the seed request of the contract's example (section 2.3) from ip,
// the same request the tests and benchmarks send.
func body(ip string) []byte {
	b, err := json.Marshal(testutil.Request(ip))
	if err != nil {
		panic(err)
	}
	return b
}

type options struct {
	geoip        string
	duration     time.Duration
	rate         int
	workers      int
	budget       time.Duration
	hangRate     int
	hangSeconds  int
	rounds       int
	cidrs        int
	only         string
	skipFailures bool
}

func main() {
	var o options
	flag.StringVar(&o.geoip, "geoip-database", "", "GeoIP database (make load passes the DB-IP default)")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each round of the throughput and fixed-rate runs")
	flag.IntVar(&o.rate, "rate", 2000, "fixed rate for the latency run, calls per second")
	flag.IntVar(&o.workers, "workers", 32, "concurrent clients for the closed-loop run")
	flag.DurationVar(&o.budget, "budget", 500*time.Millisecond, "AbuseIPDB budget for the hanging run")
	flag.IntVar(&o.hangRate, "hang-rate", 200, "calls per second while AbuseIPDB hangs")
	flag.IntVar(&o.hangSeconds, "hang-seconds", 5, "seconds of the hanging run")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds per target for runs 1 and 2; the median counts")
	flag.IntVar(&o.cidrs, "cidrs", 100000, "blocked networks of the 1,000-policy target")
	flag.StringVar(&o.only, "targets", "", "comma-separated targets to run (default: all)")
	flag.BoolVar(&o.skipFailures, "skip-failure-runs", false, "skip runs 3 and 4 (AbuseIPDB hanging, one upstream call)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type target struct {
	name, url string
}

func serve(h http.Handler) (string, func(), error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + webhook.Path, func() { _ = srv.Close() }, nil
}

// tokenGuard starts the real service (the same assembly as the binary) in
// standalone mode on the seed policy; with scale, among 999 more policies
// (see scaled).
func tokenGuard(o options, fake *abuseipdbtest.Server, budget time.Duration, scale, logged bool) (string, func(), error) {
	dir, err := os.MkdirTemp("", "loadtest")
	if err != nil {
		return "", nil, err
	}
	auth := dir + "/auth.yaml"
	if err := os.WriteFile(auth, []byte("type: NONE\n"), 0o600); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir+"/secrets/abuseipdb", 0o700); err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(dir+"/secrets/abuseipdb/apiKey", []byte("load-key"), 0o600); err != nil {
		return "", nil, err
	}
	opts := &app.Options{
		AuthConfigFile: auth, GeoIPDatabases: []string{o.geoip}, AbuseIPDBURL: fake.URL(),
		AbuseIPDBBudget: budget, AbuseIPDBRequestTimeout: 4 * time.Second, AbuseIPDBCacheSize: 100000,
	}
	log := logr.Discard()
	if logged {
		// The shipped logger (JSON at info level: a line per decision), to io.Discard.
		log = logging.New(logging.Options{Options: crzap.Options{DestWriter: io.Discard}})
	}
	svc, err := app.NewService(opts, prometheus.NewRegistry(), log)
	if err != nil {
		return "", nil, err
	}
	l := &standalone.Loader{Paths: []string{"config/samples/asgardeo-use-case.yaml"}, SecretsDir: dir + "/secrets", Store: svc.Store, Log: logr.Discard()}
	if err := l.Load(context.Background()); err != nil {
		return "", nil, err
	}
	if scale {
		svc.Store.Replace(scaled(svc.Store.Load().Policies, o.cidrs))
	}
	url, stop, err := serve(svc.Server.Handler)
	return url, func() { stop(); _ = os.RemoveAll(dir) }, err
}

// scaled returns the seed policies among 999 more: 998 for other
// applications (each its own client id, so the call's is matched by none)
// and one for every application that blocks cidrs random networks (as an
// IP list would). The call still gets the seed policy's answer.
func scaled(seed []*policy.Policy, cidrs int) []*policy.Policy {
	ps := slices.Clone(seed)
	for i := range 998 {
		ps = append(ps, &policy.Policy{
			Key: fmt.Sprintf("load/app-%03d", i), IPHeader: "x-client-source-ip", OnMissingIP: policy.Deny,
			Match: policy.Match{ClientIDs: []string{fmt.Sprintf("client-%03d", i)}},
			Token: policy.TokenChanges{MaxExpiresIn: 600},
		})
	}
	keep := []netip.Addr{netip.MustParseAddr("14.102.69.58"), netip.MustParseAddr("205.210.31.51")}
	r := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // reproducible test networks, not secrets
	var b policy.NetSetBuilder
	for n := 0; n < cidrs; {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], r.Uint32())
		p := netip.PrefixFrom(netip.AddrFrom4(a), 20+r.IntN(13))
		if slices.ContainsFunc(keep, p.Contains) {
			continue // the load run's addresses stay allowed
		}
		b.Add(p)
		n++
	}
	return append(ps, &policy.Policy{Key: "load/blocklist", IPHeader: "x-client-source-ip", OnMissingIP: policy.Allow, Blocked: b.Build()})
}

func run(o options) error {
	if o.geoip == "" {
		return fmt.Errorf("--geoip-database is required")
	}
	fake := abuseipdbtest.NewServer("load-key", abuseipdbtest.SeedScores)
	defer fake.Stop()
	var targets []target
	for _, t := range []struct {
		name  string
		start func() (string, func(), error)
	}{
		{"baseline-minimal", func() (string, func(), error) { return serve(webhook.MinimalBaseline{}) }},
		{"baseline", func() (string, func(), error) { return serve(webhook.Baseline{}) }},
		{"tokenguard", func() (string, func(), error) { return tokenGuard(o, fake, time.Second, false, false) }},
		{"tokenguard-logged", func() (string, func(), error) { return tokenGuard(o, fake, time.Second, false, true) }},
		{"tokenguard-1000p-100k", func() (string, func(), error) { return tokenGuard(o, fake, time.Second, true, false) }},
	} {
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), t.name) {
			continue
		}
		url, stop, err := t.start()
		if err != nil {
			return err
		}
		defer stop()
		targets = append(targets, target{name: t.name, url: url})
	}
	cached := body("14.102.69.58") // score 50: the shorten path, SUCCESS with two operations
	for _, t := range targets {
		if r, err := post(http.DefaultClient, t.url, cached); err != nil || strings.HasPrefix(t.name, "tokenguard") &&
			!bytes.Contains(r, []byte(`"value":900`)) && !bytes.Contains(r, []byte(`"value":300`)) {
			return fmt.Errorf("warm-up of %s: %s: %w", t.name, r, err)
		}
	}

	fmt.Printf("# TokenGuard load run, %s, GOMAXPROCS=%d\n\n", time.Now().UTC().Format(time.RFC3339), runtime.GOMAXPROCS(0))
	// Targets alternate in rounds (in rotated order) and the median round
	// counts, so that a noisy moment on a shared machine hits all or none; "paired" ratios are
	// the median over rounds of the ratio within each round.
	fmt.Printf("## 1. Closed loop, %d clients, %d rounds of %s per target, cached score\n\n"+
		"| target | calls/s (median) | rounds | to baseline-minimal (medians) | to baseline-minimal (paired) | to baseline (paired) "+
		"| to tokenguard (paired) | CPU µs per call | CPU, baseline-minimal over target (paired) |\n|---|---|---|---|---|---|---|---|---|\n",
		o.workers, o.rounds, o.duration)
	rps, cpu := map[string][]float64{}, map[string][]float64{}
	for i := 0; i < o.rounds; i++ {
		for _, t := range rotated(targets, i) {
			c0 := cputime.Used()
			v, errs := closedLoop(t.url, cached, o.workers, o.duration)
			if errs > 0 {
				return fmt.Errorf("%d errors against %s", errs, t.name)
			}
			rps[t.name] = append(rps[t.name], v)
			cpu[t.name] = append(cpu[t.name], float64((cputime.Used()-c0).Microseconds())/(v*o.duration.Seconds()))
		}
	}
	for _, t := range targets {
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s | %s | %.1f | %s |\n", t.name, median(rps[t.name]), floats(rps[t.name]),
			ratio(median, rps[t.name], rps["baseline-minimal"]), ratio(nil, rps[t.name], rps["baseline-minimal"]),
			ratio(nil, rps[t.name], rps["baseline"]), ratio(nil, rps[t.name], rps["tokenguard"]),
			median(cpu[t.name]), ratio(nil, cpu["baseline-minimal"], cpu[t.name]))
	}
	fmt.Println("\nCPU µs per call is the whole process's (the 32 clients' included) over the run, median of rounds; " +
		"the last column is the minimal baseline's CPU per call over the target's (paired): like throughput, higher is better, " +
		"and other processes on the machine move it much less than throughput.")

	fmt.Printf("\n## 2. Open loop at %d calls/s, %d rounds of %s per target, cached score (vegeta)\n\n"+
		"| target | p50 | p90 | p99 (median) | p99 per round | max | success | p99 to baseline-minimal (medians) | (paired) | p99 to tokenguard (paired) |\n|---|---|---|---|---|---|---|---|---|---|\n", o.rate, o.rounds, o.duration)
	p99s := map[string][]float64{}
	last := map[string]*vegeta.Metrics{}
	for i := 0; i < o.rounds; i++ {
		for _, t := range rotated(targets, i) {
			m := fixedRate(t.url, cached, o.rate, o.duration)
			if m.Success < 1 {
				return fmt.Errorf("%s: success ratio %.4f", t.name, m.Success)
			}
			p99s[t.name] = append(p99s[t.name], float64(m.Latencies.P99))
			last[t.name] = m
		}
	}
	for _, t := range targets {
		m := last[t.name]
		var per []string
		for _, v := range p99s[t.name] {
			per = append(per, r(time.Duration(v)))
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %.4f | %s | %s | %s |\n", t.name, r(m.Latencies.P50), r(m.Latencies.P90), r(time.Duration(median(p99s[t.name]))),
			strings.Join(per, " "), r(m.Latencies.Max), m.Success, ratio(median, p99s[t.name], p99s["baseline-minimal"]),
			ratio(nil, p99s[t.name], p99s["baseline-minimal"]), ratio(nil, p99s[t.name], p99s["tokenguard"]))
	}
	if o.skipFailures {
		return nil
	}
	tgURL, stopTG, err := tokenGuard(o, fake, time.Second, false, false)
	if err != nil {
		return err
	}
	defer stopTG()

	fmt.Printf("\n## 3. AbuseIPDB hanging, budget %s, %d calls/s for %ds, each from a new address\n\n", o.budget, o.hangRate, o.hangSeconds)
	hangURL, stopHang, err := tokenGuard(o, fake, o.budget, false, false)
	if err != nil {
		return err
	}
	defer stopHang()
	fake.SetMode(abuseipdbtest.Hang)
	lat, statuses := hanging(hangURL, o.hangRate, o.hangSeconds)
	fake.SetMode(abuseipdbtest.Normal)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	fmt.Printf("| calls | p50 | p99 | max | budget + 50 ms | answers |\n|---|---|---|---|---|---|\n| %d | %s | %s | %s | %s | %v |\n",
		len(lat), r(pct(lat, 0.5)), r(pct(lat, 0.99)), r(lat[len(lat)-1]), o.budget+50*time.Millisecond, statuses)

	fmt.Printf("\n## 4. 100 concurrent calls for one uncached address\n\n")
	before := fake.Calls()
	fake.SetDelay(200 * time.Millisecond)
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := post(http.DefaultClient, tgURL, body("205.210.31.51")); err == nil && bytes.Contains(b, []byte("SUCCESS")) {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	fake.SetDelay(0)
	fmt.Printf("| calls | answered SUCCESS | upstream AbuseIPDB calls |\n|---|---|---|\n| 100 | %d | %d |\n", ok.Load(), fake.Calls()-before)
	return nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// rotated is the order of round i: each target goes first in turn, so that
// none always follows the same one (a target run right after another pays
// for its predecessor's garbage and connections).
func rotated(ts []target, i int) []target {
	i %= len(ts)
	return append(slices.Clone(ts[i:]), ts[:i]...)
}

// ratio formats of(a)/of(b), or the paired ratio when of is nil; "-" when
// b was not measured.
func ratio(of func([]float64) float64, a, b []float64) string {
	if len(a) == 0 || len(b) == 0 {
		return "-"
	}
	if of == nil {
		return fmt.Sprintf("%.2f", pairedRatio(a, b))
	}
	return fmt.Sprintf("%.2f", of(a)/of(b))
}

// pairedRatio is the median over rounds of a/b within each round: a
// noisy moment affects both runs of a round alike.
func pairedRatio(a, b []float64) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return median(r)
}

func floats(v []float64) string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = fmt.Sprintf("%.0f", x)
	}
	return strings.Join(out, " ")
}

func r(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }

func pct(s []time.Duration, p float64) time.Duration { return s[int(float64(len(s)-1)*p)] }

func post(c *http.Client, url string, b []byte) ([]byte, error) {
	resp, err := c.Post(url, "application/json", bytes.NewReader(b)) //nolint:noctx // bounded load tool
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	return io.ReadAll(resp.Body)
}

func closedLoop(url string, b []byte, workers int, d time.Duration) (float64, int64) {
	tr := &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	var n, errs atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := post(c, url, b); err != nil {
					errs.Add(1)
					continue
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds(), errs.Load()
}

func fixedRate(url string, b []byte, rate int, d time.Duration) *vegeta.Metrics {
	tg := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodPost, URL: url, Body: b,
		Header: http.Header{"Content-Type": []string{"application/json"}}})
	a := vegeta.NewAttacker(vegeta.Timeout(5*time.Second), vegeta.Workers(64), vegeta.MaxWorkers(512))
	var m vegeta.Metrics
	for res := range a.Attack(tg, vegeta.Rate{Freq: rate, Per: time.Second}, d, "fixed") {
		m.Add(res)
	}
	m.Close()
	return &m
}

func hanging(url string, rate, seconds int) ([]time.Duration, map[string]int) {
	n := rate * seconds
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	statuses := map[string]int{}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; i < n; i++ {
		<-tick.C
		ip := fmt.Sprintf("198.18.%d.%d", (i/250)%250, i%250+1) // a fresh address each call: never cached
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			b, err := post(http.DefaultClient, url, body(ip))
			took := time.Since(start)
			var resp struct {
				ActionStatus string `json:"actionStatus"`
			}
			status := "error"
			if err == nil && json.Unmarshal(b, &resp) == nil {
				status = resp.ActionStatus
			}
			mu.Lock()
			lat = append(lat, took)
			statuses[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return lat, statuses
}
