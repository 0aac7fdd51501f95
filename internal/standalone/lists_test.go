// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tokenguard/tokenguard/internal/metrics"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
	"github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/internal/testutil/testclock"
)

// torServer serves Tor's exit-addresses format, or fails.
type torServer struct {
	*httptest.Server
	mu       sync.Mutex
	code     int
	body     string
	requests atomic.Int32
}

func newTorServer(t *testing.T, body string) *torServer {
	s := &torServer{code: http.StatusOK, body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		code, body := s.code, s.body
		s.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *torServer) set(code int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.code, s.body = code, body
}

func exitAddresses(ips ...string) string {
	var b strings.Builder
	for i, ip := range ips {
		fmt.Fprintf(&b, "ExitNode %040X\nPublished 2026-11-26 13:44:49\nLastStatus 2026-11-27 08:00:00\nExitAddress %s 2026-11-27 08:06:31\n", i, ip)
	}
	return b.String()
}

func blocked(store *policy.Store, key, ip string) bool {
	p, ok := store.Get(key)
	return ok && p.Blocked.Contains(netip.MustParseAddr(ip))
}

// IPList documents in standalone mode: entries, a list file beside the
// policies and a URL, merged into the policy that names them; the file
// reloads like a policy file (a bad line keeps the previous lists); the URL
// refreshes on its interval and keeps its last good list when it fails.
func TestStandaloneIPLists(t *testing.T) {
	dir := t.TempDir()
	tor := newTorServer(t, exitAddresses("185.220.101.1", "185.220.101.2"))
	pfile := filepath.Join(dir, "policies", "lists.yaml")
	write(t, pfile, `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: p}
spec:
  networks: {blockedLists: [tor-exits, local]}
`+listFile("tor-exits", `url: {url: "`+tor.URL+`/exit-addresses", refreshIntervalSeconds: 600}`)+
		listFile("local", "{entries: [198.51.100.7], file: ../lists/local.netset}"))
	lfile := filepath.Join(dir, "lists", "local.netset")
	write(t, lfile, "# local block list\n192.0.2.0/24\n")
	clk := testclock.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	store := policy.NewStore()
	l := &standalone.Loader{Paths: []string{filepath.Dir(pfile)}, Store: store, Log: logr.Discard(), Settle: 30 * time.Millisecond,
		Reloads: metrics.NewReloads(reg), IPLists: metrics.NewIPLists(reg), Now: clk.Now}
	if err := l.LoadSettled(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, ip := range []string{"185.220.101.2", "198.51.100.7", "192.0.2.77"} {
		if !blocked(store, "default/p", ip) {
			t.Errorf("%s not blocked", ip)
		}
	}
	if v := testutil.MetricValue(t, reg, "tokenguard_iplist_entries", "name", "tor-exits"); v != 2 {
		t.Errorf("tor-exits entries %v", v)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go l.Watch(ctx, 10*time.Millisecond)
	wait := func(what string, ok func() bool) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, what, func() error {
			if !ok() {
				return errors.New("not yet")
			}
			return nil
		})
	}

	// The list file changes: reloaded.
	write(t, lfile, "192.0.2.0/25\n203.0.113.9\n")
	wait("the list file reloaded", func() bool {
		return blocked(store, "default/p", "203.0.113.9") && !blocked(store, "default/p", "192.0.2.200")
	})
	// A bad line: the reload fails, the lists in force stay.
	write(t, lfile, "192.0.2.0/25\n203.0.113.9\nnot-an-address\n")
	waitFailing(t, reg, "the bad list file reported", metrics.SourcePolicyFiles, 1)
	if !blocked(store, "default/p", "203.0.113.9") {
		t.Error("the lists in force were dropped")
	}
	write(t, lfile, "203.0.113.9\n")
	waitFailing(t, reg, "the fixed list file loaded", metrics.SourcePolicyFiles, 0)

	// The URL: not fetched before its interval, then refreshed.
	tor.set(http.StatusOK, exitAddresses("185.220.101.3"))
	time.Sleep(50 * time.Millisecond)
	if got := tor.requests.Load(); got != 1 {
		t.Errorf("%d requests before the interval", got)
	}
	clk.Add(10 * time.Minute)
	wait("the Tor list refreshed", func() bool {
		return blocked(store, "default/p", "185.220.101.3") && !blocked(store, "default/p", "185.220.101.1")
	})
	// It fails: the last good list stays, and the metrics say so.
	tor.set(http.StatusBadGateway, "")
	clk.Add(10 * time.Minute)
	wait("the failure recorded", func() bool {
		return testutil.MetricValue(t, reg, "tokenguard_iplist_ready", "name", "tor-exits") == 0
	})
	if !blocked(store, "default/p", "185.220.101.3") {
		t.Error("the last good Tor list was dropped")
	}
	if v := testutil.MetricValue(t, reg, "tokenguard_iplist_load_failures_total", "reason", "FetchFailed"); v != 1 {
		t.Errorf("failures %v", v)
	}
}

// A URL that fails at start does not fail the start: the policy applies
// the missing-list rule until it loads. validate does not fetch.
func TestStandaloneListNeverLoaded(t *testing.T) {
	dir := t.TempDir()
	srv := newTorServer(t, "")
	srv.set(http.StatusServiceUnavailable, "")
	p := filepath.Join(dir, "p.yaml")
	write(t, p, `apiVersion: policy.tokenguard.io/v1alpha1
kind: TokenPolicy
metadata: {name: p}
spec:
  networks: {blockedLists: [firehol]}
`+listFile("firehol", `url: {url: "`+srv.URL+`/firehol_level1.netset"}`))
	store := policy.NewStore()
	var logs testutil.Logs
	l := &standalone.Loader{Paths: []string{p}, Store: store, Log: logs.Logger()}
	if err := l.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := store.Get("default/p"); got == nil || !got.BlockedListUnavailable {
		t.Errorf("policy %+v", got)
	}
	if logs.Count("blocked IPList firehol has never loaded (FetchFailed)") != 1 {
		t.Errorf("logs:\n%s", strings.Join(logs.Lines(), "\n"))
	}
	before := srv.requests.Load()
	v := &standalone.Loader{Paths: []string{p}, Store: policy.NewStore(), Log: logr.Discard(), NoFetch: true}
	if err := v.Load(t.Context()); err != nil || srv.requests.Load() != before {
		t.Errorf("validate: %v, %d requests", err, srv.requests.Load()-before)
	}
}

// What fails a standalone load: a list no file defines, a list defined
// twice, a bad entry or list file, and ConfigMaps (Kubernetes only).
func TestStandaloneListErrors(t *testing.T) {
	dir := t.TempDir()
	pol := func(lists string) string {
		return "apiVersion: policy.tokenguard.io/v1alpha1\nkind: TokenPolicy\nmetadata: {name: p}\nspec:\n  networks: {blockedLists: [" + lists + "]}\n"
	}
	write(t, filepath.Join(dir, "bad.txt"), "192.0.2.1\n192.0.2.0/33\n")
	for name, tc := range map[string]struct{ file, want string }{
		"undefined":  {pol("tor"), "policy default/p names IPList tor, which no policy file defines (in namespace default)"},
		"twice":      {pol("a") + listFile("a", "entries: [192.0.2.1]") + listFile("a", "entries: [192.0.2.2]"), "IPList default/a is defined twice"},
		"bad file":   {pol("a") + listFile("a", "file: bad.txt"), `IPList default/a: file ` + filepath.Join(dir, "bad.txt") + `: line 2: "192.0.2.0/33": not an address`},
		"no file":    {pol("a") + listFile("a", "file: missing.txt"), "IP list file: open " + filepath.Join(dir, "missing.txt")},
		"configMaps": {pol("a") + listFile("a", "configMaps: [{name: a, key: list}]"), "ConfigMaps are read only in Kubernetes; use file in standalone mode"},
		"bad range":  {pol("a") + listFile("a", "entries: [192.0.2.9-192.0.2.1]"), "a range must go from the lower address to the higher"},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".yaml")
			write(t, p, tc.file)
			l := &standalone.Loader{Paths: []string{p}, Store: policy.NewStore(), Log: logr.Discard()}
			if err := l.Load(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
