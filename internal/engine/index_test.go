// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tokenguard/tokenguard/internal/engine"
	"github.com/tokenguard/tokenguard/internal/policy"
)

var (
	tenants = []string{"t0", "t1", "t2", "t3"}
	clients = []string{"c0", "c1", "c2", "c3", "c4", "c5"}
	grants  = []string{"authorization_code", "refresh_token", "client_credentials"}
)

// pick returns nil (any value) a third of the time, else one to three of
// vs, repeats possible.
func pick(r *rand.Rand, vs []string) []string {
	if r.IntN(3) == 0 {
		return nil
	}
	out := make([]string, 1+r.IntN(3))
	for i := range out {
		out[i] = vs[r.IntN(len(vs))]
	}
	return out
}

// randomPolicy is a policy whose outcome depends on the order it is
// evaluated in: it may deny (first Enforce deny wins), shorten, set claims
// others set too (first wins), flag risk, hold only for some users.
func randomPolicy(r *rand.Rand, i int) *policy.Policy {
	p := &policy.Policy{
		Key:         fmt.Sprintf("ns/p%03d", i),
		IPHeader:    "x-client-source-ip",
		OnMissingIP: policy.Allow,
		Match:       policy.Match{Tenants: pick(r, tenants), ClientIDs: pick(r, clients), GrantTypes: pick(r, grants)},
	}
	if r.IntN(4) == 0 {
		p.Mode = policy.Audit
	}
	if r.IntN(4) == 0 {
		p.Match.When = &policy.Conditions{Aut: []string{[]string{"APPLICATION", "APPLICATION_USER"}[r.IntN(2)]}}
	}
	if r.IntN(3) == 0 {
		p.Blocked = policy.NewNetSet(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(r.IntN(4))}), 16))
	}
	if r.IntN(3) == 0 {
		p.Trusted = policy.NewNetSet(netip.MustParsePrefix("10.3.0.0/16"))
	}
	if r.IntN(3) == 0 {
		p.UserRules = []policy.UserRule{{Name: "u" + strconv.Itoa(i), When: policy.Conditions{Aut: []string{"APPLICATION_USER"}},
			Action: policy.Shorten, ExpiresIn: int64(100 + r.IntN(500))}}
	}
	p.Token.MaxExpiresIn = int64(r.IntN(3) * 600)
	p.Token.Claims = []policy.Claim{{Name: "c" + strconv.Itoa(r.IntN(3)), Value: json.RawMessage(strconv.Itoa(i))}}
	if r.IntN(2) == 0 {
		p.Token.AddScopes = []string{"s" + strconv.Itoa(r.IntN(3))}
	}
	if r.IntN(5) == 0 {
		p.Token.RiskClaim = "risk" + strconv.Itoa(r.IntN(2))
	}
	p.FailureReason = "reason " + p.Key
	return p
}

func randomCall(r *rand.Rand) *engine.Call {
	one := func(vs []string) string {
		if r.IntN(8) == 0 {
			return "other"
		}
		return vs[r.IntN(len(vs))]
	}
	c := &engine.Call{Tenant: one(tenants), ClientID: one(clients), GrantType: one(grants), Now: time.Unix(1_790_000_000, 0)}
	c.Claims = []engine.Claim{{Name: "aut", Value: json.RawMessage(`"` + []string{"APPLICATION", "APPLICATION_USER"}[r.IntN(2)] + `"`)}}
	if r.IntN(6) > 0 {
		ip := netip.AddrFrom4([4]byte{10, byte(r.IntN(6)), 1, 1})
		c.Headers = []engine.Header{{Name: "x-client-source-ip", Value: []string{ip.String()}}}
	}
	return c
}

// The index changes which policies a call visits, never the decision: a
// randomized set of policies and calls decides the same with the index
// (NewSnapshot) as with a scan of every policy in key order (a Snapshot
// made without NewSnapshot has no index).
func TestIndexDecidesAsLinearScan(t *testing.T) {
	eng := &engine.Engine{}
	ctx := context.Background()
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 11))
		ps := make([]*policy.Policy, 1+r.IntN(60))
		for i := range ps {
			ps[i] = randomPolicy(r, i)
		}
		r.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
		indexed := policy.NewSnapshot(ps)
		linear := &policy.Snapshot{Policies: indexed.Policies}
		visits := 0
		for range 300 {
			c := randomCall(r)
			got, want := eng.Decide(ctx, indexed, c), eng.Decide(ctx, linear, c)
			got.Took, want.Took = 0, 0
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, call %+v:\nindexed %+v\nlinear  %+v", seed, c, got, want)
			}
			visits += len(got.Policies)
			// Select yields what Matches selects, in snapshot order.
			var sel, ref []*policy.Policy
			s := indexed.Select(c.Tenant, c.ClientID, c.GrantType)
			for p := s.Next(); p != nil; p = s.Next() {
				sel = append(sel, p)
			}
			for _, p := range indexed.Policies {
				if p.Match.Matches(c.Tenant, c.ClientID, c.GrantType) {
					ref = append(ref, p)
				}
			}
			if !slices.Equal(sel, ref) {
				t.Fatalf("seed %d: Select(%q, %q, %q) = %d policies, want %d", seed, c.Tenant, c.ClientID, c.GrantType, len(sel), len(ref))
			}
		}
		if visits == 0 {
			t.Fatalf("seed %d: no policy ever matched", seed)
		}
	}
}

// manyPolicies returns n policies, each for its own client id, of which
// the first and the last (for client "app") match the benchmark call; the
// others are in between them in key order. cidrs blocked networks (one of
// them IPv6) go to the first policy.
func manyPolicies(n, cidrs int) []*policy.Policy {
	ps := make([]*policy.Policy, n)
	for i := range ps {
		ps[i] = &policy.Policy{
			Key: fmt.Sprintf("ns/p%04d", i), IPHeader: "x-client-source-ip", OnMissingIP: policy.Deny,
			Match: policy.Match{Tenants: []string{"testwso2"}, ClientIDs: []string{"client-" + strconv.Itoa(i)}},
			Token: policy.TokenChanges{MaxExpiresIn: 900},
		}
	}
	ps[0].Match.ClientIDs = []string{"app"}
	ps[n-1].Match.ClientIDs = []string{"app", "other"}
	if cidrs > 0 {
		r := rand.New(rand.NewPCG(3, 4))
		var b policy.NetSetBuilder
		b.Add(netip.MustParsePrefix("2001:db8::/32"))
		for range cidrs - 1 {
			var a [4]byte
			for i := range a {
				a[i] = byte(r.Uint32())
			}
			if a[0] == 198 { // keep the benchmark's address out
				a[0] = 199
			}
			b.Add(netip.PrefixFrom(netip.AddrFrom4(a), 20+r.IntN(13)))
		}
		ps[0].Blocked = b.Build()
	}
	return ps
}

// BenchmarkDecideIndex is the decision alone (no GeoIP, no AbuseIPDB) with
// 1 policy, the two policies that match, and 1,000 policies of which those
// two match, each with 10 and with 100,000 blocked networks: 1,000 should
// cost about what two cost, 100,000 networks what 10 cost
// (docs/performance.md). linear is 1,000 policies without the index.
func BenchmarkDecideIndex(b *testing.B) {
	eng := &engine.Engine{}
	c := call("198.51.100.7", workHours)
	type bench struct {
		name string
		snap *policy.Snapshot
	}
	var cases []bench
	for _, cidrs := range []int{10, 100000} {
		for _, n := range []int{1, 2, 1000} {
			name := fmt.Sprintf("policies=%d,cidrs=%d", n, cidrs)
			cases = append(cases, bench{name, policy.NewSnapshot(manyPolicies(n, cidrs))})
		}
	}
	cases = append(cases, bench{"policies=1000,cidrs=10,linear", &policy.Snapshot{Policies: policy.NewSnapshot(manyPolicies(1000, 10)).Policies}})
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if d := eng.Decide(context.Background(), bc.snap, c); d.Deny || d.ExpiresIn != 900 {
					b.Fatalf("decision %+v", d)
				}
			}
		})
	}
}
