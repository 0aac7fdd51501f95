// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package policy

import (
	"net/netip"

	"github.com/gaissmai/bart"
)

// NetSet is an immutable set of IPv4 and IPv6 networks, answering whether an
// address falls in any of them. It is a compressed multibit trie
// (github.com/gaissmai/bart, Lite: no payload), so a lookup costs about the
// same with ten networks or a million; docs/performance.md has the numbers.
//
// A NetSet is built once, off the request path (by the compiler, or when a
// snapshot is assembled from several sources such as inline CIDRs and IP
// lists), with a NetSetBuilder, and never changes afterwards: any number of
// goroutines may call Contains at once. The nil *NetSet is the empty set.
type NetSet struct {
	t bart.Lite
	n int
}

// Contains reports whether ip is in one of the set's networks, exactly as
// netip.Prefix.Contains does for each of them: an IPv4 address never matches
// an IPv6 network and an IPv4-mapped IPv6 address (::ffff:a.b.c.d) never an
// IPv4 one, an invalid address or one with an IPv6 zone matches nothing.
func (s *NetSet) Contains(ip netip.Addr) bool {
	if s == nil || s.n == 0 || ip.Zone() != "" {
		return false
	}
	return s.t.Contains(ip)
}

// Len is the number of distinct networks added (after masking).
func (s *NetSet) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}

// Prefixes returns the set's networks, IPv4 first, each in ascending order.
func (s *NetSet) Prefixes() []netip.Prefix {
	if s.Len() == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, s.n)
	for p := range s.t.AllSorted() {
		out = append(out, p)
	}
	return out
}

// NetSetBuilder collects networks from any number of sources into one NetSet.
// The zero value is ready to use; a builder is not safe for concurrent use.
type NetSetBuilder struct {
	s *NetSet
}

// Add adds a network; it is masked first (10.1.2.3/8 is 10.0.0.0/8). An
// invalid prefix is ignored.
func (b *NetSetBuilder) Add(p netip.Prefix) {
	if !p.IsValid() {
		return
	}
	if b.s == nil {
		b.s = &NetSet{}
	}
	b.s.t.Insert(p.Masked())
}

// AddSet adds every network of s.
func (b *NetSetBuilder) AddSet(s *NetSet) {
	if s.Len() == 0 {
		return
	}
	for p := range s.t.All() {
		b.Add(p)
	}
}

// Union returns the networks of every set: the one non-empty set itself
// when there is only one (nothing is copied), nil when all are empty.
func Union(sets ...*NetSet) *NetSet {
	var only *NetSet
	n := 0
	for _, s := range sets {
		if s.Len() > 0 {
			only, n = s, n+1
		}
	}
	if n <= 1 {
		return only
	}
	var b NetSetBuilder
	for _, s := range sets {
		b.AddSet(s)
	}
	return b.Build()
}

// Build returns the set and resets the builder. An empty builder builds nil,
// the empty set.
func (b *NetSetBuilder) Build() *NetSet {
	s := b.s
	b.s = nil
	if s == nil {
		return nil
	}
	s.n = s.t.Size()
	if s.n == 0 {
		return nil
	}
	return s
}

// NewNetSet returns the set of the given networks.
func NewNetSet(ps ...netip.Prefix) *NetSet {
	var b NetSetBuilder
	for _, p := range ps {
		b.Add(p)
	}
	return b.Build()
}
