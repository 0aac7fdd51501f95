// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package iplist_test

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/tokenguard/tokenguard/internal/iplist"
	"github.com/tokenguard/tokenguard/internal/policy"
)

func read(t *testing.T, text string, limit int64) ([]string, int, error) {
	t.Helper()
	var got []string
	n, err := iplist.Read(strings.NewReader(text), limit, func(p netip.Prefix) { got = append(got, p.String()) })
	return got, n, err
}

// The formats lists come in: addresses, networks, ranges, comments and
// blank lines, FireHOL headers, Spamhaus DROP references, Tor's
// exit-addresses, CRLF line ends and a byte-order mark.
func TestReadFormats(t *testing.T) {
	for name, tc := range map[string]struct {
		text    string
		want    []string
		entries int
	}{
		"plain": {"192.0.2.1\n198.51.100.0/24\n2001:db8::1\n2001:db8:1::/48\n",
			[]string{"192.0.2.1/32", "198.51.100.0/24", "2001:db8::1/128", "2001:db8:1::/48"}, 4},
		"comments and blanks": {"# header\n\n  ; note\n192.0.2.1 # trailing\n\t198.51.100.7 ; SBL123\n",
			[]string{"192.0.2.1/32", "198.51.100.7/32"}, 2},
		"host bits masked": {"10.1.2.3/8\n", []string{"10.0.0.0/8"}, 1},
		"range": {"192.0.2.0-192.0.2.255\n10.0.0.1 - 10.0.0.6\n",
			[]string{"192.0.2.0/24", "10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}, 2},
		"IPv6 range":           {"2001:db8::-2001:db8::ffff\n", []string{"2001:db8::/112"}, 1},
		"whole space":          {"0.0.0.0-255.255.255.255\n", []string{"0.0.0.0/0"}, 1},
		"single-address range": {"192.0.2.9-192.0.2.9\n", []string{"192.0.2.9/32"}, 1},
		"mapped":               {"::ffff:192.0.2.1\n::ffff:198.51.100.0/120\n", []string{"192.0.2.1/32", "198.51.100.0/24"}, 2},
		"CRLF and BOM":         {"\ufeff192.0.2.1\r\n198.51.100.1\r\n", []string{"192.0.2.1/32", "198.51.100.1/32"}, 2},
		"FireHOL":              {fireHOL(3), []string{"0.0.0.0/8", "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"}, 4},
		"Tor exit-addresses": {"ExitNode 0011BD2485AD45D984EC4159C88FC066E5E3300E\nPublished 2026-11-26 13:44:49\n" +
			"LastStatus 2026-11-27 08:00:00\nExitAddress 162.247.74.201 2026-11-27 08:06:31\n",
			[]string{"162.247.74.201/32"}, 1},
		"empty": {"", nil, 0},
	} {
		t.Run(name, func(t *testing.T) {
			got, n, err := read(t, tc.text, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) || n != tc.entries {
				t.Errorf("got %v (%d entries), want %v (%d)", got, n, tc.want, tc.entries)
			}
		})
	}
}

// A bad line fails the read and is named with its number.
func TestReadErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		text, want string
	}{
		"HTML":            {"<!DOCTYPE html>\n<html>\n", `line 1: "<!DOCTYPE html>": one address, network or range per line`},
		"word":            {"192.0.2.1\nhello\n", `line 2: "hello": not an address, network or range`},
		"bad CIDR":        {"10.0.0.0/33\n", `line 1: "10.0.0.0/33": not an address, network or range`},
		"two per line":    {"192.0.2.1 192.0.2.2\n", `one address, network or range per line`},
		"zone":            {"fe80::1%eth0\n", `not an address, network or range`},
		"reversed range":  {"192.0.2.9-192.0.2.1\n", `a range must go from the lower address to the higher`},
		"mixed range":     {"192.0.2.1-2001:db8::1\n", `a range's ends must both be IPv4 or both IPv6`},
		"JSON":            {`{"prefixes": ["192.0.2.0/24"]}`, `line 1: "{\"prefixes\": [\"192.0.2.0/24\"]}": one address, network or range per line`},
		"line too long":   {strings.Repeat("1", iplist.MaxLineBytes+1) + "\n", `line 1: "": longer than 4096 bytes`},
		"exit line alone": {"ExitAddress nonsense 2026-11-27\n", `not an address, network or range`},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := read(t, tc.text, 0)
			var se *iplist.SyntaxError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a SyntaxError with %q", err, tc.want)
			}
		})
	}
}

// The size limit holds while reading, including a last line cut at the
// limit that would not parse.
func TestReadLimit(t *testing.T) {
	text := "192.0.2.1\n192.0.2.2\n" // 20 bytes
	if _, _, err := read(t, text, 20); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
	for _, limit := range []int64{19, 15, 1} {
		_, _, err := read(t, text, limit)
		var tl *iplist.TooLargeError
		if !errors.As(err, &tl) || tl.Limit != limit {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
}

// fireHOL is a FireHOL-style netset: the header the project writes, then n
// /24 networks.
func fireHOL(n int) string {
	var b strings.Builder
	b.WriteString(`#
# firehol_level1
#
# ipv4 hash:net ipset
#
# A firewall blacklist composed from IP lists, providing
# maximum protection with minimum false positives.
#
# Maintainer      : FireHOL
# Maintainer URL  : http://iplists.firehol.org/
# List source URL :
# Source File Date: Thu Nov 27 10:00:00 UTC 2026
#
# Category        : attacks
# Version         : 42
#
# This File Date  : Thu Nov 27 10:21:04 UTC 2026
# Update Frequency: 1 min
# Aggregation     : none
# Entries         : 3 subnets, 768 unique IPs
#
# ERROR: please read the above.
#
0.0.0.0/8
`)
	for i := range n {
		fmt.Fprintf(&b, "10.%d.%d.0/24\n", i>>8&255, i&255)
	}
	return b.String()
}

// largeList is n distinct networks spread over the IPv4 space, as real
// block lists are: three addresses for each /24 network.
func largeList(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintln(&b, spread(i))
	}
	return b.String()
}

// spread is the i-th network of largeList: multiplying by an odd number
// modulo 2^32 is a bijection, so the addresses are distinct.
func spread(i int) string {
	a := uint32(i) * 2654435761
	if i%4 == 3 {
		return fmt.Sprintf("%d.%d.%d.0/24", a>>24, a>>16&255, a>>8&255)
	}
	return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&255, a>>8&255, a&255)
}

// A 100,000-entry list parses whole into a set of 100,000 networks.
func TestLargeList(t *testing.T) {
	var b policy.NetSetBuilder
	n, err := iplist.Read(strings.NewReader(largeList(100000)), 0, b.Add)
	if set := b.Build(); err != nil || n != 100000 || set.Len() != 100000 {
		t.Fatalf("%d entries, %d networks: %v", n, set.Len(), err)
	}
}

// BenchmarkRead100k is the parse time of a 100,000-entry list, and the heap
// the resulting set holds (the numbers in docs/performance.md and the
// IPList docs).
func BenchmarkRead100k(b *testing.B) {
	text := largeList(100000)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	var before, after runtime.MemStats
	var set *policy.NetSet
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		var nb policy.NetSetBuilder
		if _, err := iplist.Read(strings.NewReader(text), 0, nb.Add); err != nil {
			b.Fatal(err)
		}
		set = nb.Build()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(set.Len()), "heap-B/network")
	runtime.KeepAlive(set)
}
