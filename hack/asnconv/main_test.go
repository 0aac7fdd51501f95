// Copyright 2026 The TokenGuard Authors.
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Rows as @ip-location-db/asn writes them: inclusive ranges that are not
// CIDRs, quoted organizations with commas, both families, and the relay
// networks 2001::/32 and 2002::/16.
const (
	ipv4CSV = `1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."
8.8.8.0,8.8.8.255,15169,Google LLC
175.45.176.0,175.45.179.255,131279,Star Joint Venture Co. Ltd.
203.0.113.7,203.0.113.20,64500,"Documentation, range"
`
	ipv6CSV = `2001::,2001::ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC
2001:4860::,2001:4860:ffff:ffff:ffff:ffff:ffff:ffff,15169,Google LLC
2002::,2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff,6939,Hurricane Electric LLC
`
)

type record struct {
	ASN uint32 `maxminddb:"autonomous_system_number"`
	Org string `maxminddb:"autonomous_system_organization"`
}

func TestConvert(t *testing.T) {
	built := time.Date(2026, 6, 17, 19, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	st, err := convert(&buf, built, "test", []input{{"asn-ipv4.csv", strings.NewReader(ipv4CSV)}, {"asn-ipv6.csv", strings.NewReader(ipv6CSV)}})
	if err != nil {
		t.Fatal(err)
	}
	if st.ranges != 7 || st.asns != 5 {
		t.Errorf("stats = %+v, want 7 ranges of 5 ASNs", st)
	}
	db, err := maxminddb.OpenBytes(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if db.Metadata.DatabaseType != DatabaseType || db.Metadata.IPVersion != 6 || db.Metadata.BuildEpoch != uint(built.Unix()) {
		t.Errorf("metadata = %+v", db.Metadata)
	}
	for ip, want := range map[string]record{
		"1.0.0.1":              {13335, "Cloudflare, Inc."},
		"8.8.8.8":              {15169, "Google LLC"},
		"175.45.179.255":       {131279, "Star Joint Venture Co. Ltd."},
		"203.0.113.7":          {64500, "Documentation, range"},
		"203.0.113.20":         {64500, "Documentation, range"},
		"203.0.113.6":          {},
		"203.0.113.21":         {},
		"2001:4860:4860::8888": {15169, "Google LLC"},
		"2001::1":              {6939, "Hurricane Electric LLC"},
		"2002:ab:cd::1":        {6939, "Hurricane Electric LLC"},
		"2a00:1450:4001::1":    {},
		"9.9.9.9":              {},
	} {
		var got record
		if err := db.Lookup(netip.MustParseAddr(ip)).Decode(&got); err != nil {
			t.Fatalf("%s: %v", ip, err)
		}
		if got != want {
			t.Errorf("%s: %+v, want %+v", ip, got, want)
		}
	}

	// The same input converts to the same bytes.
	var again bytes.Buffer
	if _, err := convert(&again, built, "test", []input{{"asn-ipv4.csv", strings.NewReader(ipv4CSV)}, {"asn-ipv6.csv", strings.NewReader(ipv6CSV)}}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two conversions of the same input differ")
	}
}

func TestConvertRejects(t *testing.T) {
	for name, tc := range map[string]struct{ csv, want string }{
		"end before start":   {"1.0.0.9,1.0.0.1,13335,x\n", "1.0.0.9-1.0.0.1 is not a range"},
		"mixed families":     {"1.0.0.0,2001::,13335,x\n", "is not a range"},
		"AS 0":               {"1.0.0.0,1.0.0.1,0,x\n", `"0" is not an AS number`},
		"AS above 32 bits":   {"1.0.0.0,1.0.0.1,4294967296,x\n", "is not an AS number"},
		"not an address":     {"1.0.0,1.0.0.1,1,x\n", "ParseAddr"},
		"three fields":       {"1.0.0.0,1.0.0.1,1\n", "wrong number of fields"},
		"empty":              {"", "no ranges"},
		"line number is set": {"1.0.0.0,1.0.0.1,1,x\n1.0.0.2,1.0.0.3,x,y\n", "asn-ipv4.csv:2:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := convert(io.Discard, time.Now(), "test", []input{{"asn-ipv4.csv", strings.NewReader(tc.csv)}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	v4, v6, out := filepath.Join(dir, "asn-ipv4.csv"), filepath.Join(dir, "asn-ipv6.csv"), filepath.Join(dir, "asn.mmdb")
	for p, s := range map[string]string{v4: ipv4CSV, v6: ipv6CSV} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stderr bytes.Buffer
	if err := run([]string{"--out", out, "--version", "2.3.2026061719", v4, v6}, &stderr); err != nil {
		t.Fatal(err)
	}
	if want := "asnconv: 7 ranges (5 ASNs) into " + out + "\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
	db, err := maxminddb.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if got := time.Unix(int64(db.Metadata.BuildEpoch), 0).UTC(); !got.Equal(time.Date(2026, 6, 17, 19, 0, 0, 0, time.UTC)) {
		t.Errorf("build time = %s, want the version's 2026-06-17 19:00 UTC", got)
	}
	if err := run([]string{"--out", out, "--version", "2.3.20260617", v4}, io.Discard); err == nil || !strings.Contains(err.Error(), "YYYYMMDDHH") {
		t.Errorf("a version without an hour: %v", err)
	}
	if err := run([]string{"--out", out}, io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("no input: %v", err)
	}
}
