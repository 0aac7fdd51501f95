// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
	"github.com/tokenguard/tokenguard/webhook"
)

// Oversized headers, on a server set up as production is
// (webhook.ServerMaxHeaderBytes): from webhook.MaxHeaderBytes up to
// net/http's own limit the handler answers 400 with an ERROR body the
// platform reads. Only past net/http's limit (ServerMaxHeaderBytes plus its
// 4096 bytes of slack) does net/http answer 431 text/plain itself, before
// any handler runs; the platform cannot read that, and no handler can
// change it (issue 7, item 6).
func TestHeaderLimits(t *testing.T) {
	e := newEnv(t, seedPolicies(t), envOptions{now: mustTime("2026-11-26T10:00:00Z")})
	auth, err := webhook.NewAuthFromConfig(&webhook.AuthConfig{Type: webhook.AuthNone})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(webhook.NewMux(e.handler, auth))
	srv.Config.MaxHeaderBytes = webhook.ServerMaxHeaderBytes
	srv.Start()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	body := tu.JSON(t, tu.Request("175.45.176.0"))
	const (
		denied   = `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}`
		tooLarge = `{"actionStatus":"ERROR","errorMessage":"invalid_request","errorDescription":"The request headers are larger than 64 KiB."}`
	)
	cases := []struct {
		name    string
		padding int // bytes of one X-Padding header value
		status  int
		want    string
	}{
		{"under MaxHeaderBytes", webhook.MaxHeaderBytes - 1024, 200, denied},
		{"just over MaxHeaderBytes", webhook.MaxHeaderBytes, 400, tooLarge},
		{"at the server's limit", webhook.ServerMaxHeaderBytes, 400, tooLarge},
		{"past net/http's limit", webhook.ServerMaxHeaderBytes + 4096, 431, ""},
	}
	handled := func() float64 {
		var n float64
		for _, code := range []string{"200", "400", "500"} {
			n += testutil.ToFloat64(e.metrics.Requests.WithLabelValues(code))
		}
		return n
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := handled()
			status, ct, got := rawPost(t, addr, body, strings.Repeat("p", tc.padding))
			if status != tc.status || (tc.want != "" && (ct != "application/json" || got != tc.want)) {
				t.Fatalf("got %d %s %s\nwant %d %s", status, ct, got, tc.status, tc.want)
			}
			_, err := actiontest.Apply(tu.Request("175.45.176.0"), status, ct, []byte(got))
			if tc.status == http.StatusRequestHeaderFieldsTooLarge {
				// net/http's own answer: the handler never saw the request,
				// and the platform would report an unexpected answer.
				if ct != "text/plain; charset=utf-8" || handled() != before || err == nil {
					t.Errorf("want net/http's 431 text/plain, unseen by the handler and unreadable by the platform: %s, handled %v, %v", ct, handled()-before, err)
				}
				return
			}
			if err != nil {
				t.Errorf("the platform would not read the answer: %v", err)
			}
			if handled() != before+1 {
				t.Errorf("the handler did not answer")
			}
		})
	}
}

// rawPost sends a POST with one X-Padding header over its own connection,
// writing while it reads, so that an answer sent before the request is fully
// written (net/http's 431) is still read.
func rawPost(t *testing.T, addr string, body []byte, padding string) (status int, contentType, respBody string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	go func() {
		w := bufio.NewWriter(conn)
		_, _ = fmt.Fprintf(w, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Padding: %s\r\nConnection: close\r\n\r\n",
			webhook.Path, addr, len(body), padding)
		_, _ = w.Write(body)
		_ = w.Flush() // fails once net/http hangs up after its 431; the answer is read anyway
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), strings.TrimSpace(string(b))
}
