// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package standalone_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/tokenguard/tokenguard/internal/abuseipdb"
	"github.com/tokenguard/tokenguard/internal/abuseipdb/abuseipdbtest"
	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/standalone"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// A rejected key is logged once, not once per call, and so are its
// acceptance and its rotation.
func TestKeyReporter(t *testing.T) {
	stand := abuseipdbtest.New(t, "good", abuseipdbtest.SeedScores)
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	c, err := abuseipdb.New(abuseipdb.Options{BaseURL: stand.URL(), Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	log := funcr.New(func(_, args string) { mu.Lock(); defer mu.Unlock(); lines = append(lines, args) }, funcr.Options{})
	store := policy.NewStore()
	uses := func(key string) {
		store.Replace([]*policy.Policy{{Key: "default/a", Abuse: &policy.Abuse{APIKey: policy.Secret(key)}}, {Key: "default/no-abuse"}})
	}
	uses("bad")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&standalone.KeyReporter{Keys: c, Store: store, Log: log}).Run(ctx, 10*time.Millisecond)
	}()
	defer func() { cancel(); <-done }()
	lookup := func(ip string) {
		_, _ = c.Score(context.Background(), engine.ScoreQuery{APIKey: "bad", IP: netip.MustParseAddr(ip), MaxAgeInDays: 30, TTL: time.Hour})
	}
	want := func(n int, last string) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, fmt.Sprintf("%d log lines, the last %q", n, last), func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(lines) != n || !strings.Contains(lines[n-1], last) || !strings.Contains(lines[n-1], `"policy"="default/a"`) {
				return fmt.Errorf("lines %q", lines)
			}
			return nil
		})
	}
	lookup("14.102.69.58")
	want(1, "abuseipdb rejected the policy's api key")
	// Calls during the pause, and another rejection after it, say nothing new.
	lookup("205.210.31.51")
	advance(5*time.Minute + time.Second)
	lookup("103.159.198.178")
	time.Sleep(50 * time.Millisecond)
	want(1, "abuseipdb rejected the policy's api key")
	if stand.Calls() != 2 {
		t.Errorf("upstream calls %d, want 2", stand.Calls())
	}
	// The key is reinstated.
	stand.SetKey("bad")
	advance(5*time.Minute + time.Second)
	lookup("175.45.176.0")
	want(2, "abuseipdb accepts the policy's api key again")
	// Rejected again, then rotated.
	stand.SetKey("good")
	lookup("2001:db8::1")
	want(3, "abuseipdb rejected the policy's api key")
	uses("good")
	want(4, "policy uses a new abuseipdb api key")
	mu.Lock()
	defer mu.Unlock()
	t.Log(lines[0])
	for _, l := range lines {
		if strings.Contains(l, `"bad"`) || strings.Contains(l, `"good"`) {
			t.Errorf("a log line carries the key: %s", l)
		}
	}
}
