// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/action"
	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	"github.com/tokenguard/tokenguard/internal/policy"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

var seedSecrets = tu.Secrets{"abuseipdb/apiKey": apiKey}

func seedPolicies(t testing.TB) []*policy.Policy {
	return tu.SamplePolicies(t, "config/samples/asgardeo-use-case.yaml", seedSecrets)
}

func mustTime(s string) time.Time {
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return v
}

// The seed use case's four addresses, over HTTP, with exact answers, each
// checked by the platform model.
func TestSeedUseCaseOverHTTP(t *testing.T) {
	cases := []struct {
		ip, at string
		want   string
	}{
		{"175.45.176.0", "2026-11-26T10:00:00Z", `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}`},
		{"103.159.198.178", "2026-11-26T10:00:00Z", `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked due to high IP risk."}`},
		{"14.102.69.58", "2026-11-26T10:00:00Z", `{"actionStatus":"SUCCESS","operations":[{"op":"replace","path":"/accessToken/claims/expires_in","value":900},{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"IN"}}]}`},
		{"14.102.69.58", "2026-11-26T20:00:00Z", `{"actionStatus":"SUCCESS","operations":[{"op":"replace","path":"/accessToken/claims/expires_in","value":300},{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"IN"}}]}`},
		{"205.210.31.51", "2026-11-26T10:00:00Z", `{"actionStatus":"SUCCESS","operations":[{"op":"add","path":"/accessToken/claims/-","value":{"name":"country","value":"US"}}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.ip+"@"+tc.at, func(t *testing.T) {
			e := newEnv(t, seedPolicies(t), envOptions{now: mustTime(tc.at)})
			req := tu.Request(tc.ip)
			r := post(t, e.url, "application/json", tu.JSON(t, req))
			if r.status != 200 || r.contentType != "application/json" || strings.TrimSpace(string(r.body)) != tc.want {
				t.Fatalf("got %d %s %s\nwant 200 %s", r.status, r.contentType, r.body, tc.want)
			}
			if _, err := actiontest.Apply(req, r.status, r.contentType, r.body); err != nil {
				t.Errorf("the platform would not accept it: %v", err)
			}
		})
	}
}

// Bad input gets an answer the platform understands, with exact bodies: an
// ERROR body at 400, the only client error status the platform reads
// besides 401 (contract H2, H5), never 405, 413 or 415 (issue 7, item 6).
func TestBadInput(t *testing.T) {
	e := newEnv(t, seedPolicies(t), envOptions{})
	big := bytes.Repeat([]byte("a"), webhook.MaxRequestBytes+10)
	cases := map[string]struct {
		method, ct string
		body       []byte
		status     int
		want       string
	}{
		"malformed JSON": {http.MethodPost, "application/json", []byte(`{"actionType":`), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request body is not valid JSON (at byte 14)."}`},
		"wrong shape": {http.MethodPost, "application/json", []byte(`{"actionType":"PRE_ISSUE_ACCESS_TOKEN","event":{"request":{"scopes":"openid"}}}`), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request field event.request.scopes has the wrong type: expected []string."}`},
		"other action type": {http.MethodPost, "application/json", []byte(`{"actionType":"PRE_UPDATE_PASSWORD","event":{}}`), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"Unsupported action type: this endpoint serves PRE_ISSUE_ACCESS_TOKEN."}`},
		"no event": {http.MethodPost, "application/json", []byte(`{"actionType":"PRE_ISSUE_ACCESS_TOKEN"}`), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request has no event."}`},
		"empty body": {http.MethodPost, "application/json", nil, 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request body is empty."}`},
		"JSON null": {http.MethodPost, "application/json", []byte(`null`), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"Unsupported action type: this endpoint serves PRE_ISSUE_ACCESS_TOKEN."}`},
		"too large": {http.MethodPost, "application/json", big, 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request body is larger than 1 MiB."}`},
		"wrong content type": {http.MethodPost, "text/plain", []byte(`{}`), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request content type must be JSON."}`},
		"a content type with U+017F LATIN SMALL LETTER LONG S": {http.MethodPost, "application/j\u017fon", []byte(`{}`), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request content type must be JSON."}`},
		"wrong method": {http.MethodGet, "", nil, 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"Only POST is supported."}`},
		"wrong method with a body": {http.MethodPut, "application/json", tu.JSON(t, tu.Request("175.45.176.0")), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"Only POST is supported."}`},
		"headers over 64 KiB": {http.MethodPost, "application/json", tu.JSON(t, tu.Request("175.45.176.0")), 400,
			`{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request headers are larger than 64 KiB."}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.url, bytes.NewReader(tc.body))
			if tc.ct != "" {
				req.Header.Set("Content-Type", tc.ct)
			}
			if name == "headers over 64 KiB" {
				req.Header.Set("X-Padding", strings.Repeat("p", webhook.MaxHeaderBytes))
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || strings.TrimSpace(buf.String()) != tc.want {
				t.Fatalf("got %d %s %s\nwant %d %s", resp.StatusCode, resp.Header.Get("Content-Type"), buf.String(), tc.status, tc.want)
			}
			if _, err := actiontest.Apply(tu.Request(""), resp.StatusCode, resp.Header.Get("Content-Type"), buf.Bytes()); err != nil {
				t.Errorf("the platform would not read the ERROR answer: %v", err)
			}
			if allow := resp.Header.Get("Allow"); (tc.method != http.MethodPost) != (allow == http.MethodPost) {
				t.Errorf("Allow: %q", allow)
			}
		})
	}
	// The server still serves after all that.
	r := post(t, e.url, "application/json", tu.JSON(t, tu.Request("175.45.176.0")))
	if r.status != 200 {
		t.Fatalf("after bad input: %d %s", r.status, r.body)
	}
}

// Optional parts may be absent and unknown fields present (v1.0 to v1.3).
func TestTolerantDecoding(t *testing.T) {
	e := newEnv(t, seedPolicies(t), envOptions{now: mustTime("2026-11-26T10:00:00Z")})
	v13, err := os.ReadFile(filepath.Join("testdata", "request-v1.3.json"))
	if err != nil {
		t.Fatal(err)
	}
	cc := `{"actionType":"PRE_ISSUE_ACCESS_TOKEN","event":{"request":{"clientId":"c","grantType":"client_credentials",
		"additionalHeaders":{"X-Client-Source-IP":["205.210.31.51"]}},"tenant":{"id":"1","name":"t"},
		"accessToken":{"tokenType":"JWT","claims":[{"name":"sub","value":"c"}]},"somethingNew":{"x":1}},"allowedOperations":[{"op":"add","paths":["/accessToken/claims/"]}]}`
	for name, body := range map[string][]byte{"v1.3 with everything": v13, "client credentials, map headers, unknown fields": []byte(cc)} {
		t.Run(name, func(t *testing.T) {
			r := post(t, e.url, "application/json; charset=UTF-8", body)
			if r.status != 200 || !bytes.Contains(r.body, []byte(`"actionStatus":"SUCCESS"`)) {
				t.Fatalf("got %d %s", r.status, r.body)
			}
			var req action.Request
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			if _, err := actiontest.Apply(&req, r.status, r.contentType, r.body); err != nil {
				t.Errorf("platform model: %v", err)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	body := tu.JSON(t, tu.Request("205.210.31.51"))
	cases := map[string]struct {
		cfg  webhook.AuthConfig
		good []string
		bad  [][]string
	}{
		"API_KEY": {webhook.AuthConfig{Type: "API_KEY", Properties: map[string]string{"header": "x-api-key", "value": "s3cret"}},
			[]string{"X-Api-Key", "s3cret"}, [][]string{{"X-Api-Key", "wrong"}, {"X-Other", "s3cret"}, nil}},
		"BASIC": {webhook.AuthConfig{Type: "BASIC", Properties: map[string]string{"username": "asgardeo", "password": "pw"}},
			[]string{"Authorization", "Basic YXNnYXJkZW86cHc="}, [][]string{{"Authorization", "Basic YXNnYXJkZW86eA=="}, {"Authorization", "Bearer pw"}, nil}},
		"BEARER": {webhook.AuthConfig{Type: "BEARER", Properties: map[string]string{"accessToken": "tok"}},
			[]string{"Authorization", "Bearer tok"}, [][]string{{"Authorization", "Bearer tok2"}, {"Authorization", "tok"}, nil}},
		// The scheme is matched by ASCII case only (RFC 9110 11.1).
		"BEARER, scheme in other case": {webhook.AuthConfig{Type: "BEARER", Properties: map[string]string{"accessToken": "tok"}},
			[]string{"Authorization", "bEARER tok"}, [][]string{{"Authorization", "Bearer\ttok"}, {"Authorization", "Bearertok "}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := tc.cfg
			e := newEnv(t, seedPolicies(t), envOptions{auth: &cfg})
			if r := post(t, e.url, "application/json", body, tc.good...); r.status != 200 {
				t.Errorf("good credentials: %d %s", r.status, r.body)
			}
			for _, h := range tc.bad {
				r := post(t, e.url, "application/json", body, h...)
				want := `{"actionStatus":"ERROR","errorMessage":"unauthorized","errorDescription":"The request did not carry valid credentials for the token policy service."}`
				if r.status != 401 || string(r.body) != want {
					t.Errorf("credentials %v: got %d %s", h, r.status, r.body)
				}
				if _, err := actiontest.Apply(tu.Request(""), r.status, r.contentType, r.body); err != nil {
					t.Errorf("platform model: %v", err)
				}
			}
		})
	}
}

func TestAuthConfigFiles(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		content string
		err     string
	}{
		"api-key.yaml": {"type: API_KEY\nproperties:\n  header: x-api-key\n  value: s3cret\n", ""},
		"basic.json":   {`{"type":"BASIC","properties":{"username":"u","password":"p"}}`, ""},
		"none.yaml":    {"type: NONE\n", ""},
		"missing.yaml": {"type: BEARER\n", "type BEARER needs properties accessToken"},
		"bad-header":   {"type: API_KEY\nproperties: {header: 'x key', value: v}\n", "API_KEY header must match"},
		"unknown.yaml": {"type: OAUTH\n", `type "OAUTH" is not one of NONE, BASIC, BEARER, API_KEY`},
		"typo.yaml":    {"type: NONE\nproprties: {}\n", "unknown field"},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := webhook.LoadAuthConfig(p)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: err %v, want %q", name, err, tc.err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error leaks the secret: %v", name, err)
		}
	}
}

// A rotated auth file takes effect without a restart.
func TestAuthReload(t *testing.T) {
	p := filepath.Join(t.TempDir(), "auth.yaml")
	write := func(v string) {
		if err := os.WriteFile(p, []byte("type: BEARER\nproperties: {accessToken: "+v+"}\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("one")
	a, _, err := webhook.NewAuth(p)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(200) })
	h := a.Wrap(ok)
	try := func(tok string) int {
		req, _ := http.NewRequest(http.MethodPost, "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if try("one") != 200 {
		t.Fatal("first token refused")
	}
	ctx := t.Context()
	go a.Watch(ctx, 20*time.Millisecond, logr.Discard())
	time.Sleep(30 * time.Millisecond)
	write("two")
	_ = os.Chtimes(p, time.Now().Add(time.Second), time.Now().Add(time.Second))
	deadline := time.Now().Add(3 * time.Second)
	for try("two") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("rotated token not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if try("one") != 401 {
		t.Error("old token still accepted")
	}
}

// 100 concurrent calls for one uncached address make one upstream request.
func TestConcurrentCallsCoalesce(t *testing.T) {
	e := newEnv(t, seedPolicies(t), envOptions{now: mustTime("2026-11-26T10:00:00Z")})
	e.fake.SetDelay(100 * time.Millisecond)
	body := tu.JSON(t, tu.Request("14.102.69.58"))
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := post(t, e.url, "application/json", body)
			if r.status != 200 || !bytes.Contains(r.body, []byte(`"value":900`)) {
				errs <- fmt.Sprintf("%d %s", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := e.fake.Calls(); n != 1 {
		t.Errorf("upstream calls = %d, want 1", n)
	}
	if hits := testutil.ToFloat64(e.metrics.AbuseIPDBRequests.WithLabelValues("ok")); hits != 1 {
		t.Errorf("upstream ok metric = %v", hits)
	}
}

// With AbuseIPDB hanging, every answer comes within the budget and follows
// the policy's failure mode (Deny for the seed policy).
func TestHangingAbuseIPDB(t *testing.T) {
	budget := 300 * time.Millisecond
	e := newEnv(t, seedPolicies(t), envOptions{budget: budget})
	e.fake.SetMode(abuseipdbtest.Hang)
	for _, ip := range []string{"205.210.31.51", "14.102.69.58"} {
		start := time.Now()
		r := post(t, e.url, "application/json", tu.JSON(t, tu.Request(ip)))
		took := time.Since(start)
		want := `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked because the IP risk check is unavailable."}`
		if r.status != 200 || string(r.body) != want {
			t.Errorf("%s: got %d %s", ip, r.status, r.body)
		}
		// The 50 ms margin is measured by make load (docs/performance.md);
		// here, loosely, the budget and not AbuseIPDB decides when we answer.
		if took > budget+500*time.Millisecond {
			t.Errorf("%s: answered in %s, budget %s", ip, took, budget)
		}
	}
}

func TestMetricsCountDecisions(t *testing.T) {
	e := newEnv(t, seedPolicies(t), envOptions{})
	post(t, e.url, "application/json", tu.JSON(t, tu.Request("175.45.176.0")))
	post(t, e.url, "application/json", []byte("{"))
	if v := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("deny", "default/asgardeo-use-case", "blocked_country")); v != 1 {
		t.Errorf("deny decisions = %v", v)
	}
	if v := testutil.ToFloat64(e.metrics.Requests.WithLabelValues("400")); v != 1 {
		t.Errorf("400 requests = %v", v)
	}
	if n := testutil.CollectAndCount(e.metrics.RequestDuration); n != 1 {
		t.Errorf("duration histogram series = %d", n)
	}
}

// The decision log line carries the explanation and never an API key, even
// when AbuseIPDB rejects the key.
func TestDecisionLogCarriesNoSecrets(t *testing.T) {
	const key = "k3y-that-must-not-leak"
	var mu sync.Mutex
	var lines []string
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{})
	ps := tu.SamplePolicies(t, "config/samples/asgardeo-use-case.yaml", tu.Secrets{"abuseipdb/apiKey": key})
	e := newEnv(t, ps, envOptions{})
	e.handler.Log = log
	post(t, e.url, "application/json", tu.JSON(t, tu.Request("205.210.31.51")))
	p, _ := e.store.Get("default/asgardeo-use-case")
	log.Info("policy", "policy", p, "abuse", *p.Abuse)
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 {
		t.Fatalf("%d log lines: %v", len(lines), lines)
	}
	l := lines[0]
	for _, want := range []string{`"requestId"="6783a180f817075313ea3fb01d79c221"`, `"outcome"="deny"`, `"cause"="reputation_unavailable"`,
		`"country"="US"`, `"scoreSource"="error"`, `"abuseipdbError"="abuseipdb unauthorized (HTTP 401)`, `"took"=`} {
		if !strings.Contains(l, want) {
			t.Errorf("log line lacks %s:\n%s", want, l)
		}
	}
	if strings.Contains(l, key) {
		t.Errorf("log line leaks the API key:\n%s", l)
	}
	if strings.Contains(lines[1], key) || !strings.Contains(lines[1], "[redacted]") {
		t.Errorf("a logged policy leaks the API key:\n%s", lines[1])
	}
}
