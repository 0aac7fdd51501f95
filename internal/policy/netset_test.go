// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package policy_test

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gaissmai/bart"

	"github.com/tokenguard/tokenguard/internal/policy"
)

// linear is the reference: the scan the engine did before NetSet.
func linear(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// RandomPrefixes returns n networks, about 80% IPv4 (lengths 8 to 32, most
// of them /20 to /32, like blocklists) and 20% IPv6 (lengths 16 to 64).
func randomPrefixes(r *rand.Rand, n int) []netip.Prefix {
	out := make([]netip.Prefix, n)
	for i := range out {
		out[i] = randomPrefix(r)
	}
	return out
}

func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(5) == 0 {
		var b [16]byte
		b[0], b[1] = 0x20, byte(r.IntN(16)) // 2000::/12, where the Internet is
		for i := 2; i < 8; i++ {
			b[i] = byte(r.Uint32())
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), 16+r.IntN(49)).Masked()
	}
	var b [4]byte
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	bits := 20 + r.IntN(13)
	if r.IntN(10) == 0 {
		bits = 8 + r.IntN(12)
	}
	return netip.PrefixFrom(netip.AddrFrom4(b), bits).Masked()
}

// randomAddrs returns n addresses: half inside one of ps, the others random,
// in both families.
func randomAddrs(r *rand.Rand, ps []netip.Prefix, n int) []netip.Addr {
	out := make([]netip.Addr, n)
	for i := range out {
		if i%2 == 0 && len(ps) > 0 {
			p := ps[r.IntN(len(ps))]
			b := p.Addr().AsSlice()
			for j := p.Bits() / 8; j < len(b); j++ {
				b[j] |= byte(r.Uint32()) & (0xff >> max(0, p.Bits()-8*j))
			}
			a, _ := netip.AddrFromSlice(b)
			out[i] = a
			continue
		}
		out[i] = randomPrefix(r).Addr()
	}
	return out
}

func TestNetSetMatchesLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 10, 1000, 20000} {
		ps := randomPrefixes(r, n)
		// Unmasked prefixes and IPv4-mapped networks, as a compiler or list could give.
		ps = append(ps, netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("::ffff:192.0.2.0/120"),
			netip.MustParsePrefix("2001:db8::1/128"))
		s := policy.NewNetSet(ps...)
		addrs := randomAddrs(r, ps, 20000)
		addrs = append(addrs, netip.Addr{}, netip.MustParseAddr("::ffff:10.9.9.9"), netip.MustParseAddr("10.9.9.9"),
			netip.MustParseAddr("::ffff:192.0.2.7"), netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::1"),
			netip.MustParseAddr("2001:db8::1%eth0"), netip.MustParseAddr("::"), netip.MustParseAddr("0.0.0.0"))
		hits := 0
		for _, a := range addrs {
			want := linear(ps, a)
			if got := s.Contains(a); got != want {
				t.Fatalf("%d networks: Contains(%v) = %v, linear scan says %v", n, a, got, want)
			}
			if want {
				hits++
			}
		}
		if hits < len(addrs)/3 {
			t.Errorf("%d networks: only %d of %d addresses hit: the test needs more hits", n, hits, len(addrs))
		}
	}
}

func TestNetSetBuilder(t *testing.T) {
	var nilSet *policy.NetSet
	if nilSet.Contains(netip.MustParseAddr("10.0.0.1")) || nilSet.Len() != 0 || nilSet.Prefixes() != nil {
		t.Error("the nil set is not empty")
	}
	if s := policy.NewNetSet(); s != nil {
		t.Errorf("an empty builder built %v, want nil", s)
	}
	if s := policy.NewNetSet(netip.Prefix{}); s != nil {
		t.Errorf("an invalid prefix built %v, want nil", s)
	}
	// Two sources, one overlapping the other and repeating a network.
	var b policy.NetSetBuilder
	b.AddSet(policy.NewNetSet(netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")))
	b.Add(netip.MustParsePrefix("10.1.2.3/8"))
	b.Add(netip.MustParsePrefix("192.0.2.0/24"))
	s := b.Build()
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	if got := s.Prefixes(); !slices.Equal(got, want) || s.Len() != 3 {
		t.Errorf("prefixes = %v (len %d), want %v", got, s.Len(), want)
	}
	if b.Build() != nil {
		t.Error("Build did not reset the builder")
	}
}

// BenchmarkNetSet compares one lookup in the trie (bart Lite, what NetSet
// uses; bart Fast, its faster and larger sibling) with the linear scan it
// replaced, at 10, 1,000 and 100,000 networks, IPv4 and IPv6 mixed, half the
// addresses inside a network.
func BenchmarkNetSet(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		r := rand.New(rand.NewPCG(uint64(n), 7))
		ps := randomPrefixes(r, n)
		addrs := randomAddrs(r, ps, 4096)
		s := policy.NewNetSet(ps...)
		fast := new(bart.Fast[struct{}])
		for _, p := range ps {
			fast.Insert(p, struct{}{})
		}
		name := "n=" + strconv.Itoa(n)
		b.Run(name+"/netset", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				s.Contains(addrs[i&4095])
			}
		})
		b.Run(name+"/bart-fast", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				fast.Contains(addrs[i&4095])
			}
		})
		b.Run(name+"/linear", func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				linear(ps, addrs[i&4095])
			}
		})
	}
}

// BenchmarkNetSetMemory reports what a set of 100,000 and 1,000,000 networks
// holds on the heap (heap-B/prefix, heap-MB), the resident set it adds
// (rss-MB, from /proc/self/status; 0 where that is missing) and the time to
// build it (ns/op).
func BenchmarkNetSetMemory(b *testing.B) {
	for _, n := range []int{100000, 1000000} {
		ps := randomPrefixes(rand.New(rand.NewPCG(uint64(n), 9)), n)
		b.Run("n="+strconv.Itoa(n), func(b *testing.B) {
			var s *policy.NetSet
			var heap, rss float64
			for b.Loop() {
				runtime.KeepAlive(s)
				s = nil //nolint:ineffassign // let the previous set go before measuring
				runtime.GC()
				debug.FreeOSMemory()
				h0, r0 := heapInUse(), vmRSS()
				s = policy.NewNetSet(ps...)
				runtime.GC()
				heap, rss = float64(heapInUse()-h0), float64(vmRSS()-r0)
			}
			runtime.KeepAlive(s)
			b.ReportMetric(heap/float64(n), "heap-B/prefix")
			b.ReportMetric(heap/1e6, "heap-MB")
			b.ReportMetric(rss/1e6, "rss-MB")
		})
	}
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Union shares a lone set, and merges several.
func TestUnion(t *testing.T) {
	build := func(cidrs ...string) *policy.NetSet {
		var b policy.NetSetBuilder
		for _, c := range cidrs {
			b.Add(netip.MustParsePrefix(c))
		}
		return b.Build()
	}
	a, b := build("192.0.2.0/24"), build("2001:db8::/32", "10.0.0.0/8")
	if policy.Union() != nil || policy.Union(nil, build()) != nil {
		t.Error("the union of empty sets is not empty")
	}
	if policy.Union(nil, a, nil) != a {
		t.Error("a lone set was copied")
	}
	u := policy.Union(a, nil, b)
	if u.Len() != 3 || !u.Contains(netip.MustParseAddr("192.0.2.9")) || !u.Contains(netip.MustParseAddr("10.1.2.3")) ||
		!u.Contains(netip.MustParseAddr("2001:db8::1")) || u.Contains(netip.MustParseAddr("198.51.100.1")) {
		t.Errorf("union of two sets: %d networks", u.Len())
	}
}
