// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package engine

import (
	"net/netip"
	"strings"
)

// ParseClientIP parses a forwarded client address and returns the address to
// judge it by. It takes the first entry of a comma-separated list
// (X-Forwarded-For style), strips a port, IPv6 brackets and a zone, and
// resolves an IPv6 address that carries an IPv4 address to that IPv4
// (EmbeddedIPv4).
func ParseClientIP(v string) (netip.Addr, bool) {
	a, ok := parseAddr(v)
	return EmbeddedIPv4(a), ok
}

// parseAddr is ParseClientIP without the IPv4 resolution: the address as sent.
func parseAddr(v string) (netip.Addr, bool) {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	v = strings.TrimSpace(v)
	if a, err := netip.ParseAddr(v); err == nil {
		return a.WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().WithZone(""), true
	}
	return netip.Addr{}, false
}

// IPv6 ranges whose addresses carry the IPv4 address that reached the
// Internet; the fail-safe reading judges them by it, as ::ffff:a.b.c.d is.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the last 32 bits
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056: bits 16 to 47
	teredo         = netip.MustParsePrefix("2001::/32")    // RFC 4380: the last 32 bits, inverted
)

// EmbeddedIPv4 returns the IPv4 address that a stands for: the address
// itself for IPv4 and IPv4-mapped IPv6 (::ffff:a.b.c.d), the embedded
// address for the NAT64 well-known prefix 64:ff9b::/96, 6to4 (2002::/16) and
// Teredo (2001::/32, the client's public address). Any other address is
// returned as it is. The local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) is
// not resolved: where its IPv4 sits depends on the prefix length the
// operator chose.
func EmbeddedIPv4(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if !a.Is6() {
		return a
	}
	b := a.As16()
	switch {
	case nat64WellKnown.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
	case teredo.Contains(a):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
	}
	return a
}
