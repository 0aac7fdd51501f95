// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package iplist_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/iplist"
	"github.com/tokenguard/tokenguard/internal/testutil/testclock"
)

// listServer is a list server on loopback whose answer a test changes:
// the body it serves (with an ETag, answering 304 to it), or a failure.
type listServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    string
	mode    string // "", "404", "hang", "chunked"
	fetches atomic.Int32
	// notModified counts 304 answers.
	notModified atomic.Int32
}

func newListServer(t *testing.T, body string) *listServer {
	s := &listServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *listServer) set(mode, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode, s.body = mode, body
}

func (s *listServer) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	mode, body := s.mode, s.body
	s.mu.Unlock()
	switch mode {
	case "404":
		http.NotFound(w, r)
		return
	case "hang":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	case "slow-body":
		// Headers at once, then the body stalls.
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("192.0.2.1\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		return
	}
	etag := strconv.Quote(fmt.Sprintf("%x", len(body)) + "-" + strconv.Itoa(int(hash(body))))
	if r.Header.Get("If-None-Match") == etag {
		s.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "text/plain")
	if mode == "chunked" {
		// No Content-Length: the limit must hold while reading.
		w.WriteHeader(http.StatusOK)
		for _, line := range strings.SplitAfter(body, "\n") {
			_, _ = w.Write([]byte(line))
			w.(http.Flusher).Flush()
		}
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write([]byte(body))
}

func hash(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func contains(t *testing.T, l *iplist.List, ip string) bool {
	t.Helper()
	c := l.Content()
	return c != nil && c.Set.Contains(netip.MustParseAddr(ip))
}

const torBulk = "185.220.101.1\n185.220.101.2\n199.249.230.64\n2a0b:f4c2::11\n"

// A FireHOL netset and the Tor bulk exit list, fetched from real servers
// on loopback, load and are refreshed on time; an unchanged list answers
// 304 and is not parsed again.
func TestURLSources(t *testing.T) {
	firehol := newListServer(t, fireHOL(3))
	tor := newListServer(t, torBulk)
	clk := testclock.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	env := iplist.Env{Now: clk.Now}
	ctx := context.Background()

	var fl, tl iplist.List
	res := fl.Load(ctx, iplist.Spec{URL: &iplist.URLSource{URL: firehol.URL + "/firehol_level1.netset", Refresh: time.Hour}}, env)
	if !res.Ready || !res.Changed || res.Reason != iplist.ReasonLoaded || fl.Content().Entries != 4 || res.RefreshIn != time.Hour {
		t.Fatalf("FireHOL: %+v, content %+v", res, fl.Content())
	}
	if !contains(t, &fl, "10.0.2.77") || contains(t, &fl, "10.0.3.1") {
		t.Error("FireHOL content")
	}
	if !strings.Contains(res.Message, "4 entries loaded from "+firehol.URL) {
		t.Errorf("message %q", res.Message)
	}
	res = tl.Load(ctx, iplist.Spec{URL: &iplist.URLSource{URL: tor.URL + "/torbulkexitlist", Refresh: 40 * time.Minute}}, env)
	if !res.Ready || tl.Content().Entries != 4 || !contains(t, &tl, "2a0b:f4c2::11") {
		t.Fatalf("Tor: %+v", res)
	}

	// A cloud provider's JSON ranges, as published.
	aws := newListServer(t, awsRanges)
	var al iplist.List
	res = al.Load(ctx, iplist.Spec{URL: &iplist.URLSource{URL: aws.URL + "/ip-ranges.json", Refresh: time.Hour}}, env)
	if !res.Ready || al.Content().Entries != 3 || !contains(t, &al, "13.34.37.70") || !contains(t, &al, "2600:1f14:fff:f8ff::1") {
		t.Fatalf("AWS ip-ranges.json: %+v", res)
	}

	// Not due: no request.
	clk.Add(30 * time.Minute)
	res = tl.Load(ctx, iplist.Spec{URL: &iplist.URLSource{URL: tor.URL + "/torbulkexitlist", Refresh: 40 * time.Minute}}, env)
	if tor.fetches.Load() != 1 || res.Changed || !res.Ready || res.RefreshIn != 10*time.Minute {
		t.Errorf("before due: %d fetches, %+v", tor.fetches.Load(), res)
	}
	// Due and unchanged: a conditional request, 304, same content.
	clk.Add(10 * time.Minute)
	before := tl.Content()
	res = tl.Load(ctx, iplist.Spec{URL: &iplist.URLSource{URL: tor.URL + "/torbulkexitlist", Refresh: 40 * time.Minute}}, env)
	if tor.fetches.Load() != 2 || tor.notModified.Load() != 1 || res.Changed || tl.Content() != before || !res.LastSuccess.Equal(clk.Now()) {
		t.Errorf("unchanged: %d fetches, %d not modified, %+v", tor.fetches.Load(), tor.notModified.Load(), res)
	}
	// Due and changed.
	tor.set("", torBulk+"204.8.96.1\n")
	clk.Add(40 * time.Minute)
	res = tl.Load(ctx, iplist.Spec{URL: &iplist.URLSource{URL: tor.URL + "/torbulkexitlist", Refresh: 40 * time.Minute}}, env)
	if !res.Changed || tl.Content().Entries != 5 || !contains(t, &tl, "204.8.96.1") {
		t.Errorf("changed: %+v", res)
	}
}

// Every kind of failure keeps the last good list, says why and since when,
// and backs off; the next good answer is served again.
func TestURLFailuresKeepLastGood(t *testing.T) {
	srv := newListServer(t, fireHOL(3))
	clk := testclock.New(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	env := iplist.Env{Now: clk.Now}
	// A fetch may take 5 s, except for the cases that test the timeout: a
	// slow machine must not turn a 404 into a timeout.
	spec := iplist.Spec{URL: &iplist.URLSource{URL: srv.URL + "/list", Refresh: time.Hour, MaxBytes: 2048, Timeout: 5 * time.Second}}
	timingOut := iplist.Spec{URL: &iplist.URLSource{URL: srv.URL + "/list", Refresh: time.Hour, MaxBytes: 2048, Timeout: 300 * time.Millisecond}}
	var l iplist.List
	ctx := context.Background()
	if res := l.Load(ctx, spec, env); !res.Ready {
		t.Fatal(res.Message)
	}
	good := l.Content()
	firstFailure := clk.Now().Add(time.Hour)

	big := largeList(200) // about 3 KB, over 2048 bytes
	next := time.Hour
	for i, tc := range []struct {
		mode, body, reason, message string
	}{
		{"404", "", iplist.ReasonFetchFailed, "HTTP 404 Not Found"},
		{"hang", "", iplist.ReasonFetchFailed, "no complete answer within 300ms"},
		{"slow-body", "", iplist.ReasonFetchFailed, "no complete answer within 300ms"},
		{"", "<html><body>Service Unavailable</body></html>\n", iplist.ReasonInvalidEntries, `line 1: "<html><body>Service Unavailable</body></html>": one address, network or range per line`},
		{"", "192.0.2.1\n192.0.2.999\n", iplist.ReasonInvalidEntries, `line 2: "192.0.2.999": not an address, network or range`},
		{"", big, iplist.ReasonTooLarge, "the answer announces"},
		{"chunked", big, iplist.ReasonTooLarge, "URL " + srv.URL + "/list: larger than the limit of 2048 bytes"},
		{"", "# nothing today\n", iplist.ReasonFetchFailed, "the answer holds no entries"},
		{"", awsRanges[:300], iplist.ReasonInvalidEntries, "not a whole JSON document: unexpected EOF"},
		{"", `{"prefixes": []}`, iplist.ReasonInvalidEntries, "no address, network or range in the JSON document"},
		{"", `{"prefixes": ["192.0.2.0/24", "10.0.0.300"]}`, iplist.ReasonInvalidEntries, `"10.0.0.300": not an address, network or range`},
	} {
		srv.set(tc.mode, tc.body)
		clk.Add(next)
		fetches := srv.fetches.Load()
		sp := spec
		if tc.mode == "hang" || tc.mode == "slow-body" {
			sp = timingOut
		}
		res := l.Load(ctx, sp, env)
		if srv.fetches.Load() != fetches+1 {
			t.Errorf("%s %s: not fetched", tc.mode, tc.reason)
		}
		if res.Ready || res.Reason != tc.reason || !strings.Contains(res.Message, tc.message) || res.Changed || l.Content() != good {
			t.Errorf("%s: %+v", tc.message, res)
		}
		want := fmt.Sprintf("(failing since %s); serving the previous content: 4 entries loaded at 2026-11-27T10:00:00Z", firstFailure.Format(time.RFC3339))
		if !strings.Contains(res.Message, want) || !res.FailingSince.Equal(firstFailure) {
			t.Errorf("message %q, want it to contain %q", res.Message, want)
		}
		// The retry waits RetryMin, doubling after each failure.
		if wantRetry := min(time.Hour, iplist.RetryMin<<i); res.RefreshIn != wantRetry {
			t.Errorf("retry in %s, want %s", res.RefreshIn, wantRetry)
		}
		next = res.RefreshIn
		if !contains(t, &l, "10.0.1.1") {
			t.Error("last good list not served")
		}
	}
	// Back: served, Ready, refreshed on the interval again.
	srv.set("", torBulk)
	clk.Add(time.Hour)
	res := l.Load(ctx, spec, env)
	if !res.Ready || !res.Changed || !contains(t, &l, "185.220.101.1") || contains(t, &l, "10.0.1.1") || res.RefreshIn != time.Hour {
		t.Errorf("recovered: %+v", res)
	}
}

// A list whose first fetch fails serves nothing and says so.
func TestURLNeverLoaded(t *testing.T) {
	srv := newListServer(t, "")
	srv.set("404", "")
	var l iplist.List
	res := l.Load(context.Background(), iplist.Spec{URL: &iplist.URLSource{URL: srv.URL}}, iplist.Env{})
	if res.Ready || l.Content() != nil || !strings.Contains(res.Message, "never loaded: policies that reference the list apply the missing-list rule") {
		t.Errorf("%+v", res)
	}
	if st, attempted := l.Status(); !attempted || st.Reason != iplist.ReasonFetchFailed {
		t.Errorf("status %+v, attempted %v", st, attempted)
	}
	// A password in the URL never shows.
	res = l.Load(context.Background(), iplist.Spec{URL: &iplist.URLSource{URL: "http://user:secret@127.0.0.1:1/list"}}, iplist.Env{})
	if strings.Contains(res.Message, "secret") {
		t.Errorf("message shows the password: %s", res.Message)
	}
}

// fakeConfigMaps is a ConfigMapReader over maps, counting reads.
type fakeConfigMaps struct {
	data    map[string]map[string]string
	version map[string]string
	reads   int
}

func (f *fakeConfigMaps) Version(_ context.Context, name string) (string, error) {
	if _, ok := f.data[name]; !ok {
		return "", iplist.NotFound("the ConfigMap does not exist")
	}
	return f.version[name], nil
}

func (f *fakeConfigMaps) Value(_ context.Context, name, key string) ([]byte, error) {
	f.reads++
	v, ok := f.data[name][key]
	if !ok {
		return nil, iplist.NotFound("the ConfigMap has no such key")
	}
	return []byte(v), nil
}

// Inline entries and several ConfigMaps are united; a ConfigMap is read
// again only when its version changed; a missing ConfigMap or a bad line
// keeps the last good content.
func TestEntriesAndConfigMaps(t *testing.T) {
	cms := &fakeConfigMaps{
		data:    map[string]map[string]string{"part-1": {"list": "192.0.2.0/25\n"}, "part-2": {"list": "# more\n198.51.100.1\n"}},
		version: map[string]string{"part-1": "1", "part-2": "1"},
	}
	env := iplist.Env{ConfigMaps: cms}
	spec := iplist.Spec{Entries: []string{"203.0.113.7", "10.0.0.0-10.0.0.3"},
		ConfigMaps: []iplist.ConfigMapRef{{Name: "part-1", Key: "list"}, {Name: "part-2", Key: "list"}}}
	var l iplist.List
	ctx := context.Background()
	res := l.Load(ctx, spec, env)
	if !res.Ready || l.Content().Entries != 4 || !contains(t, &l, "192.0.2.100") || !contains(t, &l, "10.0.0.3") || cms.reads != 2 {
		t.Fatalf("%+v, %d reads", res, cms.reads)
	}
	if res.Message != "4 entries loaded from 2 inline entries, 2 ConfigMap keys" {
		t.Errorf("message %q", res.Message)
	}
	// Nothing changed: nothing read, nothing rebuilt.
	before := l.Content()
	if res := l.Load(ctx, spec, env); res.Changed || l.Content() != before || cms.reads != 2 {
		t.Errorf("unchanged: %+v, %d reads", res, cms.reads)
	}
	// A bad line in one: InvalidEntries, the previous content served.
	cms.data["part-2"]["list"], cms.version["part-2"] = "198.51.100.1\nnot-an-address\n", "2"
	res = l.Load(ctx, spec, env)
	if res.Ready || res.Reason != iplist.ReasonInvalidEntries || l.Content() != before ||
		!strings.Contains(res.Message, `ConfigMap part-2 key "list": line 2: "not-an-address"`) {
		t.Errorf("bad line: %+v", res)
	}
	// Deleted: ConfigMapNotFound, still the previous content.
	delete(cms.data, "part-1")
	res = l.Load(ctx, spec, env)
	if res.Ready || res.Reason != iplist.ReasonConfigMapNotFound || l.Content() != before ||
		!strings.Contains(res.Message, `ConfigMap part-1 key "list": the ConfigMap does not exist; ConfigMap part-2`) || !strings.Contains(res.Message, "serving the previous content") {
		t.Errorf("missing: %+v", res)
	}
	// Fixed, and the spec drops part-1: the new union.
	cms.data["part-2"]["list"], cms.version["part-2"] = "198.51.100.2\n", "3"
	spec.ConfigMaps = spec.ConfigMaps[1:]
	res = l.Load(ctx, spec, env)
	if !res.Ready || !res.Changed || contains(t, &l, "192.0.2.1") || !contains(t, &l, "198.51.100.2") || contains(t, &l, "198.51.100.1") {
		t.Errorf("fixed: %+v", res)
	}
	// Bad inline entries (the schema refuses them; never served).
	var bad iplist.List
	res = bad.Load(ctx, iplist.Spec{Entries: []string{"192.0.2.1", "nope"}}, env)
	if res.Ready || res.Reason != iplist.ReasonInvalidEntries || bad.Content() != nil || !strings.Contains(res.Message, `entries: entry 1: "nope"`) {
		t.Errorf("bad entry: %+v", res)
	}
}

// A source that has never loaded holds the whole list back: a new source
// added to a loaded list leaves the previous content in force until it
// loads too.
func TestNewSourceWaits(t *testing.T) {
	srv := newListServer(t, "")
	srv.set("404", "")
	var l iplist.List
	ctx := context.Background()
	l.Load(ctx, iplist.Spec{Entries: []string{"192.0.2.1"}}, iplist.Env{})
	before := l.Content()
	res := l.Load(ctx, iplist.Spec{Entries: []string{"192.0.2.1"}, URL: &iplist.URLSource{URL: srv.URL}}, iplist.Env{})
	if res.Ready || l.Content() != before {
		t.Errorf("%+v", res)
	}
	srv.set("", "198.51.100.1\n")
	clk := testclock.New(time.Now().Add(time.Hour))
	res = l.Load(ctx, iplist.Spec{Entries: []string{"192.0.2.1"}, URL: &iplist.URLSource{URL: srv.URL}}, iplist.Env{Now: clk.Now})
	if !res.Ready || l.Content().Entries != 2 {
		t.Errorf("%+v", res)
	}
}

// File sources: refused where files are not read (Kubernetes), read
// through Env.ReadFile in standalone mode.
func TestFileSource(t *testing.T) {
	var l iplist.List
	res := l.Load(context.Background(), iplist.Spec{File: "/etc/tokenguard/tor.txt"}, iplist.Env{})
	if res.Ready || res.Reason != iplist.ReasonFileNotSupported || l.Content() != nil {
		t.Errorf("%+v", res)
	}
	res = l.Load(context.Background(), iplist.Spec{File: "/lists/tor.txt"}, iplist.Env{ReadFile: func(p string) ([]byte, error) {
		return []byte(torBulk), nil
	}})
	if !res.Ready || l.Content().Entries != 4 {
		t.Errorf("%+v", res)
	}
}

// A list fetched over HTTPS is never replaced by one served over plain HTTP
// through a redirect.
func TestURLRedirectDowngradeRefused(t *testing.T) {
	plain := newListServer(t, "198.51.100.0/24\n")
	tlsSrv := httptest.NewTLSServer(http.RedirectHandler(plain.URL, http.StatusFound))
	t.Cleanup(tlsSrv.Close)
	var l iplist.List
	res := l.Load(context.Background(), iplist.Spec{URL: &iplist.URLSource{URL: tlsSrv.URL}}, iplist.Env{HTTP: tlsSrv.Client()})
	if res.Ready || l.Content() != nil || !strings.Contains(res.Message, "refusing a redirect from https") {
		t.Fatalf("a downgrading redirect was followed: %+v", res)
	}
}
