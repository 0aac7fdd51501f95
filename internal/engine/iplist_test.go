// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
	"github.com/tokenguard/tokenguard/internal/testutil"
)

// ipList is a list file of n distinct networks spread over the IPv4 space,
// as real block lists are (three addresses for each /24 network), none in
// 198.51.100.0/24, the benchmark's address.
func ipList(n int) string {
	var b strings.Builder
	b.WriteString("# a block list\n")
	for i := range n {
		a := uint32(i) * 2654435761
		if a>>8 == 198<<16|51<<8|100 {
			a ^= 1 << 30
		}
		if i%4 == 3 {
			fmt.Fprintf(&b, "%d.%d.%d.0/24\n", a>>24, a>>16&255, a>>8&255)
		} else {
			fmt.Fprintf(&b, "%d.%d.%d.%d\n", a>>24, a>>16&255, a>>8&255, a&255)
		}
	}
	return b.String()
}

// listPolicy is a policy blocking the list of n entries, compiled the way
// the controller and standalone mode compile it.
func listPolicy(tb testing.TB, n int) *policy.Policy {
	tb.Helper()
	lists := testutil.Lists{"abuse": ipList(n)}
	return testutil.PolicyWithLists(tb, "p", `{networks: {blockedCIDRs: [192.0.2.0/24], blockedLists: [abuse]}, token: {maxExpiresInSeconds: 900}}`, nil, lists)
}

// A 100,000-entry list is compiled into the policy's blocked set: an
// address in it is denied, one outside it is not.
func TestLargeListDecides(t *testing.T) {
	p := listPolicy(t, 100000)
	if p.Blocked.Len() != 100001 {
		t.Fatalf("%d networks", p.Blocked.Len())
	}
	eng := &engine.Engine{}
	snap := policy.NewSnapshot([]*policy.Policy{p})
	for ip, deny := range map[string]bool{"198.51.100.7": false, "192.0.2.1": true, "0.0.0.0": true, "158.55.121.177": true} {
		if d := eng.Decide(context.Background(), snap, call(ip, workHours)); d.Deny != deny {
			t.Errorf("%s: deny %v", ip, d.Deny)
		}
	}
}

// BenchmarkDecideIPList is the decision (no GeoIP, no AbuseIPDB) for a
// policy blocking an IP list of 10 entries and of 100,000, in one run: the
// list is a trie built when the policy is compiled, so both cost about the
// same.
func BenchmarkDecideIPList(b *testing.B) {
	eng := &engine.Engine{}
	for _, n := range []int{10, 100000} {
		snap := policy.NewSnapshot([]*policy.Policy{listPolicy(b, n)})
		for _, tc := range []struct {
			ip   string
			deny bool
		}{{"198.51.100.7", false}, {"192.0.2.1", true}} {
			c := call(tc.ip, workHours)
			b.Run(fmt.Sprintf("entries=%d,deny=%v", n, tc.deny), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if d := eng.Decide(context.Background(), snap, c); d.Deny != tc.deny {
						b.Fatalf("decision %+v", d)
					}
				}
			})
		}
	}
}
