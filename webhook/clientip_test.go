// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package webhook_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/tokenguard/tokenguard/internal/action/actiontest"
	tu "github.com/tokenguard/tokenguard/internal/testutil"
)

// An address in the NAT64 well-known prefix is judged by the IPv4 it
// carries (a blocked region here), and the log names both addresses
// (issue 7, item 11).
func TestEmbeddedIPv4OverHTTP(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	e := newEnv(t, seedPolicies(t), envOptions{now: mustTime("2026-11-26T10:00:00Z")})
	e.handler.Log = funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, prefix+" "+args)
	}, funcr.Options{})
	req := tu.Request("64:ff9b::175.45.176.1")
	r := post(t, e.url, "application/json", tu.JSON(t, req))
	want := `{"actionStatus":"FAILED","failureReason":"access_denied","failureDescription":"Access token issuance is blocked from your region (KP)."}`
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("got %d %s\nwant 200 %s", r.status, r.body, want)
	}
	if _, err := actiontest.Apply(req, r.status, r.contentType, r.body); err != nil {
		t.Errorf("the platform would not accept it: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 1 {
		t.Fatalf("%d log lines: %v", len(lines), lines)
	}
	for _, s := range []string{`"ip"="175.45.176.1"`, `"sentIp"="64:ff9b::af2d:b001"`, `"country"="KP"`} {
		if !strings.Contains(lines[0], s) {
			t.Errorf("log line lacks %s:\n%s", s, lines[0])
		}
	}
}
