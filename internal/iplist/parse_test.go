// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package iplist_test

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

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
		"JSON cut short":  {awsRanges[:len(awsRanges)/2], `not a whole JSON document: unexpected EOF`},
		"JSON then text":  {`{"prefixes": ["192.0.2.0/24"]} 192.0.2.1`, `not a whole JSON document: more than one JSON value`},
		"JSON invalid":    {`{"prefixes": ["192.0.2.0/24",]}`, `not a whole JSON document: invalid character ']'`},
		"JSON no entries": {`{"prefixes": []}`, `no address, network or range in the JSON document`},
		"JSON bad IPv4":   {`["192.0.2.1", "10.0.0.300"]`, `"10.0.0.300": not an address, network or range`},
		"JSON bad CIDR":   {`["192.0.2.1", "5.6.7.8/33"]`, `"5.6.7.8/33": not an address, network or range`},
		"JSON bad IPv6":   {`["192.0.2.1", "2001:db8::12345/48"]`, `"2001:db8::12345/48": not an address, network or range`},
		"JSON bad range":  {`["192.0.2.9-192.0.2.1"]`, `a range must go from the lower address to the higher`},
		"JSON too deep":   {strings.Repeat("[", 33) + `"192.0.2.1"` + strings.Repeat("]", 33), `nested deeper than 32`},
		"JSON all [":      {strings.Repeat("[", 1<<20), `nested deeper than 32`},
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

// Cloud providers publish their ranges as JSON: AWS ip-ranges.json, Google
// cloud.json, Azure service tags, Oracle, GitHub meta (shortened here, as
// published). Every string value that is an address, network or range is
// an entry; keys, regions, service names and dates are not.
const awsRanges = `{
  "syncToken": "1732690000",
  "createDate": "2026-11-27-06-13-04",
  "prefixes": [
    {"ip_prefix": "3.5.140.0/22", "region": "ap-northeast-2", "service": "AMAZON", "network_border_group": "ap-northeast-2"},
    {"ip_prefix": "13.34.37.64/27", "region": "ap-southeast-4", "service": "EC2", "network_border_group": "ap-southeast-4"}
  ],
  "ipv6_prefixes": [
    {"ipv6_prefix": "2600:1f14:fff:f800::/56", "region": "us-west-2", "service": "ROUTE53_HEALTHCHECKS", "network_border_group": "us-west-2"}
  ]
}`

func TestReadJSON(t *testing.T) {
	for name, tc := range map[string]struct {
		text    string
		want    []string
		entries int
	}{
		"AWS": {awsRanges, []string{"3.5.140.0/22", "13.34.37.64/27", "2600:1f14:fff:f800::/56"}, 3},
		"Google": {"\ufeff\n  " + `{"syncToken": "1732690000", "creationTime": "2026-11-27T10:00:00.000000",
  "prefixes": [{"ipv4Prefix": "34.1.208.0/20", "service": "Google Cloud", "scope": "africa-south1"},
               {"ipv6Prefix": "2600:1900:8000::/44", "service": "Google Cloud", "scope": "us-east4"}]}`,
			[]string{"34.1.208.0/20", "2600:1900:8000::/44"}, 2},
		"Azure": {`{"changeNumber": 312, "cloud": "Public", "values": [{"name": "AzureCloud.westeurope", "id": "AzureCloud.westeurope",
  "properties": {"changeNumber": 40, "region": "westeurope", "regionId": 18, "platform": "Azure", "systemService": "",
  "addressPrefixes": ["4.175.0.0/16", "2603:1020:200::/46"], "networkFeatures": ["API", "NSG"]}}]}`,
			[]string{"4.175.0.0/16", "2603:1020:200::/46"}, 2},
		"Oracle": {`{"last_updated_timestamp": "2026-11-26T21:01:17.133355", "regions": [{"region": "us-phoenix-1",
  "cidrs": [{"cidr": "129.146.0.0/21", "tags": ["OCI"]}, {"cidr": "134.70.8.0/21", "tags": ["OBJECT_STORAGE"]}]}]}`,
			[]string{"129.146.0.0/21", "134.70.8.0/21"}, 2},
		"GitHub meta, addresses and a key that looks like one": {`{"verifiable_password_authentication": false,
  "hooks": ["192.30.252.0/22", "2a0a:a440::/29"], "web": ["140.82.112.3", "::ffff:192.0.2.7"],
  "192.0.2.99": "a key, not an entry", "ranges": ["198.51.100.0-198.51.100.3"], "n": [1, 2.5, null, true]}`,
			[]string{"192.30.252.0/22", "2a0a:a440::/29", "140.82.112.3/32", "192.0.2.7/32", "198.51.100.0/30"}, 5},
		"array of strings": {`["192.0.2.1", "not an address", "10.0.0.1/8", " 192.0.2.9 "]`, []string{"192.0.2.1/32", "10.0.0.0/8", "192.0.2.9/32"}, 3},
		"strings that are no addresses": {`{"time": "10:00:00", "version": "1.2.3", "date": "2026-11-27", "ts": "2026-11-26T21:01:17.133355",
  "hex": "deadbeef", "region": "eu-west-1", "range": "a-b", "ok": "2001:db8::/32"}`, []string{"2001:db8::/32"}, 1},
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
	// The size limit holds for JSON too.
	var tl *iplist.TooLargeError
	if _, _, err := read(t, awsRanges, 100); !errors.As(err, &tl) {
		t.Errorf("JSON over the limit: %v", err)
	}
	// Nesting as deep as allowed reads.
	deep := strings.Repeat("[", iplist.MaxJSONDepth) + `"192.0.2.1"` + strings.Repeat("]", iplist.MaxJSONDepth)
	if _, n, err := read(t, deep, 0); err != nil || n != 1 {
		t.Errorf("JSON nested %d deep: %d entries, %v", iplist.MaxJSONDepth, n, err)
	}
	// A failed read (a connection reset mid-answer) is the reader's error,
	// not a bad document.
	reset := errors.New("connection reset by peer")
	_, err := iplist.Read(io.MultiReader(strings.NewReader(`["192.0.2.1", "19`), iotest.ErrReader(reset)), 0, func(netip.Prefix) {})
	var se *iplist.SyntaxError
	if !errors.Is(err, reset) || errors.As(err, &se) {
		t.Errorf("JSON cut by a failed read: %v, want the read error", err)
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

// BenchmarkReadJSON reads a 10,000-prefix file shaped like AWS's
// ip-ranges.json (about 1.5 MB, as published), beside BenchmarkRead100k's
// line format.
func BenchmarkReadJSON(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"syncToken": "1732690000", "createDate": "2026-11-27-06-13-04", "prefixes": [`)
	for i := range 10000 {
		if i > 0 {
			sb.WriteString(",\n")
		}
		fmt.Fprintf(&sb, `{"ip_prefix": "10.%d.%d.0/24", "region": "us-east-1", "service": "EC2", "network_border_group": "us-east-1"}`, i>>8&255, i&255)
	}
	sb.WriteString(`], "ipv6_prefixes": []}`)
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		var nb policy.NetSetBuilder
		if n, err := iplist.Read(strings.NewReader(text), 0, nb.Add); err != nil || n != 10000 {
			b.Fatal(n, err)
		}
		nb.Build()
	}
}

// FuzzRead reads any text both at once and one byte at a time: no panic,
// the same networks and the same outcome either way (the format is told
// from a peek at the start, which must not depend on how the reader
// delivers it), and only valid, masked networks.
func FuzzRead(f *testing.F) {
	for _, seed := range []string{awsRanges, fireHOL(2), torBulk, "192.0.2.1-192.0.2.9\n# c\n", `["10.0.0.1", {"a": ["::1"]}]`,
		"\ufeff  [\"192.0.2.1\"]", `{"a": "10.0.0.300"}`, "[[[[", `{"a":1}{}`} {
		f.Add(seed, int64(0))
		f.Add(seed, int64(len(seed)/2))
	}
	f.Fuzz(func(t *testing.T, text string, limit int64) {
		var whole, bytewise []netip.Prefix
		n1, err1 := iplist.Read(strings.NewReader(text), limit, func(p netip.Prefix) { whole = append(whole, p) })
		n2, err2 := iplist.Read(iotest.OneByteReader(strings.NewReader(text)), limit, func(p netip.Prefix) { bytewise = append(bytewise, p) })
		if (err1 == nil) != (err2 == nil) || (err1 == nil && (n1 != n2 || !slices.Equal(whole, bytewise))) {
			t.Fatalf("at once: %d %v %v; byte by byte: %d %v %v", n1, whole, err1, n2, bytewise, err2)
		}
		if err1 != nil {
			return
		}
		for _, p := range whole {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				t.Fatalf("network %v from %q", p, text)
			}
		}
		if n1 > len(whole) {
			t.Fatalf("%d entries but %d networks", n1, len(whole))
		}
	})
}
